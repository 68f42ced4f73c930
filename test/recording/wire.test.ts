// The wire form kept in request records: real method, host, path and query, masked, without SigV4 signature params.

import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import type { Flow } from '../../src/flow.js';
import { compileMasker } from '../../src/masking/masker.js';
import { clientTraceparent, requestBytes, requestWire } from '../../src/pipeline/wire.js';

function flowOf(method: string, rawPath: string, headers: Record<string, string>, userAgent?: string): Flow {
  return { method, rawPath, req: { headers } as unknown as IncomingMessage, ...(userAgent ? { userAgent } : {}) } as unknown as Flow;
}

const masker = compileMasker({ fields: [], detectors: ['aws_access_key_id'], patterns: [], maxBodyBytes: 1 << 20 });

describe('requestWire', () => {
  it('keeps method, host, path and query, and drops presigned-URL signature parameters', () => {
    const flow = flowOf(
      'GET',
      '/reports/q1.txt?versionId=abc&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=ASIA%2F20300102&X-Amz-Date=20300102T000000Z&X-Amz-Expires=300&X-Amz-SignedHeaders=host&X-Amz-Security-Token=tok&X-Amz-Signature=deadbeef',
      { host: 's3.us-east-1.amazonaws.com' },
      'aws-cli/2.15',
    );
    expect(requestWire(flow, masker)).toEqual({
      method: 'GET',
      host: 's3.us-east-1.amazonaws.com',
      path: '/reports/q1.txt',
      query: [{ name: 'versionId', value: 'abc' }],
      userAgent: 'aws-cli/2.15',
    });
  });

  it('masks secrets in the path and query values', () => {
    const flow = flowOf('GET', '/b/AKIAIOSFODNN7EXAMPLE.txt?token=AKIAIOSFODNN7EXAMPLE', { host: 'b.s3.amazonaws.com', 'content-type': 'text/plain' });
    const wire = requestWire(flow, masker);
    expect(wire.path).not.toContain('AKIAIOSFODNN7EXAMPLE');
    expect(wire.query![0]!.value).not.toContain('AKIAIOSFODNN7EXAMPLE');
    expect(wire.contentType).toBe('text/plain');
  });

  it('counts request bytes from the decoded length, Content-Length or the body read', () => {
    expect(requestBytes(flowOf('PUT', '/', { 'x-amz-decoded-content-length': '5', 'content-length': '90' }))).toBe(5);
    expect(requestBytes(flowOf('POST', '/', { 'content-length': '12' }))).toBe(12);
    expect(requestBytes({ ...flowOf('POST', '/', {}), body: Buffer.from('abc') } as Flow)).toBe(3);
    expect(requestBytes(flowOf('GET', '/', {}))).toBeUndefined();
  });

  it.each([
    ['00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'],
    ['00-00000000000000000000000000000000-00f067aa0ba902b7-01', undefined],
    ['00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01', undefined],
    ['garbage', undefined],
  ])('traceparent %s → %s', (header, expected) => {
    expect(clientTraceparent(flowOf('GET', '/', { traceparent: header }))).toBe(expected);
  });
});
