import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatPolicyError, loadPolicyFile, parsePolicy } from '../../src/config/load.js';
import { DEFAULT_MASKING_FIELDS, DETECTORS } from '../../src/config/validate.js';
import { BASE_POLICY } from '../fixtures/policy-text.js';

// A small valid policy; cases below replace one line or append one section to break exactly one thing.
const BASE = BASE_POLICY;

function errorsOf(text: string) {
  const result = parsePolicy(text, 'p.yaml');
  if (result.ok) throw new Error('expected errors, policy loaded');
  return result.errors;
}

function okPolicy(text: string) {
  const result = parsePolicy(text, 'p.yaml');
  if (!result.ok) throw new Error(`expected ok, got:\n${result.errors.map(formatPolicyError).join('\n')}`);
  return result.policy;
}

describe('parsePolicy: valid files', () => {
  it('loads the base policy with defaults filled in', () => {
    const { config, sha256 } = okPolicy(BASE);
    expect(sha256).toBe(createHash('sha256').update(BASE).digest('hex'));
    expect(config.upstream).toEqual({ region: 'us-east-1' });
    expect(config.issuers[0]).toEqual({
      name: 'okta',
      issuer: 'https://idp.example.com',
      audience: ['portcullis'],
      algorithms: ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'],
      clockSkewMs: 60_000,
      maxTokenLifetimeMs: 86_400_000,
    });
    expect(config.serviceAccounts[0]).toEqual({
      name: 'reports-mcp',
      issuer: 'okta',
      subject: '0oa1',
      claims: {},
      roles: ['arn:aws:iam::123456789012:role/reports'],
      sessionTtlMs: 3_600_000,
    });
    expect(config.rules[0]).toEqual({
      id: 'no-destroy',
      effect: 'deny',
      principals: ['*'],
      actions: ['s3:Delete*'],
      resources: ['*'],
      approval: { holdMs: 20_000, timeoutMs: 600_000 },
    });
    expect(config.masking).toEqual({ fields: [...DEFAULT_MASKING_FIELDS], detectors: [...DETECTORS], patterns: [], maxBodyBytes: 1_048_576 });
    expect(config.recording).toEqual({ maxBodyBytes: 65_536, durability: 'batch', onFailure: 'deny', checkpointEvents: 100, checkpointIntervalMs: 10_000 });
    expect(config.passthrough).toEqual([]);
  });

  it('reads every optional key', () => {
    const { config, compiled } = okPolicy(`version: 1
upstream: {endpoint: "http://127.0.0.1:5000", region: eu-west-1}
identity:
  issuers:
    - name: gh
      issuer: https://token.actions.githubusercontent.com
      audience: [sts.amazonaws.com, portcullis]
      jwks_uri: https://token.actions.githubusercontent.com/.well-known/jwks
      algorithms: [RS256, ES256]
      clock_skew: 30s
service_accounts:
  - name: ci
    issuer: gh
    subject: "repo:acme/app:ref:refs/heads/main"
    claims: {repository_owner: acme}
    roles: ["arn:aws:iam::123456789012:role/ci"]
    session_ttl: 15m
  - name: cron-job
    issuer: local
    roles: ["arn:aws:iam::123456789012:role/cron"]
rules:
  - id: prod-secrets
    effect: approve
    principals: [ci, "cron-*"]
    actions: ["secretsmanager:GetSecretValue"]
    resources: ["arn:aws:secretsmanager:*:*:secret:prod/*"]
    message: needs a human
    approval: {timeout: 10m, hold: 30s}
  - id: short
    effect: approve
    actions: ["ssm:GetParameter"]
    approval: {timeout: 5s}
masking:
  fields: [SecretString]
  detectors: [jwt, jwt, email]
  patterns: [{name: cust, regex: "CUST-[0-9]{4}"}]
  max_body_bytes: 2048
recording: {max_body_bytes: 0, durability: strict, on_failure: allow, checkpoint: {events: 20, interval: 2s}}
passthrough: [api.GitHub.com, "*.pypi.org"]
`);
    expect(config.upstream).toEqual({ endpoint: 'http://127.0.0.1:5000', region: 'eu-west-1' });
    expect(config.issuers[0]).toMatchObject({ audience: ['sts.amazonaws.com', 'portcullis'], algorithms: ['RS256', 'ES256'], clockSkewMs: 30_000 });
    expect(config.issuers[0]!.jwksUri).toBe('https://token.actions.githubusercontent.com/.well-known/jwks');
    expect(config.serviceAccounts[0]).toMatchObject({ claims: { repository_owner: 'acme' }, sessionTtlMs: 900_000 });
    // Gateway-minted tokens carry the account name as subject unless one is given.
    expect(config.serviceAccounts[1]).toMatchObject({ issuer: 'local', subject: 'cron-job' });
    expect(config.rules[0]).toMatchObject({ message: 'needs a human', approval: { timeoutMs: 600_000, holdMs: 30_000 } });
    // A timeout shorter than the default hold shortens the hold.
    expect(config.rules[1]!.approval).toEqual({ timeoutMs: 5_000, holdMs: 5_000 });
    expect(config.masking).toEqual({ fields: ['SecretString'], detectors: ['jwt', 'email'], patterns: [{ name: 'cust', regex: 'CUST-[0-9]{4}' }], maxBodyBytes: 2048 });
    expect(compiled.maskingPatterns[0]!.regex.flags).toContain('g');
    expect('id CUST-1234 x'.replace(compiled.maskingPatterns[0]!.regex, '***')).toBe('id *** x');
    expect(config.recording).toEqual({ maxBodyBytes: 0, durability: 'strict', onFailure: 'allow', checkpointEvents: 20, checkpointIntervalMs: 2000 });
    expect(config.passthrough).toEqual(['api.github.com', '*.pypi.org']);
  });

  it('accepts an empty masking.detectors list (detectors off) and no rules at all', () => {
    const { config } = okPolicy('version: 1\nmasking: {detectors: []}\n');
    expect(config.masking.detectors).toEqual([]);
    expect(config.rules).toEqual([]);
  });

  it('resolves YAML anchors and aliases', () => {
    const { config } = okPolicy(`${BASE}  - id: also
    effect: deny
    actions: &destroy ["dynamodb:DeleteTable"]
  - id: again
    effect: deny
    principals: [reports-mcp]
    actions: *destroy
`);
    expect(config.rules[2]!.actions).toEqual(['dynamodb:DeleteTable']);
  });

  it('loads policy.example.yaml', async () => {
    const result = await loadPolicyFile('policy.example.yaml');
    expect(result.ok).toBe(true);
  });
});

