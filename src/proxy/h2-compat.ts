// HTTP/2 requests (node:http2's compatibility API) made to read and answer like the HTTP/1.1 ones the pipeline was
// written for, so that no stage needs to know which protocol the client negotiated:
//  - `headers` without the pseudo-headers the request line carries (`:method`, `:path`, `:scheme`), `:authority`
//    kept (the JS SDK signs it instead of `host` over HTTP/2: SigV4 verification needs it; forwarding drops every
//    `:` name), `host` from `:authority` when the client sent none;
//  - `headersDistinct` (Http2ServerRequest has none): repeated headers kept apart, as SigV4 and the ambiguity
//    checks need;
//  - answers never carry connection-specific headers (RFC 9113 §8.2.2: `connection: close` would be a protocol
//    error; node drops them with a warning on every response).
// `req.method`, `req.url`, `req.socket.remoteAddress`, streaming the body, `res.write/end/destroy/headersSent` exist
// on the compatibility objects as they are.
import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';

/** Header names HTTP/2 forbids in a message (`te` is allowed only as `trailers`). */
const CONNECTION_SPECIFIC = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'http2-settings']);

function forbidden(name: string, value: unknown): boolean {
  const lower = name.toLowerCase();
  if (CONNECTION_SPECIFIC.has(lower)) return true;
  return lower === 'te' && String(value).toLowerCase() !== 'trailers';
}

/** Drops the headers HTTP/2 forbids from a writeHead/setHeader argument (an object or a flat [name, value…] list). */
export function withoutConnectionHeaders<T extends OutgoingHttpHeaders | readonly unknown[]>(headers: T): T {
  if (Array.isArray(headers)) {
    const out: unknown[] = [];
    for (let i = 0; i + 1 < headers.length; i += 2) {
      if (!forbidden(String(headers[i]), headers[i + 1])) out.push(headers[i], headers[i + 1]);
    }
    return out as unknown as T;
  }
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers as OutgoingHttpHeaders)) {
    if (!forbidden(name, value)) out[name] = value;
  }
  return out as T;
}

/** Pseudo-headers that the request line carries (req.method, req.url) and no signature covers. */
const REQUEST_LINE = new Set([':method', ':path', ':scheme', ':protocol']);

/** The request's headers as an HTTP/1.1 request has them (plus `:authority`), `host` present when `:authority` was. */
function plainHeaders(req: Http2ServerRequest): { headers: IncomingHttpHeaders; distinct: Record<string, string[]> } {
  const headers: IncomingHttpHeaders = {};
  const distinct: Record<string, string[]> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (!REQUEST_LINE.has(name)) headers[name] = value;
  }
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = (raw[i] as string).toLowerCase();
    if (REQUEST_LINE.has(name)) continue;
    (distinct[name] ??= []).push(raw[i + 1] as string);
  }
  const authority = req.headers[':authority'];
  if (headers.host === undefined && typeof authority === 'string') {
    headers.host = authority;
    distinct['host'] = [authority];
  }
  return { headers, distinct };
}

/**
 * Why the request cannot be served, or undefined. RFC 9113 §8.3.1: `host` and `:authority` must agree when both are
 * sent — and the gateway must not verify a signature over one while identifying (S3 virtual hosts) by the other.
 */
export function http2RequestProblem(req: Http2ServerRequest): string | undefined {
  const authority = req.headers[':authority'];
  const hosts = req.rawHeaders.filter((_v, i) => i % 2 === 0 && req.rawHeaders[i]?.toLowerCase() === 'host').length;
  const host = req.headers.host;
  if (hosts > 1) return 'more than one host header';
  if (host !== undefined && authority !== undefined && host.toLowerCase() !== String(authority).toLowerCase()) {
    return `host ${JSON.stringify(host)} and :authority ${JSON.stringify(authority)} disagree`;
  }
  return undefined;
}

/** Answers a request `http2RequestProblem` found fault with; nothing reaches the pipeline. */
export function refuseHttp2(res: Http2ServerResponse, problem: string): void {
  res.writeHead(400, { 'content-type': 'text/plain; charset=utf-8' });
  res.end(`portcullis: malformed HTTP/2 request: ${problem}\n`);
}

/**
 * Adapts an HTTP/2 compatibility request/response pair in place and returns it typed as the HTTP/1.1 pair the
 * pipeline takes. The cast is the point: every member the pipeline reads exists on the adapted objects (see the
 * file comment); `res.shouldKeepAlive`, which HTTP/2 has no use for, becomes a plain property.
 */
export function adaptHttp2(req: Http2ServerRequest, res: Http2ServerResponse): { req: IncomingMessage; res: ServerResponse } {
  const { headers, distinct } = plainHeaders(req);
  Object.defineProperty(req, 'headers', { value: headers, configurable: true, enumerable: true });
  Object.defineProperty(req, 'headersDistinct', { value: distinct, configurable: true, enumerable: true });
  const writeHead = res.writeHead.bind(res) as (...args: unknown[]) => Http2ServerResponse;
  Object.defineProperty(res, 'writeHead', {
    configurable: true,
    value: (status: number, ...rest: unknown[]) =>
      writeHead(
        status,
        ...rest.map((arg) => (arg !== null && typeof arg === 'object' ? withoutConnectionHeaders(arg as OutgoingHttpHeaders) : arg)),
      ),
  });
  const setHeader = res.setHeader.bind(res);
  Object.defineProperty(res, 'setHeader', {
    configurable: true,
    value: (name: string, value: number | string | readonly string[]) => (forbidden(name, value) ? res : setHeader(name, value)),
  });
  return { req: req as unknown as IncomingMessage, res: res as unknown as ServerResponse };
}

/** Whether a request handler received an HTTP/2 compatibility request (rather than an HTTP/1.x one). */
export function isHttp2Request(req: IncomingMessage | Http2ServerRequest): req is Http2ServerRequest {
  return 'stream' in req && req.httpVersionMajor === 2;
}
