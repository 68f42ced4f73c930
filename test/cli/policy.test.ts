// `portcullis policy check|explain` run as processes against the built CLI (`npm test` builds dist first).
import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateSigningKey, signToken, startJwksServer, type JwksServer, type TestSigningKey } from '../fixtures/idp.js';

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
    expect(stdout).toBe('ok: 11 rules, 7 service accounts\n');
  });

  it('--json on a good file', () => {
    const { code, stdout } = run('policy', 'check', 'policy.example.yaml', '--json');
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toMatchObject({ ok: true, file: 'policy.example.yaml', rules: 11, serviceAccounts: 7, warnings: [], sha256: expect.stringMatching(/^[0-9a-f]{64}$/) });
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
      pairs: [{ action: 's3:GetObject', resource: 'arn:aws:s3:::prod/a', effect: 'approve', ruleId: 'hold-prod' }],
      policySha256: expect.stringMatching(/^[0-9a-f]{64}$/),
    });
  });

  it('expands an API operation into the IAM actions it is authorized as, one line per pair', () => {
    const list = explain('--as', 'reports-mcp', '--action', 's3:ListObjectsV2', '--resource', 'arn:aws:s3:::acme-reports');
    expect(list.code).toBe(0);
    expect(list.stdout).toBe(
      'allow: reports-mcp s3:ListObjectsV2 on arn:aws:s3:::acme-reports (eu-west-1)\n' +
        '  s3:ListBucket on arn:aws:s3:::acme-reports: allow (reports-read)\n' +
        'deciding rule: reports-read (allow)\n' +
        'also matched: none\n',
    );
    const copy = explain('--as', 'reports-mcp', '--action', 's3:CopyObject', '--resource', 'arn:aws:s3:::acme-reports/a');
    expect(copy.stdout).toContain('  s3:GetObject on arn:aws:s3:::acme-reports/a: allow (reports-read)\n  s3:PutObject on arn:aws:s3:::acme-reports/a: deny (default-deny)\n');
    expect(copy.stdout.startsWith('deny: ')).toBe(true);
    const typo = explain('--as', 'reports-mcp', '--action', 'dynamodb:DeleteTabel');
    expect(typo.code).toBe(2);
    expect(typo.stderr).toContain('dynamodb:DeleteTabel is neither an IAM action nor a known API operation (did you mean dynamodb:DeleteTable?)');
  });

  it('check prints warnings and fails on them with --strict', () => {
    const file = join(dir, 'warn.yaml');
    writeFileSync(file, 'version: 1\nrules:\n  - id: mixed\n    effect: allow\n    actions: ["s3:GetObject"]\n    resources: ["arn:aws:dynamodb:*:*:table/t"]\n');
    const loose = run('policy', 'check', file);
    expect(loose.code).toBe(0);
    expect(loose.stderr).toBe(`warning: ${file}:3:5: rules[0]: rule \`mixed\` can never match: its actions are for s3 but its resources are dynamodb ARNs\n`);
    expect(loose.stdout).toBe('ok: 1 rule, 0 service accounts, 1 warning\n');
    const strict = run('policy', 'check', file, '--strict');
    expect(strict.code).toBe(1);
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

});

