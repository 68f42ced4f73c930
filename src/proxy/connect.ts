// Forward-proxy mode (HTTPS_PROXY=https://gateway:port): CONNECT handling on the gateway's listener.
//
//  - CONNECT to an AWS host (`*.amazonaws.com`, port 443): answered 200, then the gateway terminates TLS
//    on the tunnel with a certificate for that host signed by the gateway CA, and every decrypted
//    request runs through the normal pipeline (SigV4 check against the Host the client signed, policy,
//    re-sign, forward to the real host or upstream.endpoint).
//  - CONNECT to a host matching a `passthrough` glob of the policy (port 443): spliced untouched to
//    host:port, recorded as host and byte counts.
//  - Anything else: refused (400 for a malformed target, 403 otherwise). Fails closed.

import type { IncomingMessage, ServerResponse } from 'node:http';
import { createSecureServer, type Http2ServerRequest, type Http2ServerResponse } from 'node:http2';
import { connect as netConnect, isIP, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { compileMatcher } from '../policy/glob.js';
import { adaptHttp2, http2RequestProblem, isHttp2Request, refuseHttp2 } from './h2-compat.js';
import { hostCertificatesFor, prewarmHosts } from './hostcerts.js';
import type { CertificateAuthority } from './tls.js';

/** Event codes (on `error`-type events) this module emits. */
export type ConnectEventCode = 'CONNECT_REFUSED' | 'CONNECT_PASSTHROUGH' | 'CONNECT_TLS_FAILED' | 'CONNECT_MISDIRECTED';

export interface ConnectContext {
  /** Serves a decrypted request from inside a tunnel through the normal pipeline. */
  handle(req: IncomingMessage, res: ServerResponse): void;
  /** Signs the per-host certificates. */
  ca: CertificateAuthority;
  /** Host globs of the current policy tunnelled untouched. */
  passthrough(): readonly string[];
  /** The policy's upstream region (which hosts to mint certificates for ahead of time). */
  region(): string;
  /** Records what the proxy did with a tunnel; values carry no secrets. */
  emit(event: { type: 'error'; message: string; code: ConnectEventCode }): void;
  /** Idle time after which a tunnel is closed. */
  idleTimeoutMs?: number;
  /** How long a passthrough connection to its host may take. */
  connectTimeoutMs?: number;
  /** Ports passthrough hosts may be reached on; default 443. */
  passthroughPorts?: readonly number[];
}

export type ConnectTarget = { ok: true; host: string; port: number } | { ok: false; reason: string };

export type ConnectDecision =
  | { kind: 'intercept'; host: string; port: number }
  | { kind: 'passthrough'; host: string; port: number }
  | { kind: 'refuse'; status: 400 | 403; reason: string };

export const AWS_SUFFIX = '.amazonaws.com';
const DEFAULT_IDLE_TIMEOUT_MS = 120_000;
const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/** Parses a CONNECT request-target (`host:port`, authority form, RFC 9110 §9.3.6). */
export function parseConnectTarget(target: string | undefined): ConnectTarget {
  if (target === undefined || target.length === 0) return { ok: false, reason: 'CONNECT has no target (expected host:port)' };
  if (target.length > 300) return { ok: false, reason: 'CONNECT target is too long' };
  const shown = JSON.stringify(target);
  const m = /^(\[[^\]]*\]|[^:/?#@[\]\s]+):(\d{1,5})$/.exec(target);
  if (!m) return { ok: false, reason: `CONNECT target ${shown} is not host:port` };
  const port = Number(m[2]);
  if (port < 1 || port > 65_535) return { ok: false, reason: `CONNECT target ${shown} has port ${m[2]} out of range` };
  let host = (m[1] as string).toLowerCase();
  if (host.startsWith('[')) host = host.slice(1, -1);
  if (host.endsWith('.')) host = host.slice(0, -1);
  if (isIP(host) !== 0) return { ok: true, host, port };
  if (host.length > 253 || !host.split('.').every((label) => LABEL.test(label))) {
    return { ok: false, reason: `CONNECT target ${shown} is not a DNS host name` };
  }
  return { ok: true, host, port };
}

/** What to do with a CONNECT: pure, from the target and the policy's passthrough globs. */
export function decideConnect(target: ConnectTarget, passthrough: readonly string[], passthroughPorts: readonly number[] = [443]): ConnectDecision {
  if (!target.ok) return { kind: 'refuse', status: 400, reason: target.reason };
  const { host, port } = target;
  // An IP literal names no AWS service and matches no host glob a policy could mean: never.
  if (isIP(host) !== 0) return { kind: 'refuse', status: 403, reason: `CONNECT to an IP address (${host}) is not allowed; use a host name` };
  if (host.endsWith(AWS_SUFFIX) && host.length > AWS_SUFFIX.length) {
    if (port !== 443) return { kind: 'refuse', status: 403, reason: `CONNECT to ${host}:${port} refused: AWS hosts are proxied on port 443 only` };
    return { kind: 'intercept', host, port };
  }
  if (passthrough.length > 0 && compileMatcher(passthrough, { caseInsensitive: true })(host)) {
    if (!passthroughPorts.includes(port)) {
      return { kind: 'refuse', status: 403, reason: `CONNECT to ${host}:${port} refused: passthrough hosts are tunnelled on port ${passthroughPorts.join(', ')} only` };
    }
    return { kind: 'passthrough', host, port };
  }
  return { kind: 'refuse', status: 403, reason: `CONNECT to ${host} refused: not an AWS host (*${AWS_SUFFIX}) and not listed under passthrough in the policy` };
}

function refuse(socket: Duplex, status: 400 | 403 | 502, reason: string): void {
  const text = { 400: 'Bad Request', 403: 'Forbidden', 502: 'Bad Gateway' }[status];
  const body = `portcullis: ${reason}\n`;
  socket.end(`HTTP/1.1 ${status} ${text}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
}

function hostOfHeader(value: string | undefined): string {
  const h = (value ?? '').trim().toLowerCase();
  if (h.startsWith('[')) return h.slice(1, h.indexOf(']'));
  const colon = h.lastIndexOf(':');
  return colon === -1 ? h : h.slice(0, colon);
}

function portOfHeader(value: string | undefined): number {
  const m = /:(\d+)$/.exec((value ?? '').trim());
  return m ? Number(m[1]) : 443;
}

export function handleConnect(ctx: ConnectContext, req: IncomingMessage, socket: Duplex, head: Buffer): void {
  // A tunnel's socket errors (client gone, reset) end that tunnel, never the gateway.
  socket.on('error', () => socket.destroy());
  const target = parseConnectTarget(req.url);
  const decision = decideConnect(target, ctx.passthrough(), ctx.passthroughPorts);
  const sourceIp = req.socket.remoteAddress ?? '?';
  if (decision.kind === 'refuse') {
    ctx.emit({ type: 'error', code: 'CONNECT_REFUSED', message: `proxy: ${decision.reason} (from ${sourceIp})` });
    refuse(socket, decision.status, decision.reason);
    return;
  }
  const idleMs = ctx.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
  (socket as Socket).setTimeout?.(idleMs, () => socket.destroy());
  if (decision.kind === 'passthrough') passthrough(ctx, decision.host, decision.port, socket, head, sourceIp);
  else intercept(ctx, req, decision.host, socket, head, sourceIp);
}

function intercept(ctx: ConnectContext, req: IncomingMessage, host: string, socket: Duplex, head: Buffer, sourceIp: string): void {
  const { certs, created } = hostCertificatesFor(ctx.ca);
  // This host first, then the common ones in the background (a first CONNECT should not wait for those).
  const ready = certs.contextFor(host);
  if (created) void ready.finally(() => certs.prewarm(prewarmHosts(ctx.region())));
  ready.catch(() => undefined);

  socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
  if (head.length > 0) socket.unshift(head);
  let sni: string | undefined;
  let secured = false;
  let failed = false;
  const handshakeFailed = (why: string): void => {
    ctx.emit({ type: 'error', code: 'CONNECT_TLS_FAILED', message: `proxy: TLS handshake for ${host} from ${sourceIp} failed: ${why}; nothing forwarded` });
  };

  const serve = (req: IncomingMessage, res: ServerResponse): void => {
    // The client signed for, and the certificate was issued to, the CONNECT host: requests must say the same.
    const claimed = req.headers.host;
    if (hostOfHeader(claimed) !== host || portOfHeader(claimed) !== 443) {
      const reason = `request Host ${JSON.stringify(claimed ?? '')} does not match the tunnel to ${host}:443`;
      ctx.emit({ type: 'error', code: 'CONNECT_MISDIRECTED', message: `proxy: ${reason} (from ${sourceIp})` });
      res.writeHead(421, { 'content-type': 'text/plain; charset=utf-8', connection: 'close' });
      res.end(`portcullis: ${reason}\n`);
      return;
    }
    ctx.handle(req, res);
  };

  // TLS on the tunnel, HTTP/2 or HTTP/1.1 by ALPN as on the gateway's own listener (JS SDK clients such as Kinesis
  // offer only h2). A TLS server fed this one socket: node's own handshake and protocol dispatch, which also work
  // over a tunnel that is itself a TLS stream (a socket wrapped by hand is not read by an HTTP/2 session).
  const inner = createSecureServer(
    {
      allowHTTP1: true,
      SNICallback: (servername, callback) => {
        sni = servername;
        // The certificate must be for the host the client asked to reach, and for nothing else.
        if (servername.toLowerCase().replace(/\.$/, '') !== host) {
          callback(new Error(`TLS server name ${servername} is not the CONNECT host ${host}`), undefined);
          return;
        }
        certs.contextFor(host).then(
          (context) => callback(null, context),
          (error: Error) => callback(error, undefined),
        );
      },
    },
    (req: IncomingMessage | Http2ServerRequest, res: ServerResponse | Http2ServerResponse) => {
      if (!isHttp2Request(req)) return serve(req, res as ServerResponse);
      const problem = http2RequestProblem(req);
      if (problem !== undefined) return refuseHttp2(res as Http2ServerResponse, problem);
      const adapted = adaptHttp2(req, res as Http2ServerResponse);
      serve(adapted.req, adapted.res);
    },
  );
  const http1 = inner as typeof inner & { headersTimeout: number; requestTimeout: number; keepAliveTimeout: number };
  http1.headersTimeout = 20_000;
  http1.requestTimeout = 0;
  http1.keepAliveTimeout = 5_000;
  inner.on('secureConnection', (tlsSocket: TLSSocket) => {
    secured = true;
    // The pipeline records req.socket.remoteAddress; a TLS socket layered on the tunnel has none of its own.
    Object.defineProperty(tlsSocket, 'remoteAddress', { value: req.socket.remoteAddress, configurable: true });
  });
  inner.on('tlsClientError', (error: Error) => {
    if (!secured && !failed) {
      failed = true;
      handshakeFailed(
        sni === undefined
          ? 'the client sent no server name (SNI), so there is no certificate to present'
          : /unknown ca|bad certificate|certificate unknown/i.test(error.message)
            ? 'the client does not trust the gateway CA (set AWS_CA_BUNDLE / NODE_EXTRA_CA_CERTS to it)'
            : (error.message.split('\n')[0] as string),
      );
    }
    socket.destroy();
  });
  inner.on('clientError', (_error: Error, clientSocket: Duplex) => clientSocket.destroy());
  // A session's protocol error ends this tunnel only.
  inner.on('sessionError', () => socket.destroy());
  // An HTTP/2 CONNECT inside a tunnel would be a tunnel in a tunnel: refused.
  inner.on('connect', (connectReq: IncomingMessage | Http2ServerRequest, resOrSocket: Http2ServerResponse | Duplex) => {
    if (!isHttp2Request(connectReq)) {
      (resOrSocket as Duplex).destroy();
      return;
    }
    const res = resOrSocket as Http2ServerResponse;
    res.writeHead(405, { 'content-type': 'text/plain; charset=utf-8' });
    res.end('portcullis: CONNECT inside a tunnel is not supported\n');
  });
  socket.on('close', () => {
    // Some clients (Python's TLS-in-TLS) drop the tunnel without a TLS alert when they reject the certificate.
    if (!secured && !failed) {
      handshakeFailed(
        sni === undefined
          ? 'the client closed the tunnel before the TLS handshake'
          : 'the client closed the tunnel during the TLS handshake (does it trust the gateway CA? set AWS_CA_BUNDLE / NODE_EXTRA_CA_CERTS)',
      );
    }
  });
  inner.emit('connection', socket);
}

function passthrough(ctx: ConnectContext, host: string, port: number, socket: Duplex, head: Buffer, sourceIp: string): void {
  let fromClient = head.length;
  let toClient = 0;
  let connected = false;
  let reported = false;
  const upstream = netConnect({ host, port });
  upstream.setTimeout(ctx.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS, () => {
    upstream.destroy(new Error(`no connection to ${host}:${port} within ${ctx.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS} ms`));
  });
  const report = (): void => {
    if (reported) return;
    reported = true;
    ctx.emit({
      type: 'error',
      code: 'CONNECT_PASSTHROUGH',
      message: `proxy: passthrough ${host}:${port} from ${sourceIp} closed: ${fromClient} bytes from client, ${toClient} bytes to client`,
    });
  };
  upstream.once('connect', () => {
    connected = true;
    upstream.setTimeout(ctx.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS, () => upstream.destroy());
    socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
    if (head.length > 0) upstream.write(head);
    socket.on('data', (chunk: Buffer) => {
      fromClient += chunk.length;
    });
    upstream.on('data', (chunk: Buffer) => {
      toClient += chunk.length;
    });
    socket.pipe(upstream);
    upstream.pipe(socket);
  });
  upstream.on('error', (error: Error) => {
    if (!connected) {
      const reason = `cannot reach passthrough host ${host}:${port}: ${error.message}`;
      ctx.emit({ type: 'error', code: 'CONNECT_REFUSED', message: `proxy: ${reason} (from ${sourceIp})` });
      refuse(socket, 502, reason);
      reported = true;
      return;
    }
    socket.destroy();
  });
  upstream.on('close', () => {
    if (connected) {
      socket.destroy();
      report();
    }
  });
  socket.on('close', () => {
    upstream.destroy();
    if (connected) report();
  });
}
