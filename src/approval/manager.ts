// Just-in-time approval: held calls, exact grants, duration grants, timeouts.
// A call that hits an `approve` rule waits here up to its hold; a human decides through the admin
// socket. An approval creates a grant bound to the exact request fingerprint so the SDK's retry
// passes and a different request does not. Timeout means deny.

import { randomInt } from 'node:crypto';
import type { EventBus, GatewayEvent, UnstampedEvent } from '../events.js';
import { GrantBook } from './grants.js';
import { systemClock, systemTimers, type Clock, type TimerHandle, type Timers } from '../lib/clock.js';

/** What the approver sees of a held call, and what an approval is bound to. */
export interface HeldCall {
  sessionId: string;
  requestId: string;
  serviceAccount: string;
  /** The API operation (CloudTrail eventName), e.g. `s3:CopyObject`. */
  action: string;
  /** The primary resource. */
  resource: string;
  /** Every (IAM action, resource) pair the call needs, as `action resource`. */
  pairs: string[];
  region: string;
  /** Masked request parameters. */
  params?: unknown;
  /** The body as forwarded: size and SHA-256. */
  body?: { bytes: number; sha256: string };
  /** Forwarded headers that change the call's effect (masked values). */
  headers?: Record<string, string>;
  ruleId: string;
  message?: string;
}

/** A held call as approvers see it (prompt, `portcullis pending`, the admin API). */
export interface PendingApproval extends HeldCall {
  /** Short, typeable id (e.g. `k3f9`). */
  id: string;
  createdAt: string;
  expiresAt: string;
  /** Whether the client is still being held (false once the hold elapsed; the SDK will retry). */
  held: boolean;
}

export interface DecisionInput {
  /** OS user name of the deciding process. */
  by: string;
  reason?: string;
  /** Approve for a duration: the same account + action + resource pass until then. */
  forMs?: number;
}

export type ApprovalResult = { ok: true; message: string } | { ok: false; error: string; status: 404 | 409 };

export interface ApprovalRequest extends HeldCall {
  /** The call's fingerprint (see callFingerprint): a grant passes exactly this call. */
  fingerprint: string;
  holdMs: number;
  timeoutMs: number;
}

export type ApprovalOutcome =
  | { outcome: 'approved'; approvalId: string; via: 'approval' | 'duration-grant'; grantId?: string }
  | { outcome: 'denied'; approvalId: string; reason: string }
  /** Nobody answered within the hold: the client gets a retryable error; the entry stays pending. */
  | { outcome: 'pending'; approvalId: string; expiresAt: Date };

interface Entry {
  pending: PendingApproval;
  request: ApprovalRequest;
  state: 'pending' | 'approved' | 'denied' | 'expired';
  reason?: string;
  /** An approval lets exactly one execution of the fingerprinted request through. */
  grantUsed: boolean;
  waiters: Set<(entry: Entry) => void>;
  timer?: TimerHandle;
  expiresAtMs: number;
}

export interface ApprovalManagerOptions {
  bus: EventBus;
  now?: Clock;
  timers?: Timers;
  /** How long a decided entry is remembered so the SDK's retry finds its outcome. */
  decidedRetentionMs?: number;
}

const ID_ALPHABET = 'abcdefghjkmnpqrstuvwxyz23456789';

/** The approver's view of a request (without what binds it). */
function heldCall(request: ApprovalRequest): HeldCall {
  const { fingerprint: _fingerprint, holdMs: _holdMs, timeoutMs: _timeoutMs, ...call } = request;
  return call;
}

export class ApprovalManager {
  readonly #bus: EventBus;
  readonly #now: Clock;
  readonly #timers: Timers;
  readonly #retentionMs: number;
  readonly #byId = new Map<string, Entry>();
  readonly #byFingerprint = new Map<string, Entry>();
  readonly grants: GrantBook;
  #closed = false;

