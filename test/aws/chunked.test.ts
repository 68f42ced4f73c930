import { describe, expect, it } from 'vitest';
import { createHash, createHmac } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createChunkResigner, streamingMode, type ChunkResignerOptions, type ChunkSigningContext } from '../../src/aws/chunked.js';
import { parseSigV4, signOutgoingRequest, verifySigV4 } from '../../src/aws/sigv4.js';
import { GatewayError } from '../../src/errors.js';

// An independent aws-chunked encoder written from the S3 spec (sigv4-streaming, sigv4-streaming-trailers), sharing
// no code with src/aws/chunked.ts. The published AWS vector in sigv4-vectors.test.ts pins the chunk algorithm.
const hex = (d: Buffer | string): string => createHash('sha256').update(d).digest('hex');
function signingKey(secret: string, date: string, region: string, service: string): Buffer {
  let k: Buffer = createHmac('sha256', `AWS4${secret}`).update(date).digest();
  for (const part of [region, service, 'aws4_request']) k = createHmac('sha256', k).update(part).digest();
  return k;
}
function specChunkSig(key: Buffer, amzDate: string, scope: string, prev: string, data: Buffer): string {
  const sts = ['AWS4-HMAC-SHA256-PAYLOAD', amzDate, scope, prev, hex(''), hex(data)].join('\n');
  return createHmac('sha256', key).update(sts).digest('hex');
}
function specTrailerSig(key: Buffer, amzDate: string, scope: string, prev: string, trailers: Array<[string, string]>): string {
  const canon = trailers.map(([k, v]) => `${k}:${v}\n`).join('');
  const sts = ['AWS4-HMAC-SHA256-TRAILER', amzDate, scope, prev, hex(canon)].join('\n');
  return createHmac('sha256', key).update(sts).digest('hex');
}
function encode(ctx: { key: Buffer; amzDate: string; scope: string; seed: string }, chunks: Buffer[], trailers?: Array<[string, string]>): Buffer {
  const parts: Buffer[] = [];
  let prev = ctx.seed;
  for (const data of [...chunks, Buffer.alloc(0)]) {
    prev = specChunkSig(ctx.key, ctx.amzDate, ctx.scope, prev, data);
    parts.push(Buffer.from(`${data.length.toString(16)};chunk-signature=${prev}\r\n`));
    if (data.length > 0 || trailers === undefined) parts.push(data, Buffer.from('\r\n'));
  }
  if (trailers !== undefined) {
    const sig = specTrailerSig(ctx.key, ctx.amzDate, ctx.scope, prev, trailers);
    parts.push(Buffer.from(trailers.map(([k, v]) => `${k}:${v}\r\n`).join('') + `x-amz-trailer-signature:${sig}\r\n\r\n`));
  }
  return Buffer.concat(parts);
}

/** Decodes aws-chunked data without checking signatures (test oracle for "data unchanged"). */
function decode(body: Buffer): Buffer {
  const out: Buffer[] = [];
  let i = 0;
  for (;;) {
    const eol = body.indexOf('\r\n', i);
    const size = Number.parseInt(body.subarray(i, eol).toString().split(';')[0]!, 16);
    if (size === 0) return Buffer.concat(out);
    out.push(body.subarray(eol + 2, eol + 2 + size));
    i = eol + 2 + size + 2;
  }
}

const AMZ = '20260101T120000Z';
const SCOPE = '20260101/us-east-1/s3/aws4_request';
const CLIENT_KEY = signingKey('client-secret', '20260101', 'us-east-1', 's3');
const REAL_KEY = signingKey('real-secret', '20260101', 'us-east-1', 's3');
const CLIENT_SEED = 'c'.repeat(64);
const REAL_SEED = 'd'.repeat(64);
const incoming: ChunkSigningContext = { signingKey: CLIENT_KEY, amzDate: AMZ, scope: SCOPE, seedSignature: CLIENT_SEED };
const outgoing: ChunkSigningContext = { signingKey: REAL_KEY, amzDate: AMZ, scope: SCOPE, seedSignature: REAL_SEED };
const clientEnc = { key: CLIENT_KEY, amzDate: AMZ, scope: SCOPE, seed: CLIENT_SEED };
const realEnc = { key: REAL_KEY, amzDate: AMZ, scope: SCOPE, seed: REAL_SEED };

