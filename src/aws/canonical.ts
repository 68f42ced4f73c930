// SigV4 canonicalisation, written by hand because it is the product's own security boundary: the same functions
// build the canonical request when verifying a client and when re-signing for upstream, so what we check is what we
// sign. Cross-checked in tests against @smithy/signature-v4 (JS SDK v3) and botocore.

import { createHmac, hash } from 'node:crypto';
import { hasLowerCaseNames } from '../lib/headers.js';

/** Request headers as Node gives them (`req.headers` or `req.headersDistinct`), or a plain record. */
export type HeaderBag = Record<string, string | readonly string[] | number | undefined>;

export const SIGV4_ALGORITHM = 'AWS4-HMAC-SHA256';
export const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

export function sha256Hex(data: string | Uint8Array): string {
  // The one-shot crypto.hash (Node 20.12+) costs half of createHash().update().digest() on short inputs.
  return hash('sha256', data, 'hex');
}

export function hmac(key: Uint8Array | string, data: string): Buffer {
  return createHmac('sha256', key).update(data, 'utf8').digest();
}

/** HMAC-SHA-256's inner and outer key blocks (RFC 2104), worked out once per signing key. */
interface HmacPads {
  inner: Buffer;
  outer: Buffer;
}
const SHA256_BLOCK = 64;
const hmacPads = new WeakMap<Uint8Array, HmacPads>();

/**
 * HMAC-SHA-256 under a signing key used again and again (the signing-key cache hands out the same Buffer): the key
 * blocks are kept with the key, and each signature is two one-shot SHA-256 hashes instead of a new Hmac object.
 * Same result as `hmac(key, data)` (test/aws/canonical.test.ts checks them against each other).
 */
export function hmacWithKey(key: Uint8Array, data: string): Buffer {
  let pads = hmacPads.get(key);
  if (pads === undefined) {
    if (key.length > SHA256_BLOCK) return hmac(key, data);
    const inner = Buffer.alloc(SHA256_BLOCK, 0x36);
    const outer = Buffer.alloc(SHA256_BLOCK, 0x5c);
    for (let i = 0; i < key.length; i++) {
      inner[i]! ^= key[i]!;
      outer[i]! ^= key[i]!;
    }
    pads = { inner, outer };
    hmacPads.set(key, pads);
  }
  const message = Buffer.allocUnsafe(SHA256_BLOCK + Buffer.byteLength(data, 'utf8'));
  pads.inner.copy(message, 0);
  message.write(data, SHA256_BLOCK, 'utf8');
  const innerDigest = hash('sha256', message, 'buffer') as unknown as Buffer;
  const outerMessage = Buffer.allocUnsafe(SHA256_BLOCK + innerDigest.length);
  pads.outer.copy(outerMessage, 0);
  innerDigest.copy(outerMessage, SHA256_BLOCK);
  return hash('sha256', outerMessage, 'buffer') as unknown as Buffer;
}

/** Services whose canonical URI is the path exactly as sent (no normalisation, no second encoding). */
export function isS3Service(service: string): boolean {
  return service === 's3' || service === 's3-object-lambda' || service === 's3-outposts';
}

const UNRESERVED = new Uint8Array(128);
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~') UNRESERVED[c.charCodeAt(0)] = 1;
const HEX = '0123456789ABCDEF';

/** RFC 3986 encoding as SigV4 defines it: every byte but A-Z a-z 0-9 - . _ ~ becomes %XX (uppercase). */
export function uriEncode(input: string | Uint8Array, encodeSlash = true): string {
  const bytes = typeof input === 'string' ? Buffer.from(input, 'utf8') : input;
  let out = '';
  for (const b of bytes) {
    if (b < 128 && UNRESERVED[b] === 1) out += String.fromCharCode(b);
    else if (b === 0x2f && !encodeSlash) out += '/';
    else out += '%' + HEX[b >> 4] + HEX[b & 15];
  }
  return out;
}

function hexValue(code: number): number {
  if (code >= 48 && code <= 57) return code - 48;
  if (code >= 65 && code <= 70) return code - 55;
  if (code >= 97 && code <= 102) return code - 87;
  return -1;
}

/**
 * Percent-decoding to bytes. A `%` not followed by two hex digits stays a literal `%`, and invalid UTF-8 survives,
 * so decode→encode never throws and never merges two different inputs into one. `+` is a literal plus (RFC 3986),
 * not a space: no AWS SDK sends a raw `+` in a query.
 */
