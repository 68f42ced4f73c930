// Reading request bodies with a hard limit: buffers never grow past what the gateway promised.

import type { Readable } from 'node:stream';
import { GatewayError } from '../errors.js';

/**
 * Buffers a body of at most `maxBytes`, received within `timeoutMs` (a client trickling a body must not
 * hold a socket and a handler indefinitely).
 */
export async function readBodyLimited(stream: Readable, maxBytes: number, what: string, timeoutMs = 30_000): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    stream.destroy();
  }, timeoutMs);
  try {
    for await (const chunk of stream) {
      const buffer = chunk as Buffer;
      total += buffer.length;
      if (total > maxBytes) {
        stream.resume();
        throw new GatewayError('BODY_TOO_LARGE', `${what} is larger than the gateway buffers (${maxBytes} bytes)`);
      }
      chunks.push(buffer);
    }
  } catch (error) {
    if (!timedOut) throw error;
  } finally {
    clearTimeout(timer);
  }
  if (timedOut) {
    throw new GatewayError('MALFORMED_REQUEST', `${what} was not received within ${Math.round(timeoutMs / 1000)}s`, { awsCode: 'RequestTimeout', status: 408 });
  }
  return Buffer.concat(chunks, total);
}
