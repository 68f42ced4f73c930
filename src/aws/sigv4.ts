// SigV4 for the gateway: parse and verify what a client signed with gateway-issued credentials, and re-sign the
// outgoing request with real credentials. Pure functions over request data; the proxy adapter does the I/O.
//
// Re-signing uses our own canonicalisation (canonical.ts), not the npm `aws4` signer, because aws4 re-encodes S3 path
// segments (reading `+` as space) and signs only the first value of a repeated S3 query key (AWS-CLIENTS.md, pitfalls
// 5 and 6), and because sharing one implementation means the request we verify is the request we sign. Its output is
// cross-checked against @smithy/signature-v4 and botocore in test/aws/sigv4-crosscheck.test.ts.

import { timingSafeEqual } from 'node:crypto';
import { GatewayError } from '../errors.js';
import {
  MissingSignedHeaderError,
  SIGV4_ALGORITHM,
  canonicalRequest,
  credentialScope,
  formatAmzDate,
  headerValues,
  hmacWithKey,
  isS3Service,
  parseAmzDate,
  percentDecode,
  splitQuery,
  splitRawPath,
  stringToSign,
  type HeaderBag,
} from './canonical.js';
import { SigningKeyCache, defaultSigningKeyCache } from './sigv4-keycache.js';

export interface SigV4Request {
  method: string;
  /** Path + `?` + query exactly as received (Node's `req.url`). */
  rawPath: string;
  /** `req.headersDistinct` keeps repeated headers apart (joined with `,` as SigV4 wants); `req.headers` also works. */
  headers: HeaderBag;
}

export interface ParsedSignature {
  accessKeyId: string;
  /** YYYYMMDD from the credential scope. */
  scopeDate: string;
  region: string;
  service: string;
  /** Lowercase, sorted, as signed. */
  signedHeaders: string[];
  /** 64 lowercase hex digits. */
  signature: string;
  amzDate: Date;
  /** The X-Amz-Date text exactly as sent (it goes into the string to sign). */
  amzDateText: string;
  presigned: boolean;
  expiresSec?: number;
  securityToken?: string;
  /** x-amz-content-sha256 as sent; for presigned URLs X-Amz-Content-Sha256 or UNSIGNED-PAYLOAD. */
  declaredPayloadHash?: string;
}

export const UNSIGNED_PAYLOAD = 'UNSIGNED-PAYLOAD';
export const STREAMING_SIGNED = 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD';
export const STREAMING_SIGNED_TRAILER = 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER';
export const STREAMING_UNSIGNED_TRAILER = 'STREAMING-UNSIGNED-PAYLOAD-TRAILER';
const SIGV4A_ALGORITHM = 'AWS4-ECDSA-P256-SHA256';
/** AWS's own limit for X-Amz-Expires (7 days). */
export const MAX_PRESIGNED_EXPIRES_SEC = 604_800;
export const DEFAULT_MAX_SKEW_MS = 15 * 60 * 1000;

