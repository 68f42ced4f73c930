import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { createHash } from 'node:crypto';
import {
  canonicalHeaders,
  canonicalQuery,
  canonicalUri,
  parseAmzDate,
  percentDecodeBytes,
  trimAll,
  uriEncode,
} from '../../src/aws/canonical.js';
import {
  parseSigV4,
  payloadHashFor,
  signOutgoing,
  signOutgoingRequest,
  verifySigV4,
  type ParsedSignature,
  type SigV4Request,
} from '../../src/aws/sigv4.js';
import { SigningKeyCache } from '../../src/aws/sigv4-keycache.js';
import { filterForwardHeaders, unsignedForwardedHeaders } from '../../src/aws/headers.js';
import { GatewayError } from '../../src/errors.js';

const NOW = new Date('2026-01-01T12:00:00Z');
const AMZ = '20260101T120000Z';
const SECRET = 'gatewaySecret/abc+def';
const SIG = 'a'.repeat(64);
const sha = (s: string): string => createHash('sha256').update(s).digest('hex');

function authz(parts: { cred?: string; signed?: string; sig?: string; alg?: string } = {}): string {
  return `${parts.alg ?? 'AWS4-HMAC-SHA256'} Credential=${parts.cred ?? 'AKIDGW/20260101/us-east-1/s3/aws4_request'}, SignedHeaders=${
    parts.signed ?? 'host;x-amz-date'
  }, Signature=${parts.sig ?? SIG}`;
}

function reqWith(headers: Record<string, string | string[]>, rawPath = '/bkt/key'): SigV4Request {
  return { method: 'GET', rawPath, headers: { host: 'gw:8443', 'x-amz-date': AMZ, ...headers } };
}

function expectGatewayError(fn: () => unknown, code: string, message?: string | RegExp): void {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(GatewayError);
  expect((caught as GatewayError).code).toBe(code);
  if (typeof message === 'string') expect((caught as GatewayError).message).toBe(message);
  else if (message !== undefined) expect((caught as GatewayError).message).toMatch(message);
}

/** A request signed by our own signer as if by a client holding SECRET (signer cross-checked elsewhere). */
function clientSigned(opts: { method?: string; rawPath?: string; headers?: Record<string, string>; service?: string; body?: string; now?: Date } = {}): {
  req: SigV4Request;
  body: string;
} {
  const rawPath = opts.rawPath ?? '/bkt/a%20b.txt?x-id=GetObject&tag=1&tag=2';
  const body = opts.body ?? '';
  const service = opts.service ?? 's3';
  const headers = signOutgoing({
    method: opts.method ?? 'PUT',
    url: new URL(`https://gw.example:8443${rawPath}`),
    rawPath,
    headers: { 'content-type': 'text/plain', 'x-amz-meta-a': 'one   two', ...(opts.headers ?? {}) },
    region: 'us-east-1',
    service,
    credentials: { accessKeyId: 'ASIAGW', secretAccessKey: SECRET, sessionToken: 'tok' },
    payloadHash: sha(body),
    now: opts.now ?? NOW,
  });
  return { req: { method: opts.method ?? 'PUT', rawPath, headers }, body };
}

function verify(req: SigV4Request, body: string, now = NOW): ParsedSignature {
  const parsed = parseSigV4(req);
  const source = payloadHashFor(parsed);
  verifySigV4(parsed, req, { secretAccessKey: SECRET, payloadHash: source.kind === 'declared' ? source.value : sha(body), now });
  return parsed;
}

describe('uriEncode / percentDecodeBytes', () => {
  it.each([
    ['abc-._~XYZ09', true, 'abc-._~XYZ09'],
    ['a b', true, 'a%20b'],
    ['a/b', true, 'a%2Fb'],
    ['a/b', false, 'a/b'],
    ['ü', true, '%C3%BC'],
    ['+*!\'()', true, '%2B%2A%21%27%28%29'],
    ['%', true, '%25'],
    ['😀', true, '%F0%9F%98%80'],
  ])('uriEncode(%j, slash=%s) = %s', (input, encodeSlash, expected) => {
    expect(uriEncode(input, encodeSlash)).toBe(expected);
  });

  it.each([
    ['a%20b', 'a b'],
    ['a+b', 'a+b'],
    ['%zz', '%zz'],
    ['%2', '%2'],
    ['100%', '100%'],
    ['%c3%BC', 'ü'],
  ])('percentDecodeBytes(%j) = %j', (input, expected) => {
    expect(percentDecodeBytes(input).toString('utf8')).toBe(expected);
  });

  it('keeps invalid UTF-8 bytes through decode → encode', () => {
    expect(uriEncode(percentDecodeBytes('%FF%FE'))).toBe('%FF%FE');
  });
});

describe('canonicalUri', () => {
  it.each([
    ['s3', '/bkt/a%20b%C3%BC%2B.txt', '/bkt/a%20b%C3%BC%2B.txt'],
    ['s3', '/bkt/a//./b/../c', '/bkt/a//./b/../c'],
    ['s3', '/bkt/dir%2Ffile', '/bkt/dir%2Ffile'],
    ['s3', '', '/'],
    ['dynamodb', '/', '/'],
    ['dynamodb', '', '/'],
    ['lambda', '/fn/a%20b', '/fn/a%2520b'],
    ['lambda', '/a/./b//c/../d/', '/a/b/d/'],
    ['lambda', '/a/b:c', '/a/b%3Ac'],
    ['execute-api', '/~user', '/~user'],
  ])('%s %s → %s', (service, path, expected) => {
    expect(canonicalUri(path, service)).toBe(expected);
  });
});

