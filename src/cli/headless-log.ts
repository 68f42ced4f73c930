// The headless log: one JSON line per event on stdout, written asynchronously in batches. On Linux, stdout to a file
// or a pipe is synchronous, so a line written per event per call would put a syscall (and a stalled reader's
// backpressure) on the request path; here lines are queued, joined and written once per turn of the event loop
// with fs.write, never blocking it. A clean stop flushes every queued line. A reader that stops reading entirely
// cannot grow memory without bound: past `maxQueuedBytes` lines are dropped and the count is written once it drains.

import { write as fsWrite } from 'node:fs';

/** How long lines may wait to be written together, and how much makes a write at once. */
const BATCH_MS = 10;
const BATCH_BYTES = 64 * 1024;

export interface HeadlessWriter {
  (line: string): void;
  /** Writes everything queued; resolves when it is out. */
  flush(): Promise<void>;
}

export function createHeadlessWriter(options: { fd?: number; maxQueuedBytes?: number; onClosed?: () => void } = {}): HeadlessWriter {
  const fd = options.fd ?? 1;
  const maxQueuedBytes = options.maxQueuedBytes ?? 16 * 1024 * 1024;
  let queue: string[] = [];
  let queuedBytes = 0;
  let dropped = 0;
  let writing = false;
  let scheduled: NodeJS.Timeout | undefined;
  let open = true;
  let idle: (() => void)[] = [];

  const settle = () => {
    if (writing || queue.length > 0) return;
    for (const resolve of idle.splice(0)) resolve();
  };

  const writeOut = () => {
    if (scheduled !== undefined) clearTimeout(scheduled);
    scheduled = undefined;
    if (!open || writing || queue.length === 0) return settle();
    if (dropped > 0) {
      queue.push(`${JSON.stringify({ event: 'log.dropped', lines: dropped, reason: 'stdout was not read fast enough' })}\n`);
      dropped = 0;
    }
    const chunk = Buffer.from(queue.join(''));
    queue = [];
    queuedBytes = 0;
    writing = true;
    const send = (offset: number) => {
      fsWrite(fd, chunk, offset, chunk.length - offset, null, (error, written) => {
        if (error) {
          writing = false;
          if ((error as NodeJS.ErrnoException).code === 'EAGAIN') {
            setTimeout(() => {
              writing = true;
              send(offset);
            }, 5);
            return;
          }
          // EPIPE and the like: the reader went away; keep serving, stop writing.
          open = false;
          options.onClosed?.();
          queue = [];
          return settle();
        }
        if (offset + written < chunk.length) return send(offset + written);
        writing = false;
        if (queue.length > 0) writeOut();
        else settle();
      });
    };
    send(0);
  };

  const writer = ((line: string) => {
    if (!open) return;
    if (queuedBytes > maxQueuedBytes) {
      dropped += 1;
      return;
    }
    queue.push(`${line}\n`);
    queuedBytes += line.length + 1;
    // Lines gather for a few milliseconds (or up to 64 KiB) and go out in one write: a write per turn of the event
    // loop would be a thread-pool round trip for every few calls.
    if (queuedBytes >= BATCH_BYTES && !writing) writeOut();
    else scheduled ??= setTimeout(writeOut, BATCH_MS);
  }) as HeadlessWriter;

  writer.flush = () =>
    new Promise<void>((resolve) => {
      idle.push(resolve);
      writeOut();
    });
  return writer;
}
