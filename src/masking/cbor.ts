// CBOR masking, for Smithy RPC v2 CBOR answers (CloudWatch, GameLift, Comprehend Medical, Snowball…): a client that
// picks the CBOR protocol must not get past masking that JSON would have applied. The body is decoded, walked with
// the same rules as the JSON scanner (field rules by key path, detectors on keys and strings, JSON held in strings,
// card numbers sent as numbers), and encoded again when anything changed. Byte strings are blobs: masked whole under
// a field rule, otherwise left alone (detectors would only see noise), as the JSON scanner does with base64 blobs.
// Tags Smithy uses (1: epoch time, 2/3: bignums, 4: decimal fractions) are kept; anything else does not decode.

import { decode, encode, Tagged, type TagDecoder } from 'cborg';
import { MASK } from './detectors.js';
import type { ReportBuilder } from './report.js';
import type { CompiledRules } from './rules.js';

const KEPT_TAGS: Record<number, TagDecoder> = { 1: Tagged.decoder(1), 2: Tagged.decoder(2), 3: Tagged.decoder(3), 4: Tagged.decoder(4) };
const MASKED_BYTES = new TextEncoder().encode(MASK);
/** Deeper documents are refused rather than walked (no stack overflow on hostile input). */
const MAX_DEPTH = 256;

class TooDeep extends Error {}

/** The decoded document, or undefined when the bytes are not one well-formed CBOR item Smithy could have sent. */
function decodeCbor(body: Uint8Array): unknown {
  try {
    // Duplicate keys are refused: parsers differ on which one wins, and the client's reading must be the masker's.
    return decode(body, { tags: KEPT_TAGS, rejectDuplicateMapKeys: true, useMaps: false });
  } catch {
    return undefined;
  }
}

/**
 * Masks a CBOR document. Returns the masked document and its new bytes (null when nothing changed), or undefined
 * when the body is not CBOR the masker can read (the caller refuses it: never passed through unread).
 */
export function maskCborBody(body: Uint8Array, rules: CompiledRules, report: ReportBuilder): { bytes: Buffer | null; value: unknown } | undefined {
  const value = decodeCbor(body);
  if (value === undefined && body.length > 0) return undefined;
  const walker = new CborWalker(rules, report);
  let masked: unknown;
  try {
    masked = walker.value(value, null, 0);
  } catch (error) {
    if (error instanceof TooDeep) return undefined;
    throw error;
  }
  if (!walker.changed) return { bytes: null, value };
  return { bytes: Buffer.from(encode(masked)), value: masked };
}

class CborWalker {
  changed = false;
  readonly path: string[] = [];

  constructor(
    readonly rules: CompiledRules,
    readonly report: ReportBuilder,
  ) {}

  value(value: unknown, rule: string | null, depth: number): unknown {
    if (depth > MAX_DEPTH) throw new TooDeep();
    if (typeof value === 'string') return this.string(value, rule);
    if (typeof value === 'number' || typeof value === 'bigint') return this.number(value, rule);
    if (value instanceof Uint8Array) {
      if (rule === null || value.length === 0) return value;
      this.report.add({ kind: 'field', name: rule });
      this.changed = true;
      return MASKED_BYTES;
    }
    if (value instanceof Tagged) {
      if (rule !== null && value.tag !== 1) {
        // A big number or a decimal under a field rule: 0, still a number to the SDK.
        this.report.add({ kind: 'field', name: rule });
        this.changed = true;
        return 0;
      }
      // A timestamp: its seconds are masked like any number (under a rule they become the epoch).
      const inner = this.value(value.value, rule, depth + 1);
      return inner === value.value ? value : new Tagged(value.tag, inner);
    }
    if (Array.isArray(value)) {
      let out: unknown[] | undefined;
      value.forEach((item, i) => {
        const masked = this.value(item, rule, depth + 1);
        if (masked !== item) (out ??= [...value])[i] = masked;
      });
      return out ?? value;
    }
    if (value !== null && typeof value === 'object') return this.map(value as Record<string, unknown>, rule, depth);
    return value; // booleans, null, undefined: one bit at most
  }

  map(map: Record<string, unknown>, rule: string | null, depth: number): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(map)) {
      // Keys can be data too (maps keyed by email): detectors run on them.
      const maskedKey = this.rules.detect(key, {}, this.report);
      if (maskedKey !== null) this.changed = true;
      this.path.push(key);
      const childRule = rule ?? this.rules.matchField(this.path);
      const masked = this.value(map[key], childRule, depth + 1);
      this.path.pop();
      // Two keys masked to the same text keep both values: a suffix keeps them apart.
      let name = maskedKey ?? key;
      while (name !== key && Object.hasOwn(out, name)) name += '*';
      out[name] = masked;
    }
    return out;
  }

  string(value: string, rule: string | null): string {
    const masked = this.rules.maskString(value, this.path, rule, this.report, 0);
    if (masked === null || masked === value) return value;
    this.changed = true;
    return masked;
  }

  number(value: number | bigint, rule: string | null): number | bigint {
    if (rule !== null) {
      this.report.add({ kind: 'field', name: rule });
      if (value === 0 || value === 0n) return value;
      this.changed = true;
      return typeof value === 'bigint' ? 0n : 0;
    }
    // A card number sent as a number: replaced by 0 so the value stays a number.
    const digits = typeof value === 'bigint' ? value.toString() : Number.isInteger(value) ? String(value) : '';
    if (digits.length >= 13 && digits.length <= 19 && this.rules.detectorNames.has('credit_card') && this.rules.detect(digits, {}, this.report) !== null) {
      this.changed = true;
      return typeof value === 'bigint' ? 0n : 0;
    }
    return value;
  }
}
