// The admin CLI commands as real processes (`node bin/portcullis.js …`, from the dist build) against
// the real admin socket server started in this test process, with the in-memory FakeControl as the
// gateway behind it. Plus the pure formatters.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startAdminServer, type AdminServer } from '../../src/admin/server.js';
import type { GatewayEvent } from '../../src/events.js';
import { TailFormatter, formatBound, formatDuration, formatGrants, formatPending, formatSessions, formatTable, sanitize } from '../../src/cli/admin.js';
import { FakeControl, T0, decisionEvent, responseEvent, sampleCopyPending, sampleGrants, sampleSessions, samplePending } from '../admin/fake-control.js';

const BIN = fileURLToPath(new URL('../../bin/portcullis.js', import.meta.url));

let root: string;
let stateDir: string;
let control: FakeControl;
let server: AdminServer | undefined;

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'pc-cli-'));
  stateDir = join(root, 'state');
  control = new FakeControl();
  server = undefined;
});

afterEach(async () => {
  await server?.close();
  await rm(root, { recursive: true, force: true });
});

async function startGateway(): Promise<void> {
  server = await startAdminServer(control, { stateDir });
}

function launch(args: string[]): ChildProcess {
  return spawn(process.execPath, [BIN, ...args], {
    env: { ...process.env, TZ: 'UTC', PORTCULLIS_STATE_DIR: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function finish(child: ChildProcess): Promise<Run> {
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr })));
}

// Asynchronous on purpose: the admin server runs in this process and must keep answering.
function run(...args: string[]): Promise<Run> {
  return finish(launch(args));
}

function expectOneLineError(result: Run, code: 1 | 2, text: string): void {
  expect(result.code).toBe(code);
  expect(result.stdout).toBe('');
  expect(result.stderr).toBe(`portcullis: ${text}\n`);
}

