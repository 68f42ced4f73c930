#!/usr/bin/env node
// Data-path benchmark (issue 3 item 9): requests/s and latency of the gateway against a plain forwarder, on
// loopback; the gateway's memory while a large object streams through it; masking on/off; recording on/off.
//
// Processes: the minimal S3-like upstream, the forwarder (baseline) and the gateway each run in a child process;
// this process generates the load (autocannon) and samples the children's RSS from /proc.
// Needs the build (`npx tsc -p .`); `npm run bench` builds first. Run: node scripts/bench/datapath.mjs
// Environment: BENCH_DURATION_S (10: measured seconds per target, split into BENCH_ROUNDS (2) interleaved slices),
// BENCH_WARMUP_S (2) / BENCH_WARMUP_REQUESTS (2000) / BENCH_WARMUP_MAX_S (8): each target is warmed up for at least
// BENCH_WARMUP_S and until it answered BENCH_WARMUP_REQUESTS, at most BENCH_WARMUP_MAX_S; BENCH_CONNECTIONS (50),
// BENCH_DISTINCT (100),
// BENCH_LARGE_MIB (1024; 0 skips the large-object part).

import { existsSync, readFileSync, rmSync } from 'node:fs';
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
// BENCH_GATEWAY_DIST=DIR runs the gateway from another build (an A/B run against an earlier commit's dist/).
const distDir = process.env.BENCH_GATEWAY_DIST ? resolve(process.env.BENCH_GATEWAY_DIST) : join(here, '../../dist');
if (!existsSync(join(distDir, 'proxy/server.js'))) {
  console.error('datapath bench: dist/ is missing; build first (npx tsc -p . or npm run bench)');
  process.exit(1);
}

const { loadOrCreateGatewayKeys } = await import('../../dist/identity/keys.js');
const { defaultServerNames, loadOrCreateCa, loadOrCreateServerCertificate } = await import('../../dist/proxy/tls.js');
const { fetchBuffer, gatewayCredentials, signS3, UNSIGNED_PAYLOAD } = await import('./lib/aws.mjs');
const { sampleRss, startChild } = await import('./lib/children.mjs');
const { runLoad, warmUp } = await import('./lib/load.mjs');
const { ensureWrk, runWrk } = await import('./lib/wrk.mjs');
const { startNginx } = await import('./lib/nginx.mjs');
const { fmt, mib, ms, ratio, section, table, verdict } = await import('./lib/report.mjs');

const envNumber = (name, fallback) => {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0) {
    console.error(`datapath bench: ${name}=${raw} is not a non-negative number`);
    process.exit(1);
  }
  return value;
};
const durationS = envNumber('BENCH_DURATION_S', 10) || 10;
const warmupS = envNumber('BENCH_WARMUP_S', 2);
const warmupMaxS = Math.max(warmupS, envNumber('BENCH_WARMUP_MAX_S', 8));
const warmupRequests = envNumber('BENCH_WARMUP_REQUESTS', 2000);
// wrk (a C load generator) when it can be had: on two cores autocannon saturates near 3k requests/s and would
// measure itself. autocannon stays as a fallback, and the report says so.
const wrk = ensureWrk();
const generator = wrk ? 'wrk (1 thread)' : 'autocannon (FALLBACK: wrk is not installed; figures above ~2-3k req/s measure the load generator)';
const connections = envNumber('BENCH_CONNECTIONS', wrk ? 32 : 50) || 32;
const distinct = envNumber('BENCH_DISTINCT', 100) || 100;
const rounds = envNumber('BENCH_ROUNDS', 2) || 2;
const largeBytes = Math.round(envNumber('BENCH_LARGE_MIB', 1024) * 1024 * 1024);

const ROLE_ARN = 'arn:aws:iam::123456789012:role/bench';
const CHILD = join(here, 'lib/child.mjs');

// The whole bench must stop by itself, even if something hangs: generous budget, then a hard exit.
// At most 20 targets measured in all (4 + 4 + 4 + 4 + 2 + 2), each warmed up once and measured in `rounds` slices.
const budgetMs = (20 * (durationS + warmupMaxS + 5 * rounds + 10) + 900) * 1000;
const watchdog = setTimeout(() => {
  console.error(`datapath bench: still running after ${Math.round(budgetMs / 1000)} s; giving up`);
  process.exit(1); // children are killed by the exit hook in children.mjs
}, budgetMs);
watchdog.unref();