  constructor(options: ApprovalManagerOptions) {
    this.#bus = options.bus;
    this.#now = options.now ?? systemClock;
    this.#timers = options.timers ?? systemTimers;
    this.#retentionMs = options.decidedRetentionMs ?? 10 * 60_000;
    this.grants = new GrantBook({ now: this.#now, timers: this.#timers, emit: (event) => this.#emit(event) });
  }

  #emit(event: UnstampedEvent): void {
    this.#bus.emit({ at: this.#now().toISOString(), ...event } as GatewayEvent);
  }

  #newId(): string {
    for (;;) {
      let id = '';
      for (let i = 0; i < 4; i += 1) id += ID_ALPHABET[randomInt(ID_ALPHABET.length)];
      if (!this.#byId.has(id)) return id;
    }
  }

  /** Holds the call until a human decides, the hold elapses, or the entry times out. */
  async request(request: ApprovalRequest): Promise<ApprovalOutcome> {
    const nowMs = this.#now().getTime();
    const grant = this.grants.use(request);
    if (grant) return { outcome: 'approved', approvalId: grant.approvalId, via: 'duration-grant', grantId: grant.id };

    let entry = this.#byFingerprint.get(request.fingerprint);
    if (entry && entry.state === 'approved' && entry.grantUsed) entry = undefined;
    if (entry && entry.state !== 'pending') return this.#settled(entry);
    if (this.#closed) throw new Error('approval manager closed');
    if (!entry) entry = this.#propose(request);

    const settledEntry = entry;
    const decided = await new Promise<Entry | undefined>((resolve) => {
      const waiter = (e: Entry) => {
        this.#timers.clearTimeout(hold);
        resolve(e);
      };
      const hold = this.#timers.setTimeout(() => {
        settledEntry.waiters.delete(waiter);
        resolve(undefined);
      }, Math.max(0, Math.min(request.holdMs, settledEntry.expiresAtMs - nowMs)));
      settledEntry.waiters.add(waiter);
      settledEntry.pending.held = true;
    });
    if (settledEntry.waiters.size === 0) settledEntry.pending.held = false;
    if (!decided || decided.state === 'pending') {
      return { outcome: 'pending', approvalId: settledEntry.pending.id, expiresAt: new Date(settledEntry.expiresAtMs) };
    }
    return this.#settled(decided);
  }

