// Gateway-issued temporary credentials, stateless: everything needed to check them travels in the
// session token (a compact JWS signed by the gateway key) or is derived from the gateway secret, so a
// restarted gateway or a second instance with the same key files verifies them without shared state.
//
//   accessKeyId     = 'ASIA' + base32(HMAC-SHA256(secret, 'portcullis-akid:' + sessionId))[0..16]
//   secretAccessKey = base64(HMAC-SHA256(secret, accessKeyId))[0..40]
//   sessionToken    = JWS ES256 { sid, sa, role, akid, iss, sub, iat, exp }
import { createHmac, verify } from 'node:crypto';
import { GatewayError } from '../errors.js';
import { signCompactJws, SIGNING_ALG, type GatewayKeys } from './keys.js';

/** `typ` of session tokens; keeps them apart from local identity tokens signed by the same key. */
export const SESSION_TOKEN_TYP = 'portcullis-session+jws';
export const INVALID_TOKEN_MESSAGE = 'The security token included in the request is invalid';
export const EXPIRED_TOKEN_MESSAGE = 'The security token included in the request is expired';

export interface MintCredentialsInput {
  sessionId: string;
  serviceAccount: string;
  roleArn: string;
  /** `iss` of the identity token that opened the session (`urn:portcullis:local` for local tokens). */
  issuer: string;
  subject: string;
  expiresAt: Date;
  now: Date;
}

export interface GatewayCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken: string;
  /** `expiresAt` truncated to whole seconds, as carried in the token. */
  expiration: Date;
}

export interface GatewaySession {
  sessionId: string;
  serviceAccount: string;
  roleArn: string;
  accessKeyId: string;
  /** Re-derived from the gateway secret; what the client signs with. */
  secretAccessKey: string;
  expiresAt: Date;
  /** Whole seconds, as carried in the token. */
  issuedAt: Date;
  issuer: string;
  subject: string;
}

/** Consulted on every verification; the lead wires persistence behind it. */
export interface RevocationList {
  isRevoked(sessionId: string): boolean;
}

interface SessionClaims {
  sid: string;
  sa: string;
  role: string;
  akid: string;
  iss: string;
  sub: string;
  iat: number;
  exp: number;
}

const BASE32_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

