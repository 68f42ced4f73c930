// Content-Encoding for masking: which codings a body carries and how to undo them. The masker
// fails closed on anything it cannot undo — an unknown coding (zstd, compress…), a body that does
// not decode, a list that names an unknown coding anywhere — because a body it cannot read is a
// body it cannot mask, and S3 lets any caller relabel a plain object with
// `response-content-encoding`. Pure: node:zlib's synchronous functions only.

import * as zlib from 'node:zlib';

/** The codings undone before masking. zstd is refused: node:zlib has it only from Node 22.15. */
export type ContentCoding = 'gzip' | 'deflate' | 'br';

export type EncodingPlan =
  | { kind: 'identity' }
  /** `codings` in the order they were applied (the header's order); decoding runs from the last. */
  | { kind: 'decode'; codings: ContentCoding[] }
  | { kind: 'unsupported'; encoding: string };

export type DecodeResult =
  | { kind: 'decoded'; body: Buffer }
  /** The decoded body would pass `maxOutputBytes`: treated like any body over the masking limit. */
  | { kind: 'too-large' }
  | { kind: 'failed'; coding: ContentCoding; reason: string };

const CODINGS: Record<string, ContentCoding | 'identity'> = {
  identity: 'identity',
  gzip: 'gzip',
  'x-gzip': 'gzip',
  deflate: 'deflate',
  br: 'br',
};

/** Reads a Content-Encoding value (`gzip`, `gzip, br`, `identity`, absent). Case and spaces do not matter. */
export function parseContentEncoding(value: string | undefined): EncodingPlan {
  const codings: ContentCoding[] = [];
  for (const raw of (value ?? '').split(',')) {
    const token = raw.trim().toLowerCase();
    if (token === '') continue;
    const coding = CODINGS[token];
    if (coding === undefined) return { kind: 'unsupported', encoding: raw.trim() };
    if (coding !== 'identity') codings.push(coding);
  }
  return codings.length === 0 ? { kind: 'identity' } : { kind: 'decode', codings };
}

/** Undoes `codings` (as applied, so the last one first); every stage's output is bounded by `maxOutputBytes`. */
export function decodeBody(body: Buffer, codings: readonly ContentCoding[], maxOutputBytes: number): DecodeResult {
  let current = body;
  for (let i = codings.length - 1; i >= 0; i--) {
    const coding = codings[i];
    try {
      current = decodeOne(current, coding, maxOutputBytes);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') return { kind: 'too-large' };
      return { kind: 'failed', coding, reason: (error as Error).message };
    }
  }
  return { kind: 'decoded', body: current };
}

function decodeOne(body: Buffer, coding: ContentCoding, maxOutputBytes: number): Buffer {
  const options = { maxOutputLength: Math.max(1, maxOutputBytes) };
  if (coding === 'gzip') return zlib.gunzipSync(body, options);
  if (coding === 'br') return zlib.brotliDecompressSync(body, options);
  try {
    return zlib.inflateSync(body, options);
  } catch (error) {
    // Some servers send raw deflate without the zlib wrapper.
    if ((error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') throw error;
    return zlib.inflateRawSync(body, options);
  }
}
