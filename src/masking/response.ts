// Response adapter: after a body was masked, the headers that describe its bytes must follow.
// Content-Length is recomputed; DynamoDB's x-amz-crc32 (which botocore checks, retrying and then
// failing on a mismatch) is recomputed; S3's x-amz-checksum-* and Content-MD5 cannot stay true for
// a changed body and are dropped — SDKs skip validation when the header is absent.
// ETag is left alone: the JS SDK v3 (@aws-sdk/checksums flexible-checksums) validates only
// x-amz-checksum-* on GetObject and botocore validates nothing on GetObject, so neither reads the
// ETag as an MD5; rewriting it would break later If-Match / If-None-Match requests.

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

/**
 * Headers for a masked body. Unchanged body → the same headers object. Changed → a new object:
 * content-length set, x-amz-crc32 recomputed when present, x-amz-checksum-* and content-md5 dropped,
 * transfer-encoding dropped (the body is a known buffer now), content-range end adjusted.
 */
export function fixMaskedHeaders(headers: Record<string, HeaderValue>, newBody: Buffer, changed: boolean): Record<string, HeaderValue> {
  if (!changed) return headers;
  const out: Record<string, HeaderValue> = {};
  for (const [name, value] of Object.entries(headers)) {
    const lower = name.toLowerCase();
    if (lower === 'content-length' || lower === 'content-md5' || lower === 'transfer-encoding' || lower.startsWith('x-amz-checksum-')) continue;
    if (lower === 'x-amz-crc32') {
      out[name] = String(crc32(newBody));
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
