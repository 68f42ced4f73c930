// Every stop says what it cut off: `start --headless` ends its JSON lines with a `stopped` event carrying the
// counts, prints one human line on stderr, and `--log-file` keeps the same JSON lines in a file (0600).
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { generateSigningKey, startJwksServer, type JwksServer } from '../fixtures/idp.js';
import { ensureBuilt, ROOT } from '../recording/build.js';
import { DEFAULT_RULES, policyText } from '../attack/lab.js';

let dir: string;
let jwks: JwksServer;

beforeAll(async () => {
  ensureBuilt();
  dir = await mkdtemp(join(tmpdir(), 'portcullis-stop-'));
  const key = await generateSigningKey('RS256', 'stop');
  jwks = await startJwksServer({ keys: [key.publicJwk] });
  await writeFile(join(dir, 'policy.yaml'), policyText(jwks, DEFAULT_RULES, ''));
}, 120_000);

afterAll(async () => {
  await jwks?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('start: stopping', () => {
  test('SIGTERM ends with a `stopped` event (counts), a stderr line, and the same lines in --log-file', async () => {
    const logFile = join(dir, 'events.jsonl');
    const child = spawn(process.execPath, ['bin/portcullis.js', 'start', '--headless', '--listen', '127.0.0.1:0', '--policy', join(dir, 'policy.yaml'), '--state-dir', join(dir, 'state'), '--log-file', logFile], {
      cwd: ROOT,
      env: { ...process.env, HOME: dir, AWS_ACCESS_KEY_ID: 'AKIASTOPTEST00000000', AWS_SECRET_ACCESS_KEY: 'x', AWS_EC2_METADATA_DISABLED: 'true' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const deadline = Date.now() + 30_000;
    while (!stdout.includes('"event":"listening"') && Date.now() < deadline && child.exitCode === null) await new Promise((r) => setTimeout(r, 50));
    expect(stdout, stderr).toContain('"event":"listening"');
    child.kill('SIGTERM');
    const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
    expect(code).toBe(0);
    const lines = stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    const last = lines.at(-1)!;
    expect(last).toMatchObject({ event: 'stopped', activeSessions: 0, pending: 0, grants: 0, requests: 0 });
    expect(typeof last.uptimeMs).toBe('number');
    expect(stderr).toMatch(/^portcullis: stopped after \d+s: 0 active sessions lose access; 0 calls served \(0 allowed, 0 denied\)$/m);
    const file = (await readFile(logFile, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(file.map((e) => e.event)).toEqual(lines.map((e) => e.event));
    expect((await stat(logFile)).mode & 0o777).toBe(0o600);
  }, 60_000);
});
