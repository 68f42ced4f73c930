import { describe, expect, test } from 'vitest';
import { prepareMaskedRequest } from '../../src/masking/request.js';

describe('prepareMaskedRequest: query overrides', () => {
  test.each<[string, string, string | undefined]>([
    ['/b/k?response-content-encoding=zstd', '/b/k', undefined],
    ['/b/k?x-id=GetObject&response-content-encoding=gzip&versionId=3%2F4', '/b/k?x-id=GetObject&versionId=3%2F4', undefined],
    ['/b/k?response-content-type=text%2Fplain&response-content-disposition=inline', '/b/k?response-content-disposition=inline', 'text/plain'],
    // the name as the upstream reads it: percent-decoded, any case
    ['/b/k?%72esponse-content-encoding=zstd&a=1', '/b/k?a=1', undefined],
    ['/b/k?Response-Content-Encoding=zstd', '/b/k', undefined],
    ['/b/k?response-content-encoding', '/b/k', undefined],
    ['/b/k?response-content-encoding=zstd&response-content-encoding=br', '/b/k', undefined],
    // everything else stays byte-exact, including odd encodings and empty members
    ['/b/k?a=%7e&&b=c+d&response-content-type=x', '/b/k?a=%7e&&b=c+d', 'x'],
    ['/b/k?', '/b/k?', undefined],
    ['/b/k?a=1', '/b/k?a=1', undefined],
    ['/b/k%3Fnot-a-query', '/b/k%3Fnot-a-query', undefined],
  ])('%s → %s', (path, expected, contentType) => {
    const plan = prepareMaskedRequest({ method: 'GET', path, headers: {} });
    expect(plan.forward.path).toBe(expected);
    expect(plan.fallback.path).toBe(expected);
    expect(plan.client.contentType).toBe(contentType);
  });
});

describe('prepareMaskedRequest: headers', () => {
  test('accept-encoding becomes identity whatever its case; other headers are kept as sent', () => {
    const plan = prepareMaskedRequest({ method: 'GET', path: '/b/k', headers: { 'Accept-Encoding': 'gzip, br', 'x-amz-date': 'd', 'User-Agent': ['a', 'b'] } });
    expect(plan.forward.headers).toEqual({ 'accept-encoding': 'identity', 'x-amz-date': 'd', 'User-Agent': ['a', 'b'] });
  });

  test('a range is not forwarded: the whole object is fetched, the range is answered from the masked document', () => {
    const plan = prepareMaskedRequest({ method: 'GET', path: '/b/k', headers: { Range: 'bytes=25-45', 'If-Range': '"e"', host: 'h' } });
    expect(plan.forward).toEqual({ method: 'GET', path: '/b/k', headers: { host: 'h', 'accept-encoding': 'identity' } });
    expect(plan.client).toEqual({ headOnly: false, range: 'bytes=25-45', ifRange: '"e"' });
    // the fallback (body over the masking limit, not masked) is the client's own ranged request
    expect(plan.fallback.headers).toEqual({ Range: 'bytes=25-45', 'If-Range': '"e"', host: 'h', 'accept-encoding': 'identity' });
  });

  test('every spelling of a taken header goes; two ranges become a list (which the answer ignores)', () => {
    const plan = prepareMaskedRequest({ method: 'GET', path: '/b/k', headers: { Range: 'bytes=0-1', range: ['bytes=5-6'], 'ACCEPT-ENCODING': 'br', 'Accept-Encoding': 'gzip' } });
    expect(plan.forward.headers).toEqual({ 'accept-encoding': 'identity' });
    expect(plan.client.range).toBe('bytes=0-1, bytes=5-6');
  });

  test('partNumber is a slice too: taken off the query, kept in the fallback', () => {
    const plan = prepareMaskedRequest({ method: 'GET', path: '/b/k?partNumber=2&x-id=GetObject', headers: {} });
    expect(plan.forward.path).toBe('/b/k?x-id=GetObject');
    expect(plan.fallback.path).toBe('/b/k?partNumber=2&x-id=GetObject');
    expect(plan.client.partNumber).toBe('2');
  });

  test('conditions are evaluated by the gateway (an upstream 304/412 would carry the original ETag)', () => {
    const headers = { 'If-Match': '"a"', 'if-none-match': '"b"', 'if-modified-since': 'd1', 'if-unmodified-since': 'd2', x: 'y' };
    const plan = prepareMaskedRequest({ method: 'GET', path: '/b/k', headers });
    expect(plan.forward.headers).toEqual({ x: 'y', 'accept-encoding': 'identity' });
    expect(plan.client).toEqual({ headOnly: false, ifMatch: '"a"', ifNoneMatch: '"b"', ifModifiedSince: 'd1', ifUnmodifiedSince: 'd2' });
    expect(plan.fallback.headers).toEqual({ ...headers, 'accept-encoding': 'identity' });
  });

  test('HeadObject is fetched as GET and answered without a body; other HEADs stay HEAD', () => {
    const head = prepareMaskedRequest({ method: 'HEAD', path: '/b/k', headers: { range: 'bytes=0-1' }, operation: 'HeadObject' });
    expect(head.forward.method).toBe('GET');
    expect(head.fallback.method).toBe('HEAD');
    expect(head.client).toEqual({ headOnly: true, range: 'bytes=0-1' });
    expect(prepareMaskedRequest({ method: 'HEAD', path: '/b', headers: {}, operation: 'HeadBucket' }).forward.method).toBe('HEAD');
  });

  test('a write keeps its conditions and query (they are not about the response body)', () => {
    const plan = prepareMaskedRequest({ method: 'PUT', path: '/b/k?partNumber=1&uploadId=u', headers: { 'if-none-match': '*' } });
    expect(plan.forward).toEqual({ method: 'PUT', path: '/b/k?partNumber=1&uploadId=u', headers: { 'if-none-match': '*', 'accept-encoding': 'identity' } });
    expect(plan.client).toEqual({ headOnly: false });
  });

  test('the input is not modified', () => {
    const headers = { range: 'bytes=0-1', 'accept-encoding': 'gzip' };
    prepareMaskedRequest({ method: 'GET', path: '/b/k', headers });
    expect(headers).toEqual({ range: 'bytes=0-1', 'accept-encoding': 'gzip' });
  });
});
