// Handlers for the commands that talk to a running gateway over its admin socket:
// sessions, pending, approve, deny, revoke, grants, tail. Formatting helpers are pure and exported for tests.

import { stat } from 'node:fs/promises';
import { once } from 'node:events';
import { AdminClient } from '../admin/client.js';
import { AdminError, AdminUnavailableError } from '../admin/errors.js';
import type { ControlResult, Grant, PendingApproval, SessionSummary } from '../admin/types.js';
import { bodySummary, describePair, headerLines, pairsOf, splitPair } from '../approval/summary.js';
import { describeStop, type GatewayEvent } from '../events.js';
import { resolveStateDir } from '../state.js';
import { CliError, printJson, printLine, requireDurationMs } from './output.js';

type Opts = Record<string, unknown>;

function stringOpt(opts: Opts, name: string): string | undefined {
  const value = opts[name];
  return typeof value === 'string' ? value : undefined;
}

function clientFor(opts: Opts): AdminClient {
  return AdminClient.connect(resolveStateDir(stringOpt(opts, 'stateDir')));
}

/** Admin failures become one line and exit 1; anything else is left to main(). */
function toCliError(error: unknown): unknown {
  return error instanceof AdminError ? new CliError(error.message, 1) : error;
}

async function talk<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw toCliError(error);
  }
}

function report(result: ControlResult): void {
  if (!result.ok) throw new CliError(result.error, 1);
  printLine(result.message);
}

// ---------------------------------------------------------------------------------------------
// Pure formatting