const dir = await mkdtemp(join(tmpdir(), 'portcullis-bench-datapath-'));
// However the bench ends (watchdog, a signal, an error), its temp dir goes too; exit hooks run on process.exit.
process.on('exit', () => rmSync(dir, { recursive: true, force: true, maxRetries: 3 }));
const stateDir = join(dir, 'state');
const children = [];
let keys;
let caPem;
const results = { load: [], large: [], masking: [], recording: [] };

/**
 * `count` rules a busy team's policy could have, none of which decides the bench's calls (their buckets, tables and
 * secrets are others): deny, allow and approve, with wildcards, principals and `access:` levels.
 */
function manyRules(count) {
  const rules = [];
  for (let i = 0; i < count; i += 1) {
    const kind = i % 5;
    if (kind === 0) rules.push(`  - id: deny-archive-${i}\n    effect: deny\n    actions: ["s3:GetObject", "s3:PutObject", "s3:Delete*"]\n    resources: ["arn:aws:s3:::archive-${i}/*"]`);
    else if (kind === 1) rules.push(`  - id: allow-table-${i}\n    effect: allow\n    principals: ["bench"]\n    actions: ["dynamodb:GetItem", "dynamodb:Query"]\n    resources: ["arn:aws:dynamodb:us-east-1:123456789012:table/t-${i}"]`);
    else if (kind === 2) rules.push(`  - id: approve-secret-${i}\n    effect: approve\n    actions: ["secretsmanager:GetSecretValue"]\n    resources: ["arn:aws:secretsmanager:*:123456789012:secret:prod/s-${i}-*"]`);
    else if (kind === 3) rules.push(`  - id: deny-logs-${i}\n    effect: deny\n    principals: ["bench"]\n    access: [Write]\n    resources: ["arn:aws:s3:::logs-${i}/*"]`);
    else rules.push(`  - id: allow-reports-${i}\n    effect: allow\n    actions: ["s3:List*", "s3:Get*"]\n    resources: ["arn:aws:s3:::reports-${i}", "arn:aws:s3:::reports-${i}/*"]`);
  }
  return `${rules.join('\n')}\n`;
}

function policyYaml(upstreamUrl, masking = '', extraRules = '') {
  return `version: 1
upstream:
  endpoint: ${upstreamUrl}
  region: us-east-1
service_accounts:
  - name: bench
    issuer: local
    roles: ["${ROLE_ARN}"]
    session_ttl: 1h
rules:
  - id: allow-all
    effect: allow
    actions: ["*"]
${extraRules}${masking}`;
}

async function startGateway(policyFile, gatewayStateDir = stateDir, options = {}) {
  // The headless JSON log goes to a file, as on a bastion running `start --headless > gateway.log`.
  const logFile = join(dir, `gateway-${children.length}.log`);
  const gateway = await startChild(CHILD, ['gateway', JSON.stringify({ distDir, policyFile, stateDir: gatewayStateDir, logFile, ...options })]);
  children.push(gateway);
  gateway.credentials = await gatewayCredentials({ gatewayUrl: gateway.info.url, keys, serviceAccount: 'bench', roleArn: ROLE_ARN, ca: caPem });
  return gateway;
}

function gatewayTarget(handle) {
  return { url: handle.info.url, credentials: handle.credentials, handle };
}

let variantCount = 0;
/**
 * Another gateway beside the main one, with its own policy, on a copy of the main state dir's keys and TLS
 * material (not its admin socket or gateway.json), with a session of its own.
 */
async function startVariant(policyText, options = {}) {
  variantCount += 1;
  const variantState = `${stateDir}-${variantCount}`;
  for (const sub of ['keys', 'tls']) await cp(join(stateDir, sub), join(variantState, sub), { recursive: true });
  const file = join(dir, `policy-${variantCount}.yaml`);
  await writeFile(file, policyText);
  return startGateway(file, variantState, options);
}

async function stopChild(handle) {
  await handle.stop();
  children.splice(children.indexOf(handle), 1);
}