describe('canonicalQuery', () => {
  it.each([
    ['', ''],
    ['acl', 'acl='],
    ['b=2&a=1', 'a=1&b=2'],
    ['tag=b&tag=a&tag=c', 'tag=a&tag=b&tag=c'],
    ['prefix=dir/sub/&delimiter=/', 'delimiter=%2F&prefix=dir%2Fsub%2F'],
    ['prefix=dir%2f', 'prefix=dir%2F'],
    ['empty=&x=', 'empty=&x='],
    ['a=%20&a=+', 'a=%20&a=%2B'],
    ['k=v=w', 'k=v%3Dw'],
    ['a-b=1&a=2', 'a=2&a-b=1'],
    ['&&a=1&', 'a=1'],
    ['%7E=%7e', '~=~'],
    ['ü=ü', '%C3%BC=%C3%BC'],
  ])('%j → %j', (raw, expected) => {
    expect(canonicalQuery(raw)).toBe(expected);
  });

  it('drops X-Amz-Signature only for presigned requests', () => {
    expect(canonicalQuery('X-Amz-Signature=abc&a=1', { excludeSignature: true })).toBe('a=1');
    expect(canonicalQuery('X-Amz-Signature=abc&a=1')).toBe('X-Amz-Signature=abc&a=1');
  });
});

describe('canonicalHeaders', () => {
  it('lowercases lookups, trims, collapses inner whitespace and joins repeated values with a comma', () => {
    const headers = { Host: 'h', 'X-Amz-Meta-A': '  a   b\t c ', 'x-multi': ['one', '  two  three '] };
    expect(canonicalHeaders(headers, ['host', 'x-amz-meta-a', 'x-multi'])).toBe('host:h\nx-amz-meta-a:a b c\nx-multi:one,two three\n');
  });
  it.each([
    ['  a  ', 'a'],
    ['a \t\n b', 'a b'],
    ['', ''],
  ])('trimAll(%j) = %j', (input, expected) => {
    expect(trimAll(input)).toBe(expected);
  });
});

describe('parseAmzDate', () => {
  it.each(['20260101T120000Z', '20240229T235959Z'])('accepts %s', (text) => expect(parseAmzDate(text)).toBeInstanceOf(Date));
  it.each(['20260230T000000Z', '20261301T000000Z', '20260101T250000Z', '2026-01-01T12:00:00Z', '20260101T120000', ''])('rejects %j', (text) =>
    expect(parseAmzDate(text)).toBeUndefined(),
  );
});

