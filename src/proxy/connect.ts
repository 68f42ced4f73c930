// Forward-proxy mode (HTTPS_PROXY): CONNECT handling. Not built yet: every CONNECT is refused.

import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';

export interface ConnectContext {
  /** Serves a decrypted request from inside a tunnel through the normal pipeline. */
  handle(req: IncomingMessage, res: import('node:http').ServerResponse): void;
}

export function handleConnect(_ctx: ConnectContext, _req: IncomingMessage, socket: Duplex, _head: Buffer): void {
  socket.end('HTTP/1.1 403 Forbidden\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\nportcullis: forward-proxy mode is not built yet\n');
}
