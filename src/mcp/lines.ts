// The stdio transport of MCP: newline-delimited JSON-RPC. Splits a byte stream into lines without decoding or
// re-encoding them (a line is relayed as the exact bytes that arrived), and reads just enough of a line to know
// what it is. Pure.

/** Splits chunks into lines (the `\n` kept out); bytes after the last newline wait for the next chunk. */
export class LineSplitter {
  #rest: Buffer = Buffer.alloc(0);
  readonly #maxLineBytes: number;

  /** A line longer than this is passed through in pieces rather than buffered whole (default 64 MiB). */
  constructor(maxLineBytes = 64 * 1024 * 1024) {
    this.#maxLineBytes = maxLineBytes;
  }

  /** Complete lines in this chunk, each with `complete: true`, plus an oversized piece with `complete: false`. */
  push(chunk: Buffer): { bytes: Buffer; complete: boolean }[] {
    const data = this.#rest.length === 0 ? chunk : Buffer.concat([this.#rest, chunk]);
    const out: { bytes: Buffer; complete: boolean }[] = [];
    let start = 0;
    for (let nl = data.indexOf(0x0a, start); nl >= 0; nl = data.indexOf(0x0a, start)) {
      out.push({ bytes: data.subarray(start, nl), complete: true });
      start = nl + 1;
    }
    this.#rest = data.subarray(start);
    if (this.#rest.length > this.#maxLineBytes) {
      out.push({ bytes: this.#rest, complete: false });
      this.#rest = Buffer.alloc(0);
    }
    return out;
  }

  /** What is left at the end of the stream (a last line without a newline). */
  end(): Buffer | undefined {
    const rest = this.#rest;
    this.#rest = Buffer.alloc(0);
    return rest.length > 0 ? rest : undefined;
  }
}

export type JsonRpcId = string | number;

/** What a relayed line is, as far as the wrapper cares. */
export type Message =
  | { kind: 'request'; id: JsonRpcId; method: string; params?: unknown }
  | { kind: 'notification'; method: string; params?: unknown }
  | { kind: 'result'; id: JsonRpcId; result: unknown }
  | { kind: 'error'; id: JsonRpcId | null; error: unknown }
  | { kind: 'other' };

/** Reads one line; anything that is not a single JSON-RPC message (batches, garbage) is `other` and relayed as is. */
export function readMessage(line: Buffer | string): Message {
  let value: unknown;
  try {
    value = JSON.parse(typeof line === 'string' ? line : line.toString('utf8'));
  } catch {
    return { kind: 'other' };
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return { kind: 'other' };
  const m = value as Record<string, unknown>;
  const id = typeof m.id === 'string' || typeof m.id === 'number' ? m.id : undefined;
  if (typeof m.method === 'string') {
    return id === undefined ? { kind: 'notification', method: m.method, params: m.params } : { kind: 'request', id, method: m.method, params: m.params };
  }
  if ('result' in m && id !== undefined) return { kind: 'result', id, result: m.result };
  if ('error' in m) return { kind: 'error', id: id ?? null, error: m.error };
  return { kind: 'other' };
}

/** Key for a JSON-RPC id (1 and "1" are different ids). */
export function idKey(id: JsonRpcId): string {
  return typeof id === 'number' ? `n:${id}` : `s:${id}`;
}

/** A JSON-RPC error answer, one line with its newline. */
export function errorLine(id: JsonRpcId, code: number, message: string, data?: unknown): Buffer {
  return Buffer.from(`${JSON.stringify({ jsonrpc: '2.0', id, error: { code, message, ...(data === undefined ? {} : { data }) } })}\n`);
}

/** JSON-RPC error code for a tool call the gateway refused (implementation-defined server error range). */
export const TOOL_DENIED_CODE = -32001;
