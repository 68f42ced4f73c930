// The YAML walk every section validator shares: typed reads of mappings, lists and scalars that record each
// problem with the line and column of the offending node and a path such as `rules[2].effect`. Collects every
// error (and warning) instead of stopping at the first.

import { isAlias, isMap, isScalar, isSeq, type Document, type LineCounter, type Node, type Scalar } from 'yaml';
import type { PolicyErrorItem } from '../../events.js';
import { suggest } from '../../lib/suggest.js';
import { formatDurationMs, parseDurationMs } from '../../lib/duration.js';
import type { IssuerConfig } from '../types.js';

export interface Entry {
  key: Scalar;
  value: Node | null;
}

export type Fields = Map<string, Entry>;

export class Walker {
  readonly errors: PolicyErrorItem[] = [];
  /** Problems that do not stop the policy loading (a rule that can never take effect); `policy check --strict` fails on them. */
  readonly warnings: PolicyErrorItem[] = [];
  // Names declared (even in entries with other errors), so one mistake doesn't cascade into "unknown" errors.
  readonly issuerNames = new Set<string>();
  readonly accountNames = new Set<string>();
  readonly issuerConfigs = new Map<string, IssuerConfig>();

  constructor(
    readonly doc: Document,
    readonly lineCounter: LineCounter,
    readonly file: string,
  ) {}

  // ---- building blocks ----

  /** Checks a mapping's keys (unknown, duplicate, missing required) and returns its entries. `allowed` null: any keys. */
  fields(raw: Node | Scalar | null, path: string, allowed: readonly string[] | null, required: readonly string[]): Fields | undefined {
    const node = this.resolve(raw);
    if (!isMap(node)) {
      this.error(node ?? raw, path, 'must be a mapping (key: value)');
      return undefined;
    }
    const out: Fields = new Map();
    for (const pair of node.items) {
      const keyNode = this.resolve(pair.key as Node | null);
      const valueNode = this.resolve(pair.value as Node | null);
      if (!isScalar(keyNode) || typeof keyNode.value !== 'string') {
        // `Null:` (the IAM-style operator) is YAML's null unless quoted.
        const nullKey = isScalar(keyNode) && keyNode.value === null && keyNode.source !== undefined && keyNode.source !== '';
        this.error(keyNode ?? node, path, nullKey ? `keys must be plain strings: an unquoted ${String(keyNode.source)} is YAML's null; write "${String(keyNode.source)}"` : 'keys must be plain strings');
        continue;
      }
      const key = keyNode.value;
      const keyPath = path ? `${path}.${key}` : key;
      if (out.has(key)) {
        this.error(keyNode, keyPath, `duplicate key \`${key}\` (first at line ${this.lineOf(out.get(key)!.key)})`);
        continue;
      }
      if (allowed && !allowed.includes(key)) {
        this.error(keyNode, keyPath, `unknown key \`${key}\`${suggest(key, allowed)}`);
        continue;
      }
      out.set(key, { key: keyNode, value: valueNode });
    }
    for (const key of required) {
      if (!out.has(key)) this.error(node, path ? `${path}.${key}` : key, `required key \`${key}\` is missing`);
    }
    return out;
  }

  list(raw: Node | Scalar | null, path: string, each: (node: Node | null, path: string) => void, options: { nonEmpty?: boolean } = {}): void {
    const node = this.resolve(raw);
    if (!isSeq(node)) {
      this.error(node ?? raw, path, 'must be a list');
      return;
    }
    if (options.nonEmpty && node.items.length === 0) this.error(node, path, 'must not be empty');
    node.items.forEach((item, i) => each(this.resolve(item as Node | null), `${path}[${i}]`));
  }

  /** A non-empty list of patterns, each checked by `problem`; `["*"]` when the key is absent. */
  patternList(
    f: Fields,
    key: string,
    path: string,
    problem: (pattern: string) => string | undefined,
  ): string[] | undefined {
    const entry = f.get(key);
    if (!entry) return ['*'];
    const out: string[] = [];
    let ok = true;
    this.list(entry.value ?? entry.key, path, (node, itemPath) => {
      const pattern = this.string(node, itemPath);
      if (pattern === undefined) return void (ok = false);
      const why = pattern === '' ? 'must not be empty' : problem(pattern);
      if (why) {
        this.error(node, itemPath, why);
        ok = false;
      } else out.push(pattern);
    }, { nonEmpty: true });
    return ok && out.length > 0 ? out : undefined;
  }

  string(raw: Node | Scalar | null, path: string, hint = 'quote it'): string | undefined {
    const node = this.resolve(raw);
    if (isScalar(node) && typeof node.value === 'string') return node.value;
    if (isScalar(node) && node.value !== null && typeof node.value !== 'object') {
      this.error(node, path, `must be a string, got ${typeof node.value} ${String(node.value)} (${hint})`);
    } else if (isScalar(node) && node.value === null) {
      this.error(node, path, 'must be a string, got nothing');
    } else {
      this.error(node ?? raw, path, 'must be a string');
    }
    return undefined;
  }

