// A pass-through for streamed uploads that keeps a minimum rate: after a grace period, an upload whose average over
// the last window falls below `minBytesPerSec` is cut with `tooSlow()`'s error. Time spent waiting on the consumer
// (the upstream not reading) is not held against the client.

import { Transform, type TransformCallback } from 'node:stream';
import type { UploadRateSettings } from '../limits/types.js';

const TICKS_PER_WINDOW = 10;

export function uploadRateGuard(settings: UploadRateSettings, tooSlow: (bytesPerSec: number) => Error): Transform {
  const tickMs = Math.max(10, settings.windowMs / TICKS_PER_WINDOW);
  const ticks: number[] = [];
  let current = 0;
  let elapsedMs = 0;
  const guard = new Transform({
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      current += chunk.length;
      callback(null, chunk);
    },
    flush(callback: TransformCallback) {
      clearInterval(timer);
      callback();
    },
  });
  const timer = setInterval(() => {
    elapsedMs += tickMs;
    // A consumer that is not reading (its buffer is full) is why no bytes move, not the client.
    const consumerSlow = guard.readableLength >= guard.readableHighWaterMark;
    ticks.push(consumerSlow ? Number.POSITIVE_INFINITY : current);
    current = 0;
    if (ticks.length > TICKS_PER_WINDOW) ticks.shift();
    if (elapsedMs < settings.graceMs || ticks.length < TICKS_PER_WINDOW) return;
    const bytes = ticks.reduce((a, b) => a + b, 0);
    const bytesPerSec = bytes / ((ticks.length * tickMs) / 1000);
    if (bytesPerSec < settings.minBytesPerSec) {
      clearInterval(timer);
      guard.destroy(tooSlow(Math.round(bytesPerSec)));
    }
  }, tickMs);
  timer.unref();
  guard.once('close', () => clearInterval(timer));
  return guard;
}