interface Case {
  name: string;
  /** Text to parse: BASE with `replace` applied, or `text` as is. */
  replace?: [string, string];
  append?: string;
  text?: string;
  errors: { line: number; column: number; path: string; message: string | RegExp }[];
}

const cases: Case[] = [
  // --- top level ---
  { name: 'empty file', text: '', errors: [{ line: 1, column: 1, path: '', message: /empty/ }] },
  { name: 'not a mapping', text: '- a\n- b\n', errors: [{ line: 1, column: 1, path: '', message: 'must be a mapping (key: value)' }] },
  { name: 'version missing', text: 'rules: []\n', errors: [{ line: 1, column: 1, path: 'version', message: 'required key `version` is missing' }] },
  { name: 'version 2', replace: ['version: 1', 'version: 2'], errors: [{ line: 1, column: 10, path: 'version', message: 'unsupported version 2 (this gateway reads version 1)' }] },
  { name: 'version string', replace: ['version: 1', 'version: "1"'], errors: [{ line: 1, column: 10, path: 'version', message: 'must be 1' }] },
  { name: 'unknown top-level key', append: 'rule: []\n', errors: [{ line: 16, column: 1, path: 'rule', message: 'unknown key `rule` (did you mean `rules`?)' }] },
  { name: 'unknown key without a near miss', append: 'colour: blue\n', errors: [{ line: 16, column: 1, path: 'colour', message: 'unknown key `colour`' }] },
  { name: 'duplicate top-level key', append: 'version: 1\n', errors: [{ line: 16, column: 1, path: 'version', message: 'duplicate key `version` (first at line 1)' }] },
  // --- YAML syntax ---
  { name: 'YAML syntax error', text: 'version: 1\nrules: [a, b\nmasking: {}\n', errors: [{ line: 3, column: 1, path: '', message: /^YAML: Flow sequence/ }] },
  { name: 'tab indentation', text: 'version: 1\nupstream:\n\tregion: x\n', errors: [{ line: 3, column: 1, path: '', message: /^YAML: Tabs/ }] },
  { name: 'two documents', text: 'version: 1\n---\nversion: 1\n', errors: [{ line: 2, column: 1, path: '', message: /single document/ }] },
  { name: 'custom tag', text: 'version: !env 1\n', errors: [{ line: 1, column: 10, path: '', message: /custom tags/ }] },
  // --- upstream ---
  { name: 'upstream endpoint not http', append: 'upstream: {endpoint: "ftp://x"}\n', errors: [{ line: 16, column: 22, path: 'upstream.endpoint', message: '"ftp://x" must be an http(s) URL' }] },
  { name: 'upstream endpoint not a URL', append: 'upstream: {endpoint: localhost}\n', errors: [{ line: 16, column: 22, path: 'upstream.endpoint', message: '"localhost" is not a URL' }] },
  { name: 'upstream endpoint with credentials', append: 'upstream: {endpoint: "http://u:p@h"}\n', errors: [{ line: 16, column: 22, path: 'upstream.endpoint', message: 'must not contain credentials' }] },
  { name: 'upstream region bad', append: 'upstream: {region: "US East"}\n', errors: [{ line: 16, column: 20, path: 'upstream.region', message: /not a region name/ }] },
  { name: 'upstream not a map', append: 'upstream: http://x\n', errors: [{ line: 16, column: 11, path: 'upstream', message: 'must be a mapping (key: value)' }] },
  // --- issuers ---
  { name: 'issuer named local', replace: ['- name: okta', '- name: local'], errors: [
    { line: 4, column: 13, path: 'identity.issuers[0].name', message: /`local` is reserved/ },
    { line: 9, column: 13, path: 'service_accounts[0].issuer', message: 'unknown issuer `okta` (known: local)' },
  ] },
  { name: 'issuer missing audience', replace: ['      audience: portcullis\n', ''], errors: [{ line: 4, column: 7, path: 'identity.issuers[0].audience', message: 'required key `audience` is missing' }] },
  { name: 'issuer empty audience list', replace: ['audience: portcullis', 'audience: []'], errors: [{ line: 6, column: 17, path: 'identity.issuers[0].audience', message: 'must not be empty' }] },
  { name: 'issuer audience number', replace: ['audience: portcullis', 'audience: 42'], errors: [{ line: 6, column: 17, path: 'identity.issuers[0].audience', message: /must be a string, got number 42/ }] },
  { name: 'issuer http (not loopback) without jwks_uri', replace: ['https://idp.example.com', 'http://idp.example.com'], errors: [
    { line: 5, column: 15, path: 'identity.issuers[0].issuer', message: /must use https/ },
  ] },
  { name: 'jwks_uri not https', replace: ['      audience: portcullis\n', '      audience: portcullis\n      jwks_uri: http://keys.example.com/jwks\n'], errors: [
    { line: 7, column: 17, path: 'identity.issuers[0].jwks_uri', message: /must use https/ },
  ] },
  { name: 'algorithms none', replace: ['      audience: portcullis\n', '      audience: portcullis\n      algorithms: [none]\n'], errors: [
    { line: 7, column: 20, path: 'identity.issuers[0].algorithms[0]', message: '`none` is never allowed: it would accept unsigned tokens' },
  ] },
  { name: 'algorithms HS256', replace: ['      audience: portcullis\n', '      audience: portcullis\n      algorithms: [RS256, HS256]\n'], errors: [
    { line: 7, column: 27, path: 'identity.issuers[0].algorithms[1]', message: /`HS256` is refused: HMAC/ },
  ] },
  { name: 'algorithms unknown', replace: ['      audience: portcullis\n', '      audience: portcullis\n      algorithms: [ES265]\n'], errors: [
    { line: 7, column: 20, path: 'identity.issuers[0].algorithms[0]', message: /must be one of RS256.*\(did you mean `ES256`\?\)/ },
  ] },
  { name: 'clock_skew bare number', replace: ['      audience: portcullis\n', '      audience: portcullis\n      clock_skew: 60\n'], errors: [
    { line: 7, column: 19, path: 'identity.issuers[0].clock_skew', message: '"60" is not a duration: use 30s, 10m, 1h or 1d (a bare number has no unit)' },
  ] },
  { name: 'clock_skew too large', replace: ['      audience: portcullis\n', '      audience: portcullis\n      clock_skew: 1h\n'], errors: [
    { line: 7, column: 19, path: 'identity.issuers[0].clock_skew', message: 'must be at most 5m (got 1h)' },
  ] },
  { name: 'duplicate issuer name', replace: ['service_accounts:', '    - name: okta\n      issuer: https://idp2.example.com\n      audience: x\nservice_accounts:'], errors: [
    { line: 7, column: 13, path: 'identity.issuers[1].name', message: 'duplicate issuer name `okta` (first at line 4)' },
  ] },
  // --- service accounts ---
  { name: 'unknown issuer', replace: ['    issuer: okta', '    issuer: otka'], errors: [
    { line: 9, column: 13, path: 'service_accounts[0].issuer', message: 'unknown issuer `otka` (did you mean `okta`?) (known: okta, local)' },
  ] },
  { name: 'missing subject for an IdP issuer', replace: ['    subject: "0oa1"\n', ''], errors: [{ line: 8, column: 5, path: 'service_accounts[0].subject', message: /^required/ }] },
  { name: 'subject as a number', replace: ['subject: "0oa1"', 'subject: 1234'], errors: [{ line: 10, column: 14, path: 'service_accounts[0].subject', message: 'must be a string, got number 1234 (quote it)' }] },
  { name: 'empty roles', replace: ['    roles: ["arn:aws:iam::123456789012:role/reports"]', '    roles: []'], errors: [{ line: 11, column: 12, path: 'service_accounts[0].roles', message: 'must not be empty' }] },
  { name: 'role not an ARN', replace: ['arn:aws:iam::123456789012:role/reports', 'reports-role'], errors: [{ line: 11, column: 13, path: 'service_accounts[0].roles[0]', message: /not an IAM role ARN/ }] },
  { name: 'bad account name', replace: ['  - name: reports-mcp', '  - name: "reports mcp"'], errors: [{ line: 8, column: 11, path: 'service_accounts[0].name', message: /not a valid name/ }] },
  { name: 'session_ttl zero', replace: ['    roles: [', '    session_ttl: 0s\n    roles: ['], errors: [{ line: 11, column: 18, path: 'service_accounts[0].session_ttl', message: 'must be longer than 0' }] },
  { name: 'claims not a map', replace: ['    roles: [', '    claims: [a]\n    roles: ['], errors: [{ line: 11, column: 13, path: 'service_accounts[0].claims', message: /must be a mapping of claim name to value/ }] },
  { name: 'claim value boolean', replace: ['    roles: [', '    claims: {email_verified: true}\n    roles: ['], errors: [
    { line: 11, column: 30, path: 'service_accounts[0].claims.email_verified', message: /must be a string, got boolean true/ },
  ] },
  { name: 'duplicate account name', replace: ['rules:', '  - name: reports-mcp\n    issuer: local\n    roles: ["arn:aws:iam::123456789012:role/x"]\nrules:'], errors: [
    { line: 12, column: 11, path: 'service_accounts[1].name', message: 'duplicate service account name `reports-mcp` (first at line 8)' },
  ] },
  { name: 'two accounts a token cannot tell apart', replace: ['rules:', '  - name: other\n    issuer: okta\n    subject: "0oa1"\n    roles: ["arn:aws:iam::123456789012:role/x"]\nrules:'], errors: [
    { line: 12, column: 5, path: 'service_accounts[1]', message: /same issuer, subject and claims as `reports-mcp`/ },
  ] },
  // --- rules ---
  { name: 'effect typo', replace: ['effect: deny', 'effect: dney'], errors: [{ line: 14, column: 13, path: 'rules[0].effect', message: 'must be one of allow, deny, approve (got "dney")' }] },
  { name: 'key typo efect', replace: ['effect: deny', 'efect: deny'], errors: [
    { line: 13, column: 5, path: 'rules[0].effect', message: 'required key `effect` is missing' },
    { line: 14, column: 5, path: 'rules[0].efect', message: 'unknown key `efect` (did you mean `effect`?)' },
  ] },
  { name: 'empty action list', replace: ['actions: ["s3:Delete*"]', 'actions: []'], errors: [{ line: 15, column: 14, path: 'rules[0].actions', message: 'must not be empty' }] },
  { name: 'missing actions', replace: ['    actions: ["s3:Delete*"]\n', ''], errors: [{ line: 13, column: 5, path: 'rules[0].actions', message: /a rule needs `actions` .* or `access`/ }] },
  { name: 'actions as a string', replace: ['actions: ["s3:Delete*"]', 'actions: "s3:Delete*"'], errors: [{ line: 15, column: 14, path: 'rules[0].actions', message: 'must be a list' }] },
  { name: 'action without colon', replace: ['"s3:Delete*"', '"s3Delete*"'], errors: [{ line: 15, column: 15, path: 'rules[0].actions[0]', message: /is not service:Action/ }] },
  { name: 'action with two colons', replace: ['"s3:Delete*"', '"s3:Delete:Object"'], errors: [{ line: 15, column: 15, path: 'rules[0].actions[0]', message: /is not service:Action/ }] },
  { name: 'action unknown (typo)', replace: ['"s3:Delete*"', '"dynamodb:DeleteTabel"'], errors: [{ line: 15, column: 15, path: 'rules[0].actions[0]', message: 'unknown IAM action dynamodb:DeleteTabel (did you mean dynamodb:DeleteTable?)' }] },
  { name: 'action service unknown', replace: ['"s3:Delete*"', '"iamm:*"'], errors: [{ line: 15, column: 15, path: 'rules[0].actions[0]', message: 'unknown IAM service prefix `iamm` (did you mean iam?)' }] },
  { name: 'action is an API operation', replace: ['"s3:Delete*"', '"s3:ListObjectsV2"'], errors: [{ line: 15, column: 15, path: 'rules[0].actions[0]', message: 's3:ListObjectsV2 is an API operation; it is authorized as s3:ListBucket' }] },
  { name: 'action is an API operation (HeadObject)', replace: ['"s3:Delete*"', '"s3:headobject"'], errors: [{ line: 15, column: 15, path: 'rules[0].actions[0]', message: 's3:HeadObject is an API operation; it is authorized as s3:GetObject' }] },
  { name: 'access level misspelt', replace: ['    actions: ["s3:Delete*"]\n', '    actions: ["s3:Delete*"]\n    access: [Wirte]\n'], errors: [{ line: 16, column: 14, path: 'rules[0].access[0]', message: /unknown IAM access level `Wirte` \(did you mean `Write`\?\)/ }] },
  { name: 'resource service misspelt', replace: ['    actions: ["s3:Delete*"]\n', '    actions: ["s3:Delete*"]\n    resources: ["arn:aws:secretmanager:*:*:secret:prod/*"]\n'], errors: [
    { line: 16, column: 17, path: 'rules[0].resources[0]', message: '`secretmanager` is not a service in ARNs (did you mean secretsmanager?)' },
  ] },
  { name: 'resource S3 ARN with too few fields', replace: ['    actions: ["s3:Delete*"]\n', '    actions: ["s3:Delete*"]\n    resources: ["arn:aws:s3::reports/*"]\n'], errors: [
    { line: 16, column: 17, path: 'rules[0].resources[0]', message: /`arn:aws:s3::reports\/\*` has too few fields/ },
  ] },
  { name: 'resource S3 ARN with a region', replace: ['    actions: ["s3:Delete*"]\n', '    actions: ["s3:Delete*"]\n    resources: ["arn:aws:s3:us-east-1::reports/*"]\n'], errors: [
    { line: 16, column: 17, path: 'rules[0].resources[0]', message: /empty region and account/ },
  ] },
  { name: 'action with a space', replace: ['"s3:Delete*"', '"s3: Delete*"'], errors: [{ line: 15, column: 15, path: 'rules[0].actions[0]', message: 'must not contain spaces' }] },
  { name: 'empty action', replace: ['"s3:Delete*"', '""'], errors: [{ line: 15, column: 15, path: 'rules[0].actions[0]', message: 'must not be empty' }] },
  { name: 'resource not an ARN', replace: ['    actions: ["s3:Delete*"]\n', '    actions: ["s3:Delete*"]\n    resources: ["reports/*"]\n'], errors: [
    { line: 16, column: 17, path: 'rules[0].resources[0]', message: /is not an ARN or \*/ },
  ] },
  { name: 'resource incomplete ARN', replace: ['    actions: ["s3:Delete*"]\n', '    actions: ["s3:Delete*"]\n    resources: ["arn:aws:s3:reports"]\n'], errors: [
    { line: 16, column: 17, path: 'rules[0].resources[0]', message: /too few fields/ },
  ] },
  { name: 'empty resources', replace: ['    actions: ["s3:Delete*"]\n', '    actions: ["s3:Delete*"]\n    resources: []\n'], errors: [
    { line: 16, column: 16, path: 'rules[0].resources', message: 'must not be empty' },
  ] },
  { name: 'unknown principal', replace: ['    actions: ["s3:Delete*"]\n', '    principals: [reports-mpc]\n    actions: ["s3:Delete*"]\n'], errors: [
    { line: 15, column: 18, path: 'rules[0].principals[0]', message: '`reports-mpc` is not a service account (did you mean `reports-mcp`?) (known: reports-mcp)' },
  ] },
  { name: 'duplicate rule id', append: '  - id: no-destroy\n    effect: allow\n    actions: ["s3:GetObject"]\n', errors: [
    { line: 16, column: 9, path: 'rules[1].id', message: 'duplicate rule id `no-destroy` (first at line 13)' },
  ] },
  { name: 'reserved rule id', replace: ['id: no-destroy', 'id: default-deny'], errors: [{ line: 13, column: 9, path: 'rules[0].id', message: /reserved/ }] },
  { name: 'empty message', replace: ['    actions: ["s3:Delete*"]\n', '    actions: ["s3:Delete*"]\n    message: ""\n'], errors: [
    { line: 16, column: 14, path: 'rules[0].message', message: 'must not be empty' },
  ] },
  { name: 'approval on a deny rule', replace: ['    actions: ["s3:Delete*"]\n', '    actions: ["s3:Delete*"]\n    approval: {timeout: 1m}\n'], errors: [
    { line: 16, column: 5, path: 'rules[0].approval', message: 'only allowed on rules with effect: approve (this rule is deny)' },
  ] },
  { name: 'approval hold longer than timeout', append: '  - id: a\n    effect: approve\n    actions: ["ssm:GetParameter"]\n    approval: {timeout: 1m, hold: 90s}\n', errors: [
    { line: 19, column: 35, path: 'rules[1].approval.hold', message: 'must not exceed the timeout (90s > 1m)' },
  ] },
  { name: 'approval unknown key', append: '  - id: a\n    effect: approve\n    actions: ["ssm:GetParameter"]\n    approval: {timout: 1m}\n', errors: [
    { line: 19, column: 16, path: 'rules[1].approval.timout', message: 'unknown key `timout` (did you mean `timeout`?)' },
  ] },
  { name: 'approval bad duration', append: '  - id: a\n    effect: approve\n    actions: ["ssm:GetParameter"]\n    approval: {timeout: 10 minutes}\n', errors: [
    { line: 19, column: 25, path: 'rules[1].approval.timeout', message: /"10 minutes" is not a duration/ },
  ] },
  { name: 'duplicate key inside a rule', replace: ['    actions: ["s3:Delete*"]\n', '    actions: ["s3:Delete*"]\n    effect: allow\n'], errors: [
    { line: 16, column: 5, path: 'rules[0].effect', message: 'duplicate key `effect` (first at line 14)' },
  ] },
  { name: 'rules not a list', replace: ['rules:\n  - id: no-destroy\n    effect: deny\n    actions: ["s3:Delete*"]\n', 'rules: {}\n'], errors: [{ line: 12, column: 8, path: 'rules', message: 'must be a list' }] },
  // --- masking, recording, passthrough ---
  { name: 'unknown detector', append: 'masking:\n  detectors: [jwtt]\n', errors: [{ line: 17, column: 15, path: 'masking.detectors[0]', message: /unknown detector `jwtt` \(did you mean `jwt`\?\)/ }] },
  { name: 'invalid pattern regex', append: 'masking:\n  patterns:\n    - name: x\n      regex: "a(b"\n', errors: [
    { line: 19, column: 14, path: 'masking.patterns[0].regex', message: 'not a valid regular expression: Unterminated group' },
  ] },
  { name: 'pattern matching the empty string', append: 'masking:\n  patterns: [{name: x, regex: "a*"}]\n', errors: [
    { line: 17, column: 31, path: 'masking.patterns[0].regex', message: /matches the empty string/ },
  ] },
  { name: 'pattern named like a detector', append: 'masking:\n  patterns: [{name: jwt, regex: "x"}]\n', errors: [
    { line: 17, column: 21, path: 'masking.patterns[0].name', message: /built-in detector/ },
  ] },
  { name: 'pattern missing regex', append: 'masking:\n  patterns: [{name: x}]\n', errors: [{ line: 17, column: 14, path: 'masking.patterns[0].regex', message: 'required key `regex` is missing' }] },
  { name: 'masking max_body_bytes zero', append: 'masking: {max_body_bytes: 0}\n', errors: [{ line: 16, column: 27, path: 'masking.max_body_bytes', message: 'must be at least 1' }] },
  { name: 'masking max_body_bytes with unit', append: 'masking: {max_body_bytes: 1MB}\n', errors: [{ line: 16, column: 27, path: 'masking.max_body_bytes', message: /whole number of bytes/ }] },
  { name: 'masking field with space', append: 'masking: {fields: ["Secret String"]}\n', errors: [{ line: 16, column: 20, path: 'masking.fields[0]', message: /without spaces/ }] },
  { name: 'recording durability', append: 'recording: {durability: fast}\n', errors: [{ line: 16, column: 25, path: 'recording.durability', message: 'must be one of batch, strict (got "fast")' }] },
  { name: 'recording on_failure', append: 'recording: {on_failure: ignore}\n', errors: [{ line: 16, column: 25, path: 'recording.on_failure', message: 'must be one of deny, allow (got "ignore")' }] },
  { name: 'recording checkpoint events', append: 'recording: {checkpoint: {events: 0}}\n', errors: [{ line: 16, column: 34, path: 'recording.checkpoint.events', message: 'must be a whole number of events, at least 1 (default 100)' }] },
  { name: 'recording checkpoint interval', append: 'recording: {checkpoint: {interval: 10}}\n', errors: [{ line: 16, column: 36, path: 'recording.checkpoint.interval', message: '"10" is not a duration: use 30s, 10m, 1h or 1d (a bare number has no unit)' }] },
  { name: 'recording witness relative', append: 'recording: {witness: witness-dir}\n', errors: [{ line: 16, column: 22, path: 'recording.witness', message: '"witness-dir" must be an absolute directory (another mount) or an https URL' }] },
  { name: 'recording witness http', append: 'recording: {witness: "http://witness.example/notes"}\n', errors: [{ line: 16, column: 22, path: 'recording.witness', message: '"http://witness.example/notes" must use https (http is only accepted for localhost)' }] },
  { name: 'recording negative bytes', append: 'recording: {max_body_bytes: -1}\n', errors: [{ line: 16, column: 29, path: 'recording.max_body_bytes', message: 'must be at least 0' }] },
  { name: 'passthrough AWS host', append: 'passthrough: ["*.amazonaws.com"]\n', errors: [{ line: 16, column: 15, path: 'passthrough[0]', message: /matches AWS hosts/ }] },
  { name: 'passthrough everything', append: 'passthrough: ["*"]\n', errors: [{ line: 16, column: 15, path: 'passthrough[0]', message: /matches AWS hosts/ }] },
  { name: 'passthrough URL instead of host', append: 'passthrough: ["https://api.github.com"]\n', errors: [{ line: 16, column: 15, path: 'passthrough[0]', message: /not a host name/ }] },
];

