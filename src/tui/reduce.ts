// The event reducer of the dashboard model: one gateway event into the panels' state (sessions, log, queue, grants,
// header). Pure like the model; split out of model.ts, which keeps the snapshots and the queries.

import type { PendingApproval } from '../admin/types.js';
import { pairsOf } from '../approval/summary.js';
import { describeStop, type GatewayEvent } from '../events.js';
import { maskedCount } from './calls.js';
import { formatDuration, formatPolicyErrors } from './format.js';
import type { DashboardModel } from './model.js';
import type { LogDecision, LogEntry, PendingRow } from './rows.js';

export function ms(iso: string | undefined, fallback: number): number {
  if (!iso) return fallback;
  const t = Date.parse(iso);
  return Number.isNaN(t) ? fallback : t;
}

export type HeldFields = Pick<PendingApproval, 'sessionId' | 'requestId' | 'serviceAccount' | 'action' | 'resource' | 'body' | 'headers' | 'params' | 'ruleId' | 'message'> & {
  /** Older events may lack it: then the primary action and resource stand in. */
  pairs?: readonly string[];
};

/** A pending row from a snapshot entry or an `approval.proposed` event (same fields, same wording). */
export function pendingRow(id: string, p: HeldFields, createdAtMs: number, expiresAtMs: number): PendingRow {
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

export interface ReducerInternals {
  addLog(entry: Omit<LogEntry, 'seq'>): LogEntry;
  touch(): void;
  readonly heldLines: Map<string, LogEntry>;
  readonly byRequest: Map<string, LogEntry>;
  readonly requestTimes: number[];
  readonly fresh: string[];
  readonly bannerMs: number;
}

export function reduceEvent(m: DashboardModel, i: ReducerInternals, event: GatewayEvent): void {
    const at = ms(event.at, m.now());
    m.calls.apply(event, at);
    switch (event.type) {
      case 'listening':
        m.url = event.url;
        m.policyFile = event.policyFile;
        m.version = event.version;
        m.startedAtMs ??= at;
        if (event.upstream?.problem) m.banner = { kind: 'error', text: `upstream: ${event.upstream.problem}`, untilMs: Number.POSITIVE_INFINITY };
        break;
      case 'policy.loaded':
        m.policyFile = event.file;
        m.policyState = 'ok';
        m.policyRules = event.rules;
        m.banner = { kind: 'ok', text: `policy loaded: ${event.file} (${event.rules} rules, ${event.sha256.slice(0, 12)})`, untilMs: m.now() + i.bannerMs };
        i.addLog({ atMs: at, account: '-', action: 'policy.loaded', resource: event.file, decision: 'info', note: `${event.rules} rules` });
        break;
      case 'policy.rejected': {
        m.policyFile = event.file;
        m.policyState = 'error';
        const text = formatPolicyErrors(event.file, event.errors);
        m.banner = { kind: 'error', text, untilMs: Number.POSITIVE_INFINITY };
        i.addLog({ atMs: at, account: '-', action: 'policy.rejected', resource: event.file, decision: 'error', note: text });
        break;
      }
      case 'session.started':
        m.sessions.set(event.sessionId, {
          sessionId: event.sessionId,
          serviceAccount: event.serviceAccount,
          startMs: at,
          expiresAtMs: ms(event.expiresAt, at),
          calls: m.sessions.get(event.sessionId)?.calls ?? 0,
          denied: m.sessions.get(event.sessionId)?.denied ?? 0,
          revoked: false,
          roleArn: event.roleArn,
          issuer: event.issuer,
          subject: event.subject,
          userAgent: event.userAgent,
          sourceIp: event.sourceIp,
          claims: event.claims,
        });
        i.addLog({ atMs: at, sessionId: event.sessionId, account: event.serviceAccount, action: 'session.started', resource: event.roleArn, decision: 'info', note: event.sourceIp });
        break;
      case 'session.refused':
        i.addLog({ atMs: at, account: '-', action: 'session.refused', resource: event.sourceIp ?? '-', decision: 'deny', note: `${event.code}: ${event.reason}` });
        break;
      case 'request': {
        i.requestTimes.push(at);
        const s = m.sessions.get(event.sessionId);
        if (s) {
          s.calls += 1;
          s.lastAction = event.action;
          s.lastAtMs = at;
        }
        break;
      }
      case 'decision': {
        const decision: LogDecision = event.effect === 'allow' ? 'allow' : event.effect === 'deny' ? 'deny' : 'hold';
        if (decision === 'allow') m.counts.allowed += 1;
        if (decision === 'deny') {
          m.counts.denied += 1;
          const s = m.sessions.get(event.sessionId);
          if (s) s.denied += 1;
        }
        // A held call is logged when its hold starts (approval.proposed), not when the hold ends.
        if (decision === 'hold' && i.heldLines.has(event.requestId)) break;
        // After a hold (or by a duration grant): a human decided, not the rule.
        const byHuman = event.via === 'grant';
        const line = i.addLog({
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
        if (decision === 'hold') i.heldLines.set(event.requestId, line);
        break;
      }
      case 'limit.hit': {
        m.limited += 1;
        const s = event.sessionId === undefined ? undefined : m.sessions.get(event.sessionId);
        if (s) s.limited = (s.limited ?? 0) + 1;
        i.addLog({ atMs: at, sessionId: event.sessionId, requestId: event.requestId, account: event.serviceAccount, action: event.action ?? 'limit.hit', resource: event.resource ?? '-', decision: 'deny', note: `limit ${event.limit}${event.ruleId ? ` (rule ${event.ruleId})` : ''}: ${event.message}` });
        break;
      }
      case 'limit.escalated':
        i.addLog({ atMs: at, sessionId: event.sessionId, requestId: event.requestId, account: event.serviceAccount, action: event.action, resource: event.resource, decision: event.then === 'deny' ? 'deny' : 'hold', note: `escalated by rule ${event.ruleId}: ${event.count} within the window (after ${event.after})` });
        break;
      case 'approval.proposed': {
        const held = i.heldLines.get(event.requestId);
        const note = `waiting for approval ${event.approvalId}${event.message ? `: ${event.message}` : ''}`;
        if (held) held.note = note;
        else {
          const line = i.addLog({ atMs: at, sessionId: event.sessionId, requestId: event.requestId, account: event.serviceAccount, action: event.action, resource: event.resource, decision: 'hold', rule: event.ruleId, note });
          i.heldLines.set(event.requestId, line);
        }
        if (!m.pending.has(event.approvalId)) {
          m.pending.set(event.approvalId, pendingRow(event.approvalId, event, at, ms(event.expiresAt, at)));
          i.fresh.push(event.approvalId);
        }
        break;
      }
      case 'approval.decided': {
        const p = m.pending.get(event.approvalId);
        m.pending.delete(event.approvalId);
        m.deferred.delete(event.approvalId);
        const approved = event.decision === 'approved';
        i.addLog({
          atMs: at,
          sessionId: p?.sessionId ?? event.sessionId,
          requestId: p?.requestId ?? m.calls.requestOf(event.approvalId),
          account: p?.serviceAccount ?? '-',
          action: p?.action ?? `approval ${event.approvalId}`,
          resource: p?.resource ?? '-',
          decision: approved ? 'approved' : 'denied',
          rule: p?.ruleId,
          note: `by ${event.by}${event.forMs ? ` for ${formatDuration(event.forMs)}` : ''}${event.reason ? `: ${event.reason}` : ''}`,
        });
        if (!approved) {
          m.counts.denied += 1;
          const s = p && m.sessions.get(p.sessionId);
          if (s) s.denied += 1;
        }
        break;
      }
      case 'approval.expired': {
        const p = m.pending.get(event.approvalId);
        m.pending.delete(event.approvalId);
        m.deferred.delete(event.approvalId);
        i.addLog({
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
        m.grants.set(event.grantId, {
          id: event.grantId,
          approvalId: event.approvalId,
          sessionId: event.sessionId,
          serviceAccount: event.serviceAccount,
          pairs: [...event.pairs],
          by: event.by,
          untilMs: ms(event.until, at),
          uses: 0,
        });
        i.addLog({
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
        const g = m.grants.get(event.grantId);
        if (g) g.uses += 1;
        break;
      }
      case 'grant.ended': {
        const g = m.grants.get(event.grantId);
        m.grants.delete(event.grantId);
        i.addLog({
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
        const entry = i.byRequest.get(event.requestId);
        if (entry) {
          entry.latencyMs = event.durationMs;
          entry.status = event.status;
          const masked = maskedCount(event.masking);
          if (masked > 0) entry.masked = masked;
          i.byRequest.delete(event.requestId);
        }
        break;
      }
      case 'session.revoked': {
        const s = m.sessions.get(event.sessionId);
        if (s) s.revoked = true;
        i.addLog({ atMs: at, sessionId: event.sessionId, account: s?.serviceAccount ?? '-', action: 'session.revoked', resource: event.sessionId, decision: 'deny', note: `by ${event.by}${event.reason ? `: ${event.reason}` : ''}` });
        break;
      }
      case 'session.ended': {
        const s = m.sessions.get(event.sessionId);
        m.sessions.delete(event.sessionId);
        i.addLog({ atMs: at, sessionId: event.sessionId, account: s?.serviceAccount ?? '-', action: 'session.ended', resource: event.sessionId, decision: 'info', note: event.reason });
        break;
      }
      case 'stopped':
        m.gatewayStopped = true;
        i.addLog({ atMs: at, account: '-', action: 'gateway.stopped', resource: '-', decision: 'info', note: `${describeStop(event)}; ${event.requests} calls served` });
        break;
      case 'error':
        i.addLog({ atMs: at, account: '-', action: 'error', resource: event.code ?? '-', decision: 'error', note: event.message });
        break;
      default:
        return;
    }
    i.touch();
  }
