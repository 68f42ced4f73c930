// A real MCP server behind the gateway: the fixture server (official MCP TypeScript SDK + stock AWS SDK
// v3 clients configured by nothing but their environment) started over stdio by an MCP Client from
// the same SDK, with ONLY what `portcullis env` prints (plus PATH/HOME). Allowed reads succeed, the
// destructive tool gets the gateway's AccessDenied as a tool error the model can read, the secret
// comes back masked, and the recording attributes every AWS call to the service account. A second
// run uses the `--format aws-config` profile path (AWS_CONFIG_FILE + AWS_PROFILE), with the JS SDK
// server and with boto3 forcing the profile the way several awslabs MCP servers do.

import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import { env as portcullisEnv } from '../../src/cli/env.js';
import type { GatewayEvent } from '../../src/events.js';
import { cleanEnv, run, startStack, type Stack } from './harness.js';

const BIN = fileURLToPath(new URL('../../bin/portcullis.js', import.meta.url));
const SERVER = fileURLToPath(new URL('../fixtures/mcp-server/server.mjs', import.meta.url));
const BOTO3_PROFILE_CLIENT = fileURLToPath(new URL('../fixtures/mcp-server/boto3_profile.py', import.meta.url));
const JS_CLIENT = fileURLToPath(new URL('./clients/js-sdk.mjs', import.meta.url));

const SECRET = '{"username":"reporter","password":"hunter2-very-secret"}';

const POLICY = `rules:
  - id: no-destroy
    effect: deny
    actions: ["dynamodb:DeleteTable"]
    message: destructive calls are blocked on this gateway
  - id: read-reports
    effect: allow
    principals: [reports-mcp]
    actions: ["s3:ListBucket", "s3:GetObject"]
    resources: ["arn:aws:s3:::reports", "arn:aws:s3:::reports/*"]
  - id: read-secrets
    effect: allow
    principals: [reports-mcp]
    actions: ["secretsmanager:GetSecretValue"]
  - id: seed
    effect: allow
    principals: [seeder]
    actions: ["s3:CreateBucket", "s3:PutObject", "dynamodb:CreateTable", "secretsmanager:CreateSecret"]
masking:
  fields: [SecretString]
`;

let stack: Stack;

interface ToolResult {
  isError?: boolean;
  content: { type: string; text: string }[];
}

async function portcullis(args: string[]): Promise<string> {
  const policy = args[0] === 'env' ? ['--policy', stack.policyFile] : [];
  const { stdout } = await run(process.execPath, [BIN, ...args, ...policy, '--state-dir', stack.stateDir], {
    env: cleanEnv({}, stack.dir),
    timeout: 60_000,
  });
  return stdout;
}

let tokenCount = 0;
async function freshToken(clientId: string): Promise<string> {
  tokenCount += 1;
  const file = join(stack.dir, `mcp-token-${tokenCount}.jwt`);
  await writeFile(file, await stack.idp.token(clientId), { mode: 0o600 });
  return file;
}

async function freshHome(name: string): Promise<string> {
  const home = join(stack.dir, `home-${name}`);
  await mkdir(home, { recursive: true });
  return home;
}

/** Starts the fixture server over stdio with exactly `env`, calls each tool, returns the results. */
async function callTools(env: Record<string, string>, calls: { name: string; arguments: Record<string, string> }[]): Promise<ToolResult[]> {
  const transport = new StdioClientTransport({ command: process.execPath, args: [SERVER], env, stderr: 'pipe' });
  let stderr = '';
  transport.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const client = new Client({ name: 'portcullis-e2e', version: '1.0.0' });
  await client.connect(transport);
  try {
    const tools = await client.listTools();
    expect(tools.tools.map((t) => t.name).sort()).toEqual(['delete_table', 'get_secret', 'list_bucket', 'read_object']);
    const results: ToolResult[] = [];
    for (const call of calls) results.push((await client.callTool(call)) as ToolResult);
    if (process.env.E2E_DEBUG) console.log(JSON.stringify(results, null, 1), stderr);
    return results;
  } finally {
    await client.close();
  }
}

const CALLS: { name: string; arguments: Record<string, string> }[] = [
  { name: 'list_bucket', arguments: { bucket: 'reports' } },
  { name: 'read_object', arguments: { bucket: 'reports', key: 'q1/summary.txt' } },
  { name: 'get_secret', arguments: { secret_id: 'reports/db' } },
  { name: 'delete_table', arguments: { table: 'orders' } },
];

