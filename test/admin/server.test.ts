// The real admin socket server and client over a real Unix socket; the gateway behind it is the
// in-memory FakeControl stand-in (see fake-control.ts).

import { spawn } from 'node:child_process';
import { request } from 'node:http';
import { connect } from 'node:net';
import { chmod, lstat, mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AdminClient } from '../../src/admin/client.js';
import { AdminError, AdminRequestError, AdminUnavailableError } from '../../src/admin/errors.js';
import { startAdminServer, type AdminServer, type AdminServerOptions } from '../../src/admin/server.js';
import type { GatewayEvent } from '../../src/events.js';
import { FakeControl, T0, decisionEvent, responseEvent } from './fake-control.js';

let root: string;
let stateDir: string;
let control: FakeControl;
const servers: AdminServer[] = [];

async function start(options: Partial<AdminServerOptions> = {}, ctl: FakeControl = control): Promise<AdminServer> {
  const server = await startAdminServer(ctl, { stateDir, ...options });
  servers.push(server);
  return server;
}

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'pc-admin-'));
  stateDir = join(root, 'state');
  control = new FakeControl();
});

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
  await rm(root, { recursive: true, force: true });
});

function raw(
  socketPath: string,
  method: string,
  path: string,
  body?: string | Buffer,
  headers: Record<string, string | number> = {},
): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, method, path, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), headers: res.headers }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** A socket file with nothing listening: a gateway that was SIGKILLed. */
async function makeStaleSocket(path: string): Promise<void> {
  const child = spawn(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(path)}, () => process.kill(process.pid, 'SIGKILL'))`]);
  await new Promise((resolve) => child.once('exit', resolve));
  expect((await lstat(path)).isSocket()).toBe(true);
}

async function collect(iterable: AsyncIterable<GatewayEvent>, n: number): Promise<GatewayEvent[]> {
  const out: GatewayEvent[] = [];
  for await (const event of iterable) {
    out.push(event);
    if (out.length === n) break;
  }
  return out;
}

describe('admin socket: files and lifecycle', () => {
  it('creates the state dir 0700 and the socket 0600', async () => {
    const server = await start();
    expect(server.path).toBe(join(stateDir, 'admin.sock'));
    expect((await stat(stateDir)).mode & 0o777).toBe(0o700);
    const info = await lstat(server.path);
    expect(info.isSocket()).toBe(true);
    expect(info.mode & 0o777).toBe(0o600);
  });

  it('tightens an existing, too-open state dir to 0700', async () => {
    await mkdir(stateDir, { mode: 0o755 });
    await chmod(stateDir, 0o755);
    await start();
    expect((await stat(stateDir)).mode & 0o777).toBe(0o700);
  });

  it('replaces a stale socket file left by a dead gateway', async () => {
    await mkdir(stateDir, { recursive: true });
    await makeStaleSocket(join(stateDir, 'admin.sock'));
    const server = await start();
    expect((await new AdminClient(server.path).status()).pid).toBe(4242);
  });

  it('refuses to start while another gateway answers on the socket, and leaves it working', async () => {
    const first = await start();
    const error = await startAdminServer(new FakeControl(), { stateDir }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AdminError);
    expect((error as AdminError).code).toBe('ADMIN_SOCKET_IN_USE');
    expect((error as AdminError).message).toBe(`another gateway is running with state dir ${stateDir} (its admin socket ${first.path} answers)`);
    expect((await new AdminClient(first.path).pending())[0]?.id).toBe('k3f9');
  });

  it('refuses a socket path that is a regular file', async () => {
    await mkdir(stateDir, { recursive: true });
    await writeFile(join(stateDir, 'admin.sock'), 'not a socket');
    await expect(start()).rejects.toThrow(`${join(stateDir, 'admin.sock')} exists and is not a socket; move it away`);
  });

  it('refuses a state dir whose socket path is too long for a Unix socket', async () => {
    const deep = join(root, 'd'.repeat(120));
    await expect(startAdminServer(control, { stateDir: deep })).rejects.toMatchObject({
      code: 'ADMIN_SOCKET_PATH',
      message: expect.stringContaining('longer than the 107 a Unix socket allows'),
    });
  });

  it('removes its socket on close; then clients get AdminUnavailableError', async () => {
    const server = await start();
    await server.close();
    await expect(lstat(server.path)).rejects.toMatchObject({ code: 'ENOENT' });
    const error = await new AdminClient(server.path).status().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AdminUnavailableError);
    expect((error as AdminUnavailableError).message).toBe(
      `no gateway is running with state dir ${stateDir} (admin socket ${server.path} not found)`,
    );
  });
});

describe('AdminClient when no gateway runs', () => {
  it('throws AdminUnavailableError for a missing state dir', async () => {
    const client = AdminClient.connect(join(root, 'nowhere'));
    await expect(client.pending()).rejects.toBeInstanceOf(AdminUnavailableError);
    await expect(client.approve('x')).rejects.toMatchObject({ code: 'ADMIN_UNAVAILABLE' });
    await expect(collect(client.events(), 1)).rejects.toBeInstanceOf(AdminUnavailableError);
  });

  it('throws AdminUnavailableError for a stale socket (connection refused)', async () => {
    await mkdir(stateDir, { recursive: true });
    await makeStaleSocket(join(stateDir, 'admin.sock'));
    const error = await AdminClient.connect(stateDir).status().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AdminUnavailableError);
    expect(((error as AdminError).cause as NodeJS.ErrnoException).code).toBe('ECONNREFUSED');
  });
});

describe('admin routes', () => {
  it('GET /v1/status, /v1/sessions, /v1/pending', async () => {
    const server = await start();
    const client = new AdminClient(server.path);
    expect((await client.status()).policy.rules).toBe(3);
    expect((await client.sessions()).map((s) => s.sessionId)).toEqual(['s-active1', 's-old']);
    expect((await client.sessions({ active: true })).map((s) => s.sessionId)).toEqual(['s-active1']);
    expect(control.calls.filter((c) => c.method === 'sessions').map((c) => c.args[0])).toEqual([{}, { active: true }]);
    expect(await client.pending()).toEqual(control.pendingList);
    const res = await raw(server.path, 'GET', '/v1/pending');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(JSON.parse(res.body)).toEqual({ pending: control.pendingList });
  });

  it('approve passes by, reason and forMs; the default by is the OS user', async () => {
    const server = await start();
    const client = new AdminClient(server.path);
    expect(await client.approve('k3f9', { reason: 'release', forMs: 600_000 })).toEqual({
      ok: true,
      message: 'approved k3f9 (secretsmanager:GetSecretValue)',
    });
    expect(control.calls.at(-1)).toEqual({ method: 'approve', args: ['k3f9', { by: userInfo().username, reason: 'release', forMs: 600_000 }] });
  });

  it('approve/deny outcomes 404 and 409 come back as values', async () => {
    const server = await start();
    const client = new AdminClient(server.path, { user: 'carol' });
    expect(await client.deny('zzzz', { reason: 'no' })).toEqual({ ok: false, status: 404, error: 'no pending approval zzzz' });
    expect(await client.approve('done')).toEqual({ ok: false, status: 409, error: 'approval done was already decided' });
    expect(await client.deny('k3f9', { by: 'dave' })).toEqual({ ok: true, message: 'denied k3f9 (secretsmanager:GetSecretValue)' });
    expect(control.calls.filter((c) => c.method === 'deny').map((c) => c.args)).toEqual([
      ['zzzz', { by: 'carol', reason: 'no' }],
      ['k3f9', { by: 'dave' }],
    ]);
  });

  it('revokes a session and a service account; reloads the policy', async () => {
    const server = await start();
    const client = new AdminClient(server.path, { user: 'erin' });
    expect(await client.revokeSession('s-active1', undefined, 'leaked')).toEqual({ ok: true, message: 'revoked session s-active1' });
    expect(await client.revokeSession('s-none')).toEqual({ ok: false, status: 404, error: 'no session s-none' });
    expect(await client.revokeServiceAccount('ci/bot', 'frank')).toEqual({ ok: true, message: 'revoked every session of ci/bot' });
    control.reloadResult = { ok: false, status: 409, error: 'policy.yaml:3:5 rules[0].effect: unknown effect' };
    expect(await client.reloadPolicy()).toEqual({ ok: false, status: 409, error: 'policy.yaml:3:5 rules[0].effect: unknown effect' });
    expect(control.calls.map((c) => [c.method, ...c.args])).toEqual([
      ['revokeSession', 's-active1', 'erin', 'leaked'],
      ['revokeSession', 's-none', 'erin', undefined],
      ['revokeServiceAccount', 'ci/bot', 'frank', undefined],
      ['reloadPolicy'],
    ]);
  });

  it('lists live grants and revokes one; an unknown id is a 404 value', async () => {
    const server = await start();
    const client = new AdminClient(server.path, { user: 'gina' });
    expect(await client.grants()).toEqual(control.grantList);
    expect(JSON.parse((await raw(server.path, 'GET', '/v1/grants')).body)).toEqual({ grants: control.grantList });
    expect(await client.revokeGrant('g-none')).toEqual({ ok: false, status: 404, error: 'no live grant g-none' });
    expect(await client.revokeGrant('g-7hxk')).toEqual({ ok: true, message: 'ended grant g-7hxk (ci-bot, 2 pair(s), used 3 time(s))' });
    expect(await client.grants()).toEqual([]);
    expect(control.calls.filter((c) => c.method === 'revokeGrant').map((c) => c.args)).toEqual([
      ['g-none', 'gina'],
      ['g-7hxk', 'gina'],
    ]);
  });

  it('GET /v1/pending carries every pair, the body size and hash, headers and params', async () => {
    const { sampleCopyPending } = await import('./fake-control.js');
    control.pendingList = [sampleCopyPending()];
    const server = await start();
    const [held] = await new AdminClient(server.path).pending();
    expect(held!.pairs).toEqual(['s3:PutObject arn:aws:s3:::prod-bucket/reports/q3.csv', 's3:GetObject arn:aws:s3:::staging/reports/q3.csv']);
    expect(held!.body).toEqual({ bytes: 12_595, sha256: expect.stringMatching(/^ab12cd34/) });
    expect(held!.headers).toEqual({ 'x-amz-acl': 'public-read', 'x-amz-server-side-encryption-customer-key': '[MASKED]' });
    expect(held!.params).toEqual({ Bucket: 'prod-bucket', Key: 'reports/q3.csv', CopySource: 'staging/reports/q3.csv' });
  });

  it.each([
    ['POST', '/v1/grants/g-7hxk/revoke', '{"by":"a","reason":"x"}', 400, 'body: unknown field "reason"'],
    ['POST', '/v1/approvals/k3f9/approve', '{"by":', 400, 'body: not valid JSON'],
    ['POST', '/v1/approvals/k3f9/approve', '{}', 400, 'body.by: required'],
    ['POST', '/v1/approvals/k3f9/approve', '{"by":"a","for":"10m"}', 400, 'body: unknown field "for"'],
    ['POST', '/v1/approvals/k3f9/deny', '{"by":"a","forMs":5}', 400, 'body: unknown field "forMs"'],
    ['POST', '/v1/sessions/s-1/revoke', '[]', 400, 'body: expected a JSON object'],
    ['GET', '/v1/nope', undefined, 404, 'no such admin route: GET /v1/nope'],
    ['PUT', '/v1/status', undefined, 405, 'PUT /v1/status: use GET'],
    ['GET', '/v1/events?types=nope', undefined, 400, 'types: unknown event type "nope"'],
  ])('%s %s %s → %i', async (method, path, body, status, error) => {
    const server = await start();
    const res = await raw(server.path, method, path, body, body === undefined ? {} : { 'content-type': 'application/json' });
    expect(res.status).toBe(status);
    expect(JSON.parse(res.body).error).toContain(error);
    // Nothing reached the gateway.
    expect(control.calls).toEqual([]);
  });

  it('refuses bodies over 64 KiB with 413, declared or streamed', async () => {
    const server = await start();
    const big = JSON.stringify({ by: 'a', reason: 'x'.repeat(70_000) });
    const declared = await raw(server.path, 'POST', '/v1/approvals/k3f9/approve', big, { 'content-length': Buffer.byteLength(big) });
    expect(declared.status).toBe(413);
    expect(JSON.parse(declared.body)).toEqual({ error: 'request body exceeds 65536 bytes' });
    const chunked = await raw(server.path, 'POST', '/v1/approvals/k3f9/approve', big, { 'transfer-encoding': 'chunked' });
    expect(chunked.status).toBe(413);
    expect(control.calls).toEqual([]);
  });

  it('a failing control becomes a 500 with one line, thrown by the client as AdminRequestError', async () => {
    control.statusError = new Error('boom');
    const server = await start();
    const error = await new AdminClient(server.path).status().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AdminRequestError);
    expect((error as AdminRequestError).status).toBe(500);
    expect((error as AdminRequestError).message).toBe('internal error: boom');
  });
});

describe('admin event stream', () => {
  const policyLoaded: GatewayEvent = { type: 'policy.loaded', at: T0, file: 'p.yaml', sha256: 'h', rules: 1, serviceAccounts: 1 };

  it('delivers events in order as NDJSON', async () => {
    const server = await start();
    const client = new AdminClient(server.path);
    const got = collect(client.events(), 3);
    await control.bus.waitForListeners(1);
    const sent = [policyLoaded, decisionEvent('s1', 'r1'), responseEvent('s1', 'r1')];
    for (const e of sent) control.emit(e);
    expect(await got).toEqual(sent);
    // Breaking out of the loop closes the stream and unsubscribes.
    await control.bus.waitForListeners(0);
  });

  it('filters by session and by types on the server', async () => {
    const server = await start();
    const client = new AdminClient(server.path);
    const bySession = collect(client.events({ session: 's2' }), 2);
    const byTypes = collect(client.events({ types: ['response', 'policy.loaded'] }), 3);
    await control.bus.waitForListeners(2);
    const events = [policyLoaded, decisionEvent('s1', 'r1'), responseEvent('s1', 'r1'), decisionEvent('s2', 'r2'), responseEvent('s2', 'r2')];
    for (const e of events) control.emit(e);
    expect(await bySession).toEqual([events[3], events[4]]);
    expect(await byTypes).toEqual([events[0], events[2], events[4]]);
  });

  it('?history=N sends the last N matching events first, marked replayed, then live ones; the ring is bounded', async () => {
    const server = await start({ historyEvents: 4 });
    const before = [policyLoaded, decisionEvent('s1', 'r1'), responseEvent('s1', 'r1'), decisionEvent('s2', 'r2'), responseEvent('s2', 'r2'), decisionEvent('s1', 'r3')];
    for (const e of before) control.emit(e);
    const client = new AdminClient(server.path);
    const got = collect(client.events({ history: 3 }), 4);
    const kept = collect(client.events({ history: 10, session: 's1' }), 2);
    await control.bus.waitForListeners(3);
    const live = decisionEvent('s1', 'r9');
    control.emit(live);
    expect(await got).toEqual([...before.slice(3).map((e) => ({ ...e, replayed: true })), live]);
    // Only 4 are kept: of s1's events, the response r1 and the decision r3 (policy.loaded and decision r1 are gone).
    expect(await kept).toEqual([{ ...before[2], replayed: true }, { ...before[5], replayed: true }]);
    expect((await raw(server.path, 'GET', '/v1/events?history=5000')).body).toContain('history: expected a whole number from 0 to 1000');
  });

  it('sends NDJSON with a heartbeat line, which the client skips', async () => {
    const server = await start({ heartbeatMs: 5 });
    const lines = await new Promise<string[]>((resolve, reject) => {
      const req = request({ socketPath: server.path, path: '/v1/events', agent: false }, (res) => {
        expect(res.headers['content-type']).toBe('application/x-ndjson; charset=utf-8');
        let text = '';
        res.on('data', (c: Buffer) => {
          text += c.toString('utf8');
          if (text.includes('heartbeat')) {
            req.destroy();
            resolve(text.split('\n').filter(Boolean));
          }
        });
      });
      req.on('error', reject);
      req.end();
    });
    expect(JSON.parse(lines[0]!)).toEqual({ type: 'heartbeat' });

    const client = new AdminClient(server.path);
    const got = collect(client.events(), 1);
    await control.bus.waitForListeners(1);
    // Let a few heartbeats pass before the event; the client must not yield them.
    await new Promise((r) => setTimeout(r, 30));
    control.emit(policyLoaded);
    expect(await got).toEqual([policyLoaded]);
  });

  it('unsubscribes when the client aborts', async () => {
    const server = await start();
    const controller = new AbortController();
    const seen: GatewayEvent[] = [];
    const done = (async () => {
      for await (const e of new AdminClient(server.path).events({ signal: controller.signal })) seen.push(e);
    })();
    await control.bus.waitForListeners(1);
    control.emit(policyLoaded);
    while (seen.length === 0) await new Promise((r) => setImmediate(r));
    controller.abort();
    await done; // abort ends the iteration without an error
    await control.bus.waitForListeners(0);
    expect(control.bus.listeners).toBe(0);
  });

  it('unsubscribes when a raw client just disconnects', async () => {
    const server = await start();
    const socket = connect(server.path);
    socket.write('GET /v1/events HTTP/1.1\r\nHost: x\r\n\r\n');
    await control.bus.waitForListeners(1);
    socket.destroy();
    await control.bus.waitForListeners(0);
  });

  it('ends open streams on close; the client iteration finishes', async () => {
    const server = await start();
    const iteration = collect(new AdminClient(server.path).events(), 10);
    await control.bus.waitForListeners(1);
    control.emit(policyLoaded);
    await server.close();
    expect(await iteration).toEqual([policyLoaded]);
    expect(control.bus.listeners).toBe(0);
  });

  it('drops a client that falls too far behind with a final overflow line', async () => {
    const server = await start({ maxQueuedEvents: 50 });
    const socket = connect(server.path);
    socket.write('GET /v1/events HTTP/1.1\r\nHost: x\r\n\r\n');
    await control.bus.waitForListeners(1);
    socket.pause();
    // ~4 MiB of events against a reader that does not read: kernel and stream buffers fill, then the queue.
    const filler = 'x'.repeat(2000);
    let emitted = 0;
    while (control.bus.listeners > 0 && emitted < 2000) {
      control.emit({ type: 'error', at: T0, message: `${emitted} ${filler}` });
      emitted += 1;
    }
    expect(control.bus.listeners).toBe(0);
    expect(emitted).toBeLessThan(2000);
    const text = await new Promise<string>((resolve) => {
      let data = '';
      socket.on('data', (c: Buffer) => (data += c.toString('utf8')));
      socket.on('end', () => resolve(data));
      socket.resume();
    });
    // Undo the chunked transfer framing (a chunk may hold several lines, or part of one), then split into lines.
    let rest = text.slice(text.indexOf('\r\n\r\n') + 4);
    let body = '';
    for (;;) {
      const eol = rest.indexOf('\r\n');
      const size = eol === -1 ? 0 : Number.parseInt(rest.slice(0, eol), 16);
      if (!(size > 0)) break;
      body += rest.slice(eol + 2, eol + 2 + size);
      rest = rest.slice(eol + 2 + size + 2);
    }
    const lines = body.split('\n').filter((l) => l.startsWith('{'));
    const last = JSON.parse(lines.at(-1)!);
    expect(last).toMatchObject({ type: 'error', message: 'event stream overflow', code: 'EVENT_STREAM_OVERFLOW' });
    // Everything before the overflow line arrived in order, nothing after it.
    const numbers = lines.slice(0, -1).map((l) => Number((JSON.parse(l) as { message: string }).message.split(' ')[0]));
    expect(numbers).toEqual(numbers.map((_, i) => i));
    expect(numbers.length).toBeLessThan(emitted);
  });

  it('the client reports an overflow as ADMIN_STREAM_OVERFLOW', async () => {
    // A stand-in socket server that sends one event and then the overflow line.
    const { createServer } = await import('node:http');
    await mkdir(stateDir, { recursive: true });
    const path = join(stateDir, 'admin.sock');
    const fake = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      res.write(`${JSON.stringify(policyLoaded)}\n{"type":"heartbeat"}\n`);
      res.end('{"type":"error","message":"event stream overflow","code":"EVENT_STREAM_OVERFLOW"}\n');
    });
    await new Promise<void>((r) => fake.listen(path, r));
    try {
      const seen: GatewayEvent[] = [];
      const error = await (async () => {
        for await (const e of new AdminClient(path).events()) seen.push(e);
      })().catch((e: unknown) => e);
      expect(seen).toEqual([policyLoaded]);
      expect(error).toMatchObject({ code: 'ADMIN_STREAM_OVERFLOW' });
    } finally {
      await new Promise((r) => fake.close(r));
    }
  });
});
