// evaluate() tests only the rules whose resource patterns could begin the resource (a prefix trie per action). That
// is a shortcut, never a different answer: for random rule sets and resources it must equal testing every rule that
// names the action, in file order, as the plain IAM reading does.
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { DEFAULT_APPROVAL, type Effect, type RuleConfig } from '../../src/config/types.js';
import { compilePolicy, type CompiledRule } from '../../src/policy/compile.js';
import { DEFAULT_DENY, evaluate, rulesForAction } from '../../src/policy/evaluate.js';

const RANK: Record<Effect, number> = { deny: 3, approve: 2, allow: 1 };

/** The linear reading evaluate() had before the index: every rule the action reaches, in file order. */
function reference(rules: CompiledRule[], principal: string, resource: string): { effect: Effect; ruleId: string; matched: string[] } {
  const unknown = resource === '*';
  const matched: CompiledRule[] = [];
  let decider: CompiledRule | undefined;
  for (const rule of rules) {
    if (!rule.matchPrincipal(principal)) continue;
    if (!(unknown && rule.rank > 1) && !rule.matchResource(resource)) continue;
    matched.push(rule);
    if (!decider || rule.rank > decider.rank) decider = rule;
  }
  if (!decider) return { effect: 'deny', ruleId: DEFAULT_DENY, matched: [] };
  return { effect: decider.rule.effect, ruleId: decider.rule.id, matched: matched.filter((r) => r !== decider).map((r) => r.rule.id) };
}

const piece = fc.constantFrom('arn:aws:s3:::', 'arn:aws:dynamodb:us-east-1:123456789012:table/', 'reports', 'rep', 'archive-1', 'a', 'b', '/', '*', '?', 'x.csv', '2024/', '');
const pattern = fc.array(piece, { minLength: 1, maxLength: 4 }).map((parts) => parts.join('') || '*');
const resource = fc.oneof(fc.constant('*'), fc.array(fc.constantFrom('arn:aws:s3:::', 'reports', 'rep', 'archive-1', 'a', 'b', '/', 'x.csv', '2024/', 'table/', '*', '?'), { maxLength: 5 }).map((p) => p.join('')));
const ruleArb = fc.record({
  effect: fc.constantFrom<Effect>('allow', 'deny', 'approve'),
  actions: fc.constantFrom(['s3:GetObject'], ['s3:Get*'], ['*'], ['s3:PutObject'], ['s3:GetObject', 'dynamodb:GetItem']),
  resources: fc.array(pattern, { minLength: 1, maxLength: 3 }),
  principals: fc.constantFrom(['*'], ['bench'], ['other']),
});

describe('policy resource index', () => {
  test('evaluate() equals testing every rule the action reaches', () => {
    fc.assert(
      fc.property(fc.array(ruleArb, { maxLength: 30 }), fc.array(resource, { minLength: 1, maxLength: 8 }), fc.constantFrom('bench', 'other'), (specs, resources, principal) => {
        const rules: RuleConfig[] = specs.map((s, i) => ({ id: `r${i}`, approval: DEFAULT_APPROVAL, ...s }));
        const compiled = compilePolicy({ rules });
        for (const r of resources) {
          const got = evaluate(compiled, { principal, action: 's3:GetObject', resource: r });
          const want = reference(rulesForAction(compiled, 's3:GetObject'), principal, r);
          expect({ effect: got.effect, ruleId: got.ruleId, matched: got.matched }).toEqual(want);
        }
      }),
      { numRuns: 2000 },
    );
  });

  test('a thousand rules for other buckets: the call on this bucket is decided by its own rule', () => {
    const rules: RuleConfig[] = Array.from({ length: 1000 }, (_, i) => ({
      id: `deny-${i}`,
      effect: 'deny' as const,
      principals: ['*'],
      actions: ['s3:GetObject'],
      resources: [`arn:aws:s3:::archive-${i}/*`],
      approval: DEFAULT_APPROVAL,
    }));
    rules.push({ id: 'allow-reports', effect: 'allow', principals: ['*'], actions: ['s3:Get*'], resources: ['arn:aws:s3:::reports/*'], approval: DEFAULT_APPROVAL });
    const compiled = compilePolicy({ rules });
    expect(evaluate(compiled, { principal: 'bench', action: 's3:GetObject', resource: 'arn:aws:s3:::reports/a.csv' }).ruleId).toBe('allow-reports');
    expect(evaluate(compiled, { principal: 'bench', action: 's3:GetObject', resource: 'arn:aws:s3:::archive-17/x' }).ruleId).toBe('deny-17');
    expect(evaluate(compiled, { principal: 'bench', action: 's3:GetObject', resource: 'arn:aws:s3:::archive-1/x' }).ruleId).toBe('deny-1');
    // Unknown resource: every deny applies, the first in the file decides.
    expect(evaluate(compiled, { principal: 'bench', action: 's3:GetObject', resource: '*' }).ruleId).toBe('deny-0');
  });
});
