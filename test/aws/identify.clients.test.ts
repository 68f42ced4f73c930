// identifyRequest() on what real clients send: the JS SDK v3 and boto3 talk to a recording HTTP server on
// 127.0.0.1:0 that answers minimally. Client-side parse errors on those answers are expected and ignored; the
// assertions are on the recorded requests.
import { execFile } from 'node:child_process';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { BatchWriteItemCommand, DynamoDBClient, PutItemCommand, QueryCommand } from '@aws-sdk/client-dynamodb';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { AssumeRoleCommand, GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { bodyNeededForIdentify, identifyRequest, type CallInfo, type IdentifyInput } from '../../src/aws/identify.js';
import { requestAmbiguity } from '../../src/aws/dispatch.js';

interface Recorded {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: Buffer;
}

const ACCOUNT = '123456789012';
let server: Server;
let endpoint: string;
let recorded: Recorded[] = [];

function answer(r: Recorded): { status: number; headers: Record<string, string>; body: string } {
  const target = r.headers['x-amz-target'];
  if (typeof target === 'string') return { status: 200, headers: { 'content-type': 'application/x-amz-json-1.0' }, body: '{}' };
  if (r.url.includes('uploads')) {
    return {
      status: 200,
      headers: { 'content-type': 'application/xml' },
      body: '<InitiateMultipartUploadResult><Bucket>b</Bucket><Key>k</Key><UploadId>up-1</UploadId></InitiateMultipartUploadResult>',
    };
  }
  return { status: 200, headers: { 'content-type': 'application/xml', etag: '"e"' }, body: '' };
}

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const r: Recorded = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks) };
      recorded.push(r);
      const a = answer(r);
      res.writeHead(a.status, { ...a.headers, 'content-length': String(Buffer.byteLength(a.body)) });
      res.end(a.body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

function scope(r: Recorded): { service: string; region: string } {
  const auth = String(r.headers['authorization'] ?? '');
  const m = /Credential=[^/]+\/\d{8}\/([^/]+)\/([^/]+)\/aws4_request/.exec(auth);
  if (!m) throw new Error(`no SigV4 credential scope in ${JSON.stringify(auth)}`);
  return { region: m[1] as string, service: m[2] as string };
}

/** Identifies a recorded request; every request a stock client makes must also have one reading. */
function identify(r: Recorded): CallInfo {
  const { service, region } = scope(r);
  const input: IdentifyInput = {
    method: r.method,
    host: String(r.headers.host),
    rawPath: r.url,
    headers: r.headers,
    signingService: service,
    region,
    accountId: ACCOUNT,
    ...(bodyNeededForIdentify(service, r.headers, undefined, { method: r.method, rawPath: r.url }) ? { body: r.body } : {}),
  };
  const call = identifyRequest(input);
  const refusal = requestAmbiguity(input, call);
  if (refusal) throw refusal;
  return call;
}

/** Runs one client call and returns the requests it made (errors from parsing our minimal answers ignored). */
async function capture(run: () => Promise<unknown>): Promise<Recorded[]> {
  recorded = [];
  try {
    await run();
  } catch {
    // the recording server's answers are minimal
  }
  return recorded;
}

const credentials = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret', sessionToken: 'token' };

describe('JS SDK v3', () => {
  const s3 = () => new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials, maxAttempts: 1 });

  const cases: { name: string; run: () => Promise<unknown>; action: string; resource: string; protocol?: string }[] = [
    {
      name: 'S3 PutObject (key with space, ü and +)',
      run: () => s3().send(new PutObjectCommand({ Bucket: 'bkt', Key: 'a b ü+.txt', Body: 'hello' })),
      action: 's3:PutObject',
      resource: 'arn:aws:s3:::bkt/a b ü+.txt',
    },
    {
      name: 'S3 GetObject',
      run: () => s3().send(new GetObjectCommand({ Bucket: 'bkt', Key: 'dir/k.txt' })),
      action: 's3:GetObject',
      resource: 'arn:aws:s3:::bkt/dir/k.txt',
    },
    {
      name: 'S3 ListObjectsV2',
      run: () => s3().send(new ListObjectsV2Command({ Bucket: 'bkt', Prefix: 'dir/' })),
      action: 's3:ListObjectsV2',
      resource: 'arn:aws:s3:::bkt',
    },
    {
      name: 'S3 CreateMultipartUpload',
      run: () => s3().send(new CreateMultipartUploadCommand({ Bucket: 'bkt', Key: 'big.bin' })),
      action: 's3:CreateMultipartUpload',
      resource: 'arn:aws:s3:::bkt/big.bin',
    },
    {
      name: 'S3 UploadPart',
      run: () => s3().send(new UploadPartCommand({ Bucket: 'bkt', Key: 'big.bin', UploadId: 'up-1', PartNumber: 3, Body: 'x' })),
      action: 's3:UploadPart',
      resource: 'arn:aws:s3:::bkt/big.bin',
    },
    {
      name: 'S3 CompleteMultipartUpload',
      run: () =>
        s3().send(
          new CompleteMultipartUploadCommand({ Bucket: 'bkt', Key: 'big.bin', UploadId: 'up-1', MultipartUpload: { Parts: [{ ETag: 'e', PartNumber: 1 }] } }),
        ),
      action: 's3:CompleteMultipartUpload',
      resource: 'arn:aws:s3:::bkt/big.bin',
    },
    {
      name: 'S3 CopyObject',
      run: () => s3().send(new CopyObjectCommand({ Bucket: 'dst', Key: 'n', CopySource: 'src/o%20ld' })),
      action: 's3:CopyObject',
      resource: 'arn:aws:s3:::dst/n',
    },
    {
      name: 'S3 DeleteObjects',
      run: () => s3().send(new DeleteObjectsCommand({ Bucket: 'bkt', Delete: { Objects: [{ Key: 'a' }] } })),
      action: 's3:DeleteObjects',
      resource: 'arn:aws:s3:::bkt',
    },
    {
      name: 'DynamoDB PutItem',
      run: () =>
        new DynamoDBClient({ endpoint, region: 'eu-west-1', credentials, maxAttempts: 1 }).send(
          new PutItemCommand({ TableName: 'orders', Item: { id: { S: '1' } } }),
        ),
      action: 'dynamodb:PutItem',
      resource: `arn:aws:dynamodb:eu-west-1:${ACCOUNT}:table/orders`,
      protocol: 'json',
    },
    {
      name: 'DynamoDB Query on an index',
      run: () =>
        new DynamoDBClient({ endpoint, region: 'eu-west-1', credentials, maxAttempts: 1 }).send(
          new QueryCommand({ TableName: 'orders', IndexName: 'byDate', KeyConditionExpression: 'd = :d', ExpressionAttributeValues: { ':d': { S: 'x' } } }),
        ),
      action: 'dynamodb:Query',
      resource: `arn:aws:dynamodb:eu-west-1:${ACCOUNT}:table/orders/index/byDate`,
      protocol: 'json',
    },
    {
      name: 'DynamoDB BatchWriteItem',
      run: () =>
        new DynamoDBClient({ endpoint, region: 'eu-west-1', credentials, maxAttempts: 1 }).send(
          new BatchWriteItemCommand({ RequestItems: { a: [{ PutRequest: { Item: { id: { S: '1' } } } }], b: [{ DeleteRequest: { Key: { id: { S: '2' } } } }] } }),
        ),
      action: 'dynamodb:BatchWriteItem',
      resource: `arn:aws:dynamodb:eu-west-1:${ACCOUNT}:table/a`,
      protocol: 'json',
    },
    {
      name: 'Secrets Manager GetSecretValue',
      run: () =>
        new SecretsManagerClient({ endpoint, region: 'us-west-2', credentials, maxAttempts: 1 }).send(
          new GetSecretValueCommand({ SecretId: 'prod/db' }),
        ),
      action: 'secretsmanager:GetSecretValue',
      resource: `arn:aws:secretsmanager:us-west-2:${ACCOUNT}:secret:prod/db`,
      protocol: 'json',
    },
    {
      name: 'STS GetCallerIdentity',
      run: () => new STSClient({ endpoint, region: 'us-east-1', credentials, maxAttempts: 1 }).send(new GetCallerIdentityCommand({})),
      action: 'sts:GetCallerIdentity',
      resource: '*',
      protocol: 'query',
    },
    {
      name: 'STS AssumeRole',
      run: () =>
        new STSClient({ endpoint, region: 'us-east-1', credentials, maxAttempts: 1 }).send(
          new AssumeRoleCommand({ RoleArn: 'arn:aws:iam::111122223333:role/deploy', RoleSessionName: 's' }),
        ),
      action: 'sts:AssumeRole',
      resource: 'arn:aws:iam::111122223333:role/deploy',
      protocol: 'query',
    },
  ];

  it.each(cases)('$name', async ({ run, action, resource, protocol }) => {
    const reqs = await capture(run);
    expect(reqs.length).toBeGreaterThanOrEqual(1);
    const c = identify(reqs[0] as Recorded);
    expect(c.action).toBe(action);
    expect(c.resource).toBe(resource);
    if (protocol) expect(c.protocol).toBe(protocol);
  });

  it('JS v3 really sends what the table above exercises (x-id, encoded keys, list-type)', async () => {
    const put = await capture(() => s3().send(new PutObjectCommand({ Bucket: 'bkt', Key: 'a b ü+.txt', Body: 'hello' })));
    expect(put[0]?.url).toBe('/bkt/a%20b%20%C3%BC%2B.txt?x-id=PutObject');
    const list = await capture(() => s3().send(new ListObjectsV2Command({ Bucket: 'bkt' })));
    expect(list[0]?.url).toContain('list-type=2');
  });

  it('CopyObject names the copy source as a second resource', async () => {
    const reqs = await capture(() => s3().send(new CopyObjectCommand({ Bucket: 'dst', Key: 'n', CopySource: 'src/o%20ld' })));
    expect(identify(reqs[0] as Recorded).resources).toEqual(['arn:aws:s3:::dst/n', 'arn:aws:s3:::src/o ld']);
  });
});

