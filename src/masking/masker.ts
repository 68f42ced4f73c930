// compileMasker: the masking policy compiled once (regexes, field-rule index), then applied to
// response bodies, request parameters and log lines. Pure: buffers in, buffers out, no I/O.

import { isUtf8 } from 'node:buffer';
import type { MaskingConfig } from './config.js';
import type { MaskingReport } from '../events.js';
import { decodeBody, parseContentEncoding } from './encoding.js';
import { Engine } from './engine.js';
import { headerNameRules, maskHeaderValues, type MaskedHeaders } from './headers.js';
import { maskJsonText } from './json.js';
import { maskCborBody } from './cbor.js';
import { ReportBuilder } from './report.js';
import type { HeaderValue } from './response.js';
import { maskXmlText } from './xml.js';

export type AwsProtocol = 'json' | 'query' | 'ec2' | 'rest-xml' | 'rest-json' | 'rpc-v2-cbor';
export type BodyFormat = 'json' | 'xml' | 'text' | 'cbor' | 'binary';

export interface BodyInfo {
  contentType?: string;
  contentEncoding?: string;
  protocol?: AwsProtocol;
  /** Signing name (`dynamodb`, `s3`, `secretsmanager`…); `dynamodb` turns on typed-attribute paths. */
  service?: string;
  operation?: string;
}

/**
 * `masked`: `body` is the masked document, always identity-encoded (a body that arrived gzip/br/deflate
 * is sent decoded; fixMaskedHeaders drops Content-Encoding). `unchanged`: `body` is the original
 * buffer (same object, still in its original encoding); `report.skipped` says why it was not
 * inspected, if it was not (binary, too large).
 */
export interface MaskedBody {
  outcome: 'masked' | 'unchanged';
  body: Buffer;
  /** outcome === 'masked'. */
  changed: boolean;
  report: MaskingReport;
  /** How the body was read (`text` after a failed JSON/XML parse); `binary` also for skipped bodies. */
  format: BodyFormat;
  /** For a body that is not text (CBOR): the masked document as JSON text, for recordings and the dashboard. */
  excerpt?: string;
}

/**
 * The body carries a Content-Encoding the masker cannot undo (unknown coding, or bytes that do not
 * decode): it must not reach the client. The stage answers with a 502-class error naming `encoding`.
 * `body` is empty and `changed` true so that a caller that ignores `outcome` still sends nothing.
 */
export interface UndecodableBody {
  outcome: 'undecodable';
  /** What could not be read: the Content-Encoding, or the document inside it (a CBOR answer that does not decode). */
  unreadable: 'encoding' | 'document';
  /** The coding as the upstream named it (`zstd`, `gzip`). */
  encoding: string;
  reason: string;
  body: Buffer;
  changed: true;
  report: MaskingReport;
  format: 'binary';
}

export type BodyResult = MaskedBody | UndecodableBody;

export interface Masker {
  maskBody(body: Buffer, info: BodyInfo): BodyResult;
  /** Request parameters (or any JSON-like value) for events and recordings; returns a masked copy. */
  maskValue(value: unknown, info?: Pick<BodyInfo, 'service'>): { value: unknown; report: MaskingReport };
  /** One log line or free text. */
  maskText(text: string): string;
  /** Response headers (user metadata by name and value, other headers by value); headers.ts says which. */
  maskHeaders(headers: Record<string, HeaderValue>): MaskedHeaders;
}

function formatFromContentType(contentType: string | undefined): BodyFormat | undefined {
  if (contentType === undefined) return undefined;
  const base = contentType.split(';')[0].trim().toLowerCase();
  if (base === '') return undefined;
  if (base === 'application/json' || base.startsWith('application/x-amz-json') || base.endsWith('+json') || base === 'text/json') return 'json';
  if (base === 'text/xml' || base === 'application/xml' || base.endsWith('+xml')) return 'xml';
  if (base === 'application/cbor' || base.endsWith('+cbor')) return 'cbor';
  if (base.startsWith('text/') || base === 'application/x-www-form-urlencoded') return 'text';
  return undefined;
}

/** Valid UTF-8 without NUL bytes reads as text; a leading `{`/`[` or `<` gets a structured attempt first. */
function sniff(body: Buffer): BodyFormat {
  if (!isUtf8(body) || body.includes(0)) return 'binary';
  let i = 0;
  while (i < body.length && (body[i] === 0x20 || body[i] === 0x0a || body[i] === 0x0d || body[i] === 0x09)) i++;
  if (i + 2 < body.length && body[i] === 0xef && body[i + 1] === 0xbb && body[i + 2] === 0xbf) i += 3;
  const first = body[i];
  if (first === 0x7b || first === 0x5b) return 'json';
  if (first === 0x3c) return 'xml';
  return 'text';
}

