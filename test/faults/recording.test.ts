// The recording disk fails (full, or the sessions directory unusable): calls fail closed by default
// (recording.on_failure: deny) with ServiceUnavailable, nothing is forwarded, and recording resumes by
// itself once the disk works again.
import { mkdir, rm, writeFile } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { open as fsOpen, mkdir as fsMkdir } from 'node:fs/promises';
import { afterAll, afterEach, describe, expect, test } from 'vitest';
import { isGatewayError } from '../../src/errors.js';
import { sessionsDir } from '../../src/recording/paths.js';
import { Recorder } from '../../src/recording/recorder.js';
import type { RecorderFs } from '../../src/recording/session-files.js';
import { call, makeKeys, started, tempDir } from '../recording/helpers.js';
import { field, startLab, waitUntil, type Lab } from '../attack/lab.js';

const labs: Lab[] = [];
afterAll(async () => {
  for (const lab of labs) await lab.close();
});

function enospc(): Error {
  return Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
}

describe('Recorder with a disk that fills up (injected fs)', () => {
  let dir: string | undefined;
  afterEach(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('strict: recordDurable rejects with RECORDING_FAILED; record() refuses; both recover when space returns', async () => {
    dir = await tempDir('portcullis-full-');
    const keys = await makeKeys();
    let full = true;
    const fs: RecorderFs = {
      open: async (path, flags, mode) => {
        const handle: FileHandle = await fsOpen(path, flags, mode);
        if (!full) return handle;
        // Opening works; every write fails as on a full disk.
        return new Proxy(handle, {
          get(target, prop, receiver) {
            if (prop === 'write' || prop === 'writev' || prop === 'appendFile' || prop === 'writeFile') return async () => Promise.reject(enospc());
            const value = Reflect.get(target, prop, receiver);
            return typeof value === 'function' ? value.bind(target) : value;
          },
        });
      },
      mkdir: (path, options) => fsMkdir(path, options),
    };
    const recorder = new Recorder({ stateDir: dir, signer: keys.signer, gatewayVersion: 'full', durability: 'strict', retryMs: 100, fs });
    const error = await recorder.recordDurable(started('ses-full')).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isGatewayError(error) && error.code).toBe('RECORDING_FAILED');
    expect(recorder.failure()?.message).toMatch(/ENOSPC|space/);
    expect(recorder.record(call('ses-full', 1)[0]!)).toBe(false);
    full = false;
    await waitUntil(() => recorder.failure() === undefined, 5000, 'the recorder to recover');
    await recorder.recordDurable(call('ses-full', 2)[0]!);
    await recorder.close();
  });
});

describe('the gateway when its sessions directory becomes unusable', () => {
  for (const durability of ['strict', 'batch'] as const) {
    test(`${durability}: calls fail closed with ServiceUnavailable and nothing is forwarded; recovery is automatic`, async () => {
      const lab = await startLab({ recording: `recording:\n  durability: ${durability}\n` });
      labs.push(lab);
      const before = await lab.credentials();
      expect((await lab.call(before, { path: '/bucket/before.txt' })).status).toBe(200);
      await lab.gateway.recorder.flush();

      // The disk "fills": the sessions directory is replaced by a file, so no new session file can be made.
      await rm(sessionsDir(lab.stateDir), { recursive: true, force: true });
      await writeFile(sessionsDir(lab.stateDir), 'not a directory');
      const creds = await lab.credentials();
      const forwarded = lab.upstream.requests.length;
      const statuses: number[] = [];
      // Batch durability learns of the failure at its first flush (≤ 50 ms): allow a few calls to get there.
      for (let i = 0; i < 20; i += 1) {
        const result = await lab.call(creds, { path: `/bucket/during-${i}.txt` });
        statuses.push(result.status);
        if (result.status === 503) {
          expect(field(result.body, 'Code')).toBe('ServiceUnavailable');
          expect(field(result.body, 'Message')).toMatch(/recording/);
          break;
        }
        await new Promise((r) => setTimeout(r, 60));
      }
      expect(statuses.at(-1)).toBe(503);
      if (durability === 'strict') {
        // Strict: not even the first call went through.
        expect(statuses).toEqual([503]);
        expect(lab.upstream.requests.length).toBe(forwarded);
      }
      const refusedFrom = lab.upstream.requests.length;
      const again = await lab.call(creds, { path: '/bucket/still-failing.txt' });
      expect(again.status).toBe(503);
      expect(lab.upstream.requests.length).toBe(refusedFrom);

      // The disk is fixed: recording (and calls) resume without a restart.
      await rm(sessionsDir(lab.stateDir), { force: true });
      await mkdir(sessionsDir(lab.stateDir), { recursive: true, mode: 0o700 });
      await waitUntil(async () => (await lab.call(creds, { path: '/bucket/after.txt' })).status === 200, 15_000, 'calls to pass again');
    }, 60_000);
  }
});