describe('parseSigV4: Authorization header', () => {
  it('reads every field', () => {
    const parsed = parseSigV4(
      reqWith({
        authorization: authz({ signed: 'host;x-amz-content-sha256;x-amz-date;x-amz-security-token' }),
        'x-amz-security-token': 'tok',
        'x-amz-content-sha256': 'UNSIGNED-PAYLOAD',
      }),
    );
    expect(parsed).toEqual({
      accessKeyId: 'AKIDGW',
      scopeDate: '20260101',
      region: 'us-east-1',
      service: 's3',
      signedHeaders: ['host', 'x-amz-content-sha256', 'x-amz-date', 'x-amz-security-token'],
      signature: SIG,
      amzDate: new Date('2026-01-01T12:00:00Z'),
      amzDateText: AMZ,
      presigned: false,
      securityToken: 'tok',
      declaredPayloadHash: 'UNSIGNED-PAYLOAD',
    });
  });

  it('tolerates extra spaces around components and no space after commas', () => {
    const a = `AWS4-HMAC-SHA256   Credential=AKIDGW/20260101/us-east-1/s3/aws4_request,SignedHeaders=host;x-amz-date ,  Signature=${SIG}`;
    expect(parseSigV4(reqWith({ authorization: a })).signature).toBe(SIG);
  });

  it('no Authorization and no presigned parameters → MISSING_AUTH', () => {
    expectGatewayError(() => parseSigV4(reqWith({})), 'MISSING_AUTH');
    expectGatewayError(() => parseSigV4(reqWith({ authorization: '   ' })), 'MISSING_AUTH');
  });

  it.each([
    ['missing Credential', `AWS4-HMAC-SHA256 SignedHeaders=host;x-amz-date, Signature=${SIG}`, 'Authorization: missing Credential'],
    ['missing SignedHeaders', `AWS4-HMAC-SHA256 Credential=AKIDGW/20260101/us-east-1/s3/aws4_request, Signature=${SIG}`, 'Authorization: missing SignedHeaders'],
    ['missing Signature', 'AWS4-HMAC-SHA256 Credential=AKIDGW/20260101/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-date', 'Authorization: missing Signature'],
    ['algorithm only', 'AWS4-HMAC-SHA256', 'Authorization: missing Credential'],
    ['unknown algorithm', authz({ alg: 'AWS4-HMAC-SHA512' }), /unsupported algorithm 'AWS4-HMAC-SHA512'/],
    ['Bearer token', 'Bearer abc', /unsupported algorithm 'Bearer'/],
    ['component without =', `AWS4-HMAC-SHA256 Credential, SignedHeaders=host, Signature=${SIG}`, /component 'Credential' is not Name=Value/],
    ['unknown component', `${authz()}, Foo=bar`, /unknown component 'Foo'/],
    ['duplicate component', `${authz()}, Signature=${SIG}`, 'Authorization: Signature appears more than once'],
    ['credential with 4 parts', authz({ cred: 'AKIDGW/20260101/us-east-1/s3' }), /Credential must be ACCESS_KEY_ID\/YYYYMMDD\/REGION\/SERVICE\/aws4_request/],
    ['credential with 6 parts', authz({ cred: 'AKIDGW/x/20260101/us-east-1/s3/aws4_request' }), /Credential must be/],
    ['empty access key', authz({ cred: '/20260101/us-east-1/s3/aws4_request' }), /invalid access key id/],
    ['bad scope date', authz({ cred: 'AKIDGW/2026011/us-east-1/s3/aws4_request' }), /invalid date '2026011'/],
    ['impossible scope date', authz({ cred: 'AKIDGW/20260231/us-east-1/s3/aws4_request' }), /invalid date '20260231'/],
    ['bad region', authz({ cred: 'AKIDGW/20260101/us east/s3/aws4_request' }), /invalid region/],
    ['empty service', authz({ cred: 'AKIDGW/20260101/us-east-1//aws4_request' }), /invalid service/],
    ['wrong terminator', authz({ cred: 'AKIDGW/20260101/us-east-1/s3/aws4_req' }), /must end with \/aws4_request/],
    ['uppercase signed header', authz({ signed: 'Host;x-amz-date' }), /invalid header name 'Host'/],
    ['unsorted signed headers', authz({ signed: 'x-amz-date;host' }), /sorted and without duplicates/],
    ['duplicate signed header', authz({ signed: 'host;host;x-amz-date' }), /sorted and without duplicates/],
    ['empty signed headers', authz({ signed: '' }), 'Authorization: SignedHeaders is empty'],
    ['short signature', authz({ sig: 'abc' }), 'Authorization: Signature must be 64 lowercase hex digits'],
    ['uppercase signature', authz({ sig: 'A'.repeat(64) }), /64 lowercase hex digits/],
    ['host not signed', authz({ signed: 'x-amz-date' }), 'Authorization: host must be among the signed headers'],
    ['signed header absent', authz({ signed: 'host;x-amz-date;x-custom' }), "Authorization: signed header 'x-custom' is not present on the request"],
    ['scope date ≠ x-amz-date', authz({ cred: 'AKIDGW/20251231/us-east-1/s3/aws4_request' }), 'Authorization: credential scope date 20251231 does not match X-Amz-Date 20260101'],
  ])('%s → MALFORMED_REQUEST', (_name, authorization, message) => {
    expectGatewayError(() => parseSigV4(reqWith({ authorization })), 'MALFORMED_REQUEST', message);
  });

  it.each([
    ['missing', {}, 'Authorization: missing X-Amz-Date'],
    ['not basic ISO 8601', { 'x-amz-date': '2026-01-01T12:00:00Z' }, /X-Amz-Date '2026-01-01T12:00:00Z' is not YYYYMMDDTHHMMSSZ/],
    ['impossible', { 'x-amz-date': '20260101T246000Z' }, /is not YYYYMMDDTHHMMSSZ/],
    ['repeated', { 'x-amz-date': [AMZ, AMZ] }, 'more than one x-amz-date header'],
  ])('x-amz-date %s → MALFORMED_REQUEST', (_name, dateHeaders, message) => {
    const req: SigV4Request = { method: 'GET', rawPath: '/', headers: { host: 'gw', authorization: authz(), ...dateHeaders } };
    expectGatewayError(() => parseSigV4(req), 'MALFORMED_REQUEST', message);
  });

  it('two Authorization headers → MALFORMED_REQUEST', () => {
    expectGatewayError(() => parseSigV4(reqWith({ authorization: [authz(), authz()] })), 'MALFORMED_REQUEST', 'more than one Authorization header');
  });

  it('an unsigned x-amz-security-token → MALFORMED_REQUEST', () => {
    expectGatewayError(
      () => parseSigV4(reqWith({ authorization: authz(), 'x-amz-security-token': 't' })),
      'MALFORMED_REQUEST',
      'Authorization: x-amz-security-token is present but not among SignedHeaders',
    );
  });

  it.each([
    ['SigV4a', `AWS4-ECDSA-P256-SHA256 Credential=AKIDGW/20260101/s3/aws4_request, SignedHeaders=host, Signature=${SIG}`, /SigV4a .* not supported/],
    ['SigV2', 'AWS AKIDGW:c2lnbmF0dXJl', /Signature Version 2 is not supported/],
  ])('%s → UNSUPPORTED', (_name, authorization, message) => {
    expectGatewayError(() => parseSigV4(reqWith({ authorization })), 'UNSUPPORTED', message);
  });

  it('Authorization header plus presigned parameters → MALFORMED_REQUEST', () => {
    expectGatewayError(
      () => parseSigV4(reqWith({ authorization: authz() }, '/k?X-Amz-Algorithm=AWS4-HMAC-SHA256')),
      'MALFORMED_REQUEST',
      /use only one/,
    );
  });
});

function presignedPath(over: Record<string, string | undefined> = {}): string {
  const params: Record<string, string | undefined> = {
    'X-Amz-Algorithm': 'AWS4-HMAC-SHA256',
    'X-Amz-Credential': 'AKIDGW%2F20260101%2Fus-east-1%2Fs3%2Faws4_request',
    'X-Amz-Date': AMZ,
    'X-Amz-Expires': '900',
    'X-Amz-SignedHeaders': 'host',
    'X-Amz-Signature': SIG,
    ...over,
  };
  return '/bkt/k?' + Object.entries(params).filter(([, v]) => v !== undefined).map(([k, v]) => `${k}=${v}`).join('&');
}

