// Published vectors: AWS's S3 SigV4 examples (sig-v4-header-based-auth, sigv4-query-string-auth, sigv4-streaming)
// and the SigV4 test suite's get-vanilla. Computed by AWS, not by us.
import { describe, expect, it } from 'vitest';
import { Readable } from 'node:stream';
import { parseSigV4, verifySigV4, type SigV4Request } from '../../src/aws/sigv4.js';
import { chunkSignature, createChunkResigner } from '../../src/aws/chunked.js';
import { SigningKeyCache } from '../../src/aws/sigv4-keycache.js';

const AKID = 'AKIAIOSFODNN7EXAMPLE';
const S3_SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
const EMPTY = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
const NOW_2013 = new Date('2013-05-24T00:05:00Z');

function auth(scope: string, signed: string, sig: string): string {
  return `AWS4-HMAC-SHA256 Credential=${AKID}/${scope}, SignedHeaders=${signed}, Signature=${sig}`;
}

interface Vector {
  name: string;
  req: SigV4Request;
  payloadHash: string;
  secret: string;
  now: Date;
}

const S3_SCOPE = '20130524/us-east-1/s3/aws4_request';

const vectors: Vector[] = [
  {
    name: 'S3 GET Object with Range',
    req: {
      method: 'GET',
      rawPath: '/test.txt',
      headers: {
        host: 'examplebucket.s3.amazonaws.com',
        range: 'bytes=0-9',
        'x-amz-content-sha256': EMPTY,
        'x-amz-date': '20130524T000000Z',
        authorization: auth(S3_SCOPE, 'host;range;x-amz-content-sha256;x-amz-date', 'f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41'),
      },
    },
    payloadHash: EMPTY,
    secret: S3_SECRET,
    now: NOW_2013,
  },
  {
    name: 'S3 PUT Object with $ in the key and a Date header',
    req: {
      method: 'PUT',
      rawPath: '/test%24file.text',
      headers: {
        host: 'examplebucket.s3.amazonaws.com',
        date: 'Fri, 24 May 2013 00:00:00 GMT',
        'x-amz-date': '20130524T000000Z',
        'x-amz-storage-class': 'REDUCED_REDUNDANCY',
        'x-amz-content-sha256': '44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072',
        authorization: auth(
          S3_SCOPE,
          'date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class',
          '98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd',
        ),
      },
    },
    payloadHash: '44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072',
    secret: S3_SECRET,
    now: NOW_2013,
  },
  {
    name: 'S3 GET bucket lifecycle (valueless query key)',
    req: {
      method: 'GET',
      rawPath: '/?lifecycle',
      headers: {
        host: 'examplebucket.s3.amazonaws.com',
        'x-amz-date': '20130524T000000Z',
        'x-amz-content-sha256': EMPTY,
        authorization: auth(S3_SCOPE, 'host;x-amz-content-sha256;x-amz-date', 'fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543'),
      },
    },
    payloadHash: EMPTY,
    secret: S3_SECRET,
    now: NOW_2013,
  },
  {
    name: 'S3 list objects (query sorted)',
    req: {
      method: 'GET',
      rawPath: '/?max-keys=2&prefix=J',
      headers: {
        host: 'examplebucket.s3.amazonaws.com',
        'x-amz-date': '20130524T000000Z',
        'x-amz-content-sha256': EMPTY,
        authorization: auth(S3_SCOPE, 'host;x-amz-content-sha256;x-amz-date', '34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7'),
      },
    },
    payloadHash: EMPTY,
    secret: S3_SECRET,
    now: NOW_2013,
  },
  {
    name: 'S3 presigned GET',
    req: {
      method: 'GET',
      rawPath:
        '/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request' +
        '&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host' +
        '&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404',
      headers: { host: 'examplebucket.s3.amazonaws.com' },
    },
    payloadHash: 'UNSIGNED-PAYLOAD',
    secret: S3_SECRET,
    now: new Date('2013-05-24T12:00:00Z'),
  },
  {
    name: 'test suite get-vanilla',
    req: {
      method: 'GET',
      rawPath: '/',
      headers: {
        host: 'example.amazonaws.com',
        'x-amz-date': '20150830T123600Z',
        authorization:
          'AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, ' +
          'Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31',
      },
    },
    payloadHash: EMPTY,
    secret: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
    now: new Date('2015-08-30T12:36:00Z'),
  },
];

