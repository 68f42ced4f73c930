// Key handling as a pure state machine: (ui state, key, what is on screen) → new ui state + commands
// for the gateway. The blessed layer only normalises keys and executes the commands.
// Safety rules (DASHBOARD.md): Esc never confirms; confirm dialogs focus Cancel; the approval modal
// focuses Deny (which still asks for a reason, so one stray Enter decides nothing); Esc on an approval
// means "later", never approve.

import { parseDurationMs } from '../lib/duration.js';
import type { DashboardModel } from './model.js';

export type Panel = 'sessions' | 'log' | 'pending';
export const PANELS: readonly Panel[] = ['sessions', 'log', 'pending'];

export type Overlay =
  | { kind: 'none' }
  | { kind: 'help' }
  | { kind: 'filter' }
  | { kind: 'detail'; sessionId: string }
  /** One call (Enter on the log's cursor row): `scroll` is the first line shown when it is taller than the screen. */
  | { kind: 'call'; seq: number; scroll: number }
  | { kind: 'confirm-revoke'; sessionId: string; focus: 'cancel' | 'confirm' }
  | { kind: 'confirm-revoke-grant'; grantId: string; focus: 'cancel' | 'confirm' }
  | { kind: 'confirm-quit'; focus: 'cancel' | 'confirm' }
  /** Leaving the dashboard of `start`: stopping the gateway cuts every session off; detaching keeps it serving. */
  | { kind: 'confirm-stop'; focus: StopButton };

export type StopButton = 'cancel' | 'detach' | 'stop';
export const STOP_BUTTONS: readonly StopButton[] = ['cancel', 'detach', 'stop'];

export type ApprovalStep = 'choose' | 'duration' | 'reason';
export type ApprovalButton = 'approve' | 'approveFor' | 'deny' | 'later';
export const APPROVAL_BUTTONS: readonly ApprovalButton[] = ['approve', 'approveFor', 'deny', 'later'];
export const SAFE_APPROVAL_BUTTON: ApprovalButton = 'deny';

export interface ApprovalUi {
  /** The approval the modal shows (kept while it is open, so a new arrival does not swap it away). */
  id?: string;
  step: ApprovalStep;
  input: string;
  button: ApprovalButton;
  error?: string;
  /** First detail line shown when the prompt is taller than the screen (↑↓ scroll it). */
  scroll: number;
}

export interface UiState {
  /** The dashboard of `portcullis start`: quitting it stops the gateway (so `q` and ctrl-c ask first). */
  owner: boolean;
  focus: Panel;
  overlay: Overlay;
  filter: string;
  /** Sequence number of the bottom log line while paused; undefined = following. */
  logAnchor?: number;
  selectedSession?: string;
  selectedPending?: string;
  approval: ApprovalUi;
}

export type Command =
  | { type: 'approve'; id: string; forMs?: number }
  | { type: 'deny'; id: string; reason?: string }
  | { type: 'revoke'; sessionId: string }
  | { type: 'revokeGrant'; id: string }
  | { type: 'reload' }
  | { type: 'quit' }
  /** Leave the dashboard and stop the gateway (owner only). */
  | { type: 'stop' }
  /** Leave the dashboard; the gateway keeps serving headless (owner only). */
  | { type: 'detach' };

/** What the screen shows right now, in display order. */
export interface KeyContext {
  model: DashboardModel;
  sessionIds: string[];
  pendingIds: string[];
  /** Sequence numbers of the filtered log, oldest first. */
  logSeqs: number[];
  logPageRows: number;
  /** How far the open approval prompt can scroll (0 when it fits). */
  approvalScrollMax?: number;
  /** How far the open call detail can scroll (0 when it fits). */
  callScrollMax?: number;
}

export const MAX_REASON_CHARS = 200;
export const MAX_DURATION_CHARS = 16;

export function initialUi(owner = false): UiState {
  return { owner, focus: 'sessions', overlay: { kind: 'none' }, filter: '', approval: { step: 'choose', input: '', button: SAFE_APPROVAL_BUTTON, scroll: 0 } };
}

/** blessed's (ch, key) → one name: printable characters as themselves, others as blessed's `full` name. */
export function normalizeKey(ch: string | undefined, key: { name?: string; full?: string; ctrl?: boolean; meta?: boolean } | undefined): string | undefined {
  // blessed emits Enter twice (`return` then `enter`); keep one.
  if (key?.name === 'return') return undefined;
  if (key?.ctrl || key?.meta) return key.full ?? key.name;
  if (ch && ch.length === 1 && ch >= ' ' && ch !== '\x7f') return ch;
  if (key?.name === 'linefeed') return 'enter';
  return key?.full ?? key?.name;
}

function isPrintable(key: string): boolean {
  return key.length === 1 && key >= ' ';
}

