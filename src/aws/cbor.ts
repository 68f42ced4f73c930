// Reading a Smithy RPC v2 CBOR request body as plain data, shaped as the JSON protocol would carry it, so that
// resources, recording and grant fingerprints see the same params whichever protocol the client chose. Pure.
import { decode, type TagDecoder } from 'cborg';

// Tag 1 (epoch-seconds timestamp) is the only tag Smithy RPC v2 CBOR uses; it reads as the number it wraps.
const TAGS: Record<number, TagDecoder> = { 1: (inner) => inner() };

function toPlain(value: unknown): unknown {
  if (value instanceof Uint8Array) return Buffer.from(value).toString('base64');
  if (typeof value === 'bigint') return Number.isSafeInteger(Number(value)) ? Number(value) : value.toString();
  if (Array.isArray(value)) return value.map(toPlain);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = toPlain(v);
    return out;
  }
  return value;
}

/**
 * The body's top-level map, or undefined when it is not well-formed CBOR holding one map with text keys. An empty
 * body is an empty input. Duplicate map keys are refused: parsers differ on which one wins, and the upstream's
 * reading must be ours.
 */
export function parseCborObject(body: Buffer | undefined): Record<string, unknown> | undefined {
  if (!body) return undefined;
  if (body.length === 0) return {};
  try {
    const value = decode(body, { tags: TAGS, rejectDuplicateMapKeys: true, useMaps: false });
    if (value === null || typeof value !== 'object' || Array.isArray(value) || value instanceof Uint8Array) return undefined;
    return toPlain(value) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}
