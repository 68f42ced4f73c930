// The HTTPS listener: transport only. HTTP/2 and HTTP/1.1 offered by ALPN (JS SDK clients such as Kinesis or
// Bedrock runtime streaming insist on h2), timeouts against slow clients, the socket set for a bounded drain,
// CONNECT (forward-proxy mode, HTTP/1.1 only) handed to connect.ts. What a request means is the pipeline's business
// (src/pipeline/); HTTP/2 requests reach it adapted to look like HTTP/1.1 ones (h2-compat.ts).

import type { IncomingMessage, ServerResponse } from 'node:http';
import { createSecureServer, type Http2SecureServer, type Http2ServerRequest, type Http2ServerResponse } from 'node:http2';
import type { AddressInfo, Socket } from 'node:net';
import { adaptHttp2, http2RequestProblem, isHttp2Request, refuseHttp2 } from './h2-compat.js';

export interface ListenerOptions {
  cert: { certPem: string; keyPem: string };
  /** A client must send its request headers within this (slowloris). */
  headersTimeoutMs: number;
  /** A connection with no activity at all is closed after this. */
  idleTimeoutMs: number;
  onRequest(req: IncomingMessage, res: ServerResponse): void;
  onConnect(req: IncomingMessage, socket: Socket, head: Buffer): void;
}

export class Listener {
  readonly #server: Http2SecureServer;
  readonly #sockets = new Set<Socket>();

  constructor(options: ListenerOptions) {
    this.#server = createSecureServer(
      { cert: options.cert.certPem, key: options.cert.keyPem, allowHTTP1: true },
      (req: IncomingMessage | Http2ServerRequest, res: ServerResponse | Http2ServerResponse) => {
        if (isHttp2Request(req)) {
          const problem = http2RequestProblem(req);
          if (problem !== undefined) return refuseHttp2(res as Http2ServerResponse, problem);
          const adapted = adaptHttp2(req, res as Http2ServerResponse);
          options.onRequest(adapted.req, adapted.res);
        } else options.onRequest(req, res as ServerResponse);
      },
    );
    // HTTP/1.1 connections (allowHTTP1): streamed uploads may be long, so a whole request has no deadline; headers and
    // buffered bodies do, and so does idle time. Node checks header deadlines on `connectionsCheckingInterval`
    // (read when listening starts): keep it well below the deadline itself. HTTP/2 sessions: the idle timeout.
    const http1 = this.#server as Http2SecureServer & {
      headersTimeout: number;
      requestTimeout: number;
      keepAliveTimeout: number;
      connectionsCheckingInterval: number;
    };
    http1.headersTimeout = options.headersTimeoutMs;
    http1.requestTimeout = 0;
    http1.keepAliveTimeout = 5_000;
    http1.connectionsCheckingInterval = Math.max(250, Math.min(5_000, Math.floor(options.headersTimeoutMs / 4)));
    this.#server.setTimeout(options.idleTimeoutMs);
    this.#server.on('connection', (socket: Socket) => {
      this.#sockets.add(socket);
      socket.once('close', () => this.#sockets.delete(socket));
    });
    this.#server.on('connect', (req: IncomingMessage | Http2ServerRequest, socketOrRes: Socket | Http2ServerResponse, head?: Buffer) => {
      // An HTTP/2 CONNECT stream is not a tunnel connect.ts can serve; proxy clients use HTTP/1.1 CONNECT.
      if (isHttp2Request(req)) {
        const res = socketOrRes as Http2ServerResponse;
        res.writeHead(405, { 'content-type': 'text/plain; charset=utf-8' });
        res.end('portcullis: CONNECT over HTTP/2 is not supported; use HTTP/1.1 CONNECT\n');
        return;
      }
      options.onConnect(req, socketOrRes as Socket, head ?? Buffer.alloc(0));
    });
    // A client that does not trust the CA, or speaks plain HTTP: nothing was forwarded; nothing to do.
    this.#server.on('tlsClientError', () => undefined);
  }

  /** Listens and returns the URL clients use (0.0.0.0 / :: shown as localhost). */
  async listen(port: number, host: string): Promise<string> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(port, host, () => {
        this.#server.off('error', reject);
        resolve();
      });
    });
    const address = this.#server.address() as AddressInfo;
    const shown = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    return `https://${shown === '0.0.0.0' || shown === '[::]' ? 'localhost' : shown}:${address.port}`;
  }

  /** Stops accepting and closes idle connections; resolves when the server has closed (after `destroyAll`). */
  stopAccepting(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    // HTTP/1.1 keep-alive connections (allowHTTP1 servers have the method, their types don't say so); Node's
    // Http2Server.close() already sends GOAWAY to its sessions.
    (this.#server as Http2SecureServer & { closeIdleConnections?: () => void }).closeIdleConnections?.();
    return closed;
  }

  destroyAll(): void {
    for (const socket of this.#sockets) socket.destroy();
  }
}
