// Faults in what the gateway depends on at run time: the IdP's JWKS going away (cached keys keep working
// until their cache expires, new kids fail closed), and the policy file deleted, truncated or made
// unreadable while running (the last good policy stays in force; a good file is picked up again).
import { chmod, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { IssuerConfig, ServiceAccountConfig } from '../../src/identity/config.js';
import { TokenVerifier } from '../../src/identity/jwt.js';
import { generateSigningKey, signToken, startJwksServer } from '../fixtures/idp.js';
import { AUDIENCE, field, ROLE_ALPHA, ROLE_BETA, startLab, waitUntil, type Credentials, type Lab } from '../attack/lab.js';

let lab: Lab;
let creds: Credentials;
let goodPolicy: string;
let goodSha: string;

beforeAll(async () => {
  lab = await startLab();
  creds = await lab.credentials();
  goodPolicy = await readFile(lab.policyFile, 'utf8');
  goodSha = lab.gateway.policy.current().sha256;
}, 60_000);

afterAll(async () => {
  await lab?.close();
});

async function restore(): Promise<void> {
  await rm(lab.policyFile, { recursive: true, force: true });
  await writeFile(lab.policyFile, goodPolicy);
  await waitUntil(() => lab.gateway.status().policy.state === 'ok' && lab.gateway.policy.current().sha256 === goodSha, 10_000, 'the good policy to load again');
}

describe('the IdP\'s JWKS becomes unreachable', () => {
  test('cached keys keep working; a token with a new kid fails closed', async () => {
    // The JWKS was fetched for the credentials above; now the IdP disappears.
    const fetched = lab.jwks.fetches.jwks;
    expect(fetched).toBeGreaterThan(0);
    await lab.jwks.close();
    const cached = await lab.sts(await lab.token('svc-alpha'), ROLE_ALPHA);
    expect(cached.status, cached.body).toBe(200);
    const rotated = await generateSigningKey('RS256', 'rotated-kid');
    const now = Math.floor(Date.now() / 1000);
    const fresh = await signToken(rotated, { iss: lab.jwks.issuer, sub: 'svc-alpha', aud: AUDIENCE, iat: now, exp: now + 600 });
    const refused = await lab.sts(fresh, ROLE_ALPHA);
    expect(refused.status).toBe(400);
    expect(field(refused.body, 'Code')).toBe('InvalidIdentityToken');
    expect(field(refused.body, 'Message')).toMatch(/rotated-kid|signing keys/);
  });

  test('once the cache expires, even the known kid fails closed (TokenVerifier with a short cache)', async () => {
    const key = await generateSigningKey('ES256', 'short-cache');
    const jwks = await startJwksServer({ keys: [key.publicJwk] });
    const issuer: IssuerConfig = { name: 'short', issuer: jwks.issuer, audience: ['urn:short'], jwksUri: jwks.jwksUri, algorithms: [], clockSkewMs: 0 };
    const accounts: ServiceAccountConfig[] = [{ name: 's', issuer: 'short', subject: 'svc', claims: {}, roles: [], sessionTtlMs: 3_600_000 }];
    const verifier = new TokenVerifier({ issuers: [issuer], serviceAccounts: accounts, jwksCacheMaxAgeMs: 300, jwksCooldownMs: 0, jwksTimeoutMs: 1000 });
    const token = async () => {
      const now = Math.floor(Date.now() / 1000);
      return signToken(key, { iss: jwks.issuer, sub: 'svc', aud: 'urn:short', exp: now + 60 });
    };
    expect((await verifier.verify(await token())).ok).toBe(true);
    await jwks.close();
    expect((await verifier.verify(await token())).ok).toBe(true);
    await new Promise((r) => setTimeout(r, 400));
    const expired = await verifier.verify(await token());
    expect(expired).toMatchObject({ ok: false, code: 'INVALID_IDENTITY_TOKEN' });
  });
});

describe('the policy file changes under the running gateway', () => {
  async function decisions(tag: string): Promise<[number, number]> {
    const allowed = await lab.call(creds, { path: `/bucket/${tag}.txt` });
    const denied = await lab.call(creds, { method: 'DELETE', path: `/bucket/${tag}.txt` });
    return [allowed.status, denied.status];
  }

  async function rejectedAfter(change: () => Promise<void>, message: RegExp): Promise<void> {
    const before = lab.events.filter((e) => e.type === 'policy.rejected').length;
    await change();
    await waitUntil(() => lab.events.filter((e) => e.type === 'policy.rejected').length > before, 10_000, 'policy.rejected');
    const rejected = lab.events.filter((e) => e.type === 'policy.rejected').at(-1) as { errors: { message: string }[]; keptSha256?: string };
    expect(rejected.errors.map((e) => e.message).join('\n')).toMatch(message);
    expect(rejected.keptSha256).toBe(lab.gateway.policy.current().sha256);
    expect(lab.gateway.status().policy.state).toBe('error');
    expect(await decisions('while-bad')).toEqual([200, 403]);
  }


  test('baseline: allow and the deny rule', async () => {
    expect(await decisions('baseline')).toEqual([200, 403]);
  });

  test('deleted → rejected, last good policy stays', async () => {
    await rejectedAfter(() => rm(lab.policyFile), /no such file|ENOENT/);
    await restore();
  });

  test('truncated half way → rejected with a located error, last good policy stays', async () => {
    await rejectedAfter(() => writeFile(lab.policyFile, goodPolicy.slice(0, Math.floor(goodPolicy.length / 2))), /./);
    await restore();
  });

  test('emptied → rejected', async () => {
    await rejectedAfter(() => writeFile(lab.policyFile, ''), /./);
    await restore();
  });

  test('made unreadable → rejected, last good policy stays', async () => {
    // Tests run as root here, and chmod 000 does not stop root from reading: replace the file with a
    // directory instead (EISDIR), which no user can read as a file. Where we are not root, chmod is tried too.
    if (process.getuid?.() !== 0) {
      await rejectedAfter(() => chmod(lab.policyFile, 0o000), /permission denied|EACCES/);
      await chmod(lab.policyFile, 0o600);
      await restore();
    }
    await rejectedAfter(async () => {
      await rm(lab.policyFile);
      await mkdir(lab.policyFile);
    }, /is a directory|EISDIR/);
    await restore();
  });

  test('a good edit after all that is picked up (the watcher survived)', async () => {
    await writeFile(lab.policyFile, goodPolicy.replace('actions: ["s3:DeleteObject"]', 'actions: ["s3:GetObject"]'));
    await waitUntil(async () => (await lab.call(creds, { path: '/bucket/now-denied.txt' })).status === 403, 10_000, 'the new policy');
    await restore();
    expect(await decisions('restored')).toEqual([200, 403]);
  });
});

describe('the policy is the membership list', () => {
  test('a service account removed from the policy loses its live sessions at once, cached credentials included; restoring it does not revive them', async () => {
    const beta = await lab.credentials('svc-beta', ROLE_BETA);
    expect((await lab.call(beta, { path: '/bucket/beta-before.txt' })).status).toBe(200);
    const loadsBefore = lab.events.filter((e) => e.type === 'policy.loaded').length;
    const seenBefore = lab.upstream.requests.length;
    // Drop beta from the service accounts.
    await writeFile(lab.policyFile, goodPolicy.replace(/  - name: beta\n(    .*\n)+?(?=\S|  - )/, ''));
    await waitUntil(() => lab.events.filter((e) => e.type === 'policy.loaded').length > loadsBefore, 10_000, 'policy.loaded');
    const loaded = lab.events.filter((e) => e.type === 'policy.loaded').at(-1) as { serviceAccounts: number; endedSessions?: number };
    expect(loaded.serviceAccounts).toBe(1);
    expect(loaded.endedSessions).toBeGreaterThanOrEqual(1);
    const refused = await lab.call(beta, { path: '/bucket/beta-after.txt' });
    expect(refused.status).toBe(403);
    expect(field(refused.body, 'Code')).toBe('InvalidClientTokenId');
    expect(field(refused.body, 'Message')).toContain('no longer in the policy');
    // Nothing reached the upstream, and alpha is unaffected.
    expect(lab.upstream.requests.length).toBe(seenBefore);
    expect((await lab.call(creds, { path: '/bucket/alpha-after.txt' })).status).toBe(200);
    // Putting beta back does not bring the ended sessions back: they were revoked.
    await restore();
    expect((await lab.call(beta, { path: '/bucket/beta-restored.txt' })).status).toBe(403);
    const fresh = await lab.credentials('svc-beta', ROLE_BETA);
    expect((await lab.call(fresh, { path: '/bucket/beta-fresh.txt' })).status).toBe(200);
  });

  test('a role removed from a service account refuses the sessions that assumed it', async () => {
    const beta = await lab.credentials('svc-beta', ROLE_BETA);
    const loadsBefore = lab.events.filter((e) => e.type === 'policy.loaded').length;
    await writeFile(lab.policyFile, goodPolicy.replace(`roles: ["${ROLE_BETA}"]`, `roles: ["${ROLE_ALPHA}"]`));
    await waitUntil(() => lab.events.filter((e) => e.type === 'policy.loaded').length > loadsBefore, 10_000, 'policy.loaded');
    const refused = await lab.call(beta, { path: '/bucket/beta-role.txt' });
    expect(refused.status).toBe(403);
    expect(field(refused.body, 'Message')).toContain(`role ${ROLE_BETA} is no longer allowed`);
    await restore();
  });
});
