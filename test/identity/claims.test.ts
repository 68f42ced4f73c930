// The claim-condition core, table-driven: operators, set qualifiers, IfExists, paths, value types.
import { describe, expect, it } from 'vitest';
import type { ClaimCondition } from '../../src/identity/config.js';
import { claimAt, conditionFailure, parseClaimPath, parseOperator } from '../../src/identity/claims.js';

function cond(operator: string, claim: string, values: (string | number | boolean)[]): ClaimCondition {
  const parsed = parseOperator(operator);
  if (!parsed.ok) throw new Error(parsed.message);
  const path = parseClaimPath(claim);
  if (!path.ok) throw new Error(path.message);
  return { operator, ...parsed.value, claim, path: path.path, values };
}

const TOKEN = {
  sub: 'repo:acme/app:ref:refs/heads/main',
  environment: 'production',
  run_number: 42,
  run_attempt: '2',
  email_verified: true,
  legacy_flag: 'false',
  roles: ['Reports.Read', 'Reports.Write'],
  groups: [],
  scp: 'Reports.Read User.Read',
  'https://acme.example/claims/team': 'data',
  'kubernetes.io': { namespace: 'analytics', serviceaccount: { name: 'reports' } },
  'a/b': { '~x': 'tilde' },
  nothing: null,
};

describe('conditionFailure', () => {
  const cases: [string, string, (string | number | boolean)[], true | RegExp][] = [
    ['StringEquals', 'environment', ['production'], true],
    ['StringEquals', 'environment', ['staging', 'production'], true],
    ['StringEquals', 'environment', ['Production'], /token has "production", expected "Production"/],
    ['StringEqualsIgnoreCase', 'environment', ['PRODUCTION'], true],
    ['StringNotEquals', 'environment', ['staging'], true],
    ['StringNotEquals', 'environment', ['production'], /expected none of "production"/],
    ['StringLike', 'sub', ['repo:acme/*:ref:refs/heads/main'], true],
    ['StringLike', 'sub', ['repo:acme/app:ref:refs/heads/ma??'], true],
    ['StringLike', 'sub', ['repo:acme/app:ref:refs/heads/feat*'], /expected "repo:acme\/app:ref:refs\/heads\/feat\*"/],
    ['StringNotLike', 'sub', ['*:pull_request'], true],
    ['StringEquals', 'run_number', ['42'], true], // numbers compare as their text
    ['StringEquals', 'email_verified', ['true'], true],
    ['StringEquals', 'roles', ['Reports.Read'], /is a list|token has a list/],
    ['StringEquals', 'kubernetes.io', ['x'], /token has an object; address a key inside it with a JSON pointer/],
    ['StringEquals', '/kubernetes.io/namespace', ['analytics'], true],
    ['StringEquals', '/kubernetes.io/serviceaccount/name', ['reports'], true],
    ['StringEquals', '/kubernetes.io/namespace', ['default'], /StringEquals \/kubernetes.io\/namespace: token has "analytics", expected "default"/],
    ['StringEquals', '/a~1b/~0x', ['tilde'], true],
    ['StringEquals', 'https://acme.example/claims/team', ['data'], true],
    ['StringEquals', 'missing', ['x'], /token has no missing claim/],
    ['StringNotEquals', 'missing', ['x'], /token has no missing claim/], // fail closed, unlike IAM
    ['StringEqualsIfExists', 'missing', ['x'], true],
    ['StringEqualsIfExists', 'environment', ['staging'], /expected "staging"/],
    ['StringEquals', 'nothing', ['x'], /token has no nothing claim/],
    ['NumericEquals', 'run_number', [42], true],
    ['NumericEquals', 'run_attempt', [2], true],
    ['NumericGreaterThan', 'run_number', [41], true],
    ['NumericLessThanEquals', 'run_number', [41], /expected 41/],
    ['NumericEquals', 'environment', [1], /token has "production", not a number/],
    ['Bool', 'email_verified', [true], true],
    ['Bool', 'legacy_flag', [false], true],
    ['Bool', 'environment', [true], /not a boolean/],
    ['Null', 'missing', [true], true],
    ['Null', 'nothing', [true], true],
    ['Null', 'environment', [true], /the claim must be absent, token has "production"/],
    ['Null', 'environment', [false], true],
    ['Null', 'missing', [false], /the claim must be present, token has none/],
    ['ForAnyValue:StringEquals', 'roles', ['Reports.Read'], true],
    ['ForAnyValue:StringEquals', 'roles', ['Admin'], /no value of \["Reports.Read","Reports.Write"\] matches "Admin"/],
    ['ForAllValues:StringLike', 'roles', ['Reports.*'], true],
    ['ForAllValues:StringEquals', 'roles', ['Reports.Read'], /"Reports.Write" does not match "Reports.Read"/],
    ['ForAllValues:StringEquals', 'groups', ['x'], /token has an empty groups/], // empty never satisfies (unlike IAM)
    ['ForAllValues:StringEquals', 'missing', ['x'], /token has no missing claim/],
    ['ForAnyValue:StringEquals', 'scp', ['User.Read'], true], // Entra's space-separated scp
    ['ForAllValues:StringLike', 'scp', ['*.Read'], true],
    ['ForAnyValue:StringEquals', 'environment', ['production'], true], // a scalar is a one-element set
    ['ForAnyValue:StringEquals', 'kubernetes.io', ['x'], /not a list/],
    ['ForAnyValue:NumericGreaterThan', 'run_number', [40], true],
  ];
  for (const [operator, claim, values, expected] of cases) {
    it(`${operator} ${claim} ${JSON.stringify(values)}`, () => {
      const failure = conditionFailure(cond(operator, claim, values), TOKEN);
      if (expected === true) expect(failure).toBeUndefined();
      else expect(failure).toMatch(expected);
    });
  }
});

