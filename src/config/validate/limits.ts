// `limits:` (service accounts and rules) and `escalate:` (rules): counts, sizes and windows, each error located.

import { isScalar } from 'yaml';
import { parseByteSize } from '../../lib/bytes.js';
import { DEFAULT_LIMIT_WINDOW_MS, ESCALATE_THEN, type EscalateConfig, type LimitsConfig } from '../../limits/types.js';
import type { Entry, Walker } from './walker.js';

/** A whole count of at least `min`; undefined (after an error) otherwise. */
function count(w: Walker, entry: Entry | undefined, path: string, min: number, what: string): number | undefined {
  if (!entry) return undefined;
  const node = w.resolve(entry.value);
  if (!isScalar(node) || typeof node.value !== 'number' || !Number.isSafeInteger(node.value)) {
    w.error(node ?? entry.key, path, `must be a whole number of ${what}, e.g. 100`);
    return undefined;
  }
  if (node.value < min) {
    w.error(node, path, `must be at least ${min} (got ${node.value})`);
    return undefined;
  }
  return node.value;
}

/** `limits: {concurrent: 8, calls: 100, bytes: 1GiB, per: 1m}`; undefined when absent, null after an error. */
export function limitsBlock(w: Walker, entry: Entry | undefined, path: string): LimitsConfig | undefined | null {
  if (!entry) return undefined;
  const before = w.errors.length;
  const f = w.fields(entry.value ?? entry.key, path, ['concurrent', 'calls', 'bytes', 'per'], []);
  if (!f) return null;
  if (f.size === 0 && w.errors.length === before) w.error(entry.value ?? entry.key, path, 'must set at least one of concurrent, calls, bytes');
  const out: LimitsConfig = { perMs: DEFAULT_LIMIT_WINDOW_MS };
  const concurrent = count(w, f.get('concurrent'), `${path}.concurrent`, 1, 'calls in flight');
  if (concurrent !== undefined) out.concurrent = concurrent;
  const calls = count(w, f.get('calls'), `${path}.calls`, 1, 'calls');
  if (calls !== undefined) out.calls = calls;
  const bytesEntry = f.get('bytes');
  if (bytesEntry) {
    const node = w.resolve(bytesEntry.value);
    const raw = isScalar(node) && (typeof node.value === 'string' || typeof node.value === 'number') ? node.value : undefined;
    const bytes = raw === undefined ? undefined : parseByteSize(raw);
    if (bytes === undefined || bytes < 1) w.error(node ?? bytesEntry.key, `${path}.bytes`, 'must be a size such as 1GiB, 512MiB or a number of bytes (at least 1)');
    else out.bytes = bytes;
  }
  const perEntry = f.get('per');
  const per = w.duration(perEntry, `${path}.per`, { min: 1 });
  if (per !== undefined) out.perMs = per;
  if (perEntry && !f.has('calls') && !f.has('bytes')) w.error(perEntry.key, `${path}.per`, '`per` is the window of `calls` and `bytes`; set one of them');
  return w.errors.length === before ? out : null;
}

/** `escalate: {after: 20, within: 10m, then: approve}`; undefined when absent, null after an error. */
export function escalateBlock(w: Walker, entry: Entry | undefined, path: string): EscalateConfig | undefined | null {
  if (!entry) return undefined;
  const before = w.errors.length;
  const f = w.fields(entry.value ?? entry.key, path, ['after', 'within', 'then'], ['after', 'within', 'then']);
  if (!f) return null;
  const after = count(w, f.get('after'), `${path}.after`, 1, 'calls');
  const withinMs = w.duration(f.get('within'), `${path}.within`, { min: 1 });
  const then = f.has('then') ? w.enumValue(f, 'then', `${path}.then`, ESCALATE_THEN) : undefined;
  if (w.errors.length !== before || after === undefined || withinMs === undefined || then === undefined) return null;
  return { after, withinMs, then };
}
