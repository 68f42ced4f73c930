import { describe, expect, it } from 'vitest';
import { DEFAULT_APPROVAL, type Effect, type RuleConfig } from '../../src/config/types.js';
import { parsePolicy } from '../../src/config/load.js';
import { compilePolicy } from '../../src/policy/compile.js';
import { evaluate } from '../../src/policy/evaluate.js';
import { compileMatcher, globToRegExp } from '../../src/policy/glob.js';

function rule(id: string, effect: Effect, actions: string[], extra: Partial<RuleConfig> = {}): RuleConfig {
  return { id, effect, principals: ['*'], actions, resources: ['*'], approval: DEFAULT_APPROVAL, ...extra };
}

const input = (action: string, resource = 'arn:aws:s3:::reports/a.csv', principal = 'reports-mcp') => ({ principal, action, resource });

describe('precedence (deny > approve > allow > default deny)', () => {
  const cases: { name: string; rules: RuleConfig[]; effect: Effect; ruleId: string; matched: string[] }[] = [
    { name: 'nothing matches → default deny', rules: [rule('a', 'allow', ['s3:PutObject'])], effect: 'deny', ruleId: 'default-deny', matched: [] },
    { name: 'no rules at all → default deny', rules: [], effect: 'deny', ruleId: 'default-deny', matched: [] },
    { name: 'one allow', rules: [rule('a', 'allow', ['s3:GetObject'])], effect: 'allow', ruleId: 'a', matched: [] },
    { name: 'deny after allow still wins', rules: [rule('a', 'allow', ['s3:GetObject']), rule('d', 'deny', ['s3:*'])], effect: 'deny', ruleId: 'd', matched: ['a'] },
    { name: 'deny before allow', rules: [rule('d', 'deny', ['*']), rule('a', 'allow', ['s3:GetObject'])], effect: 'deny', ruleId: 'd', matched: ['a'] },
    { name: 'approve beats allow', rules: [rule('a', 'allow', ['s3:GetObject']), rule('p', 'approve', ['s3:Get*'])], effect: 'approve', ruleId: 'p', matched: ['a'] },
    { name: 'deny beats approve', rules: [rule('p', 'approve', ['s3:GetObject']), rule('d', 'deny', ['s3:GetObject'])], effect: 'deny', ruleId: 'd', matched: ['p'] },
    {
      name: 'all three: deny decides, others listed in file order',
      rules: [rule('a', 'allow', ['s3:GetObject']), rule('p', 'approve', ['s3:GetObject']), rule('d', 'deny', ['s3:GetObject']), rule('a2', 'allow', ['*'])],
      effect: 'deny',
      ruleId: 'd',
      matched: ['a', 'p', 'a2'],
    },
    { name: 'two denies: the first in the file decides', rules: [rule('d1', 'deny', ['s3:G*']), rule('d2', 'deny', ['s3:GetObject'])], effect: 'deny', ruleId: 'd1', matched: ['d2'] },
    {
      name: 'first of the winning effect decides even when indexed differently',
      // d1 sits in the service-glob list, d2 in the exact-operation bucket: file order must still decide.
      rules: [rule('d1', 'deny', ['s?:GetObject']), rule('d2', 'deny', ['s3:GetObject'])],
      effect: 'deny',
      ruleId: 'd1',
      matched: ['d2'],
    },
    { name: 'a rule matching through two patterns is listed once', rules: [rule('d', 'deny', ['s3:GetObject', 's3:*', '*']), rule('a', 'allow', ['s3:GetObject', '*'])], effect: 'deny', ruleId: 'd', matched: ['a'] },
    { name: 'allow for another principal does not apply', rules: [rule('a', 'allow', ['s3:GetObject'], { principals: ['other'] })], effect: 'deny', ruleId: 'default-deny', matched: [] },
    { name: 'deny for another resource does not apply', rules: [rule('a', 'allow', ['s3:GetObject']), rule('d', 'deny', ['s3:GetObject'], { resources: ['arn:aws:s3:::secret/*'] })], effect: 'allow', ruleId: 'a', matched: [] },
  ];

  it.each(cases)('$name', ({ rules, effect, ruleId, matched }) => {
    const decision = evaluate(compilePolicy({ rules }), input('s3:GetObject'));
    expect({ effect: decision.effect, ruleId: decision.ruleId, matched: decision.matched }).toEqual({ effect, ruleId, matched });
    if (ruleId === 'default-deny') expect(decision.rule).toBeUndefined();
    else expect(decision.rule?.id).toBe(ruleId);
  });

  it('carries the deciding rule message; default deny explains itself', () => {
    const compiled = compilePolicy({ rules: [rule('d', 'deny', ['s3:Delete*'], { message: 'no deleting' })] });
    expect(evaluate(compiled, input('s3:DeleteObject')).message).toBe('no deleting');
    expect(evaluate(compiled, input('s3:GetObject')).message).toBe('no rule allows s3:GetObject on arn:aws:s3:::reports/a.csv for reports-mcp');
    expect('message' in evaluate(compilePolicy({ rules: [rule('a', 'allow', ['*'])] }), input('s3:GetObject'))).toBe(false);
  });
});

