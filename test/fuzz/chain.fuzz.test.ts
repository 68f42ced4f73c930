// The hash chain: any single-byte change anywhere in a recording — header, event lines, the signed digest,
// a newline — is detected by verifyFile. Recordings are made by the real Recorder; closed sessions are
// verified as closed (the index knows they ended), open ones as open.
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { listSessionFiles } from '../../src/recording/index-db.js';
import { Recorder } from '../../src/recording/recorder.js';
import { verifyFile } from '../../src/recording/verify.js';
import { call, makeKeys, started, tempDir, type TestKeys } from '../recording/helpers.js';
import { params, reportCases } from './runs.js';

reportCases('chain');

let dir: string;
let keys: TestKeys;
let closed: Buffer;
let open: Buffer;

beforeAll(async () => {
  dir = await tempDir('portcullis-fuzz-chain-');
  keys = await makeKeys('fuzz-chain');
  const recorder = new Recorder({ stateDir: dir, signer: keys.signer, gatewayVersion: 'fuzz', checkpointEvery: { events: 4, ms: 60_000 } });
  for (const id of ['ses-closed', 'ses-open']) {
    recorder.record(started(id));
    for (let n = 0; n < 5; n += 1) for (const event of call(id, n, { effect: n % 2 ? 'deny' : 'allow' })) recorder.record(event);
  }
  await recorder.flush();
  await recorder.closeSession('ses-closed', 'revoked');
  await recorder.close();
  const files = await listSessionFiles(dir);
  closed = await readFile(files.find((f) => f.includes('ses-closed'))!);
  open = await readFile(files.find((f) => f.includes('ses-open'))!);
  expect(await verifyFile(files.find((f) => f.includes('ses-closed'))!, keys.publicJwk, { expectClosed: true })).toMatchObject({ ok: true, closed: true });
  expect(await verifyFile(files.find((f) => f.includes('ses-open'))!, keys.publicJwk)).toMatchObject({ ok: true, closed: false });
});

afterAll(() => rm(dir, { recursive: true, force: true, maxRetries: 5 }));

async function verifyMutated(original: Buffer, at: number, byte: number, expectClosed: boolean) {
  const copy = Buffer.from(original);
  const i = at % copy.length;
  copy[i] = copy[i] === byte ? (byte + 1) % 256 : byte;
  const file = join(dir, `mutated-${expectClosed ? 'c' : 'o'}.jsonl`);
  await writeFile(file, copy);
  return { result: await verifyFile(file, keys.publicJwk, { expectClosed }), at: i, line: original.subarray(0, i).toString('latin1').split('\n').length };
}

describe('single-byte changes', () => {
  test('in a closed session: every change is detected', async () => {
    await fc.assert(
      fc.asyncProperty(fc.nat(), fc.oneof(fc.integer({ min: 0, max: 255 }), fc.constantFrom(0x0a, 0x20, 0x22, 0x30, 0x7b, 0x7d)), async (at, byte) => {
        const { result } = await verifyMutated(closed, at, byte, true);
        expect(result.ok).toBe(false);
      }),
      params('closed', 400),
    );
  });

  test('in an open session: every change is detected, except removing the very last newline (a torn tail, reported)', async () => {
    let tornTail = 0;
    await fc.assert(
      fc.asyncProperty(fc.nat(), fc.integer({ min: 0, max: 255 }), async (at, byte) => {
        const { result, at: i } = await verifyMutated(open, at, byte, false);
        if (i === open.length - 1) {
          // The final newline changed: what a kill -9 mid-write leaves. verify counts one line fewer and warns.
          tornTail += 1;
          if (result.ok) expect(result.lines).toBeLessThan(open.toString().split('\n').length - 1);
          return;
        }
        expect(result.ok).toBe(false);
      }),
      params('open', 300),
    );
    expect(tornTail).toBeLessThan(300);
  });
});
