import { describe, expect, it } from 'vitest';
import type { GatewayEvent } from '../../src/events.js';
import { handleKey, initialUi, normalizeKey, syncSelection, type KeyContext, type UiState } from '../../src/tui/controller.js';
import { DashboardModel } from '../../src/tui/model.js';

const T0 = Date.parse('2025-01-01T10:00:00Z');

function proposed(id: string): GatewayEvent {
  return {
    type: 'approval.proposed',
    at: new Date(T0).toISOString(),
    approvalId: id,
    sessionId: 's1',
    requestId: `q-${id}`,
    serviceAccount: 'ci',
    action: 's3:DeleteObject',
    resource: 'arn:aws:s3:::b/k',
    ruleId: 'r',
    expiresAt: new Date(T0 + 60_000).toISOString(),
  };
}

function setup(pending: string[] = [], sessions = ['s1', 's2', 's3']): { ui: UiState; ctx: KeyContext; model: DashboardModel } {
  const model = new DashboardModel({ now: () => T0 });
  for (const id of pending) model.apply(proposed(id));
  const ui = initialUi();
  const ctx: KeyContext = { model, sessionIds: sessions, pendingIds: pending, logSeqs: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], logPageRows: 3 };
  return { ui, ctx, model };
}

function press(ui: UiState, ctx: KeyContext, ...keys: string[]) {
  return keys.flatMap((k) => handleKey(ui, k, ctx));
}

describe('normalizeKey', () => {
  it.each([
    ['a', { name: 'a', full: 'a' }, 'a'],
    ['A', { name: 'a', full: 'S-a', shift: true }, 'A'],
    ['?', { name: undefined, full: '?' }, '?'],
    [' ', { name: 'space', full: 'space' }, ' '],
    ['\r', { name: 'return', full: 'return' }, undefined],
    ['\r', { name: 'enter', full: 'enter' }, 'enter'],
    ['\n', { name: 'linefeed', full: 'linefeed' }, 'enter'],
    ['\x1b', { name: 'escape', full: 'escape' }, 'escape'],
    ['\t', { name: 'tab', full: 'tab' }, 'tab'],
    [undefined, { name: 'tab', full: 'S-tab', shift: true }, 'S-tab'],
    ['\x03', { name: 'c', full: 'C-c', ctrl: true }, 'C-c'],
    ['\x7f', { name: 'backspace', full: 'backspace' }, 'backspace'],
    [undefined, { name: 'up', full: 'up' }, 'up'],
  ])('%j %j → %s', (ch, key, expected) => expect(normalizeKey(ch, key)).toBe(expected));
});

describe('approval modal keys', () => {
  it.each<{ keys: string[]; commands: unknown[]; open?: boolean }>([
    { keys: ['a'], commands: [{ type: 'approve', id: 'a1' }] },
    { keys: ['d', 'enter'], commands: [{ type: 'deny', id: 'a1' }] },
    { keys: ['d', 'n', 'o', 'p', 'e', 'enter'], commands: [{ type: 'deny', id: 'a1', reason: 'nope' }] },
    { keys: ['d', ' ', ' ', 'enter'], commands: [{ type: 'deny', id: 'a1' }] },
    { keys: ['d', 'x', 'backspace', 'y', 'enter'], commands: [{ type: 'deny', id: 'a1', reason: 'y' }] },
    { keys: ['A', '1', '0', 'm', 'enter'], commands: [{ type: 'approve', id: 'a1', forMs: 600_000 }] },
    { keys: ['A', '2', 'h', 'enter'], commands: [{ type: 'approve', id: 'a1', forMs: 7_200_000 }] },
    // invalid or empty durations never approve
    { keys: ['A', 'enter'], commands: [], open: true },
    { keys: ['A', 'x', 'enter'], commands: [], open: true },
    { keys: ['A', '0', 's', 'enter'], commands: [], open: true },
    // Esc is "later" and never approves; in a sub-prompt it goes back
    { keys: ['escape'], commands: [], open: false },
    { keys: ['A', 'escape', 'escape'], commands: [], open: false },
    { keys: ['d', 'escape'], commands: [], open: true },
    // the default focus is Deny, which still asks a reason: Enter, Enter denies; one Enter decides nothing
    { keys: ['enter'], commands: [], open: true },
    { keys: ['enter', 'enter'], commands: [{ type: 'deny', id: 'a1' }] },
    { keys: ['S-tab', 'S-tab', 'enter'], commands: [{ type: 'approve', id: 'a1' }] },
    { keys: ['tab', 'enter'], commands: [], open: false },
    // keys meant for the main screen do nothing while a prompt is open
    { keys: ['q', 'k', 'r', '/', '?'], commands: [], open: true },
    { keys: ['C-c'], commands: [{ type: 'quit' }] },
  ])('$keys', ({ keys, commands, open }) => {
    const { ui, ctx, model } = setup(['a1']);
    expect(press(ui, ctx, ...keys)).toEqual(commands);
    if (open !== undefined) expect(model.promptFor(ui.approval.id) !== undefined).toBe(open);
    expect(ui.overlay.kind).toBe('none');
  });

  it('a decided approval is marked as being decided and the next one is prompted', () => {
    const { ui, ctx, model } = setup(['a1', 'a2']);
    expect(press(ui, ctx, 'a')).toEqual([{ type: 'approve', id: 'a1' }]);
    expect(model.pending.get('a1')!.deciding).toBe(true);
    expect(press(ui, ctx, 'd', 'enter')).toEqual([{ type: 'deny', id: 'a2' }]);
  });

  it('n/p move through the queue; Esc defers only the shown one', () => {
    const { ui, ctx, model } = setup(['a1', 'a2', 'a3']);
    press(ui, ctx, 'n');
    expect(model.promptFor(ui.approval.id)?.row.id).toBe('a2');
    press(ui, ctx, 'p', 'p');
    expect(model.promptFor(ui.approval.id)?.row.id).toBe('a3');
    press(ui, ctx, 'escape');
    expect([...model.deferred]).toEqual(['a3']);
    expect(press(ui, ctx, 'a')).toEqual([{ type: 'approve', id: 'a1' }]);
  });

  it('a reason is capped', () => {
    const { ui, ctx } = setup(['a1']);
    press(ui, ctx, 'd', ...'x'.repeat(500).split(''));
    expect(ui.approval.input).toHaveLength(200);
  });
});

