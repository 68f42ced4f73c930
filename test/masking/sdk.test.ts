// Real clients parse masked responses: boto3 (which checks DynamoDB's x-amz-crc32 and S3's
// x-amz-checksum-*) and the JS SDK v3, against a local server that plays the upstream after masking.
// Each check has a control: the same masked body with the upstream's original headers must fail,
// which proves the header fix is what makes the client accept it.

import { execFile } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { compileMasker } from '../../src/masking/masker.js';
import type { HeaderValue } from '../../src/masking/response.js';
import { crc32, fixMaskedHeaders } from '../../src/masking/response.js';

const run = promisify(execFile);
const BOTO_CLIENT = fileURLToPath(new URL('./fixtures/boto_client.py', import.meta.url));

const masker = compileMasker({
  fields: ['password', 'pin'],
  detectors: ['aws_access_key_id', 'aws_secret_access_key', 'email'],
  patterns: [],
  maxBodyBytes: 1 << 20,
});

const DDB_BODY = Buffer.from(
  JSON.stringify({ Item: { id: { S: 'u1' }, password: { S: 'hunter2' }, pin: { N: '1234' }, email: { S: 'bob@example.com' }, note: { S: 'plain' } } }),
);
const S3_BODY = Buffer.from('AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE\nAWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\nREGION=eu-west-1\n');

/** S3 sends the CRC-32 as 4 big-endian bytes, base64. */
function crc32Base64(body: Buffer): string {
  const out = Buffer.alloc(4);
  out.writeUInt32BE(crc32(body));
  return out.toString('base64');
}

let mode: 'fixed' | 'stale' = 'fixed';
let endpoint = '';
const server = createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    const isDdb = String(req.headers['x-amz-target'] ?? '').startsWith('DynamoDB_20120810.');
    const upstreamBody = isDdb ? DDB_BODY : S3_BODY;
    const upstreamHeaders: Record<string, HeaderValue> = isDdb
      ? { 'Content-Type': 'application/x-amz-json-1.0', 'x-amz-crc32': String(crc32(upstreamBody)), 'x-amzn-RequestId': 'r1' }
      : {
          'Content-Type': 'binary/octet-stream',
          ETag: '"0123456789abcdef0123456789abcdef"',
          'x-amz-checksum-crc32': crc32Base64(upstreamBody),
          'x-amz-checksum-type': 'FULL_OBJECT',
        };
    const masked = masker.maskBody(upstreamBody, isDdb
      ? { contentType: 'application/x-amz-json-1.0', protocol: 'json', service: 'dynamodb', operation: 'GetItem' }
      : { contentType: 'binary/octet-stream', protocol: 'rest-xml', service: 's3', operation: 'GetObject' });
    const headers = mode === 'fixed' ? fixMaskedHeaders(upstreamHeaders, masked.body, masked.changed) : { ...upstreamHeaders, 'content-length': String(masked.body.length) };
    res.writeHead(200, headers);
    res.end(masked.body);
  });
});

beforeAll(async () => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

const AWS_ENV = { ...process.env, AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE', AWS_SECRET_ACCESS_KEY: 'x', AWS_DEFAULT_REGION: 'us-east-1', AWS_CONFIG_FILE: '/dev/null', AWS_SHARED_CREDENTIALS_FILE: '/dev/null' };

async function boto(call: string): Promise<{ ok: boolean; out: string }> {
  try {
    const { stdout } = await run('python3', [BOTO_CLIENT, endpoint, call], { env: AWS_ENV, timeout: 60_000 });
    return { ok: true, out: stdout.trim() };
  } catch (error) {
    return { ok: false, out: String((error as { stdout?: string }).stdout ?? error).trim() };
  }
}

const jsCredentials = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'x' };

describe('boto3 accepts masked responses with fixed headers', () => {
  test('dynamodb get_item: x-amz-crc32 recomputed; the control with the upstream crc fails', async () => {
    mode = 'fixed';
    const fixed = await boto('get_item');
    expect(fixed.ok, fixed.out).toBe(true);
    expect(JSON.parse(fixed.out)).toEqual({ id: { S: 'u1' }, password: { S: '****' }, pin: { N: '0' }, email: { S: 'b***@example.com' }, note: { S: 'plain' } });
    mode = 'stale';
    const stale = await boto('get_item');
    expect(stale.ok).toBe(false);
    expect(stale.out).toMatch(/crc32|checksum/i);
  }, 120_000);

  test('s3 get_object: x-amz-checksum-* dropped; the control with the upstream checksum fails', async () => {
    mode = 'fixed';
    const fixed = await boto('get_object');
    expect(fixed.ok, fixed.out).toBe(true);
    expect(JSON.parse(fixed.out).body).toBe('AWS_ACCESS_KEY_ID=AKIA…MPLE\nAWS_SECRET_ACCESS_KEY=****\nREGION=eu-west-1\n');
    mode = 'stale';
    const stale = await boto('get_object');
    expect(stale.ok).toBe(false);
    expect(stale.out).toMatch(/checksum/i);
  }, 120_000);
});

describe('JS SDK v3 accepts masked responses with fixed headers', () => {
  test('DynamoDB GetItem', async () => {
    mode = 'fixed';
    const client = new DynamoDBClient({ endpoint, region: 'us-east-1', credentials: jsCredentials, maxAttempts: 1 });
    const out = await client.send(new GetItemCommand({ TableName: 'users', Key: { id: { S: 'u1' } } }));
    expect(out.Item).toEqual({ id: { S: 'u1' }, password: { S: '****' }, pin: { N: '0' }, email: { S: 'b***@example.com' }, note: { S: 'plain' } });
    client.destroy();
  });

  test('S3 GetObject with checksum mode: passes with fixed headers, fails with the upstream checksum', async () => {
    const client = new S3Client({ endpoint, region: 'us-east-1', credentials: jsCredentials, forcePathStyle: true, maxAttempts: 1 });
    const get = async () => {
      const out = await client.send(new GetObjectCommand({ Bucket: 'bkt', Key: 'app.env', ChecksumMode: 'ENABLED' }));
      return out.Body!.transformToString();
    };
    mode = 'fixed';
    expect(await get()).toBe('AWS_ACCESS_KEY_ID=AKIA…MPLE\nAWS_SECRET_ACCESS_KEY=****\nREGION=eu-west-1\n');
    mode = 'stale';
    await expect(get()).rejects.toThrow(/checksum/i);
    client.destroy();
  });
});
