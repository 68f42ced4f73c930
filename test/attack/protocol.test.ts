// Protocol abuse against the gateway's HTTPS listener over raw TLS sockets. Every hostile shape gets a
// clean error (or a clean close), nothing that should not reach the upstream does (we count at a tiny
// upstream we own), and the gateway keeps serving normal calls — also while slow clients hold sockets.
//
// Slow clients are opened in beforeAll and held for the whole file, so every other test here also proves
// "without starving others"; the last test waits for the gateway's own header timeout to cut them
// (headersTimeout 20 s, enforced by Node's connection check every 30 s: up to ~50 s after start).
import type { TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { field, rawExchange, signedHead, startLab, statusOf, waitUntil, type Credentials, type Lab } from './lab.js';

const BUFFER_LIMIT = 4096;
const SLOW_HEADER_CLIENTS = 40;
const SLOW_BODY_CLIENTS = 10;

let lab: Lab;
let creds: Credentials;
const slowHeaders: TLSSocket[] = [];
const slowBodies: TLSSocket[] = [];
const timers: NodeJS.Timeout[] = [];
const slowAnswers: string[] = [];
const whileSlow: { openBefore: number; statuses: number[] } = { openBefore: 0, statuses: [] };

async function normalCallWorks(tag: string): Promise<void> {
  const result = await lab.call(creds, { path: `/bucket/normal-${tag}.txt` });
  expect(result.status, result.body).toBe(200);
  expect(lab.upstream.requests.at(-1)?.url).toBe(`/bucket/normal-${tag}.txt`);
}

/** Upstream requests seen while `fn` runs. */
async function forwardedDuring(fn: () => Promise<void>): Promise<string[]> {
  const before = lab.upstream.requests.length;
  await fn();
  await new Promise((r) => setTimeout(r, 150));
  return lab.upstream.requests.slice(before).map((r) => r.url);
}

beforeAll(async () => {
  // Short deadlines keep the suite fast; the defaults (20 s headers, 30 s bodies) behave the same way.
  lab = await startLab({ gateway: { maxBufferedBodyBytes: BUFFER_LIMIT, headersTimeoutMs: 3_000, bodyTimeoutMs: 3_000 } });
  creds = await lab.credentials();
  // Slowloris: headers that never finish, one more header line every 500 ms.
  for (let i = 0; i < SLOW_HEADER_CLIENTS; i += 1) {
    const socket = await lab.tls();
    socket.on('error', () => undefined);
    socket.on('data', (c: Buffer) => slowAnswers.push(c.toString('latin1')));
    socket.write(`GET /bucket/slow-${i} HTTP/1.1\r\nHost: ${lab.host}:${lab.port}\r\n`);
    let n = 0;
    timers.push(
      setInterval(() => {
        if (!socket.destroyed && n < 200) socket.write(`X-Slow-${n++}: a\r\n`);
      }, 500),
    );
    slowHeaders.push(socket);
  }
  // Slow bodies: the STS form (buffered by the gateway), one byte every 500 ms of a declared 4000.
  for (let i = 0; i < SLOW_BODY_CLIENTS; i += 1) {
    const socket = await lab.tls();
    socket.on('error', () => undefined);
    socket.write(`POST / HTTP/1.1\r\nHost: ${lab.host}:${lab.port}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 4000\r\n\r\nAction=`);
    let n = 0;
    timers.push(
      setInterval(() => {
        if (!socket.destroyed && n < 200) socket.write('A'[n++ % 1]!);
      }, 500),
    );
    slowBodies.push(socket);
  }
  // Twenty calls in parallel while every slow socket is still open (checked in "slow clients" below).
  whileSlow.openBefore = slowHeaders.filter((s) => !s.destroyed).length;
  whileSlow.statuses = (await Promise.all(Array.from({ length: 20 }, (_, i) => lab.call(creds, { path: `/bucket/while-slow-${i}.txt` })))).map((r) => r.status);
}, 60_000);

afterAll(async () => {
  for (const timer of timers) clearInterval(timer);
  for (const socket of [...slowHeaders, ...slowBodies]) socket.destroy();
  await lab?.close();
});

describe('oversized input', () => {
  test('headers over Node\'s limit → 431, nothing forwarded', async () => {
    const urls = await forwardedDuring(async () => {
      const head = signedHead(lab, creds, 'GET', '/bucket/huge-header.txt', [`X-Big: ${'a'.repeat(20_000)}`]);
      const raw = await rawExchange(lab, `${head}\r\n\r\n`);
      expect(statusOf(raw)).toBe(431);
    });
    expect(urls).toEqual([]);
    await normalCallWorks('after-431');
  });

  test('a buffered body over maxBufferedBodyBytes → 413 in the JSON protocol\'s format, nothing forwarded', async () => {
    const urls = await forwardedDuring(async () => {
      const body = JSON.stringify({ TableName: 'orders', Item: { pk: { S: 'x'.repeat(BUFFER_LIMIT * 2) } } });
      const result = await lab.call(creds, { method: 'POST', service: 'dynamodb', target: 'PutItem', body });
      expect(result.status).toBe(413);
      expect(JSON.parse(result.body)).toMatchObject({ __type: 'RequestEntityTooLarge' });
    });
    expect(urls).toEqual([]);
    // Just under the limit passes (the limit is the limit, not something smaller).
    const small = await lab.call(creds, { method: 'POST', service: 'dynamodb', target: 'GetItem' });
    expect(small.status, small.body).toBe(200);
  });

  test('an STS form over 64 KiB → 413, no session', async () => {
    const sessions = lab.events.filter((e) => e.type === 'session.started').length;
    const raw = await rawExchange(lab, [
      `POST / HTTP/1.1\r\nHost: ${lab.host}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 70000\r\n\r\n`,
      `Action=AssumeRoleWithWebIdentity&WebIdentityToken=${'a'.repeat(69_950)}`,
    ]);
    expect(statusOf(raw)).toBe(413);
    expect(lab.events.filter((e) => e.type === 'session.started').length).toBe(sessions);
  });
});

describe('request smuggling shapes (each signed and otherwise valid: if parsed, it would be forwarded)', () => {
  const smuggled = (tag: string) => `GET /bucket/smuggled-${tag}.txt HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`;
  const shapes: Array<[string, (head: (extra: string[]) => string) => string]> = [
    ['Content-Length and Transfer-Encoding', (head) => `${head(['Content-Length: 5', 'Transfer-Encoding: chunked'])}\r\n\r\n0\r\n\r\n${smuggled('clte')}`],
    ['Transfer-Encoding then Content-Length', (head) => `${head(['Transfer-Encoding: chunked', 'Content-Length: 40'])}\r\n\r\n0\r\n\r\n${smuggled('tecl')}`],
    ['duplicate Content-Length (different)', (head) => `${head(['Content-Length: 0', 'Content-Length: 44'])}\r\n\r\n${smuggled('dupcl')}`],
    ['duplicate Content-Length (same value)', (head) => `${head(['Content-Length: 3', 'Content-Length: 3'])}\r\n\r\nabc`],
    ['obs-fold continuation line', (head) => `${head(['X-Folded: a', ' Transfer-Encoding: chunked', 'Content-Length: 3'])}\r\n\r\nabc`],
    ['Transfer-Encoding: chunked, identity', (head) => `${head(['Transfer-Encoding: chunked, identity'])}\r\n\r\n3\r\nabc\r\n0\r\n\r\n`],
    ['Transfer-Encoding with a space before the colon', (head) => `${head(['Transfer-Encoding : chunked', 'Content-Length: 3'])}\r\n\r\nabc`],
    ['invalid chunk size', (head) => `${head(['Transfer-Encoding: chunked'])}\r\n\r\nzz\r\nabc\r\n0\r\n\r\n`],
    ['chunk size with a bare LF', (head) => `${head(['Transfer-Encoding: chunked'])}\r\n\r\n3\nabc\r\n0\r\n\r\n`],
    ['chunk data longer than its size', (head) => `${head(['Transfer-Encoding: chunked'])}\r\n\r\n2\r\nabcdef\r\n0\r\n\r\n`],
    ['negative Content-Length', (head) => `${head(['Content-Length: -1'])}\r\n\r\n`],
  ];
  for (const [name, build] of shapes) {
    test(`${name} → 400, nothing forwarded`, async () => {
      const tag = name.replace(/\W+/g, '-');
      const urls = await forwardedDuring(async () => {
        const raw = await rawExchange(lab, build((extra) => signedHead(lab, creds, 'PUT', `/bucket/front-${tag}.txt`, extra)));
        expect(statusOf(raw), raw.slice(0, 200)).toBe(400);
        // One answer only: a second response would mean the tail was parsed as a request.
        expect(raw.match(/HTTP\/1\.1 \d{3}/g)).toHaveLength(1);
      });
      expect(urls).toEqual([]);
    });
  }

  test('the gateway still serves normal calls after all of them', async () => {
    await normalCallWorks('after-smuggling');
  });
});

describe('HTTP/1.0 and pipelining', () => {
  test('an HTTP/1.0 request is served and the connection closed', async () => {
    const raw = await rawExchange(lab, `${signedHead(lab, creds, 'GET', '/bucket/http10.txt', [], '1.0')}\r\n\r\n`);
    expect(statusOf(raw)).toBe(200);
    expect(raw).toContain('/bucket/http10.txt');
  });

  test('three pipelined requests get three answers in order', async () => {
    const requests = ['one', 'two', 'three'].map((n) => `${signedHead(lab, creds, 'GET', `/bucket/pipe-${n}.txt`)}\r\n\r\n`);
    const urls = await forwardedDuring(async () => {
      const socket = await lab.tls();
      let out = '';
      socket.on('data', (c: Buffer) => (out += c.toString('latin1')));
      socket.write(requests.join(''));
      await waitUntil(() => (out.match(/HTTP\/1\.1 200/g) ?? []).length === 3 && out.includes('pipe-three'), 10_000, 'three answers');
      socket.destroy();
      const order = ['one', 'two', 'three'].map((n) => out.indexOf(`pipe-${n}.txt`));
      expect(order).toEqual([...order].sort((a, b) => a - b));
    });
    expect(urls).toEqual(['/bucket/pipe-one.txt', '/bucket/pipe-two.txt', '/bucket/pipe-three.txt']);
  });

  test('a pipelined request after a refused one is not served on the same connection', async () => {
    const denied = `${signedHead(lab, creds, 'DELETE', '/bucket/pipe-denied.txt')}\r\n\r\n`;
    const next = `${signedHead(lab, creds, 'GET', '/bucket/pipe-after-deny.txt')}\r\n\r\n`;
    const raw = await rawExchange(lab, denied + next);
    expect(statusOf(raw)).toBe(403);
    expect(field(raw, 'Code')).toBe('AccessDenied');
  });
});

describe('clients that vanish', () => {
  test('mid-upload (streamed S3 body): the upstream never sees a complete request; the gateway stays up', async () => {
    const truncated = lab.upstream.truncatedUploads;
    const urls = await forwardedDuring(async () => {
      const socket = await lab.tls();
      socket.on('error', () => undefined);
      socket.write(`${signedHead(lab, creds, 'PUT', '/bucket/vanish-upload.bin', ['Content-Length: 1048576'])}\r\n\r\n`);
      socket.write(Buffer.alloc(64 * 1024, 'u'));
      await new Promise((r) => setTimeout(r, 200));
      socket.destroy();
      await waitUntil(() => lab.upstream.truncatedUploads > truncated, 5000, 'the upstream to see the upload cut').catch(() => undefined);
    });
    expect(urls).not.toContain('/bucket/vanish-upload.bin');
    await normalCallWorks('after-vanish-upload');
  });

  test('mid-upload (buffered JSON body): nothing is forwarded at all', async () => {
    const urls = await forwardedDuring(async () => {
      const socket = await lab.tls();
      socket.on('error', () => undefined);
      socket.write(`POST / HTTP/1.1\r\nHost: ${lab.host}:${lab.port}\r\nContent-Type: application/x-amz-json-1.0\r\nX-Amz-Target: DynamoDB_20120810.GetItem\r\nContent-Length: 3000\r\n\r\n{"TableName":`);
      await new Promise((r) => setTimeout(r, 100));
      socket.destroy();
    });
    expect(urls).toEqual([]);
  });

  test('mid-download: the gateway lets go of the upstream stream; the gateway stays up', async () => {
    lab.upstream.mode = 'big-slow';
    const aborted = lab.upstream.aborted;
    try {
      const socket = await lab.tls();
      socket.on('error', () => undefined);
      let got = 0;
      socket.on('data', (c: Buffer) => (got += c.length));
      socket.write(`${signedHead(lab, creds, 'GET', '/bucket/vanish-download.bin')}\r\n\r\n`);
      await waitUntil(() => got > 32 * 1024, 10_000, 'the first bytes of the download');
      socket.destroy();
      await waitUntil(() => lab.upstream.aborted > aborted, 10_000, 'the upstream stream to be released');
    } finally {
      lab.upstream.mode = 'ok';
    }
    await normalCallWorks('after-vanish-download');
  });

  test('garbage instead of TLS, and a TLS hello that stops half way, do not hurt', async () => {
    const { connect } = await import('node:net');
    for (const payload of [Buffer.from('GET / HTTP/1.1\r\n\r\n'), Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01])]) {
      const socket = connect(lab.port, lab.host);
      socket.on('error', () => undefined);
      socket.write(payload);
      await new Promise((r) => setTimeout(r, 100));
      socket.destroy();
    }
    await normalCallWorks('after-garbage');
  });
});