const failures = [];
/** Any non-2xx answer or socket error fails the bench: a rate with errors in it means nothing. */
const broken = [];
function row(label, r, baseline) {
  if (r.firstFailure) failures.push(`${label}: first non-2xx answer: ${r.firstFailure.replace(/\s+/g, ' ')}`);
  if (r.non2xx > 0 || r.errors + r.timeouts > 0) broken.push(`${label}: ${r.non2xx} non-2xx, ${r.errors + r.timeouts} socket errors/timeouts`);
  const cpu = r.cpuPerCallUs === undefined ? '' : `${fmt(r.cpuPerCallUs)} µs`;
  return [label, fmt(r.rps), ms(r.p50), ms(r.p99), fmt(r.errors + r.timeouts), fmt(r.non2xx), cpu, baseline ? fmt(ratio(r.rps, baseline.rps), 2) : ''];
}
const LOAD_HEADER = ['target', 'req/s', 'p50', 'p99', 'errors', 'non-2xx', 'CPU/call', 'vs forwarder'];
function loadTable(rows) {
  table(LOAD_HEADER, rows);
  for (const line of failures.splice(0)) console.log(line);
}

/**
 * Measures every target on the same requests, interleaved: each target gets a warm-up, then `rounds` slices of
 * durationS/rounds seconds in turn (A B C A B C …), so a noisy neighbour on a shared machine hits all targets
 * alike. Requests are signed again before every slice (x-amz-date must stay within 15 minutes).
 * req/s = all requests / all measured time; p50 = median of the slices' p50; p99 = the worst slice's p99.
 */
async function compare(targets, makeRequests, { conns = connections } = {}) {
  const sliceS = Math.max(1, Math.round(durationS / rounds));
  const load = (target, seconds) =>
    wrk
      ? runWrk({ wrk, url: target.url, requests: makeRequests(target), connections: conns, durationS: seconds, scriptFile: join(dir, 'wrk.lua') })
      : runLoad({ url: target.url, requests: makeRequests(target), connections: conns, durationS: seconds });
  for (const target of targets) {
    if (warmupS > 0) {
      if (wrk) await load(target, Math.max(2, warmupS));
      else await warmUp({ url: target.url, requests: makeRequests(target), connections: conns }, { minS: warmupS, maxS: warmupMaxS, minRequests: warmupRequests });
    }
  }
  const slices = targets.map(() => []);
  const cpuMicros = targets.map(() => 0);
  for (let round = 0; round < rounds; round += 1) {
    for (const [i, target] of targets.entries()) {
      const before = target.handle ? (await target.handle.request({ cmd: 'cpu' })).cpu : undefined;
      slices[i].push(await load(target, sliceS));
      if (before) {
        const after = (await target.handle.request({ cmd: 'cpu' })).cpu;
        cpuMicros[i] += after.user - before.user + after.system - before.system;
      }
    }
  }
  const median = (values) => [...values].sort((a, b) => a - b)[Math.floor((values.length - 1) / 2)];
  return slices.map((runs, i) => {
    const requests = runs.reduce((n, r) => n + r.requests, 0);
    return {
      requests,
      rps: requests / (sliceS * runs.length),
      p50: median(runs.map((r) => r.p50)),
      p99: Math.max(...runs.map((r) => r.p99)),
      errors: runs.reduce((n, r) => n + r.errors, 0),
      timeouts: runs.reduce((n, r) => n + r.timeouts, 0),
      non2xx: runs.reduce((n, r) => n + r.non2xx, 0),
      firstFailure: runs.find((r) => r.firstFailure)?.firstFailure,
      cpuPerCallUs: targets[i].handle && requests > 0 ? cpuMicros[i] / requests : undefined,
    };
  });
}

/** Streams `size` bytes up (PUT) or down (GET) through `baseUrl`; returns seconds and the status. */
function transfer({ baseUrl, method, path, headers, size, ca }) {
  const target = new URL(path, baseUrl);
  const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
  const chunk = Buffer.alloc(1024 * 1024, 'x');
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = send(target, { method, headers: method === 'PUT' ? { ...headers, 'content-length': size } : headers, ca, agent: false }, (res) => {
      let bytes = 0;
      res.on('data', (c) => {
        bytes += c.length;
      });
      res.on('end', () => resolve({ status: res.statusCode, bytes: method === 'PUT' ? size : bytes, seconds: (performance.now() - started) / 1000 }));
      res.on('error', reject);
    });
    req.on('error', reject);
    if (method !== 'PUT') return req.end();
    let left = size;
    const pump = () => {
      while (left > 0) {
        const n = Math.min(left, chunk.length);
        left -= n;
        if (!req.write(n === chunk.length ? chunk : chunk.subarray(0, n))) return void req.once('drain', pump);
      }
      req.end();
    };
    pump();
  });
}