describe('parseSigV4: presigned URL', () => {
  it('reads every field', () => {
    const parsed = parseSigV4({ method: 'GET', rawPath: presignedPath({ 'X-Amz-Security-Token': 'a%2Bb' }), headers: { host: 'gw' } });
    expect(parsed).toMatchObject({
      accessKeyId: 'AKIDGW',
      service: 's3',
      presigned: true,
      expiresSec: 900,
      securityToken: 'a+b',
      signedHeaders: ['host'],
      declaredPayloadHash: 'UNSIGNED-PAYLOAD',
    });
  });

  it.each([
    ['X-Amz-Algorithm', /presigned URL: missing X-Amz-Algorithm/],
    ['X-Amz-Credential', /missing X-Amz-Credential/],
    ['X-Amz-Date', /missing X-Amz-Date/],
    ['X-Amz-Expires', /missing X-Amz-Expires/],
    ['X-Amz-SignedHeaders', /missing X-Amz-SignedHeaders/],
    ['X-Amz-Signature', /missing X-Amz-Signature/],
  ])('missing %s → MALFORMED_REQUEST', (name, message) => {
    expectGatewayError(() => parseSigV4({ method: 'GET', rawPath: presignedPath({ [name]: undefined }), headers: { host: 'gw' } }), 'MALFORMED_REQUEST', message);
  });

  it.each([
    ['X-Amz-Expires', '0', /X-Amz-Expires must be a whole number of seconds from 1 to 604800/],
    ['X-Amz-Expires', '604801', /X-Amz-Expires/],
    ['X-Amz-Expires', '1.5', /X-Amz-Expires/],
    ['X-Amz-Expires', '-5', /X-Amz-Expires/],
    ['X-Amz-Algorithm', 'HMAC', /unsupported X-Amz-Algorithm 'HMAC'/],
    ['X-Amz-SignedHeaders', 'x-amz-date', /host must be among the signed headers/],
    ['X-Amz-Credential', 'AKIDGW%2F20260102%2Fus-east-1%2Fs3%2Faws4_request', /scope date 20260102 does not match X-Amz-Date 20260101/],
  ])('%s=%s → MALFORMED_REQUEST', (name, value, message) => {
    expectGatewayError(() => parseSigV4({ method: 'GET', rawPath: presignedPath({ [name]: value }), headers: { host: 'gw' } }), 'MALFORMED_REQUEST', message);
  });

  it('repeated presigned parameter → MALFORMED_REQUEST', () => {
    expectGatewayError(
      () => parseSigV4({ method: 'GET', rawPath: `${presignedPath()}&X-Amz-Date=${AMZ}`, headers: { host: 'gw' } }),
      'MALFORMED_REQUEST',
      'presigned URL: X-Amz-Date appears more than once',
    );
  });

  it('SigV4a presigned → UNSUPPORTED', () => {
    expectGatewayError(
      () => parseSigV4({ method: 'GET', rawPath: presignedPath({ 'X-Amz-Algorithm': 'AWS4-ECDSA-P256-SHA256' }), headers: { host: 'gw' } }),
      'UNSUPPORTED',
    );
  });
});

describe('verifySigV4', () => {
  it('accepts a correctly signed request and returns the chunk-signing seed', () => {
    const { req, body } = clientSigned();
    const parsed = parseSigV4(req);
    const result = verifySigV4(parsed, req, { secretAccessKey: SECRET, payloadHash: sha(body), now: NOW });
    expect(result.seedSignature).toBe(parsed.signature);
    expect(result.scope).toBe('20260101/us-east-1/s3/aws4_request');
    expect(result.amzDate).toBe(AMZ);
  });

  it.each([
    ['header value', (r: SigV4Request) => ({ ...r, headers: { ...r.headers, 'x-amz-meta-a': 'one two three' } })],
    ['header whitespace only (collapsed, so still valid)', null],
    ['path', (r: SigV4Request) => ({ ...r, rawPath: r.rawPath.replace('a%20b', 'a%20c') })],
    ['path encoding', (r: SigV4Request) => ({ ...r, rawPath: r.rawPath.replace('a%20b', 'a+b') })],
    ['query value', (r: SigV4Request) => ({ ...r, rawPath: r.rawPath.replace('tag=2', 'tag=3') })],
    ['query repeated value dropped', (r: SigV4Request) => ({ ...r, rawPath: r.rawPath.replace('&tag=2', '') })],
    ['query parameter added', (r: SigV4Request) => ({ ...r, rawPath: `${r.rawPath}&versionId=1` })],
    ['method', (r: SigV4Request) => ({ ...r, method: 'DELETE' })],
    ['host', (r: SigV4Request) => ({ ...r, headers: { ...r.headers, host: 'evil:8443' } })],
    ['security token', (r: SigV4Request) => ({ ...r, headers: { ...r.headers, 'x-amz-security-token': 'other' } })],
  ])('tampered %s → SIGNATURE_MISMATCH', (_name, tamper) => {
    const { req, body } = clientSigned();
    if (tamper === null) {
      const loose = { ...req, headers: { ...req.headers, 'x-amz-meta-a': '  one     two ' } };
      expect(() => verify(loose, body)).not.toThrow();
      return;
    }
    expectGatewayError(() => verify(tamper(req), body), 'SIGNATURE_MISMATCH', /^The request signature we calculated does not match/);
  });

  it('wrong secret → SIGNATURE_MISMATCH', () => {
    const { req, body } = clientSigned();
    const parsed = parseSigV4(req);
    expectGatewayError(() => verifySigV4(parsed, req, { secretAccessKey: 'other', payloadHash: sha(body), now: NOW }), 'SIGNATURE_MISMATCH');
  });

  it('tampered S3 body: the declared hash is what is signed, so the body is checked upstream by S3', () => {
    const { req } = clientSigned({ body: 'original' });
    const parsed = parseSigV4(req);
    expect(payloadHashFor(parsed)).toEqual({ kind: 'declared', value: sha('original') });
  });

  it('tampered non-S3 body with a declared hash → XAmzContentSHA256Mismatch', () => {
    const { req } = clientSigned({ service: 'dynamodb', rawPath: '/', body: '{"a":1}' });
    const parsed = parseSigV4(req);
    expect(payloadHashFor(parsed)).toEqual({ kind: 'compute', declared: sha('{"a":1}') });
    let caught: GatewayError | undefined;
    try {
      verifySigV4(parsed, req, { secretAccessKey: SECRET, payloadHash: sha('{"a":2}'), now: NOW });
    } catch (error) {
      caught = error as GatewayError;
    }
    expect(caught?.code).toBe('SIGNATURE_MISMATCH');
    expect(caught?.awsCode).toBe('XAmzContentSHA256Mismatch');
  });

  it('tampered non-S3 body without a declared hash (botocore JSON) → SIGNATURE_MISMATCH', () => {
    const body = '{"TableName":"t"}';
    const headers = { host: 'gw:8443', 'x-amz-date': AMZ, 'x-amz-target': 'DynamoDB_20120810.GetItem' };
    const signedHeaders = ['host', 'x-amz-date', 'x-amz-target'];
    const cr = canonicalRequest({ method: 'POST', rawPath: '/', headers, signedHeaders, payloadHash: sha(body), service: 'dynamodb' });
    const scope = '20260101/us-east-1/dynamodb/aws4_request';
    const sig = hmac(deriveSigningKey(SECRET, '20260101', 'us-east-1', 'dynamodb'), stringToSign(AMZ, scope, cr)).toString('hex');
    const req: SigV4Request = {
      method: 'POST',
      rawPath: '/',
      headers: { ...headers, authorization: `AWS4-HMAC-SHA256 Credential=AKIDGW/${scope}, SignedHeaders=${signedHeaders.join(';')}, Signature=${sig}` },
    };
    expect(payloadHashFor(parseSigV4(req))).toEqual({ kind: 'compute' });
    expect(() => verify(req, body)).not.toThrow();
    expectGatewayError(() => verify(req, '{"TableName":"u"}'), 'SIGNATURE_MISMATCH');
  });

  it.each([
    ['16 minutes late', new Date(NOW.getTime() + 16 * 60_000)],
    ['16 minutes early', new Date(NOW.getTime() - 16 * 60_000)],
  ])('x-amz-date %s → TIME_SKEWED', (_name, now) => {
    const { req, body } = clientSigned();
    expectGatewayError(() => verify(req, body, now), 'TIME_SKEWED', /The difference between the request time \(20260101T120000Z\) and the current time/);
  });

  it('within 15 minutes either way verifies', () => {
    const { req, body } = clientSigned();
    expect(() => verify(req, body, new Date(NOW.getTime() + 15 * 60_000))).not.toThrow();
    expect(() => verify(req, body, new Date(NOW.getTime() - 15 * 60_000))).not.toThrow();
  });

  it('a custom maxSkewMs applies', () => {
    const { req, body } = clientSigned();
    const parsed = parseSigV4(req);
    expectGatewayError(
      () => verifySigV4(parsed, req, { secretAccessKey: SECRET, payloadHash: sha(body), now: new Date(NOW.getTime() + 61_000), maxSkewMs: 60_000 }),
      'TIME_SKEWED',
    );
  });
});

