// Token attacks against the running gateway's STS endpoint (and its data path for stolen/forged
// gateway credentials). Each attack must be refused with an AWS-format error naming the reason, open no
// session, and forward nothing upstream.
import { createPublicKey } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { mintCredentials } from '../../src/identity/credentials.js';
import { loadOrCreateGatewayKeys } from '../../src/identity/keys.js';
import { generateSigningKey, rawToken, signToken, startJwksServer, type JwksServer, type TestSigningKey } from '../fixtures/idp.js';
import { AUDIENCE, field, ROLE_ALPHA, ROLE_BETA, startLab, type Lab } from './lab.js';

let lab: Lab;
let attackerKey: TestSigningKey;
let attackerJwks: JwksServer;
const now = () => Math.floor(Date.now() / 1000);

beforeAll(async () => {
  lab = await startLab();
  attackerKey = await generateSigningKey('RS256', 'attacker-kid');
  attackerJwks = await startJwksServer({ keys: [attackerKey.publicJwk] });
}, 60_000);

afterAll(async () => {
  await attackerJwks?.close();
  await lab?.close();
});

function sessionsStarted(): number {
  return lab.events.filter((e) => e.type === 'session.started').length;
}

/** Sends the token; asserts a refusal with `code` whose message matches `reason`, and that no session opened. */
async function expectRefused(token: string, reason: RegExp, options: { role?: string; code?: string | string[] } = {}): Promise<void> {
  const before = sessionsStarted();
  const upstreamBefore = lab.upstream.requests.length + lab.upstream.assumeRoles;
  const result = await lab.sts(token, options.role ?? ROLE_ALPHA);
  expect(result.status, result.body).toBeGreaterThanOrEqual(400);
  expect(result.status).toBeLessThan(500);
  expect([options.code ?? 'InvalidIdentityToken'].flat()).toContain(field(result.body, 'Code'));
  expect(field(result.body, 'Message')).toMatch(reason);
  expect(field(result.body, 'AccessKeyId')).toBeUndefined();
  expect(sessionsStarted()).toBe(before);
  expect(lab.upstream.requests.length + lab.upstream.assumeRoles).toBe(upstreamBefore);
}

describe('the baseline works (or every refusal below proves nothing)', () => {
  test('a valid token for alpha with alpha\'s role gets credentials', async () => {
    const result = await lab.sts(await lab.token('svc-alpha'), ROLE_ALPHA);
    expect(result.status, result.body).toBe(200);
    expect(field(result.body, 'AccessKeyId')).toMatch(/^ASIA/);
  });
});

describe('token attacks at AssumeRoleWithWebIdentity', () => {
  const claims = () => ({ iss: lab.jwks.issuer, sub: 'svc-alpha', aud: AUDIENCE, iat: now(), exp: now() + 600 });

  test('alg: none (empty signature, and with a signature segment)', async () => {
    await expectRefused(rawToken({ alg: 'none', typ: 'JWT' }, claims()), /algorithm none is not allowed/);
    await expectRefused(rawToken({ alg: 'None', kid: lab.idpKey.kid }, claims(), 'c2ln'), /algorithm None is not allowed/);
    await expectRefused(rawToken({ typ: 'JWT' }, claims()), /algorithm \(missing\) is not allowed/);
  });

  test('HS256 signed with the issuer\'s public key (PEM and JWK text as the HMAC secret)', async () => {
    const pem = createPublicKey({ key: lab.idpKey.publicJwk as never, format: 'jwk' }).export({ type: 'spki', format: 'pem' }) as string;
    for (const secret of [pem, JSON.stringify(lab.idpKey.publicJwk)]) {
      const token = await new SignJWT(claims()).setProtectedHeader({ alg: 'HS256', kid: lab.idpKey.kid }).sign(new TextEncoder().encode(secret));
      await expectRefused(token, /algorithm HS256 is not allowed/);
    }
  });

  test('a kid pointing elsewhere: unknown kid, and the real kid over an attacker signature', async () => {
    await expectRefused(await signToken(attackerKey, claims()), /no signing key .* matches kid attacker-kid/);
    await expectRefused(await signToken(attackerKey, claims(), { kid: lab.idpKey.kid }), /signature invalid/);
    await expectRefused(await signToken(attackerKey, claims(), { kid: '../../etc/passwd' }), /no signing key/);
  });

  test('jku / x5u / jwk headers are ignored: the attacker\'s key server is never asked', async () => {
    const headers = [
      { jku: attackerJwks.jwksUri },
      { x5u: `${attackerJwks.issuer}/cert.pem` },
      { jku: attackerJwks.jwksUri, x5u: `${attackerJwks.issuer}/cert.pem`, kid: lab.idpKey.kid },
      { jwk: attackerKey.publicJwk },
    ];
    for (const header of headers) {
      await expectRefused(await signToken(attackerKey, claims(), header), /no signing key|signature invalid|not allowed|rejected/);
    }
    expect(attackerJwks.fetches).toEqual({ jwks: 0, discovery: 0 });
  });

  test('expired, not yet valid, missing exp', async () => {
    await expectRefused(await lab.token('svc-alpha', { exp: now() - 60, iat: now() - 700 }), /token expired at/);
    await expectRefused(await lab.token('svc-alpha', { nbf: now() + 600 }), /not yet valid/);
    await expectRefused(await lab.token('svc-alpha', { exp: undefined }), /no exp claim/);
  });

  test('wrong issuer, wrong audience, missing issuer', async () => {
    await expectRefused(await lab.token('svc-alpha', { iss: attackerJwks.issuer }), /unknown issuer/);
    await expectRefused(await lab.token('svc-alpha', { iss: `${lab.jwks.issuer}/` }), /unknown issuer/);
    await expectRefused(await lab.token('svc-alpha', { aud: 'urn:someone:else' }), /wrong audience urn:someone:else/);
    await expectRefused(await lab.token('svc-alpha', { aud: undefined }), /audience|aud/);
    await expectRefused(await lab.token('svc-alpha', { iss: undefined }), /no iss claim/);
  });

  test('claim type confusion: sub as a number or array, exp as a string', async () => {
    // A numeric sub is refused either as malformed or as matching no (string) subject.
    await expectRefused(await lab.token('svc-alpha', { sub: 12345 as unknown as string }), /subject 12345|no sub claim|sub/, { code: ['AccessDenied', 'InvalidIdentityToken'] });
    await expectRefused(await lab.token('svc-alpha', { sub: ['svc-alpha'] as unknown as string }), /./, { code: ['AccessDenied', 'InvalidIdentityToken'] });
    await expectRefused(rawToken({ alg: 'RS256', kid: lab.idpKey.kid }, { ...claims(), exp: 'never' }, 'AAAA'), /./);
  });

  test('a token for one service account presented with another\'s role', async () => {
    await expectRefused(await lab.token('svc-alpha'), /role arn:aws:iam::123456789012:role\/beta is not allowed for service account alpha/, {
      role: ROLE_BETA,
      code: 'AccessDenied',
    });
    // and a subject no account has
    await expectRefused(await lab.token('svc-gamma'), /no service account matches/, { code: 'AccessDenied' });
  });
});