async function main() {
  console.log(`datapath bench: load generator ${generator}; ${connections} connections; per target ${durationS} s measured in ${rounds} interleaved slices after a warm-up; ${distinct} distinct pre-signed requests per scenario; any non-2xx answer fails the bench`);
  console.log(`machine: ${(await import('node:os')).cpus().length} cores, Node ${process.version}; load generator, upstream and proxy share these cores`);

  // Keys, CA and server certificate first, so the forwarder serves the very certificate the gateway will load.
  keys = await loadOrCreateGatewayKeys(stateDir);
  const ca = await loadOrCreateCa(stateDir);
  const cert = await loadOrCreateServerCertificate(stateDir, ca, defaultServerNames());
  caPem = readFileSync(ca.caFile);

  const upstream = await startChild(CHILD, ['upstream', '{}']);
  children.push(upstream);
  const forwarder = await startChild(CHILD, ['forwarder', JSON.stringify({ upstreamUrl: upstream.info.url, certPem: cert.certPem, keyPem: cert.keyPem })]);
  children.push(forwarder);

  const policyFile = join(dir, 'policy.yaml');
  await writeFile(policyFile, policyYaml(upstream.info.url));
  let gateway = await startGateway(policyFile);

  // Requests are signed for the target's host; each gateway with the credentials of its own session (a gateway
  // records calls only for sessions it issued); the upstream and forwarder check nothing and get the main ones.
  const sign = (target, method, path, body) =>
    signS3({ baseUrl: target.url, method, path, credentials: target.credentials ?? gateway.credentials, body, headers: body ? { 'content-type': 'application/octet-stream' } : {} });
  const putBody = Buffer.alloc(4096, 'p');
  const allScenarios = [
    { key: 'get', name: 'GetObject, 1 KiB object', make: (target) => Array.from({ length: distinct }, (_, i) => sign(target, 'GET', `/bench/obj-${i}`)) },
    { key: 'json', name: 'GetObject, ~3 KiB JSON with secrets (default masking)', make: (target) => Array.from({ length: distinct }, (_, i) => sign(target, 'GET', `/bench/json/doc-${i}`)) },
    { key: 'put', name: 'PutObject, 4 KiB body (UNSIGNED-PAYLOAD)', make: (target) => Array.from({ length: distinct }, (_, i) => sign(target, 'PUT', `/bench/up-${i}`, putBody)) },
  ];
  // BENCH_SCENARIOS=put (or get) narrows the small-request runs, e.g. to profile one path.
  const wanted = (process.env.BENCH_SCENARIOS ?? 'get,json,put').split(',');
  const scenarios = allScenarios.filter((scenario) => wanted.includes(scenario.key));

  // A sanity pass: the gateway must actually answer 200 to these requests, or the figures mean nothing.
  for (const scenario of scenarios) {
    const sample = scenario.make(gatewayTarget(gateway))[0];
    const res = await fetchBuffer(`${gateway.info.url}${sample.path}`, { method: sample.method, headers: sample.headers, body: sample.body, ca: caPem });
    if (res.status !== 200) throw new Error(`${scenario.name} through the gateway answered ${res.status}: ${res.body.toString('utf8').slice(0, 300)}`);
  }

  // nginx where it is installed (BENCH_NGINX=0 leaves it out): a C proxy's figure beside the Node forwarder's.
  const nginx = scenarios.length > 0 && process.env.BENCH_NGINX !== '0' ? await startNginx({ upstreamUrl: upstream.info.url, certPem: cert.certPem, keyPem: cert.keyPem, dir: join(dir, 'nginx') }) : undefined;
  if (nginx) children.push(nginx.handle);
  console.log(nginx ? 'nginx: installed, measured as a second baseline (one worker process)' : 'nginx: not installed, left out (apt-get install nginx adds it to the small-request runs)');

  // 1. Small requests: upstream directly, forwarder, nginx where installed, gateway.
  for (const scenario of scenarios) {
    section(`${scenario.name}`);
    const measured = await compare(
      [{ url: upstream.info.url, handle: upstream }, { url: forwarder.info.url, handle: forwarder }, ...(nginx ? [nginx] : []), gatewayTarget(gateway)],
      scenario.make,
    );
    const [direct, base] = measured;
    const gw = measured.at(-1);
    const nginxR = nginx ? measured[2] : undefined;
    loadTable([
      row('upstream (plain HTTP, direct)', direct),
      row('forwarder (HTTPS, no checks)', base, base),
      ...(nginxR ? [row('nginx (HTTPS, one worker)', nginxR, base)] : []),
      row('portcullis (HTTPS, full pipeline)', gw, base),
    ]);
    const target = scenario.key === 'get' ? 0.6 : 0.5;
    console.log(`portcullis/forwarder req/s: ${verdict(ratio(gw.rps, base.rps), target)}; portcullis CPU per call: ${verdict(gw.cpuPerCallUs, 150, { atMost: true, digits: 0 })} µs`);
    results.load.push({ scenario: scenario.name, direct, forwarder: base, nginx: nginxR, portcullis: gw });
  }

  // 2. Masking: a JSON object the masker parses and rewrites, under three policies, each in its own gateway.
  // BENCH_SKIP=masking,recording leaves sections out.
  const skip = new Set((process.env.BENCH_SKIP ?? '').split(','));
  if (!skip.has('masking')) {
  section('Masking: GetObject, ~3 KiB application/json with secrets');
  const jsonRequests = (target) => Array.from({ length: distinct }, (_, i) => sign(target, 'GET', `/bench/json/doc-${i}`));
  const variants = [
    { label: 'portcullis, masking default (all fields + detectors)', handle: gateway },
    { label: 'portcullis, masking empty (fields: [], detectors: [])', masking: 'masking:\n  fields: []\n  detectors: []\n' },
    { label: 'portcullis, masking bypassed (max_body_bytes: 1)', masking: 'masking:\n  max_body_bytes: 1\n' },
  ];
  for (const variant of variants) {
    if (!variant.handle) variant.handle = await startVariant(policyYaml(upstream.info.url, variant.masking));
  }
  const sample = jsonRequests(gatewayTarget(gateway))[0];
  const maskedSample = await fetchBuffer(`${gateway.info.url}${sample.path}`, { headers: sample.headers, ca: caPem });
  const maskingWorks = maskedSample.status === 200 && !maskedSample.body.includes('AKIAIOSFODNN7EXAMPL') && !maskedSample.body.includes('db-password-123456');
  const [base, ...masked] = await compare([{ url: forwarder.info.url }, ...variants.map((v) => gatewayTarget(v.handle))], jsonRequests);
  loadTable([row('forwarder (HTTPS, no checks)', base, base), ...masked.map((r, i) => row(variants[i].label, r, base))]);
  for (const [i, r] of masked.entries()) results.masking.push({ variant: variants[i].label, ...r });
  for (const variant of variants.slice(1)) await stopChild(variant.handle);
  console.log(`masking took effect on the default policy: ${maskingWorks ? 'yes (the secrets are absent from the response)' : `NO (status ${maskedSample.status}) — check the masking config`}`);
  const [onR, emptyR, offR] = masked;
  console.log(`req/s masking default / bypassed: ${fmt(ratio(onR.rps, offR.rps), 2)}; empty / bypassed: ${fmt(ratio(emptyR.rps, offR.rps), 2)}`);
  }

  // 3. Recording: off (recorder stubbed in the gateway process: the gateway has no off switch), batch, strict.
  if (!skip.has('recording')) {
  section('Recording: GetObject, 1 KiB object');
  const recordingVariants = [
    { label: 'portcullis, recording off (recorder stubbed)', options: { recordingOff: true } },
    { label: 'portcullis, recording batch (default)', handle: gateway },
    { label: 'portcullis, recording strict (fsync per call)', recording: 'recording:\n  durability: strict\n' },
  ];
  const recordedRequests = allScenarios[0].make;
  for (const variant of recordingVariants) {
    if (!variant.handle) variant.handle = await startVariant(policyYaml(upstream.info.url, variant.recording ?? ''), variant.options);
  }
  const [recBase, ...recorded] = await compare([{ url: forwarder.info.url }, ...recordingVariants.map((v) => gatewayTarget(v.handle))], recordedRequests);
  loadTable([row('forwarder (HTTPS, no checks)', recBase, recBase), ...recorded.map((r, i) => row(recordingVariants[i].label, r, recBase))]);
  for (const variant of recordingVariants) if (variant.handle !== gateway) await stopChild(variant.handle);
  const [recOff, recBatch, recStrict] = recorded;
  console.log(`req/s recording batch / off: ${fmt(ratio(recBatch.rps, recOff.rps), 2)}; strict / off: ${fmt(ratio(recStrict.rps, recOff.rps), 2)}`);
  results.recording = recorded.map((r, i) => ({ variant: recordingVariants[i].label, ...r }));
  }

  // 4. Scale: the per-call figure with 1,000 rules in the policy and 10,000 live sessions, against the default gateway.
  if (!skip.has('scale')) {
    const ruleCount = envNumber('BENCH_SCALE_RULES', 1000);
    const sessionCount = envNumber('BENCH_SCALE_SESSIONS', 10_000);
    section(`Scale: ${fmt(ruleCount)} rules and ${fmt(sessionCount)} live sessions (GetObject, 1 KiB object)`);
    const scaled = await startVariant(policyYaml(upstream.info.url, '', manyRules(Math.max(0, ruleCount - 1))));
    // Sessions through the gateway's own STS, as clients open them, over keep-alive connections, 16 at a time.
    const { Agent } = await import('node:https');
    const agent = new Agent({ keepAlive: true, maxSockets: 16 });
    const opened = performance.now();
    let left = Math.max(0, sessionCount - 1);
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (left > 0) {
          left -= 1;
          await gatewayCredentials({ gatewayUrl: scaled.info.url, keys, serviceAccount: 'bench', roleArn: ROLE_ARN, ca: caPem, agent });
        }
      }),
    );
    agent.destroy();
    const status = (await scaled.request({ cmd: 'sessions' })).sessions;
    console.log(`opened ${fmt(sessionCount - 1)} more sessions in ${fmt((performance.now() - opened) / 1000, 1)} s; the gateway counts ${fmt(status)} live`);
    const [plainR, scaledR] = await compare([gatewayTarget(gateway), gatewayTarget(scaled)], allScenarios[0].make);
    loadTable([row('portcullis, 1 rule, 1 session', plainR, plainR), row(`portcullis, ${fmt(ruleCount)} rules, ${fmt(status)} sessions`, scaledR, plainR)]);
    const growth = scaledR.cpuPerCallUs / plainR.cpuPerCallUs - 1;
    console.log(`CPU per call with ${fmt(ruleCount)} rules and ${fmt(status)} sessions, per cent above the default gateway's: ${verdict(growth * 100, 10, { atMost: true, digits: 1 })}`);
    results.scale = { rules: ruleCount, sessions: status, plain: plainR, scaled: scaledR, growth };
    await stopChild(scaled);
  }

  // 5. Large objects: memory of the proxy while 1 GiB streams up and down.
  section(`Large object: ${mib(largeBytes)} PUT (UNSIGNED-PAYLOAD) and GET, streamed`);
  if (largeBytes === 0) {
    console.log('skipped (BENCH_LARGE_MIB=0)');
  } else {
    // A fresh gateway with the default policy: its starting RSS is an idle gateway's, not one after load runs.
    await stopChild(gateway);
    await writeFile(policyFile, policyYaml(upstream.info.url));
    gateway = await startGateway(policyFile);
    const largeRows = [];
    const targets = [
      { label: 'upstream (plain HTTP, direct)', handle: upstream, url: upstream.info.url },
      { label: 'forwarder (HTTPS, no checks)', handle: forwarder, url: forwarder.info.url },
      { label: 'portcullis (HTTPS, full pipeline)', handle: gateway, url: gateway.info.url, credentials: gateway.credentials },
    ];
    for (const target of targets) {
      for (const method of ['PUT', 'GET']) {
        const path = method === 'PUT' ? `/bench/large-upload-${method}` : `/bench/gen/${largeBytes}`;
        const signed = sign(target, method, path);
        // One small call first: keep-alive pool and upstream credentials ready, so the sample is the transfer's.
        await fetchBuffer(`${target.url}/bench/obj-warm`, { headers: sign(target, 'GET', '/bench/obj-warm').headers, ca: caPem });
        const pid = target.handle.info.pid;
        const sampler = sampleRss(pid, { fallback: async () => (await target.handle.request({ cmd: 'mem' })).memory.rss });
        const t = await transfer({ baseUrl: target.url, method, path, headers: signed.headers, size: largeBytes, ca: caPem });
        const mem = await sampler.stop();
        if (t.status !== 200) throw new Error(`${method} ${mib(largeBytes)} through ${target.label} answered ${t.status}`);
        if (t.bytes !== largeBytes) throw new Error(`${method} through ${target.label} moved ${t.bytes} bytes, not ${largeBytes}`);
        const growth = mem.peakBytes - mem.startBytes;
        largeRows.push([target.label, method, `${fmt(t.bytes / 1024 / 1024 / t.seconds)} MiB/s`, mib(mem.startBytes), mib(mem.peakBytes), mib(growth)]);
        results.large.push({ target: target.label, method, mibPerS: t.bytes / 1024 / 1024 / t.seconds, ...mem, growthBytes: growth });
      }
    }
    table(['through', 'method', 'throughput', 'RSS start', 'RSS peak', 'growth'], largeRows);
    const gwGrowth = Math.max(...results.large.filter((r) => r.target.startsWith('portcullis')).map((r) => r.growthBytes));
    console.log(`portcullis RSS growth (worst of PUT/GET): ${mib(gwGrowth)} — ${verdict(gwGrowth / 1024 / 1024, 100, { atMost: true, digits: 1 })}`);
  }

  section('Summary');
  for (const r of results.load) console.log(`${r.scenario}: portcullis ${fmt(r.portcullis.rps)} req/s, forwarder ${fmt(r.forwarder.rps)} req/s${r.nginx ? `, nginx ${fmt(r.nginx.rps)} req/s` : ''}, ratio ${fmt(ratio(r.portcullis.rps, r.forwarder.rps), 2)}`);
  for (const r of results.masking) console.log(`${r.variant}: ${fmt(r.rps)} req/s`);
  for (const r of results.recording) console.log(`${r.variant}: ${fmt(r.rps)} req/s`);
  if (results.scale) console.log(`scale (${fmt(results.scale.rules)} rules, ${fmt(results.scale.sessions)} sessions): CPU per call ${fmt(results.scale.scaled.cpuPerCallUs)} µs vs ${fmt(results.scale.plain.cpuPerCallUs)} µs (${fmt(results.scale.growth * 100, 1)} %)`);
  for (const r of results.large) console.log(`${r.target} ${r.method} ${mib(largeBytes)}: ${fmt(r.mibPerS)} MiB/s, RSS +${mib(r.growthBytes)}`);

  // 6. Latency at one connection: what the gateway adds to a single caller.
  if (!skip.has('latency')) {
    section('Added latency at one connection: GetObject, 1 KiB object');
    const [base1, gw1] = await compare([{ url: forwarder.info.url, handle: forwarder }, gatewayTarget(gateway)], allScenarios[0].make, { conns: 1 });
    loadTable([row('forwarder (HTTPS, no checks)', base1, base1), row('portcullis (HTTPS, full pipeline)', gw1, base1)]);
    console.log(`added p50: ${verdict(gw1.p50 - base1.p50, 0.3, { atMost: true, digits: 2 })} ms`);
  }
  if (broken.length > 0) throw new Error(`answers that were not 2xx, so these figures mean nothing:\n  ${broken.join('\n  ')}`);
}

let failed = false;
try {
  await main();
} catch (error) {
  failed = true;
  console.error(`datapath bench failed: ${error?.stack ?? error}`);
} finally {
  for (const child of [...children].reverse()) await child.stop().catch(() => undefined);
  await rm(dir, { recursive: true, force: true });
  clearTimeout(watchdog);
}
process.exit(failed ? 1 : 0);
