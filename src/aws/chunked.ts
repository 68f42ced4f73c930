// aws-chunked bodies signed chunk by chunk (x-amz-content-sha256: STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]).
// Each chunk signature chains from the previous one, starting at the request's seed signature, so a body signed by
// the client cannot be forwarded under a re-signed request: every chunk is verified with the client's signing key
// and re-signed with the real one, chained from the outgoing seed. Framing is kept byte for byte (same size text,
// same trailer lines; signatures are always 64 hex digits), so Content-Length is unchanged.
//
//   <hex-size>;chunk-signature=<sig>\r\n<data>\r\n ... 0;chunk-signature=<sig>\r\n\r\n
//   with trailer: ... 0;chunk-signature=<sig>\r\n<name>:<value>\r\n...x-amz-trailer-signature:<sig>\r\n\r\n
//
// Memory: one chunk is held until its signature is checked (it must be: the outgoing chunk header carries a
// signature over the data), so chunks above maxChunkBytes are refused. STREAMING-UNSIGNED-PAYLOAD-TRAILER needs no
// transform: nothing in it is signed, and S3 checks the trailing checksum itself.

import { Transform, type TransformCallback } from 'node:stream';
import { timingSafeEqual } from 'node:crypto';
import { GatewayError } from '../errors.js';
import { EMPTY_SHA256, hmacWithKey, sha256Hex } from './canonical.js';
import {
  SIGNATURE_MISMATCH_MESSAGE,
  STREAMING_SIGNED,
  STREAMING_SIGNED_TRAILER,
  STREAMING_UNSIGNED_TRAILER,
  type VerifiedSignature,
} from './sigv4.js';

/** Signing key, X-Amz-Date text, credential scope and seed signature of one side (client or upstream). */
export type ChunkSigningContext = VerifiedSignature;

export type StreamingMode = 'signed' | 'signed-trailer' | 'unsigned-trailer' | 'none';

/** How the body of a request with this x-amz-content-sha256 value is framed. */
export function streamingMode(payloadHash: string | undefined): StreamingMode {
  if (payloadHash === STREAMING_SIGNED) return 'signed';
  if (payloadHash === STREAMING_SIGNED_TRAILER) return 'signed-trailer';
  if (payloadHash === STREAMING_UNSIGNED_TRAILER) return 'unsigned-trailer';
  return 'none';
}

export function chunkSignature(ctx: ChunkSigningContext, previousSignature: string, data: Uint8Array): string {
  const toSign = `AWS4-HMAC-SHA256-PAYLOAD\n${ctx.amzDate}\n${ctx.scope}\n${previousSignature}\n${EMPTY_SHA256}\n${sha256Hex(data)}`;
  return hmacWithKey(ctx.signingKey, toSign).toString('hex');
}

/** Trailer headers are canonicalised like signed headers: `name:value\n`, lowercase names, sorted. */
export function canonicalTrailers(trailers: ReadonlyArray<readonly [string, string]>): string {
  return [...trailers]
    .map(([name, value]) => [name.toLowerCase(), value.trim()] as const)
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
    .map(([name, value]) => `${name}:${value}\n`)
    .join('');
}

export function trailerSignature(
  ctx: ChunkSigningContext,
  previousSignature: string,
  trailers: ReadonlyArray<readonly [string, string]>,
): string {
  const toSign = `AWS4-HMAC-SHA256-TRAILER\n${ctx.amzDate}\n${ctx.scope}\n${previousSignature}\n${sha256Hex(canonicalTrailers(trailers))}`;
  return hmacWithKey(ctx.signingKey, toSign).toString('hex');
}

export interface ChunkResignerOptions {
  /** The client's side: verified request signature and the client's signing key. */
  incoming: ChunkSigningContext;
  /** The upstream side: from signOutgoingRequest(...).signing. */
  outgoing: ChunkSigningContext;
  /** STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER: a signed trailer follows the final chunk. */
  trailer: boolean;
  /** Largest chunk accepted. Default 16 MiB (SDKs send 64 KiB; the AWS minimum is 8 KiB). */
  maxChunkBytes?: number;
  /** Longest chunk header or trailer line. Default 4 KiB. */
  maxLineBytes?: number;
  /** Most trailer lines. Default 16. */
  maxTrailers?: number;
  /** x-amz-decoded-content-length: when given, the decoded data must add up to exactly this. */
  decodedContentLength?: number;
}

type State = 'chunk-header' | 'chunk-data' | 'trailer' | 'trailer-end' | 'done';