describe('main screen keys', () => {
  it.each<{ keys: string[]; commands?: unknown[]; overlay?: string; focus?: string; pending?: string[] }>([
    { keys: ['?'], overlay: 'help' },
    { keys: ['?', 'escape'], overlay: 'none' },
    { keys: ['?', 'q'], overlay: 'none', commands: [] },
    { keys: ['tab'], focus: 'log' },
    { keys: ['tab', 'tab'], focus: 'pending' },
    { keys: ['tab', 'tab', 'tab'], focus: 'sessions' },
    { keys: ['S-tab'], focus: 'pending' },
    { keys: ['3'], focus: 'log' },
    { keys: ['r'], commands: [{ type: 'reload' }] },
    { keys: ['q'], commands: [{ type: 'quit' }] },
    { keys: ['C-c'], commands: [{ type: 'quit' }] },
    // quitting while approvals wait asks, with Cancel focused
    { keys: ['escape', 'q'], pending: ['a1'], overlay: 'confirm-quit', commands: [] },
    { keys: ['escape', 'q', 'enter'], pending: ['a1'], overlay: 'none', commands: [] },
    { keys: ['escape', 'q', 'escape'], pending: ['a1'], overlay: 'none', commands: [] },
    { keys: ['escape', 'q', 'tab', 'enter'], pending: ['a1'], commands: [{ type: 'quit' }] },
    // revoke asks, Cancel focused; Esc never confirms
    { keys: ['k'], overlay: 'confirm-revoke', commands: [] },
    { keys: ['k', 'enter'], overlay: 'none', commands: [] },
    { keys: ['k', 'right', 'escape'], overlay: 'none', commands: [] },
    { keys: ['k', 'right', 'enter'], commands: [{ type: 'revoke', sessionId: 's1' }] },
    { keys: ['down', 'down', 'k', 'tab', 'enter'], commands: [{ type: 'revoke', sessionId: 's3' }] },
    { keys: ['down', 'down', 'down', 'k', 'tab', 'enter'], commands: [{ type: 'revoke', sessionId: 's3' }] },
    { keys: ['G', 'up', 'k', 'tab', 'enter'], commands: [{ type: 'revoke', sessionId: 's2' }] },
    { keys: ['enter'], overlay: 'detail' },
    { keys: ['enter', 'k', 'tab', 'enter'], commands: [{ type: 'revoke', sessionId: 's1' }] },
    { keys: ['enter', 'enter'], overlay: 'none' },
  ])('$keys', ({ keys, commands, overlay, focus, pending }) => {
    const { ui, ctx } = setup(pending ?? []);
    const out = press(ui, ctx, ...keys);
    if (commands) expect(out).toEqual(commands);
    if (overlay) expect(ui.overlay.kind).toBe(overlay);
    if (focus) expect(ui.focus).toBe(focus);
  });

  it('k with no sessions flashes instead of asking', () => {
    const { ui, ctx, model } = setup([], []);
    expect(press(ui, ctx, 'k')).toEqual([]);
    expect(ui.overlay.kind).toBe('none');
    expect(model.flash?.text).toBe('no session to revoke');
  });

  it('/ edits the filter live; Enter keeps it, Esc clears it', () => {
    const { ui, ctx } = setup();
    press(ui, ctx, '/', 'd', 'e', 'n', 'x', 'backspace', 'y');
    expect(ui).toMatchObject({ filter: 'deny', overlay: { kind: 'filter' } });
    press(ui, ctx, 'enter');
    expect(ui).toMatchObject({ filter: 'deny', overlay: { kind: 'none' } });
    press(ui, ctx, 'escape');
    expect(ui.filter).toBe('');
    press(ui, ctx, '/', 'a', 'escape');
    expect(ui).toMatchObject({ filter: '', overlay: { kind: 'none' } });
  });

  it.each<{ keys: string[]; anchor: number | undefined }>([
    { keys: [' '], anchor: 10 },
    { keys: [' ', ' '], anchor: undefined },
    { keys: ['up'], anchor: 9 },
    { keys: ['up', 'up', 'down'], anchor: 9 },
    { keys: ['up', 'down'], anchor: undefined },
    { keys: ['pageup'], anchor: 7 },
    { keys: ['pageup', 'pageup', 'pageup', 'pageup'], anchor: 1 },
    { keys: ['g'], anchor: 1 },
    { keys: ['g', 'G'], anchor: undefined },
    { keys: ['up', 'escape'], anchor: undefined },
  ])('log focus: $keys → anchor $anchor', ({ keys, anchor }) => {
    const { ui, ctx } = setup();
    press(ui, ctx, '3', ...keys);
    expect(ui.logAnchor).toBe(anchor);
  });

  it('Enter on the pending panel reopens a deferred approval', () => {
    const { ui, ctx, model } = setup(['a1']);
    press(ui, ctx, 'escape');
    expect(model.promptFor(ui.approval.id)).toBeUndefined();
    press(ui, ctx, '2', 'enter');
    expect(model.promptFor(ui.approval.id)?.row.id).toBe('a1');
    expect(press(ui, ctx, 'a')).toEqual([{ type: 'approve', id: 'a1' }]);
  });
});

