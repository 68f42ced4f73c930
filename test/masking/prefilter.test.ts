// The engine skips detectors and field-rule text shapes on strings that cannot hold a hit (engine.ts: the detector
// trigger and the field-name prefilter). A skip must never change the answer: for any string, detect() equals running
// every detector, pattern and shape unconditionally.
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { DEFAULT_MASKING_FIELDS } from '../../src/config/validate.js';
import { applySpans, resolveSpans, type Span } from '../../src/masking/detectors.js';
import { Engine } from '../../src/masking/engine.js';
import { ReportBuilder } from '../../src/masking/report.js';

const engine = new Engine({
  fields: [...DEFAULT_MASKING_FIELDS, 'password', 'api_key'],
  detectors: ['aws_access_key_id', 'aws_secret_access_key', 'private_key', 'jwt', 'email', 'credit_card'],
  patterns: [{ name: 'ticket', regex: 'TCK-[0-9]{4}' }],
  maxBodyBytes: 1 << 20,
});

function unfiltered(text: string, keyName?: string): string | null {
  const context = { keyName };
  let spans: Span[] = [];
  for (const detector of [...engine.textFieldDetectors, ...engine.detectors, ...engine.patterns]) spans = spans.concat(detector(text, context));
  if (spans.length === 0) return null;
  return applySpans(text, resolveSpans(spans));
}

// Fragments that build near-misses of every shape: names in any case, quotes, escapes, separators, tags, key runs.
const fragment = fc.oneof(
  fc.constantFrom('Value', 'value', 'VALUE', 'SecretString', 'secretstring', 'SessionToken', 'password', 'api_key', 'SecretAccessKey'),
  fc.constantFrom('"', "'", '\\"', '=', ':', ' ', '\t', '\n', '<', '>', '</', 'ns:', ' attr="x"', ',', '{', '}', '@', 'eyJ', '.', '-', '<![CDATA[x]]>'),
  fc.constantFrom('AKIAIOSFODNN7EXAMPLE', 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY', 'abcdefABCDEF0123456789abcdefABCDEF012345', '4111 1111 1111 1111', 'a@b.co', 'TCK-1234'),
  fc.string({ unit: fc.constantFrom(...'abcXYZ019/+ '), maxLength: 45 }),
);
const text = fc.array(fragment, { maxLength: 12 }).map((parts) => parts.join(''));

describe('masking prefilters', () => {
  test('detect() with its skips equals every detector, pattern and shape run on every string', () => {
    fc.assert(
      fc.property(text, fc.constantFrom(undefined, 'SecretKey', 'note', 'Value'), (value, keyName) => {
        expect(engine.detect(value, { keyName }, new ReportBuilder())).toBe(unfiltered(value, keyName));
      }),
      { numRuns: 5000 },
    );
  });

  test('the memo of clean strings: a secret is masked every time, and a key-shaped value found clean under one key is still masked under a key-like one', () => {
    const report = new ReportBuilder();
    const keyId = 'AKIAIOSFODNN7EXAMPLE';
    expect(engine.detect(keyId, {}, report)).not.toBeNull();
    expect(engine.detect(keyId, {}, report)).not.toBeNull(); // never remembered as clean
    // 40 characters of the secret-key alphabet, all lower case: not a secret under an ordinary key…
    const hexish = 'abcdef0123456789abcdef0123456789abcdef01';
    expect(engine.detect(hexish, { keyName: 'note' }, report)).toBeNull();
    expect(engine.detect(hexish, { keyName: 'note' }, report)).toBeNull();
    // …but under a key-like name it is, although the same text was just found clean under `note`.
    expect(engine.detect(hexish, { keyName: 'SecretAccessKey' }, report)).toBe('****');
    expect(engine.detect(hexish, { keyName: 'SecretAccessKey' }, report)).toBe('****');
    expect(engine.detect(hexish, {}, report)).toBeNull();
  });

  test('prose with the word "value" in it is not a field shape, "Value": … is', () => {
    const report = new ReportBuilder();
    expect(engine.detect('plain text value number 3 with nothing secret in it', {}, report)).toBeNull();
    expect(engine.detect('log: "Value": "hunter2"', {}, report)).toBe('log: "Value": "****"');
    expect(engine.detect('password = hunter2', {}, report)).toBe('password = ****');
    expect(engine.detect('<ns:Value attr="1">hunter2</ns:Value>', {}, report)).toBe('<ns:Value attr="1">****</ns:Value>');
  });
});
