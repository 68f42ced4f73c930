// A request body held back so it can be hashed before it is decided and forwarded after: in memory up to
// `memoryBytes`, then in a file (mode 0600) that is removed when the call is done. Over `maxBytes` the read stops
// and the caller refuses the call.

import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';

export interface SpoolOptions {
  dir: string;
  memoryBytes: number;
  maxBytes: number;
  /** The body must arrive within this. */
  timeoutMs: number;
}

export type SpoolResult = { ok: true; spool: Spool } | { ok: false; reason: 'too-large' | 'timeout' | 'aborted' };

export class Spool {
  readonly bytes: number;
  readonly #memory: Buffer | undefined;
  readonly #file: string | undefined;

  private constructor(bytes: number, memory: Buffer | undefined, file: string | undefined) {
    this.bytes = bytes;
    this.#memory = memory;
    this.#file = file;
  }

  /** Reads `source` to its end (bounded in size and time). */
  static async fill(source: Readable, options: SpoolOptions): Promise<SpoolResult> {
    const chunks: Buffer[] = [];
    let inMemory = 0;
    let total = 0;
    let file: { path: string; handle: FileHandle } | undefined;
    const timer = setTimeout(() => source.destroy(new Error('spool timeout')), options.timeoutMs);
    try {
      // Not destroyed when over the bound: the refusal is still answered on this connection (then it closes).
      for await (const chunk of source.iterator({ destroyOnReturn: false })) {
        const buffer = chunk as Buffer;
        total += buffer.length;
        if (total > options.maxBytes) {
          source.resume();
          await file?.handle.close();
          if (file) await rm(file.path, { force: true });
          return { ok: false, reason: 'too-large' };
        }
        if (!file && inMemory + buffer.length <= options.memoryBytes) {
          chunks.push(buffer);
          inMemory += buffer.length;
          continue;
        }
        if (!file) {
          await mkdir(options.dir, { recursive: true, mode: 0o700 });
          const path = join(options.dir, `spool-${randomBytes(8).toString('hex')}`);
          file = { path, handle: await open(path, 'wx', 0o600) };
          for (const held of chunks.splice(0)) await file.handle.write(held);
        }
        await file.handle.write(buffer);
      }
    } catch (error) {
      await file?.handle.close().catch(() => undefined);
      if (file) await rm(file.path, { force: true });
      return { ok: false, reason: (error as Error).message === 'spool timeout' ? 'timeout' : 'aborted' };
    } finally {
      clearTimeout(timer);
    }
    if (file) {
      await file.handle.close();
      return { ok: true, spool: new Spool(total, undefined, file.path) };
    }
    return { ok: true, spool: new Spool(total, Buffer.concat(chunks, inMemory), undefined) };
  }

  /** The whole body when it is small enough to have stayed in memory. */
  get buffer(): Buffer | undefined {
    return this.#memory;
  }

  /** A fresh stream of the spooled bytes. */
  stream(): Readable {
    return this.#file ? createReadStream(this.#file) : Readable.from([this.#memory!]);
  }

  async remove(): Promise<void> {
    if (this.#file) await rm(this.#file, { force: true });
  }
}
