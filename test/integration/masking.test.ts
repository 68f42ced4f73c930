// Masking with real clients: secrets never reach the client, the events or the recordings.
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { headlessLine } from '../../src/cli/start.js';
import { run, startStack, type Stack } from './harness.js';

const POLICY = `rules:
  - id: work
    effect: allow
    principals: [reports-mcp]
    actions: ["s3:*", "dynamodb:*", "secretsmanager:*", "sts:GetCallerIdentity"]
masking:
  fields: [SecretString, password, "Credentials.SecretAccessKey"]
  detectors: [aws_access_key_id, aws_secret_access_key, private_key, jwt, email, credit_card]
`;

const PLANTED = {
  plain: 'hunter2-plain-secret-value',
  jsonPassword: 'p@ss-planted-json-1',
  ddbPassword: 'ddb-planted-password-9',
  accessKey: 'AKIAIOSFODNN7PLANTED',
};

let stack: Stack;
let env: Record<string, string>;

async function boto(steps: object[]): Promise<any[]> {
  const { stdout } = await run('python3', ['test/integration/clients/boto3_client.py', JSON.stringify(steps)], { env, timeout: 60_000 });
  return JSON.parse(stdout);
}

async function js(steps: object[]): Promise<any[]> {
  const { stdout } = await run('node', ['test/integration/clients/js-sdk.mjs', JSON.stringify(steps)], { env, timeout: 60_000 });
  return JSON.parse(stdout);
}

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await filesUnder(path)));
    else if (entry.isFile()) out.push(path);
  }
  return out;
}

beforeAll(async () => {
  stack = await startStack({ policyBody: POLICY });
  env = await stack.clientEnv();
  await js([
    { op: 'createBucket', bucket: 'masking' },
    { op: 'createTable', table: 'users' },
    { op: 'createSecret', name: 'app/plain', value: PLANTED.plain },
    { op: 'createSecret', name: 'app/json', value: JSON.stringify({ username: 'svc-reports', password: PLANTED.jsonPassword }) },
    { op: 'putItem', table: 'users', item: { pk: { S: 'u-1' }, name: { S: 'Ada' }, password: { S: PLANTED.ddbPassword } } },
    { op: 'put', bucket: 'masking', key: 'notes.txt', body: `deploy key: ${PLANTED.accessKey}\nthanks` },
  ]);
}, 90_000);

afterAll(async () => {
  await stack?.close();
});

describe('masked responses, as the real clients see them', () => {
  test('Secrets Manager: a plain SecretString is masked; a JSON one keeps its keys with masked values (JS SDK)', async () => {
    const [plain, json] = await js([{ op: 'getSecret', name: 'app/plain' }, { op: 'getSecret', name: 'app/json' }]);
    expect(plain).toMatchObject({ ok: true, data: '****' });
    expect(json.ok).toBe(true);
    const inner = JSON.parse(json.data);
    expect(Object.keys(inner).sort()).toEqual(['password', 'username']);
    expect(inner.password).not.toContain(PLANTED.jsonPassword);
    expect(json.data).not.toContain(PLANTED.jsonPassword);
  });

  test('DynamoDB GetItem: the password attribute is masked and botocore accepts the recomputed x-amz-crc32', async () => {
    const [item] = await boto([{ op: 'getItem', table: 'users', key: { pk: { S: 'u-1' } } }]);
    expect(item.ok).toBe(true);
    expect(item.data.name).toEqual({ S: 'Ada' });
    expect(item.data.password.S).not.toBe(PLANTED.ddbPassword);
    expect(item.data.password.S).toContain('****');
  });

  test('XML (S3 ListObjectsV2): a key id inside the listing is masked, and botocore still parses it', async () => {
    const [, listing] = await boto([
      { op: 'put', bucket: 'masking', key: 'creds-AKIAZZZZZZZZZPLANTED.txt', body: 'x' },
      { op: 'list', bucket: 'masking' },
    ]);
    expect(listing.ok).toBe(true);
    expect(listing.data).toEqual(expect.arrayContaining(['notes.txt', expect.stringMatching(/^creds-AKIA…/)]));
    expect(JSON.stringify(listing.data)).not.toContain('AKIAZZZZZZZZZPLANTED');
  });

  test('S3: a text object holding an AWS key id is masked; a binary object arrives byte-identical', async () => {
    const binary = Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919) % 256));
    binary.write(PLANTED.accessKey, 100, 'latin1');
    const [text, , back] = await boto([
      { op: 'get', bucket: 'masking', key: 'notes.txt' },
      { op: 'putBytes', bucket: 'masking', key: 'blob.bin', hex: binary.toString('hex') },
      { op: 'getBytes', bucket: 'masking', key: 'blob.bin' },
    ]);
    expect(text.ok).toBe(true);
    expect(text.data).not.toContain(PLANTED.accessKey);
    expect(text.data).toContain('AKIA…');
    expect(back).toMatchObject({ ok: true, data: binary.toString('hex') });
  });

  test('events say which rules fired and how many values, never the value', async () => {
    const responses = stack.events.filter((e) => e.type === 'response' && e.masking && Object.keys({ ...e.masking.fields, ...e.masking.detectors }).length > 0);
    expect(responses.length).toBeGreaterThan(0);
    const fired = responses.flatMap((e) => (e.type === 'response' ? [...Object.keys(e.masking!.fields), ...Object.keys(e.masking!.detectors)] : []));
    expect(fired).toEqual(expect.arrayContaining(['SecretString']));
  });

  test('after the run, no planted secret is anywhere in the state dir or the gateway output', async () => {
    await stack.gateway.recorder.flush();
    const output = stack.events.map(headlessLine).join('\n');
    const files = await filesUnder(stack.stateDir);
    expect(files.some((f) => f.endsWith('.jsonl'))).toBe(true);
    for (const secret of Object.values(PLANTED)) {
      expect(output).not.toContain(secret);
      for (const file of files) {
        if ((await stat(file)).size > 50 * 1024 * 1024) continue;
        const content = await readFile(file, 'latin1');
        expect(content.includes(secret), `${secret} found in ${file}`).toBe(false);
      }
    }
  });
});
