// The text of the dashboard's modal boxes: the approval prompt, confirmations, help, session detail, and the
// too-small notice. Pure, like view.ts, whose styling helpers it uses.

import type { ApprovalButton, Overlay, StopButton, UiState } from './controller.js';
import { APPROVAL_BUTTONS, STOP_BUTTONS } from './controller.js';
import { describeStop } from '../events.js';
import { bodySummary, describePair, headerLines } from '../approval/summary.js';
import { formatDuration, secondsLeft } from './format.js';
import { cell, MIN_HEIGHT, MIN_WIDTH, sanitize, truncate } from './layout.js';
import type { DashboardModel } from './model.js';
import type { PendingRow } from './rows.js';
import type { Theme, ThemeRole } from './theme.js';
import { DECISION_LABEL, DECISION_ROLE, formatLatency, styled, timeOfDay, type Seg } from './view.js';

export interface ModalText {
  label: string;
  lines: string[];
  width: number;
  /** How far the content can scroll (approval prompt taller than the screen); 0 or absent when it fits. */
  scrollMax?: number;
}

const BUTTON_TEXT: Record<ApprovalButton, string> = {
  approve: '[a] Approve once',
  approveFor: '[A] Approve for…',
  deny: '[d] Deny',
  later: '[Esc] Later',
};

/** Most parameter lines a prompt lists (the full masked set is in `portcullis pending --json`). */
const MAX_PARAM_LINES = 200;

function paramLines(params: unknown, width: number): string[] {
  if (params === undefined) return ['(none)'];
  let text: string;
  try {
    text = typeof params === 'string' ? params : (JSON.stringify(params, null, 2) ?? String(params));
  } catch {
    text = String(params);
  }
  const lines = text.split('\n').map((l) => truncate(l, width));
  if (lines.length <= MAX_PARAM_LINES) return lines;
  return [...lines.slice(0, MAX_PARAM_LINES - 1), `… (+${lines.length - MAX_PARAM_LINES + 1} more lines)`];
}

/**
 * Wraps text into pieces of at most `width` cells, never dropping a character: breaks after the last space, `/` or `:`
 * in the second half of a piece when there is one (ARNs and keys read better cut at a separator), else hard.
 */
export function wrapCells(text: string, width: number): string[] {
  let rest = sanitize(text);
  if (width <= 0) return [rest];
  const out: string[] = [];
  while (rest.length > width) {
    let cut = width;
    for (let i = width - 1; i >= Math.floor(width / 2); i -= 1) {
      if (rest[i] === ' ' || rest[i] === '/' || rest[i] === ':') {
        cut = i + 1;
        break;
      }
    }
    out.push(rest.slice(0, cut));
    rest = rest.slice(cut);
  }
  out.push(rest);
  return out;
}

const LABEL_CELLS = 17;

/**
 * What the approver is asked about, line by line: who and what, then every pair the approval covers (wrapped, never
 * cut: a cut resource would hide what is bound), the body's size and hash, the effect-changing headers, the masked
 * parameters.
 */
export function approvalDetails(row: PendingRow, theme: Theme, inner: number): string[] {
  const lines: string[] = [];
  const valueWidth = Math.max(10, inner - LABEL_CELLS);
  const field = (name: string, value: string, role?: ThemeRole, wrap = false): void => {
    const pieces = wrap ? wrapCells(value, valueWidth) : [value];
    pieces.forEach((piece, i) => lines.push(styled([[` ${(i === 0 ? name : '').padEnd(LABEL_CELLS - 1)}`, 'dim'], [piece, role]], inner, theme)));
  };
  field('Service account', row.serviceAccount, 'title');
  field('Action', row.action, 'hold');
  field('Resource', row.resource, undefined, true);
  // Why it was held: the rule, and its message (or the escalation's, which arrives as the decision message).
  field('Held by rule', `${row.ruleId}${row.message ? ` — ${row.message}` : ''}`, 'hold', true);
  field('Session', `${row.sessionId}  (approval ${row.id})`);
  row.pairs.forEach((pair, i) => field(i === 0 ? `Covers ${row.pairs.length} pair${row.pairs.length === 1 ? '' : 's'}` : '', describePair(pair), 'hold', true));
  field('Body', bodySummary(row.body));
  const headers = headerLines(row.headers);
  if (headers.length === 0) field('Headers', 'none that change the effect', 'dim');
  headers.forEach((h, i) => field(i === 0 ? 'Headers' : '', h, undefined, true));
  lines.push(styled([[' Parameters (masked)', 'dim']], inner, theme));
  for (const l of paramLines(row.params, inner - 3)) lines.push(styled([[`   ${l}`]], inner, theme));
  return lines;
}