describe('verifySigV4: presigned', () => {
  // Build a valid presigned URL with our canonicalisation by signing the query-carrying request as a client would.
  function presign(expires: number): SigV4Request {
    const base =
      `/bkt/k%20x?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDGW%2F20260101%2Fus-east-1%2Fs3%2Faws4_request` +
      `&X-Amz-Date=${AMZ}&X-Amz-Expires=${expires}&X-Amz-SignedHeaders=host`;
    // signOutgoing signs headers; a presigned signature covers only host, so compute it via the verifier's own
    // failure path is not possible — instead use the canonical pieces directly.
    const headers = { host: 'gw:8443' };
    const sig = presignSignature(base, headers);
    return { method: 'GET', rawPath: `${base}&X-Amz-Signature=${sig}`, headers };
  }

  it('valid until X-Amz-Date + X-Amz-Expires', () => {
    const req = presign(600);
    const parsed = parseSigV4(req);
    const ok = (now: Date) => verifySigV4(parsed, req, { secretAccessKey: SECRET, payloadHash: 'UNSIGNED-PAYLOAD', now });
    expect(() => ok(new Date(NOW.getTime() + 600_000))).not.toThrow();
    expectGatewayError(() => ok(new Date(NOW.getTime() + 600_001)), 'EXPIRED_TOKEN', /^Request has expired/);
    expectGatewayError(() => ok(new Date(NOW.getTime() - 16 * 60_000)), 'TIME_SKEWED', /not valid yet/);
  });

  it('tampered presigned query → SIGNATURE_MISMATCH', () => {
    const req = presign(600);
    const tampered = { ...req, rawPath: req.rawPath.replace('X-Amz-Expires=600', 'X-Amz-Expires=6000') };
    const parsed = parseSigV4(tampered);
    expectGatewayError(() => verifySigV4(parsed, tampered, { secretAccessKey: SECRET, payloadHash: 'UNSIGNED-PAYLOAD', now: NOW }), 'SIGNATURE_MISMATCH');
  });
});

import { canonicalRequest, stringToSign, hmac, deriveSigningKey } from '../../src/aws/canonical.js';
function presignSignature(rawPath: string, headers: Record<string, string>): string {
  const cr = canonicalRequest({ method: 'GET', rawPath, headers, signedHeaders: ['host'], payloadHash: 'UNSIGNED-PAYLOAD', service: 's3', presigned: true });
  return hmac(deriveSigningKey(SECRET, '20260101', 'us-east-1', 's3'), stringToSign(AMZ, '20260101/us-east-1/s3/aws4_request', cr)).toString('hex');
}