const execFileP = promisify(execFile);

// boto3 runs in a child process; each call prints nothing, the server records it.
const BOTO_SCRIPT = String.raw`
import sys, boto3
from botocore.config import Config
ep = sys.argv[1]
cfg = Config(retries={'total_max_attempts': 1}, s3={'addressing_style': 'path'})
kw = dict(endpoint_url=ep, aws_access_key_id='AKIDEXAMPLE', aws_secret_access_key='secret', aws_session_token='tok', config=cfg)
def c(name, region='us-east-1'):
    return boto3.client(name, region_name=region, **kw)
def attempt(f):
    try:
        f()
    except Exception:
        pass
calls = {
  's3_put': lambda: c('s3').put_object(Bucket='bkt', Key='a b.txt', Body=b'hello'),
  's3_get': lambda: c('s3').get_object(Bucket='bkt', Key='k.txt'),
  's3_list': lambda: c('s3').list_objects_v2(Bucket='bkt'),
  's3_mpu': lambda: c('s3').create_multipart_upload(Bucket='bkt', Key='big.bin'),
  's3_part': lambda: c('s3').upload_part(Bucket='bkt', Key='big.bin', UploadId='up-1', PartNumber=2, Body=b'x'),
  's3_complete': lambda: c('s3').complete_multipart_upload(Bucket='bkt', Key='big.bin', UploadId='up-1', MultipartUpload={'Parts': [{'ETag': 'e', 'PartNumber': 1}]}),
  's3_abort': lambda: c('s3').abort_multipart_upload(Bucket='bkt', Key='big.bin', UploadId='up-1'),
  'ddb_put': lambda: c('dynamodb', 'eu-west-1').put_item(TableName='orders', Item={'id': {'S': '1'}}),
  'ddb_get': lambda: c('dynamodb', 'eu-west-1').get_item(TableName='orders', Key={'id': {'S': '1'}}),
  'sm_get': lambda: c('secretsmanager').get_secret_value(SecretId='arn:aws:secretsmanager:us-east-1:111122223333:secret:prod/db-AbCdEf'),
  'sts_whoami': lambda: c('sts').get_caller_identity(),
  'ssm_get': lambda: c('ssm').get_parameter(Name='/app/db/password', WithDecryption=True),
  'kms_decrypt': lambda: c('kms').decrypt(CiphertextBlob=b'blob', KeyId='alias/app'),
  'lambda_invoke': lambda: c('lambda').invoke(FunctionName='my-fn', Payload=b'{}'),
  'sqs_send': lambda: c('sqs').send_message(QueueUrl='https://sqs.us-east-1.amazonaws.com/111122223333/jobs', MessageBody='hi'),
  'sns_publish': lambda: c('sns').publish(TopicArn='arn:aws:sns:us-east-1:111122223333:alerts', Message='hi'),
}
import urllib.request
for name, f in calls.items():
    urllib.request.urlopen(ep + '/__mark__/' + name).read()
    attempt(f)
`;