/** Async, so the in-process JWKS server can answer the child process. */
function runAsync(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['bin/portcullis.js', ...args], { encoding: 'utf8' }, (error, stdout, stderr) => {
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

describe('policy explain --token / --claims', () => {
  let jwks: JwksServer;
  let key: TestSigningKey;
  let policy: string;
  let unreachablePolicy: string;
  const now = () => Math.floor(Date.now() / 1000);
  const ghClaims = (extra: Record<string, unknown> = {}) => ({
    iss: 'https://token.actions.githubusercontent.com',
    aud: 'sts.amazonaws.com',
    sub: 'repo:acme/app:environment:production',
    repository: 'acme/app',
    repository_id: '892345671',
    environment: 'production',
    ref: 'refs/heads/main',
    job_workflow_ref: 'acme/app/.github/workflows/deploy.yml@refs/heads/main',
    iat: now(),
    nbf: now() - 600,
    exp: now() + 300,
    ...extra,
  });
  const tokenFile = async (claims: Record<string, unknown>) => {
    const file = join(dir, `t-${Math.random().toString(36).slice(2)}.jwt`);
    writeFileSync(file, `${await signToken(key, claims)}\n`);
    return file;
  };

  beforeAll(async () => {
    key = await generateSigningKey('RS256', 'gh-1');
    jwks = await startJwksServer({ keys: [key.publicJwk] });
    const text = (jwksUri: string) => `version: 1
identity:
  issuers:
    - {name: github, preset: github-actions, audience: sts.amazonaws.com, jwks_uri: "${jwksUri}"}
service_accounts:
  - name: app-prod
    issuer: github
    subject: "repo:acme/app:environment:production"
    roles: ["arn:aws:iam::123456789012:role/app-deploy"]
  - name: tools-a
    issuer: github
    match: {StringEquals: {repository: acme/tools}}
    roles: ["arn:aws:iam::123456789012:role/tools"]
  - name: tools-b
    issuer: github
    match: {StringLike: {sub: "repo:acme/tools:*"}}
    roles: ["arn:aws:iam::123456789012:role/tools"]
`;
    policy = join(dir, 'gh.yaml');
    writeFileSync(policy, text(jwks.jwksUri));
    const gone = await startJwksServer();
    unreachablePolicy = join(dir, 'gh-unreachable.yaml');
    writeFileSync(unreachablePolicy, text(gone.jwksUri));
    await gone.close();
  });
  afterAll(async () => {
    await jwks.close();
  });

  it('a token that maps to one account: verified signature, the account and its roles, exit 0', async () => {
    const { code, stdout, stderr } = await runAsync('policy', 'explain', '--policy', policy, '--token', await tokenFile(ghClaims()));
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout).toBe(
      'issuer: github (iss https://token.actions.githubusercontent.com)\n' +
        'signature: verified\n' +
        'accepted: maps to service account app-prod\n' +
        'roles it may assume: arn:aws:iam::123456789012:role/app-deploy\n' +
        'service accounts of issuer github:\n' +
        '  app-prod: matches\n' +
        '  tools-a: StringEquals repository: token has "acme/app", expected "acme/tools"\n' +
        '  tools-b: StringLike sub: token has "repo:acme/app:environment:production", expected "repo:acme/tools:*"\n',
    );
  });

  it('a token from another repository: refused, the closest account and its failing condition, exit 1', async () => {
    const file = await tokenFile(ghClaims({ sub: 'repo:acme/web:environment:production', repository: 'acme/web' }));
    const { code, stdout, stderr } = await runAsync('policy', 'explain', '--policy', policy, '--token', file);
    expect(code).toBe(1);
    expect(stdout).toContain('signature: verified\n');
    expect(stdout).toContain('refused (AccessDenied): no service account matches issuer github subject repo:acme/web:environment:production (candidates: app-prod, tools-a, tools-b; closest app-prod: StringEquals sub: token has "repo:acme/web:environment:production", expected "repo:acme/app:environment:production")\n');
    expect(stderr).toMatch(/^portcullis: token refused: no service account matches/);
  });

  it('an over-long token and an ambiguous one are refused with the reason', async () => {
    const long = await runAsync('policy', 'explain', '--policy', policy, '--token', await tokenFile(ghClaims({ exp: now() + 7200 })));
    expect(long.code).toBe(1);
    expect(long.stdout).toMatch(/refused \(InvalidIdentityToken\): token lifetime .* exceeds max_token_lifetime 20m of issuer github/);
    const both = await runAsync('policy', 'explain', '--policy', policy, '--token', await tokenFile(ghClaims({ sub: 'repo:acme/tools:ref:refs/heads/main', repository: 'acme/tools' })));
    expect(both.code).toBe(1);
    expect(both.stdout).toContain('refused (AccessDenied): token matches more than one service account (tools-a, tools-b)');
  });

  it('says clearly when the keys cannot be fetched, and still shows the mapping', async () => {
    const { code, stdout } = await runAsync('policy', 'explain', '--policy', unreachablePolicy, '--token', await tokenFile(ghClaims()));
    expect(stdout).toMatch(/^signature: NOT verified: cannot fetch the signing keys of issuer github: .* \(the gateway would refuse the token until it can check it\)$/m);
    expect(stdout).toContain('accepted: maps to service account app-prod\n');
    expect(code).toBe(0);
  });

  it('a token signed by another key: signature invalid, exit 1', async () => {
    const other = await generateSigningKey('RS256', 'gh-1');
    const file = join(dir, 'forged.jwt');
    writeFileSync(file, await signToken(other, ghClaims()));
    const { code, stdout } = await runAsync('policy', 'explain', '--policy', policy, '--token', file);
    expect(code).toBe(1);
    expect(stdout).toContain('signature: invalid: signature invalid for issuer github\n');
    expect(stdout).toContain('refused (InvalidIdentityToken): signature invalid for issuer github\n');
  });

  it('--claims against policy.example.yaml: no signature, no clock, one account per IdP', async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ ...ghClaims(), exp: 1 }, 'app-deploy-production'],
      [{ iss: 'https://sts.windows.net/72f988bf-86f1-41af-91ab-2d7cd011db47/', tid: '72f988bf-86f1-41af-91ab-2d7cd011db47', aud: 'api://portcullis/', sub: '5b9f5c1e-0000-4000-8000-000000000001', idtyp: 'app', roles: ['Billing.Read'] }, 'billing-daemon'],
      [{ iss: 'accounts.google.com', aud: 'https://portcullis.acme.example', sub: '113452651939271683245', email: 'analytics-etl@acme-prod.iam.gserviceaccount.com', email_verified: true }, 'analytics-etl'],
      [{ iss: 'https://oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE', aud: ['sts.amazonaws.com'], sub: 'system:serviceaccount:finance:ledger-sync', 'kubernetes.io': { namespace: 'finance' } }, 'finance-ledger-sync'],
      [{ sub: 'spiffe://acme.internal/ns/payments/sa/api', aud: ['portcullis'] }, 'payments-workloads'],
      [{ iss: 'https://dev-123456.okta.com/oauth2/default', aud: 'portcullis', sub: '0oa1b2c3d4e5f6g7h8i9', cid: '0oa1b2c3d4e5f6g7h8i9', scp: ['reports.read'] }, 'reports-mcp'],
    ];
    for (const [claims, account] of cases) {
      const { code, stdout } = await runAsync('policy', 'explain', '--policy', 'policy.example.yaml', '--claims', JSON.stringify(claims));
      expect(stdout).toContain(`accepted: maps to service account ${account}\n`);
      expect(stdout).toContain('signature: not checked (--claims)\n');
      expect(stdout).toContain('not checked: signature; exp, nbf and iat against the clock\n');
      expect(code).toBe(0);
    }
  });

  it('--claims --json for an org-server Okta token', async () => {
    const claims = { iss: 'https://dev-123456.okta.com', aud: 'portcullis', sub: '0oa1b2c3d4e5f6g7h8i9' };
    const { code, stdout } = await runAsync('policy', 'explain', '--policy', 'policy.example.yaml', '--claims', JSON.stringify(claims), '--json');
    expect(code).toBe(1);
    expect(JSON.parse(stdout)).toEqual({
      mode: 'claims',
      accepted: false,
      code: 'INVALID_IDENTITY_TOKEN',
      reason: expect.stringMatching(/^iss https:\/\/dev-123456\.okta\.com is Okta's org authorization server/),
      issuer: null,
      signature: 'skipped',
      notChecked: ['signature', 'exp, nbf and iat against the clock'],
      serviceAccount: null,
      roles: [],
      candidates: [],
      claims,
      policySha256: expect.stringMatching(/^[0-9a-f]{64}$/),
    });
  });

  it('--json for a mapped token', async () => {
    const { code, stdout } = await runAsync('policy', 'explain', '--policy', policy, '--token', await tokenFile(ghClaims()), '--json');
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toMatchObject({ mode: 'token', accepted: true, issuer: 'github', signature: 'verified', serviceAccount: 'app-prod', roles: ['arn:aws:iam::123456789012:role/app-deploy'], candidates: [{ name: 'app-prod', matches: true, failures: [] }, { name: 'tools-a', matches: false }, { name: 'tools-b', matches: false }] });
  });

  it.each([
    [['--claims', '{not json'], 2, /--claims is not JSON/],
    [['--claims', '[1]'], 2, /--claims must be a JSON object of claims/],
    [['--claims', '{}', '--token', 'x'], 2, /give --token FILE or --claims JSON, not both/],
    [['--claims', '{}', '--as', 'x'], 2, /--token\/--claims explain an identity; --as\/--action explain a call/],
    [['--token', '/nonexistent/token.jwt'], 1, /--token: cannot read \/nonexistent\/token\.jwt: ENOENT/],
  ])('bad input: %j', async (args, exit, message) => {
    const { code, stderr } = await runAsync('policy', 'explain', '--policy', 'policy.example.yaml', ...args);
    expect(code).toBe(exit);
    expect(stderr).toMatch(message);
    expect(stderr.trim().split('\n')).toHaveLength(1);
  });
});

