import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT, type JWTPayload } from 'jose';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { IssuerConfig, ServiceAccountConfig } from '../../src/identity/config.js';
import { mintCredentials } from '../../src/identity/credentials.js';
import { loadOrCreateGatewayKeys, type GatewayKeys } from '../../src/identity/keys.js';
import { clearJwksCache } from '../../src/identity/jwks.js';
import { TokenVerifier, type IdentityResult } from '../../src/identity/jwt.js';
import { LOCAL_AUDIENCE, LOCAL_ISSUER, mintLocalToken } from '../../src/identity/local-token.js';
import {
  DEFAULT_IDP_AUDIENCE,
  generateSigningKey,
  rawToken,
  signToken,
  startIdp,
  startJwksServer,
  type JwksServer,
  type LocalIdp,
  type TestSigningKey,
} from '../fixtures/idp.js';

const NOW = new Date('2026-11-20T10:00:00.000Z');
const NOW_S = Math.floor(NOW.getTime() / 1000);
const ROLE = 'arn:aws:iam::123456789012:role/billing';
const OTHER_ROLE = 'arn:aws:iam::123456789012:role/admin';
const LAB_AUDIENCE = 'sts.portcullis.test';

let idp: LocalIdp;
let lab: JwksServer;
let attacker: JwksServer;
let rsKey: TestSigningKey;
let esKey: TestSigningKey;
let psKey: TestSigningKey;
let es384Key: TestSigningKey;
let strayKey: TestSigningKey;
let root: string;
let gatewayKeys: GatewayKeys;
let otherGatewayKeys: GatewayKeys;
let corp: IssuerConfig;
let labIssuer: IssuerConfig;

function account(partial: Partial<ServiceAccountConfig> & Pick<ServiceAccountConfig, 'name' | 'issuer' | 'subject'>): ServiceAccountConfig {
  return { claims: {}, roles: [ROLE], sessionTtlMs: 3_600_000, ...partial };
}

let accounts: ServiceAccountConfig[];

beforeAll(async () => {
  idp = await startIdp({
    clients: [
      { clientId: 'billing-job', clientSecret: 's1' },
      { clientId: 'orphan-job', clientSecret: 's2' },
    ],
  });
  [rsKey, esKey, psKey, es384Key, strayKey] = await Promise.all([
    generateSigningKey('RS256', 'rs-1'),
    generateSigningKey('ES256', 'es-1'),
    generateSigningKey('PS256', 'ps-1'),
    generateSigningKey('ES384', 'es384-1'),
    generateSigningKey('RS256', 'rs-1'), // same kid as rsKey, different key material
  ]);
  lab = await startJwksServer({ keys: [rsKey.publicJwk, esKey.publicJwk, psKey.publicJwk, es384Key.publicJwk] });
  attacker = await startJwksServer({ keys: [strayKey.publicJwk] });
  root = await mkdtemp(join(tmpdir(), 'portcullis-jwt-'));
  gatewayKeys = await loadOrCreateGatewayKeys(join(root, 'a'));
  otherGatewayKeys = await loadOrCreateGatewayKeys(join(root, 'b'));

  // No jwksUri: the verifier discovers it from the IdP's openid-configuration.
  corp = { name: 'corp', issuer: idp.issuer, audience: [DEFAULT_IDP_AUDIENCE], algorithms: [], clockSkewMs: 0 };
  labIssuer = { name: 'lab', issuer: lab.issuer, audience: ['something-else', LAB_AUDIENCE], jwksUri: lab.jwksUri, algorithms: [], clockSkewMs: 0 };
  accounts = [
    account({ name: 'billing', issuer: 'corp', subject: 'billing-job', claims: { client_id: 'billing-job' } }),
    account({ name: 'lab-a', issuer: 'lab', subject: 'svc-a' }),
    account({ name: 'dup-1', issuer: 'lab', subject: 'svc-dup' }),
    account({ name: 'dup-2', issuer: 'lab', subject: 'svc-dup' }),
    account({ name: 'prod-only', issuer: 'lab', subject: 'svc-c', claims: { env: 'prod', run: '7' } }),
    account({ name: 'local-bot', issuer: 'local', subject: '' }),
    account({ name: 'local-named', issuer: 'local', subject: 'local-named' }),
  ];
});

