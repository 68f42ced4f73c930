// The headless log writer: lines are batched and written asynchronously, in order, and flush() puts out everything
// queued (a clean stop loses nothing). Real files, no mocks.
import { closeSync, openSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createHeadlessWriter } from '../../src/cli/headless-log.js';

let dir: string;
let fd: number;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'portcullis-headless-'));
  fd = openSync(join(dir, 'log'), 'a');
});
afterEach(async () => {
  closeSync(fd);
  await rm(dir, { recursive: true, force: true });
});
const lines = () => readFileSync(join(dir, 'log'), 'utf8').split('\n').filter((l) => l !== '');

describe('headless log writer', () => {
  it('writes every line, in order, by flush()', async () => {
    const write = createHeadlessWriter({ fd });
    for (let i = 0; i < 5000; i++) write(JSON.stringify({ event: 'request', i, pad: 'x'.repeat(i % 50) }));
    await write.flush();
    const got = lines().map((l) => (JSON.parse(l) as { i: number }).i);
    expect(got).toEqual(Array.from({ length: 5000 }, (_, i) => i));
  });

  it('lines reach the file by themselves within a few milliseconds, without a flush', async () => {
    const write = createHeadlessWriter({ fd });
    write('{"event":"a"}');
    write('{"event":"b"}');
    expect(lines()).toEqual([]); // not written synchronously
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(lines()).toEqual(['{"event":"a"}', '{"event":"b"}']);
  });

  it('flush() with nothing queued resolves at once', async () => {
    const write = createHeadlessWriter({ fd });
    await write.flush();
    expect(lines()).toEqual([]);
  });
});

describe('one serialisation per event', () => {
  it('the headless line and an admin stream line are made from the same JSON, and read as the event', async () => {
    const { eventJson } = await import('../../src/events.js');
    const { headlessLine } = await import('../../src/cli/start.js');
    const event = { at: '2026-12-07T10:00:00.000Z', type: 'policy.loaded', file: 'p.yaml', sha256: 'ab', rules: 3 } as unknown as Parameters<typeof eventJson>[0];
    const json = eventJson(event);
    expect(json).toBe(JSON.stringify(event));
    expect(eventJson(event)).toBe(json);
    expect(JSON.parse(headlessLine(event))).toEqual({ event: 'policy.loaded', at: '2026-12-07T10:00:00.000Z', file: 'p.yaml', sha256: 'ab', rules: 3 });
    expect(headlessLine(event).startsWith('{"event":"policy.loaded","at":')).toBe(true);
  });
});