function decideFormat(body: Buffer, info: BodyInfo): { format: BodyFormat; sniffed: boolean } {
  const declared = formatFromContentType(info.contentType);
  // A generic text type (moto answers JSON APIs as text/html) says little: a document that looks like
  // JSON or XML is masked as one, so field rules apply structurally (and fall back to text if it doesn't parse).
  if (declared === 'text') {
    const sniffed = sniff(body);
    return sniffed === 'json' || sniffed === 'xml' ? { format: sniffed, sniffed: true } : { format: 'text', sniffed: false };
  }
  if (declared !== undefined) return { format: declared, sniffed: false };
  // No usable content type: API responses follow their protocol, except object bodies (S3
  // GetObject and anything with an unknown or binary type), which are sniffed.
  const isObjectBody = info.service === 's3' && info.operation === 'GetObject';
  if (info.contentType === undefined && !isObjectBody) {
    if (info.protocol === 'rpc-v2-cbor') return { format: 'cbor', sniffed: false };
    if (info.protocol === 'json' || info.protocol === 'rest-json') return { format: 'json', sniffed: false };
    if (info.protocol === 'query' || info.protocol === 'ec2' || info.protocol === 'rest-xml') return { format: 'xml', sniffed: false };
  }
  return { format: sniff(body), sniffed: true };
}

export function compileMasker(config: MaskingConfig): Masker {
  const engine = new Engine(config);
  const maxBodyBytes = config.maxBodyBytes;

  function maskDocument(text: string, format: BodyFormat, dynamodb: boolean, report: ReportBuilder): { masked: string | null; format: BodyFormat } {
    if (format === 'json') {
      const masked = maskJsonText(text, engine, report, { basePath: [], maskAll: null, dynamodb, embeddedDepth: 0 });
      if (masked !== undefined) return { masked, format };
    } else if (format === 'xml') {
      const masked = maskXmlText(text, engine, report);
      if (masked !== undefined) return { masked, format };
    }
    // Text bodies, and documents that claim a structure but fail to parse: never pass them unmasked.
    return { masked: engine.maskFreeText(text, report), format: 'text' };
  }

  function maskBody(body: Buffer, info: BodyInfo): BodyResult {
    const report = new ReportBuilder();
    const untouched = (skipped: MaskingReport['skipped'], format: BodyFormat): MaskedBody => ({ outcome: 'unchanged', body, changed: false, report: report.build(skipped), format });
    const undecodable = (encoding: string, reason: string, unreadable: UndecodableBody['unreadable'] = 'encoding'): UndecodableBody => ({
      outcome: 'undecodable',
      unreadable,
      encoding,
      reason,
      body: Buffer.alloc(0),
      changed: true,
      report: report.build('encoded'),
      format: 'binary',
    });
    if (body.length === 0) return untouched(undefined, 'text');
    if (body.length > maxBodyBytes) return untouched('too-large', 'binary');

    const encoding = parseContentEncoding(info.contentEncoding);
    if (encoding.kind === 'unsupported') return undecodable(encoding.encoding, `content-encoding ${encoding.encoding} cannot be decoded for masking`);
    let plain = body;
    if (encoding.kind === 'decode') {
      const decoded = decodeBody(body, encoding.codings, maxBodyBytes);
      // A body that inflates past the limit is a large body, which streams through like any other.
      if (decoded.kind === 'too-large') return untouched('too-large', 'binary');
      if (decoded.kind === 'failed') return undecodable(decoded.coding, `the body does not decode as ${decoded.coding}: ${decoded.reason}`);
      plain = decoded.body;
    }

    const { format } = decideFormat(plain, info);
    if (format === 'binary') return untouched('binary', 'binary');
    if (format === 'cbor') {
      const masked = maskCborBody(plain, engine, report);
      if (masked === undefined) {
        // An API answer the masker cannot read is withheld; an S3 object that merely claims to be CBOR is bytes.
        if (!(info.service === 's3' && info.operation === 'GetObject')) return undecodable('cbor', 'the body is not CBOR the masker can read (malformed, a duplicate key, or a tag Smithy does not use)', 'document');
        return untouched('binary', 'binary');
      }
      const excerpt = cborExcerpt(masked.value);
      if (masked.bytes === null) return { ...untouched(undefined, 'cbor'), excerpt };
      return { outcome: 'masked', body: masked.bytes, changed: true, report: report.build(), format: 'cbor', excerpt };
    }
    const dynamodb = (info.service ?? '').toLowerCase().includes('dynamodb');
    const result = maskDocument(plain.toString('utf8'), format, dynamodb, report);
    if (result.masked === null) return untouched(undefined, result.format);
    // Sent decoded rather than re-encoded: one body shape for ranges and ETags, no CPU spent
    // compressing, and identity is acceptable to every client (the stage asks upstream for it anyway).
    return { outcome: 'masked', body: Buffer.from(result.masked, 'utf8'), changed: true, report: report.build(), format: result.format };
  }

  function maskValue(value: unknown, info?: Pick<BodyInfo, 'service'>): { value: unknown; report: MaskingReport } {
    const report = new ReportBuilder();
    if (typeof value === 'string') {
      return { value: engine.maskString(value, [], null, report, 0) ?? value, report: report.build() };
    }
    // Request parameters are almost always plain JSON data: stringified without a replacer, and handed back as they
    // are when nothing in them was masked (no parse of a copy). Anything else goes through toJson's conversions.
    const plain = isPlainJson(value, 0);
    const json = plain ? JSON.stringify(value) : toJson(value);
    if (json === undefined) return { value, report: report.build() };
    const dynamodb = (info?.service ?? '').toLowerCase().includes('dynamodb');
    const masked = maskJsonText(json, engine, report, { basePath: [], maskAll: null, dynamodb, embeddedDepth: 0 });
    // toJson always produces valid JSON, so `undefined` cannot happen; fail closed anyway.
    if (masked === undefined) return { value: '[unmaskable value]', report: report.build() };
    if (masked === null && plain) return { value, report: report.build() };
    return { value: JSON.parse(masked ?? json) as unknown, report: report.build() };
  }

  function maskText(text: string): string {
    return engine.maskFreeText(text, new ReportBuilder()) ?? text;
  }

  const nameRules = headerNameRules(config.fields);
  function maskHeaders(headers: Record<string, HeaderValue>): MaskedHeaders {
    return maskHeaderValues(headers, engine, nameRules);
  }

  return { maskBody, maskValue, maskText, maskHeaders };
}

