// Results of a pure function of a string, kept by key on the hot path (parsed URLs and endpoints that arrive on
// every call). Bounded: past `max` entries the memo starts over, with no eviction bookkeeping per lookup.

export class BoundedMemo<V> {
  readonly #entries = new Map<string, V>();

  constructor(
    readonly max: number,
    readonly make: (key: string) => V,
  ) {}

  get(key: string): V {
    let value = this.#entries.get(key);
    if (value === undefined) {
      // make() first: a key it throws for is never kept.
      value = this.make(key);
      if (this.#entries.size >= this.max) this.#entries.clear();
      this.#entries.set(key, value);
    }
    return value;
  }

  clear(): void {
    this.#entries.clear();
  }
}