function resetApproval(ui: UiState, id?: string): void {
  ui.approval = { id, step: 'choose', input: '', button: SAFE_APPROVAL_BUTTON, scroll: 0 };
}

/** Keeps ui.approval pointing at what the modal shows; resets the modal when the item changes. */
export function syncApproval(ui: UiState, model: DashboardModel): ReturnType<DashboardModel['promptFor']> {
  const prompt = model.promptFor(ui.approval.id);
  if (prompt?.row.id !== ui.approval.id) resetApproval(ui, prompt?.row.id);
  return prompt;
}

/** Keeps a selection on an id that still exists, else the first row. */
export function syncSelection(selected: string | undefined, ids: string[]): string | undefined {
  if (selected !== undefined && ids.includes(selected)) return selected;
  return ids[0];
}

function move(ids: string[], selected: string | undefined, key: string, page: number): string | undefined {
  if (ids.length === 0) return undefined;
  const index = Math.max(0, selected === undefined ? 0 : ids.indexOf(selected));
  const step: Record<string, number> = { up: -1, down: 1, j: 1, pageup: -page, pagedown: page, 'C-b': -page, 'C-f': page };
  if (key === 'home' || key === 'g') return ids[0];
  if (key === 'end' || key === 'G') return ids[ids.length - 1];
  const delta = step[key];
  if (delta === undefined) return selected;
  return ids[Math.max(0, Math.min(ids.length - 1, index + delta))];
}

/** Scrolls the log; reaching the bottom resumes following. */
function scrollLog(ui: UiState, ctx: KeyContext, key: string): boolean {
  const seqs = ctx.logSeqs;
  const page = Math.max(1, ctx.logPageRows);
  if (key === 'end' || key === 'G') {
    ui.logAnchor = undefined;
    return true;
  }
  if (seqs.length === 0) return ['up', 'down', 'pageup', 'pagedown', 'home', 'g', 'C-b', 'C-f', 'j'].includes(key);
  let bottom = ui.logAnchor === undefined ? seqs.length - 1 : lastIndexAtOrBefore(seqs, ui.logAnchor);
  const delta: Record<string, number> = { up: -1, down: 1, j: 1, pageup: -page, pagedown: page, 'C-b': -page, 'C-f': page };
  // `bottom` is the log's cursor: the bottom row shown, or a row of the first page (the view keeps a page full).
  if (key === 'home' || key === 'g') bottom = 0;
  else if (delta[key] !== undefined) bottom += delta[key]!;
  else return false;
  bottom = Math.max(0, bottom);
  ui.logAnchor = bottom >= seqs.length - 1 ? undefined : seqs[bottom];
  return true;
}

