// The HTTPS listener: transport only. Timeouts against slow clients, the socket set for a bounded drain, CONNECT
// (forward-proxy mode) handed to connect.ts. What a request means is the pipeline's business (src/pipeline/).

import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';

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
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();

  constructor(options: ListenerOptions) {
    this.#server = createHttpsServer(
      // Node checks header deadlines on this interval: keep it well below the deadline itself.
      { cert: options.cert.certPem, key: options.cert.keyPem, connectionsCheckingInterval: Math.max(250, Math.min(5_000, Math.floor(options.headersTimeoutMs / 4))) },
      options.onRequest,
    );
    // Streamed uploads may be long, so a whole request has no deadline; headers and buffered bodies do, and so does
    // idle time.
    this.#server.headersTimeout = options.headersTimeoutMs;
    this.#server.requestTimeout = 0;
    this.#server.setTimeout(options.idleTimeoutMs);
    this.#server.keepAliveTimeout = 5_000;
    this.#server.on('connection', (socket: Socket) => {
      this.#sockets.add(socket);
      socket.once('close', () => this.#sockets.delete(socket));
    });
    this.#server.on('connect', options.onConnect);
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
    this.#server.closeIdleConnections();
    return closed;
  }

  destroyAll(): void {
    for (const socket of this.#sockets) socket.destroy();
  }
}
