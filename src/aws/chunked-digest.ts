// The payload an aws-chunked body carries, hashed without its framing: chunk signatures (and the trailer signature)
// change with every signing, so an approval must bind the data and the trailing headers, not the bytes on the wire.
// Framing is `<hex-size>[;chunk-signature=<sig>]\r\n<data>\r\n` … `0[;…]\r\n` then trailer lines and `\r\n`.
// Chunk signatures are verified later, while the body is forwarded; a body whose framing cannot be read is refused.

import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';

export type ChunkedDigest = { ok: true; sha256: string; bytes: number } | { ok: false; reason: string };

const CRLF = Buffer.from('\r\n');

export async function chunkedPayloadDigest(source: Readable): Promise<ChunkedDigest> {
  const hash = createHash('sha256');
  let buffered: Buffer = Buffer.alloc(0);
  let bytes = 0;
  let remaining = -1; // data bytes left in the current chunk (+2 for its CRLF); -1: expecting a chunk header
  let inTrailer = false;
  let done = false;
  for await (const chunk of source) {
    buffered = buffered.length === 0 ? (chunk as Buffer) : Buffer.concat([buffered, chunk as Buffer]);
    for (;;) {
      if (done) break;
      if (remaining > 0) {
        const take = Math.min(remaining, buffered.length);
        const dataPart = Math.max(0, Math.min(take, remaining - 2));
        if (dataPart > 0) {
          hash.update(buffered.subarray(0, dataPart));
          bytes += dataPart;
        }
        remaining -= take;
        buffered = buffered.subarray(take);
        if (remaining > 0) break;
        remaining = -1;
        continue;
      }
      const eol = buffered.indexOf(CRLF);
      if (eol === -1) {
        if (buffered.length > 4096) return { ok: false, reason: 'an aws-chunked line is too long' };
        break;
      }
      const line = buffered.subarray(0, eol).toString('latin1');
      buffered = buffered.subarray(eol + 2);
      if (inTrailer) {
        if (line === '') {
          done = true;
          break;
        }
        if (!/^x-amz-trailer-signature:/i.test(line)) hash.update(`\n${line.trim()}`);
        continue;
      }
      const size = /^([0-9a-fA-F]{1,16})(;chunk-signature=[0-9a-f]{64})?$/.exec(line);
      if (!size) return { ok: false, reason: `malformed aws-chunked chunk header "${line.slice(0, 80)}"` };
      const length = Number.parseInt(size[1]!, 16);
      if (length === 0) {
        inTrailer = true;
        continue;
      }
      remaining = length + 2;
    }
  }
  if (!done && !(inTrailer && buffered.length === 0)) return { ok: false, reason: 'the aws-chunked body ended before its final chunk' };
  return { ok: true, sha256: hash.digest('hex'), bytes };
}
