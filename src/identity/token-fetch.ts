// Fetches an identity token from an IdP with the OAuth 2.0 client-credentials grant (token endpoint
// from the issuer's OpenID discovery document), writes it atomically (mode 0600), and — for machines
// without a platform that rotates tokens for them — keeps it fresh: rewritten at 80 % of its lifetime,
// exponential backoff with full jitter while the IdP fails. Clock, timers and randomness are injectable.

export interface ClientCredentialsRequest {
  /** The issuer URL (`iss`); discovery is `{issuer}/.well-known/openid-configuration`. */
  issuer: string;
  clientId: string;
  clientSecret: string;
  /** Sent as both `resource` (RFC 8707) and `audience` (Auth0, Okta custom servers); omitted when undefined. */
  audience?: string;
  scope?: string;
  fetch?: typeof fetch;
  timeoutMs?: number;
}

export interface FetchedToken {
  accessToken: string;
  expiresAt: Date;
  /** expiresAt − the time it was fetched. */
  lifetimeMs: number;
}

export class TokenFetchError extends Error {
  /** False when retrying cannot help (bad client secret, wrong issuer…). */
  readonly retryable: boolean;
  constructor(message: string, retryable: boolean) {
    super(message);
    this.name = 'TokenFetchError';
    this.retryable = retryable;
  }
}

const DEFAULT_TIMEOUT_MS = 10_000;

async function getJson(doFetch: typeof fetch, url: string, init: RequestInit, what: string, timeoutMs: number): Promise<{ status: number; json: unknown }> {
  let response: Response;
  try {
    response = await doFetch(url, { ...init, redirect: 'manual', signal: AbortSignal.timeout(timeoutMs) });
  } catch (error) {
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    throw new TokenFetchError(`${what} ${url} unreachable: ${cause?.code ?? cause?.message ?? (error as Error).message}`, true);
  }
  const text = await response.text();
  try {
    return { status: response.status, json: JSON.parse(text) as unknown };
  } catch {
    throw new TokenFetchError(`${what} ${url} answered HTTP ${response.status} with a body that is not JSON`, response.status >= 500 || response.status === 429);
  }
}

/** The token endpoint from the issuer's discovery document (which must name that issuer). */
export async function discoverTokenEndpoint(issuer: string, doFetch: typeof fetch = fetch, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<string> {
  const url = `${issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`;
  const { status, json } = await getJson(doFetch, url, { method: 'GET' }, 'discovery', timeoutMs);
  if (status !== 200) throw new TokenFetchError(`discovery ${url} answered HTTP ${status}`, status >= 500 || status === 429);
  const doc = (json ?? {}) as { issuer?: unknown; token_endpoint?: unknown };
  if (doc.issuer !== issuer) throw new TokenFetchError(`discovery ${url} names issuer ${String(doc.issuer)}, not ${issuer}`, false);
  if (typeof doc.token_endpoint !== 'string' || !/^https?:\/\//.test(doc.token_endpoint)) {
    throw new TokenFetchError(`discovery ${url} has no usable token_endpoint`, false);
  }
  return doc.token_endpoint;
}

function jwtExpiry(token: string): Date | undefined {
  const payload = token.split('.')[1];
  if (payload === undefined) return undefined;
  try {
    const exp = (JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { exp?: unknown }).exp;
    return typeof exp === 'number' && Number.isFinite(exp) ? new Date(exp * 1000) : undefined;
  } catch {
    return undefined;
  }
}

/** One client-credentials grant. Expiry from `expires_in`, else the JWT's `exp`. */
export async function fetchClientCredentialsToken(request: ClientCredentialsRequest, now: Date = new Date()): Promise<FetchedToken> {
  const doFetch = request.fetch ?? fetch;
  const timeoutMs = request.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const endpoint = await discoverTokenEndpoint(request.issuer, doFetch, timeoutMs);
  const form = new URLSearchParams({ grant_type: 'client_credentials', client_id: request.clientId, client_secret: request.clientSecret });
  if (request.audience !== undefined) {
    form.set('resource', request.audience);
    form.set('audience', request.audience);
  }
  if (request.scope !== undefined) form.set('scope', request.scope);
  const { status, json } = await getJson(
    doFetch,
    endpoint,
    { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' }, body: form },
    'token endpoint',
    timeoutMs,
  );
  const body = (json ?? {}) as { access_token?: unknown; expires_in?: unknown; error?: unknown; error_description?: unknown };
  if (status !== 200 || typeof body.access_token !== 'string' || body.access_token.length === 0) {
    const detail = typeof body.error === 'string' ? `${body.error}${typeof body.error_description === 'string' ? `: ${body.error_description}` : ''}` : 'no access_token';
    throw new TokenFetchError(`token endpoint ${endpoint} refused client ${request.clientId} (HTTP ${status}): ${detail}`, status >= 500 || status === 429);
  }
  const fromExpiresIn = typeof body.expires_in === 'number' && body.expires_in > 0 ? new Date(now.getTime() + body.expires_in * 1000) : undefined;
  const expiresAt = fromExpiresIn ?? jwtExpiry(body.access_token);
  if (expiresAt === undefined) throw new TokenFetchError(`token endpoint ${endpoint} gave no expires_in and the token has no exp claim`, false);
  return { accessToken: body.access_token, expiresAt, lifetimeMs: Math.max(0, expiresAt.getTime() - now.getTime()) };
}

/** When to refresh: at `fraction` of the lifetime, never sooner than `minMs`. */
export function refreshDelayMs(token: FetchedToken, fraction = 0.8, minMs = 1_000): number {
  return Math.max(minMs, Math.floor(token.lifetimeMs * fraction));
}

/** Exponential backoff with full jitter: uniform in [0, min(maxMs, baseMs·2^attempt)], at least 100 ms. */
export function backoffDelayMs(attempt: number, random: () => number, baseMs = 1_000, maxMs = 60_000): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt));
  return Math.max(100, Math.floor(ceiling * random()));
}

