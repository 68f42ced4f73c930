// A sliding-window counter in buckets: the window is cut into `buckets` slices (default 60) and the total is the
// sum of the slices that still overlap it. So a count leaves the window between (buckets-1)/buckets and one full
// window after it was added — at most one slice late, never early: limits are never looser than stated by more
// than one slice. Pure: time comes from the injected clock, memory is fixed per counter.

export type MsClock = () => number;

export class SlidingWindow {
  readonly windowMs: number;
  readonly #sliceMs: number;
  readonly #slices: number[];
  readonly #now: MsClock;
  #head = 0;
  #headStart = Number.NEGATIVE_INFINITY;

  constructor(windowMs: number, now: MsClock, buckets = 60) {
    if (!(windowMs > 0)) throw new Error(`windowMs must be positive (got ${windowMs})`);
    this.windowMs = windowMs;
    this.#sliceMs = Math.max(1, windowMs / buckets);
    this.#slices = new Array<number>(buckets).fill(0);
    this.#now = now;
  }

  /** Adds `amount` at the current time. */
  add(amount = 1): void {
    this.#advance();
    this.#slices[this.#head]! += amount;
  }

  /** What was added within the window. */
  total(): number {
    this.#advance();
    let sum = 0;
    for (const slice of this.#slices) sum += slice;
    return sum;
  }

  #advance(): void {
    const start = Math.floor(this.#now() / this.#sliceMs) * this.#sliceMs;
    if (start <= this.#headStart) return;
    const steps = Number.isFinite(this.#headStart) ? Math.round((start - this.#headStart) / this.#sliceMs) : this.#slices.length;
    const n = this.#slices.length;
    if (steps >= n) this.#slices.fill(0);
    else for (let i = 0; i < steps; i += 1) {
      this.#head = (this.#head + 1) % n;
      this.#slices[this.#head] = 0;
    }
    this.#headStart = start;
  }
}
