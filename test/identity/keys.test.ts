import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { compactVerify, importJWK } from 'jose';
import { keyPaths, loadOrCreateGatewayKeys, loadPublicSigningKey, signCompactJws } from '../../src/identity/keys.js';

let root: string;
let stateDir: string;

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'portcullis-keys-'));
  stateDir = join(root, 'state');
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

const modeOf = async (path: string): Promise<number> => (await stat(path)).mode & 0o777;

describe('loadOrCreateGatewayKeys', () => {
  it('creates the state dir, keys dir and key files with private modes', async () => {
    const keys = await loadOrCreateGatewayKeys(stateDir);
    const paths = keyPaths(stateDir);
    expect(await modeOf(stateDir)).toBe(0o700);
    expect(await modeOf(paths.dir)).toBe(0o700);
    expect(await modeOf(paths.signingKey)).toBe(0o600);
    expect(await modeOf(paths.secret)).toBe(0o600);

    const privateJwk = JSON.parse(await readFile(paths.signingKey, 'utf8'));
    expect(privateJwk).toMatchObject({ kty: 'EC', crv: 'P-256', kid: keys.kid, alg: 'ES256' });
    expect(typeof privateJwk.d).toBe('string');
    const publicJwk = JSON.parse(await readFile(paths.publicKey, 'utf8'));
    expect(publicJwk).toMatchObject({ kty: 'EC', crv: 'P-256', kid: keys.kid, alg: 'ES256' });
    expect(publicJwk.d).toBeUndefined();
    expect((await readFile(paths.secret, 'utf8')).trim()).toMatch(/^[0-9a-f]{64}$/);
    expect(keys.secret.length).toBe(32);
    expect(keys.publicJwk.d).toBeUndefined();
  });

  it('reuses the same keys on a later start', async () => {
    const first = await loadOrCreateGatewayKeys(stateDir);
    const second = await loadOrCreateGatewayKeys(stateDir);
    expect(second.kid).toBe(first.kid);
    expect(second.secret.equals(first.secret)).toBe(true);
    expect(second.publicJwk).toEqual(first.publicJwk);
  });

  it('produces ES256 signatures that jose verifies with the published public key', async () => {
    const keys = await loadOrCreateGatewayKeys(stateDir);
    const jws = signCompactJws(keys, { typ: 'test' }, { hello: 'world' });
    const { publicJwk } = await loadPublicSigningKey(stateDir);
    const result = await compactVerify(jws, await importJWK(publicJwk, 'ES256'));
    expect(result.protectedHeader).toMatchObject({ alg: 'ES256', kid: keys.kid, typ: 'test' });
    expect(JSON.parse(new TextDecoder().decode(result.payload))).toEqual({ hello: 'world' });
  });

  it('rewrites a missing public key file from the private key', async () => {
    const keys = await loadOrCreateGatewayKeys(stateDir);
    await rm(keyPaths(stateDir).publicKey);
    const again = await loadOrCreateGatewayKeys(stateDir);
    expect(again.kid).toBe(keys.kid);
    expect((await loadPublicSigningKey(stateDir)).kid).toBe(keys.kid);
  });

  const corruptions: { name: string; file: 'signingKey' | 'secret' | 'publicKey'; content: string; error: RegExp }[] = [
    { name: 'signing key not JSON', file: 'signingKey', content: '{"kty":"EC",', error: /signing-key\.json: is corrupt: not valid JSON/ },
    { name: 'signing key wrong type', file: 'signingKey', content: '{"kty":"RSA","n":"x"}', error: /signing-key\.json: is corrupt: expected an EC P-256/ },
    { name: 'signing key missing d', file: 'signingKey', content: 'REPLACE_NO_D', error: /signing-key\.json: is corrupt: JWK member "d"/ },
    { name: 'signing key wrong kid', file: 'signingKey', content: 'REPLACE_KID', error: /signing-key\.json: is corrupt: "kid"/ },
    { name: 'secret too short', file: 'secret', content: 'abcd\n', error: /gateway-secret: is corrupt: expected 32 bytes/ },
    { name: 'secret not hex', file: 'secret', content: 'z'.repeat(64), error: /gateway-secret: is corrupt/ },
    { name: 'public key of another key', file: 'publicKey', content: 'REPLACE_OTHER_PUB', error: /signing-key\.pub\.json: does not match signing-key\.json/ },
    { name: 'public file holding a private key', file: 'publicKey', content: 'REPLACE_PRIVATE', error: /signing-key\.pub\.json: holds a private key/ },
  ];

  for (const corruption of corruptions) {
    it(`refuses a corrupt file instead of regenerating it: ${corruption.name}`, async () => {
      await loadOrCreateGatewayKeys(stateDir);
      const paths = keyPaths(stateDir);
      const privateText = await readFile(paths.signingKey, 'utf8');
      const privateJwk = JSON.parse(privateText);
      let content = corruption.content;
      if (content === 'REPLACE_NO_D') content = JSON.stringify({ ...privateJwk, d: undefined });
      if (content === 'REPLACE_KID') content = JSON.stringify({ ...privateJwk, kid: 'someone-else' });
      if (content === 'REPLACE_PRIVATE') content = privateText;
      if (content === 'REPLACE_OTHER_PUB') {
        const otherDir = join(root, 'other');
        await loadOrCreateGatewayKeys(otherDir);
        content = await readFile(keyPaths(otherDir).publicKey, 'utf8');
      }
      await writeFile(paths[corruption.file], content);
      await expect(loadOrCreateGatewayKeys(stateDir)).rejects.toThrow(corruption.error);
      // The corrupt file is left alone for the operator to restore.
      expect(await readFile(paths[corruption.file], 'utf8')).toBe(content);
    });
  }

  const loosePermissions: { name: string; file: 'dir' | 'signingKey' | 'secret'; mode: number; error: RegExp }[] = [
    { name: 'keys dir group-readable', file: 'dir', mode: 0o750, error: /keys: has mode 0750; expected 0700/ },
    { name: 'signing key world-readable', file: 'signingKey', mode: 0o644, error: /signing-key\.json: has mode 0644; expected 0600/ },
    { name: 'secret group-readable', file: 'secret', mode: 0o640, error: /gateway-secret: has mode 0640; expected 0600/ },
  ];
  for (const loose of loosePermissions) {
    it(`refuses ${loose.name}`, async () => {
      await loadOrCreateGatewayKeys(stateDir);
      await chmod(keyPaths(stateDir)[loose.file], loose.mode);
      await expect(loadOrCreateGatewayKeys(stateDir)).rejects.toThrow(loose.error);
    });
  }

  it('creates the secret when only the secret is missing, keeping the signing key', async () => {
    const keys = await loadOrCreateGatewayKeys(stateDir);
    await rm(keyPaths(stateDir).secret);
    const again = await loadOrCreateGatewayKeys(stateDir);
    expect(again.kid).toBe(keys.kid);
    expect(again.secret.equals(keys.secret)).toBe(false);
  });

  it('two instances starting together end up with one key set', async () => {
    const [a, b] = await Promise.all([loadOrCreateGatewayKeys(stateDir), loadOrCreateGatewayKeys(stateDir)]);
    expect(a.kid).toBe(b.kid);
    expect(a.secret.equals(b.secret)).toBe(true);
  });
});

describe('loadPublicSigningKey', () => {
  it('names the missing file', async () => {
    await expect(loadPublicSigningKey(stateDir)).rejects.toThrow(/signing-key\.pub\.json: not found/);
  });
});