describe('AWS published SigV4 vectors', () => {
  it.each(vectors)('$name verifies', (v) => {
    const parsed = parseSigV4(v.req);
    expect(() => verifySigV4(parsed, v.req, { secretAccessKey: v.secret, payloadHash: v.payloadHash, now: v.now })).not.toThrow();
  });

  it.each(vectors)('$name fails with a different secret', (v) => {
    const parsed = parseSigV4(v.req);
    expect(() =>
      verifySigV4(parsed, v.req, { secretAccessKey: `${v.secret}x`, payloadHash: v.payloadHash, now: v.now, keyCache: new SigningKeyCache() }),
    ).toThrow(expect.objectContaining({ code: 'SIGNATURE_MISMATCH' }));
  });
});

describe('AWS published aws-chunked vector (PUT 66560 bytes of "a" in 64 KiB chunks)', () => {
  const req: SigV4Request = {
    method: 'PUT',
    rawPath: '/examplebucket/chunkObject.txt',
    headers: {
      host: 's3.amazonaws.com',
      'x-amz-date': '20130524T000000Z',
      'x-amz-storage-class': 'REDUCED_REDUNDANCY',
      'x-amz-content-sha256': 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD',
      'content-encoding': 'aws-chunked',
      'x-amz-decoded-content-length': '66560',
      'content-length': '66824',
      authorization: auth(
        S3_SCOPE,
        'content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class',
        '4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9',
      ),
    },
  };
  const chunk1 = Buffer.alloc(65536, 'a');
  const chunk2 = Buffer.alloc(1024, 'a');
  const sigs = [
    'ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648',
    '0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497',
    'b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9',
  ];
  const body = Buffer.concat([
    Buffer.from(`10000;chunk-signature=${sigs[0]}\r\n`),
    chunk1,
    Buffer.from(`\r\n400;chunk-signature=${sigs[1]}\r\n`),
    chunk2,
    Buffer.from(`\r\n0;chunk-signature=${sigs[2]}\r\n\r\n`),
  ]);

  it('the seed signature verifies and the body length matches the documented Content-Length', () => {
    const parsed = parseSigV4(req);
    verifySigV4(parsed, req, { secretAccessKey: S3_SECRET, payloadHash: 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD', now: NOW_2013 });
    expect(body.length).toBe(66824);
  });

  it('chunkSignature reproduces every documented chunk signature', () => {
    const parsed = parseSigV4(req);
    const ctx = verifySigV4(parsed, req, { secretAccessKey: S3_SECRET, payloadHash: 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD', now: NOW_2013 });
    const s1 = chunkSignature(ctx, ctx.seedSignature, chunk1);
    const s2 = chunkSignature(ctx, s1, chunk2);
    const s3 = chunkSignature(ctx, s2, Buffer.alloc(0));
    expect([s1, s2, s3]).toEqual(sigs);
  });

  it('the re-signer accepts the documented body (identity re-sign reproduces it byte for byte)', async () => {
    const parsed = parseSigV4(req);
    const ctx = verifySigV4(parsed, req, { secretAccessKey: S3_SECRET, payloadHash: 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD', now: NOW_2013 });
    const out: Buffer[] = [];
    // Fed in awkward 1000-byte pieces so headers and data straddle reads.
    const pieces = Array.from({ length: Math.ceil(body.length / 1000) }, (_, i) => body.subarray(i * 1000, (i + 1) * 1000));
    const t = Readable.from(pieces).pipe(createChunkResigner({ incoming: ctx, outgoing: ctx, trailer: false, decodedContentLength: 66560 }));
    for await (const c of t) out.push(c as Buffer);
    expect(Buffer.concat(out).equals(body)).toBe(true);
  });
});
