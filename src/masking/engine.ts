// The compiled masking rules and the string-level operations every format shares:
// field-rule lookup by key path, detectors over one string, JSON held inside a string, and the
// free-text field rules used for text bodies and for documents that fail to parse.

import type { DetectorName, MaskingConfig } from './config.js';
import { DETECTORS, DETECTOR_NAMES, MASK, applySpans, compilePattern, resolveSpans } from './detectors.js';
import type { DetectContext, Detector, Span } from './detectors.js';
import { maskJsonText } from './json.js';
import type { ReportBuilder } from './report.js';
import type { CompiledRules } from './rules.js';

export interface FieldRule {
  /** The rule as written in the policy (`Credentials.SecretAccessKey`); the report key. */
  source: string;
  segments: string[];
}

/** Bounds of the engine's memo of clean strings: longer strings are not remembered; past the count it starts over. */
const CLEAN_MEMO_MAX_CHARS = 256;
const CLEAN_MEMO_MAX_ENTRIES = 8192;

/** JSON strings nested inside JSON strings are unwrapped this many levels deep, then treated as text. */
const MAX_EMBEDDED_DEPTH = 4;

/**
 * Regex sources that every hit of a detector must contain; strings without any skip the detectors.
 * null: no literal trigger — a secret access key is found by `hasKeyRun` instead.
 */
const DETECTOR_TRIGGERS: Record<DetectorName, string | null> = {
  aws_access_key_id: 'A[KS]IA',
  aws_secret_access_key: null,
  private_key: 'PRIVATE KEY',
  jwt: 'eyJ',
  email: '@',
  credit_card: '[2-6](?:[ -]?[0-9]){12}',
};

/**
 * Whether `text` has 40 consecutive characters of a secret access key's alphabet (A-Z a-z 0-9 / +), which every
 * candidate the detector looks at is (SECRET_CANDIDATE in detectors.ts). One pass; a regex `[…]{40}` in the trigger
 * alternation would retry up to 40 characters at every position.
 */
function hasKeyRun(text: string): boolean {
  if (text.length < 40) return false;
  let run = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    const inAlphabet = (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 47 && c <= 57) || c === 43;
    if (!inAlphabet) run = 0;
    else if (++run >= 40) return true;
  }
  return false;
}

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

export class Engine implements CompiledRules {
  readonly rulesByLast = new Map<string, FieldRule[]>();
  /** Built-in detectors, run only when the trigger matches or the string is long enough for a secret key. */
  readonly detectors: Detector[] = [];
  readonly patterns: Detector[] = [];
  readonly textFieldDetectors: Detector[] = [];
  readonly detectorNames: ReadonlySet<DetectorName>;
  /** One cheap test per string before running every field rule's text shapes. */
  #textFieldPrefilter: RegExp | null = null;
  /** One cheap test per short string before running the built-in detectors. */
  #detectorTrigger: RegExp | null = null;
  /** The secret access key detector is on: strings with a 40-character run of its alphabet go to the detectors. */
  #secretKeys = false;
  /**
   * Per detector (same order as `detectors`), what a string must contain for it to have a hit: its trigger, or for
   * the secret access key a 40-character run of the alphabet (`'key-run'`). A string that passed the shared test is
   * given only to the detectors whose own condition it meets (an email is not scanned for keys, JWTs and cards).
   */
  readonly #gates: (RegExp | 'key-run')[] = [];
  /** Short strings (with their key name from 40 characters) that detect() found nothing in; bounded. */
  readonly #clean = new Set<string>();