describe('payloadHashFor', () => {
  const base = parseSigV4(reqWith({ authorization: authz() }));
  it.each([
    ['S3, no declared hash', { service: 's3' }, { kind: 'compute' }],
    ['S3, declared hex', { declaredPayloadHash: sha('x') }, { kind: 'declared', value: sha('x') }],
    ['S3, UNSIGNED-PAYLOAD', { declaredPayloadHash: 'UNSIGNED-PAYLOAD' }, { kind: 'declared', value: 'UNSIGNED-PAYLOAD' }],
    ['S3, signed streaming', { declaredPayloadHash: 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD' }, { kind: 'declared', value: 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD' }],
    ['S3, unsigned trailer', { declaredPayloadHash: 'STREAMING-UNSIGNED-PAYLOAD-TRAILER' }, { kind: 'declared', value: 'STREAMING-UNSIGNED-PAYLOAD-TRAILER' }],
    ['DynamoDB, none (botocore)', { service: 'dynamodb' }, { kind: 'compute' }],
    ['DynamoDB, declared hex (JS v3)', { service: 'dynamodb', declaredPayloadHash: sha('x') }, { kind: 'compute', declared: sha('x') }],
    ['STS presigned', { service: 'sts', presigned: true, declaredPayloadHash: 'UNSIGNED-PAYLOAD' }, { kind: 'compute' }],
  ])('%s', (_name, over, expected) => {
    expect(payloadHashFor({ ...base, ...over } as ParsedSignature)).toEqual(expected);
  });

  it.each([
    ['garbage', { declaredPayloadHash: 'abc' }, 'MALFORMED_REQUEST'],
    ['SigV4a streaming', { declaredPayloadHash: 'STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD' }, 'UNSUPPORTED'],
    ['UNSIGNED-PAYLOAD on DynamoDB', { service: 'dynamodb', declaredPayloadHash: 'UNSIGNED-PAYLOAD' }, 'UNSUPPORTED'],
  ])('%s → error', (_name, over, code) => {
    expectGatewayError(() => payloadHashFor({ ...base, ...over } as ParsedSignature), code);
  });
});

describe('signOutgoing', () => {
  it('sets host, x-amz-date, security token and payload hash, and signs every header it returns', () => {
    const { headers, signing } = signOutgoingRequest({
      method: 'PUT',
      url: new URL('https://s3.eu-west-3.amazonaws.com/bkt/k'),
      headers: { 'Content-Type': 'text/plain', authorization: 'client', 'x-amz-date': '19990101T000000Z', host: 'gw:8443', 'x-amz-security-token': 'client-token' },
      region: 'eu-west-3',
      service: 's3',
      credentials: { accessKeyId: 'AKIAREAL', secretAccessKey: 'real', sessionToken: 'real-token' },
      payloadHash: 'UNSIGNED-PAYLOAD',
      now: NOW,
    });
    expect(headers).toMatchObject({
      host: 's3.eu-west-3.amazonaws.com',
      'x-amz-date': AMZ,
      'x-amz-security-token': 'real-token',
      'x-amz-content-sha256': 'UNSIGNED-PAYLOAD',
      'content-type': 'text/plain',
    });
    expect(headers.authorization).toMatch(
      /^AWS4-HMAC-SHA256 Credential=AKIAREAL\/20260101\/eu-west-3\/s3\/aws4_request, SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date;x-amz-security-token, Signature=[0-9a-f]{64}$/,
    );
    expect(headers.authorization).toContain(signing.seedSignature);
    // What we sign verifies with the real secret through the verifier.
    const req = { method: 'PUT', rawPath: '/bkt/k', headers };
    const parsed = parseSigV4(req);
    expect(() => verifySigV4(parsed, req, { secretAccessKey: 'real', payloadHash: 'UNSIGNED-PAYLOAD', now: NOW })).not.toThrow();
  });

  it('keeps a non-default port in host and omits the token for long-term keys', () => {
    const headers = signOutgoing({
      method: 'GET',
      url: new URL('http://127.0.0.1:4566/'),
      headers: {},
      region: 'us-east-1',
      service: 'sts',
      credentials: { accessKeyId: 'AKIA', secretAccessKey: 's' },
      payloadHash: sha(''),
      now: NOW,
    });
    expect(headers.host).toBe('127.0.0.1:4566');
    expect(headers['x-amz-security-token']).toBeUndefined();
  });
});

describe('SigningKeyCache', () => {
  it('derives once per (secret, date, region, service) and evicts the least recently used', () => {
    const cache = new SigningKeyCache({ maxEntries: 2 });
    const a1 = cache.get('s', '20260101', 'us-east-1', 's3');
    cache.get('s', '20260101', 'us-east-1', 'sts');
    expect(cache.get('s', '20260101', 'us-east-1', 's3')).toBe(a1); // hit, now most recent
    cache.get('s', '20260102', 'us-east-1', 's3'); // evicts sts
    expect(cache.size).toBe(2);
    expect(cache.misses).toBe(3);
    cache.get('s', '20260101', 'us-east-1', 'sts');
    expect(cache.misses).toBe(4); // that evicted the s3/20260101 entry
    const again = cache.get('s', '20260101', 'us-east-1', 's3');
    expect(cache.misses).toBe(5);
    expect(again).not.toBe(a1);
    expect(again.equals(a1)).toBe(true);
    expect(cache.get('other', '20260101', 'us-east-1', 's3').equals(a1)).toBe(false);
  });

  it('rejects a bad size', () => {
    expect(() => new SigningKeyCache({ maxEntries: -1 })).toThrow(/maxEntries/);
  });
});

