import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { initialUi } from '../../src/tui/controller.js';
import { bellEnabled, defaultTerminal } from '../../src/tui/dashboard.js';
import { cell, cellMiddle, computeLayout, fitColumns, modalBox, scrollTop, shortArn, truncate, type ColumnSpec } from '../../src/tui/layout.js';
import { DashboardModel } from '../../src/tui/model.js';
import { availableThemes, chooseThemeName, loadTheme, parseTheme, sgr, THEME_ROLES, ThemeError } from '../../src/tui/theme.js';
import { approvalModal } from '../../src/tui/modals.js';
import { footerLine, formatLatency, headerLines, LOG_COLUMNS, logView, plain, sessionsView, styled } from '../../src/tui/view.js';

const T0 = Date.parse('2025-01-01T10:00:00Z');
const mono = loadTheme('mono');
const dark = loadTheme('dark');

describe('computeLayout', () => {
  it.each([
    { w: 80, h: 24, sessions: 3, pending: 0, tooSmall: false },
    { w: 79, h: 24, sessions: 3, pending: 0, tooSmall: true },
    { w: 80, h: 23, sessions: 3, pending: 0, tooSmall: true },
    { w: 120, h: 40, sessions: 50, pending: 20, tooSmall: false },
    { w: 200, h: 60, sessions: 0, pending: 1, tooSmall: false },
  ])('$w×$h with $sessions sessions, $pending pending', ({ w, h, sessions, pending, tooSmall }) => {
    const l = computeLayout(w, h, { sessions, pending });
    expect(l.tooSmall).toBe(tooSmall);
    if (tooSmall) return;
    // panels tile the body exactly, in order, and the log always keeps room
    expect(l.sessions.top).toBe(3);
    expect(l.pending.top).toBe(l.sessions.top + l.sessions.height);
    expect(l.log.top).toBe(l.pending.top + l.pending.height);
    expect(l.log.top + l.log.height).toBe(l.footer.top);
    expect(l.footer.top).toBe(h - 1);
    expect(l.log.height).toBeGreaterThanOrEqual(6);
    expect(l.sessions.height).toBeGreaterThanOrEqual(Math.min(sessions + 3, 4));
  });
});

describe('fitColumns', () => {
  const specs: ColumnSpec<'a' | 'b' | 'c' | 'd' | 'x'>[] = [
    { key: 'a', title: 'A', width: 10, drop: 0 },
    { key: 'b', title: 'B', width: 10, drop: 2 },
    { key: 'c', title: 'C', width: 10, drop: 1 },
    { key: 'd', title: 'D', width: 5, drop: 0, flex: true, prefer: 20 },
    { key: 'x', title: 'X', width: 10, drop: 3 },
  ];
  it.each([
    [100, ['a', 'b', 'c', 'd', 'x'], 100],
    [60, ['a', 'b', 'c', 'd'], 60], // the extra goes first so the flex column gets its preferred width
    [40, ['a', 'b', 'c', 'd'], 40],
    [30, ['a', 'c', 'd'], 30],
    [20, ['a', 'd'], 20],
    [5, ['a', 'd'], 16], // nothing more can be dropped: the row is cut when drawn
  ])('width %i keeps %j', (width, keys, total) => {
    const cols = fitColumns(specs, width);
    expect(cols.map((c) => c.key)).toEqual(keys);
    expect(cols.reduce((n, c) => n + c.width, 0) + cols.length - 1).toBe(total);
  });

  it.each([
    // 80×24: the rule stays, before the resource; ACTION fits secretsmanager:GetSecretValue (29).
    [78, ['time', 'action', 'decision', 'rule', 'resource'], 14],
    // 120×40: account and latency come back; the resource still gets 30+.
    [118, ['time', 'account', 'action', 'decision', 'rule', 'latency', 'resource'], 31],
    // 200×50: the note column too, and the resource takes the rest.
    [198, ['time', 'account', 'action', 'decision', 'rule', 'latency', 'resource', 'note'], 80],
  ] as const)('log columns at %i inner cells: %j, resource %i wide', (width, keys, resourceWidth) => {
    const cols = fitColumns(LOG_COLUMNS, width);
    expect(cols.map((c) => c.key)).toEqual(keys);
    expect(cols.find((c) => c.key === 'action')!.width).toBeGreaterThanOrEqual('secretsmanager:GetSecretValue'.length);
    expect(cols.find((c) => c.key === 'resource')!.width).toBe(resourceWidth);
    expect(cols.reduce((n, c) => n + c.width, 0) + cols.length - 1).toBe(width);
  });

  it('cellMiddle keeps both ends; shortArn drops the arn:aws: prefix', () => {
    expect(cellMiddle('s3:::reports/2024/q1.csv', 15)).toBe('s3:::…24/q1.csv');
    expect(cellMiddle('short', 8)).toBe('short   ');
    expect(cellMiddle('abcdef', 3)).toBe('ab…');
    expect(shortArn('arn:aws:s3:::reports/2024/q1.csv')).toBe('s3:::reports/2024/q1.csv');
    expect(shortArn('arn:aws-cn:dynamodb:cn-north-1:1:table/t')).toBe('dynamodb:cn-north-1:1:table/t');
    expect(shortArn('*')).toBe('*');
  });
});