afterAll(async () => {
  await Promise.all([idp.close(), lab.close(), attacker.close()]);
  await rm(root, { recursive: true, force: true });
});

afterEach(() => {
  vi.useRealTimers();
});

function verifier(overrides: Partial<ConstructorParameters<typeof TokenVerifier>[0]> = {}): TokenVerifier {
  return new TokenVerifier({ issuers: [corp, labIssuer], serviceAccounts: accounts, localKeys: gatewayKeys, now: () => NOW, ...overrides });
}

function labClaims(extra: JWTPayload = {}): JWTPayload {
  return { iss: lab.issuer, sub: 'svc-a', aud: LAB_AUDIENCE, iat: NOW_S, exp: NOW_S + 600, ...extra };
}

function expectRefused(result: IdentityResult, code: 'INVALID_IDENTITY_TOKEN' | 'ACCESS_DENIED', reason: string | RegExp): void {
  expect(result.ok).toBe(false);
  if (result.ok) return;
  expect(result.code).toBe(code);
  if (typeof reason === 'string') expect(result.reason).toBe(reason);
  else expect(result.reason).toMatch(reason);
}

describe('TokenVerifier with a real OpenID provider (oidc-provider)', () => {
  it('accepts a client_credentials access token and maps it to the service account', async () => {
    const token = await idp.token('billing-job');
    const result = await verifier({ now: () => new Date() }).verify(token, ROLE);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.account.name).toBe('billing');
    expect(result.issuer).toBe(corp);
    expect(result.claims).toMatchObject({ iss: idp.issuer, sub: 'billing-job', aud: DEFAULT_IDP_AUDIENCE, client_id: 'billing-job' });
  });

  it('refuses a token minted for another audience', async () => {
    const token = await idp.token('billing-job', { audience: 'urn:someone-else' });
    expectRefused(await verifier({ now: () => new Date() }).verify(token), 'INVALID_IDENTITY_TOKEN', 'wrong audience urn:someone-else for issuer corp');
  });

  it('refuses a valid token whose subject no service account names', async () => {
    const token = await idp.token('orphan-job');
    expectRefused(await verifier({ now: () => new Date() }).verify(token), 'ACCESS_DENIED', /^no service account matches issuer corp subject orphan-job \(candidates: billing; closest billing: StringEquals sub: token has "orphan-job", expected "billing-job" \(\+1 more\)\)$/);
  });

  it('refuses a role the service account may not assume', async () => {
    const token = await idp.token('billing-job');
    expectRefused(await verifier({ now: () => new Date() }).verify(token, OTHER_ROLE), 'ACCESS_DENIED', `role ${OTHER_ROLE} is not allowed for service account billing`);
  });

  it('refuses the real token once expired by the injected clock', async () => {
    const token = await idp.token('billing-job');
    const twoHoursLater = new Date(Date.now() + 2 * 3_600_000);
    expectRefused(await verifier({ now: () => twoHoursLater }).verify(token), 'INVALID_IDENTITY_TOKEN', /^token expired at \d{4}-\d\d-\d\dT/);
  });
});

