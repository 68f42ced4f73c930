// The blessed layer: boxes placed by computeLayout, filled by view.ts, keys through controller.ts,
// events and snapshots from a DashboardSource (the admin socket). Holds no gateway logic.
// Rendering is coalesced: events only mark the model dirty; a timer draws at most `maxFps` frames a
// second (DASHBOARD.md: one render per frame, bounded log, no per-line Log.log()).

import blessed from 'blessed';
import { userInfo } from 'node:os';
import { handleKey, initialUi, normalizeKey, syncApproval, syncSelection, type Command, type KeyContext } from './controller.js';
import { computeLayout, modalBox, type Rect } from './layout.js';
import { DashboardModel } from './model.js';
import { settle, type DashboardSource } from './source.js';
import { blessedStyle, chooseThemeName, loadTheme, type Theme } from './theme.js';
import { callModal } from './call-modal.js';
import { approvalModal, confirmModal, detailModal, helpModal, stopModal, tooSmallText, type ModalText } from './modals.js';
import { footerLine, headerLines, logView, pendingView, sessionsView } from './view.js';

export interface DashboardOptions {
  /** Theme name (themes/NAME.json) or a path to a theme file; default: NO_COLOR → mono, $PORTCULLIS_THEME, dark. */
  theme?: string;
  /** Ring the terminal bell when an approval prompt arrives (default true; PORTCULLIS_BELL=0 turns it off). */
  bell?: boolean;
  /** Terminal window title. */
  title?: string;
  /** Called once after the screen is restored, when the operator quits. */
  onQuit?: () => void;
  /**
   * The dashboard of `portcullis start`: leaving it stops the gateway, so `q` and ctrl-c ask first (Cancel focused)
   * and offer to detach. `runDashboard` then resolves with what the operator chose.
   */
  owner?: boolean;
  /** Shown in the disconnected line so the operator knows which gateway is meant. */
  stateDir?: string;
  // For tests and the bench:
  input?: NodeJS.ReadableStream;
  output?: NodeJS.WritableStream;
  /** terminfo name; default xterm-256color inside tmux/screen 256-colour terminals (blessed cannot parse their terminfo). */
  terminal?: string;
  /** Frame cap (default 10). */
  maxFps?: number;
  /** Called after each rendered frame with the running count. */
  onFrame?: (frames: number) => void;
  /** Who decides (default: the OS user name). */
  user?: string;
  env?: Record<string, string | undefined>;
  now?: () => number;
  /** Reconnect backoff bounds. */
  retryMinMs?: number;
  retryMaxMs?: number;
  /** How often to refresh status (uptime, counts, policy) while connected. */
  statusIntervalMs?: number;
}

/** Recent events asked for on attach (the admin server keeps up to 1000). */
export const HISTORY_EVENTS = 500;

export function defaultTerminal(env: Record<string, string | undefined>): string | undefined {
  const term = env.TERM ?? '';
  if (/^(tmux|screen)/.test(term) && /256/.test(term)) return 'xterm-256color';
  return undefined;
}

export function bellEnabled(option: boolean | undefined, env: Record<string, string | undefined>): boolean {
  if (option !== undefined) return option;
  const v = (env.PORTCULLIS_BELL ?? '').trim().toLowerCase();
  return !['0', 'false', 'off', 'no'].includes(v);
}

function osUser(): string {
  try {
    return userInfo().username;
  } catch {
    return process.env.USER ?? 'operator';
  }
}

/** One toast for a command's outcome: the gateway's message when it already says what was done, else both. */
export function flashText(okText: string, message: string | undefined): string {
  if (!message || message === okText) return okText;
  if (message.startsWith(okText)) return message;
  return `${okText}: ${message}`;
}

function describe(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.length > 160 ? `${text.slice(0, 159)}…` : text;
}

/** How the dashboard ended: `quit` (an attached dashboard left, or SIGTERM), `stop` or `detach` (owner only). */
export type DashboardExit = 'quit' | 'stop' | 'detach';

