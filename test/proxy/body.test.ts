// readBodyLimited: the one reader of buffered request bodies. Real HTTP requests on port 0, so the stream is an
// IncomingMessage as in the gateway; the timeout case uses a PassThrough (a client that sends nothing).
import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect } from 'node:net';
import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { isGatewayError } from '../../src/errors.js';
import { ByteBudget } from '../../src/limits/budget.js';
import { readBodyLimited } from '../../src/proxy/body.js';

let server: Server | undefined;
afterEach(async () => {
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server = undefined;
});

/** A server that hands each request to `read` and answers with what it resolved or the error's message. */
async function serve(read: (req: IncomingMessage) => Promise<Buffer>): Promise<{ port: number; results: Promise<unknown>[] }> {
  const results: Promise<unknown>[] = [];
  server = createServer((req, res) => {
    const result = read(req).then(
      (body) => {
        res.end(`ok ${body.length}`);
        return body;
      },
      (error: unknown) => {
        res.destroy();
        return error;
      },
    );
    results.push(result);
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as AddressInfo).port, results };
}

describe('readBodyLimited', () => {
  it('returns the whole body, sent in pieces', async () => {
    const { port, results } = await serve((req) => readBodyLimited(req, 1024, 'the body'));
    await new Promise<void>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, method: 'PUT', headers: { 'content-length': 10 } }, (res) => {
        res.resume();
        res.on('end', resolve);
      });
      req.on('error', reject);
      req.write('hello');
      setTimeout(() => req.end('world'), 50);
    });
    expect(((await results[0]) as Buffer).toString()).toBe('helloworld');
  });

  it('a body over the limit is BODY_TOO_LARGE', async () => {
    const { port, results } = await serve((req) => readBodyLimited(req, 4, 'the body'));
    await new Promise<void>((resolve) => {
      const req = request({ host: '127.0.0.1', port, method: 'PUT', headers: { 'content-length': 10 } }, (res) => res.resume().on('end', resolve));
      req.on('error', () => resolve());
      req.end('helloworld');
    });
    const error = await results[0];
    expect(isGatewayError(error) && error.code).toBe('BODY_TOO_LARGE');
  });

  it('a client that goes away mid-body is an IncompleteBody refusal, not a gateway fault', async () => {
    const { port, results } = await serve((req) => readBodyLimited(req, 1024, 'the request body'));
    const socket = connect(port, '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.write('PUT /x HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nonly ten b');
    while (results.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    socket.destroy();
    const error = await results[0];
    expect(isGatewayError(error)).toBe(true);
    expect(error).toMatchObject({ code: 'MALFORMED_REQUEST', awsCode: 'IncompleteBody', status: 400 });
    expect((error as Error).message).toContain('the request body was cut off');
  });

  it('a body that does not arrive in time is a 408 RequestTimeout', async () => {
    const stream = new PassThrough();
    const error = await readBodyLimited(stream, 1024, 'the body', 50).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'MALFORMED_REQUEST', awsCode: 'RequestTimeout', status: 408 });
  });

  it('reserves the declared length against the buffer budget, and refuses over it', async () => {
    const budget = new ByteBudget(8);
    const stream = Object.assign(new PassThrough(), { headers: { 'content-length': '100' } });
    const error = await readBodyLimited(stream, 1024, 'the body', 1000, budget.reservation()).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'THROTTLED' });
  });
});
