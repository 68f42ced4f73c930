// Hostile input for the SigV4 front door: any Authorization header, presigned query or header bag parses
// to a result or a GatewayError — never another exception; and sign-then-verify round-trips over paths,
// query strings (unicode, repeated keys) and headers, while any single-character change that alters what
// was signed fails verification.
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { canonicalRequest, EMPTY_SHA256, uriEncode } from '../../src/aws/canonical.js';
import { parseSigV4, payloadHashFor, signOutgoingRequest, verifySigV4, type SigV4Request } from '../../src/aws/sigv4.js';
import { isGatewayError } from '../../src/errors.js';
import { params, reportCases } from './runs.js';

reportCases('sigv4');

const NOW = new Date('2026-11-20T10:00:00.000Z');
const CREDS = { accessKeyId: 'ASIAFUZZFUZZFUZZFUZZ', secretAccessKey: 'fuzz-secret-key-0123456789abcdefghijklmn' };

/** Runs `fn`; a thrown value must be a GatewayError. Returns the result or the error. */
function gatewayErrorOnly<T>(fn: () => T): T | Error {
  try {
    return fn();
  } catch (error) {
    if (!isGatewayError(error)) throw new Error(`not a GatewayError: ${(error as Error)?.stack ?? String(error)}`);
    return error;
  }
}

const hex64 = fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: 64, maxLength: 64 });
const anyText = fc.oneof(fc.string({ maxLength: 80 }), fc.string({ unit: 'grapheme', maxLength: 40 }), fc.string({ unit: 'binary', maxLength: 40 }));
const dateText = fc.oneof(fc.constant('20261120T100000Z'), fc.constant('20260230T250000Z'), anyText, fc.date({ noInvalidDate: true }).map((d) => d.toISOString().replace(/[-:]|\.\d{3}/g, '')));
const credential = fc.oneof(
  fc.tuple(fc.constantFrom(CREDS.accessKeyId, '', 'A/B', 'ÄKID'), fc.constantFrom('20261120', '2026112', '20261399', ''), fc.constantFrom('us-east-1', '', 'us east'), fc.constantFrom('s3', 'dynamodb', '', 's3/x'), fc.constantFrom('aws4_request', 'aws4', ''))
    .map((parts) => parts.join('/')),
  anyText,
);
const signedHeaders = fc.oneof(fc.constantFrom('host;x-amz-date', 'host', 'x-amz-date;host', 'Host;x-amz-date', 'host;host', ''), anyText);
const component = fc.oneof(
  credential.map((c) => `Credential=${c}`),
  signedHeaders.map((s) => `SignedHeaders=${s}`),
  fc.oneof(hex64, anyText).map((s) => `Signature=${s}`),
  anyText,
);
const authorization = fc.oneof(
  fc.tuple(fc.constantFrom('AWS4-HMAC-SHA256', 'AWS4-ECDSA-P256-SHA256', 'AWS', 'aws4-hmac-sha256', ''), fc.array(component, { maxLength: 5 }), fc.constantFrom(',', ', ', ' ,'))
    .map(([alg, parts, sep]) => `${alg} ${parts.join(sep)}`),
  anyText,
);
const headerValue = fc.oneof(anyText, fc.array(anyText, { minLength: 2, maxLength: 3 }));

