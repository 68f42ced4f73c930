// Hostile identity tokens: whatever the structure, base64url or claim types, TokenVerifier answers
// ok:false with a reason (never throws), and only a correctly signed token with valid claims passes.
// Gateway session tokens likewise: verifyGatewayCredentials throws GatewayError only.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { IssuerConfig, ServiceAccountConfig } from '../../src/identity/config.js';
import { isGatewayError } from '../../src/errors.js';
import { mintCredentials, verifyGatewayCredentials } from '../../src/identity/credentials.js';
import { clearJwksCache } from '../../src/identity/jwks.js';
import { TokenVerifier } from '../../src/identity/jwt.js';
import { loadOrCreateGatewayKeys, type GatewayKeys } from '../../src/identity/keys.js';
import { CompactSign } from 'jose';
import { generateSigningKey, type TestSigningKey } from '../fixtures/idp.js';
import { params, reportCases } from './runs.js';

reportCases('jwt');

const ISSUER = 'https://idp.fuzz.example';
const NOW = new Date('2026-11-20T10:00:00.000Z');
const NOW_S = NOW.getTime() / 1000;
let key: TestSigningKey;
let verifier: TokenVerifier;
let keys: GatewayKeys;
let dir: string;

beforeAll(async () => {
  clearJwksCache();
  key = await generateSigningKey('RS256', 'fuzz-kid');
  // No network: the JWKS comes from an in-memory fetch.
  const fetchJwks = (async () => new Response(JSON.stringify({ keys: [key.publicJwk] }), { status: 200, headers: { 'content-type': 'application/json' } })) as typeof fetch;
  const issuer: IssuerConfig = { name: 'fuzz', issuer: ISSUER, audience: ['urn:fuzz'], jwksUri: `${ISSUER}/jwks`, algorithms: [], clockSkewMs: 0 };
  const accounts: ServiceAccountConfig[] = [{ name: 'svc', issuer: 'fuzz', subject: 'svc-sub', claims: {}, roles: ['arn:aws:iam::123456789012:role/r'], sessionTtlMs: 3_600_000 }];
  dir = await mkdtemp(join(tmpdir(), 'portcullis-fuzz-jwt-'));
  keys = await loadOrCreateGatewayKeys(dir);
  verifier = new TokenVerifier({ issuers: [issuer], serviceAccounts: accounts, localKeys: keys, now: () => NOW, fetch: fetchJwks });
});
afterAll(() => rm(dir, { recursive: true, force: true }));

const b64 = (value: unknown): string => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');
// Numbers stay inside the range a Date can hold: beyond it TokenVerifier throws (see 'found by this fuzzer' below).
const DATE_SAFE_S = 8.64e12;
const claimValue = fc.oneof(fc.string({ maxLength: 10 }), fc.integer(), fc.double({ min: -DATE_SAFE_S, max: DATE_SAFE_S }), fc.boolean(), fc.constant(null), fc.array(fc.string({ maxLength: 5 }), { maxLength: 3 }), fc.object({ maxDepth: 1 }));
const header = fc.record(
  {
    alg: fc.oneof(fc.constantFrom('RS256', 'ES256', 'PS256', 'HS256', 'none', 'NONE', 'RS512', 'EdDSA', ''), claimValue),
    kid: fc.oneof(fc.constant('fuzz-kid'), claimValue),
    typ: fc.oneof(fc.constantFrom('JWT', 'at+jwt', 'portcullis-session+jws'), claimValue),
    crit: fc.array(fc.string({ maxLength: 5 }), { maxLength: 2 }),
    b64: fc.boolean(),
    jku: fc.constant('http://127.0.0.1:1/jwks'),
  },
  { requiredKeys: [] },
);
const claims = fc.record(
  {
    iss: fc.oneof(fc.constantFrom(ISSUER, 'urn:portcullis:local', `${ISSUER}/`), claimValue),
    sub: fc.oneof(fc.constant('svc-sub'), claimValue),
    aud: fc.oneof(fc.constantFrom('urn:fuzz', 'portcullis'), claimValue),
    exp: fc.oneof(fc.constant(NOW_S + 60), fc.integer({ min: 0, max: 2 ** 40 }), claimValue),
    nbf: fc.oneof(fc.constant(NOW_S - 60), claimValue),
    iat: fc.oneof(fc.constant(NOW_S - 60), claimValue),
  },
  { requiredKeys: [] },
);
const segment = fc.oneof(
  fc.string({ unit: fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'), maxLength: 60 }),
  fc.string({ maxLength: 30 }),
  fc.jsonValue({ maxDepth: 2 }).map(b64),
  fc.constantFrom('', '=', '====', '%%%', '.', 'e30', 'bnVsbA', 'W10'),
);

async function expectRefusedOrOk(token: string): Promise<'ok' | 'refused'> {
  const result = await verifier.verify(token, 'arn:aws:iam::123456789012:role/r');
  if (result.ok) return 'ok';
  expect(result.reason.length).toBeGreaterThan(0);
  expect(['INVALID_IDENTITY_TOKEN', 'ACCESS_DENIED']).toContain(result.code);
  return 'refused';
}

describe('TokenVerifier never throws', () => {
  test('arbitrary strings and segment soup are refused with a reason', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.string({ maxLength: 200 }), fc.array(segment, { maxLength: 5 }).map((s) => s.join('.'))), async (token) => {
        expect(await expectRefusedOrOk(token)).toBe('refused');
      }),
      params('soup', 500),
    );
  });

  test('structured headers and claims of any type, with any signature segment, are refused', async () => {
    await fc.assert(
      fc.asyncProperty(header, claims, segment, async (h, c, sig) => {
        expect(await expectRefusedOrOk(`${b64(h)}.${b64(c)}.${sig}`)).toBe('refused');
      }),
      params('unsigned', 500),
    );
  });

  test('correctly signed tokens with claims of any type: accepted only when every claim is right', async () => {
    await fc.assert(
      fc.asyncProperty(claims, async (c) => {
        // CompactSign, not SignJWT: it signs any claim value (SignJWT refuses e.g. nbf: Infinity itself).
        const token = await new CompactSign(new TextEncoder().encode(JSON.stringify(c))).setProtectedHeader({ alg: 'RS256', kid: 'fuzz-kid', typ: 'JWT' }).sign(key.privateKey);
        const sent = JSON.parse(JSON.stringify(c)) as typeof c;
        const outcome = await expectRefusedOrOk(token);
        const valid =
          sent.iss === ISSUER &&
          sent.sub === 'svc-sub' &&
          (sent.aud === 'urn:fuzz' || (Array.isArray(sent.aud) && sent.aud.includes('urn:fuzz'))) &&
          typeof sent.exp === 'number' &&
          sent.exp > NOW_S &&
          (sent.nbf === undefined || (typeof sent.nbf === 'number' && sent.nbf <= NOW_S)) &&
          (sent.iat === undefined || typeof sent.iat === 'number');
        if (outcome === 'ok') expect(valid, JSON.stringify(sent)).toBe(true);
      }),
      params('signed-claims', 300),
    );
  });
});

