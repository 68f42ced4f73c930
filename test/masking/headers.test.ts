import { validateHeaderValue } from 'node:http';
import { describe, expect, test } from 'vitest';
import { decodeEncodedWords, headerNameRules } from '../../src/masking/headers.js';
import { compileMasker } from '../../src/masking/masker.js';
import { mergeReports } from '../../src/masking/report.js';

const KEY_ID = 'AKIAIOSFODNN7EXAMPLE';
const masker = compileMasker({
  fields: ['SecretString', 'password', 'api_key', 'Credentials.SecretAccessKey'],
  detectors: ['aws_access_key_id', 'aws_secret_access_key', 'private_key', 'jwt', 'email', 'credit_card'],
  patterns: [{ name: 'customer', regex: 'CUST-[0-9]{8}' }],
  maxBodyBytes: 4096,
});

describe('maskHeaders: user metadata by name', () => {
  test('x-amz-meta-password and x-amz-meta-api-key are masked by their field rules', () => {
    const headers = { 'x-amz-meta-password': 'hunter2', 'x-amz-meta-api-key': 'k-123', 'x-amz-meta-owner': 'team-a', etag: '"e"' };
    const r = masker.maskHeaders(headers);
    expect(r.headers).toEqual({ 'x-amz-meta-password': '****', 'x-amz-meta-api-key': '****', 'x-amz-meta-owner': 'team-a', etag: '"e"' });
    expect(r.changed).toBe(true);
    expect(r.masked).toEqual(['x-amz-meta-password', 'x-amz-meta-api-key']);
    expect(r.report).toEqual({ fields: { password: 1, api_key: 1 }, detectors: {} });
    expect(JSON.stringify(r)).not.toMatch(/hunter2|k-123/);
  });

  test.each([['X-Amz-Meta-Password'], ['x-amz-meta-PASSWORD'], ['x-amz-meta-pass_word'], ['x-amz-meta-ApiKey'], ['x-amz-meta-API_KEY'], ['x-amz-meta-secret-string']])(
    'names match ignoring case, - and _: %s',
    (name) => {
      expect(masker.maskHeaders({ [name]: 'v' }).headers[name]).toBe('****');
    },
  );

  test.each([['x-amz-meta-password-hint'], ['x-amz-meta-secretaccesskey'], ['x-amz-meta-db.password']])('no match: %s (exact names only; dotted rules are paths)', (name) => {
    expect(masker.maskHeaders({ [name]: 'v' }).changed).toBe(false);
  });

  test('headerNameRules keeps only single-name rules', () => {
    expect([...headerNameRules(['a.b', 'Pass_Word', 'password', 'x'])]).toEqual([
      ['password', 'Pass_Word'],
      ['x', 'x'],
    ]);
  });
});

describe('maskHeaders: values by detector', () => {
  test('x-amz-meta-note holding an access key id is masked, as a header Node will send', () => {
    const r = masker.maskHeaders({ 'x-amz-meta-note': KEY_ID });
    const value = r.headers['x-amz-meta-note'] as string;
    expect(value).toBe(`=?UTF-8?B?${Buffer.from('AKIA…MPLE').toString('base64')}?=`);
    expect(decodeEncodedWords(value)).toBe('AKIA…MPLE');
    expect(() => validateHeaderValue('x-amz-meta-note', value)).not.toThrow();
    expect(r.report).toEqual({ fields: {}, detectors: { aws_access_key_id: 1 } });
  });

  test('ASCII results stay plain; free-text field shapes and custom patterns apply', () => {
    const r = masker.maskHeaders({
      'x-amz-meta-config': 'user=bob password=hunter2',
      'Content-Disposition': 'attachment; filename="CUST-12345678.csv"',
      'x-amz-meta-contact': 'bob@example.com',
    });
    expect(r.headers).toEqual({
      'x-amz-meta-config': 'user=bob password=****',
      'Content-Disposition': 'attachment; filename="****.csv"',
      'x-amz-meta-contact': 'b***@example.com',
    });
  });

  test('a 40-character value under a key-like metadata name is a secret access key', () => {
    const r = masker.maskHeaders({ 'x-amz-meta-aws-secret': 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' });
    expect(r.headers['x-amz-meta-aws-secret']).toBe('****');
  });

  test('RFC 2047 metadata is decoded before inspection', () => {
    const encoded = `=?UTF-8?B?${Buffer.from(`clé ${KEY_ID}`).toString('base64')}?=`;
    const r = masker.maskHeaders({ 'x-amz-meta-note': encoded });
    expect(decodeEncodedWords(r.headers['x-amz-meta-note'] as string)).toBe('clé AKIA…MPLE');
    const q = masker.maskHeaders({ 'x-amz-meta-note': `=?utf-8?Q?id=3D${KEY_ID}?=` });
    expect(decodeEncodedWords(q.headers['x-amz-meta-note'] as string)).toBe('id=AKIA…MPLE');
    // split over two words: the whitespace between them is not part of the text
    const half = `=?UTF-8?B?${Buffer.from(KEY_ID.slice(0, 10)).toString('base64')}?= =?UTF-8?B?${Buffer.from(KEY_ID.slice(10)).toString('base64')}?=`;
    expect(decodeEncodedWords(masker.maskHeaders({ 'x-amz-meta-note': half }).headers['x-amz-meta-note'] as string)).toBe('AKIA…MPLE');
  });

  test('an encoded word that cannot be decoded is masked whole (fail closed)', () => {
    const r = masker.maskHeaders({ 'x-amz-meta-a': `=?x-unknown?B?${Buffer.from(KEY_ID).toString('base64')}?=`, 'x-amz-meta-b': '=?UTF-8?B?not base64!?=', 'x-amz-meta-c': '=?UTF-8?Q?bad=Z?=' });
    expect(r.headers).toEqual({ 'x-amz-meta-a': '****', 'x-amz-meta-b': '****', 'x-amz-meta-c': '****' });
    expect(r.report.detectors).toEqual({ undecodable_header: 3 });
  });

  test('multi-valued headers are masked value by value', () => {
    expect(masker.maskHeaders({ 'x-note': ['ok', KEY_ID] }).headers['x-note']).toEqual(['ok', expect.stringMatching(/^=\?UTF-8\?B\?/)]);
  });

  test('protocol headers are never rewritten, even when a value looks like a secret', () => {
    const headers = {
      'content-length': '12',
      etag: `"${KEY_ID}"`,
      'x-amz-request-id': KEY_ID,
      'x-amz-id-2': 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
      'x-amz-checksum-sha256': KEY_ID,
      'x-amz-server-side-encryption-aws-kms-key-id': KEY_ID,
      'last-modified': 'Mon, 07 Dec 2026 05:00:00 GMT',
    };
    const r = masker.maskHeaders(headers);
    expect(r.headers).toBe(headers);
    expect(r.changed).toBe(false);
  });

  test('nothing to mask: the same object back', () => {
    const headers = { 'content-type': 'application/json', 'x-amz-meta-owner': 'team-a' };
    expect(masker.maskHeaders(headers).headers).toBe(headers);
  });
});

test('mergeReports adds the header counts to the body report', () => {
  expect(mergeReports({ fields: { password: 1 }, detectors: { email: 2 }, skipped: 'binary' }, { fields: { password: 2, api_key: 1 }, detectors: {} })).toEqual({
    fields: { password: 3, api_key: 1 },
    detectors: { email: 2 },
    skipped: 'binary',
  });
});
