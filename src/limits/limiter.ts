// The gateway's counters for limits and escalations: concurrency slots, sliding windows of calls and bytes, and
// escalation counts, keyed by service account (and rule id for rule limits). It lives as long as the gateway, so a
// policy reload keeps every count; the limits themselves are read from whichever policy the call started with.
// No I/O: time and timers are injected.

import { systemTimers, type Clock, type Timers } from '../lib/clock.js';
import { formatDurationMs } from '../lib/duration.js';
import { ByteBudget } from './budget.js';
import { Slots, type Release } from './slots.js';
import {
  DEFAULT_ACCOUNT_CONCURRENCY,
  DEFAULT_BUFFER_BUDGET_BYTES,
  DEFAULT_QUEUE_WAIT_MS,
  DEFAULT_UPSTREAM_SOCKETS,
  UPSTREAM_SHARE,
  type LimitName,
  type LimitsConfig,
} from './types.js';
import { SlidingWindow } from './window.js';

export interface LimiterOptions {
  now: Clock;
  timers?: Timers;
  /** Longest wait for a concurrency slot. Default 2 s. */
  queueWaitMs?: number;
  /** Per service account when its policy entry has no `limits.concurrent`. Default 32. */
  defaultConcurrency?: number;
  /** Upstream sockets per origin; one account never gets more than a quarter of them. Default 256. */
  upstreamSockets?: number;
  /** All buffered request bodies together. Default 256 MiB. */
  bufferBudgetBytes?: number;
}

/** Which counters a limit applies to: a service account, or a rule for one service account. */
export interface LimitScope {
  account: string;
  ruleId?: string;
}

export type RateVerdict = { ok: true } | { ok: false; limit: LimitName; message: string };

export interface AccountLimitStats {
  name: string;
  inFlight: number;
  waiting: number;
  /** The concurrency limit last applied to the account. */
  concurrent: number;
  hits: Partial<Record<LimitName, number>>;
}

export interface LimitStats {
  buffer: { inUseBytes: number; peakBytes: number; budgetBytes: number };
  /** Limit hits since start, all accounts. */
  hits: number;
  accounts: AccountLimitStats[];
}

function keyOf(scope: LimitScope): string {
  return scope.ruleId === undefined ? `a\0${scope.account}` : `r\0${scope.account}\0${scope.ruleId}`;
}

function describe(scope: LimitScope): string {
  return scope.ruleId === undefined ? `service account ${scope.account}` : `rule ${scope.ruleId} for ${scope.account}`;
}

export class Limiter {
  readonly buffers: ByteBudget;
  readonly queueWaitMs: number;
  readonly defaultConcurrency: number;
  /** The most any one account may have in flight, whatever its policy says. */
  readonly maxAccountConcurrency: number;
  readonly #now: () => number;
  readonly #slots: Slots;
  readonly #windows = new Map<string, SlidingWindow>();
  readonly #hits = new Map<string, Partial<Record<LimitName, number>>>();
  readonly #applied = new Map<string, number>();
  #totalHits = 0;

  constructor(options: LimiterOptions) {
    const now = options.now;
    this.#now = () => now().getTime();
    this.#slots = new Slots(options.timers ?? systemTimers);
    this.queueWaitMs = options.queueWaitMs ?? DEFAULT_QUEUE_WAIT_MS;
    this.defaultConcurrency = options.defaultConcurrency ?? DEFAULT_ACCOUNT_CONCURRENCY;
    this.maxAccountConcurrency = Math.max(1, Math.floor((options.upstreamSockets ?? DEFAULT_UPSTREAM_SOCKETS) * UPSTREAM_SHARE));
    this.buffers = new ByteBudget(options.bufferBudgetBytes ?? DEFAULT_BUFFER_BUDGET_BYTES);
  }

  /**
   * A concurrency slot for `scope`, waiting up to `queueWaitMs`; undefined when none freed up. An account's limit
   * is its `concurrent` (default 32), never above its share of the upstream pool; a rule without `concurrent` has none.
   */
  async enter(scope: LimitScope, limits: LimitsConfig | undefined): Promise<Release | 'unlimited' | undefined> {
    const max = this.#maxFor(scope, limits);
    if (max === undefined) return 'unlimited';
    return this.#slots.acquire(keyOf(scope), max, this.queueWaitMs);
  }

