// "Paths are decided on exactly the bytes that are forwarded": the key identify derives (and the policy decides on)
// must be the key S3 reads from the path the gateway forwards, in every client/upstream addressing combination —
// or the request is refused before deciding.
import { describe, expect, it } from 'vitest';
import { requestAmbiguity } from '../../src/aws/dispatch.js';
import { s3UpstreamPath } from '../../src/aws/endpoints.js';
import { identifyRequest, type IdentifyInput } from '../../src/aws/identify.js';

/** What S3 reads from a forwarded path (no query): the bucket segment and the key, each percent-decoded once. */
function s3Reads(forwarded: string, upstreamPathStyle: boolean, hostBucket: string): { bucket: string; key: string } {
  const path = forwarded.split('?')[0] as string;
  if (!upstreamPathStyle) return { bucket: hostBucket, key: decodeURIComponent(path.slice(1)) };
  const end = path.indexOf('/', 1);
  return { bucket: decodeURIComponent(path.slice(1, end)), key: decodeURIComponent(path.slice(end + 1)) };
}

const KEYS = ['k', 'a%20b', 'a%2Fb', '%2541', '/x', '//x', 'dir/', '%C3%BC', 'a%2Bb', '.hidden', '...', 'a..b', '%5Cwin', "a!$&'()*,;=:@~b"];
const REFUSED = ['a/../x', './x', 'a/%2E%2E/x', 'a+b', 'a\\b'];

describe('the S3 key decided is the key S3 reads from the forwarded path', () => {
  for (const clientPathStyle of [true, false]) {
    for (const upstreamPathStyle of [true, false]) {
      const label = `${clientPathStyle ? 'path' : 'virtual-host'} client → ${upstreamPathStyle ? 'path' : 'virtual-host'} upstream`;
      function input(rawKey: string): IdentifyInput {
        return {
          method: 'GET',
          host: clientPathStyle ? '127.0.0.1:8443' : 'bkt.s3.us-east-1.amazonaws.com',
          rawPath: clientPathStyle ? `/bkt/${rawKey}?x-id=GetObject` : `/${rawKey}?x-id=GetObject`,
          headers: {},
          signingService: 's3',
          region: 'us-east-1',
        };
      }

      it.each(KEYS)(`${label}: %s`, (rawKey) => {
        const req = input(rawKey);
        const call = identifyRequest(req);
        expect(call.operation).toBe('GetObject');
        expect(requestAmbiguity(req, call)).toBeUndefined();
        const forwarded = s3UpstreamPath({ rawPath: req.rawPath, bucket: call.bucket as string, clientPathStyle: call.pathStyle !== false, upstreamPathStyle });
        expect(s3Reads(forwarded, upstreamPathStyle, 'bkt')).toEqual({ bucket: call.bucket, key: call.key });
        expect(call.resource).toBe(`arn:aws:s3:::bkt/${call.key as string}`);
      });

      it.each(REFUSED)(`${label}: %s is refused before deciding`, (rawKey) => {
        const req = input(rawKey);
        expect(requestAmbiguity(req, identifyRequest(req))?.code).toBe('AMBIGUOUS_REQUEST');
      });
    }
  }
});
