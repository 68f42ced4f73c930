// compileMasker: the masking policy compiled once (regexes, field-rule index), then applied to
// response bodies, request parameters and log lines. Pure: buffers in, buffers out, no I/O.

import { isUtf8 } from 'node:buffer';
import * as zlib from 'node:zlib';
import type { MaskingConfig } from './config.js';
import type { MaskingReport } from '../events.js';
import { Engine } from './engine.js';
import { maskJsonText } from './json.js';
import { ReportBuilder } from './report.js';
import { maskXmlText } from './xml.js';

export type AwsProtocol = 'json' | 'query' | 'ec2' | 'rest-xml' | 'rest-json';
export type BodyFormat = 'json' | 'xml' | 'text' | 'binary';

export interface BodyInfo {
  contentType?: string;
  contentEncoding?: string;
  protocol?: AwsProtocol;
  /** Signing name (`dynamodb`, `s3`, `secretsmanager`…); `dynamodb` turns on typed-attribute paths. */
  service?: string;
  operation?: string;
}

export interface MaskedBody {
  /** The original buffer (same object) when nothing changed. */
  body: Buffer;
  changed: boolean;
  report: MaskingReport;
  /** How the body was read (`text` after a failed JSON/XML parse); `binary` also for skipped bodies. */
  format: BodyFormat;
}

export interface Masker {
  maskBody(body: Buffer, info: BodyInfo): MaskedBody;
  /** Request parameters (or any JSON-like value) for events and recordings; returns a masked copy. */
  maskValue(value: unknown, info?: Pick<BodyInfo, 'service'>): { value: unknown; report: MaskingReport };
  /** One log line or free text. */
  maskText(text: string): string;
}

type Encoding = 'gzip' | 'deflate' | 'br';

function formatFromContentType(contentType: string | undefined): BodyFormat | undefined {
  if (contentType === undefined) return undefined;
  const base = contentType.split(';')[0].trim().toLowerCase();
  if (base === '') return undefined;
  if (base === 'application/json' || base.startsWith('application/x-amz-json') || base.endsWith('+json') || base === 'text/json') return 'json';
  if (base === 'text/xml' || base === 'application/xml' || base.endsWith('+xml')) return 'xml';
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
    if (info.protocol === 'json' || info.protocol === 'rest-json') return { format: 'json', sniffed: false };
    if (info.protocol === 'query' || info.protocol === 'ec2' || info.protocol === 'rest-xml') return { format: 'xml', sniffed: false };
  }
  return { format: sniff(body), sniffed: true };
}

function parseEncoding(contentEncoding: string | undefined): Encoding | 'none' | 'unknown' {
  const value = (contentEncoding ?? '').trim().toLowerCase();
  if (value === '' || value === 'identity') return 'none';
  if (value === 'gzip' || value === 'x-gzip') return 'gzip';
  if (value === 'deflate') return 'deflate';
  if (value === 'br') return 'br';
  return 'unknown';
}

function decode(body: Buffer, encoding: Encoding, maxOutputLength: number): Buffer {
  const options = { maxOutputLength: Math.max(1, maxOutputLength) };
  if (encoding === 'gzip') return zlib.gunzipSync(body, options);
  if (encoding === 'br') return zlib.brotliDecompressSync(body, options);
  try {
    return zlib.inflateSync(body, options);
  } catch (error) {
    // Some servers send raw deflate without the zlib wrapper.
    if ((error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') throw error;
    return zlib.inflateRawSync(body, options);
  }
}

function encode(body: Buffer, encoding: Encoding): Buffer {
  if (encoding === 'gzip') return zlib.gzipSync(body);
  if (encoding === 'br') return zlib.brotliCompressSync(body);
  return zlib.deflateSync(body);
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

  function maskBody(body: Buffer, info: BodyInfo): MaskedBody {
    const report = new ReportBuilder();
    const untouched = (skipped: MaskingReport['skipped'], format: BodyFormat): MaskedBody => ({ body, changed: false, report: report.build(skipped), format });
    if (body.length === 0) return untouched(undefined, 'text');
    if (body.length > maxBodyBytes) return untouched('too-large', 'binary');

    const encoding = parseEncoding(info.contentEncoding);
    if (encoding === 'unknown') return untouched('encoded', 'binary');
    let plain = body;
    if (encoding !== 'none') {
      try {
        plain = decode(body, encoding, maxBodyBytes);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') return untouched('too-large', 'binary');
        return untouched('encoded', 'binary');
      }
    }

    const { format } = decideFormat(plain, info);
    if (format === 'binary') return untouched('binary', 'binary');
    const dynamodb = (info.service ?? '').toLowerCase().includes('dynamodb');
    const result = maskDocument(plain.toString('utf8'), format, dynamodb, report);
    if (result.masked === null) return untouched(undefined, result.format);
    const newPlain = Buffer.from(result.masked, 'utf8');
    const newBody = encoding === 'none' ? newPlain : encode(newPlain, encoding);
    return { body: newBody, changed: true, report: report.build(), format: result.format };
  }

  function maskValue(value: unknown, info?: Pick<BodyInfo, 'service'>): { value: unknown; report: MaskingReport } {
    const report = new ReportBuilder();
    if (typeof value === 'string') {
      return { value: engine.maskString(value, [], null, report, 0) ?? value, report: report.build() };
    }
    const json = toJson(value);
    if (json === undefined) return { value, report: report.build() };
    const dynamodb = (info?.service ?? '').toLowerCase().includes('dynamodb');
    const masked = maskJsonText(json, engine, report, { basePath: [], maskAll: null, dynamodb, embeddedDepth: 0 });
    // toJson always produces valid JSON, so `undefined` cannot happen; fail closed anyway.
    if (masked === undefined) return { value: '[unmaskable value]', report: report.build() };
    return { value: JSON.parse(masked ?? json) as unknown, report: report.build() };
  }

  function maskText(text: string): string {
    return engine.maskFreeText(text, new ReportBuilder()) ?? text;
  }

  return { maskBody, maskValue, maskText };
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
