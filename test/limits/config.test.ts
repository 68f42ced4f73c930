// `limits:` and `escalate:` in the policy file: parsed into the limits types, every mistake located.
import { describe, expect, it } from 'vitest';
import { formatPolicyError, parsePolicy } from '../../src/config/load.js';
import { identityHead } from '../fixtures/policy-text.js';

const head = identityHead('agent', 'agent');

function policy(account: string, rule: string) {
  return `${head}${account}rules:
  - id: deletes
    effect: allow
    actions: ["s3:DeleteObject"]
${rule}`;
}

function errors(text: string): string[] {
  const result = parsePolicy(text, 'p.yaml');
  return result.ok ? [] : result.errors.map(formatPolicyError);
}

describe('limits and escalate in the policy', () => {
  it('parses account limits, rule limits and escalate', () => {
    const result = parsePolicy(
      policy('    limits: {concurrent: 8, calls: 100, per: 1m}\n', '    limits: {bytes: 1GiB, per: 1h}\n    escalate: {after: 20, within: 10m, then: approve}\n    approval: {hold: 5s}\n'),
      'p.yaml',
    );
    if (!result.ok) throw new Error(result.errors.map(formatPolicyError).join('\n'));
    expect(result.policy.config.serviceAccounts[0]!.limits).toEqual({ concurrent: 8, calls: 100, perMs: 60_000 });
    const rule = result.policy.config.rules[0]!;
    expect(rule.limits).toEqual({ bytes: 1024 ** 3, perMs: 3_600_000 });
    expect(rule.escalate).toEqual({ after: 20, withinMs: 600_000, then: 'approve' });
    expect(rule.approval.holdMs).toBe(5000);
  });

  it.each([
    ['    limits: {calls: -1}\n', '', 'p.yaml:12:21: service_accounts[0].limits.calls: must be at least 1 (got -1)'],
    ['    limits: {concurent: 3}\n', '', 'service_accounts[0].limits.concurent: unknown key `concurent` (did you mean `concurrent`?)'],
    ['', '    limits: {calls: 10, per: 10}\n', 'rules[0].limits.per: "10" is not a duration: use 30s, 10m, 1h or 1d (a bare number has no unit)'],
    ['', '    limits: {bytes: lots}\n', 'rules[0].limits.bytes: must be a size such as 1GiB'],
    ['', '    limits: {per: 1m}\n', 'rules[0].limits.per: `per` is the window of `calls` and `bytes`; set one of them'],
    ['', '    limits: {calls: 2.5}\n', 'rules[0].limits.calls: must be a whole number of calls'],
    ['', '    escalate: {after: 20, within: 10m, then: ask}\n', 'rules[0].escalate.then: must be one of approve, deny (got "ask")'],
    ['', '    escalate: {after: 0, within: 10m, then: deny}\n', 'rules[0].escalate.after: must be at least 1 (got 0)'],
    ['', '    escalate: {after: 5, within: soon, then: deny}\n', 'rules[0].escalate.within: "soon" is not a duration'],
    ['', '    escalate: {after: 5, then: deny}\n', 'rules[0].escalate.within'],
    ['', '    escalate: {after: 5, within: 1m, then: deny, afterr: 3}\n', 'unknown key `afterr` (did you mean `after`?)'],
    ['', '    escalate: {after: 5, within: 1m, then: deny}\n    approval: {hold: 5s}\n', 'rules[0].approval: only allowed on rules with effect: approve, or with escalate.then: approve (this rule is allow)'],
  ])('refuses %s%s', (account, rule, expected) => {
    const found = errors(policy(account, rule));
    expect(found.join('\n')).toContain(expected);
  });

  it('refuses escalate on a deny rule', () => {
    const text = policy('', '').replace('effect: allow', 'effect: deny') + '    escalate: {after: 5, within: 1m, then: deny}\n';
    expect(errors(text).join('\n')).toContain('rules[0].escalate: only allowed on rules with effect: allow (this rule is deny)');
  });
});