describe('policy explain for MCP tools (decided as the gateway decides them)', () => {
  it('a tool named by a deny rule is denied', () => {
    const r = run('policy', 'explain', '--policy', 'policy.example.yaml', '--as', 'reports-mcp', '--action', 'mcp:CallTool', '--resource', 'mcp:aws-api/tool/call_aws');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('deny: reports-mcp mcp:CallTool on mcp:aws-api/tool/call_aws');
    expect(r.stdout).toContain('deciding rule: no-raw-aws-cli-tool (deny)');
  });

  it('a tool no rule names runs (its AWS calls are still decided)', () => {
    const r = run('policy', 'explain', '--policy', 'policy.example.yaml', '--as', 'reports-mcp', '--action', 'mcp:CallTool', '--resource', 'mcp:aws-api/tool/list_buckets');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('allow: reports-mcp mcp:CallTool');
    expect(r.stdout).toContain('deciding rule: no-tool-rule: no rule names this tool');
  });

  it.each([
    [['--action', 'mcp:CallToool', '--resource', 'mcp:a/tool/b'], /the mcp service has mcp:CallTool, mcp:CallChangedTool/],
    [['--action', 'mcp:CallTool', '--resource', 'arn:aws:s3:::x'], /an MCP tool is mcp:<server>\/tool\/<name>/],
  ])('bad input %j: one line, exit 2', (args, message) => {
    const r = run('policy', 'explain', '--policy', 'policy.example.yaml', '--as', 'reports-mcp', ...args);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(message);
  });
});
