// The real dashboard in a real terminal: tmux runs test/tui/harness.mjs (runDashboard from dist/
// against a scripted stand-in for the admin socket), we type keys with send-keys and read the screen
// with capture-pane. The harness appends every command the dashboard sends to a JSONL file.
// Waits poll for a condition (with a generous deadline); nothing asserts on timing.

import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');
const HARNESS = join(ROOT, 'test/tui/harness.mjs');
const hasTmux = spawnSync('tmux', ['-V']).status === 0;
const sessions: string[] = [];
const dir = mkdtempSync(join(tmpdir(), 'pc-tui-'));
let counter = 0;

function distIsStale(): boolean {
  const built = join(ROOT, 'dist/tui/dashboard.js');
  if (!existsSync(built)) return true;
  const builtAt = statSync(built).mtimeMs;
  return readdirSync(join(ROOT, 'src/tui')).some((f) => statSync(join(ROOT, 'src/tui', f)).mtimeMs > builtAt);
}

interface Term {
  name: string;
  calls: string;
}

function start(options: { width?: number; height?: number; env?: Record<string, string> } = {}): Term {
  const name = `pc-tui-${process.pid}-${(counter += 1)}`;
  const calls = join(dir, `${name}.jsonl`);
  const env = { NCURSES_NO_UTF8_ACS: '1', TERM: 'xterm-256color', LANG: 'C.UTF-8', PORTCULLIS_BELL: '0', ...options.env };
  const assignments = Object.entries(env).map(([k, v]) => `${k}='${v}'`).join(' ');
  const command = `env -u NO_COLOR -u PORTCULLIS_THEME ${assignments} node ${HARNESS} ${calls}; echo __EXITED__ $?; sleep 120`;
  execFileSync('tmux', ['new-session', '-d', '-s', name, '-x', String(options.width ?? 120), '-y', String(options.height ?? 40), command]);
  sessions.push(name);
  return { name, calls };
}

function capture(term: Term, escapes = false): string {
  return execFileSync('tmux', ['capture-pane', '-p', ...(escapes ? ['-e'] : []), '-t', term.name], { encoding: 'utf8' });
}

function keys(term: Term, ...list: string[]): void {
  for (const key of list) execFileSync('tmux', ['send-keys', '-t', term.name, key]);
}

function type(term: Term, text: string): void {
  execFileSync('tmux', ['send-keys', '-t', term.name, '-l', text]);
}

async function waitFor(term: Term, test: (screen: string) => boolean, what: string, escapes = false): Promise<string> {
  const deadline = Date.now() + 15_000;
  let screen = '';
  while (Date.now() < deadline) {
    screen = capture(term, escapes);
    if (test(screen)) return screen;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}; screen:\n${screen}`);
}

const shows = (term: Term, text: string | RegExp) =>
  waitFor(term, (s) => (typeof text === 'string' ? s.includes(text) : text.test(s)), `"${String(text)}"`);

function calls(term: Term): Record<string, unknown>[] {
  if (!existsSync(term.calls)) return [];
  return readFileSync(term.calls, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
}

async function waitForCall(term: Term, method: string): Promise<Record<string, unknown>[]> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    const list = calls(term).filter((c) => c.method === method);
    if (list.length > 0) return list;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no ${method} call recorded; calls: ${JSON.stringify(calls(term))}\n${capture(term)}`);
}

