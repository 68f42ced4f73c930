import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { importJWK, CompactSign, type JWK } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { forgetIndex, listSessionFiles } from '../../src/recording/index-db.js';
import { Recorder } from '../../src/recording/recorder.js';
import { verifyFile } from '../../src/recording/verify.js';
import { ensureBuilt } from './build.js';
import { tempDir } from './helpers.js';

beforeAll(() => ensureBuilt(), 120_000);

async function countLines(dir: string): Promise<number> {
  let lines = 0;
  for (const file of await listSessionFiles(dir)) {
    const data = await readFile(file).catch(() => Buffer.alloc(0));
    for (const byte of data) if (byte === 0x0a) lines += 1;
  }
  return lines;
}

/** Runs the recording loop in a child process and kills it with SIGKILL while it is writing. */
async function recordAndKill(durability: 'batch' | 'strict'): Promise<string> {
  const dir = await tempDir('portcullis-crash-');
  const child = spawn(process.execPath, [join(import.meta.dirname, 'fixtures', 'record-loop.mjs'), dir, durability], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout! });
  await new Promise<void>((resolve, reject) => {
    lines.once('line', () => resolve());
    child.once('exit', (code) => reject(new Error(`child exited early (${code})`)));
  });
  // Let it write until the files hold a few hundred lines (however loaded the machine is); the kill lands wherever it lands.
  const deadline = Date.now() + 30_000;
  while ((await countLines(dir)) < 400 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20 + Math.floor(Math.random() * 30)));
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
  return dir;
}

describe.each(['batch', 'strict'] as const)('kill -9 while recording (%s)', (durability) => {
  it('leaves every file verifiable up to its last complete line, and a restart resumes it', async () => {
    const dir = await recordAndKill(durability);
    const { publicJwk, privateJwk } = JSON.parse(await readFile(join(dir, 'keys.json'), 'utf8')) as { publicJwk: JWK; privateJwk: JWK };
    const files = await listSessionFiles(dir);
    expect(files).toHaveLength(20);
    let total = 0;
    for (const file of files) {
      const result = await verifyFile(file, publicJwk);
      expect(result, file).toMatchObject({ ok: true, closed: false });
      if (result.ok) total += result.lines;
    }
    // Something was written after the headers, or the test proved nothing.
    expect(total).toBeGreaterThanOrEqual(400);

    // A restarted gateway appends to the same files and closes them; they still verify.
    forgetIndex(dir);
    const key = await importJWK(privateJwk, 'ES256');
    const signer = { kid: 'crash-key', sign: (p: Uint8Array) => new CompactSign(p).setProtectedHeader({ alg: 'ES256', kid: 'crash-key' }).sign(key) };
    const rec = new Recorder({ stateDir: dir, signer, gatewayVersion: 'restart' });
    for (let i = 0; i < 20; i += 1) await rec.closeSession(`crash-${i}`, 'revoked');
    await rec.close();
    for (const file of files) expect(await verifyFile(file, publicJwk), file).toMatchObject({ ok: true, closed: true, warnings: [] });
  }, 60_000);
});