describe('parsePolicy: every error names line, column and path', () => {
  it.each(cases)('$name', (c) => {
    let text = c.text ?? BASE;
    if (c.replace) {
      expect(text.includes(c.replace[0]), `case text must contain ${c.replace[0]}`).toBe(true);
      text = text.replace(c.replace[0], c.replace[1]);
    }
    if (c.append) text += c.append;
    const errors = errorsOf(text);
    expect(errors.map(({ line, column, path }) => ({ line, column, path }))).toEqual(c.errors.map(({ line, column, path }) => ({ line, column, path })));
    c.errors.forEach((want, i) => {
      if (typeof want.message === 'string') expect(errors[i]!.message).toBe(want.message);
      else expect(errors[i]!.message).toMatch(want.message);
      expect(errors[i]!.file).toBe('p.yaml');
    });
  });

  it('reports all errors at once, in file order', () => {
    const errors = errorsOf(`version: 1
upstream: {regoin: x}
rules:
  - id: a
    effect: alow
    actions: []
  - id: a
    effect: deny
    actions: ["s3:GetObjekt"]
`);
    expect(errors.map(formatPolicyError)).toEqual([
      'p.yaml:2:12: upstream.regoin: unknown key `regoin` (did you mean `region`?)',
      'p.yaml:5:13: rules[0].effect: must be one of allow, deny, approve (got "alow")',
      'p.yaml:6:14: rules[0].actions: must not be empty',
      'p.yaml:7:9: rules[1].id: duplicate rule id `a` (first at line 4)',
      'p.yaml:9:15: rules[1].actions[0]: unknown IAM action s3:GetObjekt (did you mean s3:GetObject?)',
    ]);
  });
});

