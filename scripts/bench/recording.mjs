#!/usr/bin/env node
// Recording benchmark: events/s in batch vs strict durability, the cost of record() on the request path, and
// HTTP throughput of a stand-in request handler with recording off, batch and strict.
// Needs the build: `npx tsc -p .` first. Run: node scripts/bench/recording.mjs [--seconds 3]

import { createServer } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import autocannon from 'autocannon';
import { CompactSign, generateKeyPair } from 'jose';
import { Recorder } from '../../dist/recording/recorder.js';

const seconds = Number(process.argv[process.argv.indexOf('--seconds') + 1] || 3) || 3;
const { privateKey } = await generateKeyPair('ES256');
const signer = { kid: 'bench', sign: (payload) => new CompactSign(payload).setProtectedHeader({ alg: 'ES256', kid: 'bench' }).sign(privateKey) };
const dirs = [];

async function makeRecorder(durability) {
  const stateDir = await mkdtemp(join(tmpdir(), 'portcullis-bench-'));
  dirs.push(stateDir);
  return new Recorder({ stateDir, signer, durability, gatewayVersion: 'bench', onError: (e) => console.error(`recorder: ${e.message}`) });
}

const now = () => new Date().toISOString();
function startSession(recorder, sessionId) {
  recorder.record({
    type: 'session.started', at: now(), sessionId, serviceAccount: 'bench', issuer: 'https://idp', subject: 'bench', claims: { aud: 'portcullis' },
    roleArn: 'arn:aws:iam::123456789012:role/bench', expiresAt: new Date(Date.now() + 3_600_000).toISOString(), policySha256: '0'.repeat(64),
  });
}
function callEvents(sessionId, n) {
  const base = { sessionId, requestId: `r${n}`, serviceAccount: 'bench', action: 's3:GetObject', resource: `arn:aws:s3:::bucket/key-${n}` };
  return [
    { type: 'request', at: now(), ...base, service: 's3', region: 'us-east-1', params: { Bucket: 'bucket', Key: `key-${n}` } },
    { type: 'decision', at: now(), ...base, effect: 'allow', ruleId: 'read' },
    { type: 'response', at: now(), ...base, status: 200, bytes: 512, durationMs: 3, bodyExcerpt: '{"ok":true}' },
  ];
}

const fmt = (n) => Math.round(n).toLocaleString('en-US');
const results = {};

// 1. Raw recording throughput: 100 sessions, events recorded as fast as the caller can.
{
  const sessions = 100;
  const calls = 20_000;
  for (const durability of ['batch', 'strict']) {
    const recorder = await makeRecorder(durability);
    for (let s = 0; s < sessions; s += 1) startSession(recorder, `s${s}`);
    await recorder.flush();
    let onPathNs = 0;
    const t0 = performance.now();
    if (durability === 'batch') {
      for (let n = 0; n < calls; n += 1) {
        for (const event of callEvents(`s${n % sessions}`, n)) {
          const a = process.hrtime.bigint();
          recorder.record(event);
          onPathNs += Number(process.hrtime.bigint() - a);
        }
        if (n % 100 === 0) await new Promise((resolve) => setImmediate(resolve));
      }
    } else {
      // 100 concurrent callers, each waiting for its request line to be fsynced, as the proxy does.
      let next = 0;
      await Promise.all(Array.from({ length: sessions }, async () => {
        while (next < calls) {
          const n = next++;
          const [request, decision, response] = callEvents(`s${n % sessions}`, n);
          const a = process.hrtime.bigint();
          await recorder.recordDurable(request);
          onPathNs += Number(process.hrtime.bigint() - a);
          recorder.record(decision);
          recorder.record(response);
        }
      }));
    }
    await recorder.close();
    const seconds_ = (performance.now() - t0) / 1000;
    const events = calls * 3;
    results[durability] = events / seconds_;
    const perPath = durability === 'batch' ? onPathNs / events / 1000 : onPathNs / calls / 1000;
    console.log(`${durability.padEnd(6)} ${fmt(events / seconds_)} events/s written (${fmt(calls)} calls in ${seconds_.toFixed(2)} s); ` +
      `${durability === 'batch' ? 'record()' : 'recordDurable(request)'} costs ${perPath.toFixed(durability === 'batch' ? 2 : 0)} µs on the request path`);
  }
  console.log(`strict/batch events/s: ${(results.strict / results.batch).toFixed(3)}`);
}

// 2. HTTP throughput of a stand-in handler: recording off, batch, strict (autocannon, 50 connections).
async function serve(recorder, durability) {
  let n = 0;
  const server = createServer(async (req, res) => {
    const [request, decision, response] = callEvents('http', n++);
    if (recorder && durability === 'strict') await recorder.recordDurable(request);
    else recorder?.record(request);
    recorder?.record(decision);
    const body = JSON.stringify({ ok: true, n });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
    recorder?.record(response);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

const http = {};
// Warm-up (JIT, sockets) so the first measured mode is not penalised.
{
  const server = await serve(undefined, 'off');
  await autocannon({ url: `http://127.0.0.1:${server.address().port}/`, connections: 50, duration: 1 });
  server.close();
}
// Modes are interleaved over rounds and the best round kept, so drifting load on a shared machine hits all alike.
const latency = {};
for (let round = 0; round < 3; round += 1) {
  for (const mode of ['off', 'batch', 'strict']) {
    const recorder = mode === 'off' ? undefined : await makeRecorder(mode);
    if (recorder) startSession(recorder, 'http');
    const server = await serve(recorder, mode);
    const { port } = server.address();
    const result = await autocannon({ url: `http://127.0.0.1:${port}/`, connections: 50, duration: seconds });
    server.close();
    await recorder?.close();
    if (!(result.requests.average <= (http[mode] ?? 0))) {
      http[mode] = result.requests.average;
      latency[mode] = result.latency.p99;
    }
  }
}
for (const mode of ['off', 'batch', 'strict']) console.log(`http ${mode.padEnd(6)} ${fmt(http[mode])} req/s, p99 ${latency[mode]} ms (best of 3)`);
console.log(`http batch/off: ${(http.batch / http.off).toFixed(3)}  strict/off: ${(http.strict / http.off).toFixed(3)}`);
console.log('(figures from a shared machine vary run to run; compare ratios from the same run)');

for (const dir of dirs) await rm(dir, { recursive: true, force: true });