describe('text cells', () => {
  it.each([
    ['abc', 5, 'left', 'abc  '],
    ['abc', 5, 'right', '  abc'],
    ['abcdef', 4, 'left', 'abc…'],
    ['a\x1b[31mb', 10, 'left', 'a?[31mb   '],
    ['x', 0, 'left', ''],
  ] as const)('cell(%j, %i, %s)', (text, width, align, expected) => expect(cell(text, width, align)).toBe(expected));

  it('truncate never exceeds the width', () => {
    expect(truncate('hello world', 5)).toBe('hell…');
    expect(truncate('hi', 5)).toBe('hi');
  });

  it.each([
    [0, 0, 5, 3, 0],
    [0, 6, 5, 20, 2],
    [10, 4, 5, 20, 4],
    [10, 12, 5, 20, 10],
    [18, 19, 5, 20, 15],
  ])('scrollTop(prev %i, selected %i, visible %i, total %i) = %i', (prev, sel, vis, total, top) => expect(scrollTop(prev, sel, vis, total)).toBe(top));

  it('modals are centred and at most 80 columns', () => {
    expect(modalBox(200, 50, { width: 120, height: 20 })).toEqual({ left: 60, top: 15, width: 80, height: 20 });
    expect(modalBox(80, 24, { width: 80, height: 40 })).toEqual({ left: 2, top: 1, width: 76, height: 22 });
  });
});

