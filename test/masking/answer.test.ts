import { createHash } from 'node:crypto';
import * as zlib from 'node:zlib';
import { describe, expect, test } from 'vitest';
import { answerMasked, etagListMatches, type MaskedAnswer } from '../../src/masking/answer.js';
import { compileMasker, type BodyInfo, type MaskedBody } from '../../src/masking/masker.js';
import { prepareMaskedRequest, type ClientAsk, type ForwardRequest } from '../../src/masking/request.js';
import { mergeReports } from '../../src/masking/report.js';
import type { HeaderValue } from '../../src/masking/response.js';

const masker = compileMasker({
  fields: ['password', 'api_key'],
  detectors: ['aws_access_key_id', 'aws_secret_access_key'],
  patterns: [],
  maxBodyBytes: 4096,
});
const GET_OBJECT: BodyInfo = { protocol: 'rest-xml', service: 's3', operation: 'GetObject' };
const md5 = (b: Buffer | string): string => `"${createHash('md5').update(b).digest('hex')}"`;

const SECRET_DOC = '{"user": "bob", "password": "hunter2-S3-SECRET", "note": "ok"}';

interface StoredObject {
  body: Buffer;
  headers: Record<string, string>;
}

/**
 * A stand-in for S3's GetObject, reduced to what these tests exercise (Range, partNumber,
 * response-content-* overrides, If-None-Match on the original ETag). The real thing cannot run in a
 * unit test; the integration suite drives the gateway against a real S3-compatible server.
 */
function fakeS3(object: StoredObject, request: ForwardRequest): { status: number; headers: Record<string, HeaderValue>; body: Buffer } {
  const url = new URL(request.path, 'http://s3');
  const h = Object.fromEntries(Object.entries(request.headers).map(([k, v]) => [k.toLowerCase(), String(v)]));
  const headers: Record<string, HeaderValue> = { ...object.headers, etag: md5(object.body), 'last-modified': 'Mon, 07 Dec 2026 05:00:00 GMT', 'accept-ranges': 'bytes' };
  const encOverride = url.searchParams.get('response-content-encoding');
  if (encOverride !== null) headers['content-encoding'] = encOverride;
  const typeOverride = url.searchParams.get('response-content-type');
  if (typeOverride !== null) headers['content-type'] = typeOverride;
  if (h['if-none-match'] === headers.etag) return { status: 304, headers, body: Buffer.alloc(0) };
  const m = /^bytes=(\d+)-(\d+)$/.exec(h.range ?? '');
  if (m !== null) {
    const body = object.body.subarray(Number(m[1]), Number(m[2]) + 1);
    return { status: 206, headers: { ...headers, 'content-range': `bytes ${m[1]}-${m[2]}/${object.body.length}`, 'content-length': String(body.length) }, body };
  }
  return { status: 200, headers: { ...headers, 'content-length': String(object.body.length) }, body: object.body };
}

/** What a mask stage does around forwarding, in order. */
function throughGateway(object: StoredObject, client: { method?: string; path: string; headers?: Record<string, string>; operation?: string }): MaskedAnswer | { kind: 'undecodable'; encoding: string } {
  const plan = prepareMaskedRequest({ method: client.method ?? 'GET', path: client.path, headers: client.headers ?? {}, operation: client.operation });
  const upstream = fakeS3(object, plan.forward);
  const first = (v: HeaderValue | undefined): string | undefined => (Array.isArray(v) ? v[0] : v);
  const body = masker.maskBody(upstream.body, { ...GET_OBJECT, contentType: first(upstream.headers['content-type']), contentEncoding: first(upstream.headers['content-encoding']) });
  if (body.outcome === 'undecodable') return { kind: 'undecodable', encoding: body.encoding };
  const headers = masker.maskHeaders(upstream.headers);
  const answer = answerMasked(upstream.status, headers.headers, body, plan.client);
  expect(mergeReports(body.report, headers.report)).toBeDefined();
  return answer;
}

const object: StoredObject = { body: Buffer.from(SECRET_DOC), headers: { 'content-type': 'application/json', 'x-amz-meta-password': 'meta-secret' } };
const start = SECRET_DOC.indexOf('hunter2');

