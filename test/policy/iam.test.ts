// Policies in IAM's vocabulary: access levels, whole-call decisions over (action, resource) pairs, and the
// warnings `policy check` prints.
import { describe, expect, it } from 'vitest';
import { authorizationPairs } from '../../src/aws/authorize.js';
import { identifyRequest } from '../../src/aws/identify.js';
import { formatPolicyError, parsePolicy } from '../../src/config/load.js';
import { DEFAULT_APPROVAL, type Effect, type RuleConfig } from '../../src/config/types.js';
import { compilePolicy } from '../../src/policy/compile.js';
import { decideCall, evaluate } from '../../src/policy/evaluate.js';

function rule(id: string, effect: Effect, actions: string[], extra: Partial<RuleConfig> = {}): RuleConfig {
  return { id, effect, principals: ['*'], actions, resources: ['*'], approval: DEFAULT_APPROVAL, ...extra };
}
const at = (action: string, resource = 'arn:aws:s3:::b/k') => ({ principal: 'p', action, resource });

describe('access levels', () => {
  const compiled = compilePolicy({
    rules: [rule('no-writes', 'deny', ['*'], { access: ['Write'] }), rule('s3-list-read', 'allow', ['s3:*'], { access: ['List', 'Read'] })],
  });
  it.each([
    ['s3:PutObject', 'deny', 'no-writes'],
    ['dynamodb:DeleteTable', 'deny', 'no-writes'],
    ['s3:PutObjectTagging', 'deny', 'no-writes'], // "Tagging, Write": both levels
    ['s3:GetObject', 'allow', 's3-list-read'],
    ['s3:ListBucket', 'allow', 's3-list-read'],
    ['S3:LISTBUCKET', 'allow', 's3-list-read'],
    ['dynamodb:GetItem', 'deny', 'default-deny'],
    ['s3:PutBucketPolicy', 'deny', 'no-writes'], // "Permissions management, Write"
    ['s3:GetBucketPolicy', 'allow', 's3-list-read'],
    ['sqs:ListQueueTags', 'deny', 'default-deny'], // Read, but not s3
    ['s3:NotAnAction', 'deny', 'default-deny'],
  ])('%s → %s (%s)', (action, effect, ruleId) => {
    const d = evaluate(compiled, at(action));
    expect([d.effect, d.ruleId]).toEqual([effect, ruleId]);
  });
});