async function run(body: Buffer, options: Partial<ChunkResignerOptions> = {}, pieceBytes = 7000): Promise<{ out: Buffer; error?: GatewayError }> {
  const pieces: Buffer[] = [];
  for (let i = 0; i < body.length; i += pieceBytes) pieces.push(body.subarray(i, i + pieceBytes));
  const out: Buffer[] = [];
  try {
    await pipeline(
      Readable.from(pieces),
      createChunkResigner({ incoming, outgoing, trailer: false, ...options }),
      new Writable({
        write(chunk: Buffer, _enc, cb) {
          out.push(chunk);
          cb();
        },
      }),
    );
    return { out: Buffer.concat(out) };
  } catch (error) {
    return { out: Buffer.concat(out), error: error as GatewayError };
  }
}

const data = [Buffer.alloc(65536, 1), Buffer.alloc(65536, 2), Buffer.from('tail bytes')];

describe('streamingMode', () => {
  it.each([
    ['STREAMING-AWS4-HMAC-SHA256-PAYLOAD', 'signed'],
    ['STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER', 'signed-trailer'],
    ['STREAMING-UNSIGNED-PAYLOAD-TRAILER', 'unsigned-trailer'],
    ['UNSIGNED-PAYLOAD', 'none'],
    [hex(''), 'none'],
    [undefined, 'none'],
  ])('%s → %s', (value, mode) => expect(streamingMode(value)).toBe(mode));
});