  /** `enter` without waiting: the slot when one is free now (the common case, no promise); undefined → call enter. */
  enterNow(scope: LimitScope, limits: LimitsConfig | undefined): Release | 'unlimited' | undefined {
    const max = this.#maxFor(scope, limits);
    if (max === undefined) return 'unlimited';
    return this.#slots.tryAcquire(keyOf(scope), max);
  }

  #maxFor(scope: LimitScope, limits: LimitsConfig | undefined): number | undefined {
    let max = limits?.concurrent;
    if (scope.ruleId === undefined) {
      max = Math.min(max ?? this.defaultConcurrency, this.maxAccountConcurrency);
      this.#applied.set(scope.account, max);
    }
    return max;
  }

  /** The message for a call that found no slot. */
  concurrencyMessage(scope: LimitScope, limits: LimitsConfig | undefined): string {
    const max = scope.ruleId === undefined ? (this.#applied.get(scope.account) ?? this.defaultConcurrency) : limits?.concurrent;
    return `${describe(scope)} already has ${max} calls in flight (limit concurrent: ${max}); waited ${formatDurationMs(this.queueWaitMs)}`;
  }

  /** Admits one call against `calls` and `bytes` per window, counting it when admitted. */
  admit(scope: LimitScope, limits: LimitsConfig | undefined, requestBytes = 0): RateVerdict {
    if (limits === undefined || (limits.calls === undefined && limits.bytes === undefined)) return { ok: true };
    const per = formatDurationMs(limits.perMs);
    const calls = limits.calls === undefined ? undefined : this.#window(`c\0${keyOf(scope)}`, limits.perMs);
    const bytes = limits.bytes === undefined ? undefined : this.#window(`b\0${keyOf(scope)}`, limits.perMs);
    if (calls && calls.total() >= limits.calls!) {
      return { ok: false, limit: 'calls', message: `${describe(scope)} made ${limits.calls} calls within ${per} (limit calls: ${limits.calls} per ${per})` };
    }
    if (bytes && bytes.total() >= limits.bytes!) {
      return { ok: false, limit: 'bytes', message: `${describe(scope)} moved ${bytes.total()} bytes within ${per} (limit bytes: ${limits.bytes} per ${per})` };
    }
    calls?.add(1);
    if (requestBytes > 0) bytes?.add(requestBytes);
    return { ok: true };
  }

  /** Bytes a call moved after it was admitted (its response). */
  addBytes(scope: LimitScope, limits: LimitsConfig | undefined, amount: number): void {
    if (limits?.bytes === undefined || amount <= 0) return;
    this.#window(`b\0${keyOf(scope)}`, limits.perMs).add(amount);
  }

  /** Counts one more matching call for an escalation and returns how many there were within the window, this one included. */
  countEscalation(account: string, ruleId: string, withinMs: number): number {
    const window = this.#window(`e\0${account}\0${ruleId}`, withinMs);
    window.add(1);
    return window.total();
  }

  /** Takes back a count (a call that was only held: its retry will be counted instead). */
  uncountEscalation(account: string, ruleId: string, withinMs: number): void {
    this.#window(`e\0${account}\0${ruleId}`, withinMs).add(-1);
  }

  hit(account: string, limit: LimitName): void {
    const hits = this.#hits.get(account) ?? {};
    hits[limit] = (hits[limit] ?? 0) + 1;
    this.#hits.set(account, hits);
    this.#totalHits += 1;
  }

  stats(): LimitStats {
    const names = new Set([...this.#applied.keys(), ...this.#hits.keys()]);
    const accounts = [...names].sort().map((name) => {
      const key = keyOf({ account: name });
      return {
        name,
        inFlight: this.#slots.held(key),
        waiting: this.#slots.waiting(key),
        concurrent: this.#applied.get(name) ?? Math.min(this.defaultConcurrency, this.maxAccountConcurrency),
        hits: { ...this.#hits.get(name) },
      };
    });
    return {
      buffer: { inUseBytes: this.buffers.inUseBytes, peakBytes: this.buffers.peakBytes, budgetBytes: this.buffers.limitBytes },
      hits: this.#totalHits,
      accounts,
    };
  }

  /** A window of the given length; a reload that changes the length starts it afresh. */
  #window(key: string, windowMs: number): SlidingWindow {
    let window = this.#windows.get(key);
    if (!window || window.windowMs !== windowMs) {
      window = new SlidingWindow(windowMs, this.#now);
      this.#windows.set(key, window);
    }
    return window;
  }
}
