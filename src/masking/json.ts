// JSON masking by editing the text in place: a strict scanner walks the document, tracks the key
// path, and replaces only the string/number tokens that must change. Everything else stays
// byte-identical — number formatting, key order, whitespace, and integers beyond 2^53 that
// JSON.parse + JSON.stringify would silently round.

import type { CompiledRules } from './rules.js';
import { ReportBuilder } from './report.js';
import { MASK } from './detectors.js';

export interface JsonMaskOptions {
  /** Key path of the value that holds this document (for JSON inside a string), else []. */
  basePath: string[];
  /** A field rule that names the whole document: every scalar inside is masked. */
  maskAll: string | null;
  /** Read DynamoDB typed values (`{"S": …}`) with their type tags transparent in key paths. */
  dynamodb: boolean;
  embeddedDepth: number;
}

/** Deeper documents are handed to the text masker instead (no stack overflow on hostile input). */
const MAX_DEPTH = 512;

/** base64("****"): what a masked blob becomes, so SDKs that base64-decode it still succeed. */
export const MASKED_BLOB = Buffer.from(MASK).toString('base64');
/** JSON-protocol fields whose string value is base64 binary (the SDK decodes them). */
const BLOB_FIELDS = new Set(['SecretBinary', 'Plaintext']);

const DDB_TAGS = new Set(['S', 'N', 'B', 'SS', 'NS', 'BS', 'M', 'L', 'BOOL', 'NULL']);
/** Response/record members whose value is a map of attribute name → typed value. */
const DDB_ATTRIBUTE_MAPS = new Set(['Item', 'Items', 'Attributes', 'LastEvaluatedKey', 'Key', 'Keys', 'ExclusiveStartKey', 'NewImage', 'OldImage']);
/** What the keys of the current DynamoDB object are. */
type DdbState = 'attributes' | 'typed' | 'tables' | null;

class NotJson extends Error {}

const NO_CONTEXT = {};

const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;

interface Edit {
  start: number;
  end: number;
  text: string;
}

class JsonScanner {
  pos = 0;
  readonly edits: Edit[] = [];
  readonly path: string[];
  /** Keys and short values already scanned clean in this document (DynamoDB repeats them a lot). */
  readonly clean = new Set<string>();

  constructor(
    readonly text: string,
    readonly rules: CompiledRules,
    readonly report: ReportBuilder,
    readonly options: JsonMaskOptions,
  ) {
    this.path = [...options.basePath];
  }

  run(): void {
    this.ws();
    if (this.text.charCodeAt(this.pos) === 0xfeff) {
      this.pos++;
      this.ws();
    }
    this.value(this.options.maskAll, null, null, 0);
    this.ws();
    if (this.pos !== this.text.length) throw new NotJson();
  }

  ws(): void {
    const t = this.text;
    let c = t.charCodeAt(this.pos);
    while (c === 32 || c === 10 || c === 13 || c === 9) c = t.charCodeAt(++this.pos);
  }

  value(rule: string | null, ddb: DdbState, tag: string | null, depth: number): void {
    if (depth > MAX_DEPTH) throw new NotJson();
    const c = this.text.charCodeAt(this.pos);
    if (c === 123) return this.object(rule, ddb, depth);
    if (c === 91) return this.array(rule, ddb, tag, depth);
    if (c === 34) {
      const start = this.pos;
      const decoded = this.string();
      return this.scalarString(start, decoded, rule, tag);
    }
    if (c === 45 || (c >= 48 && c <= 57)) {
      NUMBER.lastIndex = this.pos;
      const m = NUMBER.exec(this.text);
      if (m === null) throw new NotJson();
      const start = this.pos;
      this.pos += m[0].length;
      return this.number(start, m[0], rule);
    }
    for (const literal of ['true', 'false', 'null']) {
      if (this.text.startsWith(literal, this.pos)) {
        // Booleans and null are one bit at most: kept so the document keeps its types.
        this.pos += literal.length;
        return;
      }
    }
    throw new NotJson();
  }

  object(rule: string | null, ddb: DdbState, depth: number): void {
    this.pos++;
    this.ws();
    if (this.text.charCodeAt(this.pos) === 125) {
      this.pos++;
      return;
    }
    for (;;) {
      if (this.text.charCodeAt(this.pos) !== 34) throw new NotJson();
      const keyStart = this.pos;
      const key = this.string();
      // Keys can be data too (maps keyed by email, DynamoDB map attributes): detectors run on them.
      if (!this.clean.has(key)) {
        const maskedKey = this.rules.detect(key, NO_CONTEXT, this.report);
        if (maskedKey !== null) this.edits.push({ start: keyStart, end: this.pos, text: JSON.stringify(maskedKey) });
        else this.remember(key);
      }
      this.ws();
      if (this.text.charCodeAt(this.pos) !== 58) throw new NotJson();
      this.pos++;
      this.ws();

      const isTag = ddb === 'typed' && DDB_TAGS.has(key);
      if (!isTag) this.path.push(key);
      const childRule = rule ?? (isTag ? null : this.rules.matchField(this.path));
      this.value(childRule, this.nextDdb(ddb, key, isTag), isTag ? key : null, depth + 1);
      if (!isTag) this.path.pop();

      this.ws();
      const c = this.text.charCodeAt(this.pos);
      if (c === 44) {
        this.pos++;
        this.ws();
        continue;
      }
      if (c === 125) {
        this.pos++;
        return;
      }
      throw new NotJson();
    }
  }

