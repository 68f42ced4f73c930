// Masking fails closed (issue #18), with a stock JS SDK v3 client and raw signed requests against moto: encodings the
// gateway cannot read are refused, overrides cannot relabel a plain object, ranges never reveal what a full masked
// read hides, user metadata is masked on GET and HEAD, and the ETag is not the original's.

import { CreateBucketCommand, GetObjectCommand, HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { EnforcementKit } from './enforcement-kit.js';
import { startStack, type Stack } from './harness.js';

const POLICY = `rules:
  - id: work
    effect: allow
    actions: ["s3:*"]
masking:
  fields: [password, api-key, SecretString]
  detectors: [aws_access_key_id]
`;

const KEY_ID = 'AKIAIOSFODNN7PLANTED';
const DOC = `{"user": "svc", "password": "hunter2-S3-SECRET", "note": "rotate ${KEY_ID} soon"}`;

let stack: Stack;
let kit: EnforcementKit;

beforeAll(async () => {
  stack = await startStack({ policyBody: POLICY });
  kit = await EnforcementKit.start(stack);
  const admin = await kit.admin();
  await admin.s3.send(new CreateBucketCommand({ Bucket: 'docs' }));
  await admin.s3.send(new PutObjectCommand({ Bucket: 'docs', Key: 'creds.json', Body: DOC, ContentType: 'application/json' }));
  await admin.s3.send(new PutObjectCommand({ Bucket: 'docs', Key: 'zstd.txt', Body: `zstd-labelled ${KEY_ID}`, ContentEncoding: 'zstd', ContentType: 'text/plain' }));
  await admin.s3.send(new PutObjectCommand({ Bucket: 'docs', Key: 'bad.gz', Body: `not gzip at all ${KEY_ID}`, ContentEncoding: 'gzip', ContentType: 'text/plain' }));
  await admin.s3.send(new PutObjectCommand({ Bucket: 'docs', Key: 'good.gz', Body: gzipSync(Buffer.from(`gzipped ${KEY_ID}`)), ContentEncoding: 'gzip', ContentType: 'text/plain' }));
  await admin.s3.send(
    new PutObjectCommand({ Bucket: 'docs', Key: 'meta.txt', Body: 'plain body', Metadata: { password: 'meta-secret-1', 'api-key': 'meta-key-2', note: KEY_ID, owner: 'ada' } }),
  );
}, 120_000);

afterAll(async () => {
  await stack?.close();
});

const get = (path: string, headers: Record<string, string> = {}) => kit.raw({ method: 'GET', path, service: 's3', headers });

describe('an encoding the gateway cannot read is refused, never passed through', () => {
  test('Content-Encoding: zstd → 502 naming the encoding; the body never reaches the client', async () => {
    const result = await get('/docs/zstd.txt');
    expect(result.status).toBe(502);
    expect(result.body).toContain('zstd');
    expect(result.body).not.toContain(KEY_ID);
  });

  test('a gzip label on bytes that are not gzip → 502', async () => {
    const result = await get('/docs/bad.gz');
    expect(result.status).toBe(502);
    expect(result.body).not.toContain(KEY_ID);
  });

  test('real gzip is decoded, masked and sent as identity', async () => {
    const result = await get('/docs/good.gz', { 'accept-encoding': 'gzip' });
    expect(result.status).toBe(200);
    expect(result.headers['content-encoding']).toBeUndefined();
    expect(result.body).toContain('gzipped');
    expect(result.body).not.toContain(KEY_ID);
  });

  test('response-content-encoding cannot relabel a plain object: the override is dropped and the body masked', async () => {
    const result = await get('/docs/creds.json?response-content-encoding=zstd');
    expect(result.status).toBe(200);
    expect(result.body).not.toContain('hunter2-S3-SECRET');
    expect(result.body).not.toContain(KEY_ID);
    expect(result.headers['content-encoding']).toBeUndefined();
  });
});

describe('no range reveals what a full masked read hides', () => {
  test('a range covering only the password value returns mask characters', async () => {
    const start = DOC.indexOf('hunter2');
    const result = await get('/docs/creds.json', { range: `bytes=${start}-${start + 16}` });
    expect(result.status).toBe(206);
    expect(result.body).not.toContain('hunter2');
    expect(result.headers['content-range']).toMatch(/^bytes \d+-\d+\/\d+$/);
  });

  test('two ranges over the key id never reassemble it (stock SDK)', async () => {
    const s3 = kit.s3();
    const at = DOC.indexOf(KEY_ID);
    // Offsets are the original's; the masked document may be shorter, so a range past its end is simply 416.
    const slice = async (range: string) => {
      try {
        return await (await s3.send(new GetObjectCommand({ Bucket: 'docs', Key: 'creds.json', Range: range }))).Body!.transformToString();
      } catch (error) {
        expect((error as { name?: string }).name).toBe('InvalidRange');
        return '';
      }
    };
    const a = await slice(`bytes=${at}-${at + 9}`);
    const b = await slice(`bytes=${at + 10}-${at + 19}`);
    expect(a.length).toBeGreaterThan(0);
    expect(a + b).not.toContain(KEY_ID);
    expect(a + b).not.toContain(KEY_ID.slice(10));
  });

  test('a range past the end of the masked document is 416 with its Content-Range', async () => {
    const result = await get('/docs/creds.json', { range: 'bytes=100000-' });
    expect(result.status).toBe(416);
    expect(result.headers['content-range']).toMatch(/^bytes \*\/\d+$/);
  });
});

describe('headers and checksums', () => {
  test('user metadata is masked by name and by value on GET and on HEAD (stock SDK)', async () => {
    const s3 = kit.s3();
    for (const response of [await s3.send(new GetObjectCommand({ Bucket: 'docs', Key: 'meta.txt' })), await s3.send(new HeadObjectCommand({ Bucket: 'docs', Key: 'meta.txt' }))]) {
      const meta = response.Metadata ?? {};
      expect(meta.password).toBeDefined();
      expect(meta.password).not.toContain('meta-secret-1');
      expect(meta['api-key']).not.toContain('meta-key-2');
      expect(meta.note).not.toContain(KEY_ID);
      expect(meta.owner).toBe('ada');
    }
  });

  test('the ETag of a masked body is not the MD5 of the original', async () => {
    const result = await get('/docs/creds.json');
    const originalMd5 = createHash('md5').update(DOC).digest('hex');
    expect(result.body).not.toContain('hunter2');
    expect(String(result.headers.etag)).not.toContain(originalMd5);
    expect(String(result.headers.etag)).toContain(createHash('md5').update(result.body).digest('hex'));
  });
});