// Event values come from client requests (S3 keys, ARNs…); a control character there must not
// drive the operator's terminal.
export function sanitize(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/** `45s`, `12m`, `3h`, `2d` (floored, one unit). */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h`;
  return `${Math.floor(h / 24)}d`;
}

/** Columns padded to their widest cell, two spaces apart; the last column is not padded. */
export function formatTable(header: string[], rows: string[][]): string {
  const all = [header, ...rows.map((row) => row.map(sanitize))];
  const widths = header.map((_, i) => Math.max(...all.map((row) => (row[i] ?? '').length)));
  return all
    .map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  '))
    .join('\n');
}

export function sessionState(s: SessionSummary, nowMs: number): 'active' | 'revoked' | 'expired' | 'ended' {
  if (s.revoked) return 'revoked';
  if (s.active) return 'active';
  return Date.parse(s.expiresAt) <= nowMs ? 'expired' : 'ended';
}

export function formatSessions(sessions: SessionSummary[], nowMs: number): string {
  if (sessions.length === 0) return 'no sessions';
  return formatTable(
    ['ID', 'ACCOUNT', 'AGE', 'CALLS', 'DENIED', 'LAST ACTION', 'STATE'],
    sessions.map((s) => [
      s.sessionId,
      s.serviceAccount,
      formatDuration(nowMs - Date.parse(s.start)),
      String(s.calls),
      String(s.denied),
      s.lastAction ?? '-',
      sessionState(s, nowMs),
    ]),
  );
}

export function formatPending(pending: PendingApproval[], nowMs: number): string {
  if (pending.length === 0) return 'no pending approvals';
  const table = formatTable(
    ['ID', 'ACCOUNT', 'ACTION', 'RESOURCE', 'RULE', 'EXPIRES IN'],
    pending.map((p) => {
      const left = Date.parse(p.expiresAt) - nowMs;
      return [p.id, p.serviceAccount, p.action, p.resource, p.ruleId, left > 0 ? formatDuration(left) : 'expired'];
    }),
  );
  return [table, ...pending.map(formatBound)].join('\n\n');
}

/** Everything an approval of this call is bound to: each pair, the body, the headers that change its effect, the parameters. */
export function formatBound(p: PendingApproval): string {
  const pairs = pairsOf(p).map(splitPair);
  const actionWidth = Math.max(...pairs.map((pair) => pair.action.length));
  const lines = [`approval ${p.id} (${p.serviceAccount}, session ${p.sessionId}, rule ${p.ruleId}) covers exactly:`];
  for (const pair of pairs) lines.push(`  ${pair.action.padEnd(actionWidth)}  on ${pair.resource}`);
  lines.push(`  body     ${bodySummary(p.body)}${p.body && p.body.bytes > 0 ? ` (sha256 ${p.body.sha256})` : ''}`);
  const headers = headerLines(p.headers);
  lines.push(`  headers  ${headers.length === 0 ? 'none that change the effect' : headers[0]}`);
  for (const h of headers.slice(1)) lines.push(`           ${h}`);
  lines.push(`  params   ${p.params === undefined ? '(none)' : typeof p.params === 'string' ? p.params : JSON.stringify(p.params)} (masked)`);
  if (p.message) lines.push(`  note     ${p.message}`);
  return lines.map(sanitize).join('\n');
}

export function formatGrants(grants: Grant[], nowMs: number): string {
  if (grants.length === 0) return 'no live grants';
  const rows: string[][] = [];
  for (const g of grants) {
    const left = Date.parse(g.until) - nowMs;
    const pairs = g.pairs.map(describePair);
    rows.push([g.id, g.by, g.serviceAccount, `${clock(g.until)} (${left > 0 ? formatDuration(left) : 'ended'})`, String(g.uses), pairs[0] ?? '-']);
    for (const pair of pairs.slice(1)) rows.push(['', '', '', '', '', pair]);
  }
  return formatTable(['ID', 'BY', 'ACCOUNT', 'UNTIL', 'USES', 'PAIRS'], rows);
}

function clock(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '--:--:--';
  return [d.getHours(), d.getMinutes(), d.getSeconds()].map((n) => String(n).padStart(2, '0')).join(':');
}

const DECISION_LABEL = { allow: 'ALLOW', deny: 'DENY', approve: 'HELD' } as const;

/**
 * Turns the event stream into one human line per call (`HH:MM:SS account action resource DECISION
 * status latency`, written when the response goes out) plus one line per session, approval and
 * policy event. Requests and decisions are folded into their response line.
 */
export class TailFormatter {
  readonly #decisions = new Map<string, string>();
  readonly #maxPending: number;

  constructor(maxPending = 10_000) {
    this.#maxPending = maxPending;
  }

  line(event: GatewayEvent): string | undefined {
    const text = this.#text(event);
    return text === undefined ? undefined : sanitize(`${clock(event.at)} ${text}`);
  }

  #text(e: GatewayEvent): string | undefined {
    switch (e.type) {
      case 'request':
        return undefined;
      case 'decision': {
        const label = e.via === 'grant' ? 'GRANT' : DECISION_LABEL[e.effect];
        this.#decisions.set(e.requestId, label);
        // Bounded: a request whose response never comes must not pin memory forever.
        if (this.#decisions.size > this.#maxPending) this.#decisions.delete(this.#decisions.keys().next().value!);
        return undefined;
      }
      case 'response': {
        const decision = this.#decisions.get(e.requestId) ?? '-';
        this.#decisions.delete(e.requestId);
        return `${e.serviceAccount} ${e.action} ${e.resource} ${decision} ${e.status} ${e.durationMs}ms`;
      }
      case 'listening':
        return `gateway listening on ${e.url} (policy ${e.policyFile})${e.upstream?.identity ? `; upstream identity ${e.upstream.identity}` : ''}${e.upstream?.problem ? `; UPSTREAM PROBLEM: ${e.upstream.problem}` : ''}`;
      case 'policy.loaded':
        return `policy loaded ${e.file} (${e.rules} rules, ${e.serviceAccounts} service accounts, sha256 ${e.sha256.slice(0, 12)})${e.endedSessions ? `; ended ${e.endedSessions} live session(s) no longer in the policy` : ''}`;
      case 'policy.rejected': {
        const first = e.errors[0];
        const where = first ? `${first.file}:${first.line}:${first.column} ${first.path}: ${first.message}` : 'invalid';
        const more = e.errors.length > 1 ? ` (+${e.errors.length - 1} more)` : '';
        return `policy REJECTED ${e.file}: ${where}${more}; the last good policy stays in force`;
      }
      case 'session.started':
        return `${e.serviceAccount} session ${e.sessionId} started (role ${e.roleArn}, expires ${clock(e.expiresAt)})`;
      case 'session.refused':
        return `- session refused: ${e.reason} (${e.code})`;
      case 'approval.proposed':
        return `${e.serviceAccount} ${e.action} ${e.resource} PENDING approval ${e.approvalId} (rule ${e.ruleId})`;
      case 'approval.decided':
        return `- approval ${e.approvalId} ${e.decision} by ${e.by}${e.forMs ? ` for ${formatDuration(e.forMs)}` : ''}${e.reason ? `: ${e.reason}` : ''}`;
      case 'approval.expired':
        return `- approval ${e.approvalId} expired (denied)`;
      case 'approval.executed':
        return `- approval ${e.approvalId} executed (request ${e.requestId})`;
      case 'grant.created':
        return `${e.serviceAccount} GRANT ${e.grantId} created by ${e.by} from approval ${e.approvalId} until ${clock(e.until)}: ${e.pairs.map(describePair).join(', ')}`;
      case 'grant.used':
        return `- grant ${e.grantId} used by request ${e.requestId} (session ${e.sessionId})`;
      case 'grant.ended':
        return `- grant ${e.grantId} ended (${e.reason}${e.by ? ` by ${e.by}` : ''}) after ${e.uses} use(s)`;
      case 'session.revoked':
        return `- session ${e.sessionId} revoked by ${e.by}${e.reason ? `: ${e.reason}` : ''}`;
      case 'session.ended':
        return `- session ${e.sessionId} ended (${e.reason})`;
      case 'error':
        return `- error: ${e.message}${e.code ? ` (${e.code})` : ''}`;
      case 'stopped':
        return `- gateway stopped after ${formatDuration(e.uptimeMs)}: ${describeStop(e)} (${e.requests} calls served)`;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Commands

interface IndexedSession {
  id: string;
  serviceAccount: string;
  roleArn: string;
  start: string;
  expiresAt: string;
  counts: { calls: number; denied: number };
  revoked: boolean;
  active: boolean;
}

/** Without a running gateway, the recording index still knows the sessions (without live counts). */
async function sessionsFromIndex(stateDir: string, active: boolean): Promise<SessionSummary[] | undefined> {
  try {
    if (!(await stat(stateDir)).isDirectory()) return undefined;
  } catch {
    return undefined;
  }
  let listSessions: (dir: string, options: { active?: boolean }) => Promise<IndexedSession[]>;
  try {
    ({ listSessions } = await import('../recording/index-db.js'));
  } catch {
    return undefined;
  }
  const records = await listSessions(stateDir, { active });
  return records.map((r) => ({
    sessionId: r.id,
    serviceAccount: r.serviceAccount,
    roleArn: r.roleArn,
    start: r.start,
    expiresAt: r.expiresAt,
    calls: r.counts.calls,
    denied: r.counts.denied,
    revoked: r.revoked,
    active: r.active,
  }));
}

export async function sessions(opts: Opts): Promise<void> {
  const active = opts.active === true;
  const client = clientFor(opts);
  let list: SessionSummary[];
  try {
    list = await client.sessions({ active });
  } catch (error) {
    if (!(error instanceof AdminUnavailableError)) throw toCliError(error);
    const fromIndex = await sessionsFromIndex(client.stateDir, active);
    if (!fromIndex) throw new CliError(error.message, 1);
    process.stderr.write(`portcullis: no gateway is running with state dir ${client.stateDir}; listing recorded sessions\n`);
    list = fromIndex;
  }
  if (opts.json === true) printJson(list);
  else printLine(formatSessions(list, Date.now()));
}

export async function pending(opts: Opts): Promise<void> {
  const list = await talk(() => clientFor(opts).pending());
  if (opts.json === true) printJson(list);
  else printLine(formatPending(list, Date.now()));
}

export async function approve(id: string, opts: Opts): Promise<void> {
  const forText = stringOpt(opts, 'for');
  const forMs = forText === undefined ? undefined : requireDurationMs(forText, '--for');
  const reason = stringOpt(opts, 'reason');
  report(
    await talk(() =>
      clientFor(opts).approve(id, { ...(forMs === undefined ? {} : { forMs }), ...(reason === undefined ? {} : { reason }) }),
    ),
  );
}

export async function deny(id: string, opts: Opts): Promise<void> {
  const reason = stringOpt(opts, 'reason');
  report(await talk(() => clientFor(opts).deny(id, reason === undefined ? {} : { reason })));
}

export async function revoke(session: string | undefined, opts: Opts): Promise<void> {
  const account = stringOpt(opts, 'serviceAccount');
  if ((session === undefined) === (account === undefined)) {
    throw new CliError('revoke: give either a SESSION id or --service-account NAME (exactly one)', 2);
  }
  const client = clientFor(opts);
  const reason = stringOpt(opts, 'reason');
  report(await talk(() => (session !== undefined ? client.revokeSession(session, undefined, reason) : client.revokeServiceAccount(account!, undefined, reason))));
}

export async function grants(opts: Opts): Promise<void> {
  const list = await talk(() => clientFor(opts).grants());
  if (opts.json === true) printJson(list);
  else printLine(formatGrants(list, Date.now()));
}

export async function revokeGrant(id: string, opts: Opts): Promise<void> {
  report(await talk(() => clientFor(opts).revokeGrant(id)));
}

export async function tail(opts: Opts): Promise<void> {
  const session = stringOpt(opts, 'session');
  const json = opts.json === true;
  const client = clientFor(opts);
  const controller = new AbortController();
  const stop = (): void => controller.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  // `portcullis tail | head` closes our stdout: that is a normal way to stop.
  const onStdoutError = (error: NodeJS.ErrnoException): void => {
    if (error.code === 'EPIPE') stop();
  };
  process.stdout.on('error', onStdoutError);
  const formatter = new TailFormatter();
  if (session !== undefined) {
    // An unknown session would wait forever for events that never come.
    const known = await talk(() => client.sessions());
    if (!known.some((s) => s.sessionId === session)) throw new CliError(`tail: no session ${session} on this gateway (see portcullis sessions)`, 1);
  }
  try {
    await talk(async () => {
      for await (const event of client.events({ ...(session === undefined ? {} : { session }), signal: controller.signal })) {
        const line = json ? JSON.stringify(event) : formatter.line(event);
        if (line === undefined) continue;
        // Waiting for stdout lets the socket push back, so a stalled pipe ends in the gateway's
        // overflow line rather than in unbounded memory here.
        if (!process.stdout.write(`${line}\n`)) await Promise.race([once(process.stdout, 'drain'), once(controller.signal, 'abort')]);
        if (controller.signal.aborted) break;
      }
    });
    if (!controller.signal.aborted) throw new CliError('the gateway closed the event stream (it stopped)', 1);
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    process.stdout.off('error', onStdoutError);
  }
}
