import { randomBytes } from 'node:crypto';
import * as zlib from 'node:zlib';
import { describe, expect, test } from 'vitest';
import { compileMasker } from '../../src/masking/masker.js';
import type { BodyInfo } from '../../src/masking/masker.js';

const KEY_ID = 'AKIAIOSFODNN7EXAMPLE';
const config = {
  fields: ['SecretString', 'password'],
  detectors: ['aws_access_key_id', 'aws_secret_access_key', 'private_key', 'jwt', 'email', 'credit_card'] as const,
  patterns: [],
  maxBodyBytes: 4096,
};
const masker = compileMasker({ ...config, detectors: [...config.detectors] });
const GET_OBJECT: BodyInfo = { protocol: 'rest-xml', service: 's3', operation: 'GetObject' };

describe('format decision', () => {
  test.each<[string, BodyInfo, string]>([
    ['{"a":1}', { contentType: 'application/x-amz-json-1.0' }, 'json'],
    ['{"a":1}', { contentType: 'application/json; charset=utf-8' }, 'json'],
    ['{"a":1}', { contentType: 'application/vnd.api+json' }, 'json'],
    ['<a/>', { contentType: 'text/xml' }, 'xml'],
    ['<a/>', { contentType: 'application/xml' }, 'xml'],
    ['<a/>', { contentType: 'application/atom+xml' }, 'xml'],
    ['hello', { contentType: 'text/plain' }, 'text'],
    ['a,b', { contentType: 'text/csv' }, 'text'],
    ['{"a":1}', { protocol: 'json' }, 'json'],
    ['{"a":1}', { protocol: 'rest-json' }, 'json'],
    ['<a/>', { protocol: 'query' }, 'xml'],
    ['<a/>', { protocol: 'ec2' }, 'xml'],
    ['<a/>', { protocol: 'rest-xml' }, 'xml'],
    // object bodies and unknown types are sniffed
    ['{"a":1}', { ...GET_OBJECT, contentType: 'binary/octet-stream' }, 'json'],
    [' [1]', GET_OBJECT, 'json'],
    ['<a/>', { ...GET_OBJECT, contentType: 'application/octet-stream' }, 'xml'],
    ['KEY=value\n', GET_OBJECT, 'text'],
    ['KEY=value\n', { contentType: 'application/x-yaml' }, 'text'],
  ])('%j with %j reads as %s', (body, info, format) => {
    expect(masker.maskBody(Buffer.from(body), info).format).toBe(format);
  });

  test('an env file stored in S3 as binary/octet-stream is masked as text', () => {
    const env = `AWS_ACCESS_KEY_ID=${KEY_ID}\nAWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\npassword=hunter2\n`;
    const r = masker.maskBody(Buffer.from(env), { ...GET_OBJECT, contentType: 'binary/octet-stream' });
    expect(r.body.toString()).toBe('AWS_ACCESS_KEY_ID=AKIA…MPLE\nAWS_SECRET_ACCESS_KEY=****\npassword=****\n');
    expect(r.report).toEqual({ fields: { password: 1 }, detectors: { aws_access_key_id: 1, aws_secret_access_key: 1 } });
  });
});

describe('bodies passed through untouched', () => {
  test('binary (invalid UTF-8) passes byte-identical, even with a planted key id', () => {
    const body = Buffer.concat([randomBytes(512), Buffer.from([0xff, 0xfe]), Buffer.from(KEY_ID), randomBytes(100)]);
    const copy = Buffer.from(body);
    const r = masker.maskBody(body, GET_OBJECT);
    expect(r).toEqual({ outcome: 'unchanged', body: copy, changed: false, report: { fields: {}, detectors: {}, skipped: 'binary' }, format: 'binary' });
    expect(r.body).toBe(body);
  });

  test('valid UTF-8 with NUL bytes is binary', () => {
    const body = Buffer.from(`abc\u0000${KEY_ID}`);
    expect(masker.maskBody(body, { ...GET_OBJECT, contentType: 'image/png' }).report.skipped).toBe('binary');
  });

  test('over maxBodyBytes: untouched, skipped too-large', () => {
    const body = Buffer.from(`{"password":"${'x'.repeat(5000)}"}`);
    const r = masker.maskBody(body, { contentType: 'application/json' });
    expect(r.body).toBe(body);
    expect(r.changed).toBe(false);
    expect(r.report.skipped).toBe('too-large');
  });

  test('exactly maxBodyBytes is still inspected', () => {
    const prefix = '{"password":"';
    const body = Buffer.from(prefix + 'x'.repeat(4096 - prefix.length - 2) + '"}');
    expect(body.length).toBe(4096);
    expect(masker.maskBody(body, { contentType: 'application/json' }).changed).toBe(true);
  });

  test('a gzip bomb that inflates past maxBodyBytes: skipped too-large', () => {
    const bomb = zlib.gzipSync(Buffer.alloc(1_000_000, 'a'));
    expect(bomb.length).toBeLessThan(4096);
    expect(masker.maskBody(bomb, { contentType: 'text/plain', contentEncoding: 'gzip' }).report.skipped).toBe('too-large');
  });

  test('empty body', () => {
    const r = masker.maskBody(Buffer.alloc(0), { contentType: 'application/json' });
    expect(r.changed).toBe(false);
  });
});

