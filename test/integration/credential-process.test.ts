// `portcullis credentials` as a credential_process for stock clients (aws CLI v1, boto3) in endpoint
// mode, with IdP tokens (from a file, or fetched with the client-credentials grant) and with
// gateway-minted local tokens (`portcullis token`); expired and revoked local tokens fail closed.
import { copyFile, mkdtemp, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { LOCAL_ISSUER, mintLocalToken } from '../../src/identity/local-token.js';
import { loadOrCreateGatewayKeys } from '../../src/identity/keys.js';
import { cleanEnv, run, startStack, type Stack } from './harness.js';

const BIN = fileURLToPath(new URL('../../bin/portcullis.js', import.meta.url));

const POLICY = `rules:
  - id: work
    effect: allow
    principals: [reports-mcp, local-job]
    actions: ["s3:*", "dynamodb:*", "secretsmanager:*", "sts:GetCallerIdentity"]
`;

let stack: Stack;
let idpTokenFile: string;
let secretFile: string;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function exec(command: string, args: string[], env: Record<string, string>): Promise<Run> {
  try {
    const { stdout, stderr } = await run(command, args, { env, timeout: 120_000, maxBuffer: 16 * 1024 * 1024 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : 1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

function portcullis(args: string[]): Promise<Run> {
  const policy = args[0] === 'revoke' ? [] : ['--policy', stack.policyFile];
  return exec(process.execPath, [BIN, ...args, ...policy, '--state-dir', stack.stateDir], cleanEnv({}, stack.dir));
}

/** An AWS config file whose profile gets its credentials from `portcullis credentials`. */
async function profileEnv(name: string, credentialArgs: string[]): Promise<Record<string, string>> {
  const home = join(stack.dir, `home-${name}`);
  const configFile = join(stack.dir, `aws-config-${name}`);
  const command = [process.execPath, BIN, 'credentials', ...credentialArgs, '--policy', stack.policyFile, '--state-dir', stack.stateDir].join(' ');
  await writeFile(
    configFile,
    `[profile ${name}]\ncredential_process = ${command}\nendpoint_url = ${stack.gateway.url}\nca_bundle = ${stack.gateway.ca.caFile}\nregion = us-east-1\n`,
  );
  return cleanEnv({ AWS_CONFIG_FILE: configFile, AWS_PROFILE: name }, home);
}

beforeAll(async () => {
  stack = await startStack({
    policyBody: POLICY,
    serviceAccounts: `  - name: local-job
    issuer: local
    roles: ["arn:aws:iam::123456789012:role/portcullis-test"]
    session_ttl: 1h
`,
  });
  idpTokenFile = join(stack.dir, 'idp.jwt');
  await writeFile(idpTokenFile, await stack.idp.token('billing-job'), { mode: 0o600 });
  secretFile = join(stack.dir, 'client-secret');
  await writeFile(secretFile, 'billing-job-secret\n', { mode: 0o600 });
}, 60_000);

afterAll(async () => {
  await stack?.close();
});

function expectCredentialJson(stdout: string): Record<string, unknown> {
  const json = JSON.parse(stdout) as Record<string, unknown>;
  expect(Object.keys(json)).toEqual(['Version', 'AccessKeyId', 'SecretAccessKey', 'SessionToken', 'Expiration']);
  expect(json.Version).toBe(1);
  expect(Date.parse(String(json.Expiration))).toBeGreaterThan(Date.now());
  return json;
}

describe('portcullis credentials (process)', () => {
  test('--token-file: credential_process JSON from the gateway STS (URL and CA from gateway.json)', async () => {
    const result = await portcullis(['credentials', '--service-account', 'reports-mcp', '--token-file', idpTokenFile]);
    expect(result.stderr).toBe('');
    expectCredentialJson(result.stdout);
    expect(stack.events.some((e) => e.type === 'session.started' && e.serviceAccount === 'reports-mcp')).toBe(true);
  });

  test('--client-id/--client-secret-file: fetches the IdP token with the client-credentials grant first', async () => {
    const result = await portcullis(['credentials', '--service-account', 'reports-mcp', '--client-id', 'billing-job', '--client-secret-file', secretFile, '--url', stack.gateway.url]);
    expect(result.stderr).toBe('');
    expectCredentialJson(result.stdout);
  });

  test.each([
    ['no token source', ['--service-account', 'reports-mcp'], 2, /an identity token is needed/],
    ['both token sources', ['--service-account', 'reports-mcp', '--token-file', 'x', '--client-id', 'y'], 2, /either --token-file or --client-id/],
    ['an unknown account with client credentials', ['--service-account', 'ghost', '--client-id', 'y', '--client-secret-file', 'SECRET'], 1, /no service account "ghost"/],
    ['a role that is not an ARN', ['--service-account', 'reports-mcp', '--token-file', 'IDP', '--role', 'admin'], 2, /--role: "admin" is not an IAM role ARN/],
    ['a role the account may not assume', ['--service-account', 'reports-mcp', '--token-file', 'IDP', '--role', 'arn:aws:iam::123456789012:role/other'], 1, /the gateway refused the token: AccessDenied: role arn:aws:iam::123456789012:role\/other is not allowed for service account reports-mcp/],
    ['a garbage token', ['--service-account', 'reports-mcp', '--token-file', 'GARBAGE'], 1, /the gateway refused the token: InvalidIdentityToken: token is not a well-formed JWT/],
    ['a gateway that is not there', ['--service-account', 'reports-mcp', '--token-file', 'IDP', '--url', 'https://127.0.0.1:1'], 1, /cannot reach the gateway at https:\/\/127\.0\.0\.1:1: .*ECONNREFUSED/],
    ['client credentials for a local account', ['--service-account', 'local-job', '--client-id', 'x', '--client-secret-file', 'SECRET'], 2, /uses issuer local: there is no IdP to ask/],
  ])('%s → one-line error', async (_name, args, code, message) => {
    const garbage = join(stack.dir, 'garbage.jwt');
    await writeFile(garbage, 'not-a-jwt\n');
    const resolved = args.map((a) => (a === 'IDP' ? idpTokenFile : a === 'GARBAGE' ? garbage : a === 'SECRET' ? secretFile : a));
    const result = await portcullis(['credentials', ...resolved]);
    expect(result.code).toBe(code);
    expect(result.stdout).toBe('');
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(message);
  });
});

describe('portcullis credentials from a client host (no policy file, no state dir)', () => {
  test('needs only --url, --ca, the service account and the token; the gateway picks the only role', async () => {
    const host = await mkdtemp(join(stack.dir, 'client-host-'));
    const ca = join(host, 'gateway-ca.pem');
    await copyFile(stack.gateway.ca.caFile, ca);
    const token = join(host, 'token.jwt');
    await copyFile(idpTokenFile, token);
    const args = ['credentials', '--service-account', 'reports-mcp', '--token-file', token, '--url', stack.gateway.url, '--ca', ca];
    const env = cleanEnv({ PORTCULLIS_STATE_DIR: join(host, 'no-state') }, host);
    const before = stack.events.length;
    const result = await run(process.execPath, [BIN, ...args], { env, cwd: host, timeout: 60_000 }).then(
      (r) => ({ code: 0, ...r }),
      (e: { code?: number; stdout?: string; stderr?: string }) => ({ code: e.code ?? 1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' }),
    );
    expect(result.stderr).toBe('');
    expectCredentialJson(result.stdout);
    const started = stack.events.slice(before).find((e) => e.type === 'session.started');
    expect(started).toMatchObject({ serviceAccount: 'reports-mcp', roleArn: stack.roleArn });
  });

  test('on the bastion, credentials with client credentials reads the running gateway\'s policy', async () => {
    const env = cleanEnv({}, stack.dir);
    const elsewhere = await mkdtemp(join(stack.dir, 'bastion-cwd-'));
    const args = ['credentials', '--service-account', 'reports-mcp', '--client-id', 'billing-job', '--client-secret-file', secretFile, '--state-dir', stack.stateDir];
    const { stdout, stderr } = await run(process.execPath, [BIN, ...args], { env, cwd: elsewhere, timeout: 60_000 });
    expect(stderr).toBe('');
    expectCredentialJson(stdout);
  });
});

describe('a credential_process profile', () => {
  test('the aws CLI: sts, s3, dynamodb through the gateway', async () => {
    const env = await profileEnv('gw', ['--service-account', 'reports-mcp', '--token-file', idpTokenFile]);
    const who = await exec('aws', ['sts', 'get-caller-identity', '--output', 'json'], env);
    expect(who.stderr).toBe('');
    expect(who.stdout).toContain('assumed-role/portcullis-test/');
    expect((await exec('aws', ['s3', 'mb', 's3://credproc'], env)).code).toBe(0);
    const file = join(stack.dir, 'cp.txt');
    await writeFile(file, 'via credential_process\n');
    expect((await exec('aws', ['s3', 'cp', file, 's3://credproc/cp.txt'], env)).stderr).toBe('');
    expect((await exec('aws', ['s3', 'ls', '--recursive', 's3://credproc/'], env)).stdout).toContain('cp.txt');
    const table = await exec('aws', [
      'dynamodb', 'create-table', '--table-name', 'credproc', '--billing-mode', 'PAY_PER_REQUEST',
      '--attribute-definitions', 'AttributeName=pk,AttributeType=S', '--key-schema', 'AttributeName=pk,KeyType=HASH',
    ], env);
    expect(table.stderr).toBe('');
  }, 120_000);

  test('boto3 with the client-credentials variant', async () => {
    const env = await profileEnv('gwcc', ['--service-account', 'reports-mcp', '--client-id', 'billing-job', '--client-secret-file', secretFile]);
    await exec('aws', ['s3', 'mb', 's3://credproc-boto'], env);
    const steps = [
      { op: 'whoami' },
      { op: 'put', bucket: 'credproc-boto', key: 'b.txt', body: 'boto via credential_process' },
      { op: 'get', bucket: 'credproc-boto', key: 'b.txt' },
    ];
    const { stdout } = await run('python3', ['test/integration/clients/boto3_client.py', JSON.stringify(steps)], { env, timeout: 60_000 });
    const results = JSON.parse(stdout) as any[];
    expect(results[0]).toMatchObject({ ok: true });
    expect(results[0].data).toContain('assumed-role/portcullis-test/');
    expect(results[2]).toMatchObject({ ok: true, data: 'boto via credential_process' });
  }, 120_000);
});

describe('local tokens (portcullis token)', () => {
  test('a minted token works in a credential_process profile', async () => {
    const minted = await portcullis(['token', '--service-account', 'local-job', '--ttl', '30m']);
    expect(minted.stderr).toBe('');
    const tokenFile = join(stack.dir, 'local.jwt');
    await writeFile(tokenFile, minted.stdout, { mode: 0o600 });
    const env = await profileEnv('local', ['--service-account', 'local-job', '--token-file', tokenFile]);
    const who = await exec('aws', ['sts', 'get-caller-identity', '--output', 'json'], env);
    expect(who.stderr).toBe('');
    expect(who.stdout).toContain('assumed-role/portcullis-test/');
    expect(stack.events.some((e) => e.type === 'session.started' && e.serviceAccount === 'local-job' && e.issuer === LOCAL_ISSUER)).toBe(true);
  }, 60_000);

  test('an expired local token is refused at the gateway STS', async () => {
    const keys = await loadOrCreateGatewayKeys(stack.stateDir);
    const expired = mintLocalToken(keys, { serviceAccount: 'local-job', ttlMs: 3_600_000, now: new Date(Date.now() - 2 * 3_600_000) });
    const tokenFile = join(stack.dir, 'expired.jwt');
    await writeFile(tokenFile, expired);
    const result = await portcullis(['credentials', '--service-account', 'local-job', '--token-file', tokenFile]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^portcullis: the gateway refused the token: InvalidIdentityToken: token expired at \S+\n$/);
  });

  test('revoked by `portcullis revoke --service-account`: credentials issued before it stop working', async () => {
    const minted = await portcullis(['token', '--service-account', 'local-job', '--ttl', '30m']);
    const tokenFile = join(stack.dir, 'revoke.jwt');
    await writeFile(tokenFile, minted.stdout, { mode: 0o600 });
    const creds = JSON.parse((await portcullis(['credentials', '--service-account', 'local-job', '--token-file', tokenFile])).stdout);
    const env = cleanEnv(
      {
        AWS_ACCESS_KEY_ID: creds.AccessKeyId,
        AWS_SECRET_ACCESS_KEY: creds.SecretAccessKey,
        AWS_SESSION_TOKEN: creds.SessionToken,
        AWS_ENDPOINT_URL: stack.gateway.url,
        AWS_CA_BUNDLE: stack.gateway.ca.caFile,
        AWS_DEFAULT_REGION: 'us-east-1',
      },
      join(stack.dir, 'home-revoke'),
    );
    expect((await exec('aws', ['sts', 'get-caller-identity'], env)).code).toBe(0);
    const revoked = await portcullis(['revoke', '--service-account', 'local-job', '--reason', 'token leaked']);
    expect(revoked.code).toBe(0);
    const after = await exec('aws', ['sts', 'get-caller-identity'], env);
    expect(after.code).not.toBe(0);
    expect(after.stderr).toMatch(/InvalidClientTokenId|security token included in the request is invalid/);
    expect(after.stderr).toContain('local-job were revoked');
  }, 60_000);
});
