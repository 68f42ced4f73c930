// Turns the model + ui state into the text of every panel (with SGR styling from the theme); modals.ts does the
// modal boxes.
// Pure: the blessed layer only places boxes and sets their content, so all wording and truncation
// is tested without a terminal.

import type { Overlay, Panel, UiState } from './controller.js';
import { lastIndexAtOrBefore } from './controller.js';
import { describePair } from '../approval/summary.js';
import { formatDuration, secondsLeft } from './format.js';
import { cell, cellMiddle, fitColumns, scrollTop, shortArn, type Column, type ColumnSpec } from './layout.js';
import type { DashboardModel } from './model.js';
import type { LogDecision, LogEntry, PendingRow, SessionRow } from './rows.js';
import { sgr, SGR_RESET, type Theme, type ThemeRole } from './theme.js';

/** A run of text and the theme role it is drawn in (undefined = the box's own style). */
export type Seg = [text: string, role?: ThemeRole];

/** Joins segments, cut to `width` cells; `fill` pads the line to the full width in the last role. */
export function styled(segs: Seg[], width: number, theme: Theme, fill = false): string {
  let out = '';
  let used = 0;
  let lastRole: ThemeRole | undefined;
  for (const [text, role] of segs) {
    if (used >= width) break;
    const room = width - used;
    const piece = text.length > room ? `${text.slice(0, Math.max(0, room - 1))}…` : text;
    if (!piece) continue;
    out += role ? sgr(theme.styles[role]) + piece + SGR_RESET : piece;
    used += piece.length;
    lastRole = role;
  }
  if (fill && used < width) out += lastRole ? sgr(theme.styles[lastRole]) + ' '.repeat(width - used) + SGR_RESET : ' '.repeat(width - used);
  return out;
}

