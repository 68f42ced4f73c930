import * as zlib from 'node:zlib';
import { describe, expect, test } from 'vitest';
import { crc32, crc32Portable, fixMaskedHeaders } from '../../src/masking/response.js';

describe('crc32', () => {
  test.each([
    ['', 0],
    ['123456789', 0xcbf43926], // the standard CRC-32/ISO-HDLC check value
    ['The quick brown fox jumps over the lazy dog', 0x414fa339],
  ])('%j', (input, expected) => {
    expect(crc32(Buffer.from(input))).toBe(expected);
    expect(crc32Portable(Buffer.from(input))).toBe(expected);
  });

  test('portable and native agree on arbitrary bytes, unsigned', () => {
    const data = Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919) & 0xff));
    expect(crc32Portable(data)).toBe(crc32(data));
    expect(crc32(data)).toBeGreaterThanOrEqual(0);
    expect(typeof (zlib as { crc32?: unknown }).crc32).toBe('function'); // Node >= 20.15: the native path is the one used
  });
});

describe('fixMaskedHeaders', () => {
  const body = Buffer.from('{"Item":{"password":{"S":"****"}}}');

  test('unchanged body: the very same headers object', () => {
    const headers = { 'content-length': '99', 'x-amz-crc32': '1' };
    expect(fixMaskedHeaders(headers, body, false)).toBe(headers);
  });

  test('DynamoDB: content-length and x-amz-crc32 recomputed, other headers kept with their casing', () => {
    const out = fixMaskedHeaders({ 'Content-Length': '40', 'X-Amz-Crc32': '123', 'x-amzn-RequestId': 'r', 'Content-Type': 'application/x-amz-json-1.0' }, body, true);
    expect(out).toEqual({
      'X-Amz-Crc32': String(crc32(body)),
      'x-amzn-RequestId': 'r',
      'Content-Type': 'application/x-amz-json-1.0',
      'content-length': String(body.length),
    });
  });

  test('S3: x-amz-checksum-*, content-md5 and transfer-encoding dropped; ETag kept', () => {
    const out = fixMaskedHeaders(
      {
        etag: '"abc"',
        'x-amz-checksum-crc32': 'AAAAAA==',
        'x-amz-checksum-sha256': 'x',
        'x-amz-checksum-type': 'FULL_OBJECT',
        'Content-MD5': 'y',
        'transfer-encoding': 'chunked',
        'set-cookie': ['a=1', 'b=2'],
      },
      body,
      true,
    );
    expect(out).toEqual({ etag: '"abc"', 'set-cookie': ['a=1', 'b=2'], 'content-length': String(body.length) });
  });

  test.each([
    ['bytes 100-199/1000', 'bytes 100-133/*'],
    ['bytes 0-9/*', 'bytes 0-33/*'],
    ['items 1-2/3', 'items 1-2/3'],
  ])('content-range %s → %s', (range, expected) => {
    expect(fixMaskedHeaders({ 'content-range': range }, body, true)['content-range']).toBe(expected);
  });
});
