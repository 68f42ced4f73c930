import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GatewayError } from '../../src/errors.js';
import {
  deriveAccessKeyId,
  deriveSecretAccessKey,
  EXPIRED_TOKEN_MESSAGE,
  INVALID_TOKEN_MESSAGE,
  mintCredentials,
  SESSION_TOKEN_TYP,
  verifyGatewayCredentials,
  type RevocationList,
} from '../../src/identity/credentials.js';
import { loadOrCreateGatewayKeys, signCompactJws, type GatewayKeys } from '../../src/identity/keys.js';
import { mintLocalToken } from '../../src/identity/local-token.js';

let root: string;
let keys: GatewayKeys;
let otherKeys: GatewayKeys;
let sameKeysOtherInstance: GatewayKeys;

const NOW = new Date('2026-11-20T10:00:00.000Z');
const LATER = new Date('2026-11-20T11:00:00.000Z');
const input = {
  sessionId: 'ses-abc123',
  serviceAccount: 'billing-job',
  roleArn: 'arn:aws:iam::123456789012:role/billing',
  issuer: 'https://idp.example.com',
  subject: 'billing-job',
  expiresAt: LATER,
  now: NOW,
};

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'portcullis-creds-'));
  keys = await loadOrCreateGatewayKeys(join(root, 'a'));
  otherKeys = await loadOrCreateGatewayKeys(join(root, 'b'));
  // A second instance reading the same key files (e.g. after a restart).
  sameKeysOtherInstance = await loadOrCreateGatewayKeys(join(root, 'a'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

function expectGatewayError(fn: () => unknown, code: string, message: string, cause?: RegExp): void {
  let thrown: unknown;
  try {
    fn();
  } catch (error) {
    thrown = error;
  }
  expect(thrown).toBeInstanceOf(GatewayError);
  const error = thrown as GatewayError;
  expect(error.code).toBe(code);
  expect(error.message).toBe(message);
  if (cause) expect(String((error.cause as Error)?.message)).toMatch(cause);
}

describe('mintCredentials', () => {
  it('has the shape of STS temporary credentials', () => {
    const creds = mintCredentials(keys, input);
    expect(creds.accessKeyId).toMatch(/^ASIA[A-Z2-7]{16}$/);
    expect(creds.secretAccessKey).toMatch(/^[A-Za-z0-9+/]{40}$/);
    expect(creds.sessionToken.split('.')).toHaveLength(3);
    expect(creds.expiration.toISOString()).toBe(LATER.toISOString());
  });

  it('derives the access key id from the session id, and the secret from the access key id, stably', () => {
    const a = mintCredentials(keys, input);
    const b = mintCredentials(keys, { ...input, now: new Date(NOW.getTime() + 5000) });
    expect(b.accessKeyId).toBe(a.accessKeyId);
    expect(b.secretAccessKey).toBe(a.secretAccessKey);
    expect(deriveAccessKeyId(keys.secret, input.sessionId)).toBe(a.accessKeyId);
    expect(deriveSecretAccessKey(keys.secret, a.accessKeyId)).toBe(a.secretAccessKey);
    const other = mintCredentials(keys, { ...input, sessionId: 'ses-other' });
    expect(other.accessKeyId).not.toBe(a.accessKeyId);
    expect(other.secretAccessKey).not.toBe(a.secretAccessKey);
    // Another gateway secret gives other keys for the same session id.
    expect(mintCredentials(otherKeys, input).accessKeyId).not.toBe(a.accessKeyId);
  });

  it('truncates the expiration to whole seconds (the token carries seconds)', () => {
    const creds = mintCredentials(keys, { ...input, expiresAt: new Date(LATER.getTime() + 999) });
    expect(creds.expiration.toISOString()).toBe(LATER.toISOString());
  });

  it('refuses an expiry that is not after now', () => {
    expect(() => mintCredentials(keys, { ...input, expiresAt: NOW })).toThrow(/expiresAt must be a valid date after now/);
    expect(() => mintCredentials(keys, { ...input, sessionId: '' })).toThrow(/sessionId is empty/);
  });
});

describe('verifyGatewayCredentials', () => {
  it('round-trips: the session comes back with the re-derived secret', () => {
    const creds = mintCredentials(keys, input);
    const session = verifyGatewayCredentials(keys, creds, new Date(NOW.getTime() + 60_000));
    expect(session).toEqual({
      sessionId: 'ses-abc123',
      serviceAccount: 'billing-job',
      roleArn: 'arn:aws:iam::123456789012:role/billing',
      accessKeyId: creds.accessKeyId,
      secretAccessKey: creds.secretAccessKey,
      expiresAt: LATER,
      issuedAt: new Date(Math.floor(NOW.getTime() / 1000) * 1000),
      issuer: 'https://idp.example.com',
      subject: 'billing-job',
    });
  });

  it('is verified by another instance loading the same key files', () => {
    const creds = mintCredentials(keys, input);
    expect(verifyGatewayCredentials(sameKeysOtherInstance, creds, NOW).secretAccessKey).toBe(creds.secretAccessKey);
  });

  it('refuses a missing session token', () => {
    const creds = mintCredentials(keys, input);
    expectGatewayError(() => verifyGatewayCredentials(keys, { accessKeyId: creds.accessKeyId, sessionToken: undefined }, NOW), 'INVALID_CLIENT_TOKEN', INVALID_TOKEN_MESSAGE, /no session token/);
    expectGatewayError(() => verifyGatewayCredentials(keys, { accessKeyId: creds.accessKeyId, sessionToken: '' }, NOW), 'INVALID_CLIENT_TOKEN', INVALID_TOKEN_MESSAGE, /no session token/);
  });

  it("refuses credentials issued by another gateway's key", () => {
    const creds = mintCredentials(otherKeys, input);
    expectGatewayError(() => verifyGatewayCredentials(keys, creds, NOW), 'INVALID_CLIENT_TOKEN', INVALID_TOKEN_MESSAGE, /another gateway key/);
  });

  it("refuses a token re-labelled with this gateway's kid but signed by another key", () => {
    const forged = signCompactJws({ privateKey: otherKeys.privateKey, kid: keys.kid }, { typ: SESSION_TOKEN_TYP }, {
      sid: 'ses-abc123', sa: 'admin', role: input.roleArn, akid: deriveAccessKeyId(keys.secret, 'ses-abc123'),
      iss: input.issuer, sub: 'x', iat: 1, exp: 4_000_000_000,
    });
    const akid = deriveAccessKeyId(keys.secret, 'ses-abc123');
    expectGatewayError(() => verifyGatewayCredentials(keys, { accessKeyId: akid, sessionToken: forged }, NOW), 'INVALID_CLIENT_TOKEN', INVALID_TOKEN_MESSAGE, /signature does not verify/);
  });

  it('refuses a token signed with the same key but another gateway secret', () => {
    const hybrid: GatewayKeys = { ...keys, secret: otherKeys.secret };
    const creds = mintCredentials(hybrid, input);
    expectGatewayError(() => verifyGatewayCredentials(keys, creds, NOW), 'INVALID_CLIENT_TOKEN', INVALID_TOKEN_MESSAGE, /not derived from this gateway secret/);
  });

  it('refuses a tampered payload (service account swapped)', () => {
    const creds = mintCredentials(keys, input);
    const [h, p, s] = creds.sessionToken.split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(p, 'base64url').toString());
    claims.sa = 'admin';
    const tampered = `${h}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${s}`;
    expectGatewayError(() => verifyGatewayCredentials(keys, { accessKeyId: creds.accessKeyId, sessionToken: tampered }, NOW), 'INVALID_CLIENT_TOKEN', INVALID_TOKEN_MESSAGE, /signature does not verify/);
  });

  const malformed: [string, string, RegExp][] = [
    ['two segments', 'a.b', /not a compact JWS/],
    ['garbage header', '!!.e30.AAAA', /header is malformed/],
    ['wrong typ', `${Buffer.from('{"alg":"ES256","typ":"JWT"}').toString('base64url')}.e30.AAAA`, /not a portcullis session token/],
    ['alg none', `${Buffer.from('{"alg":"none","typ":"portcullis-session+jws"}').toString('base64url')}.e30.`, /algorithm none is not ES256/],
  ];
  for (const [name, token, cause] of malformed) {
    it(`refuses a malformed token: ${name}`, () => {
      expectGatewayError(() => verifyGatewayCredentials(keys, { accessKeyId: 'ASIAAAAAAAAAAAAAAAAA', sessionToken: token }, NOW), 'INVALID_CLIENT_TOKEN', INVALID_TOKEN_MESSAGE, cause);
    });
  }

  it('refuses a local identity token presented as a session token (same signing key)', () => {
    const local = mintLocalToken(keys, { serviceAccount: 'billing-job', ttlMs: 3_600_000, now: NOW });
    expectGatewayError(() => verifyGatewayCredentials(keys, { accessKeyId: 'ASIAAAAAAAAAAAAAAAAA', sessionToken: local }, NOW), 'INVALID_CLIENT_TOKEN', INVALID_TOKEN_MESSAGE, /not a portcullis session token/);
  });

  it('refuses an access key id that does not belong to the token', () => {
    const creds = mintCredentials(keys, input);
    const other = mintCredentials(keys, { ...input, sessionId: 'ses-other' });
    expectGatewayError(() => verifyGatewayCredentials(keys, { accessKeyId: other.accessKeyId, sessionToken: creds.sessionToken }, NOW), 'INVALID_CLIENT_TOKEN', INVALID_TOKEN_MESSAGE, /does not belong to this session token/);
  });

  it('refuses expired credentials at and after the expiration instant', () => {
    const creds = mintCredentials(keys, input);
    expect(() => verifyGatewayCredentials(keys, creds, new Date(LATER.getTime() - 1))).not.toThrow();
    expectGatewayError(() => verifyGatewayCredentials(keys, creds, LATER), 'EXPIRED_TOKEN', EXPIRED_TOKEN_MESSAGE, /expired at 2026-11-20T11:00:00.000Z/);
    expectGatewayError(() => verifyGatewayCredentials(keys, creds, new Date(LATER.getTime() + 86_400_000)), 'EXPIRED_TOKEN', EXPIRED_TOKEN_MESSAGE);
  });

  it('consults the revocation list', () => {
    const creds = mintCredentials(keys, input);
    const revoked = new Set(['ses-abc123']);
    const list: RevocationList = { isRevoked: (id) => revoked.has(id) };
    expectGatewayError(() => verifyGatewayCredentials(keys, creds, NOW, list), 'INVALID_CLIENT_TOKEN', INVALID_TOKEN_MESSAGE, /session ses-abc123 was revoked/);
    revoked.clear();
    expect(verifyGatewayCredentials(keys, creds, NOW, list).sessionId).toBe('ses-abc123');
  });
});
