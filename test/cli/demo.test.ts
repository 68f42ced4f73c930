// `portcullis demo` as a process (`node bin/portcullis.js demo …`, from the dist build): the headless run
// produces allowed, denied, approval and masked events whose recordings verify; it leaves no process, port
// or temporary dir behind. Plus the demo's own parts: the demo upstream answering the gateway's real
// sts:AssumeRole client, and the --duration parser.

import { spawn } from 'node:child_process';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UpstreamCredentials } from '../../src/aws/upstream.js';
import { UpstreamClient } from '../../src/proxy/forward.js';
import { demoStateDir, parseDemoDurationMs } from '../../src/cli/demo.js';
import { CliError } from '../../src/cli/output.js';
import { DEMO_ACCOUNT_ID, DEMO_REGION } from '../../src/demo/policy.js';
import { seedDemoData } from '../../src/demo/scenario.js';
import { emptyDemoData, startDemoUpstream, type DemoUpstream } from '../../src/demo/upstream.js';

const BIN = fileURLToPath(new URL('../../bin/portcullis.js', import.meta.url));

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  lines: Record<string, any>[];
}

function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!key.startsWith('AWS_') && !key.startsWith('PORTCULLIS_')) env[key] = value;
  // The demo must not need (or touch) any AWS configuration of the machine.
  return { ...env, AWS_CONFIG_FILE: '/nonexistent', AWS_SHARED_CREDENTIALS_FILE: '/nonexistent', AWS_EC2_METADATA_DISABLED: 'true', ...extra };
}

function parseLines(stdout: string): Record<string, any>[] {
  return stdout
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as Record<string, any>);
}

function runCli(args: string[], env: NodeJS.ProcessEnv, options: { onLine?: (line: Record<string, any>, kill: (s: NodeJS.Signals) => void) => void; timeoutMs?: number } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let buffered = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`portcullis ${args.join(' ')} did not exit within ${options.timeoutMs ?? 60_000} ms\n${stderr}`));
    }, options.timeoutMs ?? 60_000);
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      buffered += chunk.toString();
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        if (line.startsWith('{')) options.onLine?.(JSON.parse(line) as Record<string, any>, (s) => child.kill(s));
      }
    });
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, lines: args[0] === 'demo' && code === 0 ? parseLines(stdout) : [] });
    });
  });
}

function refused(url: string): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = connect({ host: hostname, port: Number(port) });
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code === 'ECONNREFUSED'));
  });
}