describe('portcullis sessions / pending', () => {
  it('sessions prints a table; --active filters; --json is machine-readable', async () => {
    await startGateway();
    const table = await run('sessions', '--state-dir', stateDir);
    expect(table.code).toBe(0);
    const lines = table.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^ID\s+ACCOUNT\s+AGE\s+CALLS\s+DENIED\s+LAST ACTION\s+STATE$/);
    expect(lines[1]).toMatch(/^s-active1\s+ci-bot\s+\S+\s+7\s+2\s+s3:GetObject\s+\S+$/);
    expect(lines[2]).toMatch(/^s-old\s+etl\s+\S+\s+0\s+0\s+-\s+revoked$/);

    const active = await run('sessions', '--active', '--json', '--state-dir', stateDir);
    expect(active.code).toBe(0);
    expect(JSON.parse(active.stdout)).toEqual([sampleSessions()[0]]);
  });

  it('pending prints id, account, action, resource, rule, expires in; --json too', async () => {
    await startGateway();
    const table = await run('pending', '--state-dir', stateDir);
    expect(table.code).toBe(0);
    const [header, row] = table.stdout.trimEnd().split('\n');
    expect(header).toMatch(/^ID\s+ACCOUNT\s+ACTION\s+RESOURCE\s+RULE\s+EXPIRES IN$/);
    expect(row).toMatch(/^k3f9\s+ci-bot\s+secretsmanager:GetSecretValue\s+arn:aws:secretsmanager:\S+prod-db\s+prod-secrets\s+\d+d$/);
    const json = await run('pending', '--json', '--state-dir', stateDir);
    expect(JSON.parse(json.stdout)).toEqual(samplePending());
    control.pendingList = [];
    expect((await run('pending', '--state-dir', stateDir)).stdout).toBe('no pending approvals\n');
  });

  it('uses $PORTCULLIS_STATE_DIR when --state-dir is absent', async () => {
    await startGateway();
    const child = spawn(process.execPath, [BIN, 'pending', '--json'], {
      env: { ...process.env, PORTCULLIS_STATE_DIR: stateDir },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const result = await finish(child);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toHaveLength(1);
  });

  it('without a gateway: one line, exit 1', async () => {
    const missing = join(root, 'nowhere');
    const result = await run('pending', '--state-dir', missing);
    expectOneLineError(result, 1, `no gateway is running with state dir ${missing} (admin socket ${join(missing, 'admin.sock')} not found)`);
    const sessions = await run('sessions', '--state-dir', missing);
    expectOneLineError(sessions, 1, `no gateway is running with state dir ${missing} (admin socket ${join(missing, 'admin.sock')} not found)`);
  });

  it('sessions falls back to the recording index when the gateway is not running', async () => {
    await mkdir(stateDir, { recursive: true });
    const record = (id: string, start: string, expiresAt: string) => ({
      id,
      serviceAccount: 'ci-bot',
      roleArn: 'arn:aws:iam::123456789012:role/ci',
      start,
      expiresAt,
      counts: { calls: 4, allowed: 3, denied: 1, approvals: 0 },
      lines: 9,
      file: `sessions/2025-01-01/${id}.jsonl`,
    });
    await writeFile(
      join(stateDir, 'db.json'),
      JSON.stringify({
        version: 1,
        sessions: [record('s-past', '2025-01-01T00:00:00.000Z', '2025-01-01T01:00:00.000Z'), record('s-live', new Date().toISOString(), '2099-01-01T00:00:00.000Z')],
        approvals: [],
        revocations: [],
      }),
    );
    const result = await run('sessions', '--json', '--state-dir', stateDir);
    expect(result.code).toBe(0);
    expect(result.stderr).toBe(`portcullis: no gateway is running with state dir ${stateDir}; listing recorded sessions\n`);
    const list = JSON.parse(result.stdout) as { sessionId: string; calls: number; denied: number; active: boolean }[];
    expect(list.map((s) => [s.sessionId, s.calls, s.denied, s.active])).toEqual([
      ['s-live', 4, 1, true],
      ['s-past', 4, 1, false],
    ]);
    const active = await run('sessions', '--active', '--state-dir', stateDir);
    expect(active.stdout).toMatch(/^ID.*\ns-live\s+ci-bot\s+\d+s\s+4\s+1\s+-\s+active\n$/);
  });
});

describe('portcullis approve / deny / revoke', () => {
  it('approve ID --for 10m --reason: sends forMs and the OS user, prints the message', async () => {
    await startGateway();
    const result = await run('approve', 'k3f9', '--for', '10m', '--reason', 'release window', '--state-dir', stateDir);
    expect(result).toEqual({ code: 0, stdout: 'approved k3f9 (secretsmanager:GetSecretValue)\n', stderr: '' });
    expect(control.calls.at(-1)).toEqual({
      method: 'approve',
      args: ['k3f9', { by: userInfo().username, reason: 'release window', forMs: 600_000 }],
    });
  });

  it('approve of an unknown id: the gateway\'s error, one line, exit 1', async () => {
    await startGateway();
    expectOneLineError(await run('approve', 'zzzz', '--state-dir', stateDir), 1, 'no pending approval zzzz');
    expectOneLineError(await run('deny', 'done', '--state-dir', stateDir), 1, 'approval done was already decided');
  });

  it('approve --for with a bad duration is a usage error (exit 2) before any call', async () => {
    await startGateway();
    expectOneLineError(await run('approve', 'k3f9', '--for', 'soon', '--state-dir', stateDir), 2, '--for: "soon" is not a duration (use 30s, 10m, 1h or 1d)');
    expect(control.calls).toEqual([]);
  });

  it('approve without an id is a usage error (exit 2)', async () => {
    const result = await run('approve', '--state-dir', stateDir);
    expect(result.code).toBe(2);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('deny ID --reason', async () => {
    await startGateway();
    const result = await run('deny', 'k3f9', '--reason', 'not during the freeze', '--state-dir', stateDir);
    expect(result).toEqual({ code: 0, stdout: 'denied k3f9 (secretsmanager:GetSecretValue)\n', stderr: '' });
    expect(control.calls.at(-1)).toEqual({ method: 'deny', args: ['k3f9', { by: userInfo().username, reason: 'not during the freeze' }] });
  });

  it('revoke SESSION and revoke --service-account NAME', async () => {
    await startGateway();
    expect(await run('revoke', 's-active1', '--state-dir', stateDir)).toEqual({ code: 0, stdout: 'revoked session s-active1\n', stderr: '' });
    expect(await run('revoke', '--service-account', 'ci-bot', '--state-dir', stateDir)).toEqual({
      code: 0,
      stdout: 'revoked every session of ci-bot\n',
      stderr: '',
    });
    expect(control.calls.map((c) => [c.method, ...c.args])).toEqual([
      ['revokeSession', 's-active1', userInfo().username, undefined],
      ['revokeServiceAccount', 'ci-bot', userInfo().username, undefined],
    ]);
    expectOneLineError(await run('revoke', 's-nope', '--state-dir', stateDir), 1, 'no session s-nope');
  });

  it('revoke needs exactly one of SESSION and --service-account (exit 2)', async () => {
    await startGateway();
    const message = 'revoke: give either a SESSION id or --service-account NAME (exactly one)';
    expectOneLineError(await run('revoke', '--state-dir', stateDir), 2, message);
    expectOneLineError(await run('revoke', 's-active1', '--service-account', 'ci-bot', '--state-dir', stateDir), 2, message);
    expect(control.calls).toEqual([]);
  });

  it('without a gateway: approve, deny, revoke fail with one line, exit 1', async () => {
    const expected = `no gateway is running with state dir ${stateDir} (admin socket ${join(stateDir, 'admin.sock')} not found)`;
    expectOneLineError(await run('approve', 'k3f9', '--state-dir', stateDir), 1, expected);
    expectOneLineError(await run('deny', 'k3f9', '--state-dir', stateDir), 1, expected);
    expectOneLineError(await run('revoke', 's-1', '--state-dir', stateDir), 1, expected);
  });
});

describe('portcullis grants', () => {
  it('lists live grants with every pair; --json is the API list', async () => {
    await startGateway();
    const table = await run('grants', '--state-dir', stateDir);
    expect(table.code).toBe(0);
    const lines = table.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^ID\s+BY\s+ACCOUNT\s+UNTIL\s+USES\s+PAIRS$/);
    expect(lines[1]).toMatch(/^g-7hxk\s+alice\s+ci-bot\s+12:10:00 \(ended\)\s+3\s+s3:PutObject on arn:aws:s3:::prod-bucket\/reports\/q3.csv$/);
    expect(lines[2]).toMatch(/^\s+s3:GetObject on arn:aws:s3:::staging\/reports\/q3.csv$/);
    const json = await run('grants', '--json', '--state-dir', stateDir);
    expect(JSON.parse(json.stdout)).toEqual(sampleGrants());
    control.grantList = [];
    expect((await run('grants', '--state-dir', stateDir)).stdout).toBe('no live grants\n');
  });

  it('grants revoke ID ends it (exit 0); an unknown id is one line, exit 1; no id is exit 2', async () => {
    await startGateway();
    const ok = await run('grants', 'revoke', 'g-7hxk', '--state-dir', stateDir);
    expect(ok).toEqual({ code: 0, stdout: 'ended grant g-7hxk (ci-bot, 2 pair(s), used 3 time(s))\n', stderr: '' });
    expect(control.calls.at(-1)).toEqual({ method: 'revokeGrant', args: ['g-7hxk', userInfo().username] });
    expectOneLineError(await run('grants', 'revoke', 'g-7hxk', '--state-dir', stateDir), 1, 'no live grant g-7hxk');
    const usage = await run('grants', 'revoke', '--state-dir', stateDir);
    expect(usage.code).toBe(2);
    expect(usage.stderr.trim().split('\n')).toHaveLength(1);
    // --state-dir given before the subcommand works too.
    control.grantList = sampleGrants();
    expect((await run('grants', '--state-dir', stateDir, 'revoke', 'g-7hxk')).code).toBe(0);
  });

  it('without a gateway: one line, exit 1', async () => {
    const expected = `no gateway is running with state dir ${stateDir} (admin socket ${join(stateDir, 'admin.sock')} not found)`;
    expectOneLineError(await run('grants', '--state-dir', stateDir), 1, expected);
    expectOneLineError(await run('grants', 'revoke', 'g-1', '--state-dir', stateDir), 1, expected);
  });

  it('pending shows what an approval covers: every pair, body size and hash, headers, params', async () => {
    control.pendingList = [sampleCopyPending()];
    await startGateway();
    const out = (await run('pending', '--state-dir', stateDir)).stdout;
    expect(out).toContain('approval c0py (ci-bot, session s-active1, rule prod-writes) covers exactly:');
    expect(out).toContain('  s3:PutObject  on arn:aws:s3:::prod-bucket/reports/q3.csv\n  s3:GetObject  on arn:aws:s3:::staging/reports/q3.csv');
    expect(out).toMatch(/ body {5}12\.3 KiB sha256:ab12cd34… \(sha256 ab12cd34ef560+\)/);
    expect(out).toContain('  headers  x-amz-acl: public-read\n           x-amz-server-side-encryption-customer-key: [MASKED]');
    expect(out).toContain('  params   {"Bucket":"prod-bucket","Key":"reports/q3.csv","CopySource":"staging/reports/q3.csv"} (masked)');
    expect(JSON.parse((await run('pending', '--json', '--state-dir', stateDir)).stdout)).toEqual([sampleCopyPending()]);
  });
});

describe('portcullis tail', () => {
  async function waitFor(read: () => string, predicate: (text: string) => boolean): Promise<string> {
    while (!predicate(read())) await new Promise((r) => setTimeout(r, 10));
    return read();
  }

  it('--json prints raw event lines until Ctrl-C (exit 0)', async () => {
    await startGateway();
    const child = launch(['tail', '--json', '--state-dir', stateDir]);
    let out = '';
    child.stdout!.on('data', (c: Buffer) => (out += c.toString('utf8')));
    const done = finish(child);
    await control.bus.waitForListeners(1);
    const events: GatewayEvent[] = [decisionEvent('s1', 'r1'), responseEvent('s1', 'r1')];
    for (const e of events) control.emit(e);
    await waitFor(() => out, (t) => t.split('\n').length > 2);
    child.kill('SIGINT');
    const result = await done;
    expect(result.code).toBe(0);
    expect(result.stderr).toBe('');
    expect(out.trimEnd().split('\n').map((l) => JSON.parse(l) as unknown)).toEqual(events);
    await control.bus.waitForListeners(0);
  });

  it('human format, filtered by --session: one line per call', async () => {
    await startGateway();
    const child = launch(['tail', '--session', 's-active1', '--state-dir', stateDir]);
    let out = '';
    child.stdout!.on('data', (c: Buffer) => (out += c.toString('utf8')));
    const done = finish(child);
    await control.bus.waitForListeners(1);
    control.emit(decisionEvent('s-old', 'r1', 'allow'));
    control.emit(responseEvent('s-old', 'r1'));
    control.emit(decisionEvent('s-active1', 'r2', 'deny'));
    control.emit(responseEvent('s-active1', 'r2', { status: 403, durationMs: 3, at: '2025-01-01T12:34:56.000Z' }));
    await waitFor(() => out, (t) => t.includes('\n'));
    child.kill('SIGINT');
    expect((await done).code).toBe(0);
    expect(out).toBe('12:34:56 ci-bot s3:GetObject arn:aws:s3:::bucket/key DENY 403 3ms\n');
  });

  it('--session naming a session the gateway does not know: one line, exit 1 (it would wait forever)', async () => {
    await startGateway();
    expectOneLineError(await run('tail', '--session', 'ses-nope', '--state-dir', stateDir), 1, 'tail: no session ses-nope on this gateway (see portcullis sessions)');
  });

  it('exits 1 with one line when the gateway stops', async () => {
    await startGateway();
    const done = run('tail', '--state-dir', stateDir);
    await control.bus.waitForListeners(1);
    await server!.close();
    server = undefined;
    expectOneLineError(await done, 1, 'the gateway closed the event stream (it stopped)');
  });

  it('without a gateway: one line, exit 1', async () => {
    expectOneLineError(
      await run('tail', '--state-dir', stateDir),
      1,
      `no gateway is running with state dir ${stateDir} (admin socket ${join(stateDir, 'admin.sock')} not found)`,
    );
  });
});

describe('formatters', () => {
  it.each([
    [0, '0s'],
    [999, '0s'],
    [59_999, '59s'],
    [60_000, '1m'],
    [3_599_999, '59m'],
    [3_600_000, '1h'],
    [47 * 3_600_000, '47h'],
    [48 * 3_600_000, '2d'],
    [-5_000, '0s'],
  ])('formatDuration(%i) = %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });

  it('sanitize escapes control characters (no terminal injection from request values)', () => {
    expect(sanitize('key\u001b[2Jname\nx\u009b')).toBe('key\\x1b[2Jname\\x0ax\\x9b');
    expect(sanitize('plain/key')).toBe('plain/key');
  });

  it('formatTable pads every column but the last', () => {
    expect(formatTable(['A', 'BB'], [['xyz', '1'], ['q', '22']])).toBe('A    BB\nxyz  1\nq    22');
  });

  it('formatSessions shows age and state', () => {
    const now = Date.parse(T0);
    const text = formatSessions(sampleSessions(), now);
    expect(text.split('\n')[1]).toMatch(/^s-active1\s+ci-bot\s+2m\s+7\s+2\s+s3:GetObject\s+active$/);
    expect(text.split('\n')[2]).toMatch(/^s-old\s+etl\s+3h\s+0\s+0\s+-\s+revoked$/);
    const ended = { ...sampleSessions()[1]!, revoked: false };
    expect(formatSessions([ended], now)).toMatch(/expired$/);
    expect(formatSessions([], now)).toBe('no sessions');
  });

  it('formatPending shows time left, or expired', () => {
    const p = { ...samplePending()[0]!, expiresAt: '2025-01-01T12:01:30.000Z' };
    expect(formatPending([p], Date.parse(T0)).split('\n')[1]).toMatch(/\s1m$/);
    expect(formatPending([p], Date.parse('2025-01-01T13:00:00.000Z')).split('\n')[1]).toMatch(/\sexpired$/);
  });

  it('TailFormatter folds request and decision into the response line', () => {
    const f = new TailFormatter();
    // Human tail prints local time; this process's zone is whatever the machine's is.
    const t = new Date(T0);
    const hms = [t.getHours(), t.getMinutes(), t.getSeconds()].map((n) => String(n).padStart(2, '0')).join(':');
    expect(f.line({ type: 'request', at: T0, sessionId: 's', requestId: 'r1', serviceAccount: 'a', service: 's3', action: 's3:GetObject', resource: 'x', region: 'us-east-1' })).toBeUndefined();
    expect(f.line(decisionEvent('s', 'r1', 'approve'))).toBeUndefined();
    expect(f.line(responseEvent('s', 'r1', { status: 503, durationMs: 250 }))).toBe(`${hms} ci-bot s3:GetObject arn:aws:s3:::bucket/key HELD 503 250ms`);
    // A response without a seen decision still prints, with "-".
    expect(f.line(responseEvent('s', 'r9'))).toBe(`${hms} ci-bot s3:GetObject arn:aws:s3:::bucket/key - 200 12ms`);
    expect(f.line({ ...decisionEvent('s', 'r2'), via: 'grant' } as GatewayEvent)).toBeUndefined();
    expect(f.line(responseEvent('s', 'r2'))).toContain(' GRANT 200 ');
    expect(f.line({ type: 'approval.decided', at: T0, approvalId: 'k3f9', decision: 'approved', by: 'alice', forMs: 600_000 })).toBe(
      `${hms} - approval k3f9 approved by alice for 10m`,
    );
    expect(f.line(responseEvent('s', 'r3', { resource: 'arn:aws:s3:::b/\u001b[31mred' }))).toContain('arn:aws:s3:::b/\\x1b[31mred');
  });

  it('formatBound falls back to action + resource and says when there is no body or header', () => {
    const text = formatBound(samplePending()[0]!);
    expect(text.split('\n')).toEqual([
      'approval k3f9 (ci-bot, session s-active1, rule prod-secrets) covers exactly:',
      '  secretsmanager:GetSecretValue  on arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod-db',
      '  body     no body',
      '  headers  none that change the effect',
      '  params   (none) (masked)',
    ]);
    expect(formatBound({ ...sampleCopyPending(), headers: { 'x-amz-acl': 'a\u001b[2J' } })).toContain('x-amz-acl: a\\x1b[2J');
  });

  it('formatGrants shows time left and one row per extra pair', () => {
    const t = new Date('2025-01-01T12:10:00.000Z');
    const hms = [t.getHours(), t.getMinutes(), t.getSeconds()].map((n) => String(n).padStart(2, '0')).join(':');
    const lines = formatGrants(sampleGrants(), Date.parse(T0)).split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[1]).toMatch(new RegExp(`^g-7hxk\\s+alice\\s+ci-bot\\s+${hms} \\(10m\\)\\s+3\\s+s3:PutObject on `));
    expect(formatGrants([], 0)).toBe('no live grants');
  });

  it('TailFormatter prints grant events', () => {
    const f = new TailFormatter();
    const at = (iso: string) => {
      const t = new Date(iso);
      return [t.getHours(), t.getMinutes(), t.getSeconds()].map((n) => String(n).padStart(2, '0')).join(':');
    };
    const [g] = sampleGrants();
    expect(f.line({ type: 'grant.created', at: T0, grantId: g!.id, approvalId: 'c0py', sessionId: 's-active1', serviceAccount: 'ci-bot', pairs: g!.pairs, by: 'alice', until: g!.until })).toBe(
      `${at(T0)} ci-bot GRANT g-7hxk created by alice from approval c0py until ${at(g!.until)}: s3:PutObject on arn:aws:s3:::prod-bucket/reports/q3.csv, s3:GetObject on arn:aws:s3:::staging/reports/q3.csv`,
    );
    expect(f.line({ type: 'grant.used', at: T0, grantId: 'g-7hxk', approvalId: 'c0py', sessionId: 's-2', requestId: 'r-9' })).toBe(`${at(T0)} - grant g-7hxk used by request r-9 (session s-2)`);
    expect(f.line({ type: 'grant.ended', at: T0, grantId: 'g-7hxk', approvalId: 'c0py', sessionId: 's-active1', reason: 'revoked', by: 'bob', uses: 4 })).toBe(
      `${at(T0)} - grant g-7hxk ended (revoked by bob) after 4 use(s)`,
    );
  });

  it('TailFormatter forgets decisions beyond its bound', () => {
    const f = new TailFormatter(2);
    for (const id of ['r1', 'r2', 'r3']) f.line(decisionEvent('s', id, 'deny'));
    expect(f.line(responseEvent('s', 'r1'))).toContain(' - 200 ');
    expect(f.line(responseEvent('s', 'r3'))).toContain(' DENY 200 ');
  });
});
