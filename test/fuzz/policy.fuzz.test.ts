// Hostile policy files: any input — random text, random YAML documents, or the documented example with one
// edit — gives either a compiled policy or errors that name file, line and column. Never an exception; and a
// compiled policy always answers evaluate() with a decision.
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { stringify } from 'yaml';
import { parsePolicy, type PolicyLoadResult } from '../../src/config/load.js';
import { evaluate } from '../../src/policy/evaluate.js';
import { params, reportCases } from './runs.js';

reportCases('policy');

const FILE = 'fuzz.yaml';
const EXAMPLE = readFileSync(new URL('../../policy.example.yaml', import.meta.url), 'utf8');

function check(text: string): PolicyLoadResult {
  let result: PolicyLoadResult;
  try {
    result = parsePolicy(text, FILE);
  } catch (error) {
    throw new Error(`parsePolicy threw on ${JSON.stringify(text.slice(0, 300))}: ${(error as Error).stack}`);
  }
  if (result.ok) {
    const { compiled, config } = result.policy;
    for (const principal of ['reports-mcp', 'x', ...config.serviceAccounts.map((a) => a.name)]) {
      for (const action of ['s3:GetObject', 'dynamodb:DeleteTable', 'x:y']) {
        const decision = evaluate(compiled, { principal, action, resource: action.startsWith('s3') ? 'arn:aws:s3:::acme-reports/a' : '*' });
        expect(['allow', 'deny', 'approve']).toContain(decision.effect);
      }
    }
  } else {
    expect(result.errors.length).toBeGreaterThan(0);
    for (const error of result.errors) {
      expect(error.file).toBe(FILE);
      expect(Number.isInteger(error.line) && error.line >= 0).toBe(true);
      expect(Number.isInteger(error.column) && error.column >= 0).toBe(true);
      expect(typeof error.message).toBe('string');
      expect(error.message.length).toBeGreaterThan(0);
      // Located: a syntax or schema error points into the file (line 0 is for whole-file problems only).
      if (text.trim() !== '') expect(error.line > 0 || /file|document|empty|version|must|missing|required/i.test(error.message)).toBe(true);
    }
  }
  return result;
}

const key = fc.constantFrom('version', 'upstream', 'identity', 'issuers', 'service_accounts', 'rules', 'masking', 'recording', 'name', 'issuer', 'audience', 'jwks_uri', 'subject', 'roles', 'session_ttl', 'id', 'effect', 'actions', 'resources', 'principals', 'approval', 'hold', 'timeout', 'fields', 'detectors', 'patterns', 'regex', 'durability', 'on_failure', 'max_body_bytes', 'endpoint', 'region', 'claims', 'passthrough', '<<', '');
const scalar = fc.oneof(fc.string({ maxLength: 12 }), fc.integer(), fc.double(), fc.boolean(), fc.constant(null), fc.constantFrom('allow', 'deny', 'approve', '1h', '-1s', '10m', 's3:*', '*', 'arn:aws:s3:::b/*', '(', '[a-', 'strict', 'batch', 1));
const yamlValue: fc.Arbitrary<unknown> = fc.letrec<{ v: unknown }>((tie) => ({
  v: fc.oneof({ depthSize: 'small' }, scalar, fc.array(tie('v'), { maxLength: 4 }), fc.dictionary(key, tie('v'), { maxKeys: 5 })),
})).v;

describe('policy YAML never crashes the loader', () => {
  test('random text', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 300 }), fc.string({ unit: 'binary', maxLength: 200 }), fc.constantFrom('', '---\n---\n', '!!js/function x', '&a [*a]', 'a: &a\n  b: *a\n', '\uFEFFversion: 1', '%YAML 9.9\n---\n', '? [a]\n: b')), (text) => {
        check(text);
      }),
      params('text', 300),
    );
  });

  test('random YAML documents shaped like a policy', () => {
    fc.assert(
      fc.property(fc.dictionary(key, yamlValue, { maxKeys: 8 }), fc.boolean(), (doc, withVersion) => {
        check(stringify(withVersion ? { version: 1, ...doc } : doc));
      }),
      params('documents', 300),
    );
  });

  test('the documented example with one edit (delete, insert or replace a character or a line)', () => {
    expect(check(EXAMPLE).ok).toBe(true);
    const lines = EXAMPLE.split('\n');
    const edit = fc.oneof(
      fc.tuple(fc.nat(EXAMPLE.length - 1), fc.constantFrom('', ' ', '\t', ':', '-', '"', "'", '[', '{', '#', '\n', '*', '&', '!', 'x', '0', '\u00e9', '\u0000')).map(([at, ch]) => EXAMPLE.slice(0, at) + ch + EXAMPLE.slice(at + 1)),
      fc.tuple(fc.nat(EXAMPLE.length - 1), fc.constantFrom(' ', '\n  ', ': ', '- ', 'x')).map(([at, ch]) => EXAMPLE.slice(0, at) + ch + EXAMPLE.slice(at)),
      fc.nat(lines.length - 1).map((at) => lines.filter((_, i) => i !== at).join('\n')),
      fc.tuple(fc.nat(lines.length - 1), fc.nat(lines.length - 1)).map(([a, b]) => {
        const copy = [...lines];
        [copy[a], copy[b]] = [copy[b]!, copy[a]!];
        return copy.join('\n');
      }),
    );
    let rejected = 0;
    fc.assert(
      fc.property(edit, (text) => {
        if (!check(text).ok) rejected += 1;
      }),
      params('example-edits', 250),
    );
    // Many single edits are harmless (comments, whitespace); some must be caught, or nothing was tested.
    expect(rejected).toBeGreaterThan(0);
  });
});