export function percentDecodeBytes(text: string): Buffer {
  if (!text.includes('%')) return Buffer.from(text, 'utf8');
  const parts: Buffer[] = [];
  let literalStart = 0;
  let i = 0;
  while (i < text.length) {
    if (text.charCodeAt(i) === 0x25 && i + 2 < text.length) {
      const hi = hexValue(text.charCodeAt(i + 1));
      const lo = hexValue(text.charCodeAt(i + 2));
      if (hi >= 0 && lo >= 0) {
        if (i > literalStart) parts.push(Buffer.from(text.slice(literalStart, i), 'utf8'));
        parts.push(Buffer.of(hi * 16 + lo));
        i += 3;
        literalStart = i;
        continue;
      }
    }
    i += 1;
  }
  if (text.length > literalStart) parts.push(Buffer.from(text.slice(literalStart), 'utf8'));
  return Buffer.concat(parts);
}

/** Percent-decoded text (UTF-8), for reading parameter values such as X-Amz-Credential. */
export function percentDecode(text: string): string {
  return percentDecodeBytes(text).toString('utf8');
}

/** RFC 3986 §5.2.4 plus AWS's rule that empty segments go too (botocore and smithy agree on this). */
function removeDotSegments(path: string): string {
  const out: string[] = [];
  for (const segment of path.split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') out.pop();
    else out.push(segment);
  }
  const lead = path.startsWith('/') ? '/' : '';
  const trail = out.length > 0 && path.endsWith('/') ? '/' : '';
  return lead + out.join('/') + trail;
}

/**
 * Canonical URI. S3: the path exactly as received (clients sign what they send; S3 keys may contain `//`, `.`).
 * Every other service: dot segments and empty segments removed, then the already-encoded path encoded again
 * (`%20` → `%2520`) — the standard SigV4 double-encoding.
 */
export function canonicalUri(path: string, service: string): string {
  if (path === '') return '/';
  if (isS3Service(service)) return path;
  return uriEncode(removeDotSegments(path), false);
}

export interface QueryPair {
  /** Raw (still percent-encoded) key and value as they appeared on the wire. */
  key: string;
  value: string;
}

/** Splits a raw query string into pairs without decoding. `a&b=` → [{a,''},{b,''}]; empty pieces are skipped. */
export function splitQuery(rawQuery: string): QueryPair[] {
  const pairs: QueryPair[] = [];
  if (rawQuery === '') return pairs;
  for (const piece of rawQuery.split('&')) {
    if (piece === '') continue;
    const eq = piece.indexOf('=');
    if (eq === -1) pairs.push({ key: piece, value: '' });
    else pairs.push({ key: piece.slice(0, eq), value: piece.slice(eq + 1) });
  }
  return pairs;
}