export function approvalModal(row: PendingRow, index: number, total: number, ui: UiState, model: DashboardModel, theme: Theme, screenWidth: number, screenHeight: number): ModalText {
  const width = Math.min(80, screenWidth - 4);
  const inner = width - 4;
  const left = secondsLeft(row.expiresAtMs, model.now());
  const details = approvalDetails(row, theme, inner);
  // The box is at most screenHeight - 2 tall (2 border rows); the answer part below the details takes 3 lines.
  const room = Math.max(2, screenHeight - 4 - 3);
  let lines: string[];
  let scrollMax = 0;
  if (details.length <= room) lines = details;
  else {
    const visible = room - 1;
    scrollMax = details.length - visible;
    const top = Math.min(ui.approval.scroll, scrollMax);
    const below = details.length - top - visible;
    lines = details.slice(top, top + visible);
    lines.push(styled([[` ↑↓ scroll · ${top} line${top === 1 ? '' : 's'} above · ${below} below`, 'hold']], inner, theme));
  }
  lines.push('');
  const a = ui.approval;
  if (a.step === 'choose') {
    const segs: Seg[] = [[' ']];
    for (const b of APPROVAL_BUTTONS) {
      segs.push([` ${BUTTON_TEXT[b]} `, b === a.button ? 'buttonFocus' : 'button'], [' ']);
    }
    lines.push(styled(segs, inner, theme));
    lines.push(styled([[' Tab/←→ move · Enter chooses · n/p next/previous · no answer = denied', 'dim']], inner, theme));
  } else {
    const question = a.step === 'duration' ? 'Approve for how long? (e.g. 10m, 1h): ' : 'Reason for denying (Enter skips): ';
    lines.push(styled([[` ${question}`, 'title'], [`${a.input}█`]], inner, theme));
    lines.push(a.error ? styled([[` ${a.error}`, 'error']], inner, theme) : styled([[` Enter ${a.step === 'duration' ? 'approves' : 'denies'} · Esc goes back`, 'dim']], inner, theme));
  }
  const label = ` Approval ${index + 1} of ${total} — ${left > 0 ? `${left}s left` : 'expired'} `;
  return { label, lines, width, scrollMax };
}

export function confirmModal(overlay: Extract<Overlay, { kind: 'confirm-revoke' | 'confirm-revoke-grant' | 'confirm-quit' }>, model: DashboardModel, theme: Theme, screenWidth: number): ModalText {
  const width = Math.min(70, screenWidth - 4);
  const inner = width - 4;
  const lines: string[] = [''];
  let confirmText: string;
  let label: string;
  if (overlay.kind === 'confirm-revoke') {
    const s = model.sessions.get(overlay.sessionId);
    label = ' Revoke session ';
    lines.push(styled([[` Revoke ${overlay.sessionId}${s ? ` (${s.serviceAccount})` : ''}?`, 'title']], inner, theme));
    lines.push(styled([[' Its credentials stop working at once; calls in flight are denied.']], inner, theme));
    confirmText = ' Revoke ';
  } else if (overlay.kind === 'confirm-revoke-grant') {
    const g = model.grants.get(overlay.grantId);
    label = ' End grant ';
    lines.push(styled([[` End grant ${overlay.grantId}${g ? ` (${g.serviceAccount}, approved by ${g.by})` : ''}?`, 'title']], inner, theme));
    for (const pair of (g?.pairs ?? []).slice(0, 6)) lines.push(styled([[`   ${describePair(pair)}`]], inner, theme));
    if (g && g.pairs.length > 6) lines.push(styled([[`   … and ${g.pairs.length - 6} more`, 'dim']], inner, theme));
    lines.push(styled([[' Calls needing these pairs are held for approval again.']], inner, theme));
    confirmText = ' End grant ';
  } else {
    const n = model.queue().length;
    label = ' Quit ';
    lines.push(styled([[` ${n} call${n === 1 ? ' is' : 's are'} waiting for approval.`, 'hold']], inner, theme));
    lines.push(styled([[' Quit the dashboard anyway? They stay pending (portcullis approve|deny ID).']], inner, theme));
    confirmText = ' Quit ';
  }
  lines.push('');
  lines.push(
    styled(
      [[' '], [' Cancel ', overlay.focus === 'cancel' ? 'buttonFocus' : 'button'], ['  '], [confirmText, overlay.focus === 'confirm' ? 'buttonFocus' : 'button']],
      inner,
      theme,
    ),
  );
  return { label, lines, width };
}