async function isDir(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'portcullis-demo-test-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('portcullis demo --headless --duration 15', () => {
  let run: Run;
  let stateDir: string;
  beforeAll(async () => {
    const base = join(root, 'kept');
    stateDir = join(base, 'demo');
    run = await runCli(['demo', '--headless', '--duration', '15'], cleanEnv({ PORTCULLIS_STATE_DIR: base }));
  }, 90_000);

  it('exits 0 by itself, with nothing on stderr (oidc-provider notices silenced)', () => {
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).not.toContain('oidc-provider');
  });

  it('announces where it keeps its state, and says the approvals are automatic', () => {
    const ready = run.lines.find((l) => l.event === 'demo.ready');
    expect(ready).toMatchObject({ stateDir, keepState: true, autoApproveMs: 3000 });
    expect(ready!.note).toMatch(/approved automatically/);
    expect(run.lines.at(-1)).toMatchObject({ event: 'demo.stopped', stateDir, keepState: true });
  });

  it('shows allowed reads, blocked destructive calls and a default deny', () => {
    const decisions = run.lines.filter((l) => l.event === 'decision');
    expect(decisions).toContainEqual(expect.objectContaining({ action: 's3:ListObjectsV2', effect: 'allow', ruleId: 'reports-read' }));
    expect(decisions).toContainEqual(expect.objectContaining({ action: 'dynamodb:Query', effect: 'allow', ruleId: 'metadata-read' }));
    expect(decisions).toContainEqual(expect.objectContaining({ action: 's3:DeleteObject', effect: 'deny', ruleId: 'no-destroy' }));
    expect(decisions).toContainEqual(expect.objectContaining({ action: 'dynamodb:DeleteTable', effect: 'deny', ruleId: 'no-destroy' }));
    expect(decisions).toContainEqual(expect.objectContaining({ serviceAccount: 'reports-indexer', action: 's3:PutObject', effect: 'deny', ruleId: 'default-deny' }));
    const denied = run.lines.filter((l) => l.event === 'response' && l.action === 's3:DeleteObject');
    expect(denied[0]).toMatchObject({ status: 403, errorCode: 'AccessDenied' });
  });

  it('holds the production secret for approval, approves it, and executes it once', () => {
    const proposed = run.lines.find((l) => l.event === 'approval.proposed');
    expect(proposed).toMatchObject({ action: 'secretsmanager:GetSecretValue', ruleId: 'prod-secrets', serviceAccount: 'reports-mcp' });
    expect(proposed!.resource).toMatch(/:secret:prod\/payments-api-key/);
    const decided = run.lines.find((l) => l.event === 'approval.decided' && l.approvalId === proposed!.approvalId);
    expect(decided).toMatchObject({ decision: 'approved', by: 'demo-autopilot' });
    expect(run.lines.filter((l) => l.event === 'approval.executed' && l.approvalId === proposed!.approvalId)).toHaveLength(1);
    const answered = run.lines.find((l) => l.event === 'response' && l.requestId === proposed!.requestId);
    expect(answered).toMatchObject({ status: 200 });
    expect(answered!.masking.fields.SecretString).toBeGreaterThan(0);
    expect(answered!.bodyExcerpt).not.toContain('pk_live');
  });

  it('masks secrets in responses: Secrets Manager values, AWS keys, emails and card numbers in S3 objects', () => {
    const responses = run.lines.filter((l) => l.event === 'response' && l.status === 200);
    const byKey = (suffix: string) => responses.find((l) => String(l.resource).endsWith(suffix));
    const env = byKey('config/legacy-uploader.env');
    expect(env!.masking.detectors).toMatchObject({ aws_access_key_id: 1, aws_secret_access_key: 1 });
    expect(env!.bodyExcerpt).not.toContain('AKIAIOSFODNN7EXAMPLE');
    const customers = byKey('exports/customers-2024-06.csv');
    expect(customers!.masking.detectors).toMatchObject({ email: 2, credit_card: 2, internal_customer_id: 2 });
    expect(customers!.bodyExcerpt).not.toContain('jane.doe@example.com');
    const staging = byKey('secret:staging/reports-db-password');
    expect(staging!.masking.fields.SecretString).toBeGreaterThan(0);
    expect(staging!.bodyExcerpt).not.toContain('staging-Pa55w0rd!');
  });

  it('leaves no listener behind', async () => {
    const ready = run.lines.find((l) => l.event === 'demo.ready');
    expect(await refused(ready!.url)).toBe(true);
  });

  it('records one session per service account, and portcullis verify passes on each', async () => {
    const started = run.lines.filter((l) => l.event === 'session.started');
    expect(new Set(started.map((l) => l.serviceAccount))).toEqual(new Set(['reports-mcp', 'reports-indexer']));
    for (const session of started) {
      // The demo's sessions are left open (their credentials have not expired): accepted with --allow-open.
      const verified = await runCli(['verify', session.sessionId, '--allow-open', '--state-dir', stateDir, '--json'], cleanEnv({}));
      expect(verified.stderr).toBe('');
      expect(verified.code).toBe(0);
      const result = JSON.parse(verified.stdout) as { exitCode: number; sessions: { ok: boolean; lines: number }[] };
      expect(result.exitCode).toBe(0);
      expect(result.sessions[0]!.ok).toBe(true);
      expect(result.sessions[0]!.lines).toBeGreaterThan(2);
    }
  }, 60_000);
});

describe('portcullis demo: ending and cleaning up', () => {
  it('without PORTCULLIS_STATE_DIR uses a temporary state dir and removes it at exit', async () => {
    const tmp = join(root, 'tmp-only');
    await rm(tmp, { recursive: true, force: true });
    const { mkdir } = await import('node:fs/promises');
    await mkdir(tmp);
    const run = await runCli(['demo', '--headless', '--duration', '3'], cleanEnv({ TMPDIR: tmp }));
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const ready = run.lines.find((l) => l.event === 'demo.ready');
    expect(ready).toMatchObject({ keepState: false });
    expect(String(ready!.stateDir).startsWith(tmp)).toBe(true);
    expect(await isDir(ready!.stateDir)).toBe(false);
    expect(await readdir(tmp)).toEqual([]);
  }, 60_000);

  it('stops cleanly on SIGINT (Ctrl-C): exit 0, a demo.stopped line, the port closed', async () => {
    let url = '';
    const run = await runCli(['demo', '--headless'], cleanEnv({ PORTCULLIS_STATE_DIR: join(root, 'sigint') }), {
      onLine: (line, kill) => {
        // Wait for traffic, so the signal lands while calls are in flight.
        if (line.event === 'demo.ready') url = line.url;
        if (line.event === 'response' && line.action === 's3:ListObjectsV2') kill('SIGINT');
      },
    });
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.lines.at(-1)).toMatchObject({ event: 'demo.stopped' });
    expect(await refused(url)).toBe(true);
  }, 60_000);

  it('refuses a --duration that is not a number of seconds (exit 2, one line)', async () => {
    const run = await runCli(['demo', '--headless', '--duration', 'soon'], cleanEnv({}));
    expect(run.code).toBe(2);
    expect(run.stderr).toBe('portcullis: --duration: "soon" is not a number of seconds (e.g. 15, or 30s, 2m)\n');
    expect(run.stdout).toBe('');
  });
});