describe('createChunkResigner', () => {
  it('re-signs every chunk with the real key, chained from the outgoing seed, keeping framing and length', async () => {
    const body = encode(clientEnc, data);
    const { out, error } = await run(body, { decodedContentLength: 65536 * 2 + 10 });
    expect(error).toBeUndefined();
    expect(out.equals(encode(realEnc, data))).toBe(true);
    expect(out.length).toBe(body.length);
    expect(decode(out).equals(Buffer.concat(data))).toBe(true);
  });

  it.each([1, 3, 64, 65537])('works whatever the read size (%i bytes per write)', async (pieceBytes) => {
    const small = [Buffer.from('hello '), Buffer.from('world')];
    const { out, error } = await run(encode(clientEnc, small), {}, pieceBytes);
    expect(error).toBeUndefined();
    expect(out.equals(encode(realEnc, small))).toBe(true);
  });

  it('an empty body (only the final chunk) re-signs', async () => {
    const { out, error } = await run(encode(clientEnc, []));
    expect(error).toBeUndefined();
    expect(out.equals(encode(realEnc, []))).toBe(true);
  });

  it('keeps the client size text (uppercase hex) so Content-Length stays right', async () => {
    const chunk = Buffer.alloc(0xab, 7);
    const body = Buffer.from(encode(clientEnc, [chunk]).toString('latin1').replace(/^ab;/, 'AB;'), 'latin1');
    const { out, error } = await run(body);
    expect(error).toBeUndefined();
    expect(out.subarray(0, 3).toString()).toBe('AB;');
    expect(out.length).toBe(body.length);
  });

  it('a tampered chunk → SIGNATURE_MISMATCH, and nothing of that chunk is emitted', async () => {
    const body = encode(clientEnc, data);
    const tampered = Buffer.from(body);
    tampered[body.indexOf('\r\n', 0) + 2 + 65536 + 2 + 100 + 90] ^= 1; // a byte inside the second chunk's data
    const { out, error } = await run(tampered);
    expect(error?.code).toBe('SIGNATURE_MISMATCH');
    expect(error?.message).toMatch(/chunk signature/);
    expect(decode(Buffer.concat([out, Buffer.from('0;\r\n')])).length).toBe(65536); // only the first chunk got out
  });

  it('chunks swapped → SIGNATURE_MISMATCH (signatures chain)', async () => {
    const a = encode(clientEnc, [Buffer.from('AAAA'), Buffer.from('BBBB')]).toString('latin1');
    const lines = a.split('\r\n');
    // [hdr1, AAAA, hdr2, BBBB, hdr0, '', ''] → swap the two chunks
    const swapped = [lines[2], lines[3], lines[0], lines[1], ...lines.slice(4)].join('\r\n');
    const { error } = await run(Buffer.from(swapped, 'latin1'));
    expect(error?.code).toBe('SIGNATURE_MISMATCH');
  });

  it('signed with another key → SIGNATURE_MISMATCH on the first chunk', async () => {
    const { out, error } = await run(encode(realEnc, data));
    expect(error?.code).toBe('SIGNATURE_MISMATCH');
    expect(out.length).toBe(0);
  });

  it('a chunk above maxChunkBytes → BODY_TOO_LARGE before buffering it', async () => {
    const { error } = await run(Buffer.from(`1000001;chunk-signature=${'0'.repeat(64)}\r\n`));
    expect(error?.code).toBe('BODY_TOO_LARGE');
    expect(error?.message).toBe('aws-chunked body: chunk of 16777217 bytes exceeds the gateway limit of 16777216 bytes');
    const small = await run(encode(clientEnc, [Buffer.alloc(100)]), { maxChunkBytes: 64 });
    expect(small.error?.code).toBe('BODY_TOO_LARGE');
  });

  it.each([
    ['plain HTTP chunk header', Buffer.from('5\r\nhello\r\n0\r\n\r\n'), /bad chunk header "5"/],
    ['short signature', Buffer.from('5;chunk-signature=abc\r\nhello\r\n'), /bad chunk header/],
    ['non-hex size', Buffer.from(`zz;chunk-signature=${'0'.repeat(64)}\r\n`), /bad chunk header/],
    ['endless header line', Buffer.alloc(5000, 0x41), /line longer than 4096 bytes/],
    ['truncated body', encode(clientEnc, data).subarray(0, 70000), /ended before the final zero-length chunk/],
    ['no CRLF after data', Buffer.from(encode(clientEnc, [Buffer.from('hello')]).toString('latin1').replace('hello\r\n', 'helloXY'), 'latin1'), /chunk data not followed by CRLF/],
    ['data after the final chunk', Buffer.concat([encode(clientEnc, [Buffer.from('x')]), Buffer.from('junk')]), /data after the final chunk/],
  ])('%s → MALFORMED_REQUEST', async (_name, body, message) => {
    const { error } = await run(body);
    expect(error?.code).toBe('MALFORMED_REQUEST');
    expect(error?.message).toMatch(message);
  });

  it('decoded length different from x-amz-decoded-content-length → MALFORMED_REQUEST', async () => {
    const { error } = await run(encode(clientEnc, [Buffer.from('hello')]), { decodedContentLength: 6 });
    expect(error?.message).toBe('aws-chunked body: decoded length 5 does not match x-amz-decoded-content-length 6');
  });
});

describe('createChunkResigner with a signed trailer', () => {
  const trailers: Array<[string, string]> = [['x-amz-checksum-crc32', 'sOO8/Q==']];

  it('verifies and re-signs the trailer', async () => {
    const body = encode(clientEnc, data, trailers);
    const { out, error } = await run(body, { trailer: true });
    expect(error).toBeUndefined();
    expect(out.equals(encode(realEnc, data, trailers))).toBe(true);
    expect(out.length).toBe(body.length);
  });

  it('a changed trailer value → SIGNATURE_MISMATCH', async () => {
    const body = Buffer.from(encode(clientEnc, data, trailers).toString('latin1').replace('sOO8/Q==', 'AAAAAA=='), 'latin1');
    const { error } = await run(body, { trailer: true });
    expect(error?.code).toBe('SIGNATURE_MISMATCH');
    expect(error?.message).toMatch(/trailer signature/);
  });

  it('a trailer without x-amz-trailer-signature → MALFORMED_REQUEST', async () => {
    const body = Buffer.from(encode(clientEnc, [Buffer.from('x')], trailers).toString('latin1').replace(/x-amz-trailer-signature:[0-9a-f]+\r\n/, ''), 'latin1');
    const { error } = await run(body, { trailer: true });
    expect(error?.message).toBe('aws-chunked body: trailer ended without x-amz-trailer-signature');
  });

  it('tolerates an empty line between the final chunk and the trailer, and keeps it', async () => {
    const plain = encode(clientEnc, [Buffer.from('x')], trailers).toString('latin1');
    const body = Buffer.from(plain.replace(/(0;chunk-signature=[0-9a-f]{64}\r\n)/, '$1\r\n'), 'latin1');
    const { out, error } = await run(body, { trailer: true });
    expect(error).toBeUndefined();
    expect(out.length).toBe(body.length);
  });
});