describe('content-encoded bodies are decoded, masked and sent decoded', () => {
  const doc = '{"password":"p","k":"AKIAIOSFODNN7EXAMPLE"}';
  test.each<[string, (b: Buffer) => Buffer]>([
    ['gzip', zlib.gzipSync],
    ['x-gzip', zlib.gzipSync],
    ['GZIP', zlib.gzipSync],
    ['deflate', zlib.deflateSync],
    ['br', zlib.brotliCompressSync],
    ['identity', (b) => b],
    // applied in header order, undone from the last
    ['gzip, br', (b) => zlib.brotliCompressSync(zlib.gzipSync(b))],
    ['deflate,gzip', (b) => zlib.gzipSync(zlib.deflateSync(b))],
    ['gzip, identity', zlib.gzipSync],
  ])('%s', (encoding, enc) => {
    const r = masker.maskBody(enc(Buffer.from(doc)), { contentType: 'application/json', contentEncoding: encoding });
    expect(r.outcome).toBe('masked');
    expect(r.body.toString()).toBe('{"password":"****","k":"AKIA…MPLE"}');
  });

  test('raw deflate (no zlib wrapper) is accepted too', () => {
    const r = masker.maskBody(zlib.deflateRawSync(Buffer.from('password=p')), { contentType: 'text/plain', contentEncoding: 'deflate' });
    expect(r.body.toString()).toBe('password=****');
  });

  test('an encoded body with nothing to mask: the original encoded bytes, unchanged', () => {
    const body = zlib.gzipSync(Buffer.from('{"a":1}'));
    const r = masker.maskBody(body, { contentType: 'application/json', contentEncoding: 'gzip' });
    expect(r.outcome).toBe('unchanged');
    expect(r.body).toBe(body);
  });
});

describe('bodies the masker cannot decode are refused, never passed', () => {
  const doc = Buffer.from('{"password":"hunter2-S3-SECRET","k":"AKIAIOSFODNN7EXAMPLE"}');
  test.each<[string, Buffer, string]>([
    // a plain object relabelled with response-content-encoding, or really stored zstd
    ['zstd', doc, 'zstd'],
    ['compress', doc, 'compress'],
    ['x-custom', doc, 'x-custom'],
    // the unknown coding anywhere in a list refuses the whole body
    ['gzip, zstd', zlib.gzipSync(doc), 'zstd'],
    ['zstd, gzip', zlib.gzipSync(doc), 'zstd'],
    // codings applied in the wrong order do not decode
    ['gzip, br', zlib.gzipSync(zlib.brotliCompressSync(doc)), 'br'],
    ['gzip', doc, 'gzip'],
    ['gzip', zlib.gzipSync(doc).subarray(0, 30), 'gzip'],
    ['br', doc, 'br'],
    ['deflate', doc, 'deflate'],
  ])('%s', (contentEncoding, body, encoding) => {
    const r = masker.maskBody(body, { ...GET_OBJECT, contentType: 'text/plain', contentEncoding });
    expect(r.outcome).toBe('undecodable');
    if (r.outcome !== 'undecodable') return;
    expect(r.encoding).toBe(encoding);
    expect(r.reason).toContain(encoding);
    // a caller that ignores the outcome still sends nothing
    expect(r.body.length).toBe(0);
    expect(r.changed).toBe(true);
    expect(r.report.skipped).toBe('encoded');
  });

  test('a body over maxBodyBytes is not inspected at all, whatever its coding (the documented limit)', () => {
    const body = Buffer.alloc(5000, 'a');
    expect(masker.maskBody(body, { contentType: 'text/plain', contentEncoding: 'zstd' })).toMatchObject({ outcome: 'unchanged', report: { skipped: 'too-large' } });
  });

  test('an empty body has nothing to hide, whatever its coding', () => {
    expect(masker.maskBody(Buffer.alloc(0), { contentType: 'text/plain', contentEncoding: 'zstd' }).outcome).toBe('unchanged');
  });
});