describe('a mask stage built from these functions (prepare → forward → maskBody → maskHeaders → answerMasked)', () => {
  test('Range over the value: the answer slices the masked document, never the original', () => {
    const a = throughGateway(object, { path: '/b/k', headers: { Range: `bytes=${start}-${start + 16}` } });
    expect(a.kind).toBe('send');
    if (a.kind !== 'send') return;
    expect(a.status).toBe(206);
    expect(a.body.toString()).not.toMatch(/hunter2|SECRET/);
    expect(a.body.subarray(0, 4).toString()).toBe('****');
    const maskedDoc = '{"user": "bob", "password": "****", "note": "ok"}';
    expect(a.headers['content-range']).toBe(`bytes ${start}-${start + 16}/${maskedDoc.length}`);
    expect(a.headers['content-length']).toBe(String(a.body.length));
    // the ETag is the masked full document's, not the original's
    expect(a.headers.etag).toBe(md5(maskedDoc));
    expect(a.headers['x-amz-meta-password']).toBe('****');
  });

  test('a full GET: masked body, masked ETag, no checksum of the original', () => {
    const withChecksum = { ...object, headers: { ...object.headers, 'x-amz-checksum-crc32': 'AAAA', 'content-md5': 'x' } };
    const a = throughGateway(withChecksum, { path: '/b/k' });
    expect(a).toMatchObject({ kind: 'send', status: 200 });
    if (a.kind !== 'send') return;
    expect(a.body.toString()).toBe('{"user": "bob", "password": "****", "note": "ok"}');
    expect(a.headers.etag).toBe(md5(a.body));
    expect(a.headers.etag).not.toBe(md5(SECRET_DOC));
    expect(Object.keys(a.headers).filter((k) => k.startsWith('x-amz-checksum') || k === 'content-md5')).toEqual([]);
  });

  test('relabelling a plain object with response-content-encoding no longer works: the override is not forwarded', () => {
    const a = throughGateway(object, { path: '/b/k?response-content-encoding=zstd' });
    expect(a.kind).toBe('send');
    if (a.kind === 'send') expect(a.body.toString()).not.toContain('hunter2');
  });

  test('an object really stored zstd is refused, naming the coding', () => {
    const stored = { body: Buffer.from(SECRET_DOC), headers: { 'content-type': 'application/json', 'content-encoding': 'zstd' } };
    expect(throughGateway(stored, { path: '/b/k' })).toEqual({ kind: 'undecodable', encoding: 'zstd' });
  });

  test('an object stored gzip is masked and answered decoded, without Content-Encoding', () => {
    const stored = { body: zlib.gzipSync(SECRET_DOC), headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' } };
    const a = throughGateway(stored, { path: '/b/k', headers: { 'accept-encoding': 'gzip' } });
    expect(a.kind).toBe('send');
    if (a.kind !== 'send') return;
    expect(a.body.toString()).toContain('"password": "****"');
    expect(Object.keys(a.headers).map((k) => k.toLowerCase())).not.toContain('content-encoding');
  });

  test('response-content-type is honoured on the answer, after masking', () => {
    const a = throughGateway(object, { path: '/b/k?response-content-type=text%2Fplain' });
    expect(a).toMatchObject({ kind: 'send', headers: { 'content-type': 'text/plain' } });
  });

  test('HeadObject: the masked GET\'s headers, no body', () => {
    const a = throughGateway(object, { method: 'HEAD', path: '/b/k', operation: 'HeadObject' });
    expect(a.kind).toBe('send');
    if (a.kind !== 'send') return;
    expect(a.body.length).toBe(0);
    expect(a.headers.etag).toBe(md5('{"user": "bob", "password": "****", "note": "ok"}'));
    expect(a.headers['content-length']).toBe(String('{"user": "bob", "password": "****", "note": "ok"}'.length));
    expect(a.headers['x-amz-meta-password']).toBe('****');
  });

  test('If-None-Match with the masked ETag → 304; with the original ETag → 200 (the original is never a validator)', () => {
    const etag = md5('{"user": "bob", "password": "****", "note": "ok"}');
    expect(throughGateway(object, { path: '/b/k', headers: { 'if-none-match': etag } })).toMatchObject({ kind: 'send', status: 304 });
    expect(throughGateway(object, { path: '/b/k', headers: { 'if-none-match': md5(SECRET_DOC) } })).toMatchObject({ kind: 'send', status: 200 });
  });

  test('If-Match with the original ETag → 412; with the masked one → 200', () => {
    expect(throughGateway(object, { path: '/b/k', headers: { 'if-match': md5(SECRET_DOC) } })).toMatchObject({ kind: 'refuse', status: 412, code: 'PreconditionFailed' });
    const etag = md5('{"user": "bob", "password": "****", "note": "ok"}');
    expect(throughGateway(object, { path: '/b/k', headers: { 'if-match': etag } })).toMatchObject({ kind: 'send', status: 200 });
  });
});

describe('answerMasked', () => {
  const doc = Buffer.from('0123456789');
  const masked: MaskedBody = { outcome: 'masked', body: doc, changed: true, report: { fields: {}, detectors: {} }, format: 'text' };
  const headers = { ETag: '"original"', 'Last-Modified': 'Mon, 07 Dec 2026 05:00:00 GMT', 'content-length': '99' };
  const etag = md5(doc);

  test.each<[string, number, string]>([
    ['1', 206, 'bytes 0-9/10'],
  ])('partNumber=%s → %i %s, one part', (partNumber, status, contentRange) => {
    const a = answerMasked(200, headers, masked, { headOnly: false, partNumber });
    expect(a).toMatchObject({ kind: 'send', status, headers: { 'content-range': contentRange, 'x-amz-mp-parts-count': '1', 'content-length': '10' } });
  });

  test.each<[string, number, string]>([
    ['2', 416, 'InvalidPartNumber'],
    ['0', 400, 'InvalidArgument'],
    ['10001', 400, 'InvalidArgument'],
    ['x', 400, 'InvalidArgument'],
  ])('partNumber=%s → %i %s', (partNumber, status, code) => {
    expect(answerMasked(200, headers, masked, { headOnly: false, partNumber })).toMatchObject({ kind: 'refuse', status, code });
  });

  test('partNumber with Range → 400 InvalidRequest, as S3', () => {
    expect(answerMasked(200, headers, masked, { headOnly: false, partNumber: '1', range: 'bytes=0-1' })).toMatchObject({ kind: 'refuse', status: 400, code: 'InvalidRequest' });
  });

  test('an unsatisfiable range → 416 InvalidRange with Content-Range bytes */total', () => {
    expect(answerMasked(200, headers, masked, { headOnly: false, range: 'bytes=10-' })).toEqual({
      kind: 'refuse',
      status: 416,
      code: 'InvalidRange',
      message: 'The requested range is not satisfiable',
      headers: { 'content-range': 'bytes */10' },
    });
  });

  test('multiple ranges → the whole masked document with 200', () => {
    expect(answerMasked(200, headers, masked, { headOnly: false, range: 'bytes=0-1,5-6' })).toMatchObject({ kind: 'send', status: 200, body: doc });
  });

  test.each<[string, number]>([
    [etag, 206],
    ['"original"', 200],
    [`W/${etag}`, 200],
    ['Mon, 07 Dec 2026 05:00:00 GMT', 206],
    ['Mon, 07 Dec 2026 06:00:00 GMT', 200],
  ])('If-Range %s → %i', (ifRange, status) => {
    expect(answerMasked(200, headers, masked, { headOnly: false, range: 'bytes=0-1', ifRange })).toMatchObject({ kind: 'send', status });
  });

  test.each<[Partial<ClientAsk>, number]>([
    [{ ifModifiedSince: 'Mon, 07 Dec 2026 05:00:00 GMT' }, 304],
    [{ ifModifiedSince: 'Mon, 07 Dec 2026 06:00:00 GMT' }, 304],
    [{ ifModifiedSince: 'Mon, 07 Dec 2026 04:00:00 GMT' }, 200],
    [{ ifModifiedSince: 'not a date' }, 200],
    [{ ifModifiedSince: 'Mon, 07 Dec 2026 06:00:00 GMT', ifNoneMatch: '"other"' }, 200], // If-None-Match decides alone
    [{ ifUnmodifiedSince: 'Mon, 07 Dec 2026 04:00:00 GMT' }, 412],
    [{ ifUnmodifiedSince: 'Mon, 07 Dec 2026 05:00:00 GMT' }, 200],
    [{ ifUnmodifiedSince: 'garbage' }, 200],
    [{ ifUnmodifiedSince: 'Mon, 07 Dec 2026 04:00:00 GMT', ifMatch: etag }, 200], // If-Match decides alone
    [{ ifMatch: '*' }, 200],
  ])('date conditions %j → %i', (ask, status) => {
    const a = answerMasked(200, headers, masked, { headOnly: false, ...ask });
    expect(a.status).toBe(status);
    if (status === 304) expect(a).toMatchObject({ kind: 'send', body: Buffer.alloc(0), headers: { ETag: etag } });
  });

  test('a non-200 upstream answer is passed on (its headers fixed), not sliced', () => {
    const err: MaskedBody = { outcome: 'unchanged', body: Buffer.from('<Error/>'), changed: false, report: { fields: {}, detectors: {} }, format: 'xml' };
    expect(answerMasked(404, { 'content-length': '8' }, err, { headOnly: false, range: 'bytes=0-1' })).toEqual({ kind: 'send', status: 404, headers: { 'content-length': '8' }, body: err.body });
  });

  test('an unchanged body keeps the upstream ETag, and ranges still slice it', () => {
    const clean: MaskedBody = { ...masked, outcome: 'unchanged', changed: false };
    const a = answerMasked(200, { ETag: '"up"', 'content-length': '10' }, clean, { headOnly: false, range: 'bytes=-2', ifMatch: '"up"' });
    expect(a).toMatchObject({ kind: 'send', status: 206, headers: { ETag: '"up"', 'content-range': 'bytes 8-9/10', 'content-length': '2' } });
  });
});

describe('etagListMatches', () => {
  test.each<[string, string | undefined, 'strong' | 'weak', boolean]>([
    ['*', '"a"', 'strong', true],
    ['*', undefined, 'strong', false],
    ['"a"', '"a"', 'strong', true],
    ['"b", "a"', '"a"', 'strong', true],
    ['W/"a"', '"a"', 'strong', false],
    ['W/"a"', '"a"', 'weak', true],
    ['"a"', 'W/"a"', 'weak', true],
    ['a', '"a"', 'strong', true],
    ['"b"', '"a"', 'weak', false],
  ])('%s vs %s (%s) → %s', (list, etag, comparison, expected) => {
    expect(etagListMatches(list, etag, comparison)).toBe(expected);
  });
});
