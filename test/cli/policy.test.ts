// `portcullis policy check|explain` run as processes against the built CLI (`npm test` builds dist first).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

function run(...args: string[]) {
  const result = spawnSync(process.execPath, ['bin/portcullis.js', ...args], { encoding: 'utf8' });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

const dir = mkdtempSync(join(tmpdir(), 'portcullis-cli-policy-'));
const bad = join(dir, 'bad.yaml');
writeFileSync(
  bad,
  `version: 1
rules:
  - id: a
    efect: allow
    actions: []
  - id: a
    effect: deny
    actions: ["s3:Delete*"]
`,
);

describe('policy check', () => {
  it('passes policy.example.yaml', () => {
    const { code, stdout, stderr } = run('policy', 'check', 'policy.example.yaml');
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout).toBe('ok: 8 rules, 2 service accounts\n');
  });

  it('--json on a good file', () => {
    const { code, stdout } = run('policy', 'check', 'policy.example.yaml', '--json');
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toMatchObject({ ok: true, file: 'policy.example.yaml', rules: 8, serviceAccounts: 2, sha256: expect.stringMatching(/^[0-9a-f]{64}$/) });
  });

  it('lists every error as file:line:column: path: message and exits 1', () => {
    const { code, stdout, stderr } = run('policy', 'check', bad);
    expect(code).toBe(1);
    expect(stdout).toBe('');
    expect(stderr.split('\n')).toEqual([
      `${bad}:3:5: rules[0].effect: required key \`effect\` is missing`,
      `${bad}:4:5: rules[0].efect: unknown key \`efect\` (did you mean \`effect\`?)`,
      `${bad}:5:14: rules[0].actions: must not be empty`,
      `${bad}:6:9: rules[1].id: duplicate rule id \`a\` (first at line 3)`,
      `portcullis: ${bad}: 4 errors; policy not valid`,
      '',
    ]);
  });

  it('--json on a bad file prints the errors as JSON and exits 1', () => {
    const { code, stdout } = run('policy', 'check', bad, '--json');
    expect(code).toBe(1);
    const out = JSON.parse(stdout);
    expect(out.ok).toBe(false);
    expect(out.errors[1]).toEqual({ file: bad, line: 4, column: 5, path: 'rules[0].efect', message: 'unknown key `efect` (did you mean `effect`?)' });
  });

  it('a missing file is one clear line, no stack trace', () => {
    const file = join(dir, 'absent.yaml');
    const { code, stderr } = run('policy', 'check', file);
    expect(code).toBe(1);
    expect(stderr).toBe(`${file}: cannot read ${file}: no such file (ENOENT)\nportcullis: ${file}: 1 error; policy not valid\n`);
  });
});

describe('policy explain', () => {
  const explain = (...args: string[]) => run('policy', 'explain', '--policy', 'policy.example.yaml', ...args);

  it('an allowed call', () => {
    const { code, stdout } = explain('--as', 'reports-mcp', '--action', 's3:GetObject', '--resource', 'arn:aws:s3:::acme-reports/2024/01.csv');
    expect(code).toBe(0);
    expect(stdout).toBe(
      'allow: reports-mcp s3:GetObject on arn:aws:s3:::acme-reports/2024/01.csv (eu-west-1)\n' +
        'deciding rule: reports-read (allow)\n' +
        'also matched: none\n',
    );
  });

  it('a denied call names the rule, its message and the other rules that matched', () => {
    const { code, stdout } = explain('--as', 'reports-indexer', '--action', 'dynamodb:DeleteItem', '--resource', 'arn:aws:dynamodb:eu-west-1:123456789012:table/report-metadata');
    expect(code).toBe(0);
    expect(stdout).toContain('approve: reports-indexer dynamodb:DeleteItem');
    expect(stdout).toContain('deciding rule: metadata-delete (approve): deleting report metadata needs an approver\n');
    expect(stdout).toContain('approval: holds the call 20s, denied after 30m without an answer\n');

    const denied = explain('--as', 'reports-mcp', '--action', 'S3:DeleteObject', '--resource', 'arn:aws:s3:::acme-reports/x', '--region', 'us-west-2');
    expect(denied.stdout).toBe(
      'deny: reports-mcp S3:DeleteObject on arn:aws:s3:::acme-reports/x (us-west-2)\n' +
        'deciding rule: no-destroy (deny): destructive calls are blocked on this gateway\n' +
        'also matched: none\n',
    );
  });

  it('default deny', () => {
    const { code, stdout } = explain('--as', 'reports-mcp', '--action', 's3:PutObject', '--resource', 'arn:aws:s3:::acme-reports/x');
    expect(code).toBe(0);
    expect(stdout).toContain('deciding rule: default-deny: no rule matched\n');
  });

  it('--json lists the matched rules with their effects', () => {
    const policy = join(dir, 'overlap.yaml');
    writeFileSync(
      policy,
      `version: 1
service_accounts:
  - {name: job, issuer: local, roles: ["arn:aws:iam::123456789012:role/job"]}
rules:
  - {id: read-all, effect: allow, actions: ["s3:Get*"]}
  - {id: hold-prod, effect: approve, actions: ["s3:GetObject"], resources: ["arn:aws:s3:::prod/*"], message: ask first}
  - {id: everything, effect: allow, principals: [job], actions: ["*"]}
`,
    );
    const { code, stdout } = run('policy', 'explain', '--policy', policy, '--as', 'job', '--action', 's3:GetObject', '--resource', 'arn:aws:s3:::prod/a', '--json');
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toEqual({
      principal: 'job',
      action: 's3:GetObject',
      resource: 'arn:aws:s3:::prod/a',
      region: 'us-east-1',
      effect: 'approve',
      ruleId: 'hold-prod',
      message: 'ask first',
      approval: { holdMs: 20_000, timeoutMs: 600_000 },
      matched: [
        { id: 'read-all', effect: 'allow' },
        { id: 'everything', effect: 'allow' },
      ],
      policySha256: expect.stringMatching(/^[0-9a-f]{64}$/),
    });
  });

  it.each([
    [['--action', 's3:GetObject'], /--as NAME is required/],
    [['--as', 'reports-mcp'], /--action svc:Op is required/],
    [['--as', 'reports-mcp', '--action', 'GetObject'], /"GetObject" is not service:Operation/],
    [['--as', 'reports-mpc', '--action', 's3:GetObject'], /no service account `reports-mpc`.*did you mean `reports-mcp`/],
  ])('usage errors exit 2: %j', (args, message) => {
    const { code, stderr } = explain(...args);
    expect(code).toBe(2);
    expect(stderr).toMatch(message);
    expect(stderr.trim().split('\n')).toHaveLength(1);
  });

  it('an invalid policy lists its errors and exits 1', () => {
    const { code, stderr } = run('policy', 'explain', '--policy', bad, '--as', 'x', '--action', 's3:GetObject');
    expect(code).toBe(1);
    expect(stderr).toContain(`${bad}:4:5: rules[0].efect: unknown key`);
  });

  it.each([['--token', 'tok.jwt'], ['--claims', '{"sub":"x"}']])('%s is not built yet (exit 1)', (flag, value) => {
    const { code, stderr } = explain(flag, value);
    expect(code).toBe(1);
    expect(stderr).toBe(`portcullis: policy explain ${flag}: not built yet in this version (use --as NAME --action svc:Op)\n`);
  });
});