describe('loadPolicyFile', () => {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-load-'));

  it('hashes the file bytes', async () => {
    const file = join(dir, 'p.yaml');
    writeFileSync(file, BASE);
    const result = await loadPolicyFile(file);
    expect(result.ok && result.policy.sha256).toBe(createHash('sha256').update(readFileSync(file)).digest('hex'));
    expect(result.ok && result.policy.file).toBe(file);
  });

  it('a missing file is one error naming the file and the OS reason', async () => {
    const file = join(dir, 'absent.yaml');
    expect(await loadPolicyFile(file)).toEqual({
      ok: false,
      errors: [{ file, line: 0, column: 0, path: '', message: `cannot read ${file}: no such file (ENOENT)` }],
    });
  });

  it('a directory is refused with the OS reason', async () => {
    const result = await loadPolicyFile(dir);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.errors[0]!.message).toMatch(/EISDIR/);
  });

  it('refuses bytes that are not UTF-8', async () => {
    const file = join(dir, 'latin1.yaml');
    writeFileSync(file, Buffer.from([0x76, 0x65, 0x72, 0x3a, 0x20, 0xe9, 0x0a]));
    const result = await loadPolicyFile(file);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.errors).toEqual([{ file, line: 0, column: 0, path: '', message: `${file} is not UTF-8 text` }]);
  });

  it('formats errors without a line as file: message', () => {
    expect(formatPolicyError({ file: 'f', line: 0, column: 0, path: '', message: 'm' })).toBe('f: m');
    expect(formatPolicyError({ file: 'f', line: 2, column: 3, path: 'a.b', message: 'm' })).toBe('f:2:3: a.b: m');
  });
});