/** A CBOR document as JSON text (bytes as their length, big numbers as text), cut for an excerpt. */
function cborExcerpt(value: unknown): string {
  const json = JSON.stringify(value, (_key, v: unknown) => {
    if (v instanceof Uint8Array) return `[binary ${v.length} bytes]`;
    if (typeof v === 'bigint') return v.toString();
    return v;
  });
  return (json ?? 'null').slice(0, 2048);
}

/** Strings, finite numbers, booleans, null, and arrays and plain objects of them (no cycles: depth-bounded). */
function isPlainJson(value: unknown, depth: number): boolean {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return true;
  if (typeof value === 'number') return Number.isFinite(value);
  if (typeof value !== 'object' || depth > 32) return false;
  if (Array.isArray(value)) {
    for (const item of value) if (!isPlainJson(item, depth + 1)) return false;
    return true;
  }
  const proto = Object.getPrototypeOf(value) as unknown;
  if (proto !== Object.prototype && proto !== null) return false;
  for (const key in value) if (!isPlainJson((value as Record<string, unknown>)[key], depth + 1)) return false;
  return true;
}

/**
 * JSON text for an arbitrary value: bytes become their text (or a size note when binary), bigints
 * strings, cycles `[circular]`. undefined for a bare `undefined`.
 */
function toJson(value: unknown): string | undefined {
  try {
    return JSON.stringify(value, replacer(null));
  } catch {
    // A cycle: stringify again, cutting every repeated object (shared references too, which is fine for a log).
    return JSON.stringify(value, replacer(new WeakSet<object>()));
  }
}

function replacer(seen: WeakSet<object> | null) {
  return function (this: Record<string, unknown>, key: string, converted: unknown): unknown {
    const original = this[key];
    if (original instanceof Uint8Array) {
      const bytes = Buffer.from(original.buffer, original.byteOffset, original.byteLength);
      return isUtf8(bytes) && !bytes.includes(0) ? bytes.toString('utf8') : `[binary ${bytes.length} bytes]`;
    }
    if (typeof converted === 'bigint') return converted.toString();
    if (seen !== null && typeof converted === 'object' && converted !== null) {
      if (seen.has(converted)) return '[circular]';
      seen.add(converted);
    }
    return converted;
  };
}
