import { createSocket } from 'node:dgram';
import { mkdtemp } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import { run, startStack, type Stack } from './harness.js';

const POLICY = `rules:
  - id: no-destroy
    effect: deny
    actions: ["s3:Delete*", "dynamodb:DeleteTable"]
    message: destructive calls are blocked on this gateway
  - id: prod-secrets
    effect: approve
    actions: ["secretsmanager:GetSecretValue"]
    resources: ["arn:aws:secretsmanager:*:*:secret:prod/*"]
    approval: {hold: 1s, timeout: 1m}
  - id: work
    effect: allow
    principals: [reports-mcp]
    actions: ["s3:*", "dynamodb:*", "secretsmanager:*", "sts:GetCallerIdentity"]
masking:
  fields: [SecretString]
  detectors: [aws_access_key_id]
`;

let stack: Stack;
/** OCSF events the gateway streamed to an HTTP collector and to a syslog listener, and the witness directory. */
const ocsfPosted: any[] = [];
const syslogReceived: string[] = [];
let collector: Server;
const syslog = createSocket('udp4');
let witnessDir: string;

async function js(env: Record<string, string>, steps: object[]): Promise<any[]> {
  const { stdout } = await run('node', ['test/integration/clients/js-sdk.mjs', JSON.stringify(steps)], { env, timeout: 60_000 });
  return JSON.parse(stdout);
}