/** Plain text of a styled string (tests and width checks). */
export function plain(text: string): string {
  return text.replace(/\x1b\[[\d;]*m/g, '');
}

export const DECISION_LABEL: Record<LogDecision, string> = {
  allow: 'ALLOW',
  deny: 'DENY',
  hold: 'HOLD',
  approved: 'APPROVED',
  denied: 'DENIED',
  expired: 'EXPIRED',
  info: 'INFO',
  error: 'ERROR',
};

export const DECISION_ROLE: Record<LogDecision, ThemeRole> = {
  allow: 'allow',
  deny: 'deny',
  hold: 'hold',
  approved: 'approved',
  denied: 'deny',
  expired: 'deny',
  info: 'info',
  error: 'error',
};

export function timeOfDay(msValue: number): string {
  const d = new Date(msValue);
  const two = (n: number) => String(n).padStart(2, '0');
  return `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
}

export function formatLatency(msValue: number | undefined): string {
  if (msValue === undefined) return '-';
  if (msValue < 1000) return `${Math.round(msValue)}ms`;
  return `${(msValue / 1000).toFixed(msValue < 10_000 ? 2 : 1)}s`;
}

// ---------------------------------------------------------------- header

export function headerLines(model: DashboardModel, theme: Theme, width: number): string[] {
  const now = model.now();
  const policyOk = model.policyState !== 'error';
  // Uptime before the policy: a long policy path is what gets cut on a narrow screen, never its ✓/✗.
  const policy: Seg[] = model.policyFile
    ? policyOk
      ? [[` policy ✓ ${model.policyFile} (${model.policyRules} rules)`, 'header']]
      : [[' policy ', 'header'], ['✗ rejected, last good in force', 'bannerError'], [` ${model.policyFile}`, 'header']]
    : [[' policy ?', 'header']];
  const line1 = styled(
    [
      [' portcullis', 'header'],
      [model.version ? ` ${model.version}` : '', 'header'],
      [' │ ', 'header'],
      [model.url || 'connecting…', 'header'],
      [` │ up ${model.startedAtMs !== undefined ? formatDuration(now - model.startedAtMs) : '?'} │`, 'header'],
      ...policy,
    ],
    width,
    theme,
    true,
  );
  const pending = model.queue().length;
  const conn: Seg =
    model.connection === 'connected' ? ['● connected', 'allow'] : model.connection === 'connecting' ? ['○ connecting', 'hold'] : ['○ disconnected', 'error'];
  const stats: Seg[] = [
    [' allowed '],
    [String(model.counts.allowed), 'allow'],
    ['  denied '],
    [String(model.counts.denied), 'deny'],
    ['  pending '],
    [String(pending), pending > 0 ? 'hold' : undefined],
    ['  limited '],
    [String(model.limited), model.limited > 0 ? 'hold' : undefined],
    ['  sessions '],
    [String(model.sessions.size)],
    ...(model.buffer ? ([[`  buf ${Math.round(model.buffer.inUseBytes / 1048576)}/${Math.round(model.buffer.budgetBytes / 1048576)}M`]] as Seg[]) : []),
    [`  ${model.requestsPerSecond().toFixed(1)} req/s`],
  ];
  const statsWidth = stats.reduce((n, [t]) => n + t.length, 0);
  const gap = Math.max(1, width - statsWidth - conn[0].length - 1);
  const line2 = styled([...stats, [' '.repeat(gap)], conn], width, theme);
  let line3 = '';
  if (model.connection === 'disconnected') {
    line3 = styled([[` disconnected — retrying${model.connectionDetail ? ` (${model.connectionDetail})` : ''}`, 'bannerError']], width, theme, true);
  } else if (model.flash) {
    line3 = styled([[` ${model.flash.text}`, bannerRole(model.flash.kind)]], width, theme, true);
  } else if (model.banner) {
    line3 = styled([[` ${model.banner.text}`, bannerRole(model.banner.kind)]], width, theme, true);
  }
  return [line1, line2, line3];
}

function bannerRole(kind: 'ok' | 'error' | 'info'): ThemeRole {
  return kind === 'ok' ? 'bannerOk' : kind === 'error' ? 'bannerError' : 'bannerInfo';
}

// ---------------------------------------------------------------- tables

type SessionKey = 'account' | 'session' | 'age' | 'calls' | 'denied' | 'limited' | 'expires' | 'last';
export const SESSION_COLUMNS: ColumnSpec<SessionKey>[] = [
  { key: 'account', title: 'ACCOUNT', width: 18, drop: 0 },
  { key: 'session', title: 'SESSION', width: 14, drop: 2 },
  { key: 'age', title: 'AGE', width: 7, drop: 1, align: 'right' },
  { key: 'calls', title: 'CALLS', width: 6, drop: 0, align: 'right' },
  { key: 'denied', title: 'DENIED', width: 6, drop: 0, align: 'right' },
  { key: 'limited', title: 'LIMITED', width: 7, drop: 2, align: 'right' },
  { key: 'expires', title: 'EXPIRES', width: 8, drop: 3, align: 'right' },
  { key: 'last', title: 'LAST ACTION', width: 14, drop: 0, flex: true, prefer: 20 },
];

type PendingKey = 'id' | 'account' | 'action' | 'resource' | 'left';
export const PENDING_COLUMNS: ColumnSpec<PendingKey>[] = [
  { key: 'id', title: 'ID', width: 8, drop: 0 },
  { key: 'account', title: 'ACCOUNT', width: 16, drop: 0 },
  { key: 'action', title: 'ACTION', width: 24, drop: 0 },
  { key: 'resource', title: 'RESOURCE', width: 10, drop: 0, flex: true },
  { key: 'left', title: 'LEFT', width: 6, drop: 0, align: 'right' },
];

type LogKey = 'time' | 'account' | 'action' | 'decision' | 'rule' | 'latency' | 'resource' | 'note';
/**
 * The log keeps its meaning at 80 columns: ACTION fits `secretsmanager:GetSecretValue`, the deciding RULE stays
 * (before RESOURCE, which takes the rest and is cut in the middle); ACCOUNT, LATENCY and NOTE come back as room
 * allows. DECISION carries a `⊘` when the response had values masked.
 */
export const LOG_COLUMNS: ColumnSpec<LogKey>[] = [
  { key: 'time', title: 'TIME', width: 8, drop: 0 },
  { key: 'account', title: 'ACCOUNT', width: 14, drop: 2 },
  { key: 'action', title: 'ACTION', width: 29, drop: 0 },
  { key: 'decision', title: 'DECISION', width: 9, drop: 0 },
  { key: 'rule', title: 'RULE', width: 14, drop: 1 },
  { key: 'latency', title: 'LATENCY', width: 7, drop: 3, align: 'right' },
  { key: 'resource', title: 'RESOURCE', width: 14, drop: 0, flex: true, prefer: 30 },
  { key: 'note', title: 'NOTE', width: 30, drop: 4 },
];

function headerRow<K extends string>(cols: Column<K>[], width: number, theme: Theme): string {
  return styled([[cols.map((c) => cell(c.title, c.width, c.align)).join(' '), 'dim']], width, theme);
}

/** Columns whose text is cut in the middle (both ends mean something). */
const MIDDLE_CUT = new Set<string>(['resource']);

function row<K extends string>(cols: Column<K>[], values: Record<K, Seg>, width: number, theme: Theme, selected: boolean): string {
  const segs: Seg[] = [];
  cols.forEach((c, i) => {
    const [text, role] = values[c.key];
    if (i > 0) segs.push([' ']);
    segs.push([MIDDLE_CUT.has(c.key) ? cellMiddle(text, c.width) : cell(text, c.width, c.align), role]);
  });
  if (selected) return styled([[segs.map(([t]) => t).join(''), 'selected']], width, theme, true);
  return styled(segs, width, theme);
}

export interface PanelText {
  label: string;
  lines: string[];
}

export interface TableView extends PanelText {
  /** Ids in display order (for key handling). */
  ids: string[];
  top: number;
}

/** `innerWidth`/`rows` are the panel's inside (no border); the first row is the column header. */
export function sessionsView(model: DashboardModel, ui: UiState, theme: Theme, innerWidth: number, rows: number, previousTop: number, focused: boolean): TableView {
  const list = model.sessionList();
  const ids = list.map((s) => s.sessionId);
  const cols = fitColumns(SESSION_COLUMNS, innerWidth);
  const visible = Math.max(0, rows - 1);
  const selectedIndex = ui.selectedSession ? ids.indexOf(ui.selectedSession) : -1;
  const top = scrollTop(previousTop, Math.max(0, selectedIndex), visible, list.length);
  const now = model.now();
  const lines = [headerRow(cols, innerWidth, theme)];
  if (list.length === 0) lines.push(styled([[' no active sessions', 'dim']], innerWidth, theme));
  for (const s of list.slice(top, top + visible)) {
    lines.push(row(cols, sessionValues(s, now), innerWidth, theme, s.sessionId === ui.selectedSession));
  }
  return { label: ` Sessions[${list.length}] `, lines, ids, top };
}

function sessionValues(s: SessionRow, now: number): Record<SessionKey, Seg> {
  return {
    account: [s.serviceAccount],
    session: [s.sessionId],
    age: [formatDuration(now - s.startMs)],
    calls: [String(s.calls)],
    denied: [String(s.denied), s.denied > 0 ? 'deny' : undefined],
    limited: [String(s.limited ?? 0), (s.limited ?? 0) > 0 ? 'hold' : undefined],
    expires: [s.revoked ? 'revoked' : formatDuration(s.expiresAtMs - now), s.revoked ? 'deny' : undefined],
    last: [s.lastAction ?? '-'],
  };
}

type GrantKey = 'id' | 'account' | 'by' | 'pairs' | 'left' | 'uses';
export const GRANT_COLUMNS: ColumnSpec<GrantKey>[] = [
  { key: 'id', title: 'GRANT', width: 8, drop: 0 },
  { key: 'account', title: 'ACCOUNT', width: 16, drop: 0 },
  { key: 'by', title: 'BY', width: 10, drop: 2 },
  { key: 'pairs', title: 'PAIRS', width: 10, drop: 0, flex: true },
  { key: 'uses', title: 'USES', width: 4, drop: 1, align: 'right' },
  { key: 'left', title: 'LEFT', width: 6, drop: 0, align: 'right' },
];

/**
 * Held calls, then live grants (their own column header) in the same panel: both are what a human approved or is
 * about to. Ids in display order cover both; grant ids start with `g-`.
 */
export function pendingView(model: DashboardModel, ui: UiState, theme: Theme, innerWidth: number, rows: number, previousTop: number, focused: boolean): TableView {
  const queue = model.queue();
  const grants = model.grantList();
  const ids = [...queue.map((p) => p.id), ...grants.map((g) => g.id)];
  const now = model.now();
  const label = ` Pending[${queue.length}]${grants.length > 0 ? ` Grants[${grants.length}]` : ''} `;
  if (ids.length === 0) return { label, lines: [styled([[' no calls waiting for approval', 'dim']], innerWidth, theme)], ids, top: 0 };
  // One table of rows; a grant section adds its own header row.
  type Line = { id?: string; text: (selected: boolean) => string };
  const all: Line[] = [];
  if (queue.length > 0) {
    const cols = fitColumns(PENDING_COLUMNS, innerWidth);
    const resourceWidth = cols.find((c) => c.key === 'resource')?.width ?? 0;
    all.push({ text: () => headerRow(cols, innerWidth, theme) });
    for (const p of queue) {
      const left = secondsLeft(p.expiresAtMs, now);
      const values: Record<PendingKey, Seg> = {
        id: [p.id, 'hold'],
        account: [p.serviceAccount],
        action: [p.action],
        resource: [pairsAndResource(p.pairs.length, p.resource, resourceWidth)],
        left: [p.deciding ? 'sent' : left > 0 ? `${left}s` : 'expired', left <= 10 ? 'deny' : 'hold'],
      };
      all.push({ id: p.id, text: (selected) => row(cols, values, innerWidth, theme, selected) });
    }
  } else all.push({ text: () => styled([[' no calls waiting for approval', 'dim']], innerWidth, theme) });
  if (grants.length > 0) {
    const cols = fitColumns(GRANT_COLUMNS, innerWidth);
    all.push({ text: () => headerRow(cols, innerWidth, theme) });
    for (const g of grants) {
      const values: Record<GrantKey, Seg> = {
        id: [g.id, 'approved'],
        account: [g.serviceAccount],
        by: [g.by],
        pairs: [`${g.pairs.length > 1 ? `${g.pairs.length} pairs: ` : ''}${g.pairs.map(describePair).join(', ')}`],
        uses: [String(g.uses)],
        left: [formatDuration(g.untilMs - now), 'approved'],
      };
      all.push({ id: g.id, text: (selected) => row(cols, values, innerWidth, theme, selected) });
    }
  }
  const visible = Math.max(1, rows);
  const selectedLine = Math.max(0, all.findIndex((l) => l.id !== undefined && l.id === ui.selectedPending));
  const top = scrollTop(previousTop, selectedLine, visible, all.length);
  const lines = all.slice(top, top + visible).map((l) => l.text(l.id !== undefined && l.id === ui.selectedPending));
  return { label, lines, ids, top };
}

/** `3 pairs: s3:::bucket/…/key`: the count stays whole, the resource is cut in the middle. */
function pairsAndResource(pairs: number, resource: string, width: number): string {
  const prefix = pairs > 1 ? `${pairs} pairs: ` : '';
  return `${prefix}${cellMiddle(shortArn(resource), Math.max(1, width - prefix.length)).trimEnd()}`;
}

export interface LogView extends PanelText {
  seqs: number[];
  following: boolean;
}

export function logView(model: DashboardModel, ui: UiState, theme: Theme, innerWidth: number, rows: number, focused = false): LogView {
  const entries = model.filteredLog(ui.filter);
  const seqs = entries.map((e) => e.seq);
  const visible = Math.max(0, rows - 1);
  const following = ui.logAnchor === undefined;
  // The cursor (Enter opens its call) is the anchor while paused, the newest line while following; the view shows
  // it as its bottom row, or keeps the first page full when the cursor is within it.
  let cursor = following ? entries.length - 1 : lastIndexAtOrBefore(seqs, ui.logAnchor!);
  if (cursor < 0) cursor = Math.min(entries.length - 1, 0);
  const bottom = Math.max(cursor, Math.min(entries.length - 1, visible - 1));
  const start = Math.max(0, bottom - visible + 1);
  const cols = fitColumns(LOG_COLUMNS, innerWidth);
  const withNote = cols.some((c) => c.key === 'note');
  const lines = [headerRow(cols, innerWidth, theme)];
  // The bottom row is the log's cursor: Enter opens that call (highlighted while the log has focus).
  const shown = entries.slice(start, bottom + 1);
  shown.forEach((e, i) => lines.push(row(cols, logValues(e, withNote), innerWidth, theme, focused && start + i === cursor)));
  if (entries.length === 0) lines.push(styled([[ui.filter ? ' nothing matches the filter' : ' waiting for calls…', 'dim']], innerWidth, theme));
  const filter = ui.filter ? ` </${ui.filter}>` : '';
  const state = following ? ' ▼ following ' : ` ‖ PAUSED (${entries.length - 1 - cursor} newer) `;
  return { label: ` Log[${entries.length}]${filter} ─${state}`, lines, seqs, following };
}

/** `withNote`: the NOTE column is shown; without it a line with no rule shows its note in RULE. */
export function logValues(e: LogEntry, withNote = true): Record<LogKey, Seg> {
  return {
    time: [timeOfDay(e.atMs), 'dim'],
    account: [e.account],
    action: [e.action],
    resource: [shortArn(e.resource)],
    decision: [`${DECISION_LABEL[e.decision].padEnd(8)}${e.masked ? '⊘' : ''}`, DECISION_ROLE[e.decision]],
    rule: [e.rule ?? (withNote ? '' : (e.note ?? '')), e.rule ? undefined : 'dim'],
    latency: [formatLatency(e.latencyMs)],
    note: [e.note ?? '', 'dim'],
  };
}

// ---------------------------------------------------------------- footer

const FOOTER_KEYS: Record<Panel, [string, string][]> = {
  sessions: [['↑↓', 'select'], ['Enter', 'detail'], ['k', 'revoke'], ['Tab', 'focus'], ['/', 'filter log'], ['r', 'reload policy'], ['?', 'help'], ['q', 'quit']],
  pending: [['↑↓', 'select'], ['Enter', 'answer'], ['k', 'end grant'], ['Tab', 'focus'], ['/', 'filter log'], ['r', 'reload policy'], ['?', 'help'], ['q', 'quit']],
  log: [['↑↓ PgUp PgDn', 'scroll'], ['Enter', 'call detail'], ['Space', 'pause'], ['G', 'follow'], ['/', 'filter'], ['Esc', 'clear filter'], ['Tab', 'focus'], ['?', 'help'], ['q', 'quit']],
};

export function footerLine(ui: UiState, approvalOpen: boolean, theme: Theme, width: number): string {
  let keys: [string, string][];
  let prefix: Seg[] = [];
  if (approvalOpen) {
    keys =
      ui.approval.step === 'choose'
        ? [['a', 'approve once'], ['A', 'approve for…'], ['d', 'deny'], ['Esc', 'later'], ['Tab ←→', 'move'], ['Enter', 'choose'], ['↑↓', 'scroll'], ['n/p', 'next/prev']]
        : [['Enter', ui.approval.step === 'reason' ? 'deny' : 'approve'], ['Esc', 'back'], ['Backspace', 'erase']];
  } else {
    const overlay: Overlay = ui.overlay;
    switch (overlay.kind) {
      case 'filter':
        prefix = [[' /', 'footerKey'], [`${ui.filter}█ `]];
        keys = [['Enter', 'keep'], ['Esc', 'clear'], ['', 'terms: account action decision, !term, decision:deny']];
        break;
      case 'help':
        keys = [['?/Esc/q/Enter', 'close']];
        break;
      case 'call':
        keys = [['↑↓ PgUp PgDn', 'scroll'], ['Esc/q/Enter', 'close']];
        break;
      case 'detail':
        keys = [['k', 'revoke this session'], ['Esc/q/Enter', 'close']];
        break;
      case 'confirm-stop':
        keys = [['Tab ←→', 'move'], ['Enter', 'choose'], ['d', 'detach'], ['Esc', 'cancel'], ['Ctrl-C', 'stop']];
        break;
      case 'confirm-quit':
      case 'confirm-revoke':
      case 'confirm-revoke-grant':
        keys = [['Tab ←→', 'move'], ['Enter', 'choose'], ['Esc', 'cancel']];
        break;
      case 'none':
        keys = FOOTER_KEYS[ui.focus];
        break;
    }
  }
  const segs: Seg[] = [...prefix];
  for (const [key, desc] of keys) {
    segs.push([' ']);
    if (key) segs.push([key, 'footerKey']);
    segs.push([`${key ? ' ' : ''}${desc} `]);
  }
  return styled(segs, width, theme);
}
