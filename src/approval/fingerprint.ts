// What an approval is bound to. The fingerprint is the call itself: the service account, every (IAM action,
// resource) pair decided, the method, the path, the query without signature parameters, every forwarded header that
// can change the call's effect, and the SHA-256 of the exact body bytes forwarded. Two requests with the same
// fingerprint do the same thing upstream; anything else is a different call and needs its own approval.
// A grant's scope (approve --for) is the account and its pairs: a later call passes only if every pair it needs is
// one the approver saw.

import { createHash } from 'node:crypto';
import type { AuthorizationPair } from '../aws/authorize.js';

export type { AuthorizationPair };

export interface CallBinding {
  serviceAccount: string;
  pairs: readonly AuthorizationPair[];
  method: string;
  /** Path and query as forwarded (still percent-encoded). */
  rawPath: string;
  /** Forwarded headers, lower-case names. */
  headers: Readonly<Record<string, string>>;
  /** SHA-256 (hex) of the body bytes forwarded (the decoded payload of an aws-chunked body). */
  bodySha256: string;
}

const SIGNATURE_QUERY = /^x-amz-(signature|credential|date|security-token|expires|signedheaders|algorithm)$/i;

/**
 * Headers that describe the attempt or the transport, or are derived from the body (which is bound by its hash);
 * every other forwarded header can change what the call does and is bound.
 */
const UNBOUND_HEADERS = new Set([
  'authorization',
  'x-amz-date',
  'x-amz-security-token',
  'x-amz-content-sha256',
  'x-amz-decoded-content-length',
  'x-amz-user-agent',
  'user-agent',
  'amz-sdk-invocation-id',
  'amz-sdk-request',
  'content-length',
  'content-md5',
  'expect',
  'host',
  'connection',
  'transfer-encoding',
]);

function isBoundHeader(name: string): boolean {
  return !UNBOUND_HEADERS.has(name) && !name.startsWith('x-amz-checksum-') && name !== 'x-amz-sdk-checksum-algorithm';
}

/** The headers an approver must see and a grant is bound to, sorted by name. */
export function boundHeaders(headers: Readonly<Record<string, string>>): [string, string][] {
  return Object.entries(headers)
    .map(([name, value]) => [name.toLowerCase(), value] as [string, string])
    .filter(([name]) => isBoundHeader(name))
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/** Path, and the query's parameters without signature ones, sorted (the client may order them freely). */
export function canonicalTarget(rawPath: string): { path: string; query: string[] } {
  const q = rawPath.indexOf('?');
  const path = q === -1 ? rawPath : rawPath.slice(0, q);
  const query = q === -1 ? [] : rawPath.slice(q + 1).split('&').filter((part) => part !== '' && !SIGNATURE_QUERY.test(part.split('=', 1)[0]!));
  return { path, query: query.sort() };
}

/** The grant scope: account and sorted, distinct pairs. */
export function pairKeys(pairs: readonly AuthorizationPair[]): string[] {
  return [...new Set(pairs.map((p) => `${p.action} ${p.resource}`))].sort();
}

export function callFingerprint(binding: CallBinding): string {
  const { path, query } = canonicalTarget(binding.rawPath);
  return createHash('sha256')
    .update(
      JSON.stringify([
        'portcullis-call-v2',
        binding.serviceAccount,
        pairKeys(binding.pairs),
        binding.method.toUpperCase(),
        path,
        query,
        boundHeaders(binding.headers),
        binding.bodySha256,
      ]),
    )
    .digest('hex');
}