export async function runDashboard(source: DashboardSource, options: DashboardOptions = {}): Promise<DashboardExit> {
  const env = options.env ?? process.env;
  // Resolve the theme before touching the terminal, so a bad --theme is one clean error line.
  const theme = loadTheme(chooseThemeName(options.theme, env));
  const bell = bellEnabled(options.bell, env);
  const by = options.user ?? osUser();
  const maxFps = Math.max(1, Math.min(60, options.maxFps ?? 10));
  const model = new DashboardModel({ now: options.now });
  const ui = initialUi(options.owner ?? false);

  const screen = blessed.screen({
    smartCSR: true,
    fullUnicode: false,
    forceUnicode: true,
    autoPadding: false,
    warnings: false,
    title: options.title ?? 'portcullis',
    terminal: options.terminal ?? defaultTerminal(env),
    input: options.input,
    output: options.output,
  } as blessed.Widgets.IScreenOptions);

  const base = blessedStyle(theme.styles.text);
  const panel = (label: string) =>
    blessed.box({
      parent: screen,
      left: 0,
      width: '100%',
      border: { type: 'line' },
      label,
      tags: false,
      wrap: false,
      style: { ...base, border: { ...base, ...blessedStyle(theme.styles.border) }, label: { ...base, ...blessedStyle(theme.styles.title) } },
    });
  const header = blessed.box({ parent: screen, top: 0, left: 0, width: '100%', height: 3, tags: false, wrap: false, style: base });
  const sessionsBox = panel(' Sessions ');
  const pendingBox = panel(' Pending ');
  const logBox = panel(' Log ');
  const footer = blessed.box({ parent: screen, bottom: 0, left: 0, width: '100%', height: 1, tags: false, wrap: false, style: base });
  const modalStyle = blessedStyle(theme.styles.modal);
  const modal = blessed.box({
    parent: screen,
    hidden: true,
    border: { type: 'line' },
    tags: false,
    wrap: false,
    style: { ...modalStyle, border: { ...modalStyle, ...blessedStyle(theme.styles.modalBorder) }, label: { ...modalStyle, ...blessedStyle(theme.styles.modalBorder), bold: true } },
  });
  const tooSmall = blessed.box({ parent: screen, hidden: true, top: 0, left: 0, width: '100%', height: '100%', tags: false, style: base });

  let sessionsTop = 0;
  let pendingTop = 0;
  let frames = 0;
  let lastRevision = -1;
  let lastDrawMs = 0;
  let keyDirty = true;
  let ctx: KeyContext = { model, sessionIds: [], pendingIds: [], logSeqs: [], logPageRows: 1 };
  let tooSmallNow = false;

  const place = (box: blessed.Widgets.BoxElement, rect: Rect) => {
    box.top = rect.top;
    box.height = rect.height;
  };
  const setBorder = (box: blessed.Widgets.BoxElement, focused: boolean) => {
    const style = box.style as { border: Record<string, unknown> };
    style.border = { ...base, ...blessedStyle(focused ? theme.styles.borderFocus : theme.styles.border) };
  };
  const showModal = (text: ModalText) => {
    const geometry = modalBox(Number(screen.width), Number(screen.height), { width: text.width, height: text.lines.length + 2 }, Math.max(80, text.width));
    modal.left = geometry.left;
    modal.top = geometry.top;
    modal.width = geometry.width;
    modal.height = geometry.height;
    modal.setLabel(text.label);
    modal.setContent(text.lines.join('\n'));
    modal.show();
    modal.setFront();
  };

  function draw(): void {
    const width = Number(screen.width);
    const height = Number(screen.height);
    const sessionIds = model.sessionList().map((s) => s.sessionId);
    const queueLength = model.queue().length;
    const grantCount = model.grantList().length;
    const pendingIds = [...model.queue().map((p) => p.id), ...model.grantList().map((g) => g.id)];
    ui.selectedSession = syncSelection(ui.selectedSession, sessionIds);
    ui.selectedPending = syncSelection(ui.selectedPending, pendingIds);
    // Grants add their own column-header row (and a "no calls" line when nothing is held).
    const pendingRows = queueLength + (grantCount > 0 ? grantCount + 1 + (queueLength === 0 ? 1 : 0) : 0);
    const layout = computeLayout(width, height, { sessions: sessionIds.length, pending: pendingRows });
    tooSmallNow = layout.tooSmall;
    for (const box of [header, sessionsBox, pendingBox, logBox, footer]) box[layout.tooSmall ? 'hide' : 'show']();
    if (layout.tooSmall) {
      modal.hide();
      tooSmall.setContent(tooSmallText(width, height, ui.owner));
      tooSmall.show();
      screen.render();
      return;
    }
    tooSmall.hide();
    header.setContent(headerLines(model, theme, width).join('\n'));

    place(sessionsBox, layout.sessions);
    const sv = sessionsView(model, ui, theme, width - 2, layout.sessions.height - 2, sessionsTop, ui.focus === 'sessions');
    sessionsTop = sv.top;
    sessionsBox.setLabel(sv.label);
    sessionsBox.setContent(sv.lines.join('\n'));
    setBorder(sessionsBox, ui.focus === 'sessions');

    place(pendingBox, layout.pending);
    const pv = pendingView(model, ui, theme, width - 2, layout.pending.height - 2, pendingTop, ui.focus === 'pending');
    pendingTop = pv.top;
    pendingBox.setLabel(pv.label);
    pendingBox.setContent(pv.lines.join('\n'));
    setBorder(pendingBox, ui.focus === 'pending');

    place(logBox, layout.log);
    const lv = logView(model, ui, theme, width - 2, layout.log.height - 2, ui.focus === 'log');
    logBox.setLabel(lv.label);
    logBox.setContent(lv.lines.join('\n'));
    setBorder(logBox, ui.focus === 'log');

    ctx = { model, sessionIds: sv.ids, pendingIds: pv.ids, logSeqs: lv.seqs, logPageRows: Math.max(1, layout.log.height - 3) };

    const prompt = syncApproval(ui, model);
    if (ui.overlay.kind === 'confirm-stop') showModal(stopModal(ui.overlay, model, theme, width, options.stateDir));
    else if (prompt) {
      const text = approvalModal(prompt.row, prompt.index, prompt.total, ui, model, theme, width, height);
      ctx.approvalScrollMax = text.scrollMax ?? 0;
      showModal(text);
    }
    else if (ui.overlay.kind === 'help') showModal(helpModal(theme, width));
    else if (ui.overlay.kind === 'call') {
      const text = callModal(ui.overlay.seq, ui.overlay.scroll, model, theme, width, height);
      ctx.callScrollMax = text.scrollMax ?? 0;
      showModal(text);
    } else if (ui.overlay.kind === 'detail') showModal(detailModal(ui.overlay.sessionId, model, theme, width, height));
    else if (ui.overlay.kind === 'confirm-revoke' || ui.overlay.kind === 'confirm-revoke-grant' || ui.overlay.kind === 'confirm-quit') showModal(confirmModal(ui.overlay, model, theme, width));
    else modal.hide();

    footer.setContent(footerLine(ui, prompt !== undefined && ui.overlay.kind !== 'confirm-stop', theme, width));
    screen.render();
  }

  let stopped = false;
  let finish!: (error?: unknown, exit?: DashboardExit) => void;
  const done = new Promise<DashboardExit>((resolve, reject) => {
    finish = (error?: unknown, exit: DashboardExit = 'quit') => {
      if (stopped) return;
      stopped = true;
      clearInterval(timer);
      streamAbort?.abort();
      wake?.();
      process.off('SIGTERM', onSigterm);
      try {
        screen.destroy();
      } catch {
        // the terminal is going away anyway
      }
      // blessed leaves stdin flowing; without this the process would not exit.
      const input = (options.input ?? process.stdin) as NodeJS.ReadStream;
      input.pause?.();
      if (error) reject(error instanceof Error ? error : new Error(String(error)));
      else {
        try {
          options.onQuit?.();
        } finally {
          resolve(exit);
        }
      }
    };
  });

  const frameMs = 1000 / maxFps;
  const frame = () => {
    if (stopped) return;
    try {
      const now = Date.now();
      model.expire();
      // Redraw on change, on a key, and once a second for countdowns, uptime and req/s.
      if (model.revision === lastRevision && !keyDirty && now - lastDrawMs < 1000) return;
      const fresh = model.takeFresh();
      if (fresh.length > 0 && bell) screen.program.output.write('\x07');
      lastRevision = model.revision;
      keyDirty = false;
      lastDrawMs = now;
      draw();
      frames += 1;
      options.onFrame?.(frames);
    } catch (error) {
      finish(error);
    }
  };
  const timer = setInterval(frame, frameMs);

  const run = async (command: Command): Promise<void> => {
    const note = (outcome: Awaited<ReturnType<typeof settle>>, okText: string) => {
      // The gateway's message usually restates what was done (`approved 7dx6: …`): show it alone, never twice.
      if (outcome.ok) model.setFlash('info', flashText(okText, outcome.message));
      else model.setFlash('error', outcome.error);
    };
    switch (command.type) {
      case 'quit':
      case 'stop':
      case 'detach':
        finish(undefined, command.type);
        return;
      case 'approve': {
        const outcome = await settle(() => source.approve(command.id, { by, ...(command.forMs ? { forMs: command.forMs } : {}) }), `approved ${command.id}`);
        if (!outcome.ok) {
          const row = model.pending.get(command.id);
          if (row) row.deciding = false;
        }
        note(outcome, `approved ${command.id}`);
        return;
      }
      case 'deny': {
        const outcome = await settle(() => source.deny(command.id, { by, ...(command.reason ? { reason: command.reason } : {}) }), `denied ${command.id}`);
        if (!outcome.ok) {
          const row = model.pending.get(command.id);
          if (row) row.deciding = false;
        }
        note(outcome, `denied ${command.id}`);
        return;
      }
      case 'revoke':
        note(await settle(() => source.revokeSession(command.sessionId, by, 'revoked from the dashboard'), `revoked ${command.sessionId}`), `revoked ${command.sessionId}`);
        return;
      case 'revokeGrant':
        if (!source.revokeGrant) {
          model.setFlash('error', 'this gateway cannot end grants from the dashboard (portcullis grants revoke ID)');
          return;
        }
        note(await settle(() => source.revokeGrant!(command.id, by), `ended grant ${command.id}`), `ended grant ${command.id}`);
        return;
      case 'reload':
        model.setFlash('info', 'reloading the policy…');
        note(await settle(() => source.reloadPolicy(), 'policy reloaded'), 'policy reload');
        return;
    }
  };

  screen.on('keypress', (ch: string | undefined, key: { name?: string; full?: string; ctrl?: boolean; meta?: boolean } | undefined) => {
    if (stopped) return;
    const name = normalizeKey(ch, key);
    if (!name) return;
    try {
      if (tooSmallNow) {
        // Too small to show the stop dialog: the owner's dashboard cannot be left from here (SIGTERM still stops).
        if (!ui.owner && (name === 'q' || name === 'C-c')) finish();
        return;
      }
      for (const command of handleKey(ui, name, ctx)) void run(command);
      keyDirty = true;
      // Keys get an immediate frame (they are rare); events wait for the timer.
      setImmediate(() => {
        if (!stopped && keyDirty) frame();
      });
    } catch (error) {
      finish(error);
    }
  });
  // blessed debounces resize and renders before elements hear of it: lay out again, then render.
  screen.on('resize', () => {
    keyDirty = true;
    frame();
  });
  const onSigterm = () => finish();
  process.on('SIGTERM', onSigterm);

  // Connection: subscribe to events first, then take snapshots (no gap); retry with backoff.
  let streamAbort: AbortController | undefined;
  let wake: (() => void) | undefined;
  const sleep = (msValue: number) =>
    new Promise<void>((resolve) => {
      const t = setTimeout(resolve, msValue);
      wake = () => {
        clearTimeout(t);
        resolve();
      };
    });
  const retryMin = options.retryMinMs ?? 500;
  const retryMax = options.retryMaxMs ?? 5000;
  const statusEvery = options.statusIntervalMs ?? 5000;
  const where = options.stateDir ? ` ${options.stateDir}` : '';

  const connect = async () => {
    let delay = retryMin;
    while (!stopped) {
      const abort = new AbortController();
      streamAbort = abort;
      let statusTimer: NodeJS.Timeout | undefined;
      try {
        // The first attach fills the log with recent history; a reconnect has its log already.
        const history = model.log.size === 0 ? HISTORY_EVENTS : 0;
        const iterator = source.events({ signal: abort.signal, ...(history > 0 ? { history } : {}) })[Symbol.asyncIterator]();
        const first = iterator.next();
        first.catch(() => undefined);
        const [status, sessions, pending, grants] = await Promise.all([
          source.status(),
          source.sessions({ active: true }),
          source.pending(),
          // A gateway older than the grants route answers 404: the dashboard still attaches, without a grants list.
          source.grants ? source.grants().catch(() => undefined) : Promise.resolve(undefined),
        ]);
        if (stopped) break;
        model.applyStatus(status);
        model.applySessions(sessions);
        model.applyPending(pending);
        if (grants) model.applyGrants(grants);
        model.setConnection('connected');
        model.gatewayStopped = false;
        delay = retryMin;
        statusTimer = setInterval(() => {
          source.status().then((s) => model.applyStatus(s), () => undefined);
        }, statusEvery);
        for (let next = await first; !next.done; next = await iterator.next()) {
          model.apply(next.value);
          if (stopped) break;
        }
        if (stopped) break;
        model.setConnection('disconnected', model.gatewayStopped ? `the gateway stopped${where}` : `the gateway closed the event stream${where}`);
      } catch (error) {
        if (stopped) break;
        model.setConnection('disconnected', describe(error));
      } finally {
        if (statusTimer) clearInterval(statusTimer);
        abort.abort();
      }
      await sleep(delay);
      delay = Math.min(retryMax, delay * 2);
    }
  };
  void connect();
  frame();
  return done;
}

export type { DashboardSource } from './source.js';
export type { Theme } from './theme.js';