describe('TokenVerifier accepts', () => {
  for (const [name, key] of [['RS256', () => rsKey], ['ES256', () => esKey], ['PS256', () => psKey]] as const) {
    it(`${name} tokens from a configured JWKS`, async () => {
      const result = await verifier().verify(await signToken(key(), labClaims()), ROLE);
      expect(result.ok && result.account.name).toBe('lab-a');
    });
  }

  it('an audience list containing one configured audience', async () => {
    const result = await verifier().verify(await signToken(rsKey, labClaims({ aud: ['x', LAB_AUDIENCE] })));
    expect(result.ok).toBe(true);
  });

  it('a token expired within the issuer clock skew', async () => {
    const token = await signToken(rsKey, labClaims({ exp: NOW_S - 30 }));
    expect((await verifier().verify(token)).ok).toBe(false);
    const lenient = verifier({ issuers: [{ ...labIssuer, clockSkewMs: 60_000 }] });
    expect((await lenient.verify(token)).ok).toBe(true);
  });

  it('a token whose claims match the account claims (numbers compared as strings)', async () => {
    const result = await verifier().verify(await signToken(rsKey, labClaims({ sub: 'svc-c', env: 'prod', run: 7 })));
    expect(result.ok && result.account.name).toBe('prod-only');
  });
});

