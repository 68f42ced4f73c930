// `portcullis mcp run` between a real MCP client and a real MCP server: the official MCP TypeScript SDK's Client
// starts the wrapper over stdio (exactly what an `mcpServers` entry does), the wrapper starts the fixture server
// (stock AWS SDK v3 clients, configured by their environment only) and relays MCP; the server's AWS calls go through
// the gateway to moto. The wrapper gets nothing from the gateway's state dir: it runs with its own state dir holding
// only a copy of the gateway CA, an explicit --gateway URL and a token file, as it would on another host.

import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { GatewayEvent } from '../../src/events.js';
import { caFilePath } from '../../src/proxy/tls.js';
import { cleanEnv, run, startStack, type Stack } from './harness.js';

const BIN = fileURLToPath(new URL('../../bin/portcullis.js', import.meta.url));
const SERVER = fileURLToPath(new URL('../fixtures/mcp-server/server.mjs', import.meta.url));
const JS_CLIENT = fileURLToPath(new URL('./clients/js-sdk.mjs', import.meta.url));

const POLICY = `rules:
  - id: no-drop-tool
    effect: deny
    principals: [reports-mcp]
    actions: ["mcp:CallTool"]
    resources: ["mcp:fixture/tool/delete_table"]
    message: the model may not drop tables
  - id: hold-secrets
    effect: approve
    actions: ["mcp:CallTool"]
    resources: ["mcp:held/tool/get_secret"]
    message: a human looks at secret reads by the model
    approval:
      hold: 1s
      timeout: 1m
  - id: read-reports
    effect: allow
    principals: [reports-mcp]
    actions: ["s3:ListBucket", "s3:GetObject"]
    resources: ["arn:aws:s3:::reports", "arn:aws:s3:::reports/*"]
  - id: read-secrets
    effect: allow
    principals: [reports-mcp]
    actions: ["secretsmanager:GetSecretValue", "dynamodb:DeleteTable"]
  - id: seed
    effect: allow
    principals: [seeder]
    actions: ["s3:CreateBucket", "s3:PutObject", "dynamodb:CreateTable", "secretsmanager:CreateSecret"]
masking:
  fields: [SecretString]
`;

let stack: Stack;
let remoteState: string;
let gatewayUrl: string;

interface ToolResult {
  isError?: boolean;
  content: { type: string; text: string }[];
}

interface Line {
  type: string;
  step?: string;
  tool?: string;
  toolCallId?: string;
  action?: string;
  effect?: string;
  ruleId?: string;
  outcome?: string;
  arguments?: unknown;
}

async function portcullis(args: string[], stateDir = stack.stateDir): Promise<string> {
  // Options before a `--` (what follows it is the server command).
  const dash = args.indexOf('--');
  const withState = dash < 0 ? [...args, '--state-dir', stateDir] : [...args.slice(0, dash), '--state-dir', stateDir, ...args.slice(dash)];
  const { stdout } = await run(process.execPath, [BIN, ...withState], { env: cleanEnv({}, stack.dir), timeout: 60_000 });
  return stdout;
}

async function tokenFile(clientId: string, name: string): Promise<string> {
  const file = join(stack.dir, `${name}.jwt`);
  await writeFile(file, await stack.idp.token(clientId), { mode: 0o600 });
  return file;
}