export function lastIndexAtOrBefore(seqs: number[], anchor: number): number {
  let lo = 0;
  let hi = seqs.length - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (seqs[mid]! <= anchor) {
      found = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return found;
}

/** Handles one key. Mutates `ui` (and marks approvals deferred/deciding on the model); returns commands to run. */
export function handleKey(ui: UiState, key: string, ctx: KeyContext): Command[] {
  if (ui.overlay.kind === 'confirm-stop') return stopKey(ui, ui.overlay, key);
  if (key === 'C-c') return leave(ui, ctx, true);
  const prompt = syncApproval(ui, ctx.model);
  if (prompt) return approvalKey(ui, key, ctx, prompt.row.id);
  const overlay = ui.overlay;
  switch (overlay.kind) {
    case 'help':
      if (['?', 'escape', 'q', 'enter'].includes(key)) ui.overlay = { kind: 'none' };
      return [];
    case 'filter':
      if (key === 'escape') {
        ui.filter = '';
        ui.overlay = { kind: 'none' };
      } else if (key === 'enter') ui.overlay = { kind: 'none' };
      else if (key === 'backspace') ui.filter = ui.filter.slice(0, -1);
      else if (isPrintable(key) && ui.filter.length < 100) ui.filter += key;
      ui.logAnchor = undefined;
      return [];
    case 'call': {
      const scrollBy: Record<string, number> = { up: -1, k: -1, down: 1, j: 1, pageup: -10, pagedown: 10, home: -Infinity, g: -Infinity, end: Infinity, G: Infinity };
      if (['escape', 'q', 'enter'].includes(key)) ui.overlay = { kind: 'none' };
      else if (scrollBy[key] !== undefined) overlay.scroll = Math.max(0, Math.min(ctx.callScrollMax ?? 0, overlay.scroll + scrollBy[key]!));
      return [];
    }
    case 'detail':
      if (['escape', 'q', 'enter'].includes(key)) ui.overlay = { kind: 'none' };
      else if (key === 'k') ui.overlay = { kind: 'confirm-revoke', sessionId: overlay.sessionId, focus: 'cancel' };
      return [];
    case 'confirm-revoke':
    case 'confirm-revoke-grant':
    case 'confirm-quit': {
      if (['tab', 'S-tab', 'left', 'right', 'h', 'l'].includes(key)) {
        overlay.focus = overlay.focus === 'cancel' ? 'confirm' : 'cancel';
        return [];
      }
      if (key === 'escape' || (key === 'enter' && overlay.focus === 'cancel')) {
        ui.overlay = { kind: 'none' };
        return [];
      }
      if (key === 'enter') {
        ui.overlay = { kind: 'none' };
        if (overlay.kind === 'confirm-revoke-grant') return [{ type: 'revokeGrant', id: overlay.grantId }];
        return overlay.kind === 'confirm-quit' ? [{ type: 'quit' }] : [{ type: 'revoke', sessionId: overlay.sessionId }];
      }
      return [];
    }
    case 'none':
      return mainKey(ui, key, ctx);
  }
}

function mainKey(ui: UiState, key: string, ctx: KeyContext): Command[] {
  switch (key) {
    case '?':
      ui.overlay = { kind: 'help' };
      return [];
    case 'tab':
    case 'S-tab': {
      const i = PANELS.indexOf(ui.focus);
      ui.focus = PANELS[(i + (key === 'tab' ? 1 : PANELS.length - 1)) % PANELS.length]!;
      return [];
    }
    case '1':
    case '2':
    case '3':
      ui.focus = (['sessions', 'pending', 'log'] as const)[Number(key) - 1]!;
      return [];
    case '/':
      ui.overlay = { kind: 'filter' };
      return [];
    case 'escape':
      if (ui.filter) ui.filter = '';
      else ui.logAnchor = undefined;
      return [];
    case ' ':
      if (ui.logAnchor === undefined) ui.logAnchor = ctx.logSeqs[ctx.logSeqs.length - 1] ?? 0;
      else ui.logAnchor = undefined;
      return [];
    case 'r':
      return [{ type: 'reload' }];
    case 'q':
      return leave(ui, ctx, false);
    case 'k': {
      // In the pending panel a selected grant is what `k` ends; elsewhere it is the selected session.
      const grantId = ui.focus === 'pending' ? syncSelection(ui.selectedPending, ctx.pendingIds) : undefined;
      if (grantId !== undefined && ctx.model.grants.has(grantId)) {
        ui.overlay = { kind: 'confirm-revoke-grant', grantId, focus: 'cancel' };
        return [];
      }
      const sessionId = syncSelection(ui.selectedSession, ctx.sessionIds);
      if (sessionId) ui.overlay = { kind: 'confirm-revoke', sessionId, focus: 'cancel' };
      else ctx.model.setFlash('info', 'no session to revoke');
      return [];
    }
    case 'enter':
      if (ui.focus === 'sessions') {
        const sessionId = syncSelection(ui.selectedSession, ctx.sessionIds);
        if (sessionId) ui.overlay = { kind: 'detail', sessionId };
      } else if (ui.focus === 'log') {
        // The cursor is the bottom row shown: the newest while following, the anchor while paused.
        const seqs = ctx.logSeqs;
        const index = ui.logAnchor === undefined ? seqs.length - 1 : lastIndexAtOrBefore(seqs, ui.logAnchor);
        const seq = seqs[index];
        if (seq === undefined) ctx.model.setFlash('info', 'no call to show');
        else {
          // Opening a call pauses the log on it, so the row stays where it was when the detail closes.
          ui.logAnchor = seq;
          ui.overlay = { kind: 'call', seq, scroll: 0 };
        }
      } else if (ui.focus === 'pending') {
        const id = syncSelection(ui.selectedPending, ctx.pendingIds);
        if (id && ctx.model.grants.has(id)) ui.overlay = { kind: 'confirm-revoke-grant', grantId: id, focus: 'cancel' };
        else if (id) {
          ctx.model.deferred.delete(id);
          resetApproval(ui, id);
        }
      }
      return [];
    default:
      if (ui.focus === 'sessions') ui.selectedSession = move(ctx.sessionIds, syncSelection(ui.selectedSession, ctx.sessionIds), key, 5);
      else if (ui.focus === 'pending') ui.selectedPending = move(ctx.pendingIds, syncSelection(ui.selectedPending, ctx.pendingIds), key, 5);
      else scrollLog(ui, ctx, key);
      return [];
  }
}

/**
 * `q` / ctrl-c. An attached dashboard leaves freely (ctrl-c at once; `q` asks only while calls wait for approval:
 * they stay pending). The dashboard of `start` always asks, Cancel focused, because leaving it stops the gateway.
 */
function leave(ui: UiState, ctx: KeyContext, ctrlC: boolean): Command[] {
  if (ui.owner) {
    ui.overlay = { kind: 'confirm-stop', focus: 'cancel' };
    return [];
  }
  if (!ctrlC && ctx.model.queue().length > 0) {
    ui.overlay = { kind: 'confirm-quit', focus: 'cancel' };
    return [];
  }
  return [{ type: 'quit' }];
}

/** The stop dialog: Tab/←→ move, Enter chooses, Esc cancels, `d` detaches; ctrl-c again stops (as a second ctrl-c does elsewhere). */
function stopKey(ui: UiState, overlay: Extract<Overlay, { kind: 'confirm-stop' }>, key: string): Command[] {
  if (['tab', 'S-tab', 'left', 'right', 'h', 'l'].includes(key)) {
    const i = STOP_BUTTONS.indexOf(overlay.focus);
    const delta = ['tab', 'right', 'l'].includes(key) ? 1 : STOP_BUTTONS.length - 1;
    overlay.focus = STOP_BUTTONS[(i + delta) % STOP_BUTTONS.length]!;
    return [];
  }
  const close = (commands: Command[]): Command[] => {
    ui.overlay = { kind: 'none' };
    return commands;
  };
  if (key === 'escape' || key === 'q') return close([]);
  if (key === 'C-c') return close([{ type: 'stop' }]);
  if (key === 'd') return close([{ type: 'detach' }]);
  if (key === 'enter') return close(overlay.focus === 'cancel' ? [] : [{ type: overlay.focus }]);
  return [];
}

function approvalKey(ui: UiState, key: string, ctx: KeyContext, id: string): Command[] {
  const a = ui.approval;
  const row = ctx.model.pending.get(id);
  const decided = (command: Command): Command[] => {
    if (row) row.deciding = true;
    resetApproval(ui, undefined);
    return [command];
  };
  if (a.step === 'duration' || a.step === 'reason') {
    if (key === 'escape') {
      a.step = 'choose';
      a.input = '';
      a.error = undefined;
    } else if (key === 'backspace') a.input = a.input.slice(0, -1);
    else if (key === 'enter') {
      if (a.step === 'reason') {
        const reason = a.input.trim();
        return decided({ type: 'deny', id, ...(reason ? { reason } : {}) });
      }
      const forMs = parseDurationMs(a.input);
      if (forMs === undefined || forMs <= 0) {
        a.error = a.input.trim() ? `"${a.input.trim()}" is not a duration (use 30s, 10m, 1h or 1d)` : 'type a duration, e.g. 10m';
        return [];
      }
      return decided({ type: 'approve', id, forMs });
    } else if (isPrintable(key) && a.input.length < (a.step === 'reason' ? MAX_REASON_CHARS : MAX_DURATION_CHARS)) {
      a.input += key;
      a.error = undefined;
    }
    return [];
  }
  const activate = (button: ApprovalButton): Command[] => {
    switch (button) {
      case 'approve':
        return decided({ type: 'approve', id });
      case 'approveFor':
        a.step = 'duration';
        a.input = '';
        a.button = 'approveFor';
        return [];
      case 'deny':
        a.step = 'reason';
        a.input = '';
        a.button = 'deny';
        return [];
      case 'later':
        ctx.model.deferred.add(id);
        resetApproval(ui, undefined);
        return [];
    }
  };
  const queue = ctx.model.queue().filter((p) => !p.deciding).map((p) => p.id);
  const scrollBy: Record<string, number> = { up: -1, k: -1, down: 1, j: 1, home: -Infinity, g: -Infinity, end: Infinity, G: Infinity };
  if (scrollBy[key] !== undefined) {
    a.scroll = Math.max(0, Math.min(ctx.approvalScrollMax ?? 0, a.scroll + scrollBy[key]!));
    return [];
  }
  switch (key) {
    case 'a':
      return activate('approve');
    case 'A':
      return activate('approveFor');
    case 'd':
      return activate('deny');
    case 'escape':
      return activate('later');
    case 'enter':
      return activate(a.button);
    case 'tab':
    case 'right':
    case 'l':
    case 'S-tab':
    case 'left':
    case 'h': {
      const i = APPROVAL_BUTTONS.indexOf(a.button);
      const delta = ['tab', 'right', 'l'].includes(key) ? 1 : APPROVAL_BUTTONS.length - 1;
      a.button = APPROVAL_BUTTONS[(i + delta) % APPROVAL_BUTTONS.length]!;
      return [];
    }
    case 'n':
    case 'pagedown':
    case 'p':
    case 'pageup': {
      const i = queue.indexOf(id);
      const next = queue[(i + (key === 'n' || key === 'pagedown' ? 1 : queue.length - 1)) % queue.length];
      if (next && next !== id) resetApproval(ui, next);
      return [];
    }
    default:
      return [];
  }
}