describe('parseOperator', () => {
  it.each([
    ['StringEquals', { test: 'StringEquals', ifExists: false }],
    ['ForAnyValue:StringLike', { test: 'StringLike', qualifier: 'ForAnyValue', ifExists: false }],
    ['ForAllValues:StringEqualsIfExists', { test: 'StringEquals', qualifier: 'ForAllValues', ifExists: true }],
    ['NumericLessThanIfExists', { test: 'NumericLessThan', ifExists: true }],
  ])('%s', (text, expected) => {
    expect(parseOperator(text)).toEqual({ ok: true, value: expected });
  });
  it.each([
    ['StringEqual', /^unknown operator `StringEqual` \(one of StringEquals/],
    ['stringequals', /operators are case-sensitive: `StringEquals`\?/],
    ['ForAnyValues:StringEquals', /only prefixes are ForAnyValue: and ForAllValues:/],
    ['ForAnyValue:Null', /`Null` takes no ForAnyValue/],
    ['NullIfExists', /`Null` takes no/],
    ['ForAllValues:Bool', /`Bool` compares one value/],
    ['IfExists', /unknown operator/],
  ])('refuses %s', (text, message) => {
    const result = parseOperator(text);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.message).toMatch(message);
  });
});

describe('claim paths', () => {
  it.each([
    ['environment', ['environment']],
    ['kubernetes.io', ['kubernetes.io']],
    ['https://acme.example/team', ['https://acme.example/team']],
    ['/kubernetes.io/namespace', ['kubernetes.io', 'namespace']],
    ['/a~1b/~0x', ['a/b', '~x']],
  ])('%s', (key, path) => {
    expect(parseClaimPath(key)).toEqual({ ok: true, path });
  });
  it.each([['', /must not be empty/], ['/a//b', /empty segment/], ['/a~2', /~ must be followed by 0/]])('refuses %j', (key, message) => {
    const result = parseClaimPath(key);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.message).toMatch(message);
  });
  it('claimAt reads own properties and array indexes only', () => {
    expect(claimAt({ a: [{ b: 1 }] }, ['a', '0', 'b'])).toBe(1);
    expect(claimAt({ a: {} }, ['a', 'toString'])).toBeUndefined();
    expect(claimAt({ a: 'text' }, ['a', 'length'])).toBeUndefined();
  });
});

describe('sub is compared as a string only', () => {
  it('a numeric sub never equals a string subject, though other numeric claims compare as text', () => {
    expect(conditionFailure(cond('StringEquals', 'sub', ['12345']), { sub: 12345 })).toBe('StringEquals sub: token has 12345, not a string');
    expect(conditionFailure(cond('StringEquals', 'uid', ['12345']), { uid: 12345 })).toBeUndefined();
  });
});
