// One gateway-wide budget of bytes (buffered request bodies): a reservation grows as a body is declared and as its
// bytes arrive, and is given back when the call ends. Over budget is an answer ("slow down"), never an OOM.

export interface Reservation {
  /** Grows the reservation to at least `bytes` in total; false (and unchanged) when the budget cannot cover it. */
  reserve(bytes: number): boolean;
  readonly bytes: number;
  /** Gives everything back; idempotent. */
  release(): void;
}

export class ByteBudget {
  readonly limitBytes: number;
  #inUse = 0;
  #peak = 0;

  constructor(limitBytes: number) {
    this.limitBytes = limitBytes;
  }

  get inUseBytes(): number {
    return this.#inUse;
  }

  /** The most ever reserved at once. */
  get peakBytes(): number {
    return this.#peak;
  }

  reservation(): Reservation {
    let held = 0;
    let released = false;
    const budget = this;
    return {
      get bytes() {
        return held;
      },
      reserve(bytes) {
        if (released) return false;
        const more = bytes - held;
        if (more <= 0) return true;
        if (budget.#inUse + more > budget.limitBytes) return false;
        budget.#inUse += more;
        budget.#peak = Math.max(budget.#peak, budget.#inUse);
        held = bytes;
        return true;
      },
      release() {
        if (released) return;
        released = true;
        budget.#inUse -= held;
        held = 0;
      },
    };
  }
}