describe('found by this fuzzer', () => {
  // Was a bug (src/identity/jwt.ts, isoFromSeconds): a correctly signed token whose nbf or exp lies outside the
  // range of a JS Date made writing the refusal reason throw, so verify() threw (500) instead of refusing.
  for (const claim of ['nbf', 'exp'] as const) {
    test(`a signed token with ${claim} = 8.64e12 + 1 is refused with a reason, not thrown`, async () => {
      const c: Record<string, unknown> = { iss: ISSUER, sub: 'svc-sub', aud: 'urn:fuzz', exp: NOW_S + 60 };
      c[claim] = claim === 'exp' ? -(DATE_SAFE_S + 1) : DATE_SAFE_S + 1;
      const token = await new CompactSign(new TextEncoder().encode(JSON.stringify(c))).setProtectedHeader({ alg: 'RS256', kid: 'fuzz-kid' }).sign(key.privateKey);
      const result = await verifier.verify(token);
      expect(result.ok).toBe(false);
    });
  }
});

describe('gateway session tokens', () => {
  test('any session token / access key pair throws GatewayError or verifies only when genuine', async () => {
    const genuine = mintCredentials(keys, { sessionId: 'ses-1', serviceAccount: 'svc', roleArn: 'arn:aws:iam::123456789012:role/r', issuer: ISSUER, subject: 'svc-sub', expiresAt: new Date(NOW.getTime() + 60_000), now: NOW });
    const [gh, gp, gs] = genuine.sessionToken.split('.') as [string, string, string];
    const mutatedToken = fc.tuple(fc.constantFrom(0, 1, 2), fc.nat(), fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=')).map(([part, at, ch]) => {
      const parts = [gh, gp, gs];
      const text = parts[part]!;
      const i = at % text.length;
      parts[part] = text.slice(0, i) + ch + text.slice(i + 1);
      return parts.join('.');
    });
    await fc.assert(
      fc.asyncProperty(fc.oneof(mutatedToken, fc.array(segment, { maxLength: 4 }).map((s) => s.join('.')), fc.tuple(header, claims, segment).map(([h, c, s]) => `${b64(h)}.${b64(c)}.${s}`)), fc.constantFrom(genuine.accessKeyId, 'ASIAOTHER', ''), async (token, akid) => {
        try {
          const session = verifyGatewayCredentials(keys, { accessKeyId: akid, sessionToken: token }, NOW);
          // Only the genuine token (or a change the JWS encoding cannot see) verifies.
          expect(session.sessionId).toBe('ses-1');
          expect(akid).toBe(genuine.accessKeyId);
        } catch (error) {
          if (!isGatewayError(error)) throw error;
          expect(['INVALID_CLIENT_TOKEN', 'EXPIRED_TOKEN']).toContain(error.code);
        }
      }),
      params('session-token', 600),
    );
  });
});