describe('end to end: client request → gateway verify → re-sign → upstream verify', () => {
  it('a body re-signed by the transform verifies with the real key', async () => {
    const now = new Date('2026-01-01T12:00:00Z');
    const chunks = [Buffer.alloc(8192, 'q'), Buffer.from('last')];
    const encodedLength = (seed: string) => encode({ key: CLIENT_KEY, amzDate: AMZ, scope: SCOPE, seed }, chunks).length;
    const baseHeaders = {
      'content-encoding': 'aws-chunked',
      'x-amz-decoded-content-length': String(8192 + 4),
      'content-length': String(encodedLength('0'.repeat(64))),
    };
    // The client signs its request headers with the gateway-issued secret.
    const client = signOutgoingRequest({
      method: 'PUT',
      url: new URL('https://gw:8443/bkt/key'),
      headers: baseHeaders,
      region: 'us-east-1',
      service: 's3',
      credentials: { accessKeyId: 'ASIAGW', secretAccessKey: 'client-secret', sessionToken: 'gw-token' },
      payloadHash: 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD',
      now,
    });
    const body = encode({ key: CLIENT_KEY, amzDate: AMZ, scope: SCOPE, seed: client.signing.seedSignature }, chunks);
    // Gateway: verify the seed, re-sign the request with real credentials, re-sign the body.
    const clientReq = { method: 'PUT', rawPath: '/bkt/key', headers: client.headers };
    const verified = verifySigV4(parseSigV4(clientReq), clientReq, {
      secretAccessKey: 'client-secret',
      payloadHash: 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD',
      now,
    });
    const upstream = signOutgoingRequest({
      method: 'PUT',
      url: new URL('https://s3.us-east-1.amazonaws.com/bkt/key'),
      headers: baseHeaders,
      region: 'us-east-1',
      service: 's3',
      credentials: { accessKeyId: 'AKIAREAL', secretAccessKey: 'real-secret' },
      payloadHash: 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD',
      now,
    });
    const first: Buffer[] = [];
    await pipeline(Readable.from([body]), createChunkResigner({ incoming: verified, outgoing: upstream.signing, trailer: false }), new Writable({ write(c: Buffer, _e, cb) { first.push(c); cb(); } }));
    const forwarded = Buffer.concat(first);
    expect(forwarded.length).toBe(Number(upstream.headers['content-length']));
    // "Upstream": verify the forwarded request and every chunk with the real secret.
    const upReq = { method: 'PUT', rawPath: '/bkt/key', headers: upstream.headers };
    const upVerified = verifySigV4(parseSigV4(upReq), upReq, { secretAccessKey: 'real-secret', payloadHash: 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD', now });
    const second: Buffer[] = [];
    await pipeline(Readable.from([forwarded]), createChunkResigner({ incoming: upVerified, outgoing: upVerified, trailer: false }), new Writable({ write(c: Buffer, _e, cb) { second.push(c); cb(); } }));
    expect(decode(Buffer.concat(second)).equals(Buffer.concat(chunks))).toBe(true);
    // And the client's original body does not pass as an upstream body.
    const { error } = await (async () => {
      try {
        await pipeline(Readable.from([body]), createChunkResigner({ incoming: upVerified, outgoing: upVerified, trailer: false }), new Writable({ write(_c, _e, cb) { cb(); } }));
        return {};
      } catch (e) {
        return { error: e as GatewayError };
      }
    })();
    expect(error?.code).toBe('SIGNATURE_MISMATCH');
  });
});