  array(rule: string | null, ddb: DdbState, tag: string | null, depth: number): void {
    this.pos++;
    this.ws();
    if (this.text.charCodeAt(this.pos) === 93) {
      this.pos++;
      return;
    }
    for (;;) {
      // Arrays are transparent in key paths; elements keep the parent's DynamoDB state and tag (SS, NS, L).
      this.value(rule, ddb, tag, depth + 1);
      this.ws();
      const c = this.text.charCodeAt(this.pos);
      if (c === 44) {
        this.pos++;
        this.ws();
        continue;
      }
      if (c === 93) {
        this.pos++;
        return;
      }
      throw new NotJson();
    }
  }

  remember(value: string): void {
    if (this.clean.size < 4096) this.clean.add(value);
  }

  nextDdb(state: DdbState, key: string, isTag: boolean): DdbState {
    if (state === 'attributes') return 'typed';
    if (state === 'tables') return 'attributes';
    if (state === 'typed' && isTag) return key === 'M' ? 'attributes' : key === 'L' ? 'typed' : null;
    if (!this.options.dynamodb) return null;
    if (DDB_ATTRIBUTE_MAPS.has(key)) return 'attributes';
    // BatchGetItem: Responses → table name → [items]; TransactGetItems: Responses → [{Item}] reads the same way.
    if (key === 'Responses') return 'tables';
    return null;
  }

  /** Reads a string token at pos (which is a quote); returns its decoded value. */
  string(): string {
    const t = this.text;
    const open = this.pos;
    let from = open + 1;
    let close: number;
    for (;;) {
      close = t.indexOf('"', from);
      if (close === -1) throw new NotJson();
      let b = close - 1;
      while (t.charCodeAt(b) === 92) b--;
      if ((close - 1 - b) % 2 === 0) break;
      from = close + 1;
    }
    this.pos = close + 1;
    const raw = t.slice(open + 1, close);
    // Raw control characters (invalid JSON) are tolerated: masking them in place is harmless and
    // checking every string costs more than the rest of the scan.
    if (!raw.includes('\\')) return raw;
    try {
      return JSON.parse(t.slice(open, close + 1)) as string;
    } catch {
      throw new NotJson();
    }
  }

  scalarString(start: number, decoded: string, rule: string | null, tag: string | null): void {
    let masked: string | null;
    const numeric = tag === 'N' || tag === 'NS';
    const blob = tag === 'B' || tag === 'BS' || (tag === null && BLOB_FIELDS.has(this.path[this.path.length - 1]));
    if (rule !== null && (numeric || blob)) {
      // Keep DynamoDB N parseable as a number (botocore reads it as Decimal) and blobs valid base64.
      if (decoded.length === 0) return;
      this.report.add({ kind: 'field', name: rule });
      masked = numeric ? '0' : MASKED_BLOB;
    } else if (blob) {
      return; // base64 of arbitrary bytes: detectors would only see noise
    } else if (numeric) {
      masked = this.rules.detect(decoded, { keyName: this.path[this.path.length - 1] }, this.report) === null ? null : '0';
    } else if (rule === null && decoded.length < 40 && this.clean.has(decoded)) {
      return;
    } else {
      masked = this.rules.maskString(decoded, this.path, rule, this.report, this.options.embeddedDepth);
      // Under 40 characters the outcome does not depend on the key (only secret keys use it).
      if (masked === null && rule === null && decoded.length < 40) this.remember(decoded);
    }
    if (masked !== null && masked !== decoded) this.edits.push({ start, end: this.pos, text: JSON.stringify(masked) });
  }

  number(start: number, raw: string, rule: string | null): void {
    if (rule !== null) {
      this.report.add({ kind: 'field', name: rule });
      if (raw !== '0') this.edits.push({ start, end: this.pos, text: '0' });
      return;
    }
    // A card number sent as a JSON number: replaced by 0 so the value stays a number.
    if (raw.length >= 13 && raw.length <= 19 && this.rules.detectorNames.has('credit_card')) {
      const masked = this.rules.detect(raw, {}, this.report);
      if (masked !== null) this.edits.push({ start, end: this.pos, text: '0' });
    }
  }
}

/**
 * Masks a JSON document given as text. Returns the new text, null when nothing changed, or
 * undefined when the text is not valid JSON (the caller falls back to text masking).
 * The report is only written to when the text is valid JSON.
 */
export function maskJsonText(text: string, rules: CompiledRules, report: ReportBuilder, options: JsonMaskOptions): string | null | undefined {
  // Count into a scratch report: if the text turns out not to be JSON, nothing was masked.
  const scratch = new ReportBuilder();
  const scanner = new JsonScanner(text, rules, scratch, options);
  try {
    scanner.run();
  } catch (error) {
    if (error instanceof NotJson || error instanceof RangeError) return undefined;
    throw error;
  }
  report.merge(scratch);
  if (scanner.edits.length === 0) return null;
  let out = '';
  let at = 0;
  for (const edit of scanner.edits.sort((a, b) => a.start - b.start)) {
    out += text.slice(at, edit.start) + edit.text;
    at = edit.end;
  }
  return out + text.slice(at);
}
