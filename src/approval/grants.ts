// Duration grants (approve --for): the approver lets the same account make calls needing the same (IAM action,
// resource) pairs until a deadline. A later call passes only if every pair it needs is one the approved call had —
// nothing wider. Grants are listed, used and ended as events so recordings and the dashboard see them.

import { randomInt } from 'node:crypto';
import type { GatewayEvent, UnstampedEvent } from '../events.js';
import type { Clock, TimerHandle, Timers } from '../lib/clock.js';

export interface Grant {
  id: string;
  /** The approval that created it. */
  approvalId: string;
  /** The session whose call was approved. */
  sessionId: string;
  serviceAccount: string;
  /** `action resource` keys the grant covers (see pairKeys). */
  pairs: string[];
  by: string;
  createdAt: string;
  until: string;
  uses: number;
}

interface LiveGrant {
  grant: Grant;
  pairs: ReadonlySet<string>;
  untilMs: number;
  timer: TimerHandle;
}

const ID_ALPHABET = 'abcdefghjkmnpqrstuvwxyz23456789';

export class GrantBook {
  readonly #grants = new Map<string, LiveGrant>();
  readonly #now: Clock;
  readonly #timers: Timers;
  readonly #emit: (event: UnstampedEvent) => void;

  constructor(options: { now: Clock; timers: Timers; emit: (event: UnstampedEvent) => void }) {
    this.#now = options.now;
    this.#timers = options.timers;
    this.#emit = options.emit;
  }

  #newId(): string {
    for (;;) {
      let id = 'g-';
      for (let i = 0; i < 4; i += 1) id += ID_ALPHABET[randomInt(ID_ALPHABET.length)];
      if (!this.#grants.has(id)) return id;
    }
  }

  create(input: { approvalId: string; sessionId: string; serviceAccount: string; pairs: readonly string[]; by: string; forMs: number }): Grant {
    const now = this.#now();
    const untilMs = now.getTime() + input.forMs;
    const grant: Grant = {
      id: this.#newId(),
      approvalId: input.approvalId,
      sessionId: input.sessionId,
      serviceAccount: input.serviceAccount,
      pairs: [...input.pairs],
      by: input.by,
      createdAt: now.toISOString(),
      until: new Date(untilMs).toISOString(),
      uses: 0,
    };
    const timer = this.#timers.setTimeout(() => this.#end(grant.id, 'expired'), input.forMs);
    timer.unref?.();
    this.#grants.set(grant.id, { grant, pairs: new Set(grant.pairs), untilMs, timer });
    this.#emit({
      type: 'grant.created',
      grantId: grant.id,
      approvalId: grant.approvalId,
      sessionId: grant.sessionId,
      serviceAccount: grant.serviceAccount,
      pairs: grant.pairs,
      by: grant.by,
      until: grant.until,
    });
    return grant;
  }

  /** A live grant covering every pair of this call, counted as used; or undefined. */
  use(call: { serviceAccount: string; pairs: readonly string[]; sessionId: string; requestId: string }): Grant | undefined {
    const nowMs = this.#now().getTime();
    for (const live of this.#grants.values()) {
      if (live.untilMs <= nowMs || live.grant.serviceAccount !== call.serviceAccount) continue;
      if (call.pairs.length === 0 || !call.pairs.every((pair) => live.pairs.has(pair))) continue;
      live.grant.uses += 1;
      this.#emit({ type: 'grant.used', grantId: live.grant.id, approvalId: live.grant.approvalId, sessionId: call.sessionId, requestId: call.requestId });
      return live.grant;
    }
    return undefined;
  }

  list(): Grant[] {
    const nowMs = this.#now().getTime();
    return [...this.#grants.values()].filter((live) => live.untilMs > nowMs).map((live) => ({ ...live.grant, pairs: [...live.grant.pairs] }));
  }

  /** Ends a grant before its deadline. */
  revoke(id: string, by: string): { ok: true; message: string } | { ok: false; error: string; status: 404 } {
    const live = this.#grants.get(id);
    if (!live) return { ok: false, error: `no live grant ${id}`, status: 404 };
    this.#end(id, 'revoked', by);
    return { ok: true, message: `ended grant ${id} (${live.grant.serviceAccount}, ${live.grant.pairs.length} pair(s), used ${live.grant.uses} time(s))` };
  }

  #end(id: string, reason: 'expired' | 'revoked' | 'shutdown', by?: string): void {
    const live = this.#grants.get(id);
    if (!live) return;
    this.#timers.clearTimeout(live.timer);
    this.#grants.delete(id);
    this.#emit({ type: 'grant.ended', grantId: id, approvalId: live.grant.approvalId, sessionId: live.grant.sessionId, reason, by, uses: live.grant.uses });
  }

  close(): void {
    for (const id of [...this.#grants.keys()]) this.#end(id, 'shutdown');
  }
}

export type GrantEvent = Extract<GatewayEvent, { type: 'grant.created' | 'grant.used' | 'grant.ended' }>;
