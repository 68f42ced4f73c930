// Upstream faults: refusing connections, resetting before or during an answer, hanging past the gateway's
// upstreamTimeoutMs, answering garbage. Each call fails cleanly in the client's protocol format
// (ServiceUnavailable: S3 XML <Error>, JSON __type), nothing hangs, and the gateway serves the next call.
import { request as httpsRequest } from 'node:https';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { field, signedHead, startLab, type Credentials, type Lab, type UpstreamMode } from '../attack/lab.js';

let lab: Lab;
let creds: Credentials;

beforeAll(async () => {
  lab = await startLab({ gateway: { upstreamTimeoutMs: 600 } });
  creds = await lab.credentials();
  // Upstream credentials are fetched (and cached) on the first call.
  expect((await lab.call(creds, { path: '/bucket/warm.txt' })).status).toBe(200);
}, 60_000);

afterAll(async () => {
  await lab?.close();
});

async function expectServiceUnavailable(mode: UpstreamMode, label: string): Promise<void> {
  lab.upstream.mode = mode;
  try {
    const s3 = await lab.call(creds, { path: `/bucket/${label}.txt` });
    expect(s3.status, s3.body).toBe(503);
    expect(s3.headers['content-type']).toBe('application/xml');
    expect(field(s3.body, 'Code')).toBe('ServiceUnavailable');
    expect(s3.body).toMatch(/^<\?xml[^]*<Error>/);
    const ddb = await lab.call(creds, { method: 'POST', service: 'dynamodb', target: 'GetItem' });
    expect(ddb.status, ddb.body).toBe(503);
    expect(JSON.parse(ddb.body)).toMatchObject({ __type: 'ServiceUnavailable' });
    expect(ddb.headers['x-amzn-errortype']).toBe('ServiceUnavailable');
  } finally {
    lab.upstream.mode = 'ok';
  }
  const after = await lab.call(creds, { path: `/bucket/after-${label}.txt` });
  expect(after.status, after.body).toBe(200);
}

describe('upstream faults', () => {
  test('resetting the connection before answering → 503 ServiceUnavailable', async () => {
    await expectServiceUnavailable('reset', 'reset');
  });

  test('hanging past upstreamTimeoutMs → 503 ServiceUnavailable naming the timeout', async () => {
    await expectServiceUnavailable('hang', 'hang');
    const errors = lab.events.filter((e) => e.type === 'response' && e.status === 503);
    expect(errors.some((e) => 'bodyExcerpt' in e && /no answer within 600 ms/.test(String(e.bodyExcerpt)))).toBe(true);
  });

  test('answering garbage instead of HTTP → 503 ServiceUnavailable', async () => {
    await expectServiceUnavailable('garbage', 'garbage');
  });

  test('resetting mid-stream (a large body already flowing): the client sees a cut response, never a complete one', async () => {
    lab.upstream.mode = 'reset-mid-body';
    try {
      const outcome = await new Promise<{ status?: number; bytes: number; declared?: number; error?: string; complete: boolean }>((resolve) => {
        const head = signedHead(lab, creds, 'GET', '/bucket/mid-stream.bin');
        const headers = Object.fromEntries(head.split('\r\n').slice(1).map((line) => [line.slice(0, line.indexOf(':')), line.slice(line.indexOf(':') + 2)]));
        const req = httpsRequest(`${lab.gateway.url}/bucket/mid-stream.bin`, { headers, ca: lab.ca, agent: false }, (res) => {
          let bytes = 0;
          res.on('data', (c: Buffer) => (bytes += c.length));
          res.on('end', () => resolve({ status: res.statusCode, bytes, declared: Number(res.headers['content-length']), complete: true }));
          res.on('error', (e) => resolve({ status: res.statusCode, bytes, declared: Number(res.headers['content-length']), error: e.message, complete: false }));
          res.on('aborted', () => resolve({ status: res.statusCode, bytes, declared: Number(res.headers['content-length']), error: 'aborted', complete: false }));
        });
        req.on('error', (e) => resolve({ bytes: 0, error: e.message, complete: false }));
        req.end();
      });
      if (outcome.status === 503) return;
      expect(outcome.complete ? outcome.bytes < (outcome.declared ?? Infinity) : true, JSON.stringify(outcome)).toBe(true);
      expect(outcome.bytes).toBeLessThan(8 * 1024 * 1024);
    } finally {
      lab.upstream.mode = 'ok';
    }
    expect((await lab.call(creds, { path: '/bucket/after-mid-stream.txt' })).status).toBe(200);
  });

  test('refusing connections (the upstream is gone) → 503 ServiceUnavailable, and no hang', async () => {
    await lab.upstream.shut();
    const s3 = await lab.call(creds, { path: '/bucket/refused.txt' });
    expect(s3.status).toBe(503);
    expect(field(s3.body, 'Code')).toBe('ServiceUnavailable');
    expect(field(s3.body, 'Message')).toMatch(/ECONNREFUSED|unavailable/);
    const ddb = await lab.call(creds, { method: 'POST', service: 'dynamodb', target: 'GetItem' });
    expect(JSON.parse(ddb.body)).toMatchObject({ __type: 'ServiceUnavailable' });
    // The gateway itself is still up: its STS answers.
    expect((await lab.sts(await lab.token('svc-alpha'), 'arn:aws:iam::123456789012:role/alpha')).status).toBe(200);
  });
});
