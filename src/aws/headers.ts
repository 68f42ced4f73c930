// Which client headers go upstream. The gateway re-signs everything it forwards, so forwarding a header the client
// did not sign would vouch for it with the gateway's authority: only what was signed goes upstream, with the few
// exceptions below, each because a stock client leaves it unsigned AND it cannot change what the call does.
//
//  - Dropped always: hop-by-hop headers (RFC 9110 §7.6.1, anything named in `Connection:`, HTTP/2 pseudo-headers),
//    the client's signing material (re-set by the signer: authorization, x-amz-date, x-amz-security-token,
//    x-amz-content-sha256, host), `expect` (the proxy answers 100-continue itself), and SDK bookkeeping that only
//    describes the client's own attempt (amz-sdk-invocation-id, amz-sdk-request, x-amz-user-agent).
//  - Dropped when unsigned: content negotiation and browser/tracing noise (accept, accept-encoding,
//    accept-language, sec-*, referer, cookie, origin, pragma, x-amzn-trace-id…). They shape the response at most;
//    botocore never signs accept-encoding, browsers add the rest to presigned-URL fetches.
//  - Kept when unsigned:
//      user-agent     — no SDK signs it (HTTP stacks rewrite it); it is a label, not an input.
//      content-length — botocore and JS v3 (CopyObject, UploadPartCopy) add it after signing; it frames the body the
//                       gateway forwards, and the transport checks it against that body.
//      cache-control  — JS SDK v3 never signs it (@smithy/signature-v4 ALWAYS_UNSIGNABLE_HEADERS), and AWS accepts
//                       it unsigned. Its only effect is the object's stored Cache-Control metadata (PutObject,
//                       CopyObject, CreateMultipartUpload): it cannot change which call is made or on what.
//      presigned GET/HEAD only: range and the read conditionals (if-match, if-none-match, if-modified-since,
//                       if-unmodified-since). The URL's holder is not its signer by design (curl, browsers add
//                       them unsigned), and they can only narrow the read the URL grants, never widen it.
//  - Refused when unsigned (the error names them): everything else, in particular every `x-amz-*` / `x-amzn-*`
//    header (x-amz-acl, x-amz-copy-source, x-amz-tagging, x-amz-server-side-*: S3 refuses those too) and the
//    standard headers the upstream interprets: content-type, content-md5, content-encoding, content-disposition,
//    content-language, expires, range, if-*. The AWS CLI v1, boto3 and JS SDK v3 sign all of these whenever they
//    send them (measured; see shared/AWS-CLIENTS.md), so only a request altered after signing meets this.
//    Refusing rather than dropping keeps the request the client asked for or none at all.

import { GatewayError } from '../errors.js';
import type { HeaderBag } from './canonical.js';

const DROPPED = new Set([
  // hop-by-hop
  'connection',
  'keep-alive',
  'te',
  'trailer',
  'upgrade',
  'transfer-encoding',
  'proxy-connection',
  'http2-settings',
  // answered by the gateway itself
  'expect',
  // re-set by the signer
  'authorization',
  'host',
  'x-amz-date',
  'x-amz-security-token',
  'x-amz-content-sha256',
  // describe the client's attempt, not the request
  'amz-sdk-invocation-id',
  'amz-sdk-request',
  'x-amz-user-agent',
]);

/** Shape the response at most: forwarded when signed, dropped when not. */
const DROPPED_WHEN_UNSIGNED = new Set([
  'accept',
  'accept-encoding',
  'accept-language',
  'accept-charset',
  'referer',
  'cookie',
  'origin',
  'pragma',
  'dnt',
  'from',
  'max-forwards',
  'priority',
  'via',
  'forwarded',
  'x-forwarded-for',
  'x-forwarded-host',
  'x-forwarded-proto',
  'x-amzn-trace-id',
  'x-requested-with',
  'upgrade-insecure-requests',
]);

/** Left unsigned by stock clients and unable to change the call (see the file comment). */
const KEPT_UNSIGNED = new Set(['user-agent', 'content-length', 'cache-control']);

/** Narrow a read; kept unsigned on presigned GET/HEAD only. */
const READ_NARROWING = new Set(['range', 'if-match', 'if-none-match', 'if-modified-since', 'if-unmodified-since']);

