// The approval manager alone, with its clock and timers injected: holds, grants, duration grants, timeouts.

import { describe, expect, it } from 'vitest';
import { ApprovalManager, type ApprovalOutcome } from '../../src/approval/manager.js';
import { EventBus, type GatewayEvent } from '../../src/events.js';
import type { TimerHandle, Timers } from '../../src/lib/clock.js';

/** A manual clock: timers fire only when the test advances time. */
class ManualTime implements Timers {
  nowMs = Date.parse('2026-12-07T10:00:00Z');
  #timers: { at: number; callback: () => void; cancelled: boolean }[] = [];
  readonly clock = () => new Date(this.nowMs);

  setTimeout(callback: () => void, delayMs: number): TimerHandle {
    const timer = { at: this.nowMs + delayMs, callback, cancelled: false };
    this.#timers.push(timer);
    return timer;
  }

  clearTimeout(handle: TimerHandle | undefined): void {
    if (handle) (handle as { cancelled: boolean }).cancelled = true;
  }

  async advance(ms: number): Promise<void> {
    const until = this.nowMs + ms;
    for (;;) {
      const next = this.#timers.filter((t) => !t.cancelled && t.at <= until).sort((a, b) => a.at - b.at)[0];
      if (!next) break;
      next.cancelled = true;
      this.nowMs = next.at;
      next.callback();
      await Promise.resolve();
    }
    this.nowMs = until;
    await new Promise((resolve) => setImmediate(resolve));
  }
}

function setup() {
  const time = new ManualTime();
  const bus = new EventBus();
  const events: GatewayEvent[] = [];
  bus.subscribe((e) => events.push(e));
  const manager = new ApprovalManager({ bus, now: time.clock, timers: time });
  return { time, events, manager };
}

const CALL = {
  sessionId: 'ses-1',
  requestId: 'r1',
  serviceAccount: 'alpha',
  action: 'secretsmanager:GetSecretValue',
  resource: 'arn:aws:secretsmanager:us-east-1:111122223333:secret:prod/db',
  region: 'us-east-1',
  pairs: ['secretsmanager:GetSecretValue arn:aws:secretsmanager:us-east-1:111122223333:secret:prod/db'],
  ruleId: 'hold-secrets',
  holdMs: 1_000,
  timeoutMs: 60_000,
};

function call(overrides: Partial<typeof CALL> & { fingerprint?: string } = {}) {
  // The fingerprint of the whole call is worked out by the approve stage (approval/fingerprint.ts); here it is a label.
  const merged = { ...CALL, ...overrides };
  return { ...merged, fingerprint: overrides.fingerprint ?? 'the-call' };
}

describe('ApprovalManager', () => {
  it('holds until the hold elapses, then answers pending; the entry stays pending', async () => {
    const { time, manager, events } = setup();
    let outcome: ApprovalOutcome | undefined;
    void manager.request(call()).then((o) => (outcome = o));
    await time.advance(999);
    expect(outcome).toBeUndefined();
    expect(manager.pending()[0]?.held).toBe(true);
    await time.advance(1);
    expect(outcome?.outcome).toBe('pending');
    expect(manager.pending()).toHaveLength(1);
    expect(manager.pending()[0]?.held).toBe(false);
    expect(events.filter((e) => e.type === 'approval.proposed')).toHaveLength(1);
  });

  it('an approval during the hold releases the held call once; the same call again is not covered', async () => {
    const { manager } = setup();
    const held = manager.request(call());
    const id = manager.pending()[0]!.id;
    expect(manager.approve(id, { by: 'alice' })).toMatchObject({ ok: true });
    expect(await held).toEqual({ outcome: 'approved', approvalId: id, via: 'approval' });
    const again = await Promise.race([manager.request(call()), new Promise((r) => setTimeout(() => r('held'), 50))]);
    // A fresh proposal: the used grant does not pass a second execution.
    expect(again).toBe('held');
    expect(manager.pending()).toHaveLength(1);
    manager.close();
  });

  it('a different fingerprint is a different call: approving one does not pass the other', async () => {
    const { manager, time } = setup();
    const first = manager.request(call());
    const other = manager.request(call({ fingerprint: 'another-call' }));
    expect(manager.pending()).toHaveLength(2);
    manager.approve(manager.pending()[0]!.id, { by: 'alice' });
    expect((await first).outcome).toBe('approved');
    await time.advance(1_000);
    expect((await other).outcome).toBe('pending');
  });

  it('denied with a reason: the retry learns the reason', async () => {
    const { manager, time } = setup();
    const held = manager.request(call());
    await time.advance(1_000);
    expect((await held).outcome).toBe('pending');
    const id = manager.pending()[0]!.id;
    expect(manager.deny(id, { by: 'bob', reason: 'not today' })).toMatchObject({ ok: true });
    expect(await manager.request(call())).toEqual({ outcome: 'denied', approvalId: id, reason: 'denied by bob: not today' });
  });

  it('nobody decides before the timeout: expired, and the retry is denied', async () => {
    const { manager, time, events } = setup();
    void manager.request(call());
    await time.advance(60_000);
    expect(manager.pending()).toHaveLength(0);
    expect(events.some((e) => e.type === 'approval.expired')).toBe(true);
    const retry = await manager.request(call());
    expect(retry.outcome).toBe('denied');
    expect(retry.outcome === 'denied' && retry.reason).toContain('timed out');
  });

  it('approve --for: the same account, action and resource pass until the window ends, then are held again', async () => {
    const { manager, time } = setup();
    const held = manager.request(call());
    manager.approve(manager.pending()[0]!.id, { by: 'alice', forMs: 10 * 60_000 });
    await held;
    const later = await manager.request(call({ fingerprint: 'other-params' }));
    expect(later).toMatchObject({ outcome: 'approved', via: 'duration-grant' });
    await time.advance(10 * 60_000);
    let afterWindow: ApprovalOutcome | undefined;
    void manager.request(call({ fingerprint: 'other-params-2' })).then((o) => (afterWindow = o));
    await time.advance(1_000);
    expect(afterWindow?.outcome).toBe('pending');
  });

  it('unknown and already-decided ids are refused with 404 / 409', async () => {
    const { manager } = setup();
    expect(manager.approve('zzzz', { by: 'a' })).toEqual({ ok: false, error: 'no pending approval zzzz', status: 404 });
    void manager.request(call());
    const id = manager.pending()[0]!.id;
    manager.deny(id, { by: 'a' });
    expect(manager.approve(id, { by: 'b' })).toMatchObject({ ok: false, status: 409 });
  });

  it('close releases held calls with pending and records them as expired', async () => {
    const { manager, events } = setup();
    const held = manager.request(call());
    manager.close();
    expect((await held).outcome).toBe('pending');
    expect(events.some((e) => e.type === 'approval.expired')).toBe(true);
    await expect(manager.request(call({ fingerprint: 'new' }))).rejects.toThrow('closed');
  });
});
