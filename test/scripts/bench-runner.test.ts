// `npm run bench`'s runner (scripts/bench.js): a bench whose figures cannot be trusted fails the run, loudly, and
// the others still run. Real child processes; the benches here are stand-ins that exit as a real one would.
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const RUNNER = join(__dirname, '../../scripts/bench.js');

function runWith(benches: Record<string, string>, env: Record<string, string> = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-bench-runner-'));
  try {
    for (const [name, code] of Object.entries(benches)) writeFileSync(join(dir, `${name}.mjs`), code);
    return spawnSync(process.execPath, [RUNNER], { env: { ...process.env, BENCH_DIR: dir, ...env }, encoding: 'utf8', timeout: 30_000 });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('bench runner', () => {
  it('exits 0 when every bench ran, even when a figure misses its target', () => {
    const r = runWith({ a: "console.log('ratio 0.25 (target >= 0.6: MISSED)');", b: 'process.exit(0);' });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/all 2 benches ran/);
  });

  it('exits 1 when a bench failed (a non-2xx answer), after running the others', () => {
    const r = runWith({
      a: "console.error('datapath bench failed: answers that were not 2xx'); process.exit(1);",
      b: "console.log('b ran');",
    });
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/FAILED\s+a .*exit code 1/);
    expect(r.stdout).toMatch(/b ran/);
    expect(r.stdout).toMatch(/1 of 2 failed: a/);
  });

  it('kills a bench that hangs and counts it failed', () => {
    const r = runWith({ hang: 'setInterval(() => {}, 1000);' }, { BENCH_TIMEOUT_S: '1' });
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/FAILED\s+hang .*killed after 1 s/);
  });

  it('refuses an unknown bench name with exit 2 and the names it has', () => {
    const r = runWith({ a: '' }, { BENCH_ONLY: 'nope' });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/no bench named nope \(have: a\)/);
  });
});