export interface FilterForwardOptions {
  /**
   * The client's SignedHeaders (`ParsedSignature.signedHeaders`: from the Authorization header, or from
   * X-Amz-SignedHeaders for a presigned URL). When given, unsigned headers are handled as the file comment says.
   * Omit only for requests that carried no signature (the STS web-identity call).
   */
  signedHeaders?: readonly string[];
  /** `ParsedSignature.presigned`. */
  presigned?: boolean;
  /** The request method; with `presigned`, decides whether range/if-* may be unsigned. */
  method?: string;
}

/** True when the header is never forwarded (hop-by-hop, signing material, SDK bookkeeping). */
export function isDroppedHeader(name: string): boolean {
  const lower = name.toLowerCase();
  return DROPPED.has(lower) || lower.startsWith('proxy-') || lower.startsWith(':');
}

type Disposition = 'forward' | 'drop' | 'refuse';

function unsignedDisposition(name: string, options: FilterForwardOptions): Disposition {
  if (KEPT_UNSIGNED.has(name)) return 'forward';
  if (DROPPED_WHEN_UNSIGNED.has(name) || name.startsWith('sec-')) return 'drop';
  const method = (options.method ?? '').toUpperCase();
  if (options.presigned === true && (method === 'GET' || method === 'HEAD') && READ_NARROWING.has(name)) return 'forward';
  return 'refuse';
}

function collect(clientHeaders: HeaderBag): { collected: Map<string, string[]>; connectionNamed: Set<string> } {
  const connectionNamed = new Set<string>();
  const collected = new Map<string, string[]>();
  for (const [rawName, rawValue] of Object.entries(clientHeaders)) {
    if (rawValue === undefined) continue;
    const name = rawName.toLowerCase();
    const values = Array.isArray(rawValue) ? [...(rawValue as readonly string[])] : [String(rawValue)];
    if (name === 'connection') {
      for (const v of values) for (const token of v.split(',')) connectionNamed.add(token.trim().toLowerCase());
    }
    const existing = collected.get(name);
    if (existing === undefined) collected.set(name, values);
    else existing.push(...values);
  }
  return { collected, connectionNamed };
}

/**
 * The headers present but not signed that would have to be forwarded (sorted), or `[]`. A pipeline stage can call
 * this right after SigV4 verification to refuse before anything is recorded; `filterForwardHeaders` applies the
 * same rule.
 */
export function unsignedForwardedHeaders(clientHeaders: HeaderBag, options: FilterForwardOptions): string[] {
  if (options.signedHeaders === undefined) return [];
  const signed = new Set(options.signedHeaders);
  const { collected, connectionNamed } = collect(clientHeaders);
  const refused: string[] = [];
  for (const name of collected.keys()) {
    if (isDroppedHeader(name) || connectionNamed.has(name) || signed.has(name)) continue;
    if (unsignedDisposition(name, options) === 'refuse') refused.push(name);
  }
  return refused.sort();
}

/** The refusal for unsigned headers (S3's own wording and code: 403 AccessDenied). */
export function unsignedHeadersError(names: readonly string[]): GatewayError {
  return new GatewayError('MALFORMED_REQUEST', `There were headers present in the request which were not signed: ${names.join(', ')}`, {
    awsCode: 'AccessDenied',
    status: 403,
  });
}

/**
 * The client headers to forward upstream, lowercase names, repeated values joined with `,`.
 * Throws `unsignedHeadersError` when a header that must be signed is not (see the file comment).
 */
export function filterForwardHeaders(clientHeaders: HeaderBag, options: FilterForwardOptions = {}): Record<string, string> {
  const { collected, connectionNamed } = collect(clientHeaders);
  const signed = options.signedHeaders === undefined ? undefined : new Set(options.signedHeaders);
  const out: Record<string, string> = {};
  const refused: string[] = [];
  for (const [name, values] of collected) {
    if (isDroppedHeader(name) || connectionNamed.has(name)) continue;
    if (signed !== undefined && !signed.has(name)) {
      const disposition = unsignedDisposition(name, options);
      if (disposition === 'drop') continue;
      if (disposition === 'refuse') {
        refused.push(name);
        continue;
      }
    }
    out[name] = values.join(',');
  }
  if (refused.length > 0) throw unsignedHeadersError(refused.sort());
  return out;
}
