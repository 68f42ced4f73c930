// `portcullis start` refuses bad option values before anything starts: one line, exit 2, nothing listening.
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'portcullis-start-options-'));
  await writeFile(join(dir, 'a-file'), 'not a directory');
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function start(args: string[]): { status: number | null; stderr: string; stdout: string } {
  const result = spawnSync(process.execPath, ['bin/portcullis.js', 'start', '--headless', '--listen', '127.0.0.1:0', ...args], { encoding: 'utf8', timeout: 20_000 });
  return { status: result.status, stderr: result.stderr, stdout: result.stdout };
}

describe('start refuses bad options with one line and exit 2', () => {
  it.each([
    [['--upstream-endpoint', 'notaurl'], /--upstream-endpoint: "notaurl" is not an http\(s\) URL/],
    [['--upstream-endpoint', 'ftp://x'], /is not an http\(s\) URL/],
    [['--theme', 'neon'], /--theme: no theme "neon" \(have: dark, high-contrast, light, mono/],
  ])('%j', (args, message) => {
    const result = start([...args, '--state-dir', join(dir, 'state')]);
    expect(result.status).toBe(2);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(message);
    expect(result.stdout).toBe('');
  });

  it('a --state-dir that is a file', () => {
    const result = start(['--state-dir', join(dir, 'a-file')]);
    expect(result.status).toBe(2);
    expect(result.stderr.trim()).toMatch(/--state-dir: .*a-file exists and is not a directory/);
    expect(result.stderr).not.toMatch(/EEXIST|at .*\.js/);
  });
});

describe('fairness options', () => {
  it.each([
    [['--account-concurrency', '0'], /--account-concurrency: "0" is not a whole number of calls of at least 1/],
    [['--buffer-budget', 'lots'], /--buffer-budget: "lots" is not a size of at least 1MiB/],
    [['--min-upload-rate', 'fast'], /--min-upload-rate: "fast" is not a size per second/],
  ])('%j is refused with one line, exit 2', (args, message) => {
    const result = start([...args, '--state-dir', join(dir, 'state')]);
    expect(result.status).toBe(2);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(message);
  });
});
