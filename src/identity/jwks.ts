// The signing keys of IdP issuers: which algorithms an issuer's tokens may use, where its JWKS is (configured, or
// found through OpenID discovery), and the cache that keeps fetched keys across policy reloads.

import { createRemoteJWKSet, customFetch, type JWTVerifyGetKey } from 'jose';
import type { IssuerConfig } from './config.js';

export const DEFAULT_ALGORITHMS = ['RS256', 'ES256', 'PS256'];
export const DEFAULT_JWKS_COOLDOWN_MS = 30_000;
export const DEFAULT_JWKS_CACHE_MAX_AGE_MS = 600_000;
export const DEFAULT_JWKS_TIMEOUT_MS = 5_000;

/** How JWKS are fetched: the fetch implementation, cool-down, cache age and timeout (ms). */
export interface JwksSettings {
  fetch: typeof fetch | undefined;
  cooldownMs: number;
  cacheMaxAgeMs: number;
  timeoutMs: number;
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

function isForbiddenAlg(alg: string): boolean {
  return alg.toLowerCase() === 'none' || /^HS/i.test(alg);
}

/** The issuer's configured algorithms (default RS256, ES256, PS256), less any `none` or HS*, whatever the config says. */
export function allowedAlgorithms(issuer: IssuerConfig): string[] {
  const configured = issuer.algorithms.length > 0 ? issuer.algorithms : DEFAULT_ALGORITHMS;
  // Symmetric algorithms would let anyone holding the (public) JWKS forge tokens.
  return configured.filter((candidate) => !isForbiddenAlg(candidate));
}

/** The key resolver for an issuer's JWKS, shared with earlier verifiers that fetched it with the same settings. */
export async function jwksFor(issuer: IssuerConfig, settings: JwksSettings): Promise<JWTVerifyGetKey> {
  const jwksUri = issuer.jwksUri ?? (await discoverJwksUri(issuer, settings));
  const key = `${settings.cooldownMs}/${settings.cacheMaxAgeMs}/${settings.timeoutMs}`;
  const cached = jwksCache.get(jwksUri);
  if (cached !== undefined && cached.fetchImpl === settings.fetch && cached.settings === key) return cached.getKey;
  let url: URL;
  try {
    url = new URL(jwksUri);
  } catch {
    throw new Error(`jwks_uri ${jwksUri} is not a URL`);
  }
  const getKey = createRemoteJWKSet(url, {
    cooldownDuration: settings.cooldownMs,
    cacheMaxAge: settings.cacheMaxAgeMs,
    timeoutDuration: settings.timeoutMs,
    ...(settings.fetch === undefined ? {} : { [customFetch]: settings.fetch }),
  });
  jwksCache.set(jwksUri, { getKey, fetchImpl: settings.fetch, settings: key });
  return getKey;
}

async function discoverJwksUri(issuer: IssuerConfig, settings: JwksSettings): Promise<string> {
  const cached = discoveryCache.get(issuer.issuer);
  if (cached !== undefined && cached.fetchImpl === settings.fetch) return cached.jwksUri;
  const url = `${issuer.issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`;
  const doFetch = settings.fetch ?? fetch;
  const response = await doFetch(url, { redirect: 'manual', signal: AbortSignal.timeout(settings.timeoutMs) });
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
  discoveryCache.set(issuer.issuer, { jwksUri, fetchImpl: settings.fetch });
  return jwksUri;
}
