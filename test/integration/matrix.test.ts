// The client matrix, endpoint mode: one call table made by the aws CLI v1, boto3 and the JS SDK v3 through the
// gateway and, with the same role's credentials, straight to moto. Each cell must get the same answer both ways
// and be recorded as the operation it is (a gateway that misnames a call would authorise the wrong action).
// Calls are read-only over state seeded directly at moto, so both readings see the same data. The one intended
// difference is masking: the policy's default masking (SSM parameter values, SecretString) applies through the
// gateway only.
import { mkdtemp } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { queryCall } from '../fixtures/moto.js';
import { aws, cleanEnv, run, startStack, type Stack } from './harness.js';

const POLICY = `rules:
  - id: keep-alarms
    effect: deny
    actions: ["cloudwatch:DeleteAlarms"]
    message: alarms stay
  - id: matrix
    effect: allow
    principals: [reports-mcp]
    actions: ["s3:*", "dynamodb:*", "sns:*", "sqs:*", "kms:*", "ssm:*", "secretsmanager:*", "cloudwatch:*", "logs:*", "lambda:*", "sts:*"]
`;

interface Cell {
  name: string;
  /** The operation the gateway must record. */
  action: string;
  boto3: { service: string; method: string; params?: Record<string, unknown> };
  /** aws CLI v1 arguments, or why the CLI has no cell here. */
  cli: string[] | { skip: string };
  /** The part of the answer both paths must agree on (ids, timestamps and request ids differ by nature). */
  pick(data: any): unknown;
  /** What masking makes of the direct answer's pick, for cells whose answer the gateway masks. */
  masked?(picked: any): unknown;
  /** Why the direct call says nothing here (moto's own defect): the gateway's answer must then just succeed. */
  directUnreliable?: string;
}

const sorted = (list: unknown[] | undefined): unknown[] => [...(list ?? [])].map(String).sort();

const CELLS: Cell[] = [
  { name: 'S3 ListBuckets', action: 's3:ListBuckets', boto3: { service: 's3', method: 'list_buckets' }, cli: ['s3api', 'list-buckets'], pick: (d) => sorted(d.Buckets?.map((b: any) => b.Name)) },
  {
    name: 'S3 ListObjectsV2',
    action: 's3:ListObjectsV2',
    boto3: { service: 's3', method: 'list_objects_v2', params: { Bucket: 'mx-bucket' } },
    cli: ['s3api', 'list-objects-v2', '--bucket', 'mx-bucket'],
    pick: (d) => sorted(d.Contents?.map((o: any) => `${o.Key}:${o.Size}`)),
  },
  {
    name: 'S3 HeadObject',
    action: 's3:HeadObject',
    boto3: { service: 's3', method: 'head_object', params: { Bucket: 'mx-bucket', Key: 'a.txt' } },
    cli: ['s3api', 'head-object', '--bucket', 'mx-bucket', '--key', 'a.txt'],
    pick: (d) => [d.ContentLength, d.ETag],
  },
  { name: 'DynamoDB ListTables', action: 'dynamodb:ListTables', boto3: { service: 'dynamodb', method: 'list_tables' }, cli: ['dynamodb', 'list-tables'], pick: (d) => sorted(d.TableNames) },
  {
    name: 'DynamoDB GetItem',
    action: 'dynamodb:GetItem',
    boto3: { service: 'dynamodb', method: 'get_item', params: { TableName: 'mx-table', Key: { pk: { S: 'k1' } } } },
    cli: ['dynamodb', 'get-item', '--table-name', 'mx-table', '--key', '{"pk":{"S":"k1"}}'],
    pick: (d) => d.Item,
  },
  { name: 'SNS ListTopics', action: 'sns:ListTopics', boto3: { service: 'sns', method: 'list_topics' }, cli: ['sns', 'list-topics'], pick: (d) => sorted(d.Topics?.map((t: any) => t.TopicArn)) },
  {
    name: 'SQS ListQueues',
    action: 'sqs:ListQueues',
    boto3: { service: 'sqs', method: 'list_queues' },
    cli: { skip: 'the aws CLI v1 ignores AWS_ENDPOINT_URL for sqs (AWS-CLIENTS.md): only proxy mode keeps it on the gateway' },
    pick: (d) => sorted(d.QueueUrls?.map((u: string) => u.split('/').pop())),
  },
  { name: 'KMS ListAliases', action: 'kms:ListAliases', boto3: { service: 'kms', method: 'list_aliases' }, cli: ['kms', 'list-aliases'], pick: (d) => sorted(d.Aliases?.map((a: any) => a.AliasName)) },
  {
    name: 'SSM GetParameter',
    action: 'ssm:GetParameter',
    boto3: { service: 'ssm', method: 'get_parameter', params: { Name: '/mx/param' } },
    cli: ['ssm', 'get-parameter', '--name', '/mx/param'],
    pick: (d) => [d.Parameter?.Name, d.Parameter?.Value],
    masked: ([name]) => [name, '****'],
  },
  {
    name: 'Secrets Manager GetSecretValue',
    action: 'secretsmanager:GetSecretValue',
    boto3: { service: 'secretsmanager', method: 'get_secret_value', params: { SecretId: 'mx/secret' } },
    cli: ['secretsmanager', 'get-secret-value', '--secret-id', 'mx/secret'],
    pick: (d) => [d.Name, d.SecretString],
    masked: ([name]) => [name, '****'],
  },
  {
    name: 'CloudWatch ListMetrics',
    action: 'cloudwatch:ListMetrics',
    boto3: { service: 'cloudwatch', method: 'list_metrics', params: { Namespace: 'mx' } },
    cli: ['cloudwatch', 'list-metrics', '--namespace', 'mx'],
    pick: (d) => sorted(d.Metrics?.map((m: any) => m.MetricName)),
  },
  { name: 'Logs DescribeLogGroups', action: 'logs:DescribeLogGroups', boto3: { service: 'logs', method: 'describe_log_groups' }, cli: ['logs', 'describe-log-groups'], pick: (d) => sorted(d.logGroups?.map((g: any) => g.logGroupName)) },
  {
    name: 'Lambda ListFunctions',
    action: 'lambda:ListFunctions',
    boto3: { service: 'lambda', method: 'list_functions' },
    cli: ['lambda', 'list-functions'],
    pick: (d) => sorted(d.Functions?.map((f: any) => f.FunctionName)),
    // AWS-CLIENTS.md: moto 5.2's SigV4 check rejects botocore's Lambda GET paths even with admin keys (403).
    directUnreliable: "moto's own signature check rejects botocore's Lambda GET requests",
  },
];

