// Limits and fairness against a real gateway (the lab: fake upstream we count at, two service accounts):
// one account's slow-upload flood does not starve the other, a flood of large buffered bodies is throttled
// within the buffer budget, a stock SDK backs off and succeeds under a rate limit, and `escalate:` holds the
// call past the volume for a human.
import { createHash } from 'node:crypto';
import { request as httpsRequest } from 'node:https';
import type { TLSSocket } from 'node:tls';
import { Agent } from 'node:https';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { afterEach, describe, expect, it } from 'vitest';
import { signOutgoingRequest } from '../../src/aws/sigv4.js';
import { ROLE_BETA, signedHead, startLab, statusOf, waitUntil, type Credentials, type Lab } from './lab.js';

let lab: Lab | undefined;
afterEach(async () => {
  await lab?.close();
  lab = undefined;
});

function p99(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.99))]!;
}

/** Beta's calls, one after another with a few in parallel, for `ms`: latencies and statuses. */
async function wellBehaved(l: Lab, creds: Credentials, ms: number): Promise<{ latencies: number[]; statuses: number[] }> {
  const latencies: number[] = [];
  const statuses: number[] = [];
  const deadline = Date.now() + ms;
  const worker = async (w: number) => {
    for (let i = 0; Date.now() < deadline; i += 1) {
      const started = performance.now();
      const result = await l.call(creds, { path: `/bucket/beta-${w}-${i}.txt` });
      latencies.push(performance.now() - started);
      statuses.push(result.status);
    }
  };
  await Promise.all([0, 1, 2, 3].map(worker));
  return { latencies, statuses };
}

describe('fair upstream use', () => {
  it('a slow-upload flood from alpha (150 one-byte PUTs) leaves beta answering (p99 < 1 s)', async () => {
    // The upstream pool as it was when the flood starved everyone: 128 sockets.
    lab = await startLab({ gateway: { upstreamSocketsPerOrigin: 128, uploadGraceMs: 1500, uploadRateWindowMs: 1000 } });
    const l = lab;
    const alpha = await l.credentials();
    const beta = await l.credentials('svc-beta', ROLE_BETA);
    const sockets: TLSSocket[] = [];
    const answers: string[] = [];
    await Promise.all(
      Array.from({ length: 150 }, async (_, i) => {
        const socket = await l.tls();
        socket.on('error', () => undefined);
        let answer = '';
        socket.on('data', (c: Buffer) => (answer += c.toString('latin1')));
        socket.once('close', () => answers.push(answer));
        socket.write(`${signedHead(l, alpha, 'PUT', `/bucket/flood-${i}`, ['content-length: 1000000'])}\r\n\r\nx`);
        sockets.push(socket);
      }),
    );
    let maxInFlight = 0;
    const sampler = setInterval(() => {
      const a = l.gateway.status().limits?.accounts.find((x) => x.name === 'alpha');
      maxInFlight = Math.max(maxInFlight, a?.inFlight ?? 0);
    }, 20);
    const beta1 = await wellBehaved(l, beta, 4000);
    clearInterval(sampler);
    const figure = p99(beta1.latencies);
    console.log(`[limits] slow-upload flood: beta ${beta1.latencies.length} calls, p99 ${figure.toFixed(0)} ms; alpha max in flight ${maxInFlight}`);
    expect(beta1.statuses.every((s) => s === 200)).toBe(true);
    expect(figure).toBeLessThan(1000);
    expect(maxInFlight).toBeLessThanOrEqual(32);
    // The slow uploads are cut (recorded), the rest were told to slow down.
    await waitUntil(() => answers.length === 150, 10_000, 'every flood connection answered');
    const statuses = answers.map(statusOf);
    console.log(`[limits] flood answers: ${statuses.filter((s) => s === 503).length} SlowDown, ${statuses.filter((s) => s === 400).length} cut for rate`);
    // Every flood call ends: throttled (no slot within 2 s) or cut by the minimum upload rate once it had one.
    expect(statuses.every((s) => s === 503 || s === 400)).toBe(true);
    expect(statuses.filter((s) => s === 503).length).toBeGreaterThanOrEqual(50);
    expect(answers.find((a) => statusOf(a) === 503)).toContain('<Code>SlowDown</Code>');
    expect(answers.some((a) => a.includes('<Code>RequestTimeout</Code>') && a.includes('below the minimum'))).toBe(true);
    const hits = l.events.filter((e) => e.type === 'limit.hit');
    expect(hits.some((e) => e.type === 'limit.hit' && e.limit === 'upload-rate' && e.serviceAccount === 'alpha')).toBe(true);
    expect(hits.some((e) => e.type === 'limit.hit' && e.limit === 'concurrent' && e.serviceAccount === 'alpha')).toBe(true);
    expect(hits.every((e) => e.type === 'limit.hit' && e.serviceAccount === 'alpha')).toBe(true);
    const status = l.gateway.status();
    expect(status.counts.limited).toBe(hits.length);
    expect(status.limits?.accounts.find((a) => a.name === 'alpha')?.inFlight).toBe(0);
    for (const socket of sockets) socket.destroy();
  }, 25_000);
});