function compareCodeUnits(a: string, b: string): number {
  // Encoded strings are ASCII, so UTF-16 order is byte order.
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Canonical query: every key and value decoded then RFC 3986-encoded, sorted by encoded key then encoded value,
 * every value of a repeated key kept. Presigned requests drop X-Amz-Signature.
 */
export function canonicalQuery(rawQuery: string, options: { excludeSignature?: boolean } = {}): string {
  const encoded: Array<[string, string]> = [];
  for (const { key, value } of splitQuery(rawQuery)) {
    const k = uriEncode(percentDecodeBytes(key));
    if (options.excludeSignature === true && k === 'X-Amz-Signature') continue;
    encoded.push([k, uriEncode(percentDecodeBytes(value))]);
  }
  encoded.sort((a, b) => compareCodeUnits(a[0], b[0]) || compareCodeUnits(a[1], b[1]));
  return encoded.map(([k, v]) => `${k}=${v}`).join('&');
}

/** All values of one header (case-insensitive name), or undefined when absent. */
export function headerValues(headers: HeaderBag, name: string): string[] | undefined {
  const lower = name.toLowerCase();
  if (hasLowerCaseNames(headers)) {
    const value = headers[lower];
    if (value === undefined) return undefined;
    return Array.isArray(value) ? [...(value as readonly string[])] : [String(value)];
  }
  let found: string[] | undefined;
  // for…in, not Object.keys: no array per call; a key of another length is skipped without lower-casing it.
  for (const key in headers) {
    if (key.length !== lower.length || (key !== lower && key.toLowerCase() !== lower)) continue;
    const value = headers[key];
    if (value === undefined) continue;
    found ??= [];
    if (Array.isArray(value)) found.push(...(value as readonly string[]));
    else found.push(String(value));
  }
  return found;
}

/** One header as a single string (multiple values joined with `,`), or undefined. */
export function headerValue(headers: HeaderBag, name: string): string | undefined {
  return headerValues(headers, name)?.join(',');
}

/** SigV4 "Trimall": trim, and collapse runs of whitespace to one space (botocore `' '.join(v.split())`). */
export function trimAll(value: string): string {
  // Most values have nothing to trim: a leading or trailing blank, two in a row, or one that is not a plain space
  // is what the trim and the collapse would change, so without any of them the value is its own result.
  return NEEDS_TRIM.test(value) ? value.trim().replace(/\s+/g, ' ') : value;
}

const NEEDS_TRIM = /^\s|\s$|\s\s|[^\S ]/;

/** Canonical header block: `name:value\n` per signed header, in the order given (callers pass sorted names). */
export function canonicalHeaders(headers: HeaderBag, signedHeaders: readonly string[]): string {
  let out = '';
  const lowerCase = hasLowerCaseNames(headers);
  for (const name of signedHeaders) {
    // One value in a lower-case bag (the usual case): no array per header.
    const found = lowerCase ? headers[name] : undefined;
    const single = Array.isArray(found) ? (found.length === 1 ? (found[0] as unknown) : undefined) : found;
    if (typeof single === 'string') {
      out += `${name}:${trimAll(single)}\n`;
      continue;
    }
    const values = headerValues(headers, name);
    if (values === undefined) throw new MissingSignedHeaderError(name);
    out += `${name}:${values.map(trimAll).join(',')}\n`;
  }
  return out;
}

/** A header named in SignedHeaders is not on the request; the caller turns this into its own error. */
export class MissingSignedHeaderError extends Error {
  readonly header: string;
  constructor(header: string) {
    super(`signed header '${header}' is not present on the request`);
    this.name = 'MissingSignedHeaderError';
    this.header = header;
  }
}

export interface CanonicalRequestInput {
  method: string;
  /** Path + optional `?query`, exactly as on the wire. */
  rawPath: string;
  headers: HeaderBag;
  /** Lowercase, sorted. */
  signedHeaders: readonly string[];
  payloadHash: string;
  service: string;
  /** Presigned requests leave X-Amz-Signature out of the canonical query. */
  presigned?: boolean;
}

export function splitRawPath(rawPath: string): { path: string; query: string } {
  const hash = rawPath.indexOf('#');
  const clean = hash === -1 ? rawPath : rawPath.slice(0, hash);
  const q = clean.indexOf('?');
  return q === -1 ? { path: clean, query: '' } : { path: clean.slice(0, q), query: clean.slice(q + 1) };
}

export function canonicalRequest(input: CanonicalRequestInput): string {
  const { path, query } = splitRawPath(input.rawPath);
  return [
    input.method.toUpperCase(),
    canonicalUri(path, input.service),
    canonicalQuery(query, { excludeSignature: input.presigned === true }),
    canonicalHeaders(input.headers, input.signedHeaders),
    input.signedHeaders.join(';'),
    input.payloadHash,
  ].join('\n');
}

export function credentialScope(scopeDate: string, region: string, service: string): string {
  return `${scopeDate}/${region}/${service}/aws4_request`;
}

export function stringToSign(amzDate: string, scope: string, canonicalRequestText: string): string {
  return `${SIGV4_ALGORITHM}\n${amzDate}\n${scope}\n${sha256Hex(canonicalRequestText)}`;
}

/** The 4-HMAC key derivation; callers go through the cache in sigv4-keycache.ts. */
export function deriveSigningKey(secretAccessKey: string, scopeDate: string, region: string, service: string): Buffer {
  const kDate = hmac(`AWS4${secretAccessKey}`, scopeDate);
  const kRegion = hmac(kDate, region);
  const kService = hmac(kRegion, service);
  return hmac(kService, 'aws4_request');
}

/** `YYYYMMDDTHHMMSSZ` for a Date. */
export function formatAmzDate(date: Date): string {
  const iso = date.toISOString();
  // `YYYY-MM-DDTHH:MM:SS.sssZ`; the regexes only for years past 9999 (`+YYYYYY-…`), which no clock should show.
  if (iso.length !== 24) return iso.replace(/[-:]/g, '').replace(/\.\d{3}/, '');
  return `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}Z`;
}

const AMZ_DATE = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/;

/** Parses `YYYYMMDDTHHMMSSZ`; undefined when the text is not a real UTC instant in that exact form. */
export function parseAmzDate(text: string): Date | undefined {
  const m = AMZ_DATE.exec(text);
  if (m === null) return undefined;
  const y = Number(m[1]);
  const mo = Number(m[2]);
  const d = Number(m[3]);
  const h = Number(m[4]);
  const mi = Number(m[5]);
  const s = Number(m[6]);
  const date = new Date(Date.UTC(y, mo - 1, d, h, mi, s));
  // Every field must come back as written: rejects 20260230T..., 25:00:00, and years 0000-0099 (which Date.UTC
  // reads as 1900-1999).
  if (
    date.getUTCFullYear() !== y ||
    date.getUTCMonth() !== mo - 1 ||
    date.getUTCDate() !== d ||
    date.getUTCHours() !== h ||
    date.getUTCMinutes() !== mi ||
    date.getUTCSeconds() !== s
  ) {
    return undefined;
  }
  return date;
}
