// Checks on an IdP token besides its signature, and the refusal reasons the verifier gives: time, audience,
// subject, lifetime and preset rules over the claims; the accepted `typ` values; jose's errors in plain words.
// Pure: the clock comes in as `nowMs`.

import { errors as joseErrors, type JWTPayload, type ProtectedHeaderParameters } from 'jose';
import { formatDurationMs } from '../lib/duration.js';
import type { IssuerConfig } from './config.js';

/** `typ` values an IdP token may carry (absent is fine too): RFC 7519 JWT, RFC 7515 JOSE, RFC 9068 at+jwt. */
const ACCEPTED_TYPS = new Set(['jwt', 'jose', 'at+jwt']);

/** Whether a protected header's `typ` is one an IdP token may carry (`application/` prefix ignored). */
export function isAcceptedTyp(typ: string): boolean {
  return ACCEPTED_TYPS.has(typ.toLowerCase().replace(/^application\//, ''));
}

function isoFromSeconds(seconds: unknown): string {
  // Beyond what a Date can hold (±8.64e12 s) toISOString throws: show the number instead.
  const date = typeof seconds === 'number' && Number.isFinite(seconds) ? new Date(seconds * 1000) : undefined;
  return date && !Number.isNaN(date.getTime()) ? date.toISOString() : String(seconds);
}

function describeAudience(aud: unknown): string {
  if (aud === undefined) return '(none)';
  return Array.isArray(aud) ? aud.map(String).join(', ') : String(aud);
}

/** The verified payload as a claims object; anything but a JSON object is malformed. */
export function parsePayload(bytes: Uint8Array): JWTPayload {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    throw new joseErrors.JWTInvalid('JWT Claims Set must be a JSON object');
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new joseErrors.JWTInvalid('JWT Claims Set must be a JSON object');
  return value as JWTPayload;
}

/**
 * Token-level checks after the signature: time, audience, subject, lifetime and the preset's rules.
 * Pure; `checkTime: false` (explain --claims) skips exp/nbf/iat against the clock.
 */
export function tokenClaimsProblem(issuer: IssuerConfig, claims: JWTPayload, options: { nowMs: number; checkTime: boolean }): string | undefined {
  const skewS = Math.floor(issuer.clockSkewMs / 1000);
  const nowS = Math.floor(options.nowMs / 1000);
  for (const name of ['exp', 'nbf', 'iat'] as const) {
    const value = claims[name];
    if (value !== undefined && (typeof value !== 'number' || !Number.isFinite(value))) return `claim ${name} is invalid: must be a number`;
  }
  if (options.checkTime) {
    if (claims.exp === undefined) return 'token has no exp claim';
    if (claims.exp <= nowS - skewS) return `token expired at ${isoFromSeconds(claims.exp)}`;
    if (claims.nbf !== undefined && claims.nbf > nowS + skewS) return `token is not yet valid (nbf ${isoFromSeconds(claims.nbf)})`;
    if (claims.iat !== undefined && claims.iat > nowS + skewS) return `token is issued in the future (iat ${isoFromSeconds(claims.iat)})`;
  }
  if (claims.sub === undefined || claims.sub === null || claims.sub === '') return 'token has no sub claim';
  const aud = claims.aud;
  if (aud === undefined || (Array.isArray(aud) && aud.length === 0)) return 'token has no aud claim';
  const audiences = Array.isArray(aud) ? aud : [aud];
  if (!audiences.some((a) => typeof a === 'string' && issuer.audience.includes(a))) return `wrong audience ${describeAudience(aud)} for issuer ${issuer.name}`;
  if (issuer.maxTokenLifetimeMs !== undefined && claims.exp !== undefined) {
    const starts = [claims.iat, claims.nbf].filter((v): v is number => typeof v === 'number');
    if (starts.length === 0) {
      return `token has neither iat nor nbf, so its lifetime cannot be checked against max_token_lifetime of issuer ${issuer.name}`;
    }
    const start = Math.min(...starts);
    const lifetimeMs = (claims.exp - start) * 1000;
    if (lifetimeMs > issuer.maxTokenLifetimeMs) {
      const from = start === claims.iat ? 'iat' : 'nbf';
      return `token lifetime ${formatDurationMs(lifetimeMs)} (exp − ${from}) exceeds max_token_lifetime ${formatDurationMs(issuer.maxTokenLifetimeMs)} of issuer ${issuer.name}`;
    }
  }
  const rules = issuer.rules;
  if (rules?.subjectPrefix !== undefined && (typeof claims.sub !== 'string' || !claims.sub.startsWith(rules.subjectPrefix))) {
    return `subject ${String(claims.sub)} is not under ${rules.subjectPrefix} (issuer ${issuer.name})`;
  }
  for (const [name, expected] of Object.entries(rules?.requiredClaims ?? {})) {
    const value = claims[name];
    if (value === undefined) return `token has no ${name} claim (issuer ${issuer.name} requires ${name} ${expected})`;
    if (typeof value !== 'string' || value.toLowerCase() !== expected.toLowerCase()) {
      return `${name} ${String(value)} does not match ${expected} required by issuer ${issuer.name}`;
    }
  }
  return undefined;
}

/** A jose verification error as the reason a token is refused. */
export function describeVerifyFailure(error: unknown, unverified: JWTPayload, issuerName: string, header: ProtectedHeaderParameters): string {
  if (error instanceof joseErrors.JWTExpired) {
    return `token expired at ${isoFromSeconds(unverified.exp)}`;
  }
  if (error instanceof joseErrors.JWTClaimValidationFailed) {
    if (error.reason === 'missing') return `token has no ${error.claim} claim`;
    switch (error.claim) {
      case 'nbf':
        return `token is not yet valid (nbf ${isoFromSeconds(unverified.nbf)})`;
      case 'aud':
        return `wrong audience ${describeAudience(unverified.aud)} for issuer ${issuerName}`;
      case 'iss':
        return `wrong issuer ${String(unverified.iss)} (expected the one configured for ${issuerName})`;
      case 'typ':
        return `token type ${String(header.typ)} is not accepted for issuer ${issuerName}`;
      default:
        return `claim ${error.claim} is invalid: ${error.message}`;
    }
  }
  if (error instanceof joseErrors.JWSSignatureVerificationFailed) return `signature invalid for issuer ${issuerName}`;
  if (error instanceof joseErrors.JOSEAlgNotAllowed) return `algorithm ${String(header.alg)} is not allowed for issuer ${issuerName}`;
  if (error instanceof joseErrors.JWKSNoMatchingKey) {
    return `no signing key of issuer ${issuerName} matches kid ${header.kid === undefined ? '(none)' : String(header.kid)}`;
  }
  if (error instanceof joseErrors.JWKSMultipleMatchingKeys) {
    return `more than one signing key of issuer ${issuerName} matches the token (it names no kid)`;
  }
  if (error instanceof joseErrors.JWKSTimeout) return `timed out fetching the signing keys of issuer ${issuerName}`;
  if (error instanceof joseErrors.JWTInvalid || error instanceof joseErrors.JWSInvalid) {
    return `token is malformed: ${error.message}`;
  }
  if (error instanceof joseErrors.JOSEError) return `token rejected for issuer ${issuerName}: ${error.message}`;
  return `cannot verify token for issuer ${issuerName}: ${(error as Error)?.message ?? String(error)}`;
}
