// The AWS CLI v1 and boto3, configured only by the environment (web identity through the gateway's
// STS), against moto with SigV4 and IAM enforced.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { aws, run, startStack, type Stack } from './harness.js';

const POLICY = `rules:
  - id: no-destroy
    effect: deny
    actions: ["s3:Delete*", "dynamodb:DeleteTable"]
    message: destructive calls are blocked on this gateway
  - id: work
    effect: allow
    principals: [reports-mcp]
    actions: ["s3:*", "dynamodb:*", "secretsmanager:*", "sts:GetCallerIdentity"]
`;

let stack: Stack;

beforeAll(async () => {
  stack = await startStack({ policyBody: POLICY });
  await stack.seed('s3', {}).catch(() => undefined);
}, 60_000);

afterAll(async () => {
  await stack?.close();
});


describe('aws CLI v1 through the gateway', () => {
  test('s3 mb/cp (aws-chunked over HTTPS, multipart)/ls, dynamodb, sts; denies name the rule', async () => {
    const env = await stack.clientEnv();
    expect((await aws(env, ['sts', 'get-caller-identity', '--output', 'json'])).stdout).toContain('assumed-role/portcullis-test/');
    expect((await aws(env, ['s3', 'mb', 's3://cli-bucket'])).code).toBe(0);
    const small = join(stack.dir, 'small.txt');
    await writeFile(small, 'hello from the aws cli\n');
    const put = await aws(env, ['s3', 'cp', small, 's3://cli-bucket/docs/small.txt']);
    expect(put.stderr).toBe('');
    expect(put.code).toBe(0);
    const big = join(stack.dir, 'big.bin');
    await writeFile(big, Buffer.alloc(10 * 1024 * 1024, 7));
    const multipart = await aws(env, ['s3', 'cp', big, 's3://cli-bucket/big.bin']);
    expect(multipart.stderr).toBe('');
    const back = join(stack.dir, 'back.bin');
    expect((await aws(env, ['s3', 'cp', 's3://cli-bucket/big.bin', back])).code).toBe(0);
    const { readFile } = await import('node:fs/promises');
    expect((await readFile(back)).equals(await readFile(big))).toBe(true);
    const ls = await aws(env, ['s3', 'ls', '--recursive', 's3://cli-bucket/']);
    expect(ls.stdout).toContain('small.txt');
    const rm = await aws(env, ['s3', 'rm', 's3://cli-bucket/docs/small.txt']);
    expect(rm.code).not.toBe(0);
    expect(rm.stderr).toContain('AccessDenied');
    expect(rm.stderr).toContain('no-destroy');
    const table = await aws(env, [
      'dynamodb', 'create-table', '--table-name', 'cli-table', '--billing-mode', 'PAY_PER_REQUEST',
      '--attribute-definitions', 'AttributeName=pk,AttributeType=S', '--key-schema', 'AttributeName=pk,KeyType=HASH',
    ]);
    expect(table.code).toBe(0);
    const drop = await aws(env, ['dynamodb', 'delete-table', '--table-name', 'cli-table']);
    expect(drop.stderr).toContain('AccessDeniedException');
    expect(drop.stderr).toContain('destructive calls are blocked');
  }, 240_000);
});

describe('boto3 through the gateway', () => {
  test('s3, dynamodb, sts with web identity from the environment', async () => {
    const env = await stack.clientEnv();
    await aws(env, ['s3', 'mb', 's3://boto-bucket']);
    await aws(env, [
      'dynamodb', 'create-table', '--table-name', 'boto-table', '--billing-mode', 'PAY_PER_REQUEST',
      '--attribute-definitions', 'AttributeName=pk,AttributeType=S', '--key-schema', 'AttributeName=pk,KeyType=HASH',
    ]);
    const steps = [
      { op: 'whoami' },
      { op: 'put', bucket: 'boto-bucket', key: 'a b/report 1.txt', body: 'boto body' },
      { op: 'get', bucket: 'boto-bucket', key: 'a b/report 1.txt' },
      { op: 'list', bucket: 'boto-bucket' },
      { op: 'deleteObject', bucket: 'boto-bucket', key: 'a b/report 1.txt' },
      { op: 'putItem', table: 'boto-table', item: { pk: { S: 'k1' }, v: { S: 'value' } } },
      { op: 'getItem', table: 'boto-table', key: { pk: { S: 'k1' } } },
    ];
    const { stdout } = await run('python3', ['test/integration/clients/boto3_client.py', JSON.stringify(steps)], { env, timeout: 60_000 });
    const results = JSON.parse(stdout) as any[];
    const by = (op: string) => results.find((r) => r.op === op);
    expect(by('whoami')).toMatchObject({ ok: true });
    expect(by('put')).toMatchObject({ ok: true });
    expect(by('get')).toMatchObject({ ok: true, data: 'boto body' });
    expect(by('list')).toMatchObject({ ok: true, data: ['a b/report 1.txt'] });
    expect(by('deleteObject')).toMatchObject({ ok: false, code: 'AccessDenied', status: 403 });
    expect(by('getItem')).toMatchObject({ ok: true, data: { pk: { S: 'k1' }, v: { S: 'value' } } });
  }, 120_000);
});