describe('parsing never throws anything but a GatewayError', () => {
  test('Authorization headers', () => {
    fc.assert(
      fc.property(authorization, fc.option(dateText), fc.option(headerValue), fc.option(fc.oneof(hex64, anyText, fc.constantFrom('UNSIGNED-PAYLOAD', 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD', 'STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD'))), fc.boolean(), (auth, date, token, sha, twice) => {
        const headers: SigV4Request['headers'] = { host: 'gw.example', authorization: twice ? [auth, auth] : auth };
        if (date !== null) headers['x-amz-date'] = date;
        if (token !== null) headers['x-amz-security-token'] = token;
        if (sha !== null) headers['x-amz-content-sha256'] = sha;
        const request = { method: 'GET', rawPath: '/bucket/key', headers };
        const parsed = gatewayErrorOnly(() => parseSigV4(request));
        if (parsed instanceof Error) return;
        expect(parsed.signature).toMatch(/^[0-9a-f]{64}$/);
        expect(parsed.signedHeaders).toContain('host');
        const payload = gatewayErrorOnly(() => payloadHashFor(parsed));
        gatewayErrorOnly(() => verifySigV4(parsed, request, { secretAccessKey: CREDS.secretAccessKey, payloadHash: EMPTY_SHA256, now: NOW }));
        expect(payload).toBeDefined();
      }),
      params('authorization', 800),
    );
  });

  test('presigned queries', () => {
    const name = fc.constantFrom('X-Amz-Algorithm', 'X-Amz-Credential', 'X-Amz-Date', 'X-Amz-Expires', 'X-Amz-SignedHeaders', 'X-Amz-Signature', 'X-Amz-Security-Token', 'X-Amz-Content-Sha256', 'x-id', 'X-Amz-%41lgorithm', '%', '');
    const value = fc.oneof(
      fc.constantFrom('AWS4-HMAC-SHA256', 'AWS4-ECDSA-P256-SHA256', '20261120T100000Z', '900', '0', '604801', '1e3', 'host', '%', '%zz', '%E2%82', '%2F'),
      credential.map((c) => encodeURIComponent(c)),
      hex64,
      anyText.map((t) => (Math.random() < 0.5 ? encodeURIComponent(t) : t)),
    );
    const query = fc.array(fc.tuple(name, value, fc.boolean()), { maxLength: 10 }).map((pairs) => pairs.map(([k, v, bare]) => (bare ? k : `${k}=${v}`)).join('&'));
    fc.assert(
      fc.property(query, fc.option(authorization), fc.constantFrom('/bucket/key', '/', '', '/a/../b', '/%zz'), (q, auth, path) => {
        const headers: SigV4Request['headers'] = { host: 'gw.example' };
        if (auth !== null) headers.authorization = auth;
        const request = { method: 'GET', rawPath: `${path}?${q}`, headers };
        const parsed = gatewayErrorOnly(() => parseSigV4(request));
        if (parsed instanceof Error) return;
        gatewayErrorOnly(() => payloadHashFor(parsed));
        gatewayErrorOnly(() => verifySigV4(parsed, request, { secretAccessKey: CREDS.secretAccessKey, payloadHash: 'UNSIGNED-PAYLOAD', now: NOW }));
      }),
      params('presigned', 800),
    );
  });
});

// ---- sign then verify, then change one character ----

const segment = fc.oneof(
  fc.string({ unit: fc.constantFrom(...'abcXYZ019-._~'), minLength: 1, maxLength: 8 }),
  fc.string({ unit: 'grapheme', minLength: 1, maxLength: 6 }),
  fc.constantFrom('a b', 'ü', '日本', '%', '+', '=', '&', '..', '.', '😀', 'x?y', 'a#b'),
);
const queryKey = fc.oneof(fc.constantFrom('prefix', 'list-type', 'k', 'K', 'x-id', 'ü'), fc.string({ unit: 'grapheme', maxLength: 5 }));
const queryValue = fc.oneof(fc.string({ unit: 'grapheme', maxLength: 8 }), fc.constantFrom('', 'a b', 'a+b', '/', '%', '1', '2'));
const metaValue = fc.string({ unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789 -_.:/=+ABCXYZ'), minLength: 1, maxLength: 20 });

interface Generated {
  service: string;
  method: string;
  rawPath: string;
  headers: Record<string, string>;
}

const generatedRequest: fc.Arbitrary<Generated> = fc
  .record({
    service: fc.constantFrom('s3', 'dynamodb', 'sqs', 'execute-api'),
    method: fc.constantFrom('GET', 'PUT', 'POST', 'DELETE', 'HEAD'),
    segments: fc.array(segment, { maxLength: 5 }),
    trailingSlash: fc.boolean(),
    query: fc.array(fc.tuple(queryKey, queryValue), { maxLength: 6 }),
    meta: fc.array(fc.tuple(fc.constantFrom('x-amz-meta-a', 'x-amz-meta-b', 'x-amz-target', 'content-type'), metaValue), { maxLength: 3 }),
  })
  .map(({ service, method, segments, trailingSlash, query, meta }) => {
    const path = `/${segments.map((s) => uriEncode(s)).join('/')}${trailingSlash && segments.length > 0 ? '/' : ''}`;
    const q = query.map(([k, v]) => `${uriEncode(k)}=${uriEncode(v)}`).join('&');
    return { service, method, rawPath: q ? `${path}?${q}` : path, headers: Object.fromEntries(meta) };
  });

function sign(g: Generated): Record<string, string> {
  return signOutgoingRequest({
    method: g.method,
    url: new URL('https://gw.example:8443'),
    rawPath: g.rawPath,
    headers: g.headers,
    region: 'us-east-1',
    service: g.service,
    credentials: CREDS,
    payloadHash: g.service === 's3' ? 'UNSIGNED-PAYLOAD' : EMPTY_SHA256,
    now: NOW,
  }).headers;
}

function verify(method: string, rawPath: string, headers: Record<string, string>, service: string): void {
  const request = { method, rawPath, headers };
  const parsed = parseSigV4(request);
  verifySigV4(parsed, request, { secretAccessKey: CREDS.secretAccessKey, payloadHash: service === 's3' ? 'UNSIGNED-PAYLOAD' : EMPTY_SHA256, now: NOW });
}

/** What the signature covers, as the verifier sees it (undefined when the request does not even parse). */
function signedView(method: string, rawPath: string, headers: Record<string, string>, service: string): string | undefined {
  try {
    const parsed = parseSigV4({ method, rawPath, headers });
    const canonical = canonicalRequest({ method, rawPath, headers, signedHeaders: parsed.signedHeaders, payloadHash: service === 's3' ? 'UNSIGNED-PAYLOAD' : EMPTY_SHA256, service, presigned: false });
    // The access key id is not in SigV4's string to sign (no signature covers it); the gateway binds it to the
    // session token in verifyGatewayCredentials instead (test/attack/tokens.test.ts: mixed akid/token).
    const { accessKeyId: _ignored, ...covered } = parsed;
    return JSON.stringify({ covered, canonical });
  } catch {
    return undefined;
  }
}

const printable = fc.integer({ min: 0x21, max: 0x7e }).map((c) => String.fromCharCode(c));

describe('sign → verify round trip', () => {
  test('every generated request verifies with the signature the gateway itself produced', () => {
    fc.assert(
      fc.property(generatedRequest, (g) => {
        const headers = sign(g);
        expect(() => verify(g.method, g.rawPath, headers, g.service)).not.toThrow();
      }),
      params('roundtrip', 600),
    );
  });

  let changed = 0;
  let equivalent = 0;
  test('any single-character change fails, unless it leaves what was signed unchanged', () => {
    fc.assert(
      fc.property(generatedRequest, fc.constantFrom('path', 'header', 'authorization', 'method'), fc.nat(), printable, (g, where, at, replacement) => {
        const headers = sign(g);
        let method = g.method;
        let rawPath = g.rawPath;
        const mutated = { ...headers };
        const replaceAt = (text: string): string => {
          if (text.length === 0) return replacement;
          const i = at % text.length;
          return text[i] === replacement ? text.slice(0, i) + (replacement === 'a' ? 'b' : 'a') + text.slice(i + 1) : text.slice(0, i) + replacement + text.slice(i + 1);
        };
        if (where === 'path') rawPath = replaceAt(rawPath);
        else if (where === 'method') method = replaceAt(method);
        else if (where === 'authorization') mutated.authorization = replaceAt(headers.authorization!);
        else {
          const names = Object.keys(headers).filter((n) => n !== 'authorization');
          const name = names[at % names.length]!;
          mutated[name] = replaceAt(headers[name]!);
        }
        const before = signedView(g.method, g.rawPath, headers, g.service);
        const after = signedView(method, rawPath, mutated, g.service);
        let error: unknown;
        try {
          verify(method, rawPath, mutated, g.service);
        } catch (e) {
          error = e;
        }
        if (error !== undefined && !isGatewayError(error)) throw error;
        if (after !== undefined && after === before) {
          // Same parsed signature, same canonical request: the change is not one SigV4 can see (e.g. %2f vs %2F).
          equivalent += 1;
          expect(error).toBeUndefined();
        } else {
          changed += 1;
          expect(error, `${where}: ${rawPath} ${JSON.stringify(mutated)}`).toBeDefined();
        }
      }),
      params('single-change', 1200),
    );
    // Most changes must matter, or the generator is not testing anything.
    expect(changed).toBeGreaterThan(equivalent * 4);
  });
});