beforeAll(async () => {
  collector = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
    req.on('end', () => {
      ocsfPosted.push(...body.trimEnd().split('\n').map((l) => JSON.parse(l)));
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => collector.listen(0, '127.0.0.1', resolve));
  syslog.on('message', (msg) => syslogReceived.push(msg.toString('utf8')));
  await new Promise<void>((resolve) => syslog.bind(0, '127.0.0.1', resolve));
  witnessDir = await mkdtemp(join(tmpdir(), 'portcullis-witness-'));
  stack = await startStack({
    policyBody: `${POLICY}recording: {checkpoint: {interval: 1s}, witness: "${witnessDir}"}
telemetry:
  ocsf_http: {url: "http://127.0.0.1:${(collector.address() as AddressInfo).port}/ingest"}
  syslog: {address: "udp://127.0.0.1:${syslog.address().port}"}
`,
  });
}, 60_000);

afterAll(async () => {
  await stack?.close();
  collector?.close();
  syslog.close();
});

describe('JS SDK v3 through the gateway to moto (auth on)', () => {
  test('S3, DynamoDB, STS calls pass; denies name the rule', async () => {
    const env = await stack.clientEnv();
    const results = await js(env, [
      { op: 'whoami' },
      { op: 'createBucket', bucket: 'reports' },
      { op: 'put', bucket: 'reports', key: 'q1/summary.txt', body: 'hello reports' },
      { op: 'get', bucket: 'reports', key: 'q1/summary.txt' },
      { op: 'list', bucket: 'reports' },
      { op: 'deleteObject', bucket: 'reports', key: 'q1/summary.txt' },
      { op: 'createTable', table: 'orders' },
      { op: 'putItem', table: 'orders', item: { pk: { S: 'o-1' }, total: { N: '42' } } },
      { op: 'getItem', table: 'orders', key: { pk: { S: 'o-1' } } },
      { op: 'query', table: 'orders', pk: 'o-1' },
      { op: 'deleteTable', table: 'orders' },
      { op: 'multipart', bucket: 'reports', key: 'big.bin' },
    ]);
    const by = (op: string) => results.find((r) => r.op === op);
    if (process.env.E2E_DEBUG) console.log(JSON.stringify(results, null, 1), JSON.stringify(stack.events.slice(-30), null, 1));
    expect(by('whoami')).toMatchObject({ ok: true });
    expect(by('whoami').data.Arn).toContain('assumed-role/portcullis-test/');
    expect(by('put')).toMatchObject({ ok: true });
    expect(by('get')).toMatchObject({ ok: true, data: 'hello reports' });
    expect(by('list')).toMatchObject({ ok: true, data: ['q1/summary.txt'] });
    expect(by('deleteObject')).toMatchObject({ ok: false, name: 'AccessDenied', status: 403 });
    expect(by('deleteObject').message).toContain('no-destroy');
    expect(by('getItem')).toMatchObject({ ok: true, data: { pk: { S: 'o-1' }, total: { N: '42' } } });
    expect(by('query')).toMatchObject({ ok: true, data: 1 });
    expect(by('deleteTable')).toMatchObject({ ok: false, name: 'AccessDeniedException' });
    expect(by('deleteTable').message).toContain('destructive calls are blocked');
    expect(by('multipart')).toMatchObject({ ok: true, data: { length: 5 * 1024 * 1024 + 4, tail: 'tail' } });
  });
});

describe('recording of the data path', () => {
  test('every call is in a session file that verifies, attributed to the service account', async () => {
    await stack.gateway.recorder.flush();
    // The JS SDK exchanges the token once per client instance: one session each for S3, DynamoDB, STS…
    const sessionIds = stack.events.filter((e) => e.type === 'session.started').map((e) => (e as { sessionId: string }).sessionId);
    expect(sessionIds.length).toBeGreaterThanOrEqual(3);
    const lines: any[] = [];
    for (const sessionId of sessionIds) {
      // The gateway is still running, so its sessions are open: accepted only with --allow-open.
      const verify = await run('node', ['bin/portcullis.js', 'verify', sessionId, '--allow-open', '--state-dir', stack.stateDir]);
      expect(verify.stdout).toMatch(/^ok \(--allow-open\): /);
      const exported = await run('node', ['bin/portcullis.js', 'export', sessionId, '--format', 'jsonl', '--state-dir', stack.stateDir]);
      const sessionLines = exported.stdout.trim().split('\n').map((l) => JSON.parse(l));
      expect(sessionLines[0]).toMatchObject({ type: 'header', serviceAccount: 'reports-mcp', sessionId });
      lines.push(...sessionLines);
    }
    const actions = lines.filter((l) => l.type === 'request').map((l) => l.action);
    expect(actions).toEqual(expect.arrayContaining(['sts:GetCallerIdentity', 's3:PutObject', 's3:GetObject', 'dynamodb:DeleteTable']));
    // The real call: method, path, host and user agent, and the sizes and content type of the answer.
    const get = lines.find((l) => l.type === 'request' && l.action === 's3:GetObject');
    expect(get.http).toMatchObject({ method: 'GET', path: expect.stringMatching(/q1\/summary\.txt$/), host: expect.any(String), userAgent: expect.stringMatching(/aws-sdk-js/) });
    const getResponse = lines.find((l) => l.type === 'response' && l.requestId === get.requestId);
    expect(getResponse).toMatchObject({ status: 200, bytes: 13 });
    const put = lines.find((l) => l.type === 'request' && l.action === 's3:PutObject');
    expect(put.http.method).toBe('PUT');
    expect(lines.find((l) => l.type === 'response' && l.requestId === put.requestId)).toMatchObject({ requestBytes: 13 });
    const deny = lines.find((l) => l.type === 'decision' && l.action === 'dynamodb:DeleteTable');
    expect(deny).toMatchObject({ effect: 'deny', ruleId: 'no-destroy' });
  });

  test('checkpoints reach the witness, and verify --witness confirms the files', async () => {
    const sessionIds = stack.events.filter((e) => e.type === 'session.started').map((e) => (e as { sessionId: string }).sessionId);
    for (const sessionId of sessionIds) {
      await vi.waitFor(
        async () => {
          const verify = await run('node', ['bin/portcullis.js', 'verify', sessionId, '--allow-open', '--witness', witnessDir, '--state-dir', stack.stateDir]);
          expect(verify.stdout).toMatch(/the witness .* confirms lines 1–\d+\n$/);
        },
        { timeout: 15_000, interval: 500 },
      );
    }
  });
});

describe('telemetry from the running gateway', () => {
  test('every call reaches the OCSF collector and syslog, with the real HTTP request', async () => {
    await vi.waitFor(() => expect(ocsfPosted.some((e) => e.api.operation === 'GetObject')).toBe(true), { timeout: 10_000 });
    const get = ocsfPosted.find((e) => e.api.operation === 'GetObject');
    expect(get).toMatchObject({ class_uid: 6003, disposition: 'Allowed', actor: { user: { name: 'reports-mcp' } }, http_request: { http_method: 'GET' } });
    expect(ocsfPosted.find((e) => e.api.operation === 'DeleteTable')).toMatchObject({ disposition: 'Blocked', unmapped: { rule: 'no-destroy' } });
    await vi.waitFor(() => expect(syslogReceived.some((m) => m.includes('"operation":"GetObject"'))).toBe(true), { timeout: 10_000 });
    expect(syslogReceived[0]).toMatch(/^<\d+>1 \S+ \S+ portcullis \d+ ocsf-6003 - \{/);
  });
});