describe('matching: globs and case', () => {
  // One rule at a time; does it match the call?
  const cases: { pattern: { actions?: string[]; principals?: string[]; resources?: string[] }; call: [string, string?, string?]; matches: boolean }[] = [
    // actions: service prefix case-insensitive, operation exact
    { pattern: { actions: ['s3:GetObject'] }, call: ['s3:GetObject'], matches: true },
    { pattern: { actions: ['S3:GetObject'] }, call: ['s3:GetObject'], matches: true },
    { pattern: { actions: ['s3:GetObject'] }, call: ['S3:GetObject'], matches: true },
    { pattern: { actions: ['DynamoDB:GetItem'] }, call: ['dynamodb:GetItem'], matches: true },
    { pattern: { actions: ['s3:GetObject'] }, call: ['s3:getobject'], matches: true },
    { pattern: { actions: ['s3:GetObject'] }, call: ['s3:GetObjectAcl'], matches: false },
    { pattern: { actions: ['s3:GetObject'] }, call: ['s3:GetObjec'], matches: false },
    { pattern: { actions: ['s3:Get*'] }, call: ['s3:GetObject'], matches: true },
    { pattern: { actions: ['s3:Get*'] }, call: ['s3:Get'], matches: true },
    { pattern: { actions: ['s3:Get*'] }, call: ['s3:getObject'], matches: true },
    { pattern: { actions: ['s3:Get*'] }, call: ['s3control:GetObject'], matches: false },
    { pattern: { actions: ['s3:*'] }, call: ['s3:ListObjectsV2'], matches: true },
    { pattern: { actions: ['s3:*'] }, call: ['s3control:ListJobs'], matches: false },
    { pattern: { actions: ['s3*:*'] }, call: ['s3control:ListJobs'], matches: true },
    { pattern: { actions: ['S3*:List*'] }, call: ['s3control:ListJobs'], matches: true },
    { pattern: { actions: ['*:Delete*'] }, call: ['dynamodb:DeleteTable'], matches: true },
    { pattern: { actions: ['*:Delete*'] }, call: ['dynamodb:BatchDelete'], matches: false },
    { pattern: { actions: ['s?:GetObject'] }, call: ['s3:GetObject'], matches: true },
    { pattern: { actions: ['s?:GetObject'] }, call: ['sqs:GetObject'], matches: false },
    { pattern: { actions: ['s3:Get?bject'] }, call: ['s3:GetObject'], matches: true },
    { pattern: { actions: ['s3:Get?bject'] }, call: ['s3:Getbject'], matches: false },
    { pattern: { actions: ['s3:*Object'] }, call: ['s3:PutObject'], matches: true },
    { pattern: { actions: ['s3:*Object'] }, call: ['s3:PutObjectAcl'], matches: false },
    { pattern: { actions: ['*'] }, call: ['kms:Decrypt'], matches: true },
    { pattern: { actions: ['sts:GetCallerIdentity'] }, call: ['sts:GetCallerIdentity', '*'], matches: true },
    // regex metacharacters in patterns are literal
    { pattern: { actions: ['s3:Get.Object'] }, call: ['s3:GetXObject'], matches: false },
    // principals: exact, case-sensitive, with globs
    { pattern: { principals: ['reports-mcp'] }, call: ['s3:GetObject', undefined, 'reports-mcp'], matches: true },
    { pattern: { principals: ['reports-mcp'] }, call: ['s3:GetObject', undefined, 'Reports-MCP'], matches: false },
    { pattern: { principals: ['reports-*'] }, call: ['s3:GetObject', undefined, 'reports-indexer'], matches: true },
    { pattern: { principals: ['reports-*'] }, call: ['s3:GetObject', undefined, 'billing-mcp'], matches: false },
    { pattern: { principals: ['job-?'] }, call: ['s3:GetObject', undefined, 'job-1'], matches: true },
    { pattern: { principals: ['job-?'] }, call: ['s3:GetObject', undefined, 'job-12'], matches: false },
    { pattern: { principals: ['a', 'b', 'c-*'] }, call: ['s3:GetObject', undefined, 'b'], matches: true },
    { pattern: { principals: ['a', 'b', 'c-*'] }, call: ['s3:GetObject', undefined, 'c-x'], matches: true },
    { pattern: { principals: ['a', 'b', 'c-*'] }, call: ['s3:GetObject', undefined, 'd'], matches: false },
    // resources: case-sensitive globs; `*` crosses `/` and `:`
    { pattern: { resources: ['arn:aws:s3:::reports/*'] }, call: ['s3:GetObject', 'arn:aws:s3:::reports/2024/jan.csv'], matches: true },
    { pattern: { resources: ['arn:aws:s3:::reports/*'] }, call: ['s3:GetObject', 'arn:aws:s3:::reports'], matches: false },
    { pattern: { resources: ['arn:aws:s3:::reports/*'] }, call: ['s3:GetObject', 'arn:aws:s3:::Reports/a'], matches: false },
    { pattern: { resources: ['arn:aws:s3:::reports/*'] }, call: ['s3:GetObject', 'arn:aws:s3:::reports-archive/a'], matches: false },
    { pattern: { resources: ['arn:aws:s3:::reports', 'arn:aws:s3:::reports/*'] }, call: ['s3:ListObjectsV2', 'arn:aws:s3:::reports'], matches: true },
    { pattern: { resources: ['arn:aws:secretsmanager:*:*:secret:prod/*'] }, call: ['s3:GetObject', 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/db-Ab12'], matches: true },
    { pattern: { resources: ['arn:aws:secretsmanager:*:*:secret:prod/*'] }, call: ['s3:GetObject', 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:staging/db'], matches: false },
    { pattern: { resources: ['arn:aws:s3:::r?ports/*'] }, call: ['s3:GetObject', 'arn:aws:s3:::r3ports/x'], matches: true },
    { pattern: { resources: ['arn:aws:dynamodb:*:*:table/t'] }, call: ['s3:GetObject', 'arn:aws:dynamodb:us-east-1:1:table/t/index/i'], matches: false },
  ];

  it.each(cases)('$pattern × $call → $matches', ({ pattern, call, matches }) => {
    const [action, resource = 'arn:aws:s3:::reports/a.csv', principal = 'reports-mcp'] = call;
    const r = rule('r', 'allow', pattern.actions ?? ['*'], {
      ...(pattern.principals ? { principals: pattern.principals } : {}),
      ...(pattern.resources ? { resources: pattern.resources } : {}),
    });
    expect(evaluate(compilePolicy({ rules: [r] }), { principal, action, resource }).ruleId).toBe(matches ? 'r' : 'default-deny');
  });
});

describe('unknown resource (`*`) fails closed', () => {
  const compiled = compilePolicy({
    rules: [
      rule('read-reports', 'allow', ['secretsmanager:GetSecretValue'], { resources: ['arn:aws:secretsmanager:*:*:secret:staging/*'] }),
      rule('prod-approve', 'approve', ['secretsmanager:GetSecretValue'], { resources: ['arn:aws:secretsmanager:*:*:secret:prod/*'] }),
      rule('block-kms', 'deny', ['kms:Decrypt'], { resources: ['arn:aws:kms:*:*:key/prod-*'] }),
      rule('kms-any', 'allow', ['kms:Decrypt']),
    ],
  });

  it('approve and deny rules apply whatever resources they name', () => {
    expect(evaluate(compiled, input('secretsmanager:GetSecretValue', '*'))).toMatchObject({ effect: 'approve', ruleId: 'prod-approve' });
    expect(evaluate(compiled, input('kms:Decrypt', '*'))).toMatchObject({ effect: 'deny', ruleId: 'block-kms', matched: ['kms-any'] });
  });

  it('allow rules apply only if they allow every resource', () => {
    const onlyAllow = compilePolicy({ rules: [rule('scoped', 'allow', ['s3:GetObject'], { resources: ['arn:aws:s3:::reports/*'] })] });
    expect(evaluate(onlyAllow, input('s3:GetObject', '*')).ruleId).toBe('default-deny');
    expect(evaluate(compiled, input('kms:Decrypt', 'arn:aws:kms:us-east-1:1:key/dev-1')).ruleId).toBe('kms-any');
  });
});

describe('odd inputs', () => {
  const compiled = compilePolicy({ rules: [rule('all', 'deny', ['*']), rule('s3', 'allow', ['s3:*'])] });
  it.each(['', 's3', ':', 's3:', 'noservice'])('action %j only matches `*` rules', (action) => {
    expect(evaluate(compiled, input(action))).toMatchObject({ effect: 'deny', ruleId: 'all' });
  });
});

describe('example policy decisions', () => {
  // The same file users start from: a change that breaks these is a change in what the example promises.
  it.each([
    ['reports-mcp', 's3:GetObject', 'arn:aws:s3:::acme-reports/2024/01.csv', 'allow', 'reports-read'],
    ['reports-mcp', 's3:ListBucket', 'arn:aws:s3:::acme-reports', 'allow', 'reports-read'],
    ['reports-mcp', 's3:PutObject', 'arn:aws:s3:::acme-reports/x', 'deny', 'default-deny'],
    ['reports-mcp', 's3:DeleteObject', 'arn:aws:s3:::acme-reports/x', 'deny', 'no-destroy'],
    ['reports-indexer', 'dynamodb:DeleteTable', 'arn:aws:dynamodb:eu-west-1:123456789012:table/report-metadata', 'deny', 'no-destroy'],
    ['reports-indexer', 'dynamodb:PutItem', 'arn:aws:dynamodb:eu-west-1:123456789012:table/report-metadata', 'allow', 'metadata-write'],
    ['reports-mcp', 'dynamodb:PutItem', 'arn:aws:dynamodb:eu-west-1:123456789012:table/report-metadata', 'deny', 'default-deny'],
    ['reports-mcp', 'dynamodb:Query', 'arn:aws:dynamodb:eu-west-1:123456789012:table/report-metadata/index/by-month', 'allow', 'metadata-read'],
    ['reports-indexer', 'dynamodb:DeleteItem', 'arn:aws:dynamodb:eu-west-1:123456789012:table/report-metadata', 'approve', 'metadata-delete'],
    ['reports-mcp', 'secretsmanager:GetSecretValue', 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/db-AbC', 'approve', 'prod-secrets'],
    ['reports-mcp', 'secretsmanager:GetSecretValue', 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:staging/reports-db-AbC', 'allow', 'reports-db-secret'],
    ['reports-mcp', 'IAM:CreateUser', '*', 'deny', 'no-destroy'],
    ['reports-indexer', 'sts:GetCallerIdentity', '*', 'allow', 'whoami'],
  ])('%s %s %s → %s by %s', async (principal, action, resource, effect, ruleId) => {
    const { readFile } = await import('node:fs/promises');
    const result = parsePolicy(await readFile('policy.example.yaml', 'utf8'), 'policy.example.yaml');
    if (!result.ok) throw new Error('example policy does not load');
    expect(evaluate(result.policy.compiled, { principal, action, resource })).toMatchObject({ effect, ruleId });
  });
});

describe('glob helpers', () => {
  it.each([
    ['a*c', 'abbbc', true],
    ['a*c', 'ac', true],
    ['a*c', 'acd', false],
    ['a?c', 'abc', true],
    ['a?c', 'ac', false],
    ['a.c', 'abc', false],
    ['(x)', '(x)', true],
    ['[ab]', 'a', false],
    ['a*', 'a\nb', true],
  ])('globToRegExp(%j) on %j → %s', (pattern, value, expected) => {
    expect(globToRegExp(pattern).test(value)).toBe(expected);
  });

  it('compileMatcher mixes literals and globs, with optional case folding', () => {
    const m = compileMatcher(['Exact', 'pre-*']);
    expect([m('Exact'), m('exact'), m('pre-x'), m('PRE-x'), m('other')]).toEqual([true, false, true, false, false]);
    const folded = compileMatcher(['Exact', 'pre-*'], { caseInsensitive: true });
    expect([folded('exact'), folded('PRE-x'), folded('other')]).toEqual([true, true, false]);
    expect(compileMatcher(['x', '*'])('anything')).toBe(true);
  });
});

describe('action memo', () => {
  it('answers per principal and resource, not per action, and stays bounded', async () => {
    const { ACTION_CACHE_LIMIT } = await import('../../src/policy/compile.js');
    const compiled = compilePolicy({
      rules: [rule('mine', 'allow', ['s3:GetObject'], { principals: ['a'] }), rule('prod', 'deny', ['s3:*'], { resources: ['arn:aws:s3:::prod/*'] })],
    });
    expect(evaluate(compiled, input('s3:GetObject', 'arn:aws:s3:::dev/x', 'a')).ruleId).toBe('mine');
    expect(evaluate(compiled, input('s3:GetObject', 'arn:aws:s3:::dev/x', 'b')).ruleId).toBe('default-deny');
    expect(evaluate(compiled, input('s3:GetObject', 'arn:aws:s3:::prod/x', 'a'))).toMatchObject({ ruleId: 'prod', matched: ['mine'] });
    for (let i = 0; i < ACTION_CACHE_LIMIT + 10; i++) evaluate(compiled, input(`s3:Made${i}`));
    expect(compiled.actionCache.size).toBeLessThanOrEqual(ACTION_CACHE_LIMIT);
    expect(evaluate(compiled, input('s3:GetObject', 'arn:aws:s3:::dev/x', 'a')).ruleId).toBe('mine');
  });
});
