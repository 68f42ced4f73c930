// Verifies machines' identity tokens (JWTs from an IdP, or gateway-minted local tokens) and maps
// each to exactly one service account. A refusal is an outcome (`ok: false` with a specific reason),
// not an exception: the caller turns it into InvalidIdentityToken / AccessDenied.
import { randomUUID } from 'node:crypto';
import {
  compactVerify,
  createRemoteJWKSet,
  customFetch,
  decodeJwt,
  decodeProtectedHeader,
  errors as joseErrors,
  jwtVerify,
  type JWTPayload,
  type JWTVerifyGetKey,
  type ProtectedHeaderParameters,
} from 'jose';
import type { IssuerConfig, ServiceAccountConfig } from './config.js';
import { formatDurationMs } from '../lib/duration.js';
import { accountConditions, accountFailures } from './claims.js';
import { signCompactJws, SIGNING_ALG, type GatewayKeys } from './keys.js';
import { acceptedIssuers, unknownIssuerHint } from './presets.js';

export const LOCAL_ISSUER = 'urn:portcullis:local';
export const LOCAL_AUDIENCE = 'portcullis';
/** `typ` of gateway-minted identity tokens; session tokens use another, so neither passes for the other. */
export const LOCAL_TOKEN_TYP = 'JWT';
export const DEFAULT_ALGORITHMS = ['RS256', 'ES256', 'PS256'];
export const DEFAULT_JWKS_COOLDOWN_MS = 30_000;
export const DEFAULT_JWKS_CACHE_MAX_AGE_MS = 600_000;
export const DEFAULT_JWKS_TIMEOUT_MS = 5_000;

export type IdentityResult =
  | { ok: true; account: ServiceAccountConfig; issuer: IssuerConfig | 'local'; claims: JWTPayload }
  | { ok: false; code: 'INVALID_IDENTITY_TOKEN' | 'ACCESS_DENIED'; reason: string };

export interface TokenVerifierOptions {
  issuers: IssuerConfig[];
  serviceAccounts: ServiceAccountConfig[];
  /** Enables the `local` issuer (tokens from mintLocalToken). */
  localKeys?: GatewayKeys;
  now?: () => Date;
  fetch?: typeof fetch;
  /** After a JWKS fetch, an unknown kid does not trigger another fetch for this long. */
  jwksCooldownMs?: number;
  /** A JWKS is refetched when older than this. */
  jwksCacheMaxAgeMs?: number;
  jwksTimeoutMs?: number;
}

// Module-level so a policy reload (which builds a new TokenVerifier) keeps the fetched keys and
// the cool-down state instead of hammering the IdP.
interface JwksEntry {
  getKey: JWTVerifyGetKey;
  fetchImpl: typeof fetch | undefined;
  settings: string;
}
const jwksCache = new Map<string, JwksEntry>();
const discoveryCache = new Map<string, { jwksUri: string; fetchImpl: typeof fetch | undefined }>();

/** Forget every cached JWKS and discovery document (tests, or an operator forcing a refresh). */
export function clearJwksCache(): void {
  jwksCache.clear();
  discoveryCache.clear();
}

function refuse(code: 'INVALID_IDENTITY_TOKEN' | 'ACCESS_DENIED', reason: string): IdentityResult {
  return { ok: false, code, reason };
}