describe.skipIf(!hasTmux)('dashboard in tmux', () => {
  beforeAll(() => {
    // tsc still emits when files outside src/tui have type errors, so ignore its exit status.
    if (distIsStale()) spawnSync('npx', ['tsc', '-p', ROOT], { cwd: ROOT, stdio: 'ignore' });
  }, 120_000);

  afterAll(() => {
    for (const name of sessions) spawnSync('tmux', ['kill-session', '-t', name]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('shows header, sessions and log, pops the approval prompt, and `a` approves once', async () => {
    const t = start();
    const screen = await waitFor(t, (s) => s.includes('Approval 1 of 1') && s.includes('Sessions[3]') && s.includes('Parameters'), 'the prompt');
    expect(screen).toContain('https://127.0.0.1:8443');
    expect(screen).toContain('policy ✓ policy.yaml (12 rules)');
    expect(screen).toContain('Sessions[3]');
    expect(screen).toMatch(/ci-deployer\s+s-ci-7f3a/);
    // The modal covers the middle of the log's title.
    expect(screen).toMatch(/Log\[\d+\] ─ ▼ follo/);
    expect(screen).toMatch(/│\d\d:\d\d:\d\d (ci-deploye|etl-nightl|mcp-agent)/);
    expect(screen).toContain('Service account ci-deployer');
    expect(screen).toContain('"VersionId": "****"');
    expect(screen).toMatch(/Approval 1 of 1 — \d+s left/);
    keys(t, 'a');
    const [approve] = await waitForCall(t, 'approve');
    expect(approve).toMatchObject({ id: 'ap1' });
    expect(approve!.forMs).toBeUndefined();
    const after = await waitFor(t, (s) => !s.includes('Approval 1 of') && s.includes('APPROVED'), 'the modal to close');
    expect(after).toContain('Pending[0]');
    // ACTION keeps its meaning, RULE comes before RESOURCE, and the resource drops `arn:aws:`.
    expect(after).toMatch(/ALLOW\s+allow-reads\s+\d+ms (s3:::|dynamodb:)/);
    expect(after).toMatch(/secretsmanager:GetSecretValue DENY\s+deny-secrets/);
    // The held call was logged when its hold started; the approval by the human follows it.
    expect(after).toMatch(/s3:DeleteObject +HOLD +approve-delet…[^\n]*\n[^]*s3:DeleteObject +APPROVED +approve-delet…/);
  });

  it('queues several prompts ("1 of N"); `d` asks a reason, Enter skips it; `A` asks a duration', async () => {
    const t = start({ env: { HARNESS_PENDING: '3' } });
    await shows(t, 'Approval 1 of 3');
    keys(t, 'd');
    await shows(t, 'Reason for denying (Enter skips)');
    type(t, 'not during the freeze');
    keys(t, 'Enter');
    await waitForCall(t, 'deny');
    await shows(t, /Approval 1 of 2 — \d+s left/);
    keys(t, 'd');
    await shows(t, 'Reason for denying');
    keys(t, 'Enter');
    await waitFor(t, () => calls(t).filter((c) => c.method === 'deny').length === 2, 'a second deny');
    await shows(t, 'Approval 1 of 1');
    keys(t, 'A');
    await shows(t, 'Approve for how long?');
    type(t, 'soon');
    keys(t, 'Enter');
    await shows(t, '"soon" is not a duration');
    keys(t, 'BSpace', 'BSpace', 'BSpace', 'BSpace');
    type(t, '10m');
    keys(t, 'Enter');
    const [approve] = await waitForCall(t, 'approve');
    const denies = calls(t).filter((c) => c.method === 'deny');
    expect(denies[0]).toMatchObject({ id: 'ap1', reason: 'not during the freeze' });
    expect(denies[1]).toMatchObject({ id: 'ap2' });
    expect(denies[1]!.reason).toBeUndefined();
    expect(approve).toMatchObject({ id: 'ap3', forMs: 600_000 });
  });

  it('Esc puts a prompt off without deciding; Enter on the pending panel brings it back', async () => {
    const t = start();
    await shows(t, 'Approval 1 of 1');
    keys(t, 'Escape');
    const screen = await waitFor(t, (s) => !s.includes('Approval 1 of 1'), 'the modal to close');
    expect(screen).toMatch(/ap1\s+ci-deployer\s+s3:DeleteObject/);
    keys(t, '2', 'Enter');
    await shows(t, 'Approval 1 of 1');
    expect(calls(t)).toEqual([]);
  });

  it('renders at 80×24 and follows live resizes, with an explicit message when too small', async () => {
    const t = start({ width: 80, height: 24, env: { HARNESS_PENDING: '0' } });
    let screen = await shows(t, 'Sessions[3]');
    expect(screen).toContain('Pending[0]');
    expect(screen).toMatch(/Log\[\d+\]/);
    expect(screen.split('\n').every((l) => [...l].length <= 80)).toBe(true);
    // At 80 columns the rule stays, before the resource.
    expect(screen).toMatch(/TIME +ACTION +DECISION +RULE +RESOURCE/);
    execFileSync('tmux', ['resize-window', '-t', t.name, '-x', '70', '-y', '20']);
    screen = await shows(t, 'Terminal too small: 70×20');
    expect(screen).toContain('at least 80×24');
    execFileSync('tmux', ['resize-window', '-t', t.name, '-x', '160', '-y', '45']);
    // From 150 columns the log gains its note column.
    screen = await shows(t, /RULE +LATENCY +RESOURCE +NOTE/);
    expect(screen).toContain('Sessions[3]');
    expect(screen).not.toContain('Terminal too small');
  });

  it('at 80×24 the prompt shows every pair and the body hash, scrolls to the rest; a grant ends only after its confirm', async () => {
    const t = start({ width: 80, height: 24, env: { HARNESS_COPY: '1', HARNESS_GRANTS: '1' } });
    const screen = await shows(t, 'Approval 1 of 1');
    expect(screen.split('\n').every((l) => [...l].length <= 80)).toBe(true);
    // Pairs are wrapped at a separator, never cut.
    expect(screen).toMatch(/Covers 2 pairs +s3:PutObject on arn:aws:s3:::prod-data\/ +│.*\n.*│ {17}customers-0\.parquet /);
    expect(screen).toMatch(/s3:GetObject on arn:aws:s3:::staging-data\/exports\/2024\/ +│.*\n.*│ {17}customers-0\.parquet /);
    expect(screen).toMatch(/↑↓ scroll · 0 lines above · \d+ below/);
    expect(screen).toContain('[d] Deny');
    keys(t, 'G');
    const end = await shows(t, /· 0 below/);
    expect(end).toMatch(/Body +12\.3 KiB sha256:ab12cd34…/);
    expect(end).toContain('x-amz-metadata-directive: REPLACE');
    expect(end).toContain('"checksum": "****"');
    expect(calls(t).filter((c) => c.method === 'approve' || c.method === 'deny')).toEqual([]);
    keys(t, 'Escape');
    await waitFor(t, (s) => !s.includes('Approval 1 of') && s.includes('Grants[1]'), 'the prompt put off and the grants listed');
    keys(t, '2', 'Down', 'k');
    const confirm = await shows(t, 'End grant g-7hxk (etl-nightly, approved by alice)?');
    expect(confirm).toContain('s3:GetObject on arn:aws:s3:::reports/2024/q1.csv');
    keys(t, 'Enter');
    await waitFor(t, (s) => !s.includes('End grant g-7hxk'), 'Cancel to close the confirm');
    expect(calls(t).filter((c) => c.method === 'revokeGrant')).toEqual([]);
    keys(t, 'k');
    await shows(t, 'End grant g-7hxk');
    keys(t, 'Tab', 'Enter');
    const [revoke] = await waitForCall(t, 'revokeGrant');
    expect(revoke).toMatchObject({ id: 'g-7hxk' });
    await waitFor(t, (s) => !s.includes('Grants[1]'), 'the grant to leave the panel');
  });

  it('`?` opens help and Esc closes it; `/` filters the log by decision', async () => {
    const t = start({ env: { HARNESS_PENDING: '0' } });
    await shows(t, 'DENY');
    keys(t, '?');
    await shows(t, ' Help ');
    keys(t, 'Escape');
    await waitFor(t, (s) => !s.includes(' Help '), 'help to close');
    keys(t, '/');
    type(t, 'decision:deny');
    keys(t, 'Enter');
    const screen = await shows(t, '</decision:deny>');
    const logLines = screen.split('\n').filter((l) => /^│\d\d:\d\d:\d\d/.test(l));
    expect(logLines.length).toBeGreaterThan(0);
    expect(logLines.every((l) => l.includes('DENY'))).toBe(true);
    keys(t, 'Escape');
    await waitFor(t, (s) => !s.includes('</decision:deny>') && s.includes('ALLOW'), 'the filter to clear');
  });

  it('Enter shows session detail; `k` confirms with Cancel focused before revoking', async () => {
    const t = start({ env: { HARNESS_PENDING: '0' } });
    await shows(t, 'Sessions[3]');
    keys(t, 'Enter');
    await shows(t, 'Recent events');
    keys(t, 'Escape');
    await waitFor(t, (s) => !s.includes('Recent events'), 'detail to close');
    keys(t, 'k');
    await shows(t, 'Revoke s-ci-7f3a (ci-deployer)?');
    keys(t, 'Enter');
    await waitFor(t, (s) => !s.includes('Revoke s-ci-7f3a'), 'the dialog to close');
    expect(calls(t)).toEqual([]);
    keys(t, 'k');
    await shows(t, 'Revoke s-ci-7f3a');
    keys(t, 'Tab', 'Enter');
    const [revoke] = await waitForCall(t, 'revokeSession');
    expect(revoke).toMatchObject({ sessionId: 's-ci-7f3a' });
    await shows(t, 'revoked');
  });

  it('`r` reloads; a rejected policy shows a red banner with file:line:column', async () => {
    const t = start({ env: { HARNESS_PENDING: '0', HARNESS_RELOAD: 'rejected' } });
    await shows(t, 'Sessions[3]');
    keys(t, 'r');
    await waitForCall(t, 'reloadPolicy');
    await shows(t, 'policy.yaml:14:7: effect must be allow, deny or approve');
    const coloured = capture(t, true);
    const bannerLine = coloured.split('\n').find((l) => l.includes('policy.yaml:14:7'))!;
    expect(bannerLine).toMatch(/48;5;124/);
    expect(coloured).toContain('✗ rejected, last good in force');
  });

  it('NO_COLOR selects the mono theme: no colours, inverse for emphasis', async () => {
    const t = start({ env: { NO_COLOR: '1', HARNESS_PENDING: '0' } });
    await shows(t, 'Sessions[3]');
    const coloured = capture(t, true);
    expect(coloured).not.toMatch(/\x1b\[[\d;]*(38|48);5;/);
    expect(coloured).not.toMatch(/\x1b\[[\d;]*\b(3[0-7]|4[0-7]|9[0-7])m/);
    expect(coloured).toMatch(/\x1b\[[\d;]*7m/);
  });

  it('shows "disconnected — retrying" when no gateway answers', async () => {
    const t = start({ env: { HARNESS_DOWN: '1' } });
    const screen = await shows(t, 'disconnected — retrying');
    expect(screen).toContain('○ disconnected');
  });

  it('`q` asks while approvals are pending (Cancel focused), then quits and restores the terminal', async () => {
    const t = start();
    await shows(t, 'Approval 1 of 1');
    keys(t, 'Escape', 'q');
    await shows(t, 'waiting for approval');
    keys(t, 'Enter');
    await waitFor(t, (s) => !s.includes('Quit the dashboard anyway'), 'the dialog to close');
    keys(t, 'q', 'Tab', 'Enter');
    const screen = await shows(t, '__EXITED__ 0');
    expect(screen).not.toContain('Sessions[');
    expect(calls(t).at(-1)).toEqual({ method: 'quit' });
  });

  it('`q` quits at once when nothing is pending; ctrl-c quits too', async () => {
    const a = start({ env: { HARNESS_PENDING: '0' } });
    const b = start({ env: { HARNESS_PENDING: '2' } });
    await shows(a, 'Sessions[3]');
    keys(a, 'q');
    expect(await shows(a, '__EXITED__ 0')).not.toContain('Sessions[');
    await shows(b, 'Approval 1 of 2');
    keys(b, 'C-c');
    expect(await shows(b, '__EXITED__ 0')).not.toContain('Approval');
    expect(calls(b)).toEqual([{ method: 'quit' }]);
  });

  it('in `start` (owner), `q` asks to stop with Cancel focused and the count of sessions; Enter cancels, `d` detaches, ctrl-c twice stops', async () => {
    const t = start({ width: 80, height: 24, env: { HARNESS_PENDING: '0', HARNESS_OWNER: '1' } });
    await shows(t, 'Sessions[3]');
    keys(t, 'q');
    const dialog = await shows(t, 'Stop the gateway? 3 active sessions will lose access.');
    expect(dialog).toContain('dash --state-dir /tmp/harness` reattaches');
    expect(dialog).toMatch(/Cancel .*Detach \(keep serving\).*Stop the gateway/);
    expect(dialog.split('\n').every((l) => [...l].length <= 80)).toBe(true);
    keys(t, 'Enter');
    await waitFor(t, (s) => !s.includes('will lose access'), 'Cancel to close the dialog');
    expect(calls(t)).toEqual([]);
    keys(t, 'C-c');
    await shows(t, 'will lose access');
    keys(t, 'Escape');
    await waitFor(t, (s) => !s.includes('will lose access'), 'Esc to close the dialog');
    keys(t, 'q', 'Tab', 'Enter');
    expect(await shows(t, '__EXITED__ 0')).not.toContain('Sessions[');
    expect(calls(t)).toEqual([{ method: 'quit', exit: 'detach' }]);

    const u = start({ env: { HARNESS_PENDING: '0', HARNESS_OWNER: '1' } });
    await shows(u, 'Sessions[3]');
    keys(u, 'C-c', 'C-c');
    await shows(u, '__EXITED__ 0');
    expect(calls(u)).toEqual([{ method: 'quit', exit: 'stop' }]);
  });

  it('Enter on a log row opens the call: pairs with their rule, timings, masking counts, masked params and excerpt; ⊘ marks masked calls', async () => {
    const t = start({ width: 80, height: 24, env: { HARNESS_PENDING: '0', HARNESS_RATE: '0' } });
    const screen = await shows(t, /dynamodb:Query +ALLOW +⊘/);
    expect(screen.split('\n').every((l) => [...l].length <= 80)).toBe(true);
    // Six calls arrive at start; the newest (the cursor while following) is a Query. Focus the log, open it.
    keys(t, '3');
    await shows(t, 'Enter call detail');
    keys(t, 'Enter');
    // Wait for the modal's last line in view, not its first: a capture can land while tmux is still painting it.
    const detail = await shows(t, /Pairs decided \(1\)[\s\S]*Masking {5}/);
    expect(detail).toMatch(/Call dynamodb:Query r-\d+/);
    // Every pair with the rule that decided it, the resource whole (wrapped at a separator, never cut).
    expect(detail).toMatch(/ALLOW +dynamodb:Query on arn:aws:dynamodb:eu-west-1:123456789012: +│.*\n.*│ {10}table\/orders  \(rule allow-reads\)/);
    expect(detail).toContain('From        10.0.0.7  region eu-west-1');
    expect(detail).toContain('Masking     2 values masked: email ×2');
    expect(detail.split('\n').every((l) => [...l].length <= 80)).toBe(true);
    keys(t, 'G');
    const end = await shows(t, 'Response excerpt (masked)');
    expect(end).toContain('"KeyConditionExpression": "pk = :p"');
    expect(end).toContain('{"Items":[{"email":{"S":"****"}}]}');
    keys(t, 'Escape');
    // Opening a call pauses the log on it; Up moves the cursor within a page that is not full yet.
    await waitFor(t, (s) => !s.includes('Pairs decided') && s.includes('PAUSED (0 newer)'), 'the detail to close');
    keys(t, 'Up', 'Enter');
    await shows(t, /Call secretsmanager:GetSecretValue r-\d+|Call s3:GetObject r-\d+/);
    expect(calls(t)).toEqual([]);
  });

  it('at 80×24 the prompt shows the whole resource (wrapped, never cut) and why the call was held', async () => {
    const t = start({ width: 80, height: 24, env: { HARNESS_LONG_KEY: '1' } });
    const screen = await shows(t, 'Approval 1 of 1');
    expect(screen.split('\n').every((l) => [...l].length <= 80)).toBe(true);
    const text = screen.split('\n').map((l) => l.replace(/^.*?│ /, '').replace(/ *│.*$/, '')).join('\n');
    expect(text).toMatch(/Resource +arn:aws:s3:::prod-data\/exports\/2024\/q1\/\n {16}region=eu-west-1\/tenant=acme-industries\/\n {16}customers-0\.parquet\n/);
    expect(text).toMatch(/Held by rule +approve-deletes — deleting production data needs a\n {16}human\n/);
    expect(screen).not.toMatch(/prod-data\/exports[^│\n]*…/);
  });

  it('attaching fills the log with recent history (in time order) without counting it again; session detail shows who', async () => {
    const t = start({ env: { HARNESS_PENDING: '0', HARNESS_RATE: '0', HARNESS_HISTORY: '1' } });
    const screen = await shows(t, 'iam:PassRole');
    const [events] = await waitForCall(t, 'events');
    expect(events).toEqual({ method: 'events', history: 500 });
    // History first (older times), then live calls.
    expect(screen).toMatch(/cloudformation:DescribeStacks +ALLOW[^\n]*\n[^\n]*iam:PassRole +DENY +no-passrole/);
    // The ended session from history is not a live row; the snapshot's three stay.
    expect(screen).toContain('Sessions[3]');
    expect(screen).not.toMatch(/old-job +s-old-0001/);
    keys(t, 'Enter');
    const detail = await shows(t, 'Recent events');
    expect(detail).toContain('Role        arn:aws:iam::123456789012:role/ci-deployer');
    expect(detail).toContain('Issuer      https://token.actions.githubusercontent.com');
    expect(detail).toContain('Subject     repo:acme/app:ref:refs/heads/main');
    expect(detail).toContain('Client      10.0.0.9  aws-cli/2.15.0');
    expect(detail).toContain('"repository":"acme/app"');
  });
});