export interface Timers {
  now(): Date;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const realTimers: Timers = {
  now: () => new Date(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

export interface TokenRefresherOptions {
  fetchToken: (now: Date) => Promise<FetchedToken>;
  /** Persists a fetched token (the CLI: writeFileAtomic to --out). */
  write: (token: FetchedToken) => Promise<void>;
  /** One line per refresh or failure. */
  log: (line: string) => void;
  timers?: Timers;
  random?: () => number;
  refreshFraction?: number;
  backoffBaseMs?: number;
  backoffMaxMs?: number;
}

/** Keeps a token file fresh until stop(). */
export class TokenRefresher {
  readonly #o: TokenRefresherOptions;
  readonly #timers: Timers;
  readonly #random: () => number;
  #handle: unknown;
  #stopped = false;
  #failures = 0;
  #resolveDone!: () => void;
  /** Settles after stop(). */
  readonly done: Promise<void>;
  refreshes = 0;

  constructor(options: TokenRefresherOptions) {
    this.#o = options;
    this.#timers = options.timers ?? realTimers;
    this.#random = options.random ?? Math.random;
    this.done = new Promise((resolve) => {
      this.#resolveDone = resolve;
    });
  }

  /** The first fetch and write; a failure here is thrown (the caller reports it and exits). */
  async start(): Promise<FetchedToken> {
    const token = await this.#once();
    this.#schedule(refreshDelayMs(token, this.#o.refreshFraction));
    return token;
  }

  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    if (this.#handle !== undefined) this.#timers.clearTimeout(this.#handle);
    this.#handle = undefined;
    this.#resolveDone();
  }

  async #once(): Promise<FetchedToken> {
    const token = await this.#o.fetchToken(this.#timers.now());
    await this.#o.write(token);
    this.refreshes += 1;
    return token;
  }

  #schedule(delayMs: number): void {
    if (this.#stopped) return;
    this.#handle = this.#timers.setTimeout(() => {
      this.#handle = undefined;
      void this.#tick();
    }, delayMs);
  }

  async #tick(): Promise<void> {
    if (this.#stopped) return;
    try {
      const token = await this.#once();
      if (this.#stopped) return;
      this.#failures = 0;
      const delay = refreshDelayMs(token, this.#o.refreshFraction);
      this.#o.log(`token refreshed; expires ${token.expiresAt.toISOString()}, next refresh in ${formatMs(delay)}`);
      this.#schedule(delay);
    } catch (error) {
      if (this.#stopped) return;
      const delay = backoffDelayMs(this.#failures, this.#random, this.#o.backoffBaseMs, this.#o.backoffMaxMs);
      this.#failures += 1;
      this.#o.log(`token refresh failed (attempt ${this.#failures}): ${(error as Error).message}; retrying in ${formatMs(delay)}`);
      this.#schedule(delay);
    }
  }
}

export function formatMs(ms: number): string {
  if (ms < 1_000) return `${ms}ms`;
  if (ms < 120_000) return `${(ms / 1000).toFixed(1)}s`;
  if (ms < 7_200_000) return `${Math.round(ms / 60_000)}m`;
  return `${(ms / 3_600_000).toFixed(1)}h`;
}
