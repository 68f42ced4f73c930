// Concurrency slots per key with a bounded, first-come queue: a caller over its limit waits at most `waitMs` for a
// slot, then is told no. A release is idempotent, so every way a call can end may release without double counting.

import { systemTimers, type Timers } from '../lib/clock.js';

export type Release = () => void;

interface Waiter {
  grant: (release: Release | undefined) => void;
}

export class Slots {
  readonly #held = new Map<string, number>();
  readonly #limit = new Map<string, number>();
  readonly #queues = new Map<string, Waiter[]>();
  readonly #timers: Timers;

  constructor(timers: Timers = systemTimers) {
    this.#timers = timers;
  }

  /** A release function when a slot is free right now (no queue, no promise); undefined when the caller must wait. */
  tryAcquire(key: string, max: number): Release | undefined {
    this.#limit.set(key, max);
    return this.held(key) < max ? this.#take(key) : undefined;
  }

  /** A release function, or undefined when no slot freed up within `waitMs`. */
  acquire(key: string, max: number, waitMs: number): Promise<Release | undefined> {
    this.#limit.set(key, max);
    if (this.held(key) < max) return Promise.resolve(this.#take(key));
    if (waitMs <= 0) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      const queue = this.#queues.get(key) ?? [];
      this.#queues.set(key, queue);
      const waiter: Waiter = {
        grant: (release) => {
          this.#timers.clearTimeout(timer);
          resolve(release);
        },
      };
      const timer = this.#timers.setTimeout(() => {
        const at = queue.indexOf(waiter);
        if (at >= 0) queue.splice(at, 1);
        if (queue.length === 0) this.#queues.delete(key);
        resolve(undefined);
      }, waitMs);
      timer.unref?.();
      queue.push(waiter);
    });
  }

  held(key: string): number {
    return this.#held.get(key) ?? 0;
  }

  waiting(key: string): number {
    return this.#queues.get(key)?.length ?? 0;
  }

  /** Keys with a slot held or a caller waiting. */
  keys(): string[] {
    return [...new Set([...this.#held.keys(), ...this.#queues.keys()])];
  }

  #take(key: string): Release {
    this.#held.set(key, this.held(key) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = this.held(key) - 1;
      if (left > 0) this.#held.set(key, left);
      else this.#held.delete(key);
      const queue = this.#queues.get(key);
      if (queue && queue.length > 0 && this.held(key) < (this.#limit.get(key) ?? 0)) {
        const next = queue.shift()!;
        if (queue.length === 0) this.#queues.delete(key);
        next.grant(this.#take(key));
      }
    };
  }
}
