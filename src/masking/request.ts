// How the forwarded request changes when its response will be masked. Pure: the stage calls
// prepareMaskedRequest before signing and forwarding, and hands `client` to answerMasked afterwards.
//
// - Accept-Encoding: identity, so the upstream does not compress what the masker must read.
// - `response-content-encoding` / `response-content-type` query overrides are removed: S3 would
//   relabel any plain object with them (an unknown coding used to make the masker pass the body
//   through; now it refuses it, which would turn every relabelled GET into an error). The content
//   type the client asked for is reapplied to the masked answer; the coding never is (the answer is
//   identity).
// - Range, partNumber and the conditions (If-Match, If-None-Match, If-Range and their date twins)
//   are answered by the gateway from the masked document (range.ts explains why; an upstream
//   304/412 would carry the original ETag), so they are not forwarded: the upstream sends it all.
// - A HeadObject is fetched as a GetObject (same IAM action, s3:GetObject) so its ETag and length
//   are those of the masked document a GET would return, not the MD5 of the original.
//
// A body over masking.maxBodyBytes is not masked: the stage then drops the full response and
// forwards `fallback` instead — the client's own request, overrides still removed.

import type { HeaderValue } from './response.js';

export interface ForwardRequest {
  method: string;
  /** Raw path and query as sent on the wire (`/bucket/key?x-id=GetObject`). */
  path: string;
  headers: Record<string, HeaderValue>;
}

/** What the client asked for that the gateway answers itself from the masked document. */
export interface ClientAsk {
  /** The client sent HEAD: answer with the headers of the masked GET and no body. */
  headOnly: boolean;
  range?: string;
  /** GetObject/HeadObject `partNumber`, as sent. */
  partNumber?: string;
  ifRange?: string;
  ifMatch?: string;
  ifNoneMatch?: string;
  ifModifiedSince?: string;
  ifUnmodifiedSince?: string;
  /** `response-content-type` override, decoded; set on the masked answer's Content-Type. */
  contentType?: string;
}

export interface MaskedRequestPlan {
  forward: ForwardRequest;
  client: ClientAsk;
  /** Forwarded instead of `forward` when the full body turns out to be over the masking limit. */
  fallback: ForwardRequest;
}

const STRIPPED_QUERY = new Set(['response-content-encoding', 'response-content-type']);

export function prepareMaskedRequest(request: ForwardRequest & { operation?: string }): MaskedRequestPlan {
  const { method, path, headers, operation } = request;
  const upper = method.toUpperCase();
  const client: ClientAsk = { headOnly: false };
  const query = splitQuery(path);
  const kept: string[] = [];
  const keptWithPart: string[] = [];
  for (const param of query.params) {
    const name = queryName(param);
    if (STRIPPED_QUERY.has(name)) {
      if (name === 'response-content-type') client.contentType = queryValue(param);
      continue;
    }
    keptWithPart.push(param);
    if (name === 'partnumber' && (upper === 'GET' || upper === 'HEAD')) {
      client.partNumber = queryValue(param);
      continue;
    }
    kept.push(param);
  }

  const base: Record<string, HeaderValue> = {};
  for (const [name, value] of Object.entries(headers)) if (name.toLowerCase() !== 'accept-encoding') base[name] = value;
  base['accept-encoding'] = 'identity';

  const forwardHeaders: Record<string, HeaderValue> = { ...base };
  if (upper === 'GET' || upper === 'HEAD') {
    // Every spelling of the name goes (a record built by hand may hold `Range` and `range`).
    const take = (lower: string): string | undefined => {
      const values: string[] = [];
      for (const [name, value] of Object.entries(forwardHeaders)) {
        if (name.toLowerCase() !== lower) continue;
        values.push(...(Array.isArray(value) ? value : [value]));
        delete forwardHeaders[name];
      }
      return values.length === 0 ? undefined : values.join(', ');
    };
    // All of them, date conditions included: an upstream 304 or 412 would carry the original ETag.
    const asked = {
      range: take('range'),
      ifRange: take('if-range'),
      ifMatch: take('if-match'),
      ifNoneMatch: take('if-none-match'),
      ifModifiedSince: take('if-modified-since'),
      ifUnmodifiedSince: take('if-unmodified-since'),
    };
    for (const [key, value] of Object.entries(asked)) if (value !== undefined) client[key as keyof typeof asked] = value;
  }

  const headAsGet = upper === 'HEAD' && operation === 'HeadObject';
  client.headOnly = upper === 'HEAD';
  return {
    forward: { method: headAsGet ? 'GET' : method, path: joinQuery(query, kept), headers: forwardHeaders },
    client,
    fallback: { method, path: joinQuery(query, keptWithPart), headers: base },
  };
}

function splitQuery(raw: string): { path: string; raw: string; params: string[] } {
  const q = raw.indexOf('?');
  if (q < 0) return { path: raw, raw, params: [] };
  const query = raw.slice(q + 1);
  return { path: raw.slice(0, q), raw, params: query === '' ? [] : query.split('&') };
}

function joinQuery(query: { path: string; raw: string; params: string[] }, kept: string[]): string {
  if (kept.length === query.params.length) return query.raw;
  return kept.length === 0 ? query.path : `${query.path}?${kept.join('&')}`;
}

/** The parameter's name as the upstream reads it: percent-decoded, lower-cased (so `Response-Content-Type` and `%72esponse-…` are caught too). */
function queryName(param: string): string {
  const eq = param.indexOf('=');
  const raw = eq < 0 ? param : param.slice(0, eq);
  return safeDecode(raw.replace(/\+/g, ' ')).toLowerCase();
}

function queryValue(param: string): string {
  const eq = param.indexOf('=');
  return eq < 0 ? '' : safeDecode(param.slice(eq + 1).replace(/\+/g, ' '));
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