/** One signed DynamoDB PutItem with a `body` Buffer, sent as is (so the test process holds the body once). */
function putItem(l: Lab, creds: Credentials, body: Buffer, bodySha256: string): Promise<{ status: number; body: string }> {
  const headers = { 'content-type': 'application/x-amz-json-1.0', 'x-amz-target': 'DynamoDB_20120810.PutItem' };
  const signed = signOutgoingRequest({ method: 'POST', url: new URL('/', l.gateway.url), rawPath: '/', headers, region: 'us-east-1', service: 'dynamodb', credentials: creds, payloadHash: bodySha256, now: new Date() });
  return new Promise((resolve, reject) => {
    const req = httpsRequest(`${l.gateway.url}/`, { method: 'POST', headers: { ...signed.headers, 'content-length': String(body.length) }, ca: l.ca, agent: false }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('bounded memory', () => {
  it('16 parallel 19 MB buffered bodies: over the budget they get ThrottlingException, the budget is never exceeded', async () => {
    const budget = 64 * 1024 * 1024;
    lab = await startLab({ gateway: { bufferBudgetBytes: budget } });
    const l = lab;
    const creds = await l.credentials();
    const item = Buffer.alloc(19 * 1000 * 1000 - 64, 'a').toString();
    const body = Buffer.from(JSON.stringify({ TableName: 'orders', Item: { pk: { S: 'o-1' }, blob: { S: item } } }));
    const sha = createHash('sha256').update(body).digest('hex');
    global.gc?.();
    const base = process.memoryUsage();
    let peakRss = base.rss;
    let peakExternal = base.external;
    const sampler = setInterval(() => {
      const m = process.memoryUsage();
      peakRss = Math.max(peakRss, m.rss);
      peakExternal = Math.max(peakExternal, m.external);
    }, 10);
    const results = await Promise.all(Array.from({ length: 16 }, () => putItem(l, creds, body, sha)));
    clearInterval(sampler);
    const mib = (n: number) => (n / 1024 / 1024).toFixed(0);
    const limits = l.gateway.status().limits!;
    console.log(
      `[limits] buffer flood: ${results.filter((r) => r.status === 200).length} ok, ${results.filter((r) => r.status === 429).length} throttled; ` +
        `budget peak ${mib(limits.buffer.peakBytes)}/${mib(budget)} MiB; process rss +${mib(peakRss - base.rss)} MiB, external +${mib(peakExternal - base.external)} MiB (gateway, fake upstream and client in one process)`,
    );
    expect(results.every((r) => r.status === 200 || r.status === 429)).toBe(true);
    const throttled = results.filter((r) => r.status === 429);
    expect(throttled.length).toBeGreaterThan(0);
    expect(results.some((r) => r.status === 200)).toBe(true);
    expect(JSON.parse(throttled[0]!.body).__type).toBe('ThrottlingException');
    expect(limits.buffer.peakBytes).toBeLessThanOrEqual(budget);
    expect(limits.buffer.inUseBytes).toBe(0);
    // Budget, plus the concatenated copies being forwarded and held by the in-process fake upstream, plus a margin.
    expect(peakExternal - base.external).toBeLessThan(3 * budget + 64 * 1024 * 1024);
  }, 20_000);
});

describe('rate limits in the policy', () => {
  it('the JS SDK v3 backs off on SlowDown and succeeds once under `calls: 4 per 2s`', async () => {
    lab = await startLab({
      rules: `rules:
  - id: reads
    effect: allow
    actions: ["s3:GetObject"]
    limits: {calls: 4, per: 2s}
`,
    });
    const l = lab;
    const creds = await l.credentials();
    const client = new S3Client({
      endpoint: l.gateway.url,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: creds,
      maxAttempts: 8,
      requestHandler: new NodeHttpHandler({ httpsAgent: new Agent({ ca: l.ca }) }),
    });
    const started = Date.now();
    for (let i = 0; i < 8; i += 1) {
      const out = await client.send(new GetObjectCommand({ Bucket: 'bucket', Key: `k-${i}` }));
      await out.Body?.transformToString();
    }
    client.destroy();
    const hits = l.events.filter((e) => e.type === 'limit.hit');
    console.log(`[limits] SDK under calls: 4 per 2s: 8 calls in ${Date.now() - started} ms, ${hits.length} throttled attempts retried`);
    expect(hits.length).toBeGreaterThan(0);
    expect(hits[0]).toMatchObject({ limit: 'calls', ruleId: 'reads', serviceAccount: 'alpha', action: 's3:GetObject' });
    expect(l.upstream.requests.length).toBe(8);
  }, 20_000);
});

const ESCALATE_RULES = (then: string) => `rules:
  - id: deletes
    effect: allow
    actions: ["s3:DeleteObject"]
    escalate: {after: 20, within: 10m, then: ${then}}
${then === 'approve' ? '    approval: {hold: 300ms}\n' : ''}  - id: work
    effect: allow
    actions: ["s3:*"]
`;

describe('escalation by volume', () => {
  it('the 21st delete within 10m is held for a human (throttling while pending), and an approval lets it through', async () => {
    lab = await startLab({ rules: ESCALATE_RULES('approve') });
    const l = lab;
    const creds = await l.credentials();
    for (let i = 1; i <= 20; i += 1) expect((await l.call(creds, { method: 'DELETE', path: `/bucket/k-${i}` })).status).toBe(200);
    const held = await l.call(creds, { method: 'DELETE', path: '/bucket/k-21' });
    expect(held.status).toBe(429);
    expect(held.body).toContain('ThrottlingException');
    expect(held.body).toContain('21st s3:DeleteObject within 10m (escalate after 20)');
    const pending = l.gateway.pending();
    expect(pending).toHaveLength(1);
    expect(pending[0]!.message).toBe('21st s3:DeleteObject within 10m (escalate after 20)');
    expect(l.events.find((e) => e.type === 'limit.escalated')).toMatchObject({ serviceAccount: 'alpha', ruleId: 'deletes', count: 21, after: 20, then: 'approve' });
    expect(l.upstream.requests.filter((r) => r.method === 'DELETE')).toHaveLength(20);
    // The SDK retrying the held call is the same call: it is still the 21st, not the 22nd, 23rd…
    for (let retry = 0; retry < 3; retry += 1) {
      const again = await l.call(creds, { method: 'DELETE', path: '/bucket/k-21' });
      expect(again.status).toBe(429);
      expect(again.body).toContain('21st s3:DeleteObject within 10m');
    }
    expect(l.gateway.pending()).toHaveLength(1);
    expect(l.gateway.approve(pending[0]!.id, { by: 'test' }).ok).toBe(true);
    const retried = await l.call(creds, { method: 'DELETE', path: '/bucket/k-21' });
    expect(retried.status).toBe(200);
    expect(l.upstream.requests.filter((r) => r.method === 'DELETE')).toHaveLength(21);
    // Counts are per service account: beta's first delete passes.
    const beta = await l.credentials('svc-beta', ROLE_BETA);
    expect((await l.call(beta, { method: 'DELETE', path: '/bucket/b-1' })).status).toBe(200);
  }, 20_000);

  it('then: deny refuses past the volume, and the count survives a policy reload', async () => {
    lab = await startLab({ rules: ESCALATE_RULES('deny') });
    const l = lab;
    const creds = await l.credentials();
    for (let i = 1; i <= 20; i += 1) expect((await l.call(creds, { method: 'DELETE', path: `/bucket/k-${i}` })).status).toBe(200);
    expect((await l.gateway.reloadPolicy()).ok).toBe(true);
    const denied = await l.call(creds, { method: 'DELETE', path: '/bucket/k-21' });
    expect(denied.status).toBe(403);
    expect(denied.body).toContain('denied by rule deletes: 21st s3:DeleteObject within 10m (escalate after 20)');
  }, 20_000);
});
