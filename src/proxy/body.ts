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
 * Plain listeners rather than an async iterator: this runs on every buffered call, and the iterator costs a
 * promise per chunk.
 */
export function readBodyLimited(stream: Readable, maxBytes: number, what: string, timeoutMs = 30_000, reservation?: Reservation): Promise<Buffer> {
  const declared = Number((stream as Readable & { headers?: Record<string, unknown> }).headers?.['content-length']);
  if (reservation && Number.isSafeInteger(declared) && declared > 0 && declared <= maxBytes && !reservation.reserve(declared)) {
    return Promise.reject(overBudget(stream, what, declared));
  }
  if (stream.readableEnded) return Promise.resolve(Buffer.alloc(0));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    let settled = false;
    const finish = (error?: Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.off('error', onError);
      stream.off('close', onClose);
      if (error) reject(error);
      else resolve(Buffer.concat(chunks, total));
    };
    const timer = setTimeout(() => {
      finish(new GatewayError('MALFORMED_REQUEST', `${what} was not received within ${Math.round(timeoutMs / 1000)}s`, { awsCode: 'RequestTimeout', status: 408 }));
      stream.destroy();
    }, timeoutMs);
    const onData = (chunk: Buffer): void => {
      total += chunk.length;
      if (total > maxBytes) {
        finish(new GatewayError('BODY_TOO_LARGE', `${what} is larger than the gateway buffers (${maxBytes} bytes)`));
        stream.resume();
        return;
      }
      if (reservation && !reservation.reserve(total)) {
        finish(overBudget(stream, what, total));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => finish();
    // An error on the client's stream (`aborted`) or a close before its end: the client went away mid-body. A
    // refusal, not a gateway fault.
    const cutOff = (cause?: Error): GatewayError => new GatewayError('MALFORMED_REQUEST', `${what} was cut off before its end`, { awsCode: 'IncompleteBody', status: 400, cause });
    const onError = (error: Error): void => finish(cutOff(error));
    const onClose = (): void => finish(cutOff());
    stream.on('data', onData);
    stream.on('end', onEnd);
    stream.on('error', onError);
    stream.on('close', onClose);
  });
}
