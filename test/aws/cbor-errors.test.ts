// The gateway's own refusals for a Smithy RPC v2 CBOR client are CBOR (a JSON body would not parse in its SDK):
// `__type` and `message` in a CBOR map, `smithy-protocol: rpc-v2-cbor`, and throttling as the JSON protocols shape it.
import { decode } from 'cborg';
import { describe, expect, it } from 'vitest';
import { GatewayError, toAwsErrorResponse } from '../../src/errors.js';

describe('CBOR error answers', () => {
  it('a refusal: __type, message, the protocol header, the request id', () => {
    const r = toAwsErrorResponse(new GatewayError('ACCESS_DENIED', 'denied by rule x'), 'rpc-v2-cbor', 'req-1');
    expect(r.status).toBe(403);
    expect(r.headers).toMatchObject({ 'content-type': 'application/cbor', 'smithy-protocol': 'rpc-v2-cbor', 'x-amzn-requestid': 'req-1' });
    expect(Buffer.isBuffer(r.body)).toBe(true);
    expect(decode(r.body as Buffer, { useMaps: false })).toMatchObject({ __type: 'AccessDeniedException', message: 'denied by rule x' });
  });

  it('throttling is a 429 ThrottlingException, which the SDKs retry', () => {
    const r = toAwsErrorResponse(new GatewayError('THROTTLED', 'slow down'), 'rpc-v2-cbor', 'req-2');
    expect(r.status).toBe(429);
    expect(decode(r.body as Buffer, { useMaps: false })).toMatchObject({ __type: 'ThrottlingException', message: 'slow down' });
  });
});