describe('stolen and forged gateway credentials on the data path', () => {
  test('a replayed gateway credential after revocation is refused and nothing is forwarded', async () => {
    const creds = await lab.credentials();
    const ok = await lab.call(creds, { path: '/bucket/before-revoke.txt' });
    expect(ok.status, ok.body).toBe(200);
    const started = lab.events.filter((e) => e.type === 'session.started').at(-1) as { sessionId: string };
    expect(await lab.gateway.revokeSession(started.sessionId, 'test', 'stolen')).toMatchObject({ ok: true });
    const forwarded = lab.upstream.requests.length;
    const replay = await lab.call(creds, { path: '/bucket/after-revoke.txt' });
    expect(replay.status).toBe(403);
    expect(field(replay.body, 'Code')).toBe('InvalidClientTokenId');
    expect(field(replay.body, 'Message')).toContain('was revoked');
    expect(lab.upstream.requests.length).toBe(forwarded);
  });

  test('a session token signed by another gateway\'s key (a second state dir) is refused', async () => {
    const otherDir = await mkdtemp(join(tmpdir(), 'portcullis-other-gw-'));
    try {
      const otherKeys = await loadOrCreateGatewayKeys(otherDir);
      const forged = mintCredentials(otherKeys, {
        sessionId: 'ses-forged',
        serviceAccount: 'alpha',
        roleArn: ROLE_ALPHA,
        issuer: lab.jwks.issuer,
        subject: 'svc-alpha',
        expiresAt: new Date(Date.now() + 600_000),
        now: new Date(),
      });
      const forwarded = lab.upstream.requests.length;
      const result = await lab.call(forged, { path: '/bucket/forged.txt' });
      expect(result.status).toBe(403);
      expect(field(result.body, 'Code')).toBe('InvalidClientTokenId');
      // Same key id claimed, other key's signature: still refused.
      const [h, p] = forged.sessionToken.split('.') as [string, string, string];
      const header = JSON.parse(Buffer.from(h, 'base64url').toString());
      const relabelled = `${Buffer.from(JSON.stringify({ ...header, kid: lab.gateway.keys.kid })).toString('base64url')}.${p}.${forged.sessionToken.split('.')[2]}`;
      const second = await lab.call({ ...forged, sessionToken: relabelled }, { path: '/bucket/forged.txt' });
      expect(second.status).toBe(403);
      expect(field(second.body, 'Code')).toBe('InvalidClientTokenId');
      expect(lab.upstream.requests.length).toBe(forwarded);
    } finally {
      await rm(otherDir, { recursive: true, force: true });
    }
  });

  test('a valid session token with another session\'s access key id is refused', async () => {
    const a = await lab.credentials();
    const b = await lab.credentials();
    const forwarded = lab.upstream.requests.length;
    const mixed = await lab.call({ accessKeyId: b.accessKeyId, secretAccessKey: b.secretAccessKey, sessionToken: a.sessionToken }, {});
    expect(mixed.status).toBe(403);
    expect(lab.upstream.requests.length).toBe(forwarded);
  });
});

export const ATTACKS_TRIED = 9;
