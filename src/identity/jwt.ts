// Verifies machines' identity tokens (JWTs from an IdP, or gateway-minted local tokens) and maps
// each to exactly one service account. A refusal is an outcome (`ok: false` with a specific reason),
// not an exception: the caller turns it into InvalidIdentityToken / AccessDenied.

import {
  compactVerify,
  decodeJwt,
  decodeProtectedHeader,
  errors as joseErrors,
  jwtVerify,
  type JWTPayload,
  type JWTVerifyGetKey,
  type ProtectedHeaderParameters,
} from 'jose';
import { accountConditions, accountFailures } from './claims.js';
import type { IssuerConfig, ServiceAccountConfig } from './config.js';
import { allowedAlgorithms, DEFAULT_JWKS_CACHE_MAX_AGE_MS, DEFAULT_JWKS_COOLDOWN_MS, DEFAULT_JWKS_TIMEOUT_MS, jwksFor, type JwksSettings } from './jwks.js';
import { SIGNING_ALG, type GatewayKeys } from './keys.js';
import { LOCAL_AUDIENCE, LOCAL_ISSUER, LOCAL_TOKEN_TYP } from './local-token.js';
import { acceptedIssuers, unknownIssuerHint } from './presets.js';
import { describeVerifyFailure, isAcceptedTyp, parsePayload, tokenClaimsProblem } from './token-checks.js';

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

function refuse(code: 'INVALID_IDENTITY_TOKEN' | 'ACCESS_DENIED', reason: string): IdentityResult {
  return { ok: false, code, reason };
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

export class TokenVerifier {
  readonly #issuers: IssuerConfig[];
  readonly #accounts: ServiceAccountConfig[];
  readonly #localKeys: GatewayKeys | undefined;
  readonly #now: () => Date;
  readonly #jwks: JwksSettings;

  constructor(options: TokenVerifierOptions) {
    this.#issuers = options.issuers;
    this.#accounts = options.serviceAccounts;
    this.#localKeys = options.localKeys;
    this.#now = options.now ?? (() => new Date());
    this.#jwks = {
      fetch: options.fetch,
      cooldownMs: options.jwksCooldownMs ?? DEFAULT_JWKS_COOLDOWN_MS,
      cacheMaxAgeMs: options.jwksCacheMaxAgeMs ?? DEFAULT_JWKS_CACHE_MAX_AGE_MS,
      timeoutMs: options.jwksTimeoutMs ?? DEFAULT_JWKS_TIMEOUT_MS,
    };
    for (const [name, value] of [
      ['jwksCooldownMs', this.#jwks.cooldownMs],
      ['jwksCacheMaxAgeMs', this.#jwks.cacheMaxAgeMs],
      ['jwksTimeoutMs', this.#jwks.timeoutMs],
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

    if (typeof header.typ === 'string' && !isAcceptedTyp(header.typ)) {
      return stop('INVALID_IDENTITY_TOKEN', `token type ${header.typ} is not accepted for issuer ${issuer.name} (JWT, JOSE, at+jwt or none)`);
    }
    for (const refused of issuer.rules?.refusedHeaders ?? []) {
      if (Object.hasOwn(header, refused.name)) return stop('INVALID_IDENTITY_TOKEN', refused.reason);
    }
    const algorithms = allowedAlgorithms(issuer);
    if (!algorithms.includes(alg)) {
      return stop('INVALID_IDENTITY_TOKEN', `algorithm ${alg} is not allowed for issuer ${issuer.name} (allowed: ${algorithms.join(', ')})`);
    }

    let claims: JWTPayload = unverified;
    let getKey: JWTVerifyGetKey | undefined;
    try {
      getKey = await jwksFor(issuer, this.#jwks);
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
          : describeVerifyFailure(error, unverified, issuer.name, header);
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
      return refuse('INVALID_IDENTITY_TOKEN', describeVerifyFailure(error, unverified, 'local', header));
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
}