beforeAll(async () => {
  stack = await startStack({
    policyBody: POLICY,
    clients: [
      { clientId: 'billing-job', clientSecret: 'billing-job-secret' },
      { clientId: 'seeder', clientSecret: 'seeder-secret' },
    ],
    serviceAccounts: `  - name: seeder
    issuer: test-idp
    subject: seeder
    roles: ["arn:aws:iam::123456789012:role/portcullis-test"]
`,
  });
  gatewayUrl = stack.gateway.url;
  const seedEnv = JSON.parse(
    await portcullis(['env', '--service-account', 'seeder', '--format', 'json', '--policy', stack.policyFile, '--token-file', await tokenFile('seeder', 'seeder')]),
  ) as Record<string, string>;
  const home = join(stack.dir, 'home-seed');
  await mkdir(home, { recursive: true });
  const { stdout } = await run(
    process.execPath,
    [
      JS_CLIENT,
      JSON.stringify([
        { op: 'createBucket', bucket: 'reports' },
        { op: 'put', bucket: 'reports', key: 'q1/summary.txt', body: 'hello reports' },
        { op: 'createTable', table: 'orders' },
        { op: 'createSecret', name: 'reports/db', value: '{"username":"reporter","password":"hunter2-very-secret"}' },
      ]),
    ],
    { env: cleanEnv(seedEnv, home), timeout: 60_000 },
  );
  expect((JSON.parse(stdout) as { ok: boolean }[]).filter((r) => !r.ok)).toEqual([]);
  // "Another host": a state dir with nothing but the gateway's CA, and the policy file beside it.
  remoteState = join(stack.dir, 'remote-state');
  await mkdir(join(remoteState, 'tls'), { recursive: true });
  await copyFile(stack.gateway.ca.caFile, caFilePath(remoteState));
}, 120_000);

afterAll(async () => {
  await stack?.close();
});

async function connect(name = 'fixture'): Promise<{ client: Client; stderr: () => string }> {
  const home = join(stack.dir, 'home-wrapper');
  await mkdir(home, { recursive: true });
  const args = [
    BIN, 'mcp', 'run',
    '--service-account', 'reports-mcp',
    '--name', name,
    '--gateway', gatewayUrl,
    '--token-file', await tokenFile('billing-job', 'wrapper'),
    '--policy', stack.policyFile,
    '--state-dir', remoteState,
    '--', process.execPath, SERVER,
  ];
  const transport = new StdioClientTransport({ command: process.execPath, args, env: cleanEnv({}, home), stderr: 'pipe' });
  let stderr = '';
  transport.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const client = new Client({ name: 'portcullis-wrapper-e2e', version: '1.0.0' });
  await client.connect(transport);
  return { client, stderr: () => stderr };
}

