// The pure limit counters, on a frozen clock: sliding windows, concurrency slots with a bounded queue, the buffer
// budget and the Limiter that combines them.
import { describe, expect, it } from 'vitest';
import { ByteBudget } from '../../src/limits/budget.js';
import { Limiter } from '../../src/limits/limiter.js';
import { Slots } from '../../src/limits/slots.js';
import { SlidingWindow } from '../../src/limits/window.js';
import type { TimerHandle, Timers } from '../../src/lib/clock.js';

function fakeTimers() {
  let nowMs = 1_000_000;
  const pending: { at: number; fn: () => void; handle: TimerHandle }[] = [];
  const timers: Timers = {
    setTimeout(fn, delayMs) {
      const handle = {};
      pending.push({ at: nowMs + delayMs, fn, handle });
      return handle;
    },
    clearTimeout(handle) {
      const i = pending.findIndex((p) => p.handle === handle);
      if (i >= 0) pending.splice(i, 1);
    },
  };
  return {
    timers,
    now: () => nowMs,
    clock: () => new Date(nowMs),
    advance(ms: number) {
      nowMs += ms;
      for (const due of pending.filter((p) => p.at <= nowMs)) {
        pending.splice(pending.indexOf(due), 1);
        due.fn();
      }
    },
  };
}

describe('SlidingWindow', () => {
  it('counts what was added within the window and forgets it after', () => {
    const t = fakeTimers();
    const w = new SlidingWindow(60_000, t.now);
    for (let i = 0; i < 5; i += 1) w.add();
    expect(w.total()).toBe(5);
    t.advance(30_000);
    w.add(2);
    expect(w.total()).toBe(7);
    t.advance(30_000); // the first five are one full window old
    expect(w.total()).toBe(2);
    t.advance(60_000);
    expect(w.total()).toBe(0);
  });

  it('is never early: an entry stays at least (buckets-1)/buckets of the window', () => {
    const t = fakeTimers();
    const w = new SlidingWindow(60_000, t.now);
    w.add();
    t.advance(58_999);
    expect(w.total()).toBe(1);
  });

  it('survives a clock jump far beyond the window', () => {
    const t = fakeTimers();
    const w = new SlidingWindow(1000, t.now);
    w.add(10);
    t.advance(10_000_000);
    expect(w.total()).toBe(0);
    w.add(1);
    expect(w.total()).toBe(1);
  });
});

describe('Slots', () => {
  it('grants up to max, queues the next for at most waitMs, hands a released slot to the first waiter', async () => {
    const t = fakeTimers();
    const slots = new Slots(t.timers);
    const a = await slots.acquire('k', 2, 1000);
    const b = await slots.acquire('k', 2, 1000);
    expect(a && b).toBeTruthy();
    const waiting = slots.acquire('k', 2, 1000);
    const late = slots.acquire('k', 2, 1000);
    expect(slots.waiting('k')).toBe(2);
    (a as () => void)();
    (a as () => void)(); // idempotent
    const c = await waiting;
    expect(c).toBeTypeOf('function');
    expect(slots.held('k')).toBe(2);
    t.advance(1000);
    expect(await late).toBeUndefined();
    expect(slots.waiting('k')).toBe(0);
    expect(await slots.acquire('other', 2, 0)).toBeTypeOf('function');
  });
});

describe('ByteBudget', () => {
  it('reserves up to the limit, grows reservations, gives back on release', () => {
    const budget = new ByteBudget(100);
    const r1 = budget.reservation();
    const r2 = budget.reservation();
    expect(r1.reserve(60)).toBe(true);
    expect(r2.reserve(50)).toBe(false);
    expect(r2.reserve(40)).toBe(true);
    expect(budget.inUseBytes).toBe(100);
    expect(r1.reserve(61)).toBe(false);
    r1.release();
    r1.release();
    expect(budget.inUseBytes).toBe(40);
    expect(budget.peakBytes).toBe(100);
  });
});

describe('Limiter', () => {
  it('caps an account at its concurrency (default 32, never above a quarter of the upstream pool)', async () => {
    const t = fakeTimers();
    const limiter = new Limiter({ now: t.clock, timers: t.timers, upstreamSockets: 40, queueWaitMs: 100 });
    const held = [];
    for (let i = 0; i < 10; i += 1) held.push(await limiter.enter({ account: 'alpha' }, { perMs: 60_000, concurrent: 500 }));
    const over = limiter.enter({ account: 'alpha' }, { perMs: 60_000, concurrent: 500 });
    t.advance(100);
    expect(await over).toBeUndefined();
    expect(await limiter.enter({ account: 'beta' }, undefined)).toBeTypeOf('function');
    expect(limiter.stats().accounts.find((a) => a.name === 'alpha')).toMatchObject({ inFlight: 10, concurrent: 10 });
  });

  it('admits calls per window and says which limit refused', () => {
    const t = fakeTimers();
    const limiter = new Limiter({ now: t.clock, timers: t.timers });
    const limits = { calls: 3, perMs: 60_000 };
    const scope = { account: 'alpha', ruleId: 'deletes' };
    expect([1, 2, 3].map(() => limiter.admit(scope, limits).ok)).toEqual([true, true, true]);
    const refused = limiter.admit(scope, limits);
    expect(refused).toEqual({ ok: false, limit: 'calls', message: 'rule deletes for alpha made 3 calls within 1m (limit calls: 3 per 1m)' });
    expect(limiter.admit({ account: 'beta', ruleId: 'deletes' }, limits).ok).toBe(true);
    t.advance(60_000);
    expect(limiter.admit(scope, limits).ok).toBe(true);
  });

  it('admits bytes until the window total reaches the limit', () => {
    const t = fakeTimers();
    const limiter = new Limiter({ now: t.clock, timers: t.timers });
    const limits = { bytes: 1000, perMs: 10_000 };
    expect(limiter.admit({ account: 'a' }, limits, 600).ok).toBe(true);
    limiter.addBytes({ account: 'a' }, limits, 500);
    expect(limiter.admit({ account: 'a' }, limits, 1)).toMatchObject({ ok: false, limit: 'bytes' });
  });

  it('counts escalations per account and rule, this call included', () => {
    const t = fakeTimers();
    const limiter = new Limiter({ now: t.clock, timers: t.timers });
    for (let i = 1; i <= 20; i += 1) expect(limiter.countEscalation('alpha', 'deletes', 600_000)).toBe(i);
    expect(limiter.countEscalation('alpha', 'deletes', 600_000)).toBe(21);
    expect(limiter.countEscalation('beta', 'deletes', 600_000)).toBe(1);
    t.advance(600_000);
    expect(limiter.countEscalation('alpha', 'deletes', 600_000)).toBe(1);
  });
});

describe('describeLimits (policy explain)', () => {
  it('names the account default, the rule limits and the escalation', async () => {
    const { describeLimits } = await import('../../src/limits/describe.js');
    expect(
      describeLimits({ name: 'agent' }, { id: 'deletes', limits: { calls: 100, perMs: 60_000 }, escalate: { after: 20, withinMs: 600_000, then: 'approve' } }),
    ).toEqual([
      'limits of agent: 32 in flight (default)',
      'limits of rule deletes (per service account): 100 calls per 1m',
      'escalate: after 20 calls by deletes within 10m per service account, further ones need approval',
    ]);
    expect(describeLimits({ name: 'a', limits: { concurrent: 4, bytes: 1024 ** 3, perMs: 3_600_000 } })).toEqual(['limits of a: 4 in flight, 1 GiB per 1h']);
  });
});