describe('reports count, never carry values', () => {
  test('no masked value appears anywhere in the report', () => {
    const secrets = ['hunter2', KEY_ID, 'bob@example.com', '4111111111111111', 'topsecret'];
    const body = JSON.stringify({ password: 'hunter2', a: KEY_ID, b: 'bob@example.com', c: '4111111111111111', SecretString: 'topsecret' });
    const r = masker.maskBody(Buffer.from(body), { contentType: 'application/json' });
    const report = JSON.stringify(r.report);
    for (const s of secrets) {
      expect(report).not.toContain(s);
      expect(r.body.toString()).not.toContain(s);
    }
    expect(r.report).toEqual({ fields: { password: 1, SecretString: 1 }, detectors: { aws_access_key_id: 1, email: 1, credit_card: 1 } });
  });

  test('several hits in one value count separately', () => {
    const r = masker.maskBody(Buffer.from('{"m":"a@x.io b@y.io c@z.io"}'), { contentType: 'application/json' });
    expect(r.report.detectors).toEqual({ email: 3 });
  });
});

describe('maskValue', () => {
  test('masks request parameters as a copy, with field rules, detectors and JSON-in-strings', () => {
    const params = { SecretId: 'db', SecretString: '{"password":"p"}', Tags: [{ Key: 'owner', Value: 'bob@example.com' }], Limit: 5 };
    const before = structuredClone(params);
    const { value, report } = masker.maskValue(params);
    expect(value).toEqual({ SecretId: 'db', SecretString: '{"password":"****"}', Tags: [{ Key: 'owner', Value: 'b***@example.com' }], Limit: 5 });
    expect(params).toEqual(before);
    expect(report).toEqual({ fields: { SecretString: 1 }, detectors: { email: 1 } });
  });

  test('DynamoDB PutItem parameters read typed values when told the service', () => {
    const { value } = masker.maskValue({ TableName: 't', Item: { password: { S: 'p' }, n: { N: '4111111111111111' } } }, { service: 'dynamodb' });
    expect(value).toEqual({ TableName: 't', Item: { password: { S: '****' }, n: { N: '0' } } });
  });

  test.each<[unknown, unknown]>([
    ['AKIAIOSFODNN7EXAMPLE', 'AKIA…MPLE'],
    [42, 42],
    [null, null],
    [undefined, undefined],
    [{ body: Buffer.from('password=p') }, { body: 'password=****' }],
    [{ body: Buffer.from([0xff, 0x00, 0x01]) }, { body: '[binary 3 bytes]' }],
    [{ n: 10n }, { n: '10' }],
  ])('maskValue case %#', (input, expected) => {
    expect(masker.maskValue(input).value).toEqual(expected);
  });

  test('cycles do not crash', () => {
    const a: Record<string, unknown> = { k: KEY_ID };
    a.self = a;
    expect(masker.maskValue(a).value).toEqual({ k: 'AKIA…MPLE', self: '[circular]' });
  });
});

describe('maskText', () => {
  test.each([
    ['GET /x token=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.sig user bob@example.com', 'GET /x token=eyJhbGciOiJIUzI1NiJ9.****.**** user b***@example.com'],
    ['request {"SecretString":"s","password":"p"}', 'request {"SecretString":"****","password":"****"}'],
    ['password: hunter2', 'password: ****'],
    ['PASSWORD="a b"', 'PASSWORD="****"'],
    ['nothing to see', 'nothing to see'],
  ])('%s', (input, expected) => {
    expect(masker.maskText(input)).toBe(expected);
  });

  test('a dotted rule only masks JSON/XML shapes in text, not key=value', () => {
    const m = compileMasker({ fields: ['Parameter.Value'], detectors: [], patterns: [], maxBodyBytes: 100 });
    expect(m.maskText('Value=keep "Value":"drop" <Value>drop</Value>')).toBe('Value=keep "Value":"****" <Value>****</Value>');
  });
});
