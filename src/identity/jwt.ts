// Verifies machines' identity tokens (JWTs from an IdP, or gateway-minted local tokens) and maps
// each to exactly one service account. A refusal is an outcome (`ok: false` with a specific reason),
// not an exception: the caller turns it into InvalidIdentityToken / AccessDenied.
import { randomUUID } from 'node:crypto';
import {
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
import type { IssuerConfig, ServiceAccountConfig } from '../config/types.js';
import { signCompactJws, SIGNING_ALG, type GatewayKeys } from './keys.js';

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
  return typeof seconds === 'number' && Number.isFinite(seconds) ? new Date(seconds * 1000).toISOString() : String(seconds);
}

function describeAudience(aud: unknown): string {
  if (aud === undefined) return '(none)';
  return Array.isArray(aud) ? aud.map(String).join(', ') : String(aud);
}

function claimMatches(value: unknown, expected: string): boolean {
  return (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') && String(value) === expected;
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
      if (seen.has(issuer.issuer)) throw new TypeError(`TokenVerifier: issuer ${issuer.issuer} is configured twice`);
      seen.add(issuer.issuer);
    }
  }

  async verify(token: string, requestedRoleArn?: string): Promise<IdentityResult> {
    if (typeof token !== 'string' || token.trim().length === 0) return refuse('INVALID_IDENTITY_TOKEN', 'token is empty');
    token = token.trim();
    let header: ProtectedHeaderParameters;
    let unverified: JWTPayload;
    try {
      if (token.split('.').length !== 3) throw new Error('not three segments');
      header = decodeProtectedHeader(token);
      unverified = decodeJwt(token);
    } catch {
      return refuse('INVALID_IDENTITY_TOKEN', 'token is not a well-formed JWT (expected header.payload.signature)');
    }
    const alg = typeof header.alg === 'string' ? header.alg : '';
    if (alg === '' || alg.toLowerCase() === 'none') {
      return refuse('INVALID_IDENTITY_TOKEN', `algorithm ${alg || '(missing)'} is not allowed: tokens must be signed`);
    }
    // The unverified `iss` only chooses which issuer's keys to verify with; jwtVerify checks it again.
    const iss = unverified.iss;
    if (typeof iss !== 'string' || iss.length === 0) return refuse('INVALID_IDENTITY_TOKEN', 'token has no iss claim');

    if (iss === LOCAL_ISSUER && this.#localKeys !== undefined) {
      return this.#verifyLocal(token, header, requestedRoleArn);
    }
    const issuer = this.#issuers.find((candidate) => candidate.issuer === iss);
    if (issuer === undefined) return refuse('INVALID_IDENTITY_TOKEN', `unknown issuer ${iss}`);

    const configured = issuer.algorithms.length > 0 ? issuer.algorithms : DEFAULT_ALGORITHMS;
    // Symmetric algorithms would let anyone holding the (public) JWKS forge tokens: never, whatever the config says.
    const algorithms = configured.filter((candidate) => !isForbiddenAlg(candidate));
    if (!algorithms.includes(alg)) {
      return refuse('INVALID_IDENTITY_TOKEN', `algorithm ${alg} is not allowed for issuer ${issuer.name} (allowed: ${algorithms.join(', ')})`);
    }

    let getKey: JWTVerifyGetKey;
    try {
      getKey = await this.#jwksFor(issuer);
    } catch (error) {
      return refuse('INVALID_IDENTITY_TOKEN', `cannot fetch the signing keys of issuer ${issuer.name}: ${(error as Error).message}`);
    }

    let claims: JWTPayload;
    try {
      // jose never follows jku/x5u/x5c headers: keys come only from the configured JWKS.
      ({ payload: claims } = await jwtVerify(token, getKey, {
        issuer: issuer.issuer,
        audience: issuer.audience,
        algorithms,
        clockTolerance: Math.floor(issuer.clockSkewMs / 1000),
        currentDate: this.#now(),
        requiredClaims: ['exp', 'sub'],
      }));
    } catch (error) {
      return refuse('INVALID_IDENTITY_TOKEN', this.#describeFailure(error, unverified, issuer.name, header));
    }
    const matches = this.#accounts.filter(
      (account) =>
        account.issuer === issuer.name &&
        account.subject === claims.sub &&
        Object.entries(account.claims).every(([name, expected]) => claimMatches(claims[name], expected)),
    );
    return this.#select(matches, issuer, issuer.name, claims, requestedRoleArn);
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
    return this.#select(matches, 'local', 'local', claims, requestedRoleArn);
  }

  #select(
    matches: ServiceAccountConfig[],
    issuer: IssuerConfig | 'local',
    issuerName: string,
    claims: JWTPayload,
    requestedRoleArn: string | undefined,
  ): IdentityResult {
    if (matches.length === 0) {
      return refuse('ACCESS_DENIED', `no service account matches issuer ${issuerName} subject ${String(claims.sub)}`);
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