// One Python process for all calls (boto3 takes seconds to import): a GET /__mark__/<call> precedes each call.
const botoByCall = new Map<string, Recorded[]>();

describe('boto3', () => {
  beforeAll(async () => {
    const all = await capture(() => execFileP('python3', ['-c', BOTO_SCRIPT, endpoint], { timeout: 60_000 }));
    let current: Recorded[] | undefined;
    for (const r of all) {
      const mark = /^\/__mark__\/(.+)$/.exec(r.url);
      if (mark) botoByCall.set(mark[1] as string, (current = []));
      else current?.push(r);
    }
  }, 90_000);

  const cases: { call: string; action: string; resource: string; protocol: string }[] = [
    { call: 's3_put', action: 's3:PutObject', resource: 'arn:aws:s3:::bkt/a b.txt', protocol: 'rest-xml' },
    { call: 's3_get', action: 's3:GetObject', resource: 'arn:aws:s3:::bkt/k.txt', protocol: 'rest-xml' },
    { call: 's3_list', action: 's3:ListObjectsV2', resource: 'arn:aws:s3:::bkt', protocol: 'rest-xml' },
    { call: 's3_mpu', action: 's3:CreateMultipartUpload', resource: 'arn:aws:s3:::bkt/big.bin', protocol: 'rest-xml' },
    { call: 's3_part', action: 's3:UploadPart', resource: 'arn:aws:s3:::bkt/big.bin', protocol: 'rest-xml' },
    { call: 's3_complete', action: 's3:CompleteMultipartUpload', resource: 'arn:aws:s3:::bkt/big.bin', protocol: 'rest-xml' },
    { call: 's3_abort', action: 's3:AbortMultipartUpload', resource: 'arn:aws:s3:::bkt/big.bin', protocol: 'rest-xml' },
    { call: 'ddb_put', action: 'dynamodb:PutItem', resource: `arn:aws:dynamodb:eu-west-1:${ACCOUNT}:table/orders`, protocol: 'json' },
    { call: 'ddb_get', action: 'dynamodb:GetItem', resource: `arn:aws:dynamodb:eu-west-1:${ACCOUNT}:table/orders`, protocol: 'json' },
    { call: 'sm_get', action: 'secretsmanager:GetSecretValue', resource: 'arn:aws:secretsmanager:us-east-1:111122223333:secret:prod/db-AbCdEf', protocol: 'json' },
    { call: 'sts_whoami', action: 'sts:GetCallerIdentity', resource: '*', protocol: 'query' },
    { call: 'ssm_get', action: 'ssm:GetParameter', resource: `arn:aws:ssm:us-east-1:${ACCOUNT}:parameter/app/db/password`, protocol: 'json' },
    { call: 'kms_decrypt', action: 'kms:Decrypt', resource: `arn:aws:kms:us-east-1:${ACCOUNT}:alias/app`, protocol: 'json' },
    { call: 'lambda_invoke', action: 'lambda:Invoke', resource: `arn:aws:lambda:us-east-1:${ACCOUNT}:function:my-fn`, protocol: 'rest-json' },
    { call: 'sqs_send', action: 'sqs:SendMessage', resource: 'arn:aws:sqs:us-east-1:111122223333:jobs', protocol: 'json' },
    { call: 'sns_publish', action: 'sns:Publish', resource: 'arn:aws:sns:us-east-1:111122223333:alerts', protocol: 'query' },
  ];
  it.each(cases)('$call → $action', ({ call, action, resource, protocol }) => {
    const reqs = botoByCall.get(call) ?? [];
    expect(reqs.length).toBeGreaterThanOrEqual(1);
    const c = identify(reqs[0] as Recorded);
    expect(c.action).toBe(action);
    expect(c.resource).toBe(resource);
    expect(c.protocol).toBe(protocol);
  });
});
