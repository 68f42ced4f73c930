// Re-signing the outgoing request with real credentials, over the same canonicalisation the verifier uses
// (canonical.ts), so the request the gateway verified is the request it signs. Pure.

import type { AwsCredentials } from './upstream.js';
import { SIGV4_ALGORITHM, canonicalRequest, credentialScope, formatAmzDate, hmacWithKey, stringToSign } from './canonical.js';
import { SigningKeyCache, defaultSigningKeyCache } from './sigv4-keycache.js';
import type { VerifiedSignature } from './sigv4.js';
import { markLowerCaseHeaders } from '../lib/headers.js';

export type { AwsCredentials };

export interface SignOutgoingInput {
  method: string;
  /** Upstream origin + path as the client encoded it + query. */
  url: URL;
  /**
   * Path + query to sign and send, when it must not go through WHATWG URL parsing (which resolves `..` and `%2e`
   * segments — legal in S3 keys). Defaults to url.pathname + url.search.
   */
  rawPath?: string;
  /** Already filtered (filterForwardHeaders). */
  headers: Record<string, string>;
  region: string;
  service: string;
  credentials: AwsCredentials;
  payloadHash: string;
  now: Date;
  keyCache?: SigningKeyCache;
  /** A lower-case header name neither signed nor returned (the caller adds it back unsigned). */
  leaveOut?: string;
}

export interface SignedOutgoing {
  /** Every header to send, lowercase names, all of them signed. */
  headers: Record<string, string>;
  /** Seed for re-signing aws-chunked bodies (chunked.ts). */
  signing: VerifiedSignature;
}

// Set by the signer, so a stale client copy must not survive.
const SIGNER_OWNED = new Set(['authorization', 'host', 'x-amz-date', 'x-amz-security-token', 'x-amz-content-sha256']);

/** Signs the outgoing request with real credentials; returns the headers and the chunk-signing seed. */
export function signOutgoingRequest(input: SignOutgoingInput): SignedOutgoing {
  const headers: Record<string, string> = {};
  // Every name lower-cased here (and by the signer below): canonicalHeaders reads the bag by key.
  markLowerCaseHeaders(headers);
  for (const name in input.headers) {
    const value = input.headers[name]!;
    const lower = name.toLowerCase();
    if (SIGNER_OWNED.has(lower) || lower === input.leaveOut) continue;
    headers[lower] = headers[lower] === undefined ? value : `${headers[lower]},${value}`;
  }
  const amzDate = formatAmzDate(input.now);
  headers.host = input.url.host;
  headers['x-amz-date'] = amzDate;
  headers['x-amz-content-sha256'] = input.payloadHash;
  if (input.credentials.sessionToken !== undefined && input.credentials.sessionToken !== '') {
    headers['x-amz-security-token'] = input.credentials.sessionToken;
  }
  const signedHeaders = Object.keys(headers).sort();
  const scopeDate = amzDate.slice(0, 8);
  const scope = credentialScope(scopeDate, input.region, input.service);
  const canonical = canonicalRequest({
    method: input.method,
    rawPath: input.rawPath ?? input.url.pathname + input.url.search,
    headers,
    signedHeaders,
    payloadHash: input.payloadHash,
    service: input.service,
  });
  const cache = input.keyCache ?? defaultSigningKeyCache;
  const signingKey = cache.get(input.credentials.secretAccessKey, scopeDate, input.region, input.service);
  const signature = hmacWithKey(signingKey, stringToSign(amzDate, scope, canonical)).toString('hex');
  headers.authorization =
    `${SIGV4_ALGORITHM} Credential=${input.credentials.accessKeyId}/${scope}, ` +
    `SignedHeaders=${signedHeaders.join(';')}, Signature=${signature}`;
  return { headers, signing: { signingKey, amzDate, scope, seedSignature: signature } };
}

/** signOutgoingRequest, headers only. */
export function signOutgoing(input: SignOutgoingInput): Record<string, string> {
  return signOutgoingRequest(input).headers;
}
