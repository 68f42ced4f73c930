// Reading a request's raw parts (headers, query, form bodies) the one way identify and dispatch both use. Pure.

import { headerValues as canonicalHeaderValues } from './canonical.js';

export type HeaderInput = Record<string, string | string[] | undefined>;

/** Every value of a header, any name case; repeated headers (an array, as `req.headersDistinct` gives) kept apart. */
export function headerValues(headers: HeaderInput, name: string): string[] {
  return canonicalHeaderValues(headers, name) ?? [];
}

/** The first value of a header (lower-case `name`), any name case. */
export function header(headers: HeaderInput, name: string): string | undefined {
  const direct = headers[name];
  if (direct !== undefined) return Array.isArray(direct) ? direct[0] : direct;
  return headerValues(headers, name)[0];
}

export interface ParsedQuery {
  /** Decoded key → decoded values, in order. Keys are kept as sent. */
  values: Map<string, string[]>;
}

function decodeQueryComponent(text: string): string | undefined {
  try {
    return decodeURIComponent(text.replace(/\+/g, ' '));
  } catch {
    return undefined;
  }
}

/** `a=1&b=2&a=3` (a query string or a form body); undefined when a component has bad percent-encoding. */
export function parseQuery(query: string): ParsedQuery | undefined {
  const values = new Map<string, string[]>();
  if (query === '') return { values };
  for (const part of query.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const key = decodeQueryComponent(eq === -1 ? part : part.slice(0, eq));
    const value = eq === -1 ? '' : decodeQueryComponent(part.slice(eq + 1));
    if (key === undefined || value === undefined) return undefined;
    const list = values.get(key) ?? [];
    list.push(value);
    values.set(key, list);
  }
  return { values };
}

export function isForm(headers: HeaderInput): boolean {
  return (header(headers, 'content-type') ?? '').toLowerCase().startsWith('application/x-www-form-urlencoded');
}

/** `rawPath` split at the first `?`. */
export function splitRawPath(rawPath: string): { path: string; query: string } {
  const q = rawPath.indexOf('?');
  return q === -1 ? { path: rawPath, query: '' } : { path: rawPath.slice(0, q), query: rawPath.slice(q + 1) };
}

/** Smithy RPC v2 CBOR: `/service/<Service>/operation/<Operation>` (with `smithy-protocol: rpc-v2-cbor`). */
export const RPC_V2_PATH = /^\/service\/([^/]+)\/operation\/([^/?]+)$/;