function isForbiddenAlg(alg: string): boolean {
  return alg.toLowerCase() === 'none' || /^HS/i.test(alg);
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

/** ` (candidates: a, b; closest a: <its first failing condition>)`, or a note that no account uses the issuer. */
function describeNearMisses(candidates: readonly { account: ServiceAccountConfig; failures: string[] }[]): string {
  if (candidates.length === 0) return ' (no service account uses this issuer)';
  // Closest: the most conditions satisfied, then the fewest failing; file order breaks ties.
  const passed = (c: { account: ServiceAccountConfig; failures: string[] }): number => accountConditions(c.account).length - c.failures.length;
  let closest = candidates[0]!;
  for (const c of candidates) {
    if (passed(c) > passed(closest) || (passed(c) === passed(closest) && c.failures.length < closest.failures.length)) closest = c;
  }
  const names = candidates.map((c) => c.account.name);
  const shown = names.length > 6 ? `${names.slice(0, 6).join(', ')}, … (${names.length})` : names.join(', ');
  const more = closest.failures.length > 1 ? ` (+${closest.failures.length - 1} more)` : '';
  return ` (candidates: ${shown}; closest ${closest.account.name}: ${closest.failures[0] ?? 'matches'}${more})`;
}

function parsePayload(bytes: Uint8Array): JWTPayload {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    throw new joseErrors.JWTInvalid('JWT Claims Set must be a JSON object');
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new joseErrors.JWTInvalid('JWT Claims Set must be a JSON object');
  return value as JWTPayload;
}

/** A gateway-minted identity token for a service account with `issuer: local` (teams without an IdP). */
export function mintLocalToken(keys: GatewayKeys, input: { serviceAccount: string; ttlMs: number; now: Date }): string {
  if (!(input.ttlMs > 0)) throw new TypeError('mintLocalToken: ttlMs must be positive');
  const iat = Math.floor(input.now.getTime() / 1000);
  return signCompactJws(keys, { typ: LOCAL_TOKEN_TYP }, {
    iss: LOCAL_ISSUER,
    sub: input.serviceAccount,
    aud: LOCAL_AUDIENCE,
    iat,
    nbf: iat,
    exp: iat + Math.max(1, Math.floor(input.ttlMs / 1000)),
    jti: randomUUID(),
  });
}

/** `typ` values an IdP token may carry (absent is fine too): RFC 7519 JWT, RFC 7515 JOSE, RFC 9068 at+jwt. */
const ACCEPTED_TYPS = new Set(['jwt', 'jose', 'at+jwt']);

export type SignatureStatus = 'verified' | 'invalid' | 'unverified' | 'skipped';

/** What `policy explain --token/--claims` shows: every step the gateway takes, and where it stopped. */
export interface TokenExplanation {
  mode: 'token' | 'claims';
  /** Name of the issuer entry that took the token (`local` for gateway-minted), absent when none did. */
  issuer?: string;
  /** `unverified`: the keys could not be fetched (explain only; the gateway would refuse); `skipped`: --claims. */
  signature: SignatureStatus;
  signatureDetail?: string;
  /** Checks not made in this mode, for the reader (e.g. expiry with --claims). */
  notChecked: string[];
  /** Every service account of the issuer with its failing conditions (none: it matches). */
  candidates: { name: string; failures: string[] }[];
  /** The gateway's answer (with an unverifiable signature: the answer if the signature were good). */
  result: IdentityResult;
  claims: JWTPayload;
  header?: ProtectedHeaderParameters;
}

interface Trace {
  issuer?: IssuerConfig | 'local';
  signature: SignatureStatus;
  signatureDetail?: string;
  notChecked: string[];
  candidates: { account: ServiceAccountConfig; failures: string[] }[];
  result: IdentityResult;
  claims: JWTPayload;
  header?: ProtectedHeaderParameters;
}

type Mode = { kind: 'verify' } | { kind: 'explain-token' } | { kind: 'explain-claims' };

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

export class TokenVerifier {
  readonly #issuers: IssuerConfig[];
  readonly #accounts: ServiceAccountConfig[];
  readonly #localKeys: GatewayKeys | undefined;
  readonly #now: () => Date;
  readonly #fetch: typeof fetch | undefined;
  readonly #cooldownMs: number;
  readonly #cacheMaxAgeMs: number;
  readonly #timeoutMs: number;

  constructor(options: TokenVerifierOptions) {
    this.#issuers = options.issuers;
    this.#accounts = options.serviceAccounts;
    this.#localKeys = options.localKeys;
    this.#now = options.now ?? (() => new Date());
    this.#fetch = options.fetch;
    this.#cooldownMs = options.jwksCooldownMs ?? DEFAULT_JWKS_COOLDOWN_MS;
    this.#cacheMaxAgeMs = options.jwksCacheMaxAgeMs ?? DEFAULT_JWKS_CACHE_MAX_AGE_MS;
    this.#timeoutMs = options.jwksTimeoutMs ?? DEFAULT_JWKS_TIMEOUT_MS;
    for (const [name, value] of [
      ['jwksCooldownMs', this.#cooldownMs],
      ['jwksCacheMaxAgeMs', this.#cacheMaxAgeMs],
      ['jwksTimeoutMs', this.#timeoutMs],
    ] as const) {
      if (!Number.isInteger(value) || value < 0) throw new TypeError(`TokenVerifier: ${name} must be a non-negative integer`);
    }
    const seen = new Set<string>();
    for (const issuer of this.#issuers) {
      for (const iss of acceptedIssuers(issuer)) {
        if (seen.has(iss)) throw new TypeError(`TokenVerifier: issuer ${iss} is configured twice`);
        seen.add(iss);
      }
    }
  }

  async verify(token: string, requestedRoleArn?: string): Promise<IdentityResult> {
    return (await this.#examineToken(token, requestedRoleArn, { kind: 'verify' })).result;
  }

  /** Every step for one token, without stopping at an unreachable JWKS (the signature is then `unverified`). */
  async explainToken(token: string, requestedRoleArn?: string): Promise<TokenExplanation> {
    return this.#explanation('token', await this.#examineToken(token, requestedRoleArn, { kind: 'explain-token' }));
  }

  /** Issuer rules and account mapping for a claims object alone: no signature, no clock. */
  explainClaims(claims: JWTPayload, requestedRoleArn?: string): TokenExplanation {
    const trace: Trace = { signature: 'skipped', notChecked: ['signature', 'exp, nbf and iat against the clock'], candidates: [], claims, result: refuse('INVALID_IDENTITY_TOKEN', '') };
    this.#afterSignature(trace, claims, requestedRoleArn, { kind: 'explain-claims' });
    return this.#explanation('claims', trace);
  }

  #explanation(mode: 'token' | 'claims', trace: Trace): TokenExplanation {
    const out: TokenExplanation = {
      mode,
      signature: trace.signature,
      notChecked: trace.notChecked,
      candidates: trace.candidates.map((c) => ({ name: c.account.name, failures: c.failures })),
      result: trace.result,
      claims: trace.claims,
    };
    if (trace.issuer !== undefined) out.issuer = trace.issuer === 'local' ? 'local' : trace.issuer.name;
    if (trace.signatureDetail !== undefined) out.signatureDetail = trace.signatureDetail;
    if (trace.header !== undefined) out.header = trace.header;
    return out;
  }

  async #examineToken(token: string, requestedRoleArn: string | undefined, mode: Mode): Promise<Trace> {
    const trace: Trace = { signature: 'invalid', notChecked: [], candidates: [], claims: {}, result: refuse('INVALID_IDENTITY_TOKEN', '') };
    const stop = (code: 'INVALID_IDENTITY_TOKEN' | 'ACCESS_DENIED', reason: string): Trace => {
      trace.result = refuse(code, reason);
      return trace;
    };
    if (typeof token !== 'string' || token.trim().length === 0) return stop('INVALID_IDENTITY_TOKEN', 'token is empty');
    token = token.trim();
    let header: ProtectedHeaderParameters;
    let unverified: JWTPayload;
    try {
      if (token.split('.').length !== 3) throw new Error('not three segments');
      header = decodeProtectedHeader(token);
      unverified = decodeJwt(token);
    } catch {
      return stop('INVALID_IDENTITY_TOKEN', 'token is not a well-formed JWT (expected header.payload.signature)');
    }
    trace.header = header;
    trace.claims = unverified;
    const alg = typeof header.alg === 'string' ? header.alg : '';
    if (alg === '' || alg.toLowerCase() === 'none') {
      return stop('INVALID_IDENTITY_TOKEN', `algorithm ${alg || '(missing)'} is not allowed: tokens must be signed`);
    }
    // The unverified `iss` (or, for SPIFFE, the subject's trust domain) only chooses whose keys to verify with.
    const iss = unverified.iss;
    if (iss === LOCAL_ISSUER && this.#localKeys !== undefined) {
      trace.issuer = 'local';
      trace.result = await this.#verifyLocal(token, header, requestedRoleArn);
      trace.signature = trace.result.ok || !/signature|algorithm|type/.test(trace.result.reason) ? 'verified' : 'invalid';
      if (trace.result.ok) trace.claims = trace.result.claims;
      trace.candidates = this.#localCandidates(unverified);
      return trace;
    }
    if (iss === LOCAL_ISSUER && mode.kind === 'explain-token') {
      trace.issuer = 'local';
      trace.signature = 'unverified';
      trace.signatureDetail = "a gateway-minted token: explain has no access to the gateway's signing key";
      const matches = this.#accounts.filter((a) => a.issuer === 'local' && a.name === unverified.sub);
      trace.candidates = this.#localCandidates(unverified);
      trace.result = this.#select(matches, 'local', 'local', unverified, requestedRoleArn, trace.candidates);
      return trace;
    }
    const chosen = this.#chooseIssuer(unverified);
    if (typeof chosen === 'string') return stop('INVALID_IDENTITY_TOKEN', chosen);
    const issuer = chosen;
    trace.issuer = issuer;

    if (typeof header.typ === 'string' && !ACCEPTED_TYPS.has(header.typ.toLowerCase().replace(/^application\//, ''))) {
      return stop('INVALID_IDENTITY_TOKEN', `token type ${header.typ} is not accepted for issuer ${issuer.name} (JWT, JOSE, at+jwt or none)`);
    }
    for (const refused of issuer.rules?.refusedHeaders ?? []) {
      if (Object.hasOwn(header, refused.name)) return stop('INVALID_IDENTITY_TOKEN', refused.reason);
    }
    const configured = issuer.algorithms.length > 0 ? issuer.algorithms : DEFAULT_ALGORITHMS;
    // Symmetric algorithms would let anyone holding the (public) JWKS forge tokens: never, whatever the config says.
    const algorithms = configured.filter((candidate) => !isForbiddenAlg(candidate));
    if (!algorithms.includes(alg)) {
      return stop('INVALID_IDENTITY_TOKEN', `algorithm ${alg} is not allowed for issuer ${issuer.name} (allowed: ${algorithms.join(', ')})`);
    }

    let claims: JWTPayload = unverified;
    let getKey: JWTVerifyGetKey | undefined;
    try {
      getKey = await this.#jwksFor(issuer);
    } catch (error) {
      const reason = `cannot fetch the signing keys of issuer ${issuer.name}: ${(error as Error).message}`;
      if (mode.kind === 'verify') return stop('INVALID_IDENTITY_TOKEN', reason);
      trace.signature = 'unverified';
      trace.signatureDetail = reason;
    }
    if (getKey !== undefined) {
      try {
        // Keys come only from the configured JWKS: jku, x5u, x5c and jwk headers are never looked at.
        const { payload } = await compactVerify(token, getKey, { algorithms });
        claims = parsePayload(payload);
        trace.signature = 'verified';
        trace.claims = claims;
      } catch (error) {
        // A JWKS that cannot be fetched or read says nothing about the token itself.
        const keysUnavailable = error instanceof joseErrors.JWKSTimeout || error instanceof joseErrors.JWKSInvalid || !(error instanceof joseErrors.JOSEError);
        const reason = keysUnavailable
          ? `cannot fetch the signing keys of issuer ${issuer.name}: ${(error as Error)?.message ?? String(error)}`
          : this.#describeFailure(error, unverified, issuer.name, header);
        if (mode.kind === 'verify' && keysUnavailable) return stop('INVALID_IDENTITY_TOKEN', reason);
        if (keysUnavailable) {
          trace.signature = 'unverified';
          trace.signatureDetail = reason;
        } else {
          trace.signatureDetail = reason;
          // Explain still shows how the (untrusted) claims would map; the answer stays a refusal.
          if (mode.kind === 'explain-token') this.#afterSignature(trace, unverified, requestedRoleArn, mode);
          return stop('INVALID_IDENTITY_TOKEN', reason);
        }
      }
    }
    this.#afterSignature(trace, claims, requestedRoleArn, mode);
    return trace;
  }

  /** Issuer choice (for --claims), claim checks and account mapping; fills trace.result. */
  #afterSignature(trace: Trace, claims: JWTPayload, requestedRoleArn: string | undefined, mode: Mode): void {
    let issuer = trace.issuer;
    if (issuer === undefined) {
      if (claims.iss === LOCAL_ISSUER) {
        trace.issuer = 'local';
        const matches = this.#accounts.filter((a) => a.issuer === 'local' && a.name === claims.sub);
        trace.candidates = this.#localCandidates(claims);
        trace.result = this.#select(matches, 'local', 'local', claims, requestedRoleArn, trace.candidates);
        return;
      }
      const chosen = this.#chooseIssuer(claims);
      if (typeof chosen === 'string') {
        trace.result = refuse('INVALID_IDENTITY_TOKEN', chosen);
        return;
      }
      issuer = chosen;
      trace.issuer = issuer;
    }
    if (issuer === 'local') return;
    const candidates = this.#accounts.filter((account) => account.issuer === issuer.name);
    trace.candidates = candidates.map((account) => ({ account, failures: accountFailures(account, claims) }));
    const problem = tokenClaimsProblem(issuer, claims, { nowMs: this.#now().getTime(), checkTime: mode.kind !== 'explain-claims' });
    if (problem !== undefined) {
      trace.result = refuse('INVALID_IDENTITY_TOKEN', problem);
      return;
    }
    const matches = trace.candidates.filter((c) => c.failures.length === 0).map((c) => c.account);
    trace.result = this.#select(matches, issuer, issuer.name, claims, requestedRoleArn, trace.candidates);
  }

  /** The issuer entry for these (unverified) claims, or the reason none takes them. */
  #chooseIssuer(claims: JWTPayload): IssuerConfig | string {
    const iss = claims.iss;
    if (iss !== undefined && (typeof iss !== 'string' || iss === '')) return 'token has an invalid iss claim';
    if (iss !== undefined) {
      const byIss = this.#issuers.find((candidate) => acceptedIssuers(candidate).includes(iss));
      if (byIss !== undefined) return byIss;
    }
    // SPIFFE: iss is optional; the subject's trust domain routes the token (to an entry that pins no iss when one is present).
    const sub = typeof claims.sub === 'string' ? claims.sub : '';
    const byTrustDomain = this.#issuers.find(
      (candidate) =>
        candidate.rules?.issOptional === true &&
        candidate.rules.subjectPrefix !== undefined &&
        sub.startsWith(candidate.rules.subjectPrefix) &&
        (iss === undefined || acceptedIssuers(candidate).length === 0),
    );
    if (byTrustDomain !== undefined) return byTrustDomain;
    if (iss === undefined) {
      const spiffe = this.#issuers.some((candidate) => candidate.rules?.issOptional === true);
      return spiffe ? `token has no iss claim, and its subject ${sub || '(none)'} is in no configured SPIFFE trust domain` : 'token has no iss claim';
    }
    return unknownIssuerHint(this.#issuers, iss) ?? `unknown issuer ${iss}`;
  }

  async #verifyLocal(token: string, header: ProtectedHeaderParameters, requestedRoleArn: string | undefined): Promise<IdentityResult> {
    const keys = this.#localKeys as GatewayKeys;
    const alg = String(header.alg);
    if (alg !== SIGNING_ALG) {
      return refuse('INVALID_IDENTITY_TOKEN', `algorithm ${alg} is not allowed for issuer local (allowed: ${SIGNING_ALG})`);
    }
    let claims: JWTPayload;
    try {
      ({ payload: claims } = await jwtVerify(token, keys.publicKey, {
        issuer: LOCAL_ISSUER,
        audience: LOCAL_AUDIENCE,
        algorithms: [SIGNING_ALG],
        typ: LOCAL_TOKEN_TYP,
        currentDate: this.#now(),
        requiredClaims: ['exp', 'sub'],
      }));
    } catch (error) {
      let unverified: JWTPayload = {};
      try {
        unverified = decodeJwt(token);
      } catch {
        // already decoded once; keep the empty fallback
      }
      return refuse('INVALID_IDENTITY_TOKEN', this.#describeFailure(error, unverified, 'local', header));
    }
    const matches = this.#accounts.filter(
      (account) =>
        account.issuer === 'local' &&
        account.name === claims.sub &&
        // A local account's subject may be left out (compiled to '') or repeat its name.
        (!account.subject || account.subject === account.name),
    );
    return this.#select(matches, 'local', 'local', claims, requestedRoleArn, this.#localCandidates(claims));
  }

  #localCandidates(claims: JWTPayload): { account: ServiceAccountConfig; failures: string[] }[] {
    return this.#accounts
      .filter((a) => a.issuer === 'local')
      .map((account) => ({ account, failures: account.name === claims.sub ? [] : [`token subject ${String(claims.sub)} is not this account's name`] }));
  }

  #select(
    matches: ServiceAccountConfig[],
    issuer: IssuerConfig | 'local',
    issuerName: string,
    claims: JWTPayload,
    requestedRoleArn: string | undefined,
    candidates: { account: ServiceAccountConfig; failures: string[] }[] = [],
  ): IdentityResult {
    if (matches.length === 0) {
      const why = issuer === 'local' ? '' : describeNearMisses(candidates);
      return refuse('ACCESS_DENIED', `no service account matches issuer ${issuerName} subject ${String(claims.sub)}${why}`);
    }
    if (matches.length > 1) {
      return refuse(
        'ACCESS_DENIED',
        `token matches more than one service account (${matches.map((m) => m.name).join(', ')}); make their subject or claims distinct`,
      );
    }
    const account = matches[0] as ServiceAccountConfig;
    if (requestedRoleArn !== undefined && !account.roles.includes(requestedRoleArn)) {
      return refuse('ACCESS_DENIED', `role ${requestedRoleArn} is not allowed for service account ${account.name}`);
    }
    return { ok: true, account, issuer, claims };
  }

  #describeFailure(error: unknown, unverified: JWTPayload, issuerName: string, header: ProtectedHeaderParameters): string {
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

  async #jwksFor(issuer: IssuerConfig): Promise<JWTVerifyGetKey> {
    const jwksUri = issuer.jwksUri ?? (await this.#discoverJwksUri(issuer));
    const settings = `${this.#cooldownMs}/${this.#cacheMaxAgeMs}/${this.#timeoutMs}`;
    const cached = jwksCache.get(jwksUri);
    if (cached !== undefined && cached.fetchImpl === this.#fetch && cached.settings === settings) return cached.getKey;
    let url: URL;
    try {
      url = new URL(jwksUri);
    } catch {
      throw new Error(`jwks_uri ${jwksUri} is not a URL`);
    }
    const getKey = createRemoteJWKSet(url, {
      cooldownDuration: this.#cooldownMs,
      cacheMaxAge: this.#cacheMaxAgeMs,
      timeoutDuration: this.#timeoutMs,
      ...(this.#fetch === undefined ? {} : { [customFetch]: this.#fetch }),
    });
    jwksCache.set(jwksUri, { getKey, fetchImpl: this.#fetch, settings });
    return getKey;
  }

  async #discoverJwksUri(issuer: IssuerConfig): Promise<string> {
    const cached = discoveryCache.get(issuer.issuer);
    if (cached !== undefined && cached.fetchImpl === this.#fetch) return cached.jwksUri;
    const url = `${issuer.issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`;
    const doFetch = this.#fetch ?? fetch;
    const response = await doFetch(url, { redirect: 'manual', signal: AbortSignal.timeout(this.#timeoutMs) });
    if (response.status !== 200) throw new Error(`${url} answered HTTP ${response.status}`);
    let document: unknown;
    try {
      document = await response.json();
    } catch {
      throw new Error(`${url} is not JSON`);
    }
    const { issuer: advertised, jwks_uri: jwksUri } = (document ?? {}) as { issuer?: unknown; jwks_uri?: unknown };
    // OpenID Connect Discovery §4.3: the document must name the issuer it was fetched for.
    if (advertised !== issuer.issuer) throw new Error(`${url} names issuer ${String(advertised)}, not ${issuer.issuer}`);
    if (typeof jwksUri !== 'string' || jwksUri.length === 0) throw new Error(`${url} has no jwks_uri`);
    discoveryCache.set(issuer.issuer, { jwksUri, fetchImpl: this.#fetch });
    return jwksUri;
  }
}
