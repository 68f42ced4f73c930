// Deriving a SigV4 signing key costs four HMACs; the final signature costs one more (plus a SHA-256 of the
// canonical request). A key is valid for one (secret, day, region, service), and a gateway sees the same few
// combinations all day, so a small LRU cache saves four of the five HMACs per request (scripts/bench/sigv4.mjs).

import { deriveSigningKey } from './canonical.js';

export interface SigningKeyCacheOptions {
  /** Most entries kept; the least recently used goes first. Default 1,000. */
  maxEntries?: number;
}

export class SigningKeyCache {
  readonly maxEntries: number;
  // Map iteration order is insertion order: re-inserting on a hit makes the first key the least recently used.
  private readonly entries = new Map<string, Buffer>();
  hits = 0;
  misses = 0;

  constructor(options: SigningKeyCacheOptions = {}) {
    const maxEntries = options.maxEntries ?? 1000;
    if (!Number.isInteger(maxEntries) || maxEntries < 0) {
      throw new RangeError(`SigningKeyCache: maxEntries must be a non-negative integer, got ${maxEntries}`);
    }
    this.maxEntries = maxEntries;
  }

  get size(): number {
    return this.entries.size;
  }

  get(secretAccessKey: string, scopeDate: string, region: string, service: string): Buffer {
    // '\n' cannot occur in a scope date, region or service, so the key is unambiguous.
    const cacheKey = `${scopeDate}\n${region}\n${service}\n${secretAccessKey}`;
    const found = this.entries.get(cacheKey);
    if (found !== undefined) {
      this.hits += 1;
      this.entries.delete(cacheKey);
      this.entries.set(cacheKey, found);
      return found;
    }
    this.misses += 1;
    const key = deriveSigningKey(secretAccessKey, scopeDate, region, service);
    if (this.maxEntries === 0) return key;
    if (this.entries.size >= this.maxEntries) {
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
    this.entries.set(cacheKey, key);
    return key;
  }

  clear(): void {
    this.entries.clear();
  }
}

/** The process-wide cache used when a caller does not pass its own. */
export const defaultSigningKeyCache = new SigningKeyCache();
