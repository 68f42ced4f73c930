// The pure part of the HTTP/2 adaptation: which response headers an h2 stream must not carry.
import { describe, expect, it } from 'vitest';
import { withoutConnectionHeaders } from '../../src/proxy/h2-compat.js';

describe('withoutConnectionHeaders', () => {
  it('drops the connection-specific headers RFC 9113 §8.2.2 forbids, any case, and keeps the rest', () => {
    expect(
      withoutConnectionHeaders({
        Connection: 'close',
        'keep-alive': 'timeout=5',
        'Transfer-Encoding': 'chunked',
        upgrade: 'h2c',
        'proxy-connection': 'keep-alive',
        te: 'gzip',
        'content-type': 'application/xml',
        'content-length': 12,
        'x-amz-request-id': ['a', 'b'],
      }),
    ).toEqual({ 'content-type': 'application/xml', 'content-length': 12, 'x-amz-request-id': ['a', 'b'] });
  });

  it('keeps `te: trailers`, the one TE value HTTP/2 allows', () => {
    expect(withoutConnectionHeaders({ te: 'trailers' })).toEqual({ te: 'trailers' });
  });

  it('reads a flat [name, value, …] list as writeHead accepts it', () => {
    expect(withoutConnectionHeaders(['connection', 'close', 'content-type', 'text/plain'])).toEqual(['content-type', 'text/plain']);
  });
});
