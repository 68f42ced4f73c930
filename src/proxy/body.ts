// Reading request bodies with a hard limit: buffers never grow past what the gateway promised.

import type { Readable } from 'node:stream';
import { GatewayError } from '../errors.js';
import type { Reservation } from '../limits/budget.js';

function overBudget(stream: Readable, what: string, bytes: number): GatewayError {
  stream.resume();
  return new GatewayError('THROTTLED', `portcullis: the gateway is buffering as many request bodies as it may; ${what} (${bytes} bytes) cannot be held now, retry shortly`);
}

/**
 * Buffers a body of at most `maxBytes`, received within `timeoutMs` (a client trickling a body must not
 * hold a socket and a handler indefinitely). With a `reservation` of the gateway's buffer budget, the declared
 * Content-Length is reserved before reading and every byte as it arrives; over budget is a THROTTLED error.
 */
export async function readBodyLimited(stream: Readable, maxBytes: number, what: string, timeoutMs = 30_000, reservation?: Reservation): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  const declared = Number((stream as Readable & { headers?: Record<string, unknown> }).headers?.['content-length']);
  if (reservation && Number.isSafeInteger(declared) && declared > 0 && declared <= maxBytes && !reservation.reserve(declared)) {
    throw overBudget(stream, what, declared);
  }
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
      if (reservation && !reservation.reserve(total)) throw overBudget(stream, what, total);
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
