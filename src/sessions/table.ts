// The live session table and the gateway's counters, kept from the event stream (the same events everyone sees),
// and seeded at start from the session index so sessions whose credentials are still valid are listed again.

import type { GatewayEvent } from '../events.js';

/** One row of the session table (what `portcullis sessions` and the dashboard list). */
export interface SessionSummary {
  sessionId: string;
  serviceAccount: string;
  roleArn: string;
  start: string;
  expiresAt: string;
  calls: number;
  denied: number;
  /** Calls refused by a limit (concurrency, rate, buffer budget, upload rate). */
  limited?: number;
  lastAction?: string;
  lastAt?: string;
  revoked: boolean;
  active: boolean;
}

export interface SessionCounters {
  allowed: number;
  denied: number;
  requests: number;
  /** Limit hits, all sessions. */
  limited: number;
}

export class SessionTable {
  readonly #sessions = new Map<string, SessionSummary>();
  readonly counts: SessionCounters = { allowed: 0, denied: 0, requests: 0, limited: 0 };

  /** A session known from the index (before this process started). */
  restore(summary: SessionSummary): void {
    this.#sessions.set(summary.sessionId, summary);
  }

  /** The index's active sessions, at start: their credentials may still be used. */
  restoreFromIndex(
    records: readonly { id: string; serviceAccount: string; roleArn: string; start: string; expiresAt: string; counts: { calls: number; denied: number } }[],
    isRevoked: (sessionId: string) => boolean,
  ): void {
    for (const session of records) {
      this.restore({
        sessionId: session.id,
        serviceAccount: session.serviceAccount,
        roleArn: session.roleArn,
        start: session.start,
        expiresAt: session.expiresAt,
        calls: session.counts.calls,
        denied: session.counts.denied,
        revoked: isRevoked(session.id),
        active: true,
      });
    }
  }

  get(sessionId: string): SessionSummary | undefined {
    return this.#sessions.get(sessionId);
  }

  observe(event: GatewayEvent): void {
    switch (event.type) {
      case 'session.started':
        this.#sessions.set(event.sessionId, {
          sessionId: event.sessionId,
          serviceAccount: event.serviceAccount,
          roleArn: event.roleArn,
          start: event.at,
          expiresAt: event.expiresAt,
          calls: 0,
          denied: 0,
          revoked: false,
          active: true,
        });
        break;
      case 'decision': {
        if (event.effect === 'allow') this.counts.allowed += 1;
        if (event.effect === 'deny') this.counts.denied += 1;
        const session = this.#sessions.get(event.sessionId);
        if (session) {
          session.calls += 1;
          if (event.effect === 'deny') session.denied += 1;
          session.lastAction = event.action;
          session.lastAt = event.at;
        }
        break;
      }
      case 'request':
        this.counts.requests += 1;
        break;
      case 'limit.hit': {
        this.counts.limited += 1;
        const session = event.sessionId === undefined ? undefined : this.#sessions.get(event.sessionId);
        if (session) session.limited = (session.limited ?? 0) + 1;
        break;
      }
      case 'session.revoked': {
        const session = this.#sessions.get(event.sessionId);
        if (session) session.revoked = true;
        break;
      }
      default:
        break;
    }
  }

  /** Live sessions of an account not yet revoked. */
  unrevokedOf(serviceAccount: string): SessionSummary[] {
    return [...this.#sessions.values()].filter((s) => s.serviceAccount === serviceAccount && !s.revoked);
  }

  list(nowMs: number, filter: { active?: boolean } = {}): SessionSummary[] {
    const all = [...this.#sessions.values()].map((s) => ({ ...s, active: !s.revoked && Date.parse(s.expiresAt) > nowMs }));
    return filter.active ? all.filter((s) => s.active) : all;
  }
}
