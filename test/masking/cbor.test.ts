// CBOR answers (Smithy RPC v2 CBOR: botocore's default for CloudWatch) are masked like JSON ones: a client that picks
// CBOR gets no secret JSON would have hidden, the types the SDK reads stay the same, and a CBOR answer the masker
// cannot read is withheld, never passed through.
import { decode, encode, Tagged } from 'cborg';
import { describe, expect, test } from 'vitest';
import { compileMasker, type BodyInfo } from '../../src/masking/masker.js';

const KEY_ID = 'AKIAIOSFODNN7EXAMPLE';
const SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
const masker = compileMasker({
  fields: ['SecretAccessKey', 'SessionToken', 'password', 'SecretBinary', 'Balance'],
  detectors: ['aws_access_key_id', 'aws_secret_access_key', 'private_key', 'jwt', 'email', 'credit_card'],
  patterns: [],
  maxBodyBytes: 64 * 1024,
});
const CBOR_API: BodyInfo = { contentType: 'application/cbor', protocol: 'rpc-v2-cbor', service: 'gamelift', operation: 'RequestUploadCredentials' };
const tags = { 1: Tagged.decoder(1), 2: Tagged.decoder(2) };
const read = (body: Buffer): any => decode(body, { tags, useMaps: false });

describe('CBOR answers are masked', () => {
  test('field rules and detectors apply by key path; numbers, timestamps, blobs and booleans keep their types', () => {
    const doc = {
      UploadCredentials: { AccessKeyId: KEY_ID, SecretAccessKey: SECRET, SessionToken: 'FwoGZXIvYXdzEJr//session' },
      StorageLocation: { Bucket: 'gamelift-builds', Key: 'build-1.zip' },
      Expiration: new Tagged(1, 1700000000.5),
      Count: 3,
      Ratio: 0.25,
      Enabled: true,
      Missing: null,
      Payload: new Uint8Array([1, 2, 3]),
      Notes: ['owner ops@example.com', 'nothing here'],
    };
    const result = masker.maskBody(Buffer.from(encode(doc)), CBOR_API);
    expect(result.outcome).toBe('masked');
    expect(result.format).toBe('cbor');
    const masked = read(result.body);
    expect(masked.UploadCredentials.SecretAccessKey).toBe('****');
    expect(masked.UploadCredentials.SessionToken).toBe('****');
    expect(masked.UploadCredentials.AccessKeyId).not.toBe(KEY_ID);
    expect(masked.UploadCredentials.AccessKeyId).toMatch(/^AKIA/);
    expect(masked.Notes).toEqual(['owner o***@example.com', 'nothing here']);
    expect(masked.StorageLocation).toEqual({ Bucket: 'gamelift-builds', Key: 'build-1.zip' });
    expect(masked.Expiration).toBeInstanceOf(Tagged);
    expect(masked.Expiration.value).toBe(1700000000.5);
    expect(masked).toMatchObject({ Count: 3, Ratio: 0.25, Enabled: true, Missing: null });
    expect(Buffer.from(masked.Payload)).toEqual(Buffer.from([1, 2, 3]));
    expect(result.body.includes(Buffer.from(SECRET))).toBe(false);
    expect(result.body.includes(Buffer.from(KEY_ID))).toBe(false);
    expect(result.report.fields).toMatchObject({ SecretAccessKey: 1, SessionToken: 1 });
    expect(result.report.detectors).toMatchObject({ aws_access_key_id: 1, email: 1 });
    // The recording sees the masked document as JSON, not CBOR bytes.
    expect(result.outcome === 'masked' && result.excerpt).toContain('"SecretAccessKey":"****"');
    expect(result.outcome === 'masked' && result.excerpt).not.toContain(SECRET);
  });

  test('a blob, a number and a big number under a field rule are masked and stay a blob and numbers', () => {
    const doc = { SecretBinary: new Uint8Array(Buffer.from('s3cr3t-bytes')), Balance: 125000, Nested: { Balance: new Tagged(2, new Uint8Array([1, 0, 0, 0, 0, 0, 0, 0, 0])) } };
    const result = masker.maskBody(Buffer.from(encode(doc)), CBOR_API);
    const masked = read(result.body);
    expect(Buffer.from(masked.SecretBinary).toString()).toBe('****');
    expect(masked.Balance).toBe(0);
    expect(masked.Nested.Balance).toBe(0);
  });

  test('a card number sent as a number becomes 0; a map keyed by an email has its key masked', () => {
    const doc = { Card: 4111111111111111, Owners: { 'ada@example.com': 'admin' } };
    const masked = read(masker.maskBody(Buffer.from(encode(doc)), CBOR_API).body);
    expect(masked.Card).toBe(0);
    expect(masked.Owners).toEqual({ 'a***@example.com': 'admin' });
  });

  test('JSON held in a CBOR string is masked field by field', () => {
    const doc = { SecretString: JSON.stringify({ user: 'svc', password: 'hunter2-cbor' }) };
    const masked = read(masker.maskBody(Buffer.from(encode(doc)), CBOR_API).body);
    expect(JSON.parse(masked.SecretString)).toEqual({ user: 'svc', password: '****' });
  });

  test('a document with nothing to mask is passed as the upstream sent it, byte for byte', () => {
    const body = Buffer.from(encode({ MetricAlarms: [{ AlarmName: 'cpu-high', Threshold: 80 }] }));
    const result = masker.maskBody(body, CBOR_API);
    expect(result.outcome).toBe('unchanged');
    expect(result.body).toBe(body);
    expect(result.format).toBe('cbor');
  });

  test('with no Content-Type, an answer to a CBOR call is read as CBOR', () => {
    const result = masker.maskBody(Buffer.from(encode({ SecretAccessKey: SECRET })), { protocol: 'rpc-v2-cbor', service: 'gamelift' });
    expect(read(result.body).SecretAccessKey).toBe('****');
  });
});

