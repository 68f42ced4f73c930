// A bounded, best-effort outbox for observers that ship data elsewhere (telemetry sinks, the witness): push() never
// waits and never throws; a full queue drops the newest item and counts it; sending is batched and retried with
// backoff; a batch that still fails is dropped and counted. The data path never waits for a sink.

export interface BoundedQueueOptions<T> {
  /** Sends one batch; rejects to have it retried. */
  send: (batch: T[]) => Promise<void>;
  /** Items held before new ones are dropped (default 10 000). */
  maxItems?: number;
  /** Items per send (default 100). */
  maxBatch?: number;
  /** Delay before a batch is sent, to gather more items (default 200 ms). */
  flushMs?: number;
  /** Further attempts after a failed send (default 3), waiting retryBaseMs, then twice that, and so on. */
  retries?: number;
  retryBaseMs?: number;
  /** Told when a batch is dropped or the queue overflows (first time, then every 1000th drop). */
  onError?: (error: Error) => void;
  setTimer?: (callback: () => void, delayMs: number) => unknown;
  clearTimer?: (handle: unknown) => void;
}

export class BoundedQueue<T> {
  readonly #send: (batch: T[]) => Promise<void>;
  readonly #maxItems: number;
  readonly #maxBatch: number;
  readonly #flushMs: number;
  readonly #retries: number;
  readonly #retryBaseMs: number;
  readonly #onError: (error: Error) => void;
  readonly #setTimer: (callback: () => void, delayMs: number) => unknown;
  readonly #clearTimer: (handle: unknown) => void;
  #items: T[] = [];
  #timer: unknown;
  #draining: Promise<void> | undefined;
  #dropped = 0;
  #sent = 0;
  #closed = false;

  constructor(options: BoundedQueueOptions<T>) {
    this.#send = options.send;
    this.#maxItems = options.maxItems ?? 10_000;
    this.#maxBatch = options.maxBatch ?? 100;
    this.#flushMs = options.flushMs ?? 200;
    this.#retries = options.retries ?? 3;
    this.#retryBaseMs = options.retryBaseMs ?? 500;
    this.#onError = options.onError ?? (() => undefined);
    this.#setTimer = options.setTimer ?? ((callback, delayMs) => setTimeout(callback, delayMs).unref());
    this.#clearTimer = options.clearTimer ?? ((handle) => clearTimeout(handle as NodeJS.Timeout));
    for (const [name, value] of Object.entries({ maxItems: this.#maxItems, maxBatch: this.#maxBatch })) {
      if (!Number.isSafeInteger(value) || value < 1) throw new Error(`${name} must be a positive whole number (got ${value})`);
    }
  }

  /** Items dropped so far (queue full, or a batch that failed every attempt). */
  dropped(): number {
    return this.#dropped;
  }

  /** Items delivered so far. */
  sent(): number {
    return this.#sent;
  }

  /** Items waiting. */
  size(): number {
    return this.#items.length;
  }

  /** Queues an item; false when it was dropped (queue full or closed). */
  push(item: T): boolean {
    if (this.#closed || this.#items.length >= this.#maxItems) {
      this.#drop(1, this.#closed ? 'the queue is closed' : `the queue is full (${this.#maxItems} items)`);
      return false;
    }
    this.#items.push(item);
    if (this.#timer === undefined && this.#draining === undefined) {
      this.#timer = this.#setTimer(() => {
        this.#timer = undefined;
        void this.flush();
      }, this.#flushMs);
    }
    return true;
  }

  /** Sends everything queued so far (with retries); resolves when the queue is empty. Never rejects. */
  flush(): Promise<void> {
    if (this.#timer !== undefined) {
      this.#clearTimer(this.#timer);
      this.#timer = undefined;
    }
    this.#draining ??= this.#drain().finally(() => {
      this.#draining = undefined;
    });
    return this.#draining;
  }

  /** Sends what is queued, then refuses more. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.flush();
  }

  async #drain(): Promise<void> {
    while (this.#items.length > 0) {
      const batch = this.#items.splice(0, this.#maxBatch);
      let lastError: unknown;
      let delivered = false;
      for (let attempt = 0; attempt <= this.#retries && !delivered; attempt += 1) {
        if (attempt > 0) await new Promise<void>((resolve) => this.#setTimer(resolve, this.#retryBaseMs * 2 ** (attempt - 1)));
        try {
          await this.#send(batch);
          delivered = true;
        } catch (error) {
          lastError = error;
        }
      }
      if (delivered) this.#sent += batch.length;
      else this.#drop(batch.length, `sending failed ${this.#retries + 1} times: ${(lastError as Error)?.message ?? String(lastError)}`);
    }
  }

  #drop(count: number, why: string): void {
    const before = this.#dropped;
    this.#dropped += count;
    if (before === 0 || Math.floor(before / 1000) !== Math.floor(this.#dropped / 1000) || count > 1) {
      try {
        this.#onError(new Error(`${count} item${count === 1 ? '' : 's'} dropped (${this.#dropped} in all): ${why}`));
      } catch {
        // A reporting hook must not break the sink.
      }
    }
  }
}
