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
  readonly #cache = new Map<string, GatewaySession>();

  constructor(options: { keys: GatewayKeys; now: Clock; maxEntries?: number }) {
    this.#keys = options.keys;
    this.#now = options.now;
    this.#maxEntries = options.maxEntries ?? DEFAULT_MAX_ENTRIES;
  }

  /** Throws GatewayError (INVALID_CLIENT_TOKEN, EXPIRED_TOKEN) like verifyGatewayCredentials. */
  verify(accessKeyId: string, sessionToken: string | undefined): GatewaySession {
    const now = this.#now();
    const key = sessionToken === undefined ? undefined : `${accessKeyId}.${sessionToken}`;
    const cached = key === undefined ? undefined : this.#cache.get(key);
    if (cached && cached.expiresAt.getTime() > now.getTime()) return cached;
    const session = verifyGatewayCredentials(this.#keys, { accessKeyId, sessionToken }, now);
    if (key !== undefined) {
      if (this.#cache.size >= this.#maxEntries) this.#cache.delete(this.#cache.keys().next().value!);
      this.#cache.set(key, session);
    }
    return session;
  }
}
