// verifyGatewayCredentials, memoised on the exact (key id, token) pair: the token is immutable and signed, so only
// its expiry has to be checked again (revocation is checked by the caller on every call). The ES256 check then runs
// once per credential rather than once per call.

import type { Clock } from '../lib/clock.js';
import { verifyGatewayCredentials, type GatewaySession } from './credentials.js';
import type { GatewayKeys } from './keys.js';

const DEFAULT_MAX_ENTRIES = 10_000;

export class VerifiedSessions {
  readonly #keys: GatewayKeys;
  readonly #now: Clock;
  readonly #maxEntries: number;
  /** Keyed by access key id; the entry keeps the token it was verified with, which must be the one presented. */
  readonly #cache = new Map<string, { token: string; session: GatewaySession }>();

  constructor(options: { keys: GatewayKeys; now: Clock; maxEntries?: number }) {
    this.#keys = options.keys;
    this.#now = options.now;
    this.#maxEntries = options.maxEntries ?? DEFAULT_MAX_ENTRIES;
  }

  /** Throws GatewayError (INVALID_CLIENT_TOKEN, EXPIRED_TOKEN) like verifyGatewayCredentials. */
  verify(accessKeyId: string, sessionToken: string | undefined): GatewaySession {
    const now = this.#now();
    // No string built from the (long) token per call: the key id finds the entry, the token must be identical.
    const cached = sessionToken === undefined ? undefined : this.#cache.get(accessKeyId);
    if (cached && cached.token === sessionToken && cached.session.expiresAt.getTime() > now.getTime()) return cached.session;
    const session = verifyGatewayCredentials(this.#keys, { accessKeyId, sessionToken }, now);
    if (sessionToken !== undefined) {
      if (!this.#cache.has(accessKeyId) && this.#cache.size >= this.#maxEntries) this.#cache.delete(this.#cache.keys().next().value!);
      this.#cache.set(accessKeyId, { token: sessionToken, session });
    }
    return session;
  }
}
