// Schema errors for issuer presets, aliases, lifetimes and `match:` blocks: each names file:line:column.
import { describe, expect, it } from 'vitest';
import { formatPolicyError, parsePolicy } from '../../src/config/load.js';

const ROLE = 'roles: ["arn:aws:iam::123456789012:role/r"]';

function errors(text: string): string[] {
  const result = parsePolicy(text, 'p.yaml');
  if (result.ok) throw new Error('expected errors, policy loaded');
  return result.errors.map(formatPolicyError);
}

function issuerErrors(issuer: string): string[] {
  return errors(`version: 1\nidentity:\n  issuers:\n    - name: idp\n${issuer}`);
}

function accountErrors(match: string, issuer = 'preset: github-actions\n      audience: sts.amazonaws.com'): string[] {
  return errors(`version: 1
identity:
  issuers:
    - name: idp
      ${issuer}
service_accounts:
  - name: svc
    issuer: idp
    ${ROLE}
${match}`);
}

describe('issuer schema errors', () => {
  const cases: [string, string, string[]][] = [
    ['unknown preset', '      preset: okra\n      audience: a\n', ['p.yaml:5:15: identity.issuers[0].preset: must be one of okta, entra-id, google, github-actions, kubernetes, spiffe (got "okra")']],
    ['preset parameter without preset', '      issuer: https://idp.example\n      tenant: x\n      audience: a\n', ['p.yaml:6:7: identity.issuers[0].tenant: `tenant` is a parameter of preset entra-id; add `preset: entra-id`']],
    ['parameter of another preset', '      preset: okta\n      org: dev-1.okta.com\n      tenant: x\n      audience: a\n', ['p.yaml:7:7: identity.issuers[0].tenant: `tenant` is not a parameter of preset okta (its parameters: org, authorization_server)']],
    ['issuer with a preset that fills it', '      preset: google\n      issuer: https://accounts.google.com\n      audience: a\n', ['p.yaml:6:7: identity.issuers[0].issuer: preset google fills in the issuer itself (its parameters: none)']],
    ['missing preset parameter', '      preset: okta\n      audience: a\n', ['p.yaml:4:7: identity.issuers[0].org: preset okta needs `org`']],
    ['okta org given as a URL', '      preset: okta\n      org: https://dev-1.okta.com\n      audience: a\n', ['p.yaml:6:12: identity.issuers[0].org: "https://dev-1.okta.com": give the host name only (e.g. dev-123456.okta.com), not a URL']],
    ['entra multi-tenant endpoint', '      preset: entra-id\n      tenant: common\n      audience: a\n', ['p.yaml:6:15: identity.issuers[0].tenant: "common" is not one tenant: tokens carry their own tenant id in iss and tid, so trust each tenant with its own issuer entry']],
    ['entra tenant domain', '      preset: entra-id\n      tenant: acme.onmicrosoft.com\n      audience: a\n', [expect.stringMatching(/^p\.yaml:6:15: identity\.issuers\[0\]\.tenant: "acme\.onmicrosoft\.com" is not a tenant id/)] as unknown as string[]],
    ['entra token version 3', '      preset: entra-id\n      tenant: 72f988bf-86f1-41af-91ab-2d7cd011db47\n      token_versions: [2, 3]\n      audience: a\n', ['p.yaml:7:27: identity.issuers[0].token_versions[1]: must be 1 or 2 (Entra access token versions), got 3']],
    ['github enterprise and host', '      preset: github-actions\n      enterprise: acme\n      host: github.acme.example\n      audience: a\n', ['p.yaml:7:13: identity.issuers[0].host: `enterprise` (GitHub Enterprise Cloud) and `host` (GitHub Enterprise Server) exclude each other']],
    ['spiffe without jwks_uri', '      preset: spiffe\n      trust_domain: acme.internal\n      audience: a\n', ['p.yaml:4:7: identity.issuers[0].jwks_uri: preset spiffe needs `jwks_uri`']],
    ['spiffe trust domain as an ID', '      preset: spiffe\n      trust_domain: spiffe://acme.internal\n      jwks_uri: https://spire.acme.internal/keys\n      audience: a\n', ['p.yaml:6:21: identity.issuers[0].trust_domain: "spiffe://acme.internal": give the trust domain only (e.g. acme.internal), not a SPIFFE ID']],
    ['kubernetes issuer over http', '      preset: kubernetes\n      issuer: http://k8s.acme.example\n      audience: a\n', ['p.yaml:6:15: identity.issuers[0].issuer: "http://k8s.acme.example" must use https (http is only accepted for localhost) (keys are discovered from the issuer unless jwks_uri is set)']],
    ['plain Okta org server', '      issuer: https://dev-1.okta.com\n      audience: a\n', [expect.stringMatching(/^p\.yaml:5:15: identity\.issuers\[0\]\.issuer: https:\/\/dev-1\.okta\.com is Okta's org authorization server/)] as unknown as string[]],
    ['alias list with an empty entry', '      issuer: [https://a.example, ""]\n      audience: a\n', ['p.yaml:5:35: identity.issuers[0].issuer[1]: must not be empty']],
    ['max_token_lifetime bare number', '      issuer: https://a.example\n      audience: a\n      max_token_lifetime: 3600\n', ['p.yaml:7:27: identity.issuers[0].max_token_lifetime: "3600" is not a duration: use 30s, 10m, 1h or 1d (a bare number has no unit)']],
    ['max_token_lifetime too short', '      issuer: https://a.example\n      audience: a\n      max_token_lifetime: 10ms\n', ['p.yaml:7:27: identity.issuers[0].max_token_lifetime: must be longer than 0']],
  ];
  for (const [name, text, expected] of cases) {
    it(name, () => {
      expect(issuerErrors(text)).toEqual(expected);
    });
  }

  it('two entries trusting the same iss', () => {
    expect(errors(`version: 1
identity:
  issuers:
    - {name: gh, preset: github-actions, audience: a}
    - {name: gh2, issuer: [https://x.example, https://token.actions.githubusercontent.com], audience: a}
`)).toEqual(['p.yaml:5:14: identity.issuers[1]: https://token.actions.githubusercontent.com is already trusted by issuer `gh`: a token could not tell which entry verifies it']);
  });
});

describe('match schema errors', () => {
  const cases: [string, string, string[]][] = [
    ['unknown operator', '    match:\n      StringEqual: {repository: acme/app}\n', [expect.stringMatching(/^p\.yaml:12:7: service_accounts\[0\]\.match\.StringEqual: unknown operator `StringEqual` \(one of StringEquals/)] as unknown as string[]],
    ['bad set prefix', '    match:\n      ForAnyValues:StringEquals: {roles: x}\n', ['p.yaml:12:7: service_accounts[0].match.ForAnyValues:StringEquals: unknown operator `ForAnyValues:StringEquals`: the only prefixes are ForAnyValue: and ForAllValues:']],
    ['operator not a mapping', '    match:\n      StringEquals: acme/app\n', ['p.yaml:12:21: service_accounts[0].match.StringEquals: must be a mapping of claim to value(s), e.g. {StringEquals: {environment: production}}']],
    ['empty match', '    match: {}\n', ['p.yaml:11:12: service_accounts[0].match: must hold at least one operator (StringEquals, StringLike, ForAnyValue:StringEquals, Null, Bool, NumericEquals…)']],
    ['string operator with a boolean', '    match:\n      StringEquals: {email_verified: true}\n', ['p.yaml:12:38: service_accounts[0].match.StringEquals.email_verified: must be a string, got boolean true (StringEquals compares strings; quote it)']],
    ['numeric operator with text', '    match:\n      NumericEquals: {run_attempt: one}\n', ['p.yaml:12:36: service_accounts[0].match.NumericEquals.run_attempt: NumericEquals compares numbers; got "one"']],
    ['Null with a string', '    match:\n      StringEquals: {repository: acme/app}\n      "Null": {environment: "yes"}\n', ['p.yaml:13:29: service_accounts[0].match.Null.environment: Null takes true (the claim must be absent) or false (it must be present); got "yes"']],
    ['bad JSON pointer', '    match:\n      StringEquals: {/kubernetes.io//namespace: x}\n', ['p.yaml:12:22: service_accounts[0].match.StringEquals./kubernetes.io//namespace: `/kubernetes.io//namespace` has an empty segment (a JSON pointer is /key/key…)']],
    ['empty value list', '    match:\n      StringEquals: {repository: []}\n', ['p.yaml:12:34: service_accounts[0].match.StringEquals.repository: must not be empty']],
    ['only negative conditions', '    match:\n      StringNotEquals: {repository: acme/evil}\n', ['p.yaml:11:5: service_accounts[0]: no condition identifies the tokens: this account would take any token of its issuer; pin `subject` or add a positive `match` condition']],
  ];
  for (const [name, text, expected] of cases) {
    it(name, () => {
      expect(accountErrors(text)).toEqual(expected);
    });
  }

  it('match on a local account', () => {
    expect(errors(`version: 1
service_accounts:
  - name: cron
    issuer: local
    ${ROLE}
    match: {StringEquals: {x: y}}
`)).toEqual(['p.yaml:6:5: service_accounts[0].match: gateway-minted tokens carry only the account name; `match` is for IdP tokens']);
  });

  it('two accounts with the same conditions in another order cannot both load', () => {
    expect(errors(`version: 1
identity:
  issuers: [{name: gh, preset: github-actions, audience: a}]
service_accounts:
  - name: a1
    issuer: gh
    ${ROLE}
    match: {StringEquals: {repository: acme/app, ref: refs/heads/main}}
  - name: a2
    issuer: gh
    ${ROLE}
    match: {StringEquals: {ref: refs/heads/main, repository: acme/app}}
`)).toEqual(['p.yaml:9:5: service_accounts[1]: same issuer, subject and claims as `a1`: a token could not tell the two accounts apart']);
  });

  it('compiles a valid match block with subject left out', () => {
    const result = parsePolicy(`version: 1
identity:
  issuers: [{name: k8s, preset: kubernetes, issuer: "https://oidc.eks.eu-west-1.amazonaws.com/id/ABC", audience: sts.amazonaws.com}]
service_accounts:
  - name: pods
    issuer: k8s
    ${ROLE}
    match:
      StringEquals: {/kubernetes.io/namespace: [analytics, reports]}
      ForAnyValue:StringLike: {aud: "sts.*"}
      NumericLessThanIfExists: {exp: 99999999999}
      "Null": {/kubernetes.io/node: false}
`, 'p.yaml');
    if (!result.ok) throw new Error(result.errors.map(formatPolicyError).join('\n'));
    const account = result.policy.config.serviceAccounts[0]!;
    expect(account.subject).toBe('');
    expect(account.match).toEqual([
      { operator: 'StringEquals', test: 'StringEquals', ifExists: false, claim: '/kubernetes.io/namespace', path: ['kubernetes.io', 'namespace'], values: ['analytics', 'reports'] },
      { operator: 'ForAnyValue:StringLike', test: 'StringLike', qualifier: 'ForAnyValue', ifExists: false, claim: 'aud', path: ['aud'], values: ['sts.*'] },
      { operator: 'NumericLessThanIfExists', test: 'NumericLessThan', ifExists: true, claim: 'exp', path: ['exp'], values: [99999999999] },
      { operator: 'Null', test: 'Null', ifExists: false, claim: '/kubernetes.io/node', path: ['kubernetes.io', 'node'], values: [false] },
    ]);
    expect(result.policy.config.issuers[0]).toMatchObject({ preset: { name: 'kubernetes' }, rules: { subjectPrefix: 'system:serviceaccount:' }, algorithms: ['RS256', 'ES256'] });
  });
});

describe('YAML pitfalls', () => {
  it('an unquoted Null operator', () => {
    expect(accountErrors('    match:\n      StringEquals: {repository: acme/app}\n      Null: {environment: true}\n')).toEqual([
      'p.yaml:13:7: service_accounts[0].match: keys must be plain strings: an unquoted Null is YAML\'s null; write "Null"',
    ]);
  });
});
