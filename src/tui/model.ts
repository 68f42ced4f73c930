// The dashboard's view model: gateway events and admin snapshots reduced into what the panels show.
// Pure (no terminal, no I/O, injected clock) so every rule is unit-tested without blessed.

import type { GatewayStatus, Grant, PendingApproval, SessionSummary } from '../admin/types.js';
import type { GatewayEvent } from '../events.js';
import { CallBook } from './calls.js';
import { compileFilter } from './log-filter.js';
import { Ring } from './ring.js';
import { ms, pendingRow, reduceEvent, type ReducerInternals } from './reduce.js';
import type { Banner, BannerKind, ConnectionState, GrantRow, LogEntry, PendingRow, SessionRow } from './rows.js';

export interface ModelOptions {
  /** Log lines kept for scrollback (DASHBOARD.md: bound it, 500–1000). */
  logCapacity?: number;
  now?: () => number;
  /** How long a policy banner stays. */
  bannerMs?: number;
  /** How long a flash message stays. */
  flashMs?: number;
  /** Window over which req/s is averaged. */
  rateWindowMs?: number;
}

const MAX_LATENCY_TRACKED = 4096;

export class DashboardModel {
  readonly now: () => number;
  readonly log: Ring<LogEntry>;
  readonly sessions = new Map<string, SessionRow>();
  /** Insertion order is queue order (oldest first). */
  readonly pending = new Map<string, PendingRow>();
  /** Approvals the operator put off with Esc: not prompted again, still listed. */
  readonly deferred = new Set<string>();
  /** Live duration grants by id. */
  readonly grants = new Map<string, GrantRow>();
  connection: ConnectionState = 'connecting';
  connectionDetail = '';
  /** The gateway said it is stopping (its last event): the lost connection is not a fault. */
  gatewayStopped = false;
  url = '';
  version = '';
  policyFile = '';
  policyState: 'ok' | 'error' | 'unknown' = 'unknown';
  policyRules = 0;
  startedAtMs?: number;
  counts = { allowed: 0, denied: 0 };
  /** Calls refused by a limit (status + limit.hit events). */
  limited = 0;
  /** The gateway's buffer budget, from the last status. */
  buffer?: { inUseBytes: number; budgetBytes: number };
  banner?: Banner;
  flash?: Banner;
  /** Per-call detail (Enter on a log row). */
  readonly calls = new CallBook();
  /** Bumped on every change; the view renders when it moved. */
  revision = 0;
  /** Approval ids proposed since the view last took them (bell + modal). */
  #fresh: string[] = [];
  #seq = 0;
  #byRequest = new Map<string, LogEntry>();
  /** The HOLD line of each held call, so it is logged once, when the hold starts. */
  #heldLines = new Map<string, LogEntry>();
  #requestTimes: number[] = [];
  #bannerMs: number;
  #flashMs: number;
  #rateWindowMs: number;

  constructor(options: ModelOptions = {}) {
    this.now = options.now ?? Date.now;
    this.log = new Ring<LogEntry>(options.logCapacity ?? 1000);
    this.#bannerMs = options.bannerMs ?? 8000;
    this.#flashMs = options.flashMs ?? 4000;
    this.#rateWindowMs = options.rateWindowMs ?? 5000;
  }