  optString(f: Fields, key: string, path: string): string | undefined {
    const entry = f.get(key);
    return entry ? this.string(entry.value ?? entry.key, path) : undefined;
  }

  stringOrList(entry: Entry | undefined, path: string): string[] | undefined {
    if (!entry) return undefined;
    const node = this.resolve(entry.value);
    if (isSeq(node)) {
      const out: string[] = [];
      let ok = true;
      this.list(node, path, (item, itemPath) => {
        const s = this.string(item, itemPath);
        if (s === undefined) ok = false;
        else if (s === '') {
          this.error(item, itemPath, 'must not be empty');
          ok = false;
        } else out.push(s);
      }, { nonEmpty: true });
      return ok && out.length > 0 ? out : undefined;
    }
    const s = this.string(node ?? entry.key, path);
    if (s === '') {
      this.error(node, path, 'must not be empty');
      return undefined;
    }
    return s === undefined ? undefined : [s];
  }

  duration(entry: Entry | undefined, path: string, bounds: { min: number; max?: number }): number | undefined {
    if (!entry) return undefined;
    const node = this.resolve(entry.value);
    const text = isScalar(node) && (typeof node.value === 'string' || typeof node.value === 'number') ? String(node.value) : undefined;
    const ms = isScalar(node) && typeof node.value === 'string' ? parseDurationMs(node.value) : undefined;
    if (ms === undefined) {
      const bare = isScalar(node) && typeof node.value === 'number' ? ' (a bare number has no unit)' : '';
      this.error(node ?? entry.key, path, `${text === undefined ? 'must be a duration' : `"${text}" is not a duration`}: use 30s, 10m, 1h or 1d${bare}`);
      return undefined;
    }
    if (ms < bounds.min) {
      this.error(node, path, bounds.min === 0 ? 'must not be negative' : 'must be longer than 0');
      return undefined;
    }
    if (bounds.max !== undefined && ms > bounds.max) {
      this.error(node, path, `must be at most ${formatDurationMs(bounds.max)} (got ${text})`);
      return undefined;
    }
    return ms;
  }

  integer(entry: Entry | undefined, path: string, min: number): number | undefined {
    if (!entry) return undefined;
    const node = this.resolve(entry.value);
    if (!isScalar(node) || typeof node.value !== 'number' || !Number.isSafeInteger(node.value)) {
      this.error(node ?? entry.key, path, 'must be a whole number of bytes, e.g. 65536');
      return undefined;
    }
    if (node.value < min) {
      this.error(node, path, `must be at least ${min}`);
      return undefined;
    }
    return node.value;
  }

  enumValue<T extends string>(f: Fields, key: string, path: string, values: readonly T[]): T | undefined {
    const s = this.optString(f, key, path);
    if (s === undefined) return undefined;
    if ((values as readonly string[]).includes(s)) return s as T;
    this.error(f.get(key)!.value, path, `must be one of ${values.join(', ')} (got "${s}")`);
    return undefined;
  }

  // ---- locations ----

  resolve(node: Node | Scalar | null | undefined): Node | null {
    if (node === null || node === undefined) return null;
    if (isAlias(node)) return (node.resolve(this.doc) as Node | undefined) ?? null;
    return node;
  }

  offsetOf(node: Node | Scalar | null | undefined): number {
    return node?.range?.[0] ?? 0;
  }

  lineOf(node: Node | Scalar | null): number {
    return this.lineCounter.linePos(this.offsetOf(node)).line;
  }

  error(node: Node | Scalar | null | undefined, path: string, message: string): void {
    this.errorAt(this.offsetOf(node), path, message);
  }

  errorAt(offset: number, path: string, message: string): void {
    const { line, col } = this.lineCounter.linePos(offset);
    this.errors.push({ file: this.file, line, column: col, path, message });
  }

  sorted(list: PolicyErrorItem[] = this.errors): PolicyErrorItem[] {
    return [...list].sort((a, b) => a.line - b.line || a.column - b.column);
  }

  warn(node: Node | Scalar | null | undefined, path: string, message: string): void {
    const { line, col } = this.lineCounter.linePos(this.offsetOf(node));
    this.warnings.push({ file: this.file, line, column: col, path, message });
  }
}

export function httpUrlProblem(text: string, httpsUnlessLoopback: boolean): string | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return `"${text}" is not a URL`;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return `"${text}" must be an http(s) URL`;
  if (url.username || url.password) return 'must not contain credentials';
  if (httpsUnlessLoopback && url.protocol === 'http:' && !['localhost', '127.0.0.1', '[::1]'].includes(url.hostname)) {
    return `"${text}" must use https (http is only accepted for localhost)`;
  }
  return undefined;
}
