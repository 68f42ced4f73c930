import { appendFile, readFile, readdir, writeFile, open as fsOpen, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { GatewayError } from '../../src/errors.js';
import type { GatewayEvent } from '../../src/events.js';
import { forgetIndex, listRevocations, listSessions } from '../../src/recording/index-db.js';
import { Recorder } from '../../src/recording/recorder.js';
import type { RecorderOptions } from '../../src/recording/recorder-options.js';
import type { RecorderFs } from '../../src/recording/session-files.js';
import { verifyFile } from '../../src/recording/verify.js';
import { call, iso, makeKeys, started, T0, tempDir, type TestKeys } from './helpers.js';

let keys: TestKeys;
const getKeys = async (): Promise<TestKeys> => (keys ??= await makeKeys());

async function recorder(stateDir: string, options: Partial<RecorderOptions> = {}): Promise<Recorder> {
  const { signer } = await getKeys();
  return new Recorder({ stateDir, signer, gatewayVersion: '0.1.0-test', now: () => new Date(T0 + 60_000), ...options });
}

const fileOf = (stateDir: string, id: string): string => join(stateDir, 'sessions', '2030-01-02', `${id}.jsonl`);

async function linesOf(path: string): Promise<Record<string, unknown>[]> {
  return (await readFile(path, 'utf8'))
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('Recorder', () => {
  it('writes a header, one chained line per event, then end and a final signed digest', async () => {
    const dir = await tempDir();
    const rec = await recorder(dir);
    expect(rec.record(started('s1'))).toBe(true);
    for (let n = 1; n <= 3; n += 1) for (const e of call('s1', n)) expect(rec.record(e)).toBe(true);
    await rec.closeSession('s1', 'revoked');
    await rec.close();

    const lines = await linesOf(fileOf(dir, 's1'));
    expect(lines.map((l) => l.type)).toEqual(['header', ...Array(3).fill(['request', 'decision', 'response']).flat(), 'end', 'digest']);
    expect(lines.map((l) => l.seq)).toEqual([...Array(12).keys()]);
    expect(lines[0]).toMatchObject({
      seq: 0,
      prev: null,
      sessionId: 's1',
      serviceAccount: 'billing-job',
      issuer: 'https://idp.example',
      subject: 'system:serviceaccount:billing',
      roleArn: 'arn:aws:iam::123456789012:role/billing',
      sourceIp: '10.0.0.7',
      userAgent: 'aws-sdk-js/3',
      gatewayVersion: '0.1.0-test',
      policySha256: 'a'.repeat(64),
      start: iso(0),
      expiresAt: iso(3_600_000),
    });
    expect(lines[1]).toMatchObject({ type: 'request', requestId: 's1-r1', action: 's3:GetObject', region: 'eu-west-1', params: { Bucket: 'bucket', Key: 'key-1' } });
    expect(lines[3]).toMatchObject({ type: 'response', status: 200, bytes: 42, durationMs: 25, bodyExcerpt: 'hello' });
    expect(lines[10]).toMatchObject({ type: 'end', reason: 'revoked' });
    expect(lines[11]).toMatchObject({ type: 'digest', kind: 'final', count: 11, from: iso(0), kid: 'test-key-1' });

    const result = await verifyFile(fileOf(dir, 's1'), (await getKeys()).publicJwk);
    expect(result).toMatchObject({ ok: true, lines: 12, sessionId: 's1', closed: true, digests: 1, kid: 'test-key-1', warnings: [] });

    const [summary] = await listSessions(dir, { now: new Date(T0) });
    expect(summary).toMatchObject({ id: 's1', end: expect.any(String), endReason: 'revoked', counts: { calls: 3, allowed: 3, denied: 0, approvals: 0 }, lines: 12 });
  });

  it('cuts params and body excerpts to maxBodyBytes and says how long they were', async () => {
    const dir = await tempDir();
    const rec = await recorder(dir, { maxBodyBytes: 32 });
    rec.record(started('s1'));
    const [request, , response] = call('s1', 1);
    rec.record({ ...(request as Extract<GatewayEvent, { type: 'request' }>), params: { Body: 'é'.repeat(100) } });
    rec.record({ ...(response as Extract<GatewayEvent, { type: 'response' }>), bodyExcerpt: 'x'.repeat(100) });
    await rec.close();
    const [, req, res] = await linesOf(fileOf(dir, 's1'));
    expect(Buffer.byteLength(req!.params as string)).toBeLessThanOrEqual(32);
    expect((req!.params as string).startsWith('{"Body":"éé')).toBe(true);
    expect(req!.paramsTruncated).toEqual({ bytes: JSON.stringify({ Body: 'é'.repeat(100) }).length + 100 });
    expect(res).toMatchObject({ bodyExcerpt: 'x'.repeat(32), bodyTruncated: { bytes: 100 } });
  });

  it('leaves sessions open on close() with a checkpoint digest, and a new recorder resumes the chain', async () => {
    const dir = await tempDir();
    const first = await recorder(dir);
    first.record(started('s1'));
    for (const e of call('s1', 1)) first.record(e);
    await first.close();
    let lines = await linesOf(fileOf(dir, 's1'));
    expect(lines.at(-1)).toMatchObject({ type: 'digest', kind: 'checkpoint', count: 4 });
    expect(await verifyFile(fileOf(dir, 's1'), (await getKeys()).publicJwk)).toMatchObject({ ok: true, closed: false, warnings: [] });

    forgetIndex(dir);
    const second = await recorder(dir);
    for (const e of call('s1', 2)) second.record(e);
    await second.closeSession('s1', 'expired');
    await second.close();
    lines = await linesOf(fileOf(dir, 's1'));
    expect(lines.map((l) => l.seq)).toEqual([...Array(lines.length).keys()]);
    expect(lines.at(-1)).toMatchObject({ kind: 'final' });
    expect(await verifyFile(fileOf(dir, 's1'), (await getKeys()).publicJwk)).toMatchObject({ ok: true, closed: true, digests: 2 });
  });

  it('cuts a torn last line left by a crash before appending again', async () => {
    const dir = await tempDir();
    const first = await recorder(dir);
    first.record(started('s1'));
    for (const e of call('s1', 1)) first.record(e);
    await first.flush();
    await appendFile(fileOf(dir, 's1'), '{"seq":4,"prev":"ab');
    const errors: string[] = [];
    forgetIndex(dir);
    const second = await recorder(dir, { onError: (e) => errors.push(e.message) });
    for (const e of call('s1', 2)) second.record(e);
    await second.close();
    expect(errors.join('\n')).toMatch(/cut a torn last line/);
    expect(await verifyFile(fileOf(dir, 's1'), (await getKeys()).publicJwk)).toMatchObject({ ok: true, lines: 8, warnings: [] });
  });

  it('writes a checkpoint digest every N events', async () => {
    const dir = await tempDir();
    const rec = await recorder(dir, { checkpointEvery: { events: 4, ms: 3_600_000 } });
    rec.record(started('s1'));
    for (let n = 1; n <= 3; n += 1) for (const e of call('s1', n)) rec.record(e);
    await rec.close();
    const lines = await linesOf(fileOf(dir, 's1'));
    const digests = lines.filter((l) => l.type === 'digest');
    expect(digests.map((d) => [d.kind, d.seq])).toEqual([
      ['checkpoint', 5],
      ['checkpoint', 10],
      ['checkpoint', 12],
    ]);
    expect(await verifyFile(fileOf(dir, 's1'), (await getKeys()).publicJwk)).toMatchObject({ ok: true, digests: 3, lastDigestLine: 13 });
  });

  it('closes a session when its credentials expire, with end reason expired', async () => {
    const dir = await tempDir();
    let nowMs = T0 + 1000;
    const rec = await recorder(dir, { tickMs: 5, now: () => new Date(nowMs) });
    rec.record(started('s1', iso(0), iso(10_000)));
    rec.record(started('s2', iso(0), iso(999_999)));
    await rec.flush();
    nowMs = T0 + 20_000;
    await vi.waitFor(async () => expect((await linesOf(fileOf(dir, 's1'))).at(-1)).toMatchObject({ kind: 'final' }), { timeout: 5000 });
    await rec.close();
    const lines = await linesOf(fileOf(dir, 's1'));
    expect(lines.at(-2)).toMatchObject({ type: 'end', reason: 'expired', at: iso(10_000) });
    expect((await linesOf(fileOf(dir, 's2'))).at(-1)).toMatchObject({ type: 'header' });
    const active = await listSessions(dir, { active: true, now: new Date(nowMs) });
    expect(active.map((s) => s.id)).toEqual(['s2']);
  });

  it('runs on the injected clock and timers: no write, expiry or checkpoint until the test fires them', async () => {
    const dir = await tempDir();
    let nowMs = T0 + 1000;
    const timers = new Map<number, { callback: () => void; delayMs: number }>();
    let nextId = 1;
    const fire = (delayMs: number): void => {
      for (const [id, timer] of [...timers]) {
        if (timer.delayMs !== delayMs) continue;
        timers.delete(id);
        timer.callback();
      }
    };
    const rec = await recorder(dir, {
      now: () => new Date(nowMs),
      flushMs: 1_000,
      tickMs: 60_000,
      setTimer: (callback, delayMs) => {
        timers.set(nextId, { callback, delayMs });
        return nextId++;
      },
      clearTimer: (id) => timers.delete(id as number),
    });
    rec.record(started('s1', iso(0), iso(10_000)));
    await new Promise((resolve) => setTimeout(resolve, 50));
    await expect(readdir(join(dir, 'sessions'))).rejects.toMatchObject({ code: 'ENOENT' });
    fire(1_000);
    await vi.waitFor(async () => expect((await linesOf(fileOf(dir, 's1'))).map((l) => l.type)).toEqual(['header']));
    nowMs = T0 + 20_000;
    fire(0);
    fire(60_000);
    await vi.waitFor(async () => expect((await linesOf(fileOf(dir, 's1'))).at(-1)).toMatchObject({ type: 'digest', kind: 'final', to: iso(20_000) }));
    await rec.close();
    expect(timers.size).toBe(0);
  });

  it('closes sessions that expired while the gateway was down, when it starts again', async () => {
    const dir = await tempDir();
    const first = await recorder(dir);
    first.record(started('s1', iso(0), iso(120_000)));
    await first.close();
    forgetIndex(dir);
    const second = await recorder(dir, { now: () => new Date(T0 + 500_000) });
    await vi.waitFor(async () => expect((await linesOf(fileOf(dir, 's1'))).at(-1)).toMatchObject({ kind: 'final' }), { timeout: 5000 });
    await second.close();
    expect(await verifyFile(fileOf(dir, 's1'), (await getKeys()).publicJwk)).toMatchObject({ ok: true, closed: true });
  });

  it('records a revocation, closes the session and persists it in the index', async () => {
    const dir = await tempDir();
    const errors: string[] = [];
    const rec = await recorder(dir, { onError: (e) => errors.push(e.message) });
    rec.record(started('s1'));
    rec.record({ type: 'session.revoked', at: iso(5000), sessionId: 's1', by: 'alice', reason: 'leaked' });
    rec.record({ type: 'session.ended', at: iso(5000), sessionId: 's1', reason: 'revoked' });
    await rec.close();
    const lines = await linesOf(fileOf(dir, 's1'));
    expect(lines.map((l) => l.type)).toEqual(['header', 'revocation', 'end', 'digest']);
    expect(lines[1]).toMatchObject({ by: 'alice', reason: 'leaked' });
    expect(errors).toEqual([]);
    forgetIndex(dir);
    expect(await listRevocations(dir)).toEqual([{ sessionId: 's1', by: 'alice', reason: 'leaked', at: iso(5000) }]);
  });

  it('appends policy changes to every active session and files approval steps by approval id', async () => {
    const dir = await tempDir();
    const rec = await recorder(dir);
    rec.record(started('s1'));
    rec.record(started('s2'));
    rec.record(started('s3'));
    await rec.closeSession('s3', 'revoked');
    rec.record({ type: 'policy.loaded', at: iso(100), file: 'policy.yaml', sha256: 'b'.repeat(64), rules: 7, serviceAccounts: 2 });
    const base = { sessionId: 's1', requestId: 'r1', serviceAccount: 'billing-job', action: 's3:DeleteObject', resource: 'arn:aws:s3:::b/k' };
    rec.record({ type: 'approval.proposed', at: iso(200), approvalId: 'ap1', ...base, ruleId: 'hold-deletes', expiresAt: iso(60_000) });
    rec.record({ type: 'approval.decided', at: iso(300), approvalId: 'ap1', decision: 'approved', by: 'alice' });
    rec.record({ type: 'approval.executed', at: iso(400), approvalId: 'ap1', requestId: 'r1' });
    await rec.close();
    const s1 = await linesOf(fileOf(dir, 's1'));
    expect(s1.map((l) => `${String(l.type)}:${String(l.step ?? '')}`)).toEqual(['header:', 'policy:loaded', 'approval:proposed', 'approval:decided', 'approval:executed', 'digest:']);
    expect((await linesOf(fileOf(dir, 's2'))).map((l) => l.type)).toEqual(['header', 'policy', 'digest']);
    expect((await linesOf(fileOf(dir, 's3'))).map((l) => l.type)).toEqual(['header', 'end', 'digest']);
    forgetIndex(dir);
    const { listApprovals } = await import('../../src/recording/index-db.js');
    expect(await listApprovals(dir)).toEqual([
      expect.objectContaining({ id: 'ap1', sessionId: 's1', status: 'executed', by: 'alice', action: 's3:DeleteObject', ruleId: 'hold-deletes' }),
    ]);
  });

  it('files grant.created and grant.ended under the approving session, grant.used under the using one; verify passes', async () => {
    const dir = await tempDir();
    const rec = await recorder(dir);
    rec.record(started('s1'));
    rec.record(started('s2'));
    const pairs = ['s3:PutObject arn:aws:s3:::dst/k', 's3:GetObject arn:aws:s3:::src/k'];
    const base = { sessionId: 's1', requestId: 'r1', serviceAccount: 'billing-job', action: 's3:CopyObject', resource: 'arn:aws:s3:::dst/k' };
    rec.record({
      type: 'approval.proposed', at: iso(200), approvalId: 'ap1', ...base, pairs, body: { bytes: 0, sha256: 'e3b0'.padEnd(64, '0') },
      headers: { 'x-amz-acl': 'private' }, ruleId: 'hold-copies', expiresAt: iso(60_000),
    });
    rec.record({ type: 'approval.decided', at: iso(300), approvalId: 'ap1', sessionId: 's1', decision: 'approved', by: 'alice', forMs: 600_000 });
    rec.record({ type: 'grant.created', at: iso(300), grantId: 'g-abcd', approvalId: 'ap1', sessionId: 's1', serviceAccount: 'billing-job', pairs, by: 'alice', until: iso(600_300) });
    rec.record({ type: 'grant.used', at: iso(500), grantId: 'g-abcd', approvalId: 'ap1', sessionId: 's2', requestId: 'r9' });
    rec.record({ type: 'grant.ended', at: iso(700), grantId: 'g-abcd', approvalId: 'ap1', sessionId: 's1', reason: 'revoked', by: 'bob', uses: 1 });
    await rec.closeSession('s1', 'revoked');
    await rec.close();
    const s1 = await linesOf(fileOf(dir, 's1'));
    expect(s1.map((l) => `${String(l.type)}:${String(l.step ?? '')}`)).toEqual([
      'header:', 'approval:proposed', 'approval:decided', 'grant:created', 'grant:ended', 'end:', 'digest:',
    ]);
    expect(s1[1]).toMatchObject({ pairs, body: { bytes: 0 }, headers: { 'x-amz-acl': 'private' } });
    expect(s1[3]).toMatchObject({ grantId: 'g-abcd', approvalId: 'ap1', serviceAccount: 'billing-job', pairs, by: 'alice', until: iso(600_300) });
    expect(s1[4]).toMatchObject({ grantId: 'g-abcd', reason: 'revoked', by: 'bob', uses: 1 });
    const s2 = await linesOf(fileOf(dir, 's2'));
    expect(s2.map((l) => `${String(l.type)}:${String(l.step ?? '')}`)).toEqual(['header:', 'grant:used', 'digest:']);
    expect(s2[1]).toMatchObject({ grantId: 'g-abcd', approvalId: 'ap1', requestId: 'r9' });
    const { publicJwk } = await getKeys();
    expect(await verifyFile(fileOf(dir, 's1'), publicJwk, { expectClosed: true })).toMatchObject({ ok: true, closed: true });
    expect(await verifyFile(fileOf(dir, 's2'), publicJwk)).toMatchObject({ ok: true, closed: false });
  });

  it('closes a session on session.ended (a revocation): end line and final digest, later calls not written', async () => {
    const dir = await tempDir();
    const rec = await recorder(dir);
    rec.record(started('s1'));
    for (const e of call('s1', 1)) rec.record(e);
    rec.record({ type: 'session.ended', at: iso(5000), sessionId: 's1', reason: 'revoked' });
    await rec.flush();
    for (const e of call('s1', 2)) rec.record(e);
    await rec.close();
    const kinds = (await linesOf(fileOf(dir, 's1'))).map((l) => `${String(l.type)}${l.kind ? `:${String(l.kind)}` : ''}`);
    expect(kinds.slice(0, 4)).toEqual(['header', 'request', 'decision', 'response']);
    expect(kinds).toContain('digest:final');
    expect(kinds.filter((k) => k === 'request')).toHaveLength(1);
    expect(await verifyFile(fileOf(dir, 's1'), (await getKeys()).publicJwk)).toMatchObject({ ok: true, closed: true });
  });

  it('recordDurable resolves only once the line is on disk', async () => {
    const dir = await tempDir();
    const rec = await recorder(dir, { durability: 'strict', flushMs: 60_000 });
    await rec.recordDurable(started('s1'));
    const [request] = call('s1', 1);
    await rec.recordDurable(request!);
    expect((await linesOf(fileOf(dir, 's1'))).map((l) => l.type)).toEqual(['header', 'request']);
    await rec.close();
  });

  it('drops, and reports, events for unknown sessions and unsafe session ids', async () => {
    const dir = await tempDir();
    const errors: string[] = [];
    const rec = await recorder(dir, { onError: (e) => errors.push(e.message) });
    for (const e of call('ghost', 1)) rec.record(e);
    rec.record(started('../../etc/passwd'));
    await rec.close();
    expect(errors.some((m) => /unknown session ghost/.test(m))).toBe(true);
    expect(errors.some((m) => /refusing session id/.test(m))).toBe(true);
    expect(await readdir(dir)).not.toContain('etc');
  });

  it('rejects bad options when constructed', async () => {
    const dir = await tempDir();
    await expect(recorder(dir, { maxBodyBytes: 0 })).rejects.toThrow(/maxBodyBytes must be a positive number/);
  });
});

describe('Recorder on a failing disk', () => {
  // Tests run as root, where chmod does not stop writes: the sessions path is made a regular file instead,
  // which fails every mkdir/open under it with ENOTDIR/EEXIST just like an unwritable directory would.
  it('onFailure deny: refuses further events and rejects recordDurable with RECORDING_FAILED', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, 'sessions'), 'not a directory');
    const errors: string[] = [];
    const rec = await recorder(dir, { onFailure: 'deny', onError: (e) => errors.push(e.message), retryMs: 60_000 });
    expect(rec.healthy()).toBe(true);
    rec.record(started('s1'));
    await rec.flush();
    expect(rec.healthy()).toBe(false);
    expect(rec.failure()?.message).toMatch(/cannot open .*s1\.jsonl for appending/);
    expect(errors.join('\n')).toMatch(/on_failure: deny, calls are refused/);
    expect(rec.record(call('s1', 1)[0]!)).toBe(false);
    const refused = await rec.recordDurable(call('s1', 1)[0]!).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(GatewayError);
    expect(refused).toMatchObject({ code: 'RECORDING_FAILED', awsCode: 'ServiceUnavailable', status: 503 });
    expect((refused as Error).message).toMatch(/session recording unavailable .*on_failure: deny/);
    await rec.close();
  });

  it('onFailure allow: keeps accepting and lets durable calls through, reporting loudly', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, 'sessions'), 'not a directory');
    const errors: string[] = [];
    const rec = await recorder(dir, { onFailure: 'allow', onError: (e) => errors.push(e.message), retryMs: 60_000 });
    rec.record(started('s1'));
    await rec.flush();
    expect(rec.healthy()).toBe(false);
    expect(rec.record(call('s1', 1)[0]!)).toBe(true);
    await expect(rec.recordDurable(call('s1', 1)[1]!)).resolves.toBeUndefined();
    expect(errors.join('\n')).toMatch(/on_failure: allow, calls continue unrecorded/);
    await rec.close();
  });

  // ENOSPC and short writes cannot be provoked on demand here, so the fs layer is wrapped to fail on cue.
  function flakyFs(state: { mode: 'ok' | 'enospc' | 'short' }): RecorderFs {
    return {
      mkdir: (path, options) => mkdir(path, options),
      open: async (path, flags, mode) => {
        const handle = await fsOpen(path, flags, mode);
        return new Proxy(handle, {
          get(target, key) {
            if (key === 'write' && state.mode !== 'ok') {
              return async (buffer: Buffer) => {
                if (state.mode === 'enospc') throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
                // Half of the data reaches the disk, then the disk is full.
                const half = Math.floor(buffer.length / 2);
                await target.write(buffer, 0, half, null);
                return { bytesWritten: half, buffer };
              };
            }
            const value = Reflect.get(target, key) as unknown;
            return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
          },
        });
      },
    };
  }

  for (const mode of ['enospc', 'short'] as const) {
    it(`keeps the file verifiable and loses nothing across a ${mode} failure once the disk recovers`, async () => {
      const dir = await tempDir();
      const state: { mode: 'ok' | 'enospc' | 'short' } = { mode: 'ok' };
      const rec = await recorder(dir, { onFailure: 'allow', fs: flakyFs(state), retryMs: 10 });
      rec.record(started('s1'));
      for (const e of call('s1', 1)) rec.record(e);
      await rec.flush();
      state.mode = mode;
      for (const e of call('s1', 2)) rec.record(e);
      await rec.flush();
      expect(rec.healthy()).toBe(false);
      expect(await verifyFile(fileOf(dir, 's1'), (await getKeys()).publicJwk)).toMatchObject({ ok: true, lines: 4, unsignedLines: 4, digests: 0, warnings: [] });
      state.mode = 'ok';
      await vi.waitFor(() => expect(rec.healthy()).toBe(true), { timeout: 5000 });
      await rec.closeSession('s1', 'revoked');
      await rec.close();
      const result = await verifyFile(fileOf(dir, 's1'), (await getKeys()).publicJwk);
      expect(result).toMatchObject({ ok: true, lines: 9, closed: true, warnings: [] });
    });
  }
});
