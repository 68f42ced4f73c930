#!/usr/bin/env node
// `npm run soak`: the gateway (a child process, `portcullis start --headless`) under a realistic mix for
// SOAK_SECONDS (default 60): allowed reads, masked JSON reads, denied deletes, and reads held for approval
// that an approver (this process, over the real admin socket) approves. New sessions are opened all along.
//
// Reports: requests and rate, p50/p99 latency per kind, unexpected statuses (any 5xx counts), the gateway's
// resident memory and open file descriptors at the start and the end (/proc/PID), and whether every call the
// load generator got an answer for is in the recordings (request lines counted per kind after a clean stop).
// Exits 1 when a check fails.
//
// The upstream is the benches' tiny S3-like server (scripts/bench/lib/upstream.mjs) in its own process, not
// moto: moto answers a few hundred calls a second at best and would be what we measure. It checks nothing.
// The load generator is a custom loop, not autocannon: every request is signed just before it is sent (fresh
// X-Amz-Date for long soaks, a unique key per held call so each is its own approval) and every answer is
// counted exactly, which the recordings are then compared with.
//
// Beside them a greedy service account runs SOAK_GREEDY (64) connections flat out, twice its concurrency limit (the
// default 32): it must be throttled (SlowDown) while the well-behaved calls keep their statuses and latency. Its
// calls, throttled share and p99 are reported next to the others'.
//
// Environment: SOAK_SECONDS (60), SOAK_CONCURRENCY (16), SOAK_WARMUP_SECONDS (5), SOAK_SESSION_CALLS (400:
// calls per session before a worker opens a new one), SOAK_GREEDY (64; 0 turns it off), SOAK_JSON=1 (print the
// summary as JSON too).

import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { Agent, request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
if (!existsSync(join(root, 'dist/proxy/server.js'))) {
  console.error('soak: dist/ is missing; run `npm run soak` (it builds first) or `npx tsc -p .`');
  process.exit(1);
}
const { signOutgoingRequest } = await import('../dist/aws/sigv4.js');
const { mintLocalToken } = await import('../dist/identity/local-token.js');
const { loadOrCreateGatewayKeys } = await import('../dist/identity/keys.js');
const { AdminClient } = await import('../dist/admin/client.js');
const { listSessionFiles } = await import('../dist/recording/index-db.js');
const { startChild } = await import('./bench/lib/children.mjs');
const { percentile, summarize } = await import('./soak/stats.js');

function envNumber(name, fallback) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) {
    console.error(`soak: ${name}=${raw} is not a positive number`);
    process.exit(2);
  }
  return value;
}

const seconds = envNumber('SOAK_SECONDS', 60);
const concurrency = Math.round(envNumber('SOAK_CONCURRENCY', 16));
const warmupSeconds = Math.min(envNumber('SOAK_WARMUP_SECONDS', 5), seconds / 4);
const sessionCalls = Math.round(envNumber('SOAK_SESSION_CALLS', 400));
const greedyConnections = process.env.SOAK_GREEDY === '0' ? 0 : Math.round(envNumber('SOAK_GREEDY', 64));
const ROLE_ARN = 'arn:aws:iam::123456789012:role/soak';
/** Values the bench upstream plants in its JSON object; none may reach the client. */
const PLANTED = ['db-password-123456', 'AKIAIOSFODNN7EXAMPLA'];

// Bound everything: a generous budget, then a hard exit.
const budgetMs = (seconds + 120) * 1000;
const watchdog = setTimeout(() => {
  console.error(`soak: still running after ${Math.round(budgetMs / 1000)} s; giving up`);
  process.exit(1);
}, budgetMs);
watchdog.unref();

const dir = await mkdtemp(join(tmpdir(), 'portcullis-soak-'));
const stateDir = join(dir, 'state');
const policyFile = join(dir, 'policy.yaml');
let gateway;
let upstream;
let admin;

async function cleanup() {
  if (gateway && gateway.exitCode === null && gateway.signalCode === null) gateway.kill('SIGKILL');
  await upstream?.stop().catch(() => undefined);
  await rm(dir, { recursive: true, force: true });
}

/** RSS and open descriptors of `pid`, the descriptors split into session files (the recorder keeps up to 128 open) and the rest. */
function procStatus(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rssKiB = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
  let fds = 0;
  let sessionFds = 0;
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    fds += 1;
    try {
      if (readlinkSync(`/proc/${pid}/fd/${fd}`).includes(`${stateDir}/sessions/`)) sessionFds += 1;
    } catch {
      // closed while we looked
    }
  }
  return { rssMiB: rssKiB / 1024, fds, sessionFds };
}

function policy(upstreamUrl) {
  return `version: 1
upstream:
  endpoint: ${upstreamUrl}
  region: us-east-1
service_accounts:
  - name: soak
    issuer: local
    roles: ["${ROLE_ARN}"]
    session_ttl: 1h
  - name: greedy
    issuer: local
    roles: ["${ROLE_ARN}"]
    session_ttl: 1h
rules:
  - id: no-delete
    effect: deny
    actions: ["s3:DeleteObject"]
    message: deletes are blocked
  - id: held-reads
    effect: approve
    actions: ["s3:GetObject"]
    resources: ["arn:aws:s3:::soak/held/*"]
    approval: {hold: 15s, timeout: 1m}
  - id: work
    effect: allow
    actions: ["s3:*"]
masking:
  fields: [SecretString]
  detectors: [aws_access_key_id, email]
recording:
  durability: batch
`;
}