describe('TokenVerifier refuses', () => {
  const cases: { name: string; token: () => Promise<string>; code?: 'INVALID_IDENTITY_TOKEN' | 'ACCESS_DENIED'; reason: string | RegExp | (() => string); role?: string }[] = [
    { name: 'an empty token', token: async () => '', reason: 'token is empty' },
    { name: 'a token that is not a JWT', token: async () => 'not-a-jwt', reason: 'token is not a well-formed JWT (expected header.payload.signature)' },
    { name: 'a token with garbage segments', token: async () => '%%%.%%%.%%%', reason: 'token is not a well-formed JWT (expected header.payload.signature)' },
    { name: 'alg none', token: async () => rawToken({ alg: 'none', typ: 'JWT' }, labClaims()), reason: 'algorithm none is not allowed: tokens must be signed' },
    { name: 'alg NONE (case games)', token: async () => rawToken({ alg: 'NONE' }, labClaims()), reason: 'algorithm NONE is not allowed: tokens must be signed' },
    { name: 'a missing alg', token: async () => rawToken({ typ: 'JWT' }, labClaims(), 'c2ln'), reason: 'algorithm (missing) is not allowed: tokens must be signed' },
    {
      name: 'HS256 signed with the issuer public key as the HMAC secret',
      token: async () =>
        new SignJWT(labClaims()).setProtectedHeader({ alg: 'HS256', kid: 'rs-1' }).sign(new TextEncoder().encode(JSON.stringify(rsKey.publicJwk))),
      reason: 'algorithm HS256 is not allowed for issuer lab (allowed: RS256, ES256, PS256)',
    },
    { name: 'an algorithm outside the allow-list (ES384)', token: () => signToken(es384Key, labClaims()), reason: 'algorithm ES384 is not allowed for issuer lab (allowed: RS256, ES256, PS256)' },
    { name: 'a kid the JWKS does not hold', token: () => signToken(rsKey, labClaims(), { kid: 'rs-unknown' }), reason: 'no signing key of issuer lab matches kid rs-unknown' },
    { name: 'the right kid signed by another key', token: () => signToken(strayKey, labClaims()), reason: 'signature invalid for issuer lab' },
    { name: 'an expired token', token: () => signToken(rsKey, labClaims({ exp: NOW_S - 1 })), reason: `token expired at ${new Date((NOW_S - 1) * 1000).toISOString()}` },
    { name: 'a token expiring exactly now', token: () => signToken(rsKey, labClaims({ exp: NOW_S })), reason: /^token expired at/ },
    { name: 'a token not yet valid', token: () => signToken(rsKey, labClaims({ nbf: NOW_S + 300 })), reason: `token is not yet valid (nbf ${new Date((NOW_S + 300) * 1000).toISOString()})` },
    { name: 'a token without exp', token: () => signToken(rsKey, labClaims({ exp: undefined })), reason: 'token has no exp claim' },
    { name: 'a token without sub', token: () => signToken(rsKey, labClaims({ sub: undefined })), reason: 'token has no sub claim' },
    { name: 'a token without aud', token: () => signToken(rsKey, labClaims({ aud: undefined })), reason: 'token has no aud claim' },
    { name: 'a wrong audience', token: () => signToken(rsKey, labClaims({ aud: 'sts.amazonaws.com' })), reason: 'wrong audience sts.amazonaws.com for issuer lab' },
    { name: 'an unknown issuer', token: () => signToken(rsKey, labClaims({ iss: 'https://evil.example' })), reason: 'unknown issuer https://evil.example' },
    { name: 'an issuer differing by a trailing slash', token: () => signToken(rsKey, labClaims({ iss: `${lab.issuer}/` })), reason: () => `unknown issuer ${lab.issuer}/` },
    { name: 'a token without iss', token: () => signToken(rsKey, labClaims({ iss: undefined })), reason: 'token has no iss claim' },
    { name: 'an exp that is not a number', token: () => signToken(rsKey, labClaims({ exp: 'tomorrow' as unknown as number })), reason: /claim exp is invalid|token is malformed/ },
    { name: 'a subject no account names', token: () => signToken(rsKey, labClaims({ sub: 'nobody' })), code: 'ACCESS_DENIED', reason: 'no service account matches issuer lab subject nobody (candidates: lab-a, dup-1, dup-2, prod-only; closest lab-a: StringEquals sub: token has "nobody", expected "svc-a")' },
    { name: 'claims that differ from the account claims', token: () => signToken(rsKey, labClaims({ sub: 'svc-c', env: 'dev', run: '7' })), code: 'ACCESS_DENIED', reason: /^no service account matches issuer lab subject svc-c \(candidates: .*; closest prod-only: StringEquals env: token has "dev", expected "prod"\)$/ },
    { name: 'a missing required claim', token: () => signToken(rsKey, labClaims({ sub: 'svc-c', env: 'prod' })), code: 'ACCESS_DENIED', reason: /closest prod-only: StringEquals run: token has no run claim\)$/ },
    { name: 'an array where the account expects a string', token: () => signToken(rsKey, labClaims({ sub: 'svc-c', env: ['prod'], run: '7' })), code: 'ACCESS_DENIED', reason: /closest prod-only: StringEquals env: token has a list \["prod"\]; use ForAnyValue: or ForAllValues:\)$/ },
    {
      name: 'a token matching two service accounts',
      token: () => signToken(rsKey, labClaims({ sub: 'svc-dup' })),
      code: 'ACCESS_DENIED',
      reason: 'token matches more than one service account (dup-1, dup-2); make their subject or claims distinct',
    },
    { name: 'a role outside the account roles', token: () => signToken(rsKey, labClaims()), role: OTHER_ROLE, code: 'ACCESS_DENIED', reason: `role ${OTHER_ROLE} is not allowed for service account lab-a` },
  ];

  for (const c of cases) {
    it(c.name, async () => {
      expectRefused(await verifier().verify(await c.token(), c.role), c.code ?? 'INVALID_IDENTITY_TOKEN', typeof c.reason === 'function' ? c.reason() : c.reason);
    });
  }

  it('HS256 even when the issuer configuration lists it (the loader forbids it; the verifier fails closed too)', async () => {
    const token = await new SignJWT(labClaims()).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode(JSON.stringify(rsKey.publicJwk)));
    const v = verifier({ issuers: [{ ...labIssuer, algorithms: ['HS256', 'RS256'] }] });
    expectRefused(await v.verify(token), 'INVALID_IDENTITY_TOKEN', 'algorithm HS256 is not allowed for issuer lab (allowed: RS256)');
  });

  it('an algorithm the issuer does not allow even though the JWKS holds the key', async () => {
    const v = verifier({ issuers: [{ ...labIssuer, algorithms: ['RS256'] }] });
    expectRefused(await v.verify(await signToken(esKey, labClaims())), 'INVALID_IDENTITY_TOKEN', 'algorithm ES256 is not allowed for issuer lab (allowed: RS256)');
  });

  it('a jku header pointing at an attacker JWKS (never fetched)', async () => {
    const before = attacker.fetches.jwks;
    const token = await signToken({ ...strayKey, kid: 'attacker-1' }, labClaims(), { jku: attacker.jwksUri, x5u: attacker.jwksUri });
    expectRefused(await verifier().verify(token), 'INVALID_IDENTITY_TOKEN', 'no signing key of issuer lab matches kid attacker-1');
    expect(attacker.fetches.jwks).toBe(before);
  });

  it('an embedded jwk header (the key must come from the JWKS)', async () => {
    const token = await signToken(strayKey, labClaims(), { kid: 'embedded', jwk: strayKey.publicJwk });
    expectRefused(await verifier().verify(token), 'INVALID_IDENTITY_TOKEN', 'no signing key of issuer lab matches kid embedded');
  });

  it('a tampered payload', async () => {
    const token = await signToken(rsKey, labClaims());
    const [h, , s] = token.split('.');
    const forged = `${h}.${Buffer.from(JSON.stringify(labClaims({ sub: 'svc-dup' }))).toString('base64url')}.${s}`;
    expectRefused(await verifier().verify(forged), 'INVALID_IDENTITY_TOKEN', 'signature invalid for issuer lab');
  });

  it('an issuer whose JWKS cannot be fetched', async () => {
    clearJwksCache();
    const gone = await startJwksServer();
    const issuer: IssuerConfig = { name: 'gone', issuer: gone.issuer, audience: ['a'], algorithms: [], clockSkewMs: 0 };
    await gone.close();
    const v = verifier({ issuers: [issuer] });
    const token = await signToken(rsKey, { iss: gone.issuer, sub: 's', aud: 'a', exp: NOW_S + 60 });
    expectRefused(await v.verify(token), 'INVALID_IDENTITY_TOKEN', /^cannot fetch the signing keys of issuer gone: /);
  });

  it('a discovery document that names another issuer', async () => {
    const liar = await startJwksServer({ keys: [rsKey.publicJwk] });
    liar.setAdvertisedIssuer('https://impostor.example');
    try {
      const issuer: IssuerConfig = { name: 'liar', issuer: liar.issuer, audience: ['a'], algorithms: [], clockSkewMs: 0 };
      const token = await signToken(rsKey, { iss: liar.issuer, sub: 's', aud: 'a', exp: NOW_S + 60 });
      expectRefused(await verifier({ issuers: [issuer] }).verify(token), 'INVALID_IDENTITY_TOKEN', /names issuer https:\/\/impostor\.example, not /);
    } finally {
      await liar.close();
    }
  });
});

