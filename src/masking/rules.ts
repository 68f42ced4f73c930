// What the document scanners (json.ts, xml.ts) need from the compiled rules. The Engine implements
// it and hands itself to the scanners; the scanners depend on this interface, not on the Engine, so
// engine.ts → json.ts is the only edge between them.

import type { DetectorName } from './config.js';
import type { DetectContext } from './detectors.js';
import type { ReportBuilder } from './report.js';

export interface CompiledRules {
  readonly detectorNames: ReadonlySet<DetectorName>;
  /** Whether some field rule ends in this name (cheap pre-check before matchField). */
  hasRuleEndingIn(name: string): boolean;
  /** The rule (as written) whose segments are a suffix of `path`, if any. */
  matchField(path: readonly string[]): string | null;
  /** Detectors, patterns and free-text field shapes over one value; null when nothing matched. */
  detect(text: string, context: DetectContext, report: ReportBuilder): string | null;
  /** One string value found in a document; null when unchanged. */
  maskString(value: string, path: string[], fieldRule: string | null, report: ReportBuilder, embeddedDepth: number): string | null;
}