  constructor(config: MaskingConfig) {
    if (!Number.isFinite(config.maxBodyBytes) || config.maxBodyBytes < 0) {
      throw new Error(`masking.maxBodyBytes: must be a non-negative number, got ${String(config.maxBodyBytes)}`);
    }
    config.fields.forEach((source, index) => {
      const segments = source.split('.');
      if (source.trim() === '' || segments.some((s) => s === '')) {
        throw new Error(`masking.fields[${index}]: "${source}" is not a field name or dotted path`);
      }
      const last = segments[segments.length - 1];
      const list = this.rulesByLast.get(last) ?? [];
      list.push({ source, segments });
      this.rulesByLast.set(last, list);
    });
    const names = new Set<DetectorName>();
    config.detectors.forEach((name, index) => {
      const detector = DETECTORS[name];
      if (detector === undefined) {
        throw new Error(`masking.detectors[${index}]: unknown detector "${String(name)}" (known: ${DETECTOR_NAMES.join(', ')})`);
      }
      names.add(name);
      this.detectors.push(detector);
      const trigger = DETECTOR_TRIGGERS[name];
      this.#gates.push(trigger === null ? 'key-run' : new RegExp(trigger));
    });
    this.detectorNames = names;
    const triggers = [...names].map((name) => DETECTOR_TRIGGERS[name]).filter((t) => t !== null);
    this.#secretKeys = names.has('aws_secret_access_key');
    this.#detectorTrigger = triggers.length > 0 ? new RegExp(triggers.join('|')) : null;
    config.patterns.forEach((pattern, index) => {
      if (typeof pattern.name !== 'string' || pattern.name === '') throw new Error(`masking.patterns[${index}]: name is required`);
      this.patterns.push(compilePattern(pattern.name, pattern.regex, index));
    });
    this.#compileTextFieldRules([...this.rulesByLast.values()].flat());
  }

  /** The rule (as written) whose segments are a suffix of `path`, if any. */
  matchField(path: readonly string[]): string | null {
    const rules = this.rulesByLast.get(path[path.length - 1]);
    if (rules === undefined) return null;
    for (const rule of rules) {
      const n = rule.segments.length;
      if (n > path.length) continue;
      let ok = true;
      for (let i = 1; i < n && ok; i++) ok = rule.segments[n - 1 - i] === path[path.length - 1 - i];
      if (ok) return rule.source;
    }
    return null;
  }

  hasRuleEndingIn(name: string): boolean {
    return this.rulesByLast.has(name);
  }

  get hasFieldRules(): boolean {
    return this.rulesByLast.size > 0;
  }

