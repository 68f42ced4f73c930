import { describe, expect, it } from 'vitest';
import { listSessionFiles, listSessions } from '../../src/recording/index-db.js';
import { Recorder } from '../../src/recording/recorder.js';
import { verifyFile } from '../../src/recording/verify.js';
import { call, makeKeys, started, T0, tempDir } from './helpers.js';

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('many sessions at once', () => {
  it('records 1,000 sessions × 10 calls concurrently without losing a line', async () => {
    const keys = await makeKeys();
    const dir = await tempDir();
    const rec = new Recorder({ stateDir: dir, signer: keys.signer, gatewayVersion: 't', now: () => new Date(T0) });
    await Promise.all(
      Array.from({ length: 1000 }, async (_, i) => {
        const id = `load-${i}`;
        expect(rec.record(started(id))).toBe(true);
        for (let n = 0; n < 10; n += 1) {
          for (const e of call(id, n)) expect(rec.record(e)).toBe(true);
          await tick();
        }
      }),
    );
    await rec.close();

    const files = await listSessionFiles(dir);
    expect(files).toHaveLength(1000);
    for (const file of files) {
      // header + 30 event lines + the checkpoint written by close()
      expect(await verifyFile(file, keys.publicJwk)).toMatchObject({ ok: true, lines: 32, digests: 1, warnings: [] });
    }
    const sessions = await listSessions(dir, { now: new Date(T0) });
    expect(sessions).toHaveLength(1000);
    for (const s of sessions) expect(s).toMatchObject({ lines: 32, counts: { calls: 10, allowed: 10, denied: 0, approvals: 0 } });
  }, 120_000);

  it('strict mode: 100 sessions × 10 durable requests at once, each fsynced before it resolves', async () => {
    const keys = await makeKeys();
    const dir = await tempDir();
    const rec = new Recorder({ stateDir: dir, signer: keys.signer, gatewayVersion: 't', durability: 'strict', now: () => new Date(T0) });
    await Promise.all(
      Array.from({ length: 100 }, async (_, i) => {
        const id = `strict-${i}`;
        await rec.recordDurable(started(id));
        for (let n = 0; n < 10; n += 1) {
          const [request, decision, response] = call(id, n);
          await rec.recordDurable(request!);
          rec.record(decision!);
          rec.record(response!);
        }
      }),
    );
    await rec.close();
    const sessions = await listSessions(dir, { now: new Date(T0) });
    expect(sessions).toHaveLength(100);
    for (const s of sessions) expect(s.counts).toEqual({ calls: 10, allowed: 10, denied: 0, approvals: 0 });
    for (const file of await listSessionFiles(dir)) expect(await verifyFile(file, keys.publicJwk)).toMatchObject({ ok: true, lines: 32 });
  }, 120_000);
});
