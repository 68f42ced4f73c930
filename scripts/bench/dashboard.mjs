// Dashboard under load: a scripted source streams gateway events (request + decision + response per
// call, each event round-tripped through JSON as the admin socket's client would) into runDashboard,
// which renders a 120×40 blessed screen into a fake TTY that counts bytes (no terminal needed).
// Prints frames per second and CPU% of one core, for the feed alone (baseline) and with the dashboard.
//
//   npx tsc -p . && node scripts/bench/dashboard.mjs [--calls-per-sec 2000] [--seconds 10]
//
// Targets (issue 7): ≤ 10 frames/s and < 15% of a core for the dashboard.

import { PassThrough, Writable } from 'node:stream';
import { runDashboard } from '../../dist/tui/dashboard.js';

const arg = (name, fallback) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const CALLS_PER_SEC = arg('--calls-per-sec', 2000);
const SECONDS = arg('--seconds', 10);
const TICK_MS = 10;

const accounts = Array.from({ length: 12 }, (_, i) => [`svc-${i}`, `s-${i.toString(16).padStart(6, '0')}`]);
const actions = ['s3:GetObject', 'dynamodb:Query', 'secretsmanager:GetSecretValue', 's3:PutObject', 'sqs:SendMessage'];
const iso = () => new Date().toISOString();

/** Yields JSON-decoded events at CALLS_PER_SEC calls/s (3 events per call) until `signal` aborts. */
function feed(signal, onEvent) {
  let seq = 0;
  const queue = [];
  let wake;
  const t0 = performance.now();
  let sent = 0;
  // Emit what is due by the clock, so a late timer does not lower the rate.
  const timer = setInterval(() => {
    const due = Math.floor(((performance.now() - t0) * CALLS_PER_SEC) / 1000) - sent;
    sent += due;
    for (let i = 0; i < due; i += 1) {
      const [account, sessionId] = accounts[seq % accounts.length];
      const action = actions[seq % actions.length];
      const requestId = `r${(seq += 1)}`;
      const common = { sessionId, requestId, serviceAccount: account, action, resource: `arn:aws:s3:::bucket/key-${seq % 997}` };
      queue.push(JSON.stringify({ type: 'request', at: iso(), ...common, service: action.split(':')[0], region: 'eu-west-1' }));
      queue.push(JSON.stringify({ type: 'decision', at: iso(), ...common, effect: seq % 9 === 0 ? 'deny' : 'allow', ruleId: 'r1' }));
      queue.push(JSON.stringify({ type: 'response', at: iso(), ...common, status: 200, bytes: 512, durationMs: 4 + (seq % 20) }));
    }
    wake?.();
  }, TICK_MS);
  signal.addEventListener('abort', () => {
    clearInterval(timer);
    wake?.();
  });
  return {
    async *[Symbol.asyncIterator]() {
      while (!signal.aborted) {
        if (queue.length === 0) await new Promise((r) => (wake = r));
        wake = undefined;
        while (queue.length) {
          const event = JSON.parse(queue.shift());
          onEvent?.();
          yield event;
        }
      }
    },
  };
}

function cpuPercent(start, startCpu) {
  const wallMs = performance.now() - start;
  const cpu = process.cpuUsage(startCpu);
  return { wallMs, pct: ((cpu.user + cpu.system) / 1000 / wallMs) * 100 };
}

// Phase 1: the feed alone (what any consumer of the admin stream pays).
async function baseline(seconds) {
  const abort = new AbortController();
  let events = 0;
  const start = performance.now();
  const startCpu = process.cpuUsage();
  setTimeout(() => abort.abort(), seconds * 1000);
  for await (const _ of feed(abort.signal)) events += 1;
  return { ...cpuPercent(start, startCpu), events };
}

class FakeTty extends Writable {
  constructor() {
    super();
    this.isTTY = true;
    this.columns = 120;
    this.rows = 40;
    this.bytes = 0;
  }
  _write(chunk, _enc, cb) {
    this.bytes += chunk.length;
    cb();
  }
}

async function withDashboard(seconds) {
  const output = new FakeTty();
  const input = new PassThrough();
  let events = 0;
  let frames = 0;
  const startedAt = iso();
  const source = {
    status: async () => ({
      url: 'https://127.0.0.1:8443', version: 'bench', pid: process.pid, startedAt, stateDir: '/tmp',
      policy: { file: 'policy.yaml', sha256: '0'.repeat(64), rules: 10, serviceAccounts: 12, state: 'ok', errors: [], loadedAt: startedAt },
      counts: { allowed: 0, denied: 0, pending: 0, activeSessions: 12, requests: 0 },
    }),
    sessions: async () => accounts.map(([account, sessionId]) => ({ sessionId, serviceAccount: account, roleArn: 'r', start: startedAt, expiresAt: new Date(Date.now() + 3_600_000).toISOString(), calls: 0, denied: 0, revoked: false, active: true })),
    pending: async () => [{ id: 'ap1', sessionId: accounts[0][1], requestId: 'held', serviceAccount: 'svc-0', action: 's3:DeleteObject', resource: 'arn:aws:s3:::prod/x', region: 'eu-west-1', params: { Key: 'x' }, ruleId: 'approve-deletes', createdAt: startedAt, expiresAt: new Date(Date.now() + 600_000).toISOString(), held: true }],
    approve: async () => ({ ok: true, message: 'ok' }),
    deny: async () => ({ ok: true, message: 'ok' }),
    revokeSession: async () => ({ ok: true, message: 'ok' }),
    revokeServiceAccount: async () => ({ ok: true, message: 'ok' }),
    reloadPolicy: async () => ({ ok: true, message: 'ok' }),
    events: ({ signal }) => feed(signal, () => (events += 1)),
  };
  const start = performance.now();
  const startCpu = process.cpuUsage();
  const done = runDashboard(source, { input, output, terminal: 'xterm-256color', bell: false, theme: 'dark', onFrame: (n) => (frames = n), env: {} });
  setTimeout(() => input.write('\x03'), seconds * 1000); // ctrl-c
  await done;
  return { ...cpuPercent(start, startCpu), events, frames, bytes: output.bytes };
}

const base = await baseline(Math.min(3, SECONDS));
const dash = await withDashboard(SECONDS);
const secs = dash.wallMs / 1000;
const fps = dash.frames / secs;
const own = Math.max(0, dash.pct - base.pct);
console.log(`dashboard bench: ${CALLS_PER_SEC} calls/s (${CALLS_PER_SEC * 3} events/s), ${secs.toFixed(1)} s, 120×40, dark theme`);
console.log(`  feed only (JSON decode + iterate):  ${(base.events / (base.wallMs / 1000)).toFixed(0)} events/s, CPU ${base.pct.toFixed(1)}% of a core`);
console.log(`  with dashboard:                     ${(dash.events / secs).toFixed(0)} events/s, ${dash.frames} frames = ${fps.toFixed(1)} fps, ${(dash.bytes / secs / 1024).toFixed(0)} KiB/s to the terminal`);
console.log(`  CPU with dashboard:                 ${dash.pct.toFixed(1)}% of a core (dashboard's own ≈ ${own.toFixed(1)}%)`);
console.log(`  targets: ≤ 10 fps → ${fps <= 10.5 ? 'ok' : 'MISSED'}; dashboard < 15% of a core → ${own < 15 ? 'ok' : 'MISSED'} (with the simulated feed: ${dash.pct < 15 ? 'also under' : 'over'} 15%)`);
process.exit(0);