/** State the cells read, created straight at moto. */
const SEED = [
  { service: 's3', method: 'create_bucket', params: { Bucket: 'mx-bucket' } },
  { service: 's3', method: 'put_object', params: { Bucket: 'mx-bucket', Key: 'a.txt', Body: 'matrix' } },
  {
    service: 'dynamodb',
    method: 'create_table',
    params: { TableName: 'mx-table', BillingMode: 'PAY_PER_REQUEST', AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }], KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }] },
  },
  { service: 'dynamodb', method: 'put_item', params: { TableName: 'mx-table', Item: { pk: { S: 'k1' }, v: { N: '7' } } } },
  { service: 'sns', method: 'create_topic', params: { Name: 'mx-topic' } },
  { service: 'sqs', method: 'create_queue', params: { QueueName: 'mx-queue' } },
  { service: 'kms', method: 'create_key', params: {} },
  { service: 'ssm', method: 'put_parameter', params: { Name: '/mx/param', Value: 'p-value', Type: 'String' } },
  { service: 'secretsmanager', method: 'create_secret', params: { Name: 'mx/secret', SecretString: 's-value' } },
  { service: 'cloudwatch', method: 'put_metric_data', params: { Namespace: 'mx', MetricData: [{ MetricName: 'hits', Value: 1 }] } },
  { service: 'logs', method: 'create_log_group', params: { logGroupName: 'mx-group' } },
];

type Result = { ok: true; data: any } | { ok: false; code: string; message?: string };

let stack: Stack;
let gatewayEnv: Record<string, string>;
let directEnv: Record<string, string>;

async function boto3(env: Record<string, string>, calls: object[]): Promise<Result[]> {
  const { stdout } = await run('python3', ['test/integration/clients/boto3_calls.py', JSON.stringify(calls)], { env, timeout: 60_000 });
  return JSON.parse(stdout) as Result[];
}

async function cli(env: Record<string, string>, args: string[]): Promise<Result> {
  const out = await aws(env, [...args, '--output', 'json']);
  if (out.code === 0) return { ok: true, data: out.stdout.trim() === '' ? {} : JSON.parse(out.stdout) };
  return { ok: false, code: /An error occurred \(([^)]+)\)/.exec(out.stderr)?.[1] ?? `exit ${out.code}`, message: out.stderr.trim() };
}

/** What a result says, reduced to what both paths must agree on. */
function reading(cell: Cell, result: Result): unknown {
  return result.ok ? { ok: true, value: cell.pick(result.data) } : { ok: false, code: result.code };
}

/** What the gateway must answer, given the direct answer. */
function expectedThrough(cell: Cell, direct: Result): unknown {
  if (cell.directUnreliable !== undefined) return { ok: true, value: expect.anything() };
  return direct.ok && cell.masked ? { ok: true, value: cell.masked(cell.pick(direct.data)) } : reading(cell, direct);
}

/** Runs `work` over `items`, `width` at a time, keeping the order of results. */
async function pool<T, R>(items: T[], width: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let i = next++; i < items.length; i = next++) out[i] = await work(items[i]!);
  };
  await Promise.all(Array.from({ length: width }, worker));
  return out;
}