const HEX64 = /^[0-9a-f]{64}$/;
const HEX64_ANY_CASE = /^[0-9a-fA-F]{64}$/;
const HEADER_NAME = /^[a-z0-9!#$%&'*+\-.^_`|~]+$/;
const SCOPE_DATE = /^\d{8}$/;
const REGION = /^[A-Za-z0-9_-]+$/;
const SERVICE = /^[A-Za-z0-9._-]+$/;
const ACCESS_KEY_ID = /^[A-Za-z0-9_+=.@-]+$/;

function malformed(message: string): GatewayError {
  return new GatewayError('MALFORMED_REQUEST', message);
}

/** Shortens client-supplied text quoted back in an error message. */
function quote(text: string): string {
  const shown = text.length > 80 ? `${text.slice(0, 77)}...` : text;
  return `'${shown.replace(/[^\x20-\x7e]/g, '?')}'`;
}

function single(headers: HeaderBag, name: string): string | undefined {
  const values = headerValues(headers, name);
  if (values === undefined) return undefined;
  if (values.length !== 1) throw malformed(`more than one ${name} header`);
  return values[0];
}

/**
 * Credentials and SignedHeaders lists already read once: a client sends the same ones call after call (per session
 * and day), so the checks below run once per distinct text. Only valid texts are kept; bounded, cleared when full.
 */
const readCredentials = new Map<string, Readonly<Pick<ParsedSignature, 'accessKeyId' | 'scopeDate' | 'region' | 'service'>>>();
const readSignedHeaders = new Map<string, readonly string[]>();
const READ_MEMO_MAX = 1024;

function remember<T>(memo: Map<string, T>, key: string, value: T): T {
  if (key.length > 512) return value; // no megabytes of memo from a hostile header
  if (memo.size >= READ_MEMO_MAX) memo.clear();
  memo.set(key, value);
  return value;
}

function parseCredential(where: string, credential: string): Pick<
  ParsedSignature,
  'accessKeyId' | 'scopeDate' | 'region' | 'service'
> {
  const known = readCredentials.get(credential);
  if (known !== undefined) return { ...known };
  const parts = credential.split('/');
  if (parts.length !== 5) {
    throw malformed(`${where}: Credential must be ACCESS_KEY_ID/YYYYMMDD/REGION/SERVICE/aws4_request, got ${quote(credential)}`);
  }
  const [accessKeyId, scopeDate, region, service, terminator] = parts as [string, string, string, string, string];
  if (!ACCESS_KEY_ID.test(accessKeyId)) throw malformed(`${where}: Credential has an invalid access key id ${quote(accessKeyId)}`);
  if (!SCOPE_DATE.test(scopeDate) || parseAmzDate(`${scopeDate}T000000Z`) === undefined) {
    throw malformed(`${where}: Credential has an invalid date ${quote(scopeDate)} (expected YYYYMMDD)`);
  }
  if (!REGION.test(region)) throw malformed(`${where}: Credential has an invalid region ${quote(region)}`);
  if (!SERVICE.test(service)) throw malformed(`${where}: Credential has an invalid service ${quote(service)}`);
  if (terminator !== 'aws4_request') {
    throw malformed(`${where}: Credential must end with /aws4_request, got ${quote(terminator)}`);
  }
  return { ...remember(readCredentials, credential, { accessKeyId, scopeDate, region, service }) };
}

function parseSignedHeaders(where: string, text: string): string[] {
  const known = readSignedHeaders.get(text);
  if (known !== undefined) return [...known];
  if (text === '') throw malformed(`${where}: SignedHeaders is empty`);
  const names = text.split(';');
  for (let i = 0; i < names.length; i++) {
    const name = names[i]!;
    // `:authority`: the JS SDK signs it instead of `host` when it speaks HTTP/2 (as AWS accepts).
    if (!HEADER_NAME.test(name) && name !== ':authority') throw malformed(`${where}: SignedHeaders has an invalid header name ${quote(name)} (lowercase expected)`);
    if (i > 0 && !(names[i - 1]! < name)) throw malformed(`${where}: SignedHeaders must be sorted and without duplicates`);
  }
  remember(readSignedHeaders, text, [...names]);
  return names;
}

function parseSignature(where: string, text: string): string {
  if (!HEX64.test(text)) throw malformed(`${where}: Signature must be 64 lowercase hex digits`);
  return text;
}

function parseDate(where: string, text: string | undefined): Date {
  if (text === undefined) throw malformed(`${where}: missing X-Amz-Date`);
  const date = parseAmzDate(text);
  if (date === undefined) throw malformed(`${where}: X-Amz-Date ${quote(text)} is not YYYYMMDDTHHMMSSZ`);
  return date;
}

function unsupportedAlgorithm(algorithm: string): GatewayError | undefined {
  if (algorithm === SIGV4A_ALGORITHM) {
    return new GatewayError(
      'UNSUPPORTED',
      'SigV4a (AWS4-ECDSA-P256-SHA256) signatures are not supported by the gateway; sign with SigV4 (AWS4-HMAC-SHA256)',
    );
  }
  if (algorithm === 'AWS') {
    return new GatewayError('UNSUPPORTED', 'Signature Version 2 is not supported by the gateway; sign with SigV4 (AWS4-HMAC-SHA256)');
  }
  return undefined;
}

const USUAL_AUTHORIZATION = /^AWS4-HMAC-SHA256 Credential=([^,\s]+), ?SignedHeaders=([^,\s]+), ?Signature=([^,\s]+)$/;

function parseAuthorizationHeader(authorization: string): Pick<
  ParsedSignature,
  'accessKeyId' | 'scopeDate' | 'region' | 'service' | 'signedHeaders' | 'signature'
> {
  const where = 'Authorization';
  // What every SDK sends, read with one regex; anything else (other spacing, order, errors) takes the general path.
  const usual = USUAL_AUTHORIZATION.exec(authorization);
  if (usual !== null) {
    return {
      ...parseCredential(where, usual[1]!),
      signedHeaders: parseSignedHeaders(where, usual[2]!),
      signature: parseSignature(where, usual[3]!),
    };
  }
  const text = authorization.trim();
  const space = text.search(/\s/);
  const algorithm = space === -1 ? text : text.slice(0, space);
  const unsupported = unsupportedAlgorithm(algorithm);
  if (unsupported !== undefined) throw unsupported;
  if (algorithm !== SIGV4_ALGORITHM) {
    throw malformed(`${where}: unsupported algorithm ${quote(algorithm)} (expected ${SIGV4_ALGORITHM})`);
  }
  const components = new Map<string, string>();
  const rest = space === -1 ? '' : text.slice(space + 1);
  for (const raw of rest.split(',')) {
    const part = raw.trim();
    if (part === '') continue;
    const eq = part.indexOf('=');
    if (eq <= 0) throw malformed(`${where}: component ${quote(part)} is not Name=Value`);
    const name = part.slice(0, eq).trim();
    if (name !== 'Credential' && name !== 'SignedHeaders' && name !== 'Signature') {
      throw malformed(`${where}: unknown component ${quote(name)}`);
    }
    if (components.has(name)) throw malformed(`${where}: ${name} appears more than once`);
    components.set(name, part.slice(eq + 1).trim());
  }
  const credential = components.get('Credential');
  const signedHeaders = components.get('SignedHeaders');
  const signature = components.get('Signature');
  if (credential === undefined) throw malformed(`${where}: missing Credential`);
  if (signedHeaders === undefined) throw malformed(`${where}: missing SignedHeaders`);
  if (signature === undefined) throw malformed(`${where}: missing Signature`);
  return {
    ...parseCredential(where, credential),
    signedHeaders: parseSignedHeaders(where, signedHeaders),
    signature: parseSignature(where, signature),
  };
}

const PRESIGN_PARAMS = [
  'X-Amz-Algorithm',
  'X-Amz-Credential',
  'X-Amz-Date',
  'X-Amz-Expires',
  'X-Amz-SignedHeaders',
  'X-Amz-Signature',
  'X-Amz-Security-Token',
  'X-Amz-Content-Sha256',
] as const;
type PresignParam = (typeof PRESIGN_PARAMS)[number];

function presignParams(rawQuery: string): Map<PresignParam, string> {
  const found = new Map<PresignParam, string>();
  for (const { key, value } of splitQuery(rawQuery)) {
    const name = percentDecode(key);
    if (!(PRESIGN_PARAMS as readonly string[]).includes(name)) continue;
    if (found.has(name as PresignParam)) throw malformed(`presigned URL: ${name} appears more than once`);
    found.set(name as PresignParam, percentDecode(value));
  }
  return found;
}

/**
 * Reads the client's SigV4 signature from the Authorization header or presigned query parameters.
 * Throws GatewayError: MISSING_AUTH (neither present), UNSUPPORTED (SigV2, SigV4a), MALFORMED_REQUEST (anything
 * else wrong, with a message naming it). Does not check the signature or the clock: see verifySigV4.
 */
export function parseSigV4(req: SigV4Request): ParsedSignature {
  const { query } = splitRawPath(req.rawPath);
  const params = presignParams(query);
  const authorizationValues = headerValues(req.headers, 'authorization');
  if (authorizationValues !== undefined && authorizationValues.length !== 1) throw malformed('more than one Authorization header');
  const authorization = authorizationValues?.[0];
  const presignAttempt = params.has('X-Amz-Algorithm') || params.has('X-Amz-Credential') || params.has('X-Amz-Signature');

  if (authorization !== undefined && authorization.trim() !== '' && presignAttempt) {
    throw malformed('both an Authorization header and presigned X-Amz-* query parameters; use only one');
  }

  let parsed: ParsedSignature;
  if (authorization !== undefined && authorization.trim() !== '') {
    const fromHeader = parseAuthorizationHeader(authorization);
    const amzDateText = single(req.headers, 'x-amz-date');
    const amzDate = parseDate('Authorization', amzDateText);
    const securityToken = single(req.headers, 'x-amz-security-token');
    if (securityToken !== undefined && !fromHeader.signedHeaders.includes('x-amz-security-token')) {
      throw malformed('Authorization: x-amz-security-token is present but not among SignedHeaders');
    }
    const declared = single(req.headers, 'x-amz-content-sha256');
    parsed = {
      ...fromHeader,
      amzDate,
      amzDateText: amzDateText!,
      presigned: false,
      ...(securityToken === undefined ? {} : { securityToken }),
      ...(declared === undefined ? {} : { declaredPayloadHash: declared.trim() }),
    };
  } else if (presignAttempt) {
    const where = 'presigned URL';
    const need = (name: PresignParam): string => {
      const value = params.get(name);
      if (value === undefined) throw malformed(`${where}: missing ${name}`);
      return value;
    };
    const algorithm = need('X-Amz-Algorithm');
    const unsupported = unsupportedAlgorithm(algorithm);
    if (unsupported !== undefined) throw unsupported;
    if (algorithm !== SIGV4_ALGORITHM) throw malformed(`${where}: unsupported X-Amz-Algorithm ${quote(algorithm)} (expected ${SIGV4_ALGORITHM})`);
    const credential = parseCredential(where, need('X-Amz-Credential'));
    const amzDateText = need('X-Amz-Date');
    const amzDate = parseDate(where, amzDateText);
    const expiresText = need('X-Amz-Expires');
    const expiresSec = /^\d{1,7}$/.test(expiresText) ? Number(expiresText) : NaN;
    if (!(expiresSec >= 1 && expiresSec <= MAX_PRESIGNED_EXPIRES_SEC)) {
      throw malformed(`${where}: X-Amz-Expires must be a whole number of seconds from 1 to ${MAX_PRESIGNED_EXPIRES_SEC}, got ${quote(expiresText)}`);
    }
    const signedHeaders = parseSignedHeaders(where, need('X-Amz-SignedHeaders'));
    const signature = parseSignature(where, need('X-Amz-Signature'));
    const securityToken = params.get('X-Amz-Security-Token');
    const declared = params.get('X-Amz-Content-Sha256') ?? single(req.headers, 'x-amz-content-sha256');
    parsed = {
      ...credential,
      signedHeaders,
      signature,
      amzDate,
      amzDateText,
      presigned: true,
      expiresSec,
      ...(securityToken === undefined ? {} : { securityToken }),
      declaredPayloadHash: declared?.trim() ?? UNSIGNED_PAYLOAD,
    };
  } else {
    throw new GatewayError('MISSING_AUTH', 'Request is missing Authentication Token (no SigV4 Authorization header or presigned URL)');
  }

  const where = parsed.presigned ? 'presigned URL' : 'Authorization';
  // Over HTTP/2 the JS SDK signs `:authority` in place of `host` (the listener refuses the two disagreeing).
  if (!parsed.signedHeaders.includes('host') && !parsed.signedHeaders.includes(':authority')) {
    throw malformed(`${where}: host must be among the signed headers`);
  }
  for (const name of parsed.signedHeaders) {
    if (headerValues(req.headers, name) === undefined) {
      throw malformed(`${where}: signed header '${name}' is not present on the request`);
    }
  }
  if (parsed.scopeDate !== parsed.amzDateText.slice(0, 8)) {
    throw malformed(
      `${where}: credential scope date ${parsed.scopeDate} does not match X-Amz-Date ${parsed.amzDateText.slice(0, 8)}`,
    );
  }
  return parsed;
}

/** Where the payload hash that goes into the canonical request comes from. */
export type PayloadHashSource =
  /** Use `value` as is (S3's signed hash, UNSIGNED-PAYLOAD, STREAMING-*); forward it so S3 checks the body. */
  | { kind: 'declared'; value: string }
  /** Hash the buffered body; when `declared` is set, verifySigV4 also requires it to equal what was computed. */
  | { kind: 'compute'; declared?: string };

const S3_DECLARED_TOKENS = new Set([UNSIGNED_PAYLOAD, STREAMING_SIGNED, STREAMING_SIGNED_TRAILER, STREAMING_UNSIGNED_TRAILER]);

/**
 * Which payload hash applies to this request. S3 with x-amz-content-sha256 → that value (S3 upstream verifies the
 * body against it). Everything else → hash the body (botocore's JSON calls declare nothing); a declared hex hash
 * on a non-S3 call must then match the computed one.
 */
export function payloadHashFor(parsed: ParsedSignature): PayloadHashSource {
  const declared = parsed.declaredPayloadHash;
  const s3 = isS3Service(parsed.service);
  if (declared === undefined) return { kind: 'compute' };
  if (declared.startsWith('STREAMING-AWS4-ECDSA-P256-SHA256')) {
    throw new GatewayError('UNSUPPORTED', `x-amz-content-sha256: ${declared} (SigV4a streaming) is not supported by the gateway`);
  }
  if (HEX64_ANY_CASE.test(declared)) return s3 ? { kind: 'declared', value: declared } : { kind: 'compute', declared };
  if (!S3_DECLARED_TOKENS.has(declared)) {
    throw malformed(`x-amz-content-sha256 must be a hex SHA-256 or one of ${[...S3_DECLARED_TOKENS].join(', ')}, got ${quote(declared)}`);
  }
  if (s3) return { kind: 'declared', value: declared };
  // botocore and smithy sign presigned non-S3 requests with the body hash (usually of the empty body).
  if (parsed.presigned && declared === UNSIGNED_PAYLOAD) return { kind: 'compute' };
  throw new GatewayError('UNSUPPORTED', `x-amz-content-sha256: ${declared} is only accepted for S3, not for ${parsed.service}`);
}

export interface VerifyOptions {
  /** The secret of the gateway-issued credential named by parsed.accessKeyId. */
  secretAccessKey: string;
  /** The hash that goes into the canonical request: declared (see payloadHashFor) or computed over the body. */
  payloadHash: string;
  now: Date;
  /** Largest allowed difference between X-Amz-Date and now. Default 15 minutes, as AWS. */
  maxSkewMs?: number;
  keyCache?: SigningKeyCache;
}

/** What a verified request leaves behind for the streaming transform (chunk signatures chain from it). */
export interface VerifiedSignature {
  signingKey: Buffer;
  amzDate: string;
  scope: string;
  seedSignature: string;
}

export const SIGNATURE_MISMATCH_MESSAGE =
  'The request signature we calculated does not match the signature you provided. Check your key and signing method.';

/**
 * Checks the clock, the declared payload hash and the signature (constant-time). Throws GatewayError:
 * TIME_SKEWED, EXPIRED_TOKEN (presigned URL past X-Amz-Expires), SIGNATURE_MISMATCH (awsCode
 * XAmzContentSHA256Mismatch when a declared body hash is wrong).
 */
export function verifySigV4(parsed: ParsedSignature, req: SigV4Request, options: VerifyOptions): VerifiedSignature {
  const maxSkewMs = options.maxSkewMs ?? DEFAULT_MAX_SKEW_MS;
  const nowMs = options.now.getTime();
  const signedMs = parsed.amzDate.getTime();
  if (parsed.presigned) {
    if (signedMs - nowMs > maxSkewMs) {
      throw new GatewayError('TIME_SKEWED', `Request is not valid yet: X-Amz-Date ${parsed.amzDateText} is in the future`);
    }
    if (nowMs > signedMs + parsed.expiresSec! * 1000) {
      throw new GatewayError(
        'EXPIRED_TOKEN',
        `Request has expired: presigned at ${parsed.amzDateText} for ${parsed.expiresSec} s, now ${formatAmzDate(options.now)}`,
      );
    }
  } else if (Math.abs(nowMs - signedMs) > maxSkewMs) {
    throw new GatewayError(
      'TIME_SKEWED',
      `The difference between the request time (${parsed.amzDateText}) and the current time (${formatAmzDate(options.now)}) ` +
        `is too large (more than ${Math.round(maxSkewMs / 1000)} s)`,
    );
  }

  const declared = parsed.declaredPayloadHash;
  if (declared !== undefined && HEX64_ANY_CASE.test(declared) && declared.toLowerCase() !== options.payloadHash.toLowerCase()) {
    throw new GatewayError('SIGNATURE_MISMATCH', "The provided 'x-amz-content-sha256' header does not match what was computed.", {
      awsCode: 'XAmzContentSHA256Mismatch',
      status: 400,
    });
  }

  const scope = credentialScope(parsed.scopeDate, parsed.region, parsed.service);
  let canonical: string;
  try {
    canonical = canonicalRequest({
      method: req.method,
      rawPath: req.rawPath,
      headers: req.headers,
      signedHeaders: parsed.signedHeaders,
      payloadHash: options.payloadHash,
      service: parsed.service,
      presigned: parsed.presigned,
    });
  } catch (error) {
    if (error instanceof MissingSignedHeaderError) throw malformed(`Authorization: ${error.message}`);
    throw error;
  }
  const cache = options.keyCache ?? defaultSigningKeyCache;
  const signingKey = cache.get(options.secretAccessKey, parsed.scopeDate, parsed.region, parsed.service);
  const expected = hmacWithKey(signingKey, stringToSign(parsed.amzDateText, scope, canonical));
  const provided = Buffer.from(parsed.signature, 'hex');
  if (provided.length !== expected.length || !timingSafeEqual(provided, expected)) {
    throw new GatewayError('SIGNATURE_MISMATCH', SIGNATURE_MISMATCH_MESSAGE);
  }
  return { signingKey, amzDate: parsed.amzDateText, scope, seedSignature: parsed.signature };
}

export { signOutgoing, signOutgoingRequest, type AwsCredentials, type SignOutgoingInput, type SignedOutgoing } from './sign.js';
