// Which client headers go upstream. The policy mirrors what AWS itself accepts:
//  - Dropped: hop-by-hop headers (RFC 9110 §7.6.1, plus anything named in `Connection:`), the client's signing
//    material (re-set by the signer: authorization, x-amz-date, x-amz-security-token, x-amz-content-sha256, host),
//    `expect` (the proxy answers 100-continue itself), and SDK bookkeeping that only describes the client's own
//    attempt (amz-sdk-invocation-id, amz-sdk-request, x-amz-user-agent).
//  - Refused: an `x-amz-*` header the client did not sign. S3 rejects those too ("There were headers present in the
//    request which were not signed"); they change semantics (x-amz-acl, x-amz-copy-source, x-amz-server-side-*),
//    and since the gateway re-signs everything it forwards, forwarding one would vouch for a header nobody signed.
//    Refusing (rather than silently dropping) keeps the request the client asked for or none at all.
//  - Kept: everything else — content-type/-length/-encoding (incl. aws-chunked), content-md5, range, if-*,
//    cache-control, x-amz-meta-*, x-amz-target, x-amz-checksum-*, x-amz-trailer, x-amz-decoded-content-length,
//    user-agent… Standard headers may be unsigned, as at AWS.

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

/** Names the signer or the transport owns, so an unsigned copy of them is dropped, never refused. */
const OWNED_AMZ = new Set(['x-amz-date', 'x-amz-security-token', 'x-amz-content-sha256', 'x-amz-user-agent']);

export interface FilterForwardOptions {
  /**
   * The client's SignedHeaders. When given, an unsigned `x-amz-*` header is refused with MALFORMED_REQUEST
   * (awsCode AccessDenied, as S3 answers). Omit only for requests that carried no signature.
   */
  signedHeaders?: readonly string[];
}

/** True when the header is never forwarded (hop-by-hop, signing material, SDK bookkeeping). */
export function isDroppedHeader(name: string): boolean {
  const lower = name.toLowerCase();
  return DROPPED.has(lower) || lower.startsWith('proxy-');
}

/**
 * The client headers to forward upstream, lowercase names, repeated values joined with `,`.
 * Throws GatewayError when an `x-amz-*` header is present but unsigned (see the file comment).
 */
export function filterForwardHeaders(clientHeaders: HeaderBag, options: FilterForwardOptions = {}): Record<string, string> {
  const connectionNamed = new Set<string>();
  const out: Record<string, string> = {};
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
  const signed = options.signedHeaders === undefined ? undefined : new Set(options.signedHeaders);
  const unsigned: string[] = [];
  for (const [name, values] of collected) {
    if (isDroppedHeader(name) || connectionNamed.has(name)) continue;
    if (signed !== undefined && name.startsWith('x-amz-') && !OWNED_AMZ.has(name) && !signed.has(name)) {
      unsigned.push(name);
      continue;
    }
    out[name] = values.join(',');
  }
  if (unsigned.length > 0) {
    throw new GatewayError(
      'MALFORMED_REQUEST',
      `There were headers present in the request which were not signed: ${unsigned.sort().join(', ')}`,
      { awsCode: 'AccessDenied', status: 403 },
    );
  }
  return out;
}
