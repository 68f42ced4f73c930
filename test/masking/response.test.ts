import * as zlib from 'node:zlib';
import { describe, expect, test } from 'vitest';
import { createHash } from 'node:crypto';
import { crc32, crc32Portable, fixMaskedHeaders, maskedEtag } from '../../src/masking/response.js';

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

  test('S3: x-amz-checksum-*, content-md5, content-encoding and transfer-encoding dropped; ETag replaced by the masked body\'s MD5', () => {
    const out = fixMaskedHeaders(
      {
        etag: '"abc"',
        'x-amz-checksum-crc32': 'AAAAAA==',
        'x-amz-checksum-sha256': 'x',
        'x-amz-checksum-type': 'FULL_OBJECT',
        'Content-MD5': 'y',
        'transfer-encoding': 'chunked',
        'Content-Encoding': 'gzip',
        'set-cookie': ['a=1', 'b=2'],
      },
      body,
      true,
    );
    const md5 = createHash('md5').update(body).digest('hex');
    expect(out).toEqual({ etag: `"${md5}"`, 'set-cookie': ['a=1', 'b=2'], 'content-length': String(body.length) });
  });

  test('the masked ETag depends only on the masked bytes, not on the original ETag', () => {
    const a = fixMaskedHeaders({ ETag: '"5f4dcc3b5aa765d61d8327deb882cf99"' }, body, true);
    const b = fixMaskedHeaders({ ETag: '"0d107d09f5bbe40cade3de5c71e9e9b7"' }, body, true);
    expect(a.ETag).toBe(b.ETag);
    expect(a.ETag).toBe(maskedEtag(body));
    expect(maskedEtag(Buffer.from(''))).toBe('"d41d8cd98f00b204e9800998ecf8427e"');
  });

  test('unchanged body: ETag and checksums stay (they describe the bytes sent)', () => {
    const headers = { etag: '"abc"', 'x-amz-checksum-crc32': 'AAAAAA==' };
    expect(fixMaskedHeaders(headers, body, false)).toEqual({ etag: '"abc"', 'x-amz-checksum-crc32': 'AAAAAA==' });
  });

  test.each([
    ['bytes 100-199/1000', 'bytes 100-133/*'],
    ['bytes 0-9/*', 'bytes 0-33/*'],
    ['items 1-2/3', 'items 1-2/3'],
  ])('content-range %s → %s', (range, expected) => {
    expect(fixMaskedHeaders({ 'content-range': range }, body, true)['content-range']).toBe(expected);
  });
});