  #settled(entry: Entry): ApprovalOutcome {
    if (entry.state === 'approved') {
      if (entry.grantUsed) return { outcome: 'denied', approvalId: entry.pending.id, reason: `approval ${entry.pending.id} was already used` };
      entry.grantUsed = true;
      return { outcome: 'approved', approvalId: entry.pending.id, via: 'approval' };
    }
    if (entry.state === 'expired') return { outcome: 'denied', approvalId: entry.pending.id, reason: `approval ${entry.pending.id} timed out without a decision` };
    if (entry.state === 'denied') {
      return { outcome: 'denied', approvalId: entry.pending.id, reason: `denied by ${entry.reason ?? 'an approver'}` };
    }
    return { outcome: 'pending', approvalId: entry.pending.id, expiresAt: new Date(entry.expiresAtMs) };
  }

  #propose(request: ApprovalRequest): Entry {
    const now = this.#now();
    const id = this.#newId();
    const expiresAtMs = now.getTime() + request.timeoutMs;
    const entry: Entry = {
      request,
      state: 'pending',
      grantUsed: false,
      waiters: new Set(),
      expiresAtMs,
      pending: {
        ...heldCall(request),
        id,
        createdAt: now.toISOString(),
        expiresAt: new Date(expiresAtMs).toISOString(),
        held: true,
      },
    };
    entry.timer = this.#timers.setTimeout(() => this.#expire(entry), request.timeoutMs);
    entry.timer.unref?.();
    this.#byId.set(id, entry);
    this.#byFingerprint.set(request.fingerprint, entry);
    this.#emit({ type: 'approval.proposed', approvalId: id, ...heldCall(request), expiresAt: entry.pending.expiresAt });
    return entry;
  }

  #finish(entry: Entry, state: 'approved' | 'denied' | 'expired', reason?: string): void {
    entry.state = state;
    entry.reason = reason;
    this.#timers.clearTimeout(entry.timer);
    for (const waiter of entry.waiters) waiter(entry);
    entry.waiters.clear();
    entry.pending.held = false;
    // Keep the outcome a while for the SDK's retry, then forget it.
    const forget = this.#timers.setTimeout(() => {
      this.#byId.delete(entry.pending.id);
      if (this.#byFingerprint.get(entry.request.fingerprint) === entry) this.#byFingerprint.delete(entry.request.fingerprint);
    }, state === 'approved' ? Math.max(0, entry.expiresAtMs - this.#now().getTime()) : this.#retentionMs);
    forget.unref?.();
  }

  #expire(entry: Entry): void {
    if (entry.state !== 'pending') return;
    this.#finish(entry, 'expired');
    this.#emit({ type: 'approval.expired', approvalId: entry.pending.id, sessionId: entry.request.sessionId } as UnstampedEvent);
  }

  pending(): PendingApproval[] {
    return [...this.#byId.values()].filter((e) => e.state === 'pending').map((e) => ({ ...e.pending }));
  }

  /** The pending entry `id`, with its decision recorded; or why it cannot be decided. */
  #decide(id: string, decision: 'approved' | 'denied', input: DecisionInput): Entry | ApprovalResult {
    const entry = this.#byId.get(id);
    if (!entry) return { ok: false, error: `no pending approval ${id}`, status: 404 };
    if (entry.state !== 'pending') return { ok: false, error: `approval ${id} is already ${entry.state}`, status: 409 };
    this.#emit({
      type: 'approval.decided',
      approvalId: id,
      sessionId: entry.request.sessionId,
      decision,
      by: input.by,
      reason: input.reason,
      ...(decision === 'approved' && input.forMs !== undefined ? { forMs: input.forMs } : {}),
    } as UnstampedEvent);
    return entry;
  }

  approve(id: string, input: DecisionInput): ApprovalResult {
    const entry = this.#decide(id, 'approved', input);
    if ('ok' in entry) return entry;
    this.#finish(entry, 'approved', input.reason);
    const grant =
      input.forMs === undefined
        ? undefined
        : this.grants.create({ approvalId: id, sessionId: entry.request.sessionId, serviceAccount: entry.request.serviceAccount, pairs: entry.request.pairs, by: input.by, forMs: input.forMs });
    const window = grant ? ` (and calls of ${grant.serviceAccount} needing only these ${grant.pairs.length} pair(s) for ${Math.round(input.forMs! / 1000)}s: grant ${grant.id})` : '';
    return { ok: true, message: `approved ${id}: ${entry.request.action} on ${entry.request.resource} for ${entry.request.serviceAccount}${window}` };
  }

  deny(id: string, input: DecisionInput): ApprovalResult {
    const entry = this.#decide(id, 'denied', input);
    if ('ok' in entry) return entry;
    this.#finish(entry, 'denied', input.reason ? `${input.by}: ${input.reason}` : input.by);
    return { ok: true, message: `denied ${id}: ${entry.request.action} on ${entry.request.resource} for ${entry.request.serviceAccount}` };
  }

  /** Records that an approved call was forwarded. */
  executed(approvalId: string, requestId: string, sessionId: string): void {
    this.#emit({ type: 'approval.executed', approvalId, requestId, sessionId } as UnstampedEvent);
  }

  /** Gateway stopping: held calls get the retryable error; pending entries are recorded as expired. */
  close(): void {
    this.#closed = true;
    this.grants.close();
    for (const entry of this.#byId.values()) {
      if (entry.state !== 'pending') {
        this.#timers.clearTimeout(entry.timer);
        continue;
      }
      const waiters = [...entry.waiters];
      entry.waiters.clear();
      this.#expire(entry);
      for (const waiter of waiters) waiter({ ...entry, state: 'pending' });
    }
  }
}