function base32(bytes: Buffer): string {
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += BASE32_ALPHABET[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += BASE32_ALPHABET[(value << (5 - bits)) & 31];
  return out;
}

/** 'ASIA' + 16 base32 characters (80 bits), like an STS temporary access key id. */
export function deriveAccessKeyId(secret: Buffer, sessionId: string): string {
  const mac = createHmac('sha256', secret).update(`portcullis-akid:${sessionId}`).digest();
  return 'ASIA' + base32(mac.subarray(0, 10));
}

/** 40 base64 characters, the shape of an AWS secret access key. */
export function deriveSecretAccessKey(secret: Buffer, accessKeyId: string): string {
  return createHmac('sha256', secret).update(accessKeyId).digest('base64').slice(0, 40);
}

export function mintCredentials(keys: GatewayKeys, input: MintCredentialsInput): GatewayCredentials {
  if (input.sessionId.length === 0) throw new TypeError('mintCredentials: sessionId is empty');
  const expSeconds = Math.floor(input.expiresAt.getTime() / 1000);
  const iatSeconds = Math.floor(input.now.getTime() / 1000);
  if (!Number.isFinite(expSeconds) || expSeconds <= iatSeconds) {
    throw new TypeError('mintCredentials: expiresAt must be a valid date after now');
  }
  const accessKeyId = deriveAccessKeyId(keys.secret, input.sessionId);
  const claims: SessionClaims = {
    sid: input.sessionId,
    sa: input.serviceAccount,
    role: input.roleArn,
    akid: accessKeyId,
    iss: input.issuer,
    sub: input.subject,
    iat: iatSeconds,
    exp: expSeconds,
  };
  return {
    accessKeyId,
    secretAccessKey: deriveSecretAccessKey(keys.secret, accessKeyId),
    sessionToken: signCompactJws(keys, { typ: SESSION_TOKEN_TYP }, { ...claims }),
    expiration: new Date(expSeconds * 1000),
  };
}

function invalid(reason: string): GatewayError {
  return new GatewayError('INVALID_CLIENT_TOKEN', INVALID_TOKEN_MESSAGE, { cause: new Error(reason) });
}

function decodeJsonSegment(segment: string): Record<string, unknown> | undefined {
  if (!/^[A-Za-z0-9_-]+$/.test(segment)) return undefined;
  try {
    const value: unknown = JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));
    return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function parseSessionClaims(payload: Record<string, unknown>): SessionClaims | undefined {
  for (const name of ['sid', 'sa', 'role', 'akid', 'iss', 'sub'] as const) {
    if (typeof payload[name] !== 'string' || (payload[name] as string).length === 0) return undefined;
  }
  for (const name of ['iat', 'exp'] as const) {
    if (typeof payload[name] !== 'number' || !Number.isInteger(payload[name])) return undefined;
  }
  return payload as unknown as SessionClaims;
}

/**
 * Check a client's access key id + session token against this gateway's keys. Throws GatewayError:
 * INVALID_CLIENT_TOKEN (missing, malformed, not ours, tampered, akid mismatch, revoked) or
 * EXPIRED_TOKEN. The specific reason is in the error's `cause`, for logs.
 */
export function verifyGatewayCredentials(
  keys: GatewayKeys,
  presented: { accessKeyId: string; sessionToken: string | undefined },
  now: Date,
  revocations?: RevocationList,
): GatewaySession {
  const token = presented.sessionToken;
  if (token === undefined || token.length === 0) throw invalid('no session token was sent (x-amz-security-token)');
  const parts = token.split('.');
  if (parts.length !== 3) throw invalid('session token is not a compact JWS');
  const [encodedHeader, encodedPayload, encodedSignature] = parts as [string, string, string];
  const header = decodeJsonSegment(encodedHeader);
  if (header === undefined) throw invalid('session token header is malformed');
  if (header.typ !== SESSION_TOKEN_TYP) throw invalid('session token is not a portcullis session token');
  if (header.alg !== SIGNING_ALG) throw invalid(`session token algorithm ${String(header.alg)} is not ${SIGNING_ALG}`);
  if (header.kid !== keys.kid) throw invalid(`session token was signed by another gateway key (kid ${String(header.kid)})`);
  const signature = /^[A-Za-z0-9_-]+$/.test(encodedSignature) ? Buffer.from(encodedSignature, 'base64url') : Buffer.alloc(0);
  const signatureOk =
    signature.length === 64 &&
    verify('sha256', Buffer.from(`${encodedHeader}.${encodedPayload}`), { key: keys.publicKey, dsaEncoding: 'ieee-p1363' }, signature);
  if (!signatureOk) throw invalid('session token signature does not verify with the gateway key');
  const payload = decodeJsonSegment(encodedPayload);
  const claims = payload === undefined ? undefined : parseSessionClaims(payload);
  if (claims === undefined) throw invalid('session token claims are malformed');
  if (claims.akid !== presented.accessKeyId) {
    throw invalid(`access key id ${presented.accessKeyId} does not belong to this session token`);
  }
  // Ties the token to the gateway secret too: same signing key but another secret is not ours.
  if (deriveAccessKeyId(keys.secret, claims.sid) !== claims.akid) {
    throw invalid('access key id was not derived from this gateway secret');
  }
  if (revocations?.isRevoked(claims.sid)) throw invalid(`session ${claims.sid} was revoked`);
  if (now.getTime() >= claims.exp * 1000) {
    throw new GatewayError('EXPIRED_TOKEN', EXPIRED_TOKEN_MESSAGE, {
      cause: new Error(`session ${claims.sid} expired at ${new Date(claims.exp * 1000).toISOString()}`),
    });
  }
  return {
    sessionId: claims.sid,
    serviceAccount: claims.sa,
    roleArn: claims.role,
    accessKeyId: claims.akid,
    secretAccessKey: deriveSecretAccessKey(keys.secret, claims.akid),
    expiresAt: new Date(claims.exp * 1000),
    issuedAt: new Date(claims.iat * 1000),
    issuer: claims.iss,
    subject: claims.sub,
  };
}