const CRLF = Buffer.from('\r\n');
const CHUNK_HEADER = /^([0-9a-fA-F]{1,16});chunk-signature=([0-9a-f]{64})$/;
const TRAILER_LINE = /^([A-Za-z0-9!#$%&'*+\-.^_`|~]+):(.*)$/;

function malformed(message: string): GatewayError {
  return new GatewayError('MALFORMED_REQUEST', `aws-chunked body: ${message}`);
}

function sameSignature(a: string, b: string): boolean {
  const x = Buffer.from(a, 'hex');
  const y = Buffer.from(b, 'hex');
  return x.length === y.length && x.length === 32 && timingSafeEqual(x, y);
}

/**
 * Verifies every chunk signature of an aws-chunked body against the client's key and re-emits it signed with the
 * upstream key. Errors: SIGNATURE_MISMATCH (a chunk or trailer signature is wrong; nothing of that chunk is
 * emitted), BODY_TOO_LARGE (chunk above maxChunkBytes), MALFORMED_REQUEST (framing).
 */
export function createChunkResigner(options: ChunkResignerOptions): Transform {
  return new ChunkResigner(options);
}

class ChunkResigner extends Transform {
  private readonly opts: Required<Omit<ChunkResignerOptions, 'decodedContentLength'>> & { decodedContentLength?: number };
  private readonly pending: Buffer[] = [];
  private pendingLength = 0;
  private state: State = 'chunk-header';
  private incomingPrevious: string;
  private outgoingPrevious: string;
  private chunkSizeText = '';
  private chunkSize = 0;
  private chunkSignatureText = '';
  private decodedBytes = 0;
  private readonly trailers: Array<[string, string]> = [];
  private readonly trailerLines: string[] = [];
  private blankBeforeTrailers = false;

  constructor(options: ChunkResignerOptions) {
    super();
    this.opts = {
      maxChunkBytes: 16 * 1024 * 1024,
      maxLineBytes: 4096,
      maxTrailers: 16,
      ...options,
    };
    this.incomingPrevious = options.incoming.seedSignature;
    this.outgoingPrevious = options.outgoing.seedSignature;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (chunk.length > 0) {
      this.pending.push(chunk);
      this.pendingLength += chunk.length;
    }
    try {
      this.drain();
      callback();
    } catch (error) {
      callback(error as Error);
    }
  }

  override _flush(callback: TransformCallback): void {
    if (this.state !== 'done') {
      callback(malformed('ended before the final zero-length chunk'));
      return;
    }
    callback();
  }

  /** Removes and returns the first n pending bytes (n <= pendingLength); zero-copy when one buffer holds them. */
  private takeBytes(n: number): Buffer {
    this.pendingLength -= n;
    const first = this.pending[0]!;
    if (first.length >= n) {
      if (first.length === n) this.pending.shift();
      else this.pending[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    const parts: Buffer[] = [];
    let left = n;
    while (left > 0) {
      const head = this.pending[0]!;
      if (head.length <= left) {
        parts.push(head);
        this.pending.shift();
        left -= head.length;
      } else {
        parts.push(head.subarray(0, left));
        this.pending[0] = head.subarray(left);
        left = 0;
      }
    }
    return Buffer.concat(parts, n);
  }

  /** The next CRLF-terminated line (without CRLF), or undefined when it has not fully arrived. */
  private takeLine(): string | undefined {
    for (;;) {
      if (this.pending.length === 0) return undefined;
      const first = this.pending[0]!;
      const end = first.indexOf(CRLF);
      if (end !== -1) {
        if (end > this.opts.maxLineBytes) throw malformed(`line longer than ${this.opts.maxLineBytes} bytes`);
        const line = this.takeBytes(end + 2);
        return line.subarray(0, end).toString('latin1');
      }
      if (first.length > this.opts.maxLineBytes + 1) throw malformed(`line longer than ${this.opts.maxLineBytes} bytes`);
      if (this.pending.length === 1) return undefined;
      // The line spans buffers: merge the first two (bounded by maxLineBytes plus one read).
      const merged = Buffer.concat([first, this.pending[1]!]);
      this.pending.splice(0, 2, merged);
    }
  }

  private drain(): void {
    for (;;) {
      if (this.state === 'done') {
        if (this.pendingLength > 0) throw malformed('data after the final chunk');
        return;
      }
      if (this.state === 'chunk-header') {
        const line = this.takeLine();
        if (line === undefined) return;
        this.readChunkHeader(line);
        continue;
      }
      if (this.state === 'chunk-data') {
        if (this.pendingLength < this.chunkSize + 2) return;
        const data = this.takeBytes(this.chunkSize);
        const end = this.takeBytes(2);
        if (end[0] !== 0x0d || end[1] !== 0x0a) throw malformed('chunk data not followed by CRLF');
        this.emitChunk(data);
        continue;
      }
      const line = this.takeLine();
      if (line === undefined) return;
      if (this.state === 'trailer') {
        this.readTrailerLine(line);
        continue;
      }
      // trailer-end: only the terminating empty line may follow the trailer signature.
      if (line !== '') throw malformed('data after x-amz-trailer-signature');
      this.push(CRLF);
      this.state = 'done';
    }
  }

  private readChunkHeader(line: string): void {
    const m = CHUNK_HEADER.exec(line);
    if (m === null) {
      throw malformed(`bad chunk header ${JSON.stringify(line.slice(0, 100))} (expected <hex-size>;chunk-signature=<64 hex>)`);
    }
    const size = Number.parseInt(m[1]!, 16);
    if (size > this.opts.maxChunkBytes) {
      throw new GatewayError(
        'BODY_TOO_LARGE',
        `aws-chunked body: chunk of ${size} bytes exceeds the gateway limit of ${this.opts.maxChunkBytes} bytes`,
      );
    }
    this.chunkSizeText = m[1]!;
    this.chunkSize = size;
    this.chunkSignatureText = m[2]!;
    if (size === 0 && this.opts.trailer) {
      // The final chunk of a trailer body carries no data line; the trailer follows directly.
      this.emitChunk(Buffer.alloc(0), false);
      this.state = 'trailer';
      return;
    }
    this.state = 'chunk-data';
  }

  private emitChunk(data: Buffer, withDataCrlf = true): void {
    const expected = chunkSignature(this.opts.incoming, this.incomingPrevious, data);
    if (!sameSignature(expected, this.chunkSignatureText)) {
      throw new GatewayError('SIGNATURE_MISMATCH', `${SIGNATURE_MISMATCH_MESSAGE} (aws-chunked chunk signature)`);
    }
    this.incomingPrevious = this.chunkSignatureText;
    const resigned = chunkSignature(this.opts.outgoing, this.outgoingPrevious, data);
    this.outgoingPrevious = resigned;
    this.decodedBytes += data.length;
    this.push(Buffer.from(`${this.chunkSizeText};chunk-signature=${resigned}\r\n`, 'latin1'));
    if (data.length > 0) this.push(data);
    if (withDataCrlf) this.push(CRLF);
    if (data.length === 0 && !this.opts.trailer) {
      this.checkDecodedLength();
      this.state = 'done';
    } else {
      this.state = 'chunk-header';
    }
  }

  private checkDecodedLength(): void {
    const want = this.opts.decodedContentLength;
    if (want !== undefined && want !== this.decodedBytes) {
      throw malformed(`decoded length ${this.decodedBytes} does not match x-amz-decoded-content-length ${want}`);
    }
  }

  private readTrailerLine(line: string): void {
    if (line === '') {
      if (this.trailerLines.length === 0 && !this.blankBeforeTrailers) {
        // Tolerate an empty data line between the final chunk and the trailer.
        this.blankBeforeTrailers = true;
        return;
      }
      throw malformed('trailer ended without x-amz-trailer-signature');
    }
    const m = TRAILER_LINE.exec(line);
    if (m === null) throw malformed(`bad trailer line ${JSON.stringify(line.slice(0, 100))}`);
    const name = m[1]!.toLowerCase();
    const value = m[2]!;
    if (name !== 'x-amz-trailer-signature') {
      if (this.trailers.length >= this.opts.maxTrailers) throw malformed(`more than ${this.opts.maxTrailers} trailer lines`);
      this.trailers.push([name, value]);
      this.trailerLines.push(line);
      return;
    }
    const provided = value.trim();
    if (this.trailers.length === 0) throw malformed('x-amz-trailer-signature without any trailer');
    const expected = trailerSignature(this.opts.incoming, this.incomingPrevious, this.trailers);
    if (!/^[0-9a-f]{64}$/.test(provided) || !sameSignature(expected, provided)) {
      throw new GatewayError('SIGNATURE_MISMATCH', `${SIGNATURE_MISMATCH_MESSAGE} (aws-chunked trailer signature)`);
    }
    const resigned = trailerSignature(this.opts.outgoing, this.outgoingPrevious, this.trailers);
    this.checkDecodedLength();
    const head = this.blankBeforeTrailers ? '\r\n' : '';
    this.push(Buffer.from(`${head}${this.trailerLines.join('\r\n')}\r\nx-amz-trailer-signature:${resigned}\r\n`, 'latin1'));
    this.state = 'trailer-end';
  }
}
