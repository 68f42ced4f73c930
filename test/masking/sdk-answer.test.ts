// The JS SDK v3 reads answers built by the mask-stage functions: ranged GETs sliced from the masked
// document, HeadObject answered from a masked GET, metadata masked (encoded words included), the
// masked ETag, a gzip object answered decoded. The server below plays "S3 behind the gateway": it
// keeps one object, and applies prepareMaskedRequest → (its own upstream logic) → maskBody →
// maskHeaders → answerMasked, as the mask stage will.

import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as zlib from 'node:zlib';
import { GetObjectCommand, HeadObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { answerMasked } from '../../src/masking/answer.js';
import { compileMasker } from '../../src/masking/masker.js';
import { prepareMaskedRequest } from '../../src/masking/request.js';
import type { HeaderValue } from '../../src/masking/response.js';

const masker = compileMasker({ fields: ['password', 'api_key'], detectors: ['aws_access_key_id', 'aws_secret_access_key'], patterns: [], maxBodyBytes: 1 << 20 });
const DOC = '{"user": "bob", "password": "hunter2-S3-SECRET", "key": "AKIAIOSFODNN7EXAMPLE"}';
const MASKED = '{"user": "bob", "password": "****", "key": "AKIA…MPLE"}';
const md5 = (b: string | Buffer): string => `"${createHash('md5').update(b).digest('hex')}"`;

let stored: { body: Buffer; encoding?: string } = { body: Buffer.from(DOC) };
const seenUpstream: Record<string, HeaderValue>[] = [];

const server = createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    const operation = req.method === 'HEAD' ? 'HeadObject' : 'GetObject';
    const plan = prepareMaskedRequest({ method: req.method!, path: req.url!, headers: req.headers as Record<string, HeaderValue>, operation });
    seenUpstream.push(plan.forward.headers);
    // the upstream: the whole object, as the plan asks
    const upstreamHeaders: Record<string, HeaderValue> = {
      'content-type': 'application/json',
      etag: md5(stored.body),
      'last-modified': 'Mon, 07 Dec 2026 05:00:00 GMT',
      'x-amz-meta-password': 'meta-secret',
      'x-amz-meta-note': `=?UTF-8?B?${Buffer.from('clé AKIAIOSFODNN7EXAMPLE').toString('base64')}?=`,
      'content-length': String(stored.body.length),
    };
    if (stored.encoding !== undefined) upstreamHeaders['content-encoding'] = stored.encoding;
    const body = masker.maskBody(stored.body, { contentType: 'application/json', contentEncoding: stored.encoding, protocol: 'rest-xml', service: 's3', operation: 'GetObject' });
    if (body.outcome === 'undecodable') {
      res.writeHead(502).end();
      return;
    }
    const answer = answerMasked(200, masker.maskHeaders(upstreamHeaders).headers, body, plan.client);
    if (answer.kind === 'refuse') {
      res.writeHead(answer.status, { ...answer.headers, 'content-type': 'application/xml' });
      res.end(`<Error><Code>${answer.code}</Code><Message>${answer.message}</Message></Error>`);
      return;
    }
    res.writeHead(answer.status, answer.headers);
    res.end(answer.body);
  });
});

let client: S3Client;
beforeAll(async () => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  client = new S3Client({ endpoint, region: 'us-east-1', credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'x' }, forcePathStyle: true, maxAttempts: 1 });
});
afterAll(async () => {
  client.destroy();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

describe('JS SDK v3 against answers built from the masked document', () => {
  test('two ranges that would reassemble the secret return only masked bytes', async () => {
    stored = { body: Buffer.from(DOC) };
    const at = DOC.indexOf('hunter2');
    let text = '';
    for (const range of [`bytes=${at}-${at + 7}`, `bytes=${at + 8}-${at + 16}`]) {
      const out = await client.send(new GetObjectCommand({ Bucket: 'b', Key: 'k', Range: range, ChecksumMode: 'ENABLED' }));
      expect(out.ContentRange).toMatch(new RegExp(`^bytes \\d+-\\d+/${Buffer.byteLength(MASKED)}$`));
      expect(out.ETag).toBe(md5(MASKED));
      text += await out.Body!.transformToString();
    }
    expect(text).not.toMatch(/hunter|SECRET/);
    expect(seenUpstream.at(-1)).not.toHaveProperty('range');
  });

  test('a full GET: masked body, metadata masked, ETag of the masked bytes', async () => {
    stored = { body: Buffer.from(DOC) };
    const out = await client.send(new GetObjectCommand({ Bucket: 'b', Key: 'k', ChecksumMode: 'ENABLED' }));
    expect(await out.Body!.transformToString()).toBe(MASKED);
    expect(out.ETag).toBe(md5(MASKED));
    expect(out.Metadata?.password).toBe('****');
    expect(out.Metadata?.note).toBe(`=?UTF-8?B?${Buffer.from('clé AKIA…MPLE').toString('base64')}?=`);
  });

  test('HeadObject: length and ETag of the masked document, metadata masked', async () => {
    stored = { body: Buffer.from(DOC) };
    const out = await client.send(new HeadObjectCommand({ Bucket: 'b', Key: 'k' }));
    expect(out.ContentLength).toBe(Buffer.byteLength(MASKED));
    expect(out.ETag).toBe(md5(MASKED));
    expect(out.Metadata?.password).toBe('****');
  });

  test('an object stored gzip: masked and answered decoded, without Content-Encoding', async () => {
    stored = { body: zlib.gzipSync(DOC), encoding: 'gzip' };
    const out = await client.send(new GetObjectCommand({ Bucket: 'b', Key: 'k' }));
    expect(out.ContentEncoding).toBeUndefined();
    expect(await out.Body!.transformToString()).toBe(MASKED);
  });

  test('an unsatisfiable range is an InvalidRange error the SDK understands', async () => {
    stored = { body: Buffer.from(DOC) };
    await expect(client.send(new GetObjectCommand({ Bucket: 'b', Key: 'k', Range: 'bytes=9999-' }))).rejects.toMatchObject({ name: 'InvalidRange' });
  });

  test('If-None-Match with the masked ETag: 304, which the SDK reports as NotModified', async () => {
    stored = { body: Buffer.from(DOC) };
    await expect(client.send(new GetObjectCommand({ Bucket: 'b', Key: 'k', IfNoneMatch: md5(MASKED) }))).rejects.toMatchObject({ $metadata: { httpStatusCode: 304 } });
  });
});