describe('a CBOR answer the masker cannot read is withheld', () => {
  const duplicateKeys = Buffer.concat([Buffer.from([0xa2]), Buffer.from(encode('SecretAccessKey')), Buffer.from(encode('x')), Buffer.from(encode('SecretAccessKey')), Buffer.from(encode(SECRET))]);
  const unknownTag = Buffer.concat([Buffer.from([0xa1]), Buffer.from(encode('k')), Buffer.from([0xd8, 0x20]), Buffer.from(encode(SECRET))]);
  let deep = Buffer.from(encode(SECRET));
  for (let i = 0; i < 2000; i++) deep = Buffer.concat([Buffer.from([0x81]), deep]);
  test.each([
    ['truncated', Buffer.from(encode({ SecretAccessKey: SECRET })).subarray(0, 20)],
    ['not CBOR at all', Buffer.from(`{"SecretAccessKey":"${SECRET}"}`)],
    ['a duplicate key (parsers differ on which wins)', duplicateKeys],
    ['a tag Smithy does not use', unknownTag],
    ['nested 2,000 deep', deep],
    ['a second document after the first (a reader that stops at the first would miss it)', Buffer.concat([Buffer.from(encode({ ok: true })), Buffer.from(encode({ SecretAccessKey: SECRET }))])],
  ])('%s → undecodable, nothing of the body kept', (_name, body) => {
    const result = masker.maskBody(body, CBOR_API);
    expect(result.outcome).toBe('undecodable');
    expect(result.outcome === 'undecodable' && result.unreadable).toBe('document');
    expect(result.body.length).toBe(0);
  });

  test('an answer to a JSON call that claims to be CBOR and is not is withheld too', () => {
    const result = masker.maskBody(Buffer.from([0xff, 0x00, 0x13]), { contentType: 'application/cbor', protocol: 'json', service: 'monitoring', operation: 'GetDashboard' });
    expect(result.outcome).toBe('undecodable');
  });

  test('an S3 object that only claims to be CBOR stays the bytes it is (like any binary object)', () => {
    const body = Buffer.from([0xff, 0x00, 0x13]);
    const result = masker.maskBody(body, { contentType: 'application/cbor', protocol: 'rest-xml', service: 's3', operation: 'GetObject' });
    expect(result.outcome).toBe('unchanged');
    expect(result.report.skipped).toBe('binary');
  });

  test('a valid CBOR S3 object is masked like a JSON one', () => {
    const result = masker.maskBody(Buffer.from(encode({ password: 'p@ss-in-object' })), { contentType: 'application/cbor', protocol: 'rest-xml', service: 's3', operation: 'GetObject' });
    expect(read(result.body).password).toBe('****');
  });
});