function expectToolOutcomes([list, read, secret, del]: ToolResult[]): void {
  expect(list).toMatchObject({ content: [{ type: 'text', text: '["q1/summary.txt"]' }] });
  expect(list!.isError).toBeFalsy();
  expect(read).toMatchObject({ content: [{ type: 'text', text: 'hello reports' }] });
  expect(read!.isError).toBeFalsy();
  // Masked inside the gateway: keys kept, values gone.
  expect(secret!.isError).toBeFalsy();
  expect(JSON.parse(secret!.content[0]!.text)).toEqual({ username: '****', password: '****' });
  expect(secret!.content[0]!.text).not.toContain('hunter2');
  // The model reads the gateway's denial, naming the rule and its message.
  expect(del!.isError).toBe(true);
  expect(del!.content[0]!.text).toBe(
    'AWS error AccessDeniedException (HTTP 403): portcullis: dynamodb:DeleteTable on arn:aws:dynamodb:us-east-1:123456789012:table/orders for reports-mcp: denied by rule no-destroy: destructive calls are blocked on this gateway',
  );
}

interface RecordedLine {
  type: string;
  action?: string;
  effect?: string;
  ruleId?: string;
  serviceAccount?: string;
  sessionId?: string;
}

/** Every recorded line of the sessions started after event index `from`, grouped by service account. */
async function recordedSince(from: number): Promise<Map<string, RecordedLine[]>> {
  await stack.gateway.recorder.flush();
  const started = stack.events.slice(from).filter((e): e is Extract<GatewayEvent, { type: 'session.started' }> => e.type === 'session.started');
  const byAccount = new Map<string, RecordedLine[]>();
  for (const session of started) {
    const stdout = await portcullis(['export', session.sessionId, '--format', 'jsonl']);
    const lines = stdout.trim().split('\n').map((l) => JSON.parse(l) as RecordedLine);
    expect(lines[0]).toMatchObject({ type: 'header', sessionId: session.sessionId, serviceAccount: session.serviceAccount });
    byAccount.set(session.serviceAccount, [...(byAccount.get(session.serviceAccount) ?? []), ...lines]);
  }
  return byAccount;
}

function expectAttributed(byAccount: Map<string, RecordedLine[]>, minSessions: number): void {
  // Only the MCP server's account acted; it got one session per SDK client instance it made.
  expect([...byAccount.keys()]).toEqual(['reports-mcp']);
  const lines = byAccount.get('reports-mcp')!;
  expect(lines.filter((l) => l.type === 'header').length).toBeGreaterThanOrEqual(minSessions);
  const actions = lines.filter((l) => l.type === 'request').map((l) => l.action);
  expect(actions).toEqual(expect.arrayContaining(['s3:ListObjectsV2', 's3:GetObject', 'secretsmanager:GetSecretValue', 'dynamodb:DeleteTable']));
  expect(lines.find((l) => l.type === 'decision' && l.action === 'dynamodb:DeleteTable')).toMatchObject({ effect: 'deny', ruleId: 'no-destroy' });
  expect(lines.find((l) => l.type === 'decision' && l.action === 's3:GetObject')).toMatchObject({ effect: 'allow', ruleId: 'read-reports' });
}

beforeAll(async () => {
  stack = await startStack({
    policyBody: POLICY,
    clients: [
      { clientId: 'billing-job', clientSecret: 'billing-job-secret' },
      { clientId: 'seeder', clientSecret: 'seeder-secret' },
    ],
    // moto's fixed account; the same role as reports-mcp (startStack creates it).
    serviceAccounts: `  - name: seeder
    issuer: test-idp
    subject: seeder
    roles: ["arn:aws:iam::123456789012:role/portcullis-test"]
`,
  });
  // Seed through the gateway as a separate account, itself configured by `portcullis env --format json`.
  const seedEnv = JSON.parse(await portcullis(['env', '--service-account', 'seeder', '--format', 'json', '--token-file', await freshToken('seeder')])) as Record<string, string>;
  const { stdout } = await run(
    process.execPath,
    [
      JS_CLIENT,
      JSON.stringify([
        { op: 'createBucket', bucket: 'reports' },
        { op: 'put', bucket: 'reports', key: 'q1/summary.txt', body: 'hello reports' },
        { op: 'createTable', table: 'orders' },
        { op: 'createSecret', name: 'reports/db', value: SECRET },
      ]),
    ],
    { env: cleanEnv(seedEnv, await freshHome('seed')), timeout: 60_000 },
  );
  const seeded = JSON.parse(stdout) as { op: string; ok: boolean }[];
  expect(seeded.filter((r) => !r.ok)).toEqual([]);
}, 120_000);

afterAll(async () => {
  await stack?.close();
});

describe('an MCP server started with only the environment from portcullis env --format json', () => {
  test('reads succeed, the destructive tool gets AccessDenied as a tool error, the secret is masked, the recording names the account', async () => {
    const vars = JSON.parse(await portcullis(['env', '--service-account', 'reports-mcp', '--format', 'json', '--token-file', await freshToken('billing-job')])) as Record<string, string>;
    expect(vars.AWS_ROLE_SESSION_NAME).toBe('reports-mcp');
    const from = stack.events.length;
    const results = await callTools({ ...vars, PATH: process.env.PATH ?? '', HOME: await freshHome('env') }, CALLS);
    expectToolOutcomes(results);
    // The JS SDK exchanges the token once per client instance: S3, Secrets Manager, DynamoDB.
    expectAttributed(await recordedSince(from), 3);
  });
});