const STOP_BUTTON_TEXT: Record<StopButton, string> = { cancel: ' Cancel ', detach: ' Detach (keep serving) ', stop: ' Stop the gateway ' };

/** `q` in `start`: stopping cuts every machine off, so the dialog says how many and offers to detach instead. */
export function stopModal(overlay: Extract<Overlay, { kind: 'confirm-stop' }>, model: DashboardModel, theme: Theme, screenWidth: number, stateDir?: string): ModalText {
  const width = Math.min(76, screenWidth - 4);
  const inner = width - 4;
  const active = model.sessionList().filter((s) => !s.revoked).length;
  const counts = { activeSessions: active, pending: model.queue().length, grants: model.grantList().length };
  const lines: string[] = [''];
  lines.push(styled([[` Stop the gateway? ${active} active session${active === 1 ? '' : 's'} will lose access.`, active > 0 ? 'hold' : 'title']], inner, theme));
  if (counts.pending > 0 || counts.grants > 0) lines.push(styled([[` Stopping: ${describeStop(counts)}.`]], inner, theme));
  for (const piece of wrapCells(`Detach leaves the gateway serving without this screen; \`portcullis dash${stateDir ? ` --state-dir ${stateDir}` : ''}\` reattaches.`, inner - 2)) {
    lines.push(styled([[` ${piece}`, 'dim']], inner, theme));
  }
  lines.push('');
  const segs: Seg[] = [[' ']];
  for (const b of STOP_BUTTONS) segs.push([STOP_BUTTON_TEXT[b], overlay.focus === b ? 'buttonFocus' : 'button'], ['  ']);
  lines.push(styled(segs, inner, theme));
  return { label: ' Stop the gateway? ', lines, width };
}

export const HELP_ROWS: [string, string][] = [
  ['?', 'this help (? Esc q Enter close it)'],
  ['Tab / Shift-Tab, 1 2 3', 'focus sessions, pending, log'],
  ['↑ ↓ PgUp PgDn g G', 'move in the focused panel'],
  ['Enter', 'session detail · answer (pending) · call (log, bottom row)'],
  ['k', 'revoke session · in Pending: end grant (asks)'],
  ['/', 'filter the log (account, action, decision; !x)'],
  ['Esc', 'clear the filter · resume following'],
  ['Space', 'pause / follow the log'],
  ['r', 'reload the policy file now'],
  ['q, Ctrl-C', 'quit · in `start`: asks, Cancel focused (stop or detach)'],
  ['', ''],
  ['Approval prompt', ''],
  ['a', 'approve once'],
  ['A', 'approve for a duration (asks: 10m, 1h…)'],
  ['d', 'deny (asks a reason; Enter skips)'],
  ['Esc', 'later — never approves; no answer = denied'],
  ['n / p', 'next / previous pending call'],
  ['↑ ↓ g G', 'scroll a prompt taller than the screen'],
];

export function helpModal(theme: Theme, screenWidth: number): ModalText {
  const width = Math.min(80, screenWidth - 4);
  const inner = width - 4;
  const lines = HELP_ROWS.map(([k, d]) => (d === '' && k ? styled([[` ${k}`, 'title']], inner, theme) : styled([[` ${k.padEnd(24)}`, 'footerKey'], [d]], inner, theme)));
  return { label: ' Help ', lines, width };
}