describe('parseDemoDurationMs', () => {
  it.each([
    ['15', 15_000],
    ['2.5', 2_500],
    ['30s', 30_000],
    ['2m', 120_000],
    [' 8 ', 8_000],
  ])('%j → %d ms', (text, ms) => {
    expect(parseDemoDurationMs(text)).toBe(ms);
  });
  it.each(['', 'soon', '0', '-3', '0s', '1e3', '15 s', 'Infinity'])('%j is refused with exit code 2', (text) => {
    expect(() => parseDemoDurationMs(text)).toThrow(CliError);
    try {
      parseDemoDurationMs(text);
    } catch (error) {
      expect((error as CliError).exitCode).toBe(2);
      expect((error as CliError).message).toContain('--duration');
    }
  });
});

describe('demoStateDir', () => {
  it('is $PORTCULLIS_STATE_DIR/demo when set (so the demo never shares a real gateway state dir), else temporary', () => {
    expect(demoStateDir({ PORTCULLIS_STATE_DIR: '/var/lib/portcullis' })).toBe('/var/lib/portcullis/demo');
    expect(demoStateDir({ PORTCULLIS_STATE_DIR: '' })).toBeUndefined();
    expect(demoStateDir({})).toBeUndefined();
  });
});

describe('the demo upstream', () => {
  let upstream: DemoUpstream;
  beforeAll(async () => {
    const data = emptyDemoData();
    seedDemoData(data, new Date('2024-07-01T00:00:00Z'));
    upstream = await startDemoUpstream({ accountId: DEMO_ACCOUNT_ID, region: DEMO_REGION }, data);
  });
  afterAll(async () => {
    await upstream.close();
  });

  it("answers the gateway's own sts:AssumeRole client with credentials it can parse", async () => {
    const now = new Date();
    const creds = new UpstreamCredentials({
      stsOrigin: upstream.endpoint,
      region: DEMO_REGION,
      baseProvider: async () => ({ accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'x' }),
      now: () => now,
      client: new UpstreamClient(),
    });
    const got = await creds.forRole('reports-mcp', `arn:aws:iam::${DEMO_ACCOUNT_ID}:role/reports-readonly`);
    expect(got.accessKeyId).toMatch(/^ASIA[0-9A-F]{16}$/);
    expect(got.secretAccessKey.length).toBeGreaterThan(20);
    expect(got.sessionToken?.length).toBeGreaterThan(20);
    expect(got.expiration!.getTime()).toBeGreaterThan(now.getTime() + 59 * 60_000);
    // An invalid role ARN is an STS error the gateway reports, not credentials.
    await expect(creds.forRole('x', 'arn:aws:iam::123:role/bad')).rejects.toThrow(/ValidationError/);
  });

  async function call(method: string, path: string, init: { headers?: Record<string, string>; body?: string } = {}) {
    const response = await fetch(`${upstream.endpoint}${path}`, { method, headers: init.headers, body: init.body });
    return { status: response.status, headers: response.headers, text: await response.text() };
  }
  const json = (target: string, body: unknown) => ({
    headers: { 'x-amz-target': target, 'content-type': 'application/x-amz-json-1.0' },
    body: JSON.stringify(body),
  });

  it('serves S3 buckets and objects: list, get, put, delete, and NoSuchKey', async () => {
    const list = await call('GET', '/acme-reports?list-type=2&prefix=reports%2F');
    expect(list.status).toBe(200);
    expect(list.text).toContain('<Key>reports/2024-05.csv</Key>');
    expect(list.text).not.toContain('exports/');
    expect((await call('PUT', '/acme-reports/new.txt', { body: 'hello', headers: { 'content-type': 'text/plain' } })).status).toBe(200);
    const got = await call('GET', '/acme-reports/new.txt');
    expect(got).toMatchObject({ status: 200, text: 'hello' });
    expect(got.headers.get('content-type')).toBe('text/plain');
    expect((await call('DELETE', '/acme-reports/new.txt')).status).toBe(204);
    const missing = await call('GET', '/acme-reports/new.txt');
    expect(missing.status).toBe(404);
    expect(missing.text).toContain('<Code>NoSuchKey</Code>');
    expect((await call('GET', '/nope/x')).text).toContain('<Code>NoSuchBucket</Code>');
    expect((await call('PUT', '/fresh')).status).toBe(200);
    expect((await call('GET', '/')).text).toContain('<Name>fresh</Name>');
    expect((await call('DELETE', '/acme-reports')).text).toContain('<Code>BucketNotEmpty</Code>');
    expect((await call('DELETE', '/fresh')).status).toBe(204);
  });

  it('serves DynamoDB GetItem, PutItem, Query (partition key) and DeleteTable, with x-amz-crc32', async () => {
    const put = await call('POST', '/', json('DynamoDB_20120810.PutItem', { TableName: 'report-metadata', Item: { month: { S: '2024-09' }, report_id: { S: 'a' }, title: { S: 'A' } } }));
    expect(put.status).toBe(200);
    const got = await call('POST', '/', json('DynamoDB_20120810.GetItem', { TableName: 'report-metadata', Key: { month: { S: '2024-09' }, report_id: { S: 'a' } } }));
    expect(JSON.parse(got.text)).toEqual({ Item: { month: { S: '2024-09' }, report_id: { S: 'a' }, title: { S: 'A' } } });
    const { crc32 } = await import('node:zlib');
    expect(got.headers.get('x-amz-crc32')).toBe(String(crc32(Buffer.from(got.text)) >>> 0));
    const query = await call('POST', '/', json('DynamoDB_20120810.Query', { TableName: 'report-metadata', KeyConditionExpression: 'month = :m', ExpressionAttributeValues: { ':m': { S: '2024-05' } } }));
    expect(JSON.parse(query.text)).toMatchObject({ Count: 2 });
    const unsupported = await call('POST', '/', json('DynamoDB_20120810.Query', { TableName: 'report-metadata', KeyConditionExpression: 'title > :m', ExpressionAttributeValues: { ':m': { S: 'x' } } }));
    expect(unsupported.status).toBe(400);
    expect(JSON.parse(unsupported.text).__type).toMatch(/#ValidationException$/);
    const dropped = await call('POST', '/', json('DynamoDB_20120810.DeleteTable', { TableName: 'report-metadata' }));
    expect(JSON.parse(dropped.text).TableDescription).toMatchObject({ TableName: 'report-metadata', TableStatus: 'DELETING' });
    const gone = await call('POST', '/', json('DynamoDB_20120810.GetItem', { TableName: 'report-metadata', Key: { month: { S: '2024-09' }, report_id: { S: 'a' } } }));
    expect(JSON.parse(gone.text).__type).toMatch(/#ResourceNotFoundException$/);
  });

  it('serves Secrets Manager GetSecretValue, and ResourceNotFoundException for an unknown secret', async () => {
    const got = await call('POST', '/', json('secretsmanager.GetSecretValue', { SecretId: 'staging/reports-db-password' }));
    expect(JSON.parse(got.text)).toMatchObject({ Name: 'staging/reports-db-password', SecretString: expect.stringContaining('staging-Pa55w0rd!') });
    const missing = await call('POST', '/', json('secretsmanager.GetSecretValue', { SecretId: 'prod/none' }));
    expect(missing.status).toBe(400);
    expect(JSON.parse(missing.text).__type).toMatch(/ResourceNotFoundException$/);
  });

  it('answers GetCallerIdentity with the role of the access key it issued', async () => {
    const assumed = await call('POST', '/', {
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'Action=AssumeRole&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Freports-readonly&RoleSessionName=who',
    });
    const key = /<AccessKeyId>([^<]+)</.exec(assumed.text)![1];
    const who = await call('POST', '/', {
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `AWS4-HMAC-SHA256 Credential=${key}/20240701/eu-west-1/sts/aws4_request, SignedHeaders=host, Signature=00` },
      body: 'Action=GetCallerIdentity&Version=2011-06-15',
    });
    expect(who.text).toContain('<Arn>arn:aws:sts::123456789012:assumed-role/reports-readonly/who</Arn>');
  });
});