describe('themes', () => {
  it('ships dark, light, high-contrast and mono, each valid and complete', () => {
    const names = availableThemes();
    for (const name of ['dark', 'light', 'high-contrast', 'mono']) {
      expect(names).toContain(name);
      const theme = loadTheme(name);
      expect(Object.keys(theme.styles).sort()).toEqual([...THEME_ROLES].sort());
    }
  });

  it('mono uses no colour at all', () => {
    for (const style of Object.values(mono.styles)) {
      expect(style.fg).toBeUndefined();
      expect(style.bg).toBeUndefined();
    }
  });

  it.each<[string | undefined, Record<string, string>, string]>([
    [undefined, {}, 'dark'],
    [undefined, { NO_COLOR: '1' }, 'mono'],
    [undefined, { NO_COLOR: '' }, 'dark'],
    [undefined, { PORTCULLIS_THEME: 'light' }, 'light'],
    [undefined, { PORTCULLIS_THEME: 'light', NO_COLOR: 'yes' }, 'mono'],
    ['high-contrast', { NO_COLOR: '1', PORTCULLIS_THEME: 'light' }, 'high-contrast'],
  ])('chooseThemeName(%s, %j) = %s', (option, env, name) => expect(chooseThemeName(option, env)).toBe(name));

  it.each<[unknown, RegExp]>([
    [[], /a theme is a JSON object/],
    [{ styles: {} }, /"name" must be a non-empty string/],
    [{ name: 'x' }, /"styles" must be an object/],
    [{ name: 'x', styles: { nope: {} } }, /styles\.nope: unknown role/],
    [{ name: 'x', styles: { text: 5 } }, /styles\.text: must be an object/],
    [{ name: 'x', styles: { text: { fg: 256 } } }, /styles\.text\.fg: 256 is not a colour/],
    [{ name: 'x', styles: { text: { fg: '#ff0000' } } }, /is not a colour \(use a number 0–255/],
    [{ name: 'x', styles: { text: { bg: 1.5 } } }, /styles\.text\.bg/],
    [{ name: 'x', styles: { text: { bold: 'yes' } } }, /styles\.text\.bold: must be true or false/],
    [{ name: 'x', styles: { text: { blink: true } } }, /styles\.text\.blink: unknown attribute/],
  ])('rejects %j', (doc, message) => {
    expect(() => parseTheme(doc, 'my.json')).toThrow(ThemeError);
    expect(() => parseTheme(doc, 'my.json')).toThrow(message);
  });

  it('missing roles fall back to the box style', () => {
    expect(parseTheme({ name: 'x', styles: { deny: { fg: 1 } } }, 'f').styles.allow).toEqual({});
  });

  it.each([
    ['nope', /theme "nope" not found \(available: .*dark/],
    ['../etc/passwd', /not found/],
    ['a b', /not a theme name/],
  ])('loadTheme(%j) fails clearly', (name, message) => expect(() => loadTheme(name)).toThrow(message));

  it('loads a theme file by path and reports bad JSON with the file name', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pc-theme-'));
    writeFileSync(join(dir, 'mine.json'), JSON.stringify({ name: 'mine', styles: { deny: { fg: 9, bold: true } } }));
    writeFileSync(join(dir, 'bad.json'), '{ nope');
    expect(loadTheme(join(dir, 'mine.json')).styles.deny).toEqual({ fg: 9, bold: true });
    expect(() => loadTheme(join(dir, 'bad.json'))).toThrow(/bad\.json: not valid JSON/);
  });

  it.each([
    [{}, '\x1b[0m'],
    [{ bold: true, inverse: true }, '\x1b[0;1;7m'],
    [{ fg: 203, bg: 'default' as const }, '\x1b[0;38;5;203;49m'],
    [{ underline: true, fg: 'default' as const, bg: 17 }, '\x1b[0;4;39;48;5;17m'],
  ])('sgr(%j)', (style, code) => expect(sgr(style)).toBe(code));
});

describe('environment switches', () => {
  it.each([
    [{ TERM: 'tmux-256color' }, 'xterm-256color'],
    [{ TERM: 'screen-256color' }, 'xterm-256color'],
    [{ TERM: 'screen' }, undefined],
    [{ TERM: 'xterm-256color' }, undefined],
    [{}, undefined],
  ])('defaultTerminal(%j) = %s', (env, term) => expect(defaultTerminal(env)).toBe(term));

  it.each<[boolean | undefined, Record<string, string>, boolean]>([
    [undefined, {}, true],
    [undefined, { PORTCULLIS_BELL: '0' }, false],
    [undefined, { PORTCULLIS_BELL: 'off' }, false],
    [undefined, { PORTCULLIS_BELL: '1' }, true],
    [false, {}, false],
    [true, { PORTCULLIS_BELL: '0' }, true],
  ])('bellEnabled(%s, %j) = %s', (option, env, on) => expect(bellEnabled(option, env)).toBe(on));
});

describe('view text', () => {
  function model(): DashboardModel {
    const m = new DashboardModel({ now: () => T0 });
    m.applyStatus({
      url: 'https://127.0.0.1:8443',
      version: '0.1.0',
      pid: 1,
      startedAt: new Date(T0 - 3_723_000).toISOString(),
      stateDir: '/s',
      policy: { file: 'policy.yaml', sha256: 'x', rules: 12, serviceAccounts: 2, state: 'ok', errors: [], loadedAt: '' },
      counts: { allowed: 10, denied: 2, pending: 0, activeSessions: 1, requests: 12 },
    });
    m.setConnection('connected');
    return m;
  }

  it('styled cuts to the width with … and pads when asked', () => {
    expect(plain(styled([['abc', 'deny'], ['defgh']], 6, dark))).toBe('abcde…');
    expect(plain(styled([['ab', 'header']], 5, dark, true))).toBe('ab   ');
    expect(styled([['ab', 'deny']], 5, dark)).toBe('\x1b[0;1;38;5;203mab\x1b[0m');
  });

  it('header shows URL, policy, uptime, counts, req/s and connection; disconnected takes the status line', () => {
    const m = model();
    let [l1, l2, l3] = headerLines(m, mono, 120).map(plain);
    expect(l1).toContain('https://127.0.0.1:8443');
    expect(l1).toContain('up 1h02m │ policy ✓ policy.yaml (12 rules)');
    expect(l1).toContain('up 1h02m');
    expect(l2).toMatch(/allowed 10 {2}denied 2 {2}pending 0 {2}limited 0 {2}sessions 0 {2}0\.0 req\/s +● connected$/);
    expect(l3).toBe('');
    m.setConnection('disconnected', 'no gateway');
    [, l2, l3] = headerLines(m, mono, 120).map(plain);
    expect(l2).toContain('○ disconnected');
    expect(l3).toContain('disconnected — retrying (no gateway)');
    for (const line of headerLines(m, mono, 80)) expect(plain(line).length).toBeLessThanOrEqual(80);
  });

  it('sessions: title counts rows, selection is tracked by id and highlighted', () => {
    const m = model();
    for (const [id, account] of [['s1', 'ci'], ['s2', 'etl']]) {
      m.apply({ type: 'session.started', at: new Date(T0 - 60_000).toISOString(), sessionId: id!, serviceAccount: account!, issuer: 'i', subject: 's', claims: {}, roleArn: 'r', expiresAt: new Date(T0 + 60_000).toISOString(), policySha256: 'x' });
    }
    const ui = initialUi();
    ui.selectedSession = 's2';
    const v = sessionsView(m, ui, mono, 100, 5, 0, true);
    expect(v.label).toBe(' Sessions[2] ');
    expect(v.ids).toEqual(['s1', 's2']);
    expect(plain(v.lines[0]!)).toMatch(/^ACCOUNT +SESSION +AGE +CALLS +DENIED +LIMITED +EXPIRES +LAST ACTION/);
    const selected = v.lines.find((l) => plain(l).startsWith('etl'))!;
    expect(selected.startsWith(sgr(mono.styles.selected))).toBe(true);
    expect(plain(selected)).toHaveLength(100);
    // at 80 columns the optional EXPIRES column goes first
    expect(plain(sessionsView(m, ui, mono, 78, 5, 0, true).lines[0]!)).not.toContain('EXPIRES');
  });

  it('log: filter in the title, paused indicator, only visible rows', () => {
    const m = model();
    for (let i = 0; i < 30; i += 1) {
      m.apply({ type: 'decision', at: new Date(T0).toISOString(), sessionId: 's', requestId: `r${i}`, serviceAccount: i % 2 ? 'ci' : 'etl', action: 's3:GetObject', resource: 'arn', effect: i % 3 ? 'allow' : 'deny', ruleId: 'r' });
    }
    const ui = initialUi();
    let v = logView(m, ui, mono, 100, 6);
    expect(v.label).toContain('Log[30]');
    expect(v.label).toContain('▼ following');
    expect(v.lines).toHaveLength(6);
    ui.filter = 'deny';
    ui.logAnchor = logView(m, ui, mono, 100, 6).seqs[3];
    v = logView(m, ui, mono, 100, 6);
    expect(v.label).toContain('Log[10] </deny>');
    expect(v.label).toMatch(/PAUSED \(6 newer\)/);
    expect(v.lines.slice(1).every((l) => plain(l).includes('DENY'))).toBe(true);
  });

  it('approval modal: fields, masked params, countdown in the title, the safe button focused', () => {
    const m = model();
    for (const id of ['a1', 'a2']) {
      m.apply({ type: 'approval.proposed', at: new Date(T0).toISOString(), approvalId: id, sessionId: 's1', requestId: 'q', serviceAccount: 'ci', action: 's3:DeleteObject', resource: 'arn:aws:s3:::b/k', params: { Key: 'k', Token: '****' }, ruleId: 'approve-deletes', expiresAt: new Date(T0 + 42_500).toISOString() });
    }
    const ui = initialUi();
    const p = m.promptFor()!;
    const modal = approvalModal(p.row, p.index, p.total, ui, m, mono, 120, 40);
    expect(modal.label).toBe(' Approval 1 of 2 — 43s left ');
    expect(modal.width).toBe(80);
    const text = modal.lines.map(plain).join('\n');
    expect(text).toMatch(/Service account +ci/);
    expect(text).toMatch(/Held by rule +approve-deletes/);
    expect(text).toContain('"Token": "****"');
    const buttons = modal.lines.find((l) => plain(l).includes('Approve once'))!;
    expect(buttons).toContain(`${sgr(mono.styles.buttonFocus)} [d] Deny `);
    for (const line of modal.lines) expect(plain(line).length).toBeLessThanOrEqual(76);
  });

  it('footer lists the keys of the focused panel and is cut to the width', () => {
    const ui = initialUi();
    expect(plain(footerLine(ui, false, mono, 200))).toContain('k revoke');
    ui.focus = 'log';
    expect(plain(footerLine(ui, false, mono, 200))).toContain('Space pause');
    expect(plain(footerLine(ui, true, mono, 200))).toContain('a approve once');
    expect(plain(footerLine(ui, false, mono, 30))).toHaveLength(30);
  });

  it.each([
    [undefined, '-'],
    [12.4, '12ms'],
    [1234, '1.23s'],
    [65_000, '65.0s'],
  ])('formatLatency(%s) = %s', (ms, text) => expect(formatLatency(ms)).toBe(text));
});

describe('flash text', () => {
  it('never repeats what the gateway already says', async () => {
    const { flashText } = await import('../../src/tui/dashboard.js');
    expect(flashText('approved 7dx6', 'approved 7dx6: s3:DeleteObject on arn:aws:s3:::b/k for ci')).toBe('approved 7dx6: s3:DeleteObject on arn:aws:s3:::b/k for ci');
    expect(flashText('policy reload', 'policy reloaded (ab12)')).toBe('policy reloaded (ab12)');
    expect(flashText('ended grant g-1', 'ok')).toBe('ended grant g-1: ok');
    expect(flashText('revoked s1', 'revoked s1')).toBe('revoked s1');
    expect(flashText('revoked s1', undefined)).toBe('revoked s1');
  });
});