describe('decideCall', () => {
  const compiled = compilePolicy({
    rules: [
      rule('read-reports', 'allow', ['s3:GetObject', 's3:PutObject'], { resources: ['arn:aws:s3:::reports/*'] }),
      rule('hold-secrets', 'approve', ['s3:PutObject'], { resources: ['arn:aws:s3:::reports/secret/*'] }),
      rule('keep-archive', 'deny', ['s3:DeleteObject'], { resources: ['arn:aws:s3:::reports/archive/*'] }),
      rule('delete-reports', 'allow', ['s3:DeleteObject'], { resources: ['arn:aws:s3:::reports/*'] }),
    ],
  });
  const pairs = (...list: [string, string][]) => list.map(([action, resource]) => ({ action, resource }));

  it('allows only when every pair is allowed', () => {
    const d = decideCall(compiled, 'p', pairs(['s3:GetObject', 'arn:aws:s3:::reports/a'], ['s3:PutObject', 'arn:aws:s3:::reports/b']));
    expect(d.combined.effect).toBe('allow');
    expect(d.pairs.map((p) => p.decision.ruleId)).toEqual(['read-reports', 'read-reports']);
    const outside = decideCall(compiled, 'p', pairs(['s3:GetObject', 'arn:aws:s3:::other/a'], ['s3:PutObject', 'arn:aws:s3:::reports/b']));
    expect([outside.combined.effect, outside.combined.ruleId]).toEqual(['deny', 'default-deny']);
  });

  it('any deny wins over an approve; an approve over allows', () => {
    const deny = decideCall(compiled, 'p', pairs(['s3:PutObject', 'arn:aws:s3:::reports/secret/x'], ['s3:DeleteObject', 'arn:aws:s3:::reports/archive/y']));
    expect([deny.combined.effect, deny.combined.ruleId]).toEqual(['deny', 'keep-archive']);
    const approve = decideCall(compiled, 'p', pairs(['s3:GetObject', 'arn:aws:s3:::reports/a'], ['s3:PutObject', 'arn:aws:s3:::reports/secret/x']));
    expect([approve.combined.effect, approve.combined.ruleId]).toEqual(['approve', 'hold-secrets']);
  });

  it('no pairs: default deny', () => {
    expect(decideCall(compiled, 'p', []).combined.ruleId).toBe('default-deny');
  });

  it('DeleteObjects is decided key by key: one protected key denies the whole call', () => {
    const call = identifyRequest({ method: 'POST', host: 'h', rawPath: '/reports?delete', headers: {}, signingService: 's3', region: 'us-east-1' });
    const body = (keys: string[]) => Buffer.from(`<Delete>${keys.map((k) => `<Object><Key>${k}</Key></Object>`).join('')}</Delete>`);
    expect(decideCall(compiled, 'p', authorizationPairs(call, body(['a.csv', 'b.csv']))).combined.effect).toBe('allow');
    const mixed = decideCall(compiled, 'p', authorizationPairs(call, body(['a.csv', 'archive/2019.csv'])));
    expect([mixed.combined.effect, mixed.combined.ruleId]).toEqual(['deny', 'keep-archive']);
    // Without the body the keys are unknown (`*`): no allow rule covers `*`.
    expect(decideCall(compiled, 'p', authorizationPairs(call)).combined.effect).toBe('deny');
  });
});

describe('policy validation in IAM vocabulary', () => {
  const policy = (rules: string) => `version: 1
service_accounts:
  - name: app
    issuer: local
    roles: ["arn:aws:iam::123456789012:role/app"]
rules:
${rules}`;

  it('accepts IAM-only actions such as s3:ListBucket, any case, and rules with only `access`', () => {
    const result = parsePolicy(policy('  - id: a\n    effect: allow\n    actions: ["s3:ListBucket", "S3:getobject", "iam:PassRole"]\n  - id: w\n    effect: deny\n    access: [write, "permissions management"]\n'), 'p.yaml');
    if (!result.ok) throw new Error(result.errors.map(formatPolicyError).join('\n'));
    expect(result.policy.config.rules[1]).toMatchObject({ actions: ['*'], access: ['Write', 'Permissions management'] });
    expect(result.policy.warnings).toEqual([]);
  });

  it('warns about a rule whose actions and resources are different services', () => {
    const result = parsePolicy(policy('  - id: mixed\n    effect: allow\n    actions: ["s3:GetObject"]\n    resources: ["arn:aws:dynamodb:*:*:table/t"]\n'), 'p.yaml');
    if (!result.ok) throw new Error(result.errors.map(formatPolicyError).join('\n'));
    expect(result.policy.warnings.map(formatPolicyError)).toEqual([
      'p.yaml:7:5: rules[0]: rule `mixed` can never match: its actions are for s3 but its resources are dynamodb ARNs',
    ]);
  });

  it('warns about an allow shadowed by a deny covering it', () => {
    const result = parsePolicy(
      policy('  - id: no-s3\n    effect: deny\n    actions: ["s3:*"]\n  - id: read\n    effect: allow\n    principals: [app]\n    actions: ["s3:GetObject", "s3:Get*"]\n    resources: ["arn:aws:s3:::b/*"]\n  - id: other\n    effect: allow\n    actions: ["sqs:SendMessage"]\n'),
      'p.yaml',
    );
    if (!result.ok) throw new Error(result.errors.map(formatPolicyError).join('\n'));
    expect(result.policy.warnings.map((w) => w.message)).toEqual(['rule `read` never takes effect: deny rule `no-s3` covers all its principals, actions and resources']);
  });
});