describe('the aws-config profile path (servers that force a named profile)', () => {
  let profileEnv: Record<string, string>;

  beforeAll(async () => {
    const configFile = join(stack.dir, 'mcp-aws-config');
    const printed = await portcullis(['env', '--service-account', 'reports-mcp', '--format', 'aws-config', '-o', configFile, '--token-file', await freshToken('billing-job')]);
    profileEnv = Object.fromEntries(
      printed
        .split('\n')
        .filter((l) => l.startsWith('export '))
        .map((l) => l.slice(7).split('=', 2) as [string, string]),
    );
    expect(Object.keys(profileEnv)).toEqual(['AWS_CONFIG_FILE', 'AWS_PROFILE', 'NODE_EXTRA_CA_CERTS']);
  });

  test('JS SDK v3 server: endpoint_url, web identity and region all come from the profile', async () => {
    const from = stack.events.length;
    const home = await freshHome('profile-js');
    const results = await callTools({ ...profileEnv, PATH: process.env.PATH ?? '', HOME: home, AWS_SHARED_CREDENTIALS_FILE: join(home, 'none') }, CALLS);
    expectToolOutcomes(results);
    expectAttributed(await recordedSince(from), 3);
  });

  test('the JS SDK ignores the profile\'s ca_bundle: without NODE_EXTRA_CA_CERTS every tool fails on the certificate', async () => {
    const home = await freshHome('profile-js-noca');
    const { NODE_EXTRA_CA_CERTS: _dropped, ...withoutCa } = profileEnv;
    const results = await callTools({ ...withoutCa, PATH: process.env.PATH ?? '', HOME: home, AWS_SHARED_CREDENTIALS_FILE: join(home, 'none') }, CALLS.slice(0, 1));
    expect(results[0]!.isError).toBe(true);
    expect(results[0]!.content[0]!.text).toMatch(/certificate/i);
  });

  test('boto3 forcing the profile (boto3.Session(profile_name=AWS_PROFILE), as lambda-tool, sns-sqs, mq, elasticache do)', async () => {
    const from = stack.events.length;
    const home = await freshHome('profile-py');
    const { stdout } = await run('python3', [BOTO3_PROFILE_CLIENT], {
      env: { ...profileEnv, PATH: process.env.PATH ?? '', HOME: home, AWS_SHARED_CREDENTIALS_FILE: join(home, 'none'), AWS_EC2_METADATA_DISABLED: 'true' },
      timeout: 60_000,
    });
    const results = JSON.parse(stdout) as Record<string, { ok: boolean; data?: unknown; code?: string; message?: string }>;
    expect(results.list).toEqual({ ok: true, data: ['q1/summary.txt'] });
    expect(results.read).toEqual({ ok: true, data: 'hello reports' });
    expect(results.secret).toEqual({ ok: true, data: '{"username":"****","password":"****"}' });
    expect(results.delete).toMatchObject({ ok: false, code: 'AccessDeniedException' });
    expect(results.delete!.message).toContain('no-destroy');
    // botocore shares one credential provider across the session's clients: one exchange.
    expectAttributed(await recordedSince(from), 1);
  });
});

describe('the aws-config profile with credential_process (portcullis credentials)', () => {
  test('boto3 forcing the profile gets its credentials from portcullis credentials', async () => {
    const configFile = join(stack.dir, 'mcp-aws-config-cp');
    const tokenFile = await freshToken('billing-job');
    // --credential-process is not registered in main.ts yet: call the handler in-process.
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    try {
      await portcullisEnv({ serviceAccount: 'reports-mcp', format: 'aws-config', output: configFile, credentialProcess: true, tokenFile, policy: stack.policyFile, stateDir: stack.stateDir });
    } finally {
      spy.mockRestore();
    }
    const from = stack.events.length;
    const home = await freshHome('profile-cp');
    const { stdout } = await run('python3', [BOTO3_PROFILE_CLIENT], {
      env: { AWS_CONFIG_FILE: configFile, AWS_PROFILE: 'portcullis-reports-mcp', PATH: process.env.PATH ?? '', HOME: home, AWS_SHARED_CREDENTIALS_FILE: join(home, 'none'), AWS_EC2_METADATA_DISABLED: 'true' },
      timeout: 60_000,
    });
    const results = JSON.parse(stdout) as Record<string, { ok: boolean; data?: unknown; code?: string; message?: string }>;
    expect(results.read).toEqual({ ok: true, data: 'hello reports' });
    expect(results.secret).toEqual({ ok: true, data: '{"username":"****","password":"****"}' });
    expect(results.delete).toMatchObject({ ok: false, code: 'AccessDeniedException' });
    expectAttributed(await recordedSince(from), 1);
  });
});