describe('slow clients (held open since the start of this file)', () => {
  test('normal calls were served while they held their sockets', async () => {
    expect(whileSlow.openBefore).toBe(slowHeaders.length);
    expect(whileSlow.statuses).toEqual(Array(20).fill(200));
  });

  test('slow headers are cut by the gateway\'s headers timeout (408 or close), nothing forwarded', async () => {
    await waitUntil(() => slowHeaders.every((s) => s.destroyed || s.readableEnded), 60_000, 'slow-header sockets to be cut');
    expect(lab.upstream.requests.some((r) => r.url.includes('/bucket/slow-'))).toBe(false);
    // Node answers 408 when it can; a socket cut without an answer is also acceptable.
    for (const answer of slowAnswers) expect(statusOf(answer)).toBe(408);
    await normalCallWorks('after-slowloris');
  }, 70_000);

  // A client trickling a buffered body (the STS form here) one byte at a time is cut by the body deadline.
  test('slow bodies (a byte every 500 ms) are cut by the body deadline', async () => {
    await waitUntil(() => slowBodies.every((s) => s.destroyed || s.readableEnded), 30_000, 'slow-body sockets to be cut');
    expect(slowBodies.filter((s) => !s.destroyed && !s.readableEnded)).toHaveLength(0);
    await normalCallWorks('after-slow-bodies');
  }, 40_000);
});
