// The dashboard's view model: gateway events and admin snapshots reduced into what the panels show.
// Pure (no terminal, no I/O, injected clock) so every rule is unit-tested without blessed.

import type { GatewayStatus, Grant, PendingApproval, SessionSummary } from '../admin/types.js';
import { pairsOf } from '../approval/summary.js';
import { describeStop, type GatewayEvent } from '../events.js';
import { formatDuration, formatPolicyErrors } from './format.js';
import { CallBook, maskedCount } from './calls.js';
import { compileFilter } from './log-filter.js';
import { Ring } from './ring.js';
import type { Banner, BannerKind, ConnectionState, GrantRow, LogDecision, LogEntry, PendingRow, SessionRow } from './rows.js';

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

function ms(iso: string | undefined, fallback: number): number {
  if (!iso) return fallback;
  const t = Date.parse(iso);
  return Number.isNaN(t) ? fallback : t;
}

type HeldFields = Pick<PendingApproval, 'sessionId' | 'requestId' | 'serviceAccount' | 'action' | 'resource' | 'body' | 'headers' | 'params' | 'ruleId' | 'message'> & {
  /** Older events may lack it: then the primary action and resource stand in. */
  pairs?: readonly string[];
};

/** A pending row from a snapshot entry or an `approval.proposed` event (same fields, same wording). */
function pendingRow(id: string, p: HeldFields, createdAtMs: number, expiresAtMs: number): PendingRow {
  return {
    id,
    sessionId: p.sessionId,
    requestId: p.requestId,
    serviceAccount: p.serviceAccount,
    action: p.action,
    resource: p.resource,
    pairs: pairsOf(p),
    ...(p.body ? { body: p.body } : {}),
    ...(p.headers ? { headers: p.headers } : {}),
    params: p.params,
    ruleId: p.ruleId,
    message: p.message,
    createdAtMs,
    expiresAtMs,
    deciding: false,
  };
}

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
    const at = ms(event.at, this.now());
    this.calls.apply(event, at);
    switch (event.type) {
      case 'listening':
        this.url = event.url;
        this.policyFile = event.policyFile;
        this.version = event.version;
        this.startedAtMs ??= at;
        break;
      case 'policy.loaded':
        this.policyFile = event.file;
        this.policyState = 'ok';
        this.policyRules = event.rules;
        this.banner = { kind: 'ok', text: `policy loaded: ${event.file} (${event.rules} rules, ${event.sha256.slice(0, 12)})`, untilMs: this.now() + this.#bannerMs };
        this.#addLog({ atMs: at, account: '-', action: 'policy.loaded', resource: event.file, decision: 'info', note: `${event.rules} rules` });
        break;
      case 'policy.rejected': {
        this.policyFile = event.file;
        this.policyState = 'error';
        const text = formatPolicyErrors(event.file, event.errors);
        this.banner = { kind: 'error', text, untilMs: Number.POSITIVE_INFINITY };
        this.#addLog({ atMs: at, account: '-', action: 'policy.rejected', resource: event.file, decision: 'error', note: text });
        break;
      }
      case 'session.started':
        this.sessions.set(event.sessionId, {
          sessionId: event.sessionId,
          serviceAccount: event.serviceAccount,
          startMs: at,
          expiresAtMs: ms(event.expiresAt, at),
          calls: this.sessions.get(event.sessionId)?.calls ?? 0,
          denied: this.sessions.get(event.sessionId)?.denied ?? 0,
          revoked: false,
          roleArn: event.roleArn,
          issuer: event.issuer,
          subject: event.subject,
          userAgent: event.userAgent,
          sourceIp: event.sourceIp,
          claims: event.claims,
        });
        this.#addLog({ atMs: at, sessionId: event.sessionId, account: event.serviceAccount, action: 'session.started', resource: event.roleArn, decision: 'info', note: event.sourceIp });
        break;
      case 'session.refused':
        this.#addLog({ atMs: at, account: '-', action: 'session.refused', resource: event.sourceIp ?? '-', decision: 'deny', note: `${event.code}: ${event.reason}` });
        break;
      case 'request': {
        this.#requestTimes.push(at);
        const s = this.sessions.get(event.sessionId);
        if (s) {
          s.calls += 1;
          s.lastAction = event.action;
          s.lastAtMs = at;
        }
        break;
      }
      case 'decision': {
        const decision: LogDecision = event.effect === 'allow' ? 'allow' : event.effect === 'deny' ? 'deny' : 'hold';
        if (decision === 'allow') this.counts.allowed += 1;
        if (decision === 'deny') {
          this.counts.denied += 1;
          const s = this.sessions.get(event.sessionId);
          if (s) s.denied += 1;
        }
        // A held call is logged when its hold starts (approval.proposed), not when the hold ends.
        if (decision === 'hold' && this.#heldLines.has(event.requestId)) break;
        // After a hold (or by a duration grant): a human decided, not the rule.
        const byHuman = event.via === 'grant';
        const line = this.#addLog({
          atMs: at,
          sessionId: event.sessionId,
          requestId: event.requestId,
          account: event.serviceAccount,
          action: event.action,
          resource: event.resource,
          decision: byHuman && decision === 'deny' ? 'denied' : decision,
          rule: event.ruleId,
          note: byHuman ? (decision === 'deny' ? `not approved: denied by ${event.message ?? 'an approver'}` : 'approved') : event.message,
        });
        if (decision === 'hold') this.#heldLines.set(event.requestId, line);
        break;
      }
      case 'limit.hit': {
        this.limited += 1;
        const s = event.sessionId === undefined ? undefined : this.sessions.get(event.sessionId);
        if (s) s.limited = (s.limited ?? 0) + 1;
        this.#addLog({ atMs: at, sessionId: event.sessionId, requestId: event.requestId, account: event.serviceAccount, action: event.action ?? 'limit.hit', resource: event.resource ?? '-', decision: 'deny', note: `limit ${event.limit}${event.ruleId ? ` (rule ${event.ruleId})` : ''}: ${event.message}` });
        break;
      }
      case 'limit.escalated':
        this.#addLog({ atMs: at, sessionId: event.sessionId, requestId: event.requestId, account: event.serviceAccount, action: event.action, resource: event.resource, decision: event.then === 'deny' ? 'deny' : 'hold', note: `escalated by rule ${event.ruleId}: ${event.count} within the window (after ${event.after})` });
        break;
      case 'approval.proposed': {
        const held = this.#heldLines.get(event.requestId);
        const note = `waiting for approval ${event.approvalId}${event.message ? `: ${event.message}` : ''}`;
        if (held) held.note = note;
        else {
          const line = this.#addLog({ atMs: at, sessionId: event.sessionId, requestId: event.requestId, account: event.serviceAccount, action: event.action, resource: event.resource, decision: 'hold', rule: event.ruleId, note });
          this.#heldLines.set(event.requestId, line);
        }
        if (!this.pending.has(event.approvalId)) {
          this.pending.set(event.approvalId, pendingRow(event.approvalId, event, at, ms(event.expiresAt, at)));
          this.#fresh.push(event.approvalId);
        }
        break;
      }
      case 'approval.decided': {
        const p = this.pending.get(event.approvalId);
        this.pending.delete(event.approvalId);
        this.deferred.delete(event.approvalId);
        const approved = event.decision === 'approved';
        this.#addLog({
          atMs: at,
          sessionId: p?.sessionId ?? event.sessionId,
          requestId: p?.requestId ?? this.calls.requestOf(event.approvalId),
          account: p?.serviceAccount ?? '-',
          action: p?.action ?? `approval ${event.approvalId}`,
          resource: p?.resource ?? '-',
          decision: approved ? 'approved' : 'denied',
          rule: p?.ruleId,
          note: `by ${event.by}${event.forMs ? ` for ${formatDuration(event.forMs)}` : ''}${event.reason ? `: ${event.reason}` : ''}`,
        });
        if (!approved) {
          this.counts.denied += 1;
          const s = p && this.sessions.get(p.sessionId);
          if (s) s.denied += 1;
        }
        break;
      }
      case 'approval.expired': {
        const p = this.pending.get(event.approvalId);
        this.pending.delete(event.approvalId);
        this.deferred.delete(event.approvalId);
        this.#addLog({
          atMs: at,
          sessionId: p?.sessionId ?? event.sessionId,
          account: p?.serviceAccount ?? '-',
          action: p?.action ?? `approval ${event.approvalId}`,
          resource: p?.resource ?? '-',
          decision: 'expired',
          note: 'nobody answered: denied',
        });
        break;
      }
      case 'approval.executed':
        break;
      case 'grant.created':
        this.grants.set(event.grantId, {
          id: event.grantId,
          approvalId: event.approvalId,
          sessionId: event.sessionId,
          serviceAccount: event.serviceAccount,
          pairs: [...event.pairs],
          by: event.by,
          untilMs: ms(event.until, at),
          uses: 0,
        });
        this.#addLog({
          atMs: at,
          sessionId: event.sessionId,
          account: event.serviceAccount,
          action: `grant ${event.grantId}`,
          resource: `${event.pairs.length} pair${event.pairs.length === 1 ? '' : 's'}`,
          decision: 'approved',
          note: `by ${event.by} for ${formatDuration(ms(event.until, at) - at)}`,
        });
        break;
      case 'grant.used': {
        const g = this.grants.get(event.grantId);
        if (g) g.uses += 1;
        break;
      }
      case 'grant.ended': {
        const g = this.grants.get(event.grantId);
        this.grants.delete(event.grantId);
        this.#addLog({
          atMs: at,
          sessionId: event.sessionId,
          account: g?.serviceAccount ?? '-',
          action: `grant ${event.grantId}`,
          resource: g ? `${g.pairs.length} pair${g.pairs.length === 1 ? '' : 's'}` : '-',
          decision: 'info',
          note: `ended: ${event.reason}${event.by ? ` by ${event.by}` : ''}, ${event.uses} use${event.uses === 1 ? '' : 's'}`,
        });
        break;
      }
      case 'response': {
        const entry = this.#byRequest.get(event.requestId);
        if (entry) {
          entry.latencyMs = event.durationMs;
          entry.status = event.status;
          const masked = maskedCount(event.masking);
          if (masked > 0) entry.masked = masked;
          this.#byRequest.delete(event.requestId);
        }
        break;
      }
      case 'session.revoked': {
        const s = this.sessions.get(event.sessionId);
        if (s) s.revoked = true;
        this.#addLog({ atMs: at, sessionId: event.sessionId, account: s?.serviceAccount ?? '-', action: 'session.revoked', resource: event.sessionId, decision: 'deny', note: `by ${event.by}${event.reason ? `: ${event.reason}` : ''}` });
        break;
      }
      case 'session.ended': {
        const s = this.sessions.get(event.sessionId);
        this.sessions.delete(event.sessionId);
        this.#addLog({ atMs: at, sessionId: event.sessionId, account: s?.serviceAccount ?? '-', action: 'session.ended', resource: event.sessionId, decision: 'info', note: event.reason });
        break;
      }
      case 'stopped':
        this.gatewayStopped = true;
        this.#addLog({ atMs: at, account: '-', action: 'gateway.stopped', resource: '-', decision: 'info', note: `${describeStop(event)}; ${event.requests} calls served` });
        break;
      case 'error':
        this.#addLog({ atMs: at, account: '-', action: 'error', resource: event.code ?? '-', decision: 'error', note: event.message });
        break;
      default:
        return;
    }
    this.#touch();
  }

  /** Requests per second over the rate window (older timestamps are dropped as a side effect). */
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