function recordedActions(from: number): string[] {
  return stack.events.slice(from).flatMap((e) => (e.type === 'request' ? [e.action] : []));
}

beforeAll(async () => {
  stack = await startStack({ policyBody: POLICY });
  gatewayEnv = await stack.clientEnv();
  // The same role's credentials, for the calls made straight to moto.
  const assumed = await queryCall(
    stack.moto.endpoint,
    'sts',
    { Action: 'AssumeRole', Version: '2011-06-15', RoleArn: stack.roleArn, RoleSessionName: 'direct' },
    { accessKeyId: stack.moto.accessKeyId, secretAccessKey: stack.moto.secretAccessKey },
  );
  const c = assumed.AssumeRoleResponse.AssumeRoleResult.Credentials;
  directEnv = cleanEnv(
    {
      AWS_ENDPOINT_URL: stack.moto.endpoint,
      AWS_ACCESS_KEY_ID: c.AccessKeyId,
      AWS_SECRET_ACCESS_KEY: c.SecretAccessKey,
      AWS_SESSION_TOKEN: c.SessionToken,
      AWS_REGION: 'us-east-1',
      AWS_DEFAULT_REGION: 'us-east-1',
    },
    await mkdtemp(join(stack.dir, 'home-direct-')),
  );
  const seeded = await boto3(directEnv, SEED);
  expect(seeded.filter((r) => !r.ok)).toEqual([]);
}, 90_000);

afterAll(async () => {
  await stack?.close();
});

describe('client matrix, endpoint mode: through the gateway = straight to moto, and recorded as itself', () => {
  test('boto3', async () => {
    const calls = CELLS.map((c) => c.boto3);
    const from = stack.events.length;
    const [through, direct] = await Promise.all([boto3(gatewayEnv, calls), boto3(directEnv, calls)]);
    CELLS.forEach((cell, i) => expect(reading(cell, through[i]!), cell.name).toEqual(expectedThrough(cell, direct[i]!)));
    CELLS.forEach((cell, i) => cell.directUnreliable === undefined && expect(direct[i]!.ok, cell.name).toBe(true));
    expect(recordedActions(from)).toEqual(CELLS.map((c) => c.action));
    // botocore 1.43 speaks Smithy RPC v2 CBOR to CloudWatch: the recorded params come from the decoded CBOR body.
    const metrics = stack.events.slice(from).find((e) => e.type === 'request' && e.action === 'cloudwatch:ListMetrics');
    expect(metrics).toMatchObject({ params: { Namespace: 'mx' } });
    // A denial reaches a CBOR client as an error it reads (the gateway answers it in JSON; botocore accepts that).
    const [denied] = await boto3(gatewayEnv, [{ service: 'cloudwatch', method: 'delete_alarms', params: { AlarmNames: ['x'] } }]);
    expect(denied).toMatchObject({ ok: false, code: 'AccessDeniedException' });
    expect((denied as { message: string }).message).toContain('denied by rule keep-alarms: alarms stay');
  }, 60_000);

  test('aws CLI v1', async () => {
    const cells = CELLS.filter((c): c is Cell & { cli: string[] } => Array.isArray(c.cli));
    const from = stack.events.length;
    // One CLI process per call (about a second each): four at a time.
    const [through, direct] = await Promise.all([pool(cells, 3, (c) => cli(gatewayEnv, c.cli)), pool(cells, 2, (c) => cli(directEnv, c.cli))]);
    cells.forEach((cell, i) => expect(reading(cell, through[i]!), cell.name).toEqual(expectedThrough(cell, direct[i]!)));
    // Each CLI process also makes its own web-identity STS call, which is not a recorded request.
    expect(recordedActions(from).sort()).toEqual(cells.map((c) => c.action).sort());
  }, 90_000);

  test('JS SDK v3 (the clients installed here: S3, DynamoDB, Secrets Manager)', async () => {
    const steps = [
      { op: 'list', bucket: 'mx-bucket' },
      { op: 'get', bucket: 'mx-bucket', key: 'a.txt' },
      { op: 'getItem', table: 'mx-table', key: { pk: { S: 'k1' } } },
      { op: 'getSecret', name: 'mx/secret' },
    ];
    const js = async (env: Record<string, string>): Promise<any[]> =>
      JSON.parse((await run('node', ['test/integration/clients/js-sdk.mjs', JSON.stringify(steps)], { env, timeout: 60_000 })).stdout);
    const from = stack.events.length;
    const through = await js(gatewayEnv);
    const direct = await js(directEnv);
    expect(through).toEqual(direct.map((r) => (r.op === 'getSecret' ? { ...r, data: '****' } : r)));
    expect(direct.every((r) => r.ok)).toBe(true);
    expect(recordedActions(from)).toEqual(['s3:ListObjectsV2', 's3:GetObject', 'dynamodb:GetItem', 'secretsmanager:GetSecretValue']);
  }, 60_000);
});
