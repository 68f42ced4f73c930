// Reading request bodies with a hard limit: buffers never grow past what the gateway promised.

import type { Readable } from 'node:stream';
import { GatewayError } from '../errors.js';

export async function readBodyLimited(stream: Readable, maxBytes: number, what: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of stream) {
    const buffer = chunk as Buffer;
    total += buffer.length;
    if (total > maxBytes) {
      stream.resume();
      throw new GatewayError('BODY_TOO_LARGE', `${what} is larger than the gateway buffers (${maxBytes} bytes)`);
    }
    chunks.push(buffer);
  }
  return Buffer.concat(chunks, total);
}