describe('TokenVerifier construction', () => {
  it('refuses an issuer configured twice', () => {
    expect(() => new TokenVerifier({ issuers: [labIssuer, { ...labIssuer, name: 'lab2' }], serviceAccounts: [] })).toThrow(/configured twice/);
  });
  it('refuses a negative cool-down', () => {
    expect(() => new TokenVerifier({ issuers: [], serviceAccounts: [], jwksCooldownMs: -1 })).toThrow(/jwksCooldownMs must be a non-negative integer/);
  });
});

describe('JWKS caching', () => {
  it('refetches on an unknown kid only after the cool-down', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const t0 = new Date('2026-11-20T10:00:00.000Z').getTime();
    vi.setSystemTime(t0);
    const server = await startJwksServer({ keys: [rsKey.publicJwk] });
    try {
      const issuer: IssuerConfig = { name: 'rot', issuer: server.issuer, audience: ['a'], jwksUri: server.jwksUri, algorithms: [], clockSkewMs: 0 };
      const v = verifier({ issuers: [issuer], serviceAccounts: [account({ name: 'rot', issuer: 'rot', subject: 's' })], jwksCooldownMs: 60_000 });
      const claims = { iss: server.issuer, sub: 's', aud: 'a', exp: NOW_S + 600 };
      expect((await v.verify(await signToken(rsKey, claims))).ok).toBe(true);
      expect(server.fetches.jwks).toBe(1);

      // The IdP rotates in a new key.
      server.setKeys([rsKey.publicJwk, esKey.publicJwk]);
      const rotated = await signToken(esKey, claims);
      vi.setSystemTime(t0 + 1_000);
      expectRefused(await v.verify(rotated), 'INVALID_IDENTITY_TOKEN', 'no signing key of issuer rot matches kid es-1');
      expectRefused(await v.verify(await signToken(esKey, claims, { kid: 'garbage' })), 'INVALID_IDENTITY_TOKEN', /matches kid garbage/);
      expect(server.fetches.jwks).toBe(1);

      vi.setSystemTime(t0 + 61_000);
      expect((await v.verify(rotated)).ok).toBe(true);
      expect(server.fetches.jwks).toBe(2);

      // A flood of unknown kids after a refetch costs nothing until the cool-down passes again.
      for (let i = 0; i < 5; i += 1) {
        expect((await v.verify(await signToken(esKey, claims, { kid: `junk-${i}` }))).ok).toBe(false);
      }
      expect(server.fetches.jwks).toBe(2);
      // Known keys keep verifying from the cache.
      expect((await v.verify(await signToken(rsKey, claims))).ok).toBe(true);
      expect(server.fetches.jwks).toBe(2);
    } finally {
      await server.close();
    }
  });

  it('keeps fetched keys and discovery across verifier rebuilds (policy reload)', async () => {
    const server = await startJwksServer({ keys: [rsKey.publicJwk] });
    try {
      // No jwksUri: discovery, then the JWKS.
      const issuer: IssuerConfig = { name: 'hot', issuer: server.issuer, audience: ['a'], algorithms: [], clockSkewMs: 0 };
      const sa = [account({ name: 'hot', issuer: 'hot', subject: 's' })];
      const token = await signToken(rsKey, { iss: server.issuer, sub: 's', aud: 'a', exp: NOW_S + 600 });
      for (let i = 0; i < 3; i += 1) {
        const rebuilt = verifier({ issuers: [issuer], serviceAccounts: sa });
        expect((await rebuilt.verify(token)).ok).toBe(true);
      }
      expect(server.fetches).toEqual({ jwks: 1, discovery: 1 });
      clearJwksCache();
      expect((await verifier({ issuers: [issuer], serviceAccounts: sa }).verify(token)).ok).toBe(true);
      expect(server.fetches).toEqual({ jwks: 2, discovery: 2 });
    } finally {
      await server.close();
    }
  });

  it('uses an injected fetch', async () => {
    const server = await startJwksServer({ keys: [rsKey.publicJwk] });
    try {
      const seen: string[] = [];
      const counting: typeof fetch = (input, init) => {
        seen.push(String(input));
        return fetch(input, init);
      };
      const issuer: IssuerConfig = { name: 'inj', issuer: server.issuer, audience: ['a'], algorithms: [], clockSkewMs: 0 };
      const v = verifier({ issuers: [issuer], serviceAccounts: [account({ name: 'inj', issuer: 'inj', subject: 's' })], fetch: counting });
      const token = await signToken(rsKey, { iss: server.issuer, sub: 's', aud: 'a', exp: NOW_S + 600 });
      expect((await v.verify(token)).ok).toBe(true);
      expect(seen).toEqual([`${server.issuer}/.well-known/openid-configuration`, server.jwksUri]);
    } finally {
      await server.close();
    }
  });
});

