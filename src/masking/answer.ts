// The answer to the client, built from the masked full document and what the client asked for
// (request.ts took range, partNumber and the ETag conditions off the forwarded request). Pure.
//
// Order, as RFC 9110 §13.2.2 gives it: If-Match (else If-Unmodified-Since) → 412, If-None-Match
// (else If-Modified-Since) → 304, then partNumber or Range — the latter only when If-Range holds. The masked document is presented as a
// single-part object: partNumber=1 is all of it, any other part number is 416 InvalidPartNumber.

import type { MaskedBody } from './masker.js';
import type { ClientAsk } from './request.js';
import { sliceMaskedRange } from './range.js';
import { fixMaskedHeaders, type HeaderValue } from './response.js';

export type MaskedAnswer =
  | { kind: 'send'; status: number; headers: Record<string, HeaderValue>; body: Buffer }
  /**
   * An S3-style error the respond stage writes (REST-XML `<Error><Code>…`). `headers` carries
   * Content-Range on a 416, as S3 and RFC 9110 give it.
   */
  | { kind: 'refuse'; status: 400 | 412 | 416; code: 'InvalidRequest' | 'InvalidArgument' | 'PreconditionFailed' | 'InvalidRange' | 'InvalidPartNumber'; message: string; headers: Record<string, HeaderValue> };

/**
 * `status` and `headers` are the upstream's (headers already through maskHeaders); `masked` is the
 * maskBody result for the whole body. Only a 200 is sliced or evaluated: an error, a 304 or any
 * other status goes back as it came, with its headers fixed for the masked body.
 */
export function answerMasked(status: number, headers: Record<string, HeaderValue>, masked: MaskedBody, client: ClientAsk): MaskedAnswer {
  const full = fixMaskedHeaders(headers, masked.body, masked.changed);
  const send = (status: number, hdrs: Record<string, HeaderValue>, body: Buffer): MaskedAnswer => ({
    kind: 'send',
    status,
    headers: client.contentType !== undefined && status < 300 ? setHeader(hdrs, 'content-type', client.contentType) : hdrs,
    body: client.headOnly ? Buffer.alloc(0) : body,
  });
  if (status !== 200) return send(status, full, masked.body);

  const etag = getHeader(full, 'etag');
  const lastModified = parseDate(getHeader(full, 'last-modified'));
  const preconditionFailed =
    client.ifMatch !== undefined
      ? !etagListMatches(client.ifMatch, etag, 'strong')
      : lastModified !== null && compareDate(lastModified, client.ifUnmodifiedSince) === 'after';
  if (preconditionFailed) {
    return { kind: 'refuse', status: 412, code: 'PreconditionFailed', message: 'At least one of the pre-conditions you specified did not hold', headers: {} };
  }
  const notModified =
    client.ifNoneMatch !== undefined
      ? etagListMatches(client.ifNoneMatch, etag, 'weak')
      : lastModified !== null && compareDate(lastModified, client.ifModifiedSince) === 'not-after';
  if (notModified) return send(304, withoutHeaders(full, ['content-length', 'content-range', 'content-type']), Buffer.alloc(0));

  const total = masked.body.length;
  if (client.partNumber !== undefined) {
    if (client.range !== undefined) return { kind: 'refuse', status: 400, code: 'InvalidRequest', message: 'Cannot specify both Range header and partNumber query parameter', headers: {} };
    if (!/^[1-9][0-9]{0,4}$/.test(client.partNumber) || Number(client.partNumber) > 10000) {
      return { kind: 'refuse', status: 400, code: 'InvalidArgument', message: 'Part number must be an integer between 1 and 10000, inclusive', headers: {} };
    }
    if (client.partNumber !== '1') {
      return { kind: 'refuse', status: 416, code: 'InvalidPartNumber', message: 'The requested partnumber is not satisfiable', headers: {} };
    }
    const partHeaders = setHeader(full, 'x-amz-mp-parts-count', '1');
    if (total === 0) return send(200, partHeaders, masked.body);
    return send(206, setHeader(setHeader(partHeaders, 'content-range', `bytes 0-${total - 1}/${total}`), 'content-length', String(total)), masked.body);
  }

  if (client.range === undefined || !ifRangeHolds(client.ifRange, etag, getHeader(full, 'last-modified'))) return send(200, full, masked.body);
  const slice = sliceMaskedRange(masked.body, client.range);
  if (slice.kind === 'ignored') return send(200, full, masked.body);
  if (slice.kind === 'unsatisfiable') {
    return { kind: 'refuse', status: 416, code: 'InvalidRange', message: 'The requested range is not satisfiable', headers: { 'content-range': slice.contentRange } };
  }
  return send(206, setHeader(setHeader(full, 'content-range', slice.contentRange), 'content-length', String(slice.body.length)), slice.body);
}

function parseDate(value: string | undefined): number | null {
  if (value === undefined) return null;
  const t = Date.parse(value);
  return Number.isFinite(t) ? t : null;
}

/** `time` against the HTTP date `value`; null when there is no readable date, which is ignored (RFC 9110 §13.1.3/4). */
function compareDate(time: number, value: string | undefined): 'after' | 'not-after' | null {
  const other = parseDate(value);
  if (other === null) return null;
  return time > other ? 'after' : 'not-after';
}

/** If-Range: an entity tag must match strongly, a date must equal Last-Modified; absent holds. */
function ifRangeHolds(ifRange: string | undefined, etag: string | undefined, lastModified: string | undefined): boolean {
  if (ifRange === undefined) return true;
  const value = ifRange.trim();
  if (value.startsWith('"') || value.startsWith('W/')) return etag !== undefined && !value.startsWith('W/') && !etag.startsWith('W/') && value === etag.trim();
  if (lastModified === undefined) return false;
  const a = Date.parse(value);
  const b = Date.parse(lastModified);
  return Number.isFinite(a) && a === b;
}

/** If-Match (strong comparison) / If-None-Match (weak): `*` or any listed tag equal to `etag`. */
export function etagListMatches(list: string, etag: string | undefined, comparison: 'strong' | 'weak'): boolean {
  if (list.trim() === '*') return etag !== undefined;
  if (etag === undefined) return false;
  const opaque = (tag: string): string | null => {
    const t = tag.trim();
    const weak = t.startsWith('W/');
    if (weak && comparison === 'strong') return null;
    return weak ? t.slice(2) : t;
  };
  const mine = opaque(etag);
  if (mine === null) return false;
  for (const m of list.matchAll(/(?:W\/)?"[^"]*"|[^,\s"]+/g)) {
    // Unquoted tags are accepted as S3 does (clients sometimes send the bare MD5).
    const candidate = opaque(m[0]);
    if (candidate === null) continue;
    const quoted = candidate.startsWith('"') ? candidate : `"${candidate}"`;
    if (quoted === mine) return true;
  }
  return false;
}

function getHeader(headers: Record<string, HeaderValue>, lower: string): string | undefined {
  for (const [name, value] of Object.entries(headers)) if (name.toLowerCase() === lower) return Array.isArray(value) ? value[0] : value;
  return undefined;
}

function withoutHeaders(headers: Record<string, HeaderValue>, lowers: string[]): Record<string, HeaderValue> {
  const out: Record<string, HeaderValue> = {};
  for (const [name, value] of Object.entries(headers)) if (!lowers.includes(name.toLowerCase())) out[name] = value;
  return out;
}

function setHeader(headers: Record<string, HeaderValue>, lower: string, value: string): Record<string, HeaderValue> {
  const out = withoutHeaders(headers, [lower]);
  out[lower] = value;
  return out;
}