async function startGateway() {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('AWS_')) env[k] = v;
  // The gateway's own AWS credentials come from the standard chain: static keys the upstream does not check.
  Object.assign(env, {
    HOME: dir,
    AWS_ACCESS_KEY_ID: 'AKIASOAKBASE00000000',
    AWS_SECRET_ACCESS_KEY: 'soak-base-secret',
    AWS_CONFIG_FILE: join(dir, 'none'),
    AWS_SHARED_CREDENTIALS_FILE: join(dir, 'none'),
    AWS_EC2_METADATA_DISABLED: 'true',
  });
  const child = spawn(process.execPath, [join(root, 'bin/portcullis.js'), 'start', '--headless', '--listen', '127.0.0.1:0', '--policy', policyFile, '--state-dir', stateDir], {
    env,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout });
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the gateway did not report listening within 30 s')), 30_000);
    lines.on('line', (line) => {
      try {
        const event = JSON.parse(line);
        if (event.event === 'listening') {
          clearTimeout(timer);
          resolve(event.url);
        }
      } catch {
        // not JSON: ignore
      }
    });
    child.once('exit', (code) => reject(new Error(`the gateway exited (${code}) before listening`)));
  });
  return { child, url };
}

const kinds = ['allowed', 'masked', 'denied', 'held'];
const expected = { allowed: 200, masked: 200, denied: 403, held: 200 };
const stats = Object.fromEntries(kinds.map((k) => [k, { sent: 0, answered: 0, latenciesMs: [], statuses: {}, unexpected: 0, leaked: 0 }]));
let transportErrors = 0;
let sessionsOpened = 0;
const greedy = { answered: 0, throttled: 0, other: 0, latenciesMs: [], transportErrors: 0 };