describe('property: sign then verify', () => {
  const segment = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 12 });
  const keyPath = fc.array(segment, { minLength: 1, maxLength: 4 }).map((segs) => '/bkt/' + segs.map((s) => uriEncode(s)).join('/'));
  const query = fc
    .array(fc.tuple(fc.string({ minLength: 1, maxLength: 6 }), fc.string({ maxLength: 8 })), { maxLength: 5 })
    .map((pairs) => pairs.map(([k, v]) => `${uriEncode(k)}=${uriEncode(v)}`).join('&'));
  const service = fc.constantFrom('s3', 'dynamodb', 'lambda');

  it('any path and query round-trips, and any single-character change to the path fails', () => {
    fc.assert(
      fc.property(keyPath, query, service, fc.nat(), (path, q, svc, pick) => {
        const rawPath = q === '' ? path : `${path}?${q}`;
        const { req, body } = clientSigned({ rawPath, service: svc });
        verify(req, body);
        // Flip one character of the path to another unreserved character.
        const i = 1 + (pick % (path.length - 1));
        const c = path[i]!;
        const replacement = c === 'x' ? 'y' : 'x';
        const tamperedPath = path.slice(0, i) + replacement + path.slice(i + 1);
        // Non-S3 normalisation can make a change invisible only via dot/empty segments; skip those shapes.
        if (svc !== 's3' && canonicalUri(tamperedPath, svc) === canonicalUri(path, svc)) return;
        const tampered = { ...req, rawPath: q === '' ? tamperedPath : `${tamperedPath}?${q}` };
        expect(() => verify(tampered, body)).toThrow(expect.objectContaining({ code: 'SIGNATURE_MISMATCH' }));
      }),
      { numRuns: 200 },
    );
  });

  it('any single-character change to a signed header value fails', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 20 }).filter((s) => /^[\x21-\x7e]+$/.test(s)), fc.nat(), (value, pick) => {
        const { req, body } = clientSigned({ headers: { 'x-amz-meta-p': value } });
        verify(req, body);
        const i = pick % value.length;
        const changed = value.slice(0, i) + (value[i] === 'a' ? 'b' : 'a') + value.slice(i + 1);
        expect(() => verify({ ...req, headers: { ...req.headers, 'x-amz-meta-p': changed } }, body)).toThrow(
          expect.objectContaining({ code: 'SIGNATURE_MISMATCH' }),
        );
      }),
      { numRuns: 200 },
    );
  });
});

