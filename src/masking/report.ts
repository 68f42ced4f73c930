// Counts what was masked, per field rule and per detector; never holds a masked value.

import type { MaskingReport } from '../events.js';
import type { Span } from './detectors.js';

export class ReportBuilder {
  readonly fields: Record<string, number> = {};
  readonly detectors: Record<string, number> = {};
  count = 0;

  add(span: Pick<Span, 'kind' | 'name'>, times = 1): void {
    const bucket = span.kind === 'field' ? this.fields : this.detectors;
    bucket[span.name] = (bucket[span.name] ?? 0) + times;
    this.count += times;
  }

  merge(other: ReportBuilder): void {
    for (const [name, n] of Object.entries(other.fields)) this.add({ kind: 'field', name }, n);
    for (const [name, n] of Object.entries(other.detectors)) this.add({ kind: 'detector', name }, n);
  }

  build(skipped?: MaskingReport['skipped']): MaskingReport {
    const report: MaskingReport = { fields: { ...this.fields }, detectors: { ...this.detectors } };
    if (skipped !== undefined) report.skipped = skipped;
    return report;
  }
}

/** Counts from two reports added up (body and headers of one response); `skipped` comes from the first. */
export function mergeReports(first: MaskingReport, second: MaskingReport): MaskingReport {
  const merged: MaskingReport = { fields: { ...first.fields }, detectors: { ...first.detectors } };
  for (const [name, n] of Object.entries(second.fields)) merged.fields[name] = (merged.fields[name] ?? 0) + n;
  for (const [name, n] of Object.entries(second.detectors)) merged.detectors[name] = (merged.detectors[name] ?? 0) + n;
  if (first.skipped !== undefined) merged.skipped = first.skipped;
  return merged;
}