try {
  upstream = await startChild(join(root, 'scripts/bench/lib/child.mjs'), ['upstream', '{}']);
  await writeFile(policyFile, policy(upstream.info.url));
  // Keys first, so this process can mint the local identity tokens the gateway will accept.
  const keys = await loadOrCreateGatewayKeys(stateDir);
  const started = await startGateway();
  gateway = started.child;
  const gatewayUrl = started.url;
  const info = JSON.parse(await readFile(join(stateDir, 'gateway.json'), 'utf8'));
  const ca = await readFile(info.caFile, 'utf8');
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency * 2, ca });

  const greedyAgent = new Agent({ keepAlive: true, maxSockets: Math.max(1, greedyConnections) * 2, ca });

  function send(method, path, headers, body, via = agent) {
    return new Promise((resolve, reject) => {
      const req = httpsRequest(`${gatewayUrl}${path}`, { method, headers, agent: via, timeout: 60_000 }, (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error('no answer within 60 s')));
      req.on('error', reject);
      req.end(body);
    });
  }

  async function openSession(serviceAccount = 'soak') {
    const token = mintLocalToken(keys, { serviceAccount, ttlMs: 3_600_000, now: new Date() });
    const form = new URLSearchParams({ Action: 'AssumeRoleWithWebIdentity', Version: '2011-06-15', RoleArn: ROLE_ARN, RoleSessionName: 'soak', WebIdentityToken: token }).toString();
    const res = await send('POST', '/', { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8', 'content-length': Buffer.byteLength(form) }, form);
    const text = res.body.toString();
    const field = (name) => new RegExp(`<${name}>([^<]+)</${name}>`).exec(text)?.[1];
    if (res.status !== 200) throw new Error(`STS answered ${res.status}: ${text.slice(0, 200)}`);
    sessionsOpened += 1;
    return { accessKeyId: field('AccessKeyId'), secretAccessKey: field('SecretAccessKey'), sessionToken: field('SessionToken') };
  }

  let sequence = 0;
  function build(kind, credentials) {
    const n = (sequence += 1);
    const method = kind === 'denied' ? 'DELETE' : 'GET';
    const path = kind === 'masked' ? `/soak/json/${n}.json` : kind === 'held' ? `/soak/held/${n}.bin` : kind === 'denied' ? `/soak/delete/${n}.bin` : `/soak/plain/${n}.bin`;
    const signed = signOutgoingRequest({ method, url: new URL(path, gatewayUrl), rawPath: path, headers: {}, region: 'us-east-1', service: 's3', credentials, payloadHash: 'UNSIGNED-PAYLOAD', now: new Date() });
    return { method, path, headers: signed.headers };
  }

  // The approver: a human's stand-in on the admin socket, approving whatever is held.
  admin = AdminClient.connect(stateDir);
  let approving = true;
  let approvals = 0;
  const approver = (async () => {
    while (approving) {
      try {
        const results = await Promise.all((await admin.pending()).map((pending) => admin.approve(pending.id, { by: 'soak-approver' })));
        approvals += results.filter((result) => result.ok).length;
      } catch {
        // the socket may be busy or closing; try again
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  })();

  // Mix per 10 calls: 5 allowed, 2 masked, 2 denied, 1 held.
  const MIX = ['allowed', 'masked', 'allowed', 'denied', 'allowed', 'masked', 'allowed', 'denied', 'allowed', 'held'];
  let measuring = false;
  let stopping = false;
  let snapshotStart;
  const worker = async (w) => {
    let credentials = await openSession();
    for (let i = w; !stopping; i += 1) {
      if (i > w && i % sessionCalls === 0) credentials = await openSession();
      const kind = MIX[i % MIX.length];
      const request = build(kind, credentials);
      const s = stats[kind];
      s.sent += 1;
      const t0 = performance.now();
      try {
        const res = await send(request.method, request.path, request.headers);
        const ms = performance.now() - t0;
        s.answered += 1;
        if (measuring) s.latenciesMs.push(ms);
        s.statuses[res.status] = (s.statuses[res.status] ?? 0) + 1;
        if (res.status !== expected[kind]) s.unexpected += 1;
        if (kind === 'masked' && PLANTED.some((secret) => res.body.includes(secret))) s.leaked += 1;
      } catch {
        transportErrors += 1;
      }
    }
  };

  // The greedy account: plain reads flat out on its own connections; throttling is the expected answer past 32.
  const greedyWorker = async () => {
    const credentials = await openSession('greedy');
    while (!stopping) {
      const path = `/soak/greedy/${(sequence += 1)}.bin`;
      const signed = signOutgoingRequest({ method: 'GET', url: new URL(path, gatewayUrl), rawPath: path, headers: {}, region: 'us-east-1', service: 's3', credentials, payloadHash: 'UNSIGNED-PAYLOAD', now: new Date() });
      const t = performance.now();
      try {
        const res = await send('GET', path, signed.headers, undefined, greedyAgent);
        greedy.answered += 1;
        if (measuring) greedy.latenciesMs.push(performance.now() - t);
        if (res.status === 503 && res.body.includes('SlowDown')) greedy.throttled += 1;
        else if (res.status !== 200) greedy.other += 1;
      } catch {
        greedy.transportErrors += 1;
      }
    }
  };

  console.log(`soak: ${seconds} s, ${concurrency} connections, ${greedyConnections} greedy, gateway pid ${gateway.pid} at ${gatewayUrl}`);
  const t0 = Date.now();
  const workers = [...Array.from({ length: concurrency }, (_, w) => worker(w)), ...Array.from({ length: greedyConnections }, () => greedyWorker())];
  await new Promise((r) => setTimeout(r, warmupSeconds * 1000));
  snapshotStart = procStatus(gateway.pid);
  measuring = true;
  const samples = [snapshotStart];
  const sampler = setInterval(() => samples.push(procStatus(gateway.pid)), 1000);
  await new Promise((r) => setTimeout(r, (seconds - warmupSeconds) * 1000));
  stopping = true;
  await Promise.all(workers);
  clearInterval(sampler);
  const elapsedS = (Date.now() - t0) / 1000;
  const snapshotEnd = procStatus(gateway.pid);
  approving = false;
  await approver;

  // A clean stop flushes the recorder; then count what was recorded.
  const exited = new Promise((r) => gateway.once('exit', r));
  gateway.kill('SIGTERM');
  await exited;
  const recorded = Object.fromEntries(kinds.map((k) => [k, 0]));
  let recordedResponses = 0;
  let files = 0;
  for (const file of await listSessionFiles(stateDir)) {
    files += 1;
    for (const line of (await readFile(file, 'utf8')).split('\n')) {
      if (!line) continue;
      const record = JSON.parse(line);
      if (record.type === 'response') recordedResponses += 1;
      if (record.type !== 'request') continue;
      const resource = String(record.resource ?? '');
      const kind = resource.includes('/json/') ? 'masked' : resource.includes('/held/') ? 'held' : resource.includes('/delete/') ? 'denied' : resource.includes('/plain/') ? 'allowed' : undefined;
      if (kind) recorded[kind] += 1;
    }
  }

  const summary = summarize({ kinds, stats, recorded, elapsedS, snapshotStart, snapshotEnd, samples, transportErrors, approvals, sessionsOpened, files, recordedResponses, percentile });
  for (const line of summary.lines) console.log(line);
  if (greedyConnections > 0) {
    console.log(
      `greedy account      ${greedy.answered} answered over ${greedyConnections} connections: ${greedy.throttled} throttled (SlowDown), ${greedy.other} other non-200, ` +
        `${greedy.transportErrors} transport errors; p99 ${percentile(greedy.latenciesMs, 99).toFixed(1)} ms`,
    );
  }
  if (process.env.SOAK_JSON === '1') console.log(JSON.stringify(summary.figures));
  await cleanup();
  process.exitCode = summary.ok ? 0 : 1;
} catch (error) {
  console.error(`soak: ${error?.stack ?? error}`);
  await cleanup();
  process.exitCode = 1;
}