describe('filterForwardHeaders', () => {
  const client = {
    host: 'gw:8443',
    authorization: 'AWS4-HMAC-SHA256 ...',
    'x-amz-date': AMZ,
    'x-amz-security-token': 'gw-token',
    'x-amz-content-sha256': 'UNSIGNED-PAYLOAD',
    connection: 'keep-alive, X-Hop',
    'keep-alive': 'timeout=5',
    'x-hop': 'secret',
    'proxy-authorization': 'Basic x',
    te: 'trailers',
    trailer: 'x-amz-checksum-crc32',
    upgrade: 'h2c',
    'transfer-encoding': 'chunked',
    expect: '100-continue',
    'amz-sdk-invocation-id': 'id',
    'amz-sdk-request': 'attempt=1',
    'x-amz-user-agent': 'ua',
    'content-type': 'text/plain',
    'content-length': '11',
    'content-encoding': 'aws-chunked',
    'content-md5': 'abc==',
    'x-amz-decoded-content-length': '5',
    'x-amz-trailer': 'x-amz-checksum-crc32',
    'x-amz-checksum-crc32': 'AAAA',
    'x-amz-sdk-checksum-algorithm': 'CRC32',
    'x-amz-meta-owner': 'me',
    'x-amz-target': 'DynamoDB_20120810.PutItem',
    range: 'bytes=0-9',
    'if-match': '"etag"',
    'cache-control': 'no-cache',
    'user-agent': 'aws-sdk-js',
    accept: ['a', 'b'],
  };
  const signed = [
    'host',
    'x-amz-date',
    'x-amz-security-token',
    'x-amz-content-sha256',
    'x-amz-decoded-content-length',
    'x-amz-trailer',
    'x-amz-checksum-crc32',
    'x-amz-sdk-checksum-algorithm',
    'x-amz-meta-owner',
    'x-amz-target',
    'content-type',
    'content-encoding',
    'content-md5',
    'range',
    'if-match',
  ];

  it('drops hop-by-hop, signing material, SDK bookkeeping and unsigned Accept; keeps the rest', () => {
    expect(filterForwardHeaders(client, { signedHeaders: signed })).toEqual({
      'content-type': 'text/plain',
      'content-length': '11',
      'content-encoding': 'aws-chunked',
      'content-md5': 'abc==',
      'x-amz-decoded-content-length': '5',
      'x-amz-trailer': 'x-amz-checksum-crc32',
      'x-amz-checksum-crc32': 'AAAA',
      'x-amz-sdk-checksum-algorithm': 'CRC32',
      'x-amz-meta-owner': 'me',
      'x-amz-target': 'DynamoDB_20120810.PutItem',
      range: 'bytes=0-9',
      'if-match': '"etag"',
      'cache-control': 'no-cache',
      'user-agent': 'aws-sdk-js',
    });
    expect(filterForwardHeaders(client, { signedHeaders: [...signed, 'accept'] }).accept).toBe('a,b');
  });

  it('refuses an unsigned x-amz-* header, naming it', () => {
    let caught: GatewayError | undefined;
    try {
      filterForwardHeaders({ ...client, 'x-amz-acl': 'public-read', 'x-amz-grant-read': 'x' }, { signedHeaders: signed });
    } catch (error) {
      caught = error as GatewayError;
    }
    expect(caught?.message).toBe('There were headers present in the request which were not signed: x-amz-acl, x-amz-grant-read');
    expect(caught?.awsCode).toBe('AccessDenied');
    expect(caught?.status).toBe(403);
  });

  // What the AWS CLI v1 / boto3 (botocore 1.43) and JS SDK v3 leave unsigned, measured against a logging server:
  //   botocore: user-agent, accept-encoding, expect, content-length, amz-sdk-invocation-id, amz-sdk-request,
  //             transfer-encoding; JS v3: user-agent, connection, transfer-encoding, cache-control (never signed),
  //             content-length on CopyObject/UploadPartCopy. Everything else they send is signed.
  const minimal = ['host', 'x-amz-content-sha256', 'x-amz-date', 'x-amz-security-token'];
  const base = { host: 'gw', 'x-amz-date': AMZ, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD', 'x-amz-security-token': 't' };
  it.each([
    ['x-amz-acl', 'public-read'],
    ['x-amz-tagging', 'a=b'],
    ['x-amz-copy-source', 'bkt/k'],
    ['x-amz-server-side-encryption', 'AES256'],
    ['x-amz-meta-owner', 'me'],
    ['x-amzn-bedrock-guardrailidentifier', 'g'],
    ['content-md5', '1B2M2Y8AsgTpgAmY7PHrKg=='],
    ['content-type', 'text/html'],
    ['content-encoding', 'gzip'],
    ['content-disposition', 'attachment'],
    ['content-language', 'en'],
    ['expires', 'Thu, 01 Jan 2037 00:00:00 GMT'],
    ['range', 'bytes=0-9'],
    ['if-match', '"e"'],
    ['if-none-match', '*'],
    ['if-modified-since', 'Thu, 01 Jan 1970 00:00:00 GMT'],
    ['if-unmodified-since', 'Thu, 01 Jan 1970 00:00:00 GMT'],
    ['x-custom', 'v'],
  ])('refuses unsigned %s (403 AccessDenied naming it)', (name, value) => {
    const headers = { ...base, [name]: value };
    expect(unsignedForwardedHeaders(headers, { signedHeaders: minimal })).toEqual([name]);
    let caught: GatewayError | undefined;
    try {
      filterForwardHeaders(headers, { signedHeaders: minimal, method: 'PUT' });
    } catch (error) {
      caught = error as GatewayError;
    }
    expect(caught?.message).toBe(`There were headers present in the request which were not signed: ${name}`);
    expect(caught?.code).toBe('MALFORMED_REQUEST');
    expect(caught?.status).toBe(403);
    // Signed, the same header goes upstream.
    expect(filterForwardHeaders(headers, { signedHeaders: [...minimal, name] })[name]).toBe(value);
  });

  it.each([
    ['user-agent', 'aws-cli/1.45 botocore/1.43'],
    ['content-length', '5'],
    ['cache-control', 'max-age=60'],
  ])('keeps unsigned %s (stock clients leave it unsigned; it cannot change the call)', (name, value) => {
    const headers = { ...base, [name]: value };
    expect(unsignedForwardedHeaders(headers, { signedHeaders: minimal })).toEqual([]);
    expect(filterForwardHeaders(headers, { signedHeaders: minimal })[name]).toBe(value);
  });

  it.each(['accept', 'accept-encoding', 'accept-language', 'sec-fetch-mode', 'referer', 'cookie', 'x-amzn-trace-id', 'pragma'])(
    'drops unsigned %s (shapes the response at most)',
    (name) => {
      const headers = { ...base, [name]: 'v' };
      expect(unsignedForwardedHeaders(headers, { signedHeaders: minimal })).toEqual([]);
      expect(filterForwardHeaders(headers, { signedHeaders: minimal })).not.toHaveProperty(name);
      expect(filterForwardHeaders(headers, { signedHeaders: [...minimal, name] })[name]).toBe('v');
    },
  );

  it('presigned GET/HEAD may narrow the read with unsigned range and if-* (curl, browsers); nothing else', () => {
    const browser = {
      host: 'gw',
      range: 'bytes=0-1',
      'if-none-match': '"e"',
      'if-modified-since': 'Thu, 01 Jan 1970 00:00:00 GMT',
      accept: '*/*',
      'accept-language': 'en',
      'sec-fetch-mode': 'cors',
      'cache-control': 'max-age=0',
      'user-agent': 'Mozilla/5.0',
    };
    for (const method of ['GET', 'HEAD']) {
      expect(filterForwardHeaders(browser, { signedHeaders: ['host'], presigned: true, method })).toEqual({
        range: 'bytes=0-1',
        'if-none-match': '"e"',
        'if-modified-since': 'Thu, 01 Jan 1970 00:00:00 GMT',
        'cache-control': 'max-age=0',
        'user-agent': 'Mozilla/5.0',
      });
    }
    expect(unsignedForwardedHeaders(browser, { signedHeaders: ['host'], presigned: true, method: 'PUT' })).toEqual([
      'if-modified-since',
      'if-none-match',
      'range',
    ]);
    expect(unsignedForwardedHeaders(browser, { signedHeaders: ['host'], presigned: false, method: 'GET' })).toEqual([
      'if-modified-since',
      'if-none-match',
      'range',
    ]);
    expect(unsignedForwardedHeaders({ host: 'gw', 'x-amz-acl': 'public-read', 'content-type': 'text/html' }, { signedHeaders: ['host'], presigned: true, method: 'GET' })).toEqual([
      'content-type',
      'x-amz-acl',
    ]);
  });

  it('drops HTTP/2 pseudo-headers and headers named in Connection, signed or not', () => {
    expect(filterForwardHeaders({ ...base, ':path': '/x', ':method': 'GET', connection: 'x-hop', 'x-hop': '1' }, { signedHeaders: [...minimal, 'x-hop'] })).toEqual({});
  });

  it('without signedHeaders keeps x-amz-* headers (unsigned requests, e.g. the STS call)', () => {
    expect(filterForwardHeaders({ 'x-amz-acl': 'private', Host: 'h', 'X-Custom': 'v' })).toEqual({ 'x-amz-acl': 'private', 'x-custom': 'v' });
  });
});