export function detailModal(sessionId: string, model: DashboardModel, theme: Theme, screenWidth: number, screenHeight: number): ModalText {
  const width = Math.min(110, screenWidth - 4);
  const inner = width - 4;
  const s = model.sessions.get(sessionId);
  const now = model.now();
  const lines: string[] = [];
  const field = (name: string, value: string, role?: ThemeRole) => lines.push(styled([[` ${name.padEnd(12)}`, 'dim'], [value, role]], inner, theme));
  field('Account', s?.serviceAccount ?? '?', 'title');
  field('Session', sessionId);
  if (s) {
    field('Age', `${formatDuration(now - s.startMs)}, expires in ${formatDuration(s.expiresAtMs - now)}${s.revoked ? ' (revoked)' : ''}`, s.revoked ? 'deny' : undefined);
    field('Calls', `${s.calls} (${s.denied} denied)`);
    // Who this is: the role it took and the token it came with (claims as the IdP issued them, one line).
    if (s.roleArn) field('Role', s.roleArn);
    field('Issuer', s.issuer ?? '? (started before this dashboard attached)', s.issuer ? undefined : 'dim');
    if (s.subject) field('Subject', s.subject);
    if (s.userAgent || s.sourceIp) field('Client', `${s.sourceIp ?? '?'}${s.userAgent ? `  ${s.userAgent}` : ''}`);
    if (s.claims) {
      let text: string;
      try {
        text = JSON.stringify(s.claims);
      } catch {
        text = String(s.claims);
      }
      wrapCells(text, inner - 13).slice(0, 4).forEach((piece, i) => lines.push(styled([[` ${(i === 0 ? 'Claims' : '').padEnd(12)}`, 'dim'], [piece]], inner, theme)));
    }
  } else field('State', 'ended');
  // Pairs, headers and hashes are what was approved: wrapped, never cut.
  const bound = (text: string, role?: ThemeRole) => {
    for (const piece of wrapCells(text, inner - 5)) lines.push(styled([[`   ${piece}`, role]], inner, theme));
  };
  for (const p of model.queue().filter((q) => q.sessionId === sessionId)) {
    field('Held', `${p.id} ${p.action} (rule ${p.ruleId}), ${p.pairs.length} pair${p.pairs.length === 1 ? '' : 's'}`, 'hold');
    for (const pair of p.pairs) bound(describePair(pair));
    bound(`body ${bodySummary(p.body)}`, 'dim');
    for (const h of headerLines(p.headers)) bound(`header ${h}`, 'dim');
  }
  for (const g of model.grantList().filter((x) => x.sessionId === sessionId)) {
    field('Grant', `${g.id} by ${g.by}, ${formatDuration(g.untilMs - now)} left, used ${g.uses}×`, 'approved');
    for (const pair of g.pairs) bound(describePair(pair));
  }
  lines.push('');
  const room = Math.max(1, screenHeight - 4 - lines.length - 2);
  const events = model.sessionEvents(sessionId, room);
  lines.push(styled([[` Recent events (${events.length})`, 'dim']], inner, theme));
  for (const e of events) {
    lines.push(
      styled(
        [[` ${timeOfDay(e.atMs)} `, 'dim'], [cell(DECISION_LABEL[e.decision], 8), DECISION_ROLE[e.decision]], [` ${e.action} ${e.resource}`], [e.latencyMs !== undefined ? ` ${formatLatency(e.latencyMs)}` : ''], [e.note ? `  ${e.note}` : '', 'dim']],
        inner,
        theme,
      ),
    );
  }
  if (events.length === 0) lines.push(styled([[' none in the scrollback', 'dim']], inner, theme));
  return { label: ` Session ${sessionId} `, lines, width };
}

export function tooSmallText(width: number, height: number, owner = false): string {
  const leave = owner ? 'Enlarge the window to stop or detach the gateway.' : 'Enlarge the window, or press q to quit.';
  return `Terminal too small: ${width}×${height}. portcullis needs at least ${MIN_WIDTH}×${MIN_HEIGHT}.\n${leave}`;
}
