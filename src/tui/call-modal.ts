// The call detail (Enter on a log row): who, what, every pair with the rule that decided it, the approval's history,
// timings, the masked parameters and response excerpt, and what masking did. Pure, like modals.ts.

import type { CallRecord } from './calls.js';
import { maskedCount } from './calls.js';
import type { MaskingReport } from '../events.js';
import { formatDuration } from './format.js';
import { truncate } from './layout.js';
import type { DashboardModel } from './model.js';
import type { ModalText } from './modals.js';
import { wrapCells } from './modals.js';
import type { LogEntry } from './rows.js';
import type { Theme, ThemeRole } from './theme.js';
import { DECISION_LABEL, DECISION_ROLE, formatLatency, styled, timeOfDay } from './view.js';

const LABEL = 12;
const EFFECT_ROLE: Record<string, ThemeRole> = { allow: 'allow', deny: 'deny', approve: 'hold' };

/** `3 values masked: SecretString ×1, aws-access-key ×2`, or why nothing was. */
export function describeMasking(report: MaskingReport | undefined): string {
  if (!report) return 'no report (no response body, or an older gateway)';
  const n = maskedCount(report);
  const parts = [...Object.entries(report.fields), ...Object.entries(report.detectors)].filter(([, c]) => c > 0).map(([name, c]) => `${name} ×${c}`);
  const skipped = report.skipped && report.skipped !== 'none' ? ` (body not inspected: ${report.skipped})` : '';
  if (n === 0) return `nothing masked${skipped}`;
  return `${n} value${n === 1 ? '' : 's'} masked: ${parts.join(', ')}${skipped}`;
}

function jsonLines(value: unknown): string[] {
  if (value === undefined) return ['(none)'];
  let text: string;
  try {
    text = typeof value === 'string' ? value : (JSON.stringify(value, null, 2) ?? String(value));
  } catch {
    text = String(value);
  }
  return text.split('\n');
}

/** Every line of the detail, before scrolling. */
export function callDetails(entry: LogEntry, call: CallRecord | undefined, theme: Theme, inner: number): string[] {
  const lines: string[] = [];
  const valueWidth = Math.max(10, inner - LABEL - 1);
  const field = (name: string, value: string, role?: ThemeRole): void => {
    wrapCells(value, valueWidth).forEach((piece, i) => lines.push(styled([[` ${(i === 0 ? name : '').padEnd(LABEL)}`, 'dim'], [piece, role]], inner, theme)));
  };
  const heading = (text: string) => lines.push(styled([[` ${text}`, 'title']], inner, theme));
  const block = (text: string[], role?: ThemeRole) => {
    for (const l of text) for (const piece of wrapCells(l, inner - 4)) lines.push(styled([[`   ${piece}`, role]], inner, theme));
  };
  field('Account', entry.account, 'title');
  field('Action', call?.action ?? entry.action, 'hold');
  field('Resource', call?.resource ?? entry.resource);
  field('Outcome', `${DECISION_LABEL[entry.decision]}${entry.rule ? ` — rule ${entry.rule}` : ''}${entry.note ? ` — ${entry.note}` : ''}`, DECISION_ROLE[entry.decision]);
  field('At', `${timeOfDay(entry.atMs)}${entry.sessionId ? `  session ${entry.sessionId}` : ''}${entry.requestId ? `  request ${entry.requestId}` : ''}`);
  if (!call) {
    if (entry.requestId) lines.push(styled([[' (no more detail: the call is older than what the dashboard keeps)', 'dim']], inner, theme));
    return lines;
  }
  if (call.region || call.sourceIp) field('From', `${call.sourceIp ?? '?'}${call.region ? `  region ${call.region}` : ''}`);
  const decision = call.decisions.at(-1);
  if (decision) {
    heading(`Pairs decided (${decision.pairs.length})`);
    for (const p of decision.pairs) {
      wrapCells(`${p.action} on ${p.resource}  (rule ${p.ruleId})`, inner - 10).forEach((piece, i) =>
        lines.push(styled([[i === 0 ? `   ${p.effect.toUpperCase().padEnd(7)}` : ' '.repeat(10), EFFECT_ROLE[p.effect]], [piece]], inner, theme)),
      );
    }
    if (decision.message) field('Message', decision.message);
  }
  const a = call.approval;
  if (a) {
    heading(`Approval ${a.id}`);
    field('Held', `${timeOfDay(a.proposedAtMs)} by rule ${a.ruleId}${a.message ? `: ${a.message}` : ''}`, 'hold');
    if (a.decided) {
      const after = formatDuration(a.decided.atMs - a.proposedAtMs);
      field(a.decided.decision === 'approved' ? 'Approved' : 'Denied', `${timeOfDay(a.decided.atMs)} by ${a.decided.by} after ${after}${a.decided.forMs ? `, for ${formatDuration(a.decided.forMs)}` : ''}${a.decided.reason ? `: ${a.decided.reason}` : ''}`, a.decided.decision === 'approved' ? 'approved' : 'deny');
    } else if (a.expiredAtMs !== undefined) field('Expired', `${timeOfDay(a.expiredAtMs)}: nobody answered, denied`, 'deny');
    else field('State', `waiting (expires ${timeOfDay(a.expiresAtMs)})`, 'hold');
    if (a.executedAtMs !== undefined) field('Executed', timeOfDay(a.executedAtMs), 'approved');
  }
  heading('Timings');
  const t0 = call.requestAtMs ?? decision?.atMs ?? entry.atMs;
  field('Request', timeOfDay(t0));
  if (decision) field('Decided', `+${formatLatency(decision.atMs - t0)}`);
  if (call.response) {
    field('Response', `+${formatLatency(call.response.atMs - t0)}: ${call.response.status}${call.response.errorCode ? ` ${call.response.errorCode}` : ''}, ${call.response.bytes} bytes, ${formatLatency(call.response.durationMs)} end to end`);
    field('Masking', describeMasking(call.response.masking), maskedCount(call.response.masking) > 0 ? 'hold' : undefined);
  } else field('Response', 'none yet');
  heading('Parameters (masked)');
  block(jsonLines(call.params));
  if (call.response?.bodyExcerpt !== undefined) {
    heading('Response excerpt (masked)');
    block(jsonLines(call.response.bodyExcerpt));
  }
  return lines;
}

export function callModal(seq: number, scroll: number, model: DashboardModel, theme: Theme, screenWidth: number, screenHeight: number): ModalText {
  const width = Math.min(110, screenWidth - 4);
  const inner = width - 4;
  const entry = model.logEntry(seq);
  if (!entry) return { label: ' Call ', lines: [styled([[' This line left the scrollback.', 'dim']], inner, theme)], width };
  const details = callDetails(entry, model.calls.get(entry.requestId), theme, inner);
  const room = Math.max(3, screenHeight - 4);
  let lines = details;
  let scrollMax = 0;
  if (details.length > room) {
    const visible = room - 1;
    scrollMax = details.length - visible;
    const top = Math.min(scroll, scrollMax);
    lines = details.slice(top, top + visible);
    lines.push(styled([[` ↑↓ PgUp PgDn scroll · ${top} above · ${details.length - top - visible} below`, 'hold']], inner, theme));
  }
  const label = ` Call ${truncate(`${entry.action}${entry.requestId ? ` ${entry.requestId}` : ''}`, Math.max(10, width - 12))} `;
  return { label, lines, width, scrollMax };
}
