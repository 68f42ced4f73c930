// The session files on disk: a bounded set of open append handles, writes that only ever leave a file ending at a
// complete line, and reading the tail of an existing file to resume its chain.

import { open as fsOpen, mkdir as fsMkdir, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { sha256Hex, type RecordLine } from './chain.js';
import type { SessionState } from './session-state.js';

/** The file operations the recorder uses; injectable so tests can simulate a full or failing disk. */
export interface RecorderFs {
  open(path: string, flags: string, mode?: number): Promise<FileHandle>;
  mkdir(path: string, options: { recursive: true; mode?: number }): Promise<unknown>;
}

export const NODE_FS: RecorderFs = { open: fsOpen, mkdir: fsMkdir };

/** Thrown by the write path: the disk (not one file's content) is failing. */
export class DiskFailure extends Error {
  override readonly name = 'DiskFailure';
}

const TAIL_CHUNK_BYTES = 64 * 1024;

export class SessionFiles {
  readonly #fs: RecorderFs;
  readonly #maxOpenFiles: number;
  readonly #report: (error: Error) => void;
  readonly #handles = new Map<string, FileHandle>();
  readonly #inUse = new Set<string>();
  readonly #madeDirs = new Set<string>();

  constructor(options: { fs: RecorderFs; maxOpenFiles: number; report: (error: Error) => void }) {
    this.#fs = options.fs;
    this.#maxOpenFiles = options.maxOpenFiles;
    this.#report = options.report;
  }

  /** Marks a file busy while a write runs, so making room for other handles does not close it. */
  use(file: string): void {
    this.#inUse.add(file);
  }

  release(file: string): void {
    this.#inUse.delete(file);
  }

  /** Opens a new session's file; false when a non-empty file is already there. */
  async create(s: SessionState): Promise<boolean> {
    const handle = await this.#handle(s.file, dirname(s.file));
    let size: number;
    try {
      size = (await handle.stat()).size;
    } catch (error) {
      throw new DiskFailure(`recording: cannot stat ${s.file}: ${(error as Error).message}`);
    }
    if (size > 0) {
      s.status = 'unloaded';
      return false;
    }
    s.status = 'open';
    s.size = 0;
    return true;
  }

  /** Reads the tail of an existing file (for seq and hash); cuts a torn last line. */
  async load(s: SessionState): Promise<void> {
    let handle: FileHandle;
    try {
      handle = await this.#fs.open(s.file, 'r+');
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') throw new Error(`its file ${s.rel} is missing`);
      throw new DiskFailure(`recording: cannot open ${s.file}: ${(error as Error).message}`);
    }
    try {
      const { size } = await handle.stat();
      const tail = await readTail(handle, size);
      if (!tail) throw new Error(`${s.rel} holds no complete line`);
      if (tail.end < size) {
        // A line torn by a crash: nothing follows it yet, so cutting it keeps the file verifiable after appends.
        await handle.truncate(tail.end);
        this.#report(new Error(`recording: session ${s.id}: cut a torn last line (${size - tail.end} bytes) left by a crash`));
      }
      let last: RecordLine;
      try {
        last = JSON.parse(tail.line.toString('utf8')) as RecordLine;
      } catch {
        throw new Error(`${s.rel} does not end with a recording line`);
      }
      s.seq = last.seq + 1;
      s.lastHash = sha256Hex(tail.line);
      s.size = tail.end;
      s.status = last.type === 'digest' && last.kind === 'final' ? 'closed' : 'open';
      // Unknown how many lines follow the last digest; 1 makes sure the next checkpoint covers them.
      s.sinceDigest = last.type === 'digest' ? 0 : 1;
    } finally {
      await handle.close();
    }
  }

  /** Appends whole lines; on a failed or short write the file is cut back to its last good line. */
  async append(s: SessionState, data: Buffer, sync: boolean): Promise<void> {
    const handle = await this.#handle(s.file, dirname(s.file));
    let written = 0;
    try {
      written = (await handle.write(data, 0, data.length, null)).bytesWritten;
      if (written !== data.length) throw new Error(`short write (${written} of ${data.length} bytes; disk full?)`);
      if (sync) await handle.sync();
    } catch (error) {
      // Cut back to the last good line so a later append cannot follow half a line.
      await handle.truncate(s.size).catch(() => undefined);
      await this.close(s.file);
      throw new DiskFailure(`recording: cannot write ${s.file}: ${(error as Error).message}`);
    }
    s.size += data.length;
  }

  /** Whether a small file can be written at `path` (with nothing pending, how a failed disk is seen to recover). */
  async probe(path: string): Promise<boolean> {
    try {
      await this.#fs.mkdir(dirname(path), { recursive: true, mode: 0o700 });
      const handle = await this.#fs.open(path, 'w', 0o600);
      try {
        await handle.write(Buffer.from('ok'));
      } finally {
        await handle.close();
      }
      return true;
    } catch {
      return false;
    }
  }

  async close(file: string): Promise<void> {
    const handle = this.#handles.get(file);
    if (!handle) return;
    this.#handles.delete(file);
    await handle.close().catch(() => undefined);
  }

  async closeAll(): Promise<void> {
    for (const file of [...this.#handles.keys()]) await this.close(file);
  }

  /** The append handle of a file, most recently used last; the least recently used idle ones are closed. */
  async #handle(file: string, dir: string): Promise<FileHandle> {
    const cached = this.#handles.get(file);
    if (cached) {
      this.#handles.delete(file);
      this.#handles.set(file, cached);
      return cached;
    }
    try {
      if (!this.#madeDirs.has(dir)) {
        await this.#fs.mkdir(dir, { recursive: true, mode: 0o700 });
        this.#madeDirs.add(dir);
      }
      const handle = await this.#fs.open(file, 'a', 0o600);
      this.#handles.set(file, handle);
      if (this.#handles.size > this.#maxOpenFiles) {
        for (const path of this.#handles.keys()) {
          if (this.#handles.size <= this.#maxOpenFiles) break;
          if (!this.#inUse.has(path) && path !== file) await this.close(path);
        }
      }
      return handle;
    } catch (error) {
      this.#madeDirs.delete(dir);
      throw new DiskFailure(`recording: cannot open ${file} for appending: ${(error as Error).message}`);
    }
  }
}

/** The last complete line of a file and where it ends (just after its newline). */
async function readTail(handle: FileHandle, size: number): Promise<{ line: Buffer; end: number } | undefined> {
  let chunks: Buffer[] = [];
  let position = size;
  let end = -1;
  while (position > 0) {
    const length = Math.min(TAIL_CHUNK_BYTES, position);
    position -= length;
    const chunk = Buffer.alloc(length);
    await handle.read(chunk, 0, length, position);
    chunks = [chunk, ...chunks];
    const buffer = Buffer.concat(chunks);
    const base = position;
    if (end === -1) {
      const lastNewline = buffer.lastIndexOf(0x0a);
      if (lastNewline === -1) continue;
      end = base + lastNewline + 1;
    }
    const endInBuffer = end - 1 - base;
    const startNewline = endInBuffer > 0 ? buffer.lastIndexOf(0x0a, endInBuffer - 1) : -1;
    if (startNewline !== -1) return { line: buffer.subarray(startNewline + 1, endInBuffer), end };
    if (position === 0) return { line: buffer.subarray(0, endInBuffer), end };
  }
  return undefined;
}
