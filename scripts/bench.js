#!/usr/bin/env node
// `npm run bench`: runs every scripts/bench/*.mjs in turn, each in its own Node process with the terminal as
// its output, then prints which passed and which failed. Exits 1 when any bench failed (a bench fails when its
// figures cannot be trusted: a non-2xx answer under load, a hang, a crash); a target a figure misses is reported,
// not a failure.
// BENCH_ONLY=name[,name] runs only those (e.g. BENCH_ONLY=datapath or BENCH_ONLY=policy,sigv4).
// BENCH_TIMEOUT_S (default 1200) bounds each bench: one that hangs is killed and reported as failed.

import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

// BENCH_DIR runs the benches of another folder (the runner's own test uses it).
const benchDir = process.env.BENCH_DIR ?? join(dirname(fileURLToPath(import.meta.url)), 'bench');
const all = readdirSync(benchDir)
  .filter((name) => name.endsWith('.mjs'))
  .sort()
  .map((name) => basename(name, '.mjs'));

const only = (process.env.BENCH_ONLY ?? '')
  .split(',')
  .map((name) => name.trim().replace(/\.mjs$/, ''))
  .filter(Boolean);
const unknown = only.filter((name) => !all.includes(name));
if (unknown.length > 0) {
  console.error(`bench: no bench named ${unknown.join(', ')} (have: ${all.join(', ')})`);
  process.exit(2);
}
const selected = only.length > 0 ? all.filter((name) => only.includes(name)) : all;

const timeoutS = Number(process.env.BENCH_TIMEOUT_S ?? 1200);
if (!(timeoutS > 0)) {
  console.error(`bench: BENCH_TIMEOUT_S=${process.env.BENCH_TIMEOUT_S} is not a positive number of seconds`);
  process.exit(2);
}

let current;
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    // The bench's own exit hooks kill whatever it started.
    current?.kill('SIGTERM');
    process.exit(130);
  });
}

function runOne(name) {
  return new Promise((resolve) => {
    const started = Date.now();
    const child = spawn(process.execPath, [join(benchDir, `${name}.mjs`)], { stdio: 'inherit' });
    current = child;
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), 5_000).unref();
    }, timeoutS * 1000);
    const finish = (code, signal, error) => {
      clearTimeout(timer);
      current = undefined;
      const seconds = (Date.now() - started) / 1000;
      let problem;
      if (error) problem = `could not start: ${error.message}`;
      else if (timedOut) problem = `killed after ${timeoutS} s (BENCH_TIMEOUT_S)`;
      else if (signal) problem = `killed by ${signal}`;
      else if (code !== 0) problem = `exit code ${code}`;
      resolve({ name, seconds, problem });
    };
    child.once('error', (error) => finish(null, null, error));
    child.once('exit', (code, signal) => finish(code, signal));
  });
}

console.log(`bench: running ${selected.join(', ')} (Node ${process.version})`);
const results = [];
for (const name of selected) {
  console.log(`\n######## ${name} ########`);
  results.push(await runOne(name));
}

console.log('\n######## summary ########');
for (const r of results) console.log(`${r.problem ? 'FAILED' : 'ok    '}  ${r.name.padEnd(12)} ${r.seconds.toFixed(1).padStart(7)} s${r.problem ? `  (${r.problem})` : ''}`);
const failed = results.filter((r) => r.problem);
console.log(failed.length === 0 ? `all ${results.length} benches ran` : `${failed.length} of ${results.length} failed: ${failed.map((r) => r.name).join(', ')}`);
process.exit(failed.length === 0 ? 0 : 1);