  /**
   * Detectors, custom patterns and the free-text shapes of field rules (`password=…` inside a log
   * message string) over one value; null when nothing matched.
   */
  detect(text: string, context: DetectContext, report: ReportBuilder): string | null {
    if (text.length === 0) return null;
    // Strings found clean before are clean again (the answer depends only on the text, and on the key name for
    // strings long enough to hide a secret key): API answers repeat ids, names and notes call after call. Only
    // clean strings are remembered, so no secret is kept beyond the call that carried it.
    const memoKey = text.length > CLEAN_MEMO_MAX_CHARS ? undefined : text.length < 40 ? text : `${context.keyName?.length ?? -1}:${context.keyName ?? ''}:${text}`;
    if (memoKey !== undefined && this.#clean.has(memoKey)) return null;
    const masked = this.#detect(text, context, report);
    if (masked === null && memoKey !== undefined) {
      if (this.#clean.size >= CLEAN_MEMO_MAX_ENTRIES) this.#clean.clear();
      this.#clean.add(memoKey);
    }
    return masked;
  }

  #detect(text: string, context: DetectContext, report: ReportBuilder): string | null {
    let spans: Span[] = [];
    if (this.#textFieldPrefilter !== null && this.#textFieldPrefilter.test(text)) {
      for (const detector of this.textFieldDetectors) {
        const found = detector(text, context);
        if (found.length > 0) spans = spans.concat(found);
      }
    }
    const keyRun = this.#secretKeys && hasKeyRun(text);
    if (keyRun || (this.#detectorTrigger !== null && this.#detectorTrigger.test(text))) {
      for (let i = 0; i < this.detectors.length; i++) {
        const gate = this.#gates[i]!;
        if (gate === 'key-run' ? !keyRun : !gate.test(text)) continue;
        const found = this.detectors[i]!(text, context);
        if (found.length > 0) spans = spans.length === 0 ? found : spans.concat(found);
      }
    }
    for (const detector of this.patterns) {
      const found = detector(text, context);
      if (found.length > 0) spans = spans.length === 0 ? found : spans.concat(found);
    }
    if (spans.length === 0) return null;
    const kept = resolveSpans(spans);
    for (const span of kept) report.add(span);
    return applySpans(text, kept);
  }

  /**
   * One string value found in a document. `fieldRule` is the rule that names this value (or an
   * ancestor of it). Returns the new value, or null when unchanged.
   */
  maskString(value: string, path: string[], fieldRule: string | null, report: ReportBuilder, embeddedDepth: number): string | null {
    if (value.length === 0) return null;
    const embedded = this.#maskEmbeddedJson(value, path, fieldRule, report, embeddedDepth);
    if (embedded !== undefined) return embedded;
    if (fieldRule !== null) {
      report.add({ kind: 'field', name: fieldRule });
      return MASK;
    }
    return this.detect(value, { keyName: path[path.length - 1] }, report);
  }

  /**
   * A string that holds a JSON object or array (SecretString usually does) is masked inside, field
   * by field, and re-serialised. undefined = not JSON; null = JSON, nothing to mask.
   */
  #maskEmbeddedJson(value: string, path: string[], fieldRule: string | null, report: ReportBuilder, embeddedDepth: number): string | null | undefined {
    if (embeddedDepth >= MAX_EMBEDDED_DEPTH) return undefined;
    let i = 0;
    while (i < value.length && (value[i] === ' ' || value[i] === '\n' || value[i] === '\r' || value[i] === '\t')) i++;
    const first = value[i];
    if (first !== '{' && first !== '[') return undefined;
    const result = maskJsonText(value, this, report, { basePath: path, maskAll: fieldRule, dynamodb: false, embeddedDepth: embeddedDepth + 1 });
    if (result === undefined) return undefined;
    return result;
  }

  /**
   * Text bodies and unparseable documents: detectors, custom patterns, plus field rules found by
   * shape — `"Name": value`, `<Name>value</Name>`, and for single-name rules `Name=value` / `Name: value`.
   */
  maskFreeText(text: string, report: ReportBuilder): string | null {
    return this.detect(text, {}, report);
  }

  #compileTextFieldRules(rules: FieldRule[]): void {
    if (rules.length > 0) {
      const names = [...new Set(rules.map((r) => escapeRegex(r.segments[r.segments.length - 1])))].join('|');
      // What every shape below needs: the name opening an element (`<Name>`, `<ns:Name attr>`), or followed by a
      // quote, a backslash (escaped quote) or `=`/`:` after blanks. The bare name is not enough: a rule such as
      // `Parameter.Value` would send every string with the word "value" in it through all the shapes.
      this.#textFieldPrefilter = new RegExp(`<(?:[\\w.-]+:)?(?:${names})[\\s>]|(?:${names})(?:["'\\\\]|[ \\t]*[=:])`, 'i');
    }
    for (const rule of rules) {
      const name = escapeRegex(rule.segments[rule.segments.length - 1]);
      const shapes = [
        // "Name": "value" (escaped quotes inside allowed) or "Name": 123 — group 1 is the value
        `"${name}"\\s*:\\s*("(?:[^"\\\\]|\\\\.)*"?|[^\\s,}\\]]+)`,
        // \"Name\":\"value\" — JSON held in a JSON string, seen as raw text
        `\\\\"${name}\\\\"\\s*:\\s*(\\\\"(?:[^\\\\]|\\\\[^"])*(?:\\\\")?)`,
        // <Name attr="x">value</Name> or <ns:Name><![CDATA[value]]></ns:Name> (CDATA bounded: an
        // unclosed section repeated many times must not make the scan quadratic)
        `<(?:[\\w.-]+:)?${name}(?:\\s[^>]*)?>(<!\\[CDATA\\[[\\s\\S]{0,4096}?\\]\\]>|[^<]*)`,
      ];
      if (rule.segments.length === 1) {
        // key=value, key: value (env files, INI, YAML, log lines); value to whitespace or a quote's end
        shapes.push(`(?<![\\w.-])["']?${name}["']?[ \\t]*[=:][ \\t]*("[^"\\n]*"?|'[^'\\n]*'?|[^\\s,;&'"]+)`);
      }
      for (const shape of shapes) {
        const regex = new RegExp(shape, 'gdi');
        this.textFieldDetectors.push((text: string): Span[] => {
          const spans: Span[] = [];
          regex.lastIndex = 0;
          for (let m = regex.exec(text); m !== null; m = regex.exec(text)) {
            const [start, end] = m.indices![1];
            if (end <= start) continue;
            const value = m[1];
            const quote = value[0] === '"' || value[0] === "'" ? value[0] : '';
            const cdata = value.startsWith('<![CDATA[');
            const escapedQuote = value.startsWith('\\"');
            const replacement = cdata
              ? `<![CDATA[${MASK}]]>`
              : escapedQuote
                ? `\\"${MASK}\\"`
                : quote !== ''
                  ? `${quote}${MASK}${quote}`
                  : MASK;
            spans.push({ start, end, replacement, name: rule.source, kind: 'field' });
          }
          return spans;
        });
      }
    }
  }
}