describe('local tokens', () => {
  it('are minted with the documented claims', async () => {
    const token = mintLocalToken(gatewayKeys, { serviceAccount: 'local-bot', ttlMs: 3_600_000, now: NOW });
    const [header, payload] = token.split('.').slice(0, 2).map((part) => JSON.parse(Buffer.from(part as string, 'base64url').toString()));
    expect(header).toMatchObject({ alg: 'ES256', kid: gatewayKeys.kid });
    expect(payload).toMatchObject({ iss: LOCAL_ISSUER, sub: 'local-bot', aud: LOCAL_AUDIENCE, iat: NOW_S, exp: NOW_S + 3600 });
    expect(typeof payload.jti).toBe('string');
    const again = mintLocalToken(gatewayKeys, { serviceAccount: 'local-bot', ttlMs: 3_600_000, now: NOW });
    expect(JSON.parse(Buffer.from(again.split('.')[1] as string, 'base64url').toString()).jti).not.toBe(payload.jti);
  });

  it('are accepted for `issuer: local` accounts, matched by name (subject omitted or equal)', async () => {
    for (const name of ['local-bot', 'local-named']) {
      const result = await verifier().verify(mintLocalToken(gatewayKeys, { serviceAccount: name, ttlMs: 60_000, now: NOW }), ROLE);
      expect(result.ok && result.account.name).toBe(name);
      expect(result.ok && result.issuer).toBe('local');
    }
  });

  it('are refused for an account that is not local', async () => {
    const token = mintLocalToken(gatewayKeys, { serviceAccount: 'billing', ttlMs: 60_000, now: NOW });
    expectRefused(await verifier().verify(token), 'ACCESS_DENIED', 'no service account matches issuer local subject billing');
  });

  it('are refused once expired', async () => {
    const token = mintLocalToken(gatewayKeys, { serviceAccount: 'local-bot', ttlMs: 60_000, now: NOW });
    const later = new Date(NOW.getTime() + 60_000);
    expectRefused(await verifier({ now: () => later }).verify(token), 'INVALID_IDENTITY_TOKEN', `token expired at ${new Date((NOW_S + 60) * 1000).toISOString()}`);
  });

  it('are refused when minted by another gateway', async () => {
    const token = mintLocalToken(otherGatewayKeys, { serviceAccount: 'local-bot', ttlMs: 60_000, now: NOW });
    expectRefused(await verifier().verify(token), 'INVALID_IDENTITY_TOKEN', 'signature invalid for issuer local');
  });

  it('are refused when the verifier has no local keys', async () => {
    const token = mintLocalToken(gatewayKeys, { serviceAccount: 'local-bot', ttlMs: 60_000, now: NOW });
    expectRefused(await verifier({ localKeys: undefined }).verify(token), 'INVALID_IDENTITY_TOKEN', `unknown issuer ${LOCAL_ISSUER}`);
  });

  it('refuses a non-ES256 token claiming the local issuer', async () => {
    const token = await signToken(rsKey, { iss: LOCAL_ISSUER, sub: 'local-bot', aud: LOCAL_AUDIENCE, exp: NOW_S + 60 });
    expectRefused(await verifier().verify(token), 'INVALID_IDENTITY_TOKEN', 'algorithm RS256 is not allowed for issuer local (allowed: ES256)');
  });

  it('refuses a gateway session token presented as an identity token (same signing key)', async () => {
    const { sessionToken } = mintCredentials(gatewayKeys, {
      sessionId: 'ses-1', serviceAccount: 'local-bot', roleArn: ROLE, issuer: LOCAL_ISSUER, subject: 'local-bot',
      expiresAt: new Date(NOW.getTime() + 60_000), now: NOW,
    });
    expectRefused(await verifier().verify(sessionToken), 'INVALID_IDENTITY_TOKEN', 'token type portcullis-session+jws is not accepted for issuer local');
  });

  it('refuses a non-positive ttl', () => {
    expect(() => mintLocalToken(gatewayKeys, { serviceAccount: 'x', ttlMs: 0, now: NOW })).toThrow(/ttlMs must be positive/);
  });
});
