// The wire form of a call for the request record: method, host, path and query (masked, SigV4 signature parameters
// removed), user agent and content type; the request body size; the client's W3C trace context.

import type { RequestWire } from '../events.js';
import type { Flow } from '../flow.js';
import type { Masker } from '../masking/masker.js';
import { firstHeader } from '../lib/headers.js';

/** Presigned-URL parameters that carry or prove credentials: never recorded. */
const SIGNATURE_PARAMS: ReadonlySet<string> = new Set([
  'x-amz-signature',
  'x-amz-credential',
  'x-amz-security-token',
  'x-amz-signedheaders',
  'x-amz-algorithm',
  'x-amz-date',
  'x-amz-expires',
]);


function decode(text: string): string {
  try {
    return decodeURIComponent(text.replace(/\+/g, ' '));
  } catch {
    return text;
  }
}

export function requestWire(flow: Flow, masker: Pick<Masker, 'maskText'>): RequestWire {
  const mark = flow.rawPath.indexOf('?');
  const rawPath = mark === -1 ? flow.rawPath : flow.rawPath.slice(0, mark);
  const query = (mark === -1 ? '' : flow.rawPath.slice(mark + 1))
    .split('&')
    .filter((part) => part !== '')
    .map((part) => {
      const eq = part.indexOf('=');
      return { name: decode(eq === -1 ? part : part.slice(0, eq)), value: eq === -1 ? '' : decode(part.slice(eq + 1)) };
    })
    .filter((p) => !SIGNATURE_PARAMS.has(p.name.toLowerCase()))
    .map((p) => ({ name: p.name, value: masker.maskText(p.value) }));
  const host = firstHeader(flow.req.headers.host);
  const contentType = firstHeader(flow.req.headers['content-type']);
  return {
    method: flow.method,
    ...(host === undefined ? {} : { host }),
    path: masker.maskText(decode(rawPath.replace(/\+/g, '%2B'))),
    ...(query.length > 0 ? { query } : {}),
    ...(flow.userAgent === undefined ? {} : { userAgent: flow.userAgent }),
    ...(contentType === undefined ? {} : { contentType }),
  };
}

/** Bytes of request body: the decoded length of a chunked upload, Content-Length, or the body read. */
export function requestBytes(flow: Flow): number | undefined {
  const decoded = Number(firstHeader(flow.req.headers['x-amz-decoded-content-length']));
  if (Number.isSafeInteger(decoded) && decoded >= 0) return decoded;
  const declared = Number(firstHeader(flow.req.headers['content-length']));
  if (Number.isSafeInteger(declared) && declared >= 0) return declared;
  return flow.body?.length;
}

const TRACEPARENT = /^00-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}$/;

/** The client's `traceparent` header when it is a valid version-00 W3C trace context. */
export function clientTraceparent(flow: Flow): string | undefined {
  const value = firstHeader(flow.req.headers.traceparent)?.trim().toLowerCase();
  return value !== undefined && TRACEPARENT.test(value) ? value : undefined;
}