  #touch(): void {
    this.revision += 1;
  }

  #addLog(entry: Omit<LogEntry, 'seq'>): LogEntry {
    const full = { ...entry, seq: (this.#seq += 1) };
    const evicted = this.log.push(full);
    if (evicted?.requestId && this.#byRequest.get(evicted.requestId) === evicted) this.#byRequest.delete(evicted.requestId);
    if (evicted?.requestId && this.#heldLines.get(evicted.requestId) === evicted) this.#heldLines.delete(evicted.requestId);
    if (full.requestId && full.decision !== 'approved' && full.decision !== 'denied') {
      this.#byRequest.set(full.requestId, full);
      if (this.#byRequest.size > MAX_LATENCY_TRACKED) this.#byRequest.delete(this.#byRequest.keys().next().value as string);
    }
    return full;
  }

  setConnection(state: ConnectionState, detail = ''): void {
    if (this.connection === state && this.connectionDetail === detail) return;
    this.connection = state;
    this.connectionDetail = detail;
    this.#touch();
  }

  setFlash(kind: BannerKind, text: string): void {
    this.flash = { kind, text, untilMs: this.now() + this.#flashMs };
    this.#touch();
  }

  applyStatus(status: GatewayStatus): void {
    this.url = status.url;
    this.version = status.version;
    this.startedAtMs = ms(status.startedAt, this.now());
    this.policyFile = status.policy.file;
    this.policyState = status.policy.state;
    this.policyRules = status.policy.rules;
    this.counts = { allowed: status.counts.allowed, denied: status.counts.denied };
    this.limited = status.counts.limited ?? this.limited;
    if (status.limits) this.buffer = { inUseBytes: status.limits.buffer.inUseBytes, budgetBytes: status.limits.buffer.budgetBytes };
    this.#touch();
  }

  /** Replaces the session table with a snapshot of active sessions. */
  applySessions(list: SessionSummary[]): void {
    const previous = new Map(this.sessions);
    this.sessions.clear();
    for (const s of list) {
      if (!s.active) continue;
      const known = previous.get(s.sessionId);
      this.sessions.set(s.sessionId, {
        ...(known ? { issuer: known.issuer, subject: known.subject, userAgent: known.userAgent, sourceIp: known.sourceIp, claims: known.claims } : {}),
        roleArn: s.roleArn,
        sessionId: s.sessionId,
        serviceAccount: s.serviceAccount,
        startMs: ms(s.start, this.now()),
        expiresAtMs: ms(s.expiresAt, this.now()),
        calls: s.calls,
        denied: s.denied,
        limited: s.limited,
        lastAction: s.lastAction,
        lastAtMs: s.lastAt ? ms(s.lastAt, this.now()) : undefined,
        revoked: s.revoked,
      });
    }
    this.#touch();
  }

  /** Replaces the pending queue with a snapshot; ids not seen before count as fresh prompts. */
  applyPending(list: PendingApproval[]): void {
    const previous = new Set(this.pending.keys());
    this.pending.clear();
    for (const p of [...list].sort((a, b) => ms(a.createdAt, 0) - ms(b.createdAt, 0))) {
      this.pending.set(p.id, pendingRow(p.id, p, ms(p.createdAt, this.now()), ms(p.expiresAt, this.now())));
      if (!previous.has(p.id)) this.#fresh.push(p.id);
    }
    for (const id of this.deferred) if (!this.pending.has(id)) this.deferred.delete(id);
    this.#touch();
  }

  /** Replaces the live grants with a snapshot. */
  applyGrants(list: Grant[]): void {
    this.grants.clear();
    for (const g of list) {
      this.grants.set(g.id, { id: g.id, approvalId: g.approvalId, sessionId: g.sessionId, serviceAccount: g.serviceAccount, pairs: [...g.pairs], by: g.by, untilMs: ms(g.until, this.now()), uses: g.uses });
    }
    this.#touch();
  }

  /** Live grants, soonest to end first. */
  grantList(): GrantRow[] {
    const now = this.now();
    return [...this.grants.values()].filter((g) => g.untilMs > now).sort((a, b) => a.untilMs - b.untilMs || a.id.localeCompare(b.id));
  }

  /** Approval ids that arrived since the last call (the view rings the bell once per batch). */
  takeFresh(): string[] {
    const fresh = this.#fresh.filter((id) => this.pending.has(id));
    this.#fresh = [];
    return fresh;
  }

  /**
   * Applies one event. A `replayed` one (history sent when the dashboard attaches) only fills the log and the call
   * detail, and tells who a session is: counts, sessions, the queue and grants come from the snapshots taken at
   * attach time, which already include it.
   */
  apply(event: GatewayEvent & { replayed?: true }): void {
    if (event.replayed !== true) {
      this.#apply(event);
      return;
    }
    const saved = {
      counts: { ...this.counts },
      limited: this.limited,
      sessions: new Map([...this.sessions].map(([id, row]) => [id, { ...row }])),
      pending: new Map(this.pending),
      deferred: new Set(this.deferred),
      grants: new Map([...this.grants].map(([id, g]) => [id, { ...g }])),
      fresh: this.#fresh.length,
      requestTimes: this.#requestTimes.length,
      banner: this.banner,
      policy: { file: this.policyFile, state: this.policyState, rules: this.policyRules },
      gatewayStopped: this.gatewayStopped,
    };
    this.#apply(event);
    this.counts = saved.counts;
    this.limited = saved.limited;
    this.sessions.clear();
    for (const [id, row] of saved.sessions) this.sessions.set(id, row);
    this.pending.clear();
    for (const [id, row] of saved.pending) this.pending.set(id, row);
    this.deferred.clear();
    for (const id of saved.deferred) this.deferred.add(id);
    this.grants.clear();
    for (const [id, g] of saved.grants) this.grants.set(id, g);
    this.#fresh.length = saved.fresh;
    this.#requestTimes.length = saved.requestTimes;
    this.banner = saved.banner;
    this.policyFile = saved.policy.file;
    this.policyState = saved.policy.state;
    this.policyRules = saved.policy.rules;
    this.gatewayStopped = saved.gatewayStopped;
    if (event.type === 'session.started') {
      const row = this.sessions.get(event.sessionId);
      if (row) Object.assign(row, { issuer: event.issuer, subject: event.subject, userAgent: event.userAgent, sourceIp: event.sourceIp, claims: event.claims, roleArn: event.roleArn });
    }
  }

  #apply(event: GatewayEvent): void {
    reduceEvent(this, this.#internals, event);
  }

  /** What the event reducer (reduce.ts) may touch beyond the model's public state. */
  readonly #internals: ReducerInternals = (() => {
    const model = this;
    return {
      addLog: (entry: Omit<LogEntry, 'seq'>) => model.#addLog(entry),
      touch: () => model.#touch(),
      get heldLines() {
        return model.#heldLines;
      },
      get byRequest() {
        return model.#byRequest;
      },
      get requestTimes() {
        return model.#requestTimes;
      },
      get fresh() {
        return model.#fresh;
      },
      get bannerMs() {
        return model.#bannerMs;
      },
    };
  })();

  requestsPerSecond(): number {
    const cutoff = this.now() - this.#rateWindowMs;
    let drop = 0;
    while (drop < this.#requestTimes.length && this.#requestTimes[drop]! < cutoff) drop += 1;
    if (drop) this.#requestTimes.splice(0, drop);
    return this.#requestTimes.length / (this.#rateWindowMs / 1000);
  }

  /** Queue order, without approvals whose expiry passed more than `graceMs` ago (their event may be lost). */
  queue(graceMs = 5000): PendingRow[] {
    const now = this.now();
    return [...this.pending.values()].filter((p) => p.expiresAtMs + graceMs > now);
  }

  /** The approval the modal should show: `preferred` if still open, else the oldest not deferred. */
  promptFor(preferred?: string): { row: PendingRow; index: number; total: number } | undefined {
    const queue = this.queue().filter((p) => !p.deciding);
    const open = queue.filter((p) => !this.deferred.has(p.id) || p.id === preferred);
    const row = open.find((p) => p.id === preferred) ?? open.find((p) => !this.deferred.has(p.id));
    if (!row) return undefined;
    return { row, index: queue.indexOf(row), total: queue.length };
  }

  /** Banner and flash clear themselves; returns true when something changed. */
  expire(): boolean {
    const now = this.now();
    let changed = false;
    if (this.banner && this.banner.untilMs <= now) {
      this.banner = undefined;
      changed = true;
    }
    if (this.flash && this.flash.untilMs <= now) {
      this.flash = undefined;
      changed = true;
    }
    if (changed) this.#touch();
    return changed;
  }

  /** A log entry by sequence number, if still in the scrollback. */
  logEntry(seq: number): LogEntry | undefined {
    let lo = 0;
    let hi = this.log.size - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const e = this.log.at(mid)!;
      if (e.seq === seq) return e;
      if (e.seq < seq) lo = mid + 1;
      else hi = mid - 1;
    }
    return undefined;
  }

  sessionList(): SessionRow[] {
    return [...this.sessions.values()].sort((a, b) => b.startMs - a.startMs || a.sessionId.localeCompare(b.sessionId));
  }

  /** The last `limit` log entries of one session, oldest first. */
  sessionEvents(sessionId: string, limit: number): LogEntry[] {
    const out: LogEntry[] = [];
    for (let i = this.log.size - 1; i >= 0 && out.length < limit; i -= 1) {
      const e = this.log.at(i)!;
      if (e.sessionId === sessionId) out.push(e);
    }
    return out.reverse();
  }

  filteredLog(filter: string): LogEntry[] {
    const match = compileFilter(filter);
    if (!match) return this.log.toArray();
    const out: LogEntry[] = [];
    for (let i = 0; i < this.log.size; i += 1) {
      const e = this.log.at(i)!;
      if (match(e)) out.push(e);
    }
    return out;
  }
}