describe('syncSelection', () => {
  it.each<[string | undefined, string[], string | undefined]>([
    [undefined, ['a', 'b'], 'a'],
    ['b', ['a', 'b'], 'b'],
    ['gone', ['a', 'b'], 'a'],
    ['a', [], undefined],
  ])('%s in %j → %s', (selected, ids, expected) => expect(syncSelection(selected, ids)).toBe(expected));
});

describe('leaving (issue #21)', () => {
  it('the dashboard of `start` asks before q or ctrl-c stop the gateway (Cancel focused); d detaches; ctrl-c twice stops', () => {
    const { ctx } = setup();
    const ui = initialUi(true);
    expect(handleKey(ui, 'q', ctx)).toEqual([]);
    expect(ui.overlay).toEqual({ kind: 'confirm-stop', focus: 'cancel' });
    expect(handleKey(ui, 'enter', ctx)).toEqual([]);
    expect(ui.overlay.kind).toBe('none');
    handleKey(ui, 'q', ctx);
    expect(handleKey(ui, 'd', ctx)).toEqual([{ type: 'detach' }]);
    handleKey(ui, 'q', ctx);
    handleKey(ui, 'tab', ctx);
    handleKey(ui, 'tab', ctx);
    expect(handleKey(ui, 'enter', ctx)).toEqual([{ type: 'stop' }]);
    expect(handleKey(ui, 'C-c', ctx)).toEqual([]);
    expect(handleKey(ui, 'C-c', ctx)).toEqual([{ type: 'stop' }]);
    handleKey(ui, 'q', ctx);
    expect(handleKey(ui, 'escape', ctx)).toEqual([]);
    expect(ui.overlay.kind).toBe('none');
  });

  it('an attached dashboard quits freely: ctrl-c at once, q at once when nothing is pending', () => {
    const { ui, ctx } = setup();
    expect(handleKey(ui, 'q', ctx)).toEqual([{ type: 'quit' }]);
    const pending = setup(['a1']);
    expect(handleKey(pending.ui, 'C-c', pending.ctx)).toEqual([{ type: 'quit' }]);
  });

  it('Enter in the log opens the call under the cursor and pauses there', () => {
    const { ui, ctx } = setup();
    ui.focus = 'log';
    handleKey(ui, 'up', ctx);
    handleKey(ui, 'enter', ctx);
    expect(ui.overlay).toEqual({ kind: 'call', seq: 9, scroll: 0 });
    ctx.callScrollMax = 4;
    handleKey(ui, 'G', ctx);
    expect(ui.overlay).toEqual({ kind: 'call', seq: 9, scroll: 4 });
    handleKey(ui, 'escape', ctx);
    expect(ui.overlay.kind).toBe('none');
    expect(ui.logAnchor).toBe(9);
  });
});
