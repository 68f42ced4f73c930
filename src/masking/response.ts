// Response adapter: after a body was masked, the headers that describe its bytes must follow.
// Content-Length is recomputed; DynamoDB's x-amz-crc32 (which botocore checks, retrying and then
// failing on a mismatch) is recomputed; S3's x-amz-checksum-* and Content-MD5 cannot stay true for
// a changed body and are dropped — SDKs skip validation when the header is absent.
// A masked body is identity-encoded (masker.ts), so Content-Encoding goes.
// The ETag becomes the MD5 of the masked document: the upstream's is the MD5 of the original,
// which lets a low-entropy secret be guessed offline. An MD5 of the bytes the client receives is
// what any client that checks an S3 ETag expects, and it is stable, so multipart downloaders
// that compare ETags across ranged GETs (each a slice of the same masked document) still agree.
// Conditional requests carrying it are evaluated by the gateway (request.ts, answer.ts).

import { createHash } from 'node:crypto';
import * as zlib from 'node:zlib';

export type HeaderValue = string | string[];

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

function crc32Table(data: Uint8Array): number {
  let crc = 0xffffffff;
  for (let i = 0; i < data.length; i++) crc = CRC_TABLE[(crc ^ data[i]) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/** CRC-32 (IEEE, as zlib and DynamoDB use), unsigned. zlib.crc32 exists from Node 20.15; the table is the fallback. */
export function crc32(data: Uint8Array): number {
  const native = (zlib as { crc32?: (data: Uint8Array) => number }).crc32;
  return native !== undefined ? native(data) >>> 0 : crc32Table(data);
}

export { crc32Table as crc32Portable };

/** The ETag of a masked document: a quoted MD5 hex, like S3's for a single-part object. */
export function maskedEtag(body: Uint8Array): string {
  return `"${createHash('md5').update(body).digest('hex')}"`;
}

/**
 * Headers for a masked body. Unchanged body → the same headers object. Changed → a new object:
 * content-length set, x-amz-crc32 recomputed when present, etag replaced by maskedEtag,
 * x-amz-checksum-*, content-md5, content-encoding and transfer-encoding dropped, content-range end adjusted.
 */
export function fixMaskedHeaders(headers: Record<string, HeaderValue>, newBody: Buffer, changed: boolean): Record<string, HeaderValue> {
  if (!changed) return headers;
  const out: Record<string, HeaderValue> = {};
  for (const [name, value] of Object.entries(headers)) {
    const lower = name.toLowerCase();
    if (DROPPED.has(lower) || lower.startsWith('x-amz-checksum-')) continue;
    if (lower === 'x-amz-crc32') {
      out[name] = String(crc32(newBody));
      continue;
    }
    if (lower === 'etag') {
      out[name] = maskedEtag(newBody);
      continue;
    }
    if (lower === 'content-range') {
      out[name] = fixContentRange(Array.isArray(value) ? value[0] : value, newBody.length);
      continue;
    }
    out[name] = value;
  }
  out['content-length'] = String(newBody.length);
  return out;
}

const DROPPED = new Set(['content-length', 'content-md5', 'content-encoding', 'transfer-encoding']);

/**
 * A masked partial body no longer has the upstream's byte range: keep the start, move the end,
 * and mark the total unknown (`*`), which RFC 9110 allows.
 */
function fixContentRange(value: string, length: number): string {
  const m = /^bytes\s+(\d+)-\d+\/(?:\d+|\*)$/i.exec(value.trim());
  if (m === null) return value;
  const start = Number(m[1]);
  return length === 0 ? `bytes */*` : `bytes ${start}-${start + length - 1}/*`;
}
