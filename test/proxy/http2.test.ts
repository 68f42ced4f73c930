// HTTP/2 on the gateway's listener and inside CONNECT tunnels, against the whole stack (moto with SigV4 + IAM, a
// real IdP): a stock JS SDK v3 client whose request handler offers only `h2` completes S3 and DynamoDB calls, and
// gets a denial as a proper AWS error (the respond stage's `connection: close` must not reach an h2 stream);
// HTTP/1.1 keeps working on the same port; an h2 client through HTTPS_PROXY's CONNECT gets answers too.
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { connect as http2Connect, type ClientHttp2Session, type IncomingHttpHeaders } from 'node:http2';
import { request as httpsRequest } from 'node:https';
import { connect as tlsConnect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { run, startStack, type Stack } from '../integration/harness.js';

const POLICY = `rules:
  - id: no-destroy
    effect: deny
    actions: ["s3:Delete*"]
    message: destructive calls are blocked on this gateway
  - id: work
    effect: allow
    principals: [reports-mcp]
    actions: ["s3:*", "dynamodb:*", "sts:GetCallerIdentity"]
`;

let stack: Stack;

beforeAll(async () => {
  stack = await startStack({ policyBody: POLICY });
}, 60_000);

afterAll(async () => {
  await stack?.close();
});

async function js(env: Record<string, string>, steps: object[]): Promise<any[]> {
  const { stdout } = await run('node', ['test/integration/clients/js-sdk.mjs', JSON.stringify(steps)], { env, timeout: 60_000 });
  return JSON.parse(stdout);
}

/** One request on an h2 session; resolves with the response headers and body. */
async function h2Request(session: ClientHttp2Session, headers: Record<string, string>): Promise<{ headers: IncomingHttpHeaders; body: string }> {
  const stream = session.request(headers);
  stream.end();
  const [responseHeaders] = (await once(stream, 'response')) as [IncomingHttpHeaders];
  let body = '';
  stream.setEncoding('utf8');
  for await (const chunk of stream) body += chunk;
  return { headers: responseHeaders, body };
}

describe('HTTP/2', () => {
  test('a JS SDK v3 client speaking only h2 completes calls; a denial arrives as an AWS error', async () => {
    const env = { ...(await stack.clientEnv()), PORTCULLIS_TEST_HTTP2: '1' };
    const results = await js(env, [
      { op: 'createBucket', bucket: 'h2-bucket' },
      { op: 'put', bucket: 'h2-bucket', key: 'a.txt', body: 'over h2' },
      { op: 'get', bucket: 'h2-bucket', key: 'a.txt' },
      { op: 'list', bucket: 'h2-bucket' },
      { op: 'deleteObject', bucket: 'h2-bucket', key: 'a.txt' },
      { op: 'createTable', table: 'h2-table' },
      { op: 'putItem', table: 'h2-table', item: { pk: { S: 'k' } } },
      { op: 'getItem', table: 'h2-table', key: { pk: { S: 'k' } } },
      { op: 'multipart', bucket: 'h2-bucket', key: 'big.bin' },
    ]);
    const by = (op: string) => results.find((r) => r.op === op);
    if (process.env.E2E_DEBUG) console.log(JSON.stringify(results, null, 1), JSON.stringify(stack.events.slice(-20), null, 1));
    expect(by('put')).toMatchObject({ ok: true });
    expect(by('get')).toMatchObject({ ok: true, data: 'over h2' });
    expect(by('list')).toMatchObject({ ok: true, data: ['a.txt'] });
    expect(by('deleteObject')).toMatchObject({ ok: false, name: 'AccessDenied', status: 403 });
    expect(by('deleteObject').message).toContain('no-destroy');
    expect(by('getItem')).toMatchObject({ ok: true, data: { pk: { S: 'k' } } });
    // 5 MiB parts streamed over h2 streams (no Content-Length framing of HTTP/1.1 chunking), read back whole.
    expect(by('multipart')).toMatchObject({ ok: true, data: { length: 5 * 1024 * 1024 + 4, tail: 'tail' } });
    const recorded = stack.events.filter((e) => e.type === 'request').map((e) => (e as { action?: string }).action);
    expect(recorded).toEqual(expect.arrayContaining(['s3:PutObject', 's3:GetObject', 'dynamodb:GetItem', 's3:DeleteObject']));
  });

  test('HTTP/1.1 keeps working on the same port', async () => {
    const env = await stack.clientEnv();
    const results = await js(env, [{ op: 'get', bucket: 'h2-bucket', key: 'a.txt' }]);
    expect(results[0]).toMatchObject({ ok: true, data: 'over h2' });
    const ca = await readFile(stack.gateway.ca.caFile);
    const status = await new Promise<{ code: number | undefined; version: string; connection: string | undefined }>((resolve, reject) => {
      const req = httpsRequest(`${stack.gateway.url}/`, { ca, method: 'GET' }, (res) => {
        res.resume();
        resolve({ code: res.statusCode, version: res.httpVersion, connection: res.headers.connection });
      });
      req.on('error', reject);
      req.end();
    });
    // An unsigned request: refused, over HTTP/1.1, with the connection closed after the answer.
    expect(status).toMatchObject({ version: '1.1', connection: 'close' });
    expect(status.code).toBeGreaterThanOrEqual(400);
  });

  test('an error answer over h2 carries no connection-specific header', async () => {
    const ca = await readFile(stack.gateway.ca.caFile);
    const session = http2Connect(stack.gateway.url, { ca });
    try {
      const answer = await h2Request(session, { ':method': 'GET', ':path': '/some-bucket' });
      expect(Number(answer.headers[':status'])).toBeGreaterThanOrEqual(400);
      expect(answer.headers.connection).toBeUndefined();
      expect(answer.body).toContain('<Error>');
      // The session survives the error: a second stream on it is answered too.
      const again = await h2Request(session, { ':method': 'GET', ':path': '/other-bucket' });
      expect(Number(again.headers[':status'])).toBeGreaterThanOrEqual(400);
    } finally {
      session.close();
    }
  });

  test('host and :authority that disagree are refused before the pipeline (the signature covers one of them)', async () => {
    const ca = await readFile(stack.gateway.ca.caFile);
    const session = http2Connect(stack.gateway.url, { ca });
    try {
      const before = stack.events.length;
      const authority = new URL(stack.gateway.url).host;
      const answer = await h2Request(session, { ':method': 'GET', ':path': '/bkt', ':authority': authority, host: 'bkt.s3.amazonaws.com' });
      expect(Number(answer.headers[':status'])).toBe(400);
      expect(answer.body).toContain(`host "bkt.s3.amazonaws.com" and :authority "${authority}" disagree`);
      expect(stack.events.slice(before).filter((e) => e.type === 'request')).toEqual([]);
    } finally {
      session.close();
    }
  });

  test('h2 inside a CONNECT tunnel (forward-proxy mode)', async () => {
    const ca = await readFile(stack.gateway.ca.caFile);
    const gateway = new URL(stack.gateway.url);
    const proxySocket = tlsConnect({ host: gateway.hostname, port: Number(gateway.port), ca, ALPNProtocols: ['http/1.1'], servername: 'localhost' });
    await once(proxySocket, 'secureConnect');
    proxySocket.write('CONNECT s3.us-east-1.amazonaws.com:443 HTTP/1.1\r\nHost: s3.us-east-1.amazonaws.com:443\r\n\r\n');
    const [head] = (await once(proxySocket, 'data')) as [Buffer];
    expect(head.toString()).toMatch(/^HTTP\/1\.1 200/);
    const session = http2Connect('https://s3.us-east-1.amazonaws.com', {
      createConnection: () => tlsConnect({ socket: proxySocket, servername: 's3.us-east-1.amazonaws.com', ca, ALPNProtocols: ['h2'] }),
    });
    try {
      const answer = await h2Request(session, { ':method': 'GET', ':path': '/some-bucket' });
      expect(Number(answer.headers[':status'])).toBe(403);
      expect(answer.headers.connection).toBeUndefined();
      expect(answer.body).toContain('<Error>');
      // Host (from :authority) names another host than the tunnel: 421, as over HTTP/1.1.
      const misdirected = await h2Request(session, { ':method': 'GET', ':path': '/', ':authority': 'sts.amazonaws.com' });
      expect(Number(misdirected.headers[':status'])).toBe(421);
    } finally {
      session.destroy();
      proxySocket.destroy();
    }
  });
});