describe('portcullis mcp run', () => {
  test('tool calls are decided, relayed and recorded; AWS calls nest under the tool call that made them', async () => {
    const from = stack.events.length;
    const { client, stderr } = await connect();
    let results: ToolResult[];
    let deniedError: Error | undefined;
    try {
      const tools = await client.listTools();
      // The denied tool is not offered to the model at all.
      expect(tools.tools.map((t) => t.name).sort()).toEqual(['get_secret', 'list_bucket', 'read_object']);
      results = [
        (await client.callTool({ name: 'list_bucket', arguments: { bucket: 'reports' } })) as ToolResult,
        (await client.callTool({ name: 'read_object', arguments: { bucket: 'reports', key: 'q1/summary.txt' } })) as ToolResult,
        (await client.callTool({ name: 'get_secret', arguments: { secret_id: 'reports/db' } })) as ToolResult,
      ];
      // Called anyway (a client with a stale list): a JSON-RPC error naming the rule, and the server never sees it.
      await client.callTool({ name: 'delete_table', arguments: { table: 'orders' } }).catch((error: Error) => (deniedError = error));
    } finally {
      await client.close();
    }
    if (process.env.E2E_DEBUG) console.log(stderr());
    expect(results.map((r) => r.content[0]!.text)).toEqual(['["q1/summary.txt"]', 'hello reports', '{"username":"****","password":"****"}']);
    expect(deniedError?.message).toContain('portcullis: tool delete_table of fixture denied by rule no-drop-tool: the model may not drop tables');

    await stack.gateway.recorder.flush();
    const started = stack.events.slice(from).filter((e): e is Extract<GatewayEvent, { type: 'session.started' }> => e.type === 'session.started');
    // The wrapper lends its credentials to the server: one session for the wrapper and all three SDK clients.
    expect(started.map((s) => s.serviceAccount)).toEqual(['reports-mcp']);
    const sessionId = started[0]!.sessionId;
    const lines = (await portcullis(['export', sessionId, '--format', 'jsonl'])).trim().split('\n').map((l) => JSON.parse(l) as Line);

    const toolStarts = lines.filter((l) => l.type === 'tool' && l.step === 'started');
    expect(toolStarts.map((l) => l.tool)).toEqual(['list_bucket', 'read_object', 'get_secret']);
    expect(toolStarts[1]!.arguments).toEqual({ bucket: 'reports', key: 'q1/summary.txt' });
    const idOf = (tool: string) => toolStarts.find((l) => l.tool === tool)!.toolCallId;
    const requests = lines.filter((l) => l.type === 'request');
    expect(requests.map((r) => [r.action, r.toolCallId])).toEqual([
      ['s3:ListObjectsV2', idOf('list_bucket')],
      ['s3:GetObject', idOf('read_object')],
      ['secretsmanager:GetSecretValue', idOf('get_secret')],
    ]);
    expect(lines.filter((l) => l.type === 'tool' && l.step === 'ended').map((l) => [l.tool, l.outcome])).toEqual([
      ['list_bucket', 'ok'],
      ['read_object', 'ok'],
      ['get_secret', 'ok'],
    ]);
    // The refusal is in the same hash chain; DeleteTable never reached the gateway (the server never got the call).
    expect(lines.find((l) => l.type === 'tool' && l.step === 'decided' && l.tool === 'delete_table')).toMatchObject({ effect: 'deny', ruleId: 'no-drop-tool' });
    expect(stack.events.slice(from).some((e) => e.type === 'request' && e.action === 'dynamodb:DeleteTable')).toBe(false);

    const verified = await portcullis(['verify', sessionId, '--allow-open']);
    expect(verified).toMatch(/ok|intact|verified/i);
    const replayed = (await portcullis(['replay', sessionId])).split('\n');
    const startAt = replayed.findIndex((l) => l.includes(`tool call fixture/read_object [${idOf('read_object')}] started`));
    expect(startAt).toBeGreaterThanOrEqual(0);
    expect(replayed[startAt + 1]).toMatch(/^\+\S+ {2}\s{4}→ s3:GetObject arn:aws:s3:::reports\/q1\/summary\.txt/);
  }, 120_000);

  test('a tool call an approve rule holds waits for a human (portcullis approve), then runs', async () => {
    const from = stack.events.length;
    const { client } = await connect('held');
    try {
      const result = client.callTool({ name: 'get_secret', arguments: { secret_id: 'reports/db' } });
      let proposed: Extract<GatewayEvent, { type: 'approval.proposed' }> | undefined;
      for (let i = 0; i < 100 && proposed === undefined; i += 1) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        proposed = stack.events.slice(from).find((e): e is Extract<GatewayEvent, { type: 'approval.proposed' }> => e.type === 'approval.proposed');
      }
      expect(proposed).toMatchObject({ action: 'mcp:CallTool', resource: 'mcp:held/tool/get_secret', ruleId: 'hold-secrets', params: { secret_id: 'reports/db' } });
      // Held past the rule's 1 s hold: the wrapper keeps asking, the secret is not read yet.
      await new Promise((resolve) => setTimeout(resolve, 1500));
      expect(stack.events.slice(from).some((e) => e.type === 'request' && e.action === 'secretsmanager:GetSecretValue')).toBe(false);
      await portcullis(['approve', proposed!.approvalId]);
      expect(((await result) as ToolResult).content[0]!.text).toBe('{"username":"****","password":"****"}');
    } finally {
      await client.close();
    }
    expect(stack.events.slice(from).find((e) => e.type === 'tool.call.decided')).toMatchObject({ tool: 'get_secret', effect: 'allow', ruleId: 'hold-secrets' });
  }, 60_000);

  test('env --format mcp --wrap prints an mcpServers entry that runs the server through the wrapper', async () => {
    const printed = await portcullis(['env', '--service-account', 'reports-mcp', '--format', 'mcp', '--wrap', '--name', 'fixture', '--policy', stack.policyFile, '--', 'node', '/srv/server.mjs']);
    const entry = JSON.parse(printed) as Record<string, { command: string; args: string[] }>;
    expect(entry.fixture!.command).toBe(process.execPath);
    const args = entry.fixture!.args;
    expect(args.slice(1, 7)).toEqual(['mcp', 'run', '--service-account', 'reports-mcp', '--name', 'fixture']);
    expect(args.slice(-3)).toEqual(['--', 'node', '/srv/server.mjs']);
  });
});
