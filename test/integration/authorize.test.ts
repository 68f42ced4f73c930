// Authorize what AWS authorizes (issue #17), tried as an attacker with valid credentials would, against moto with
// SigV4 + IAM on: every sibling operation, spelling and second reading of a forbidden call is refused, and the data
// upstream is checked directly afterwards (the objects still there, the items not deleted).

import {
  BatchWriteItemCommand,
  CreateTableCommand,
  ExecuteStatementCommand,
  GetItemCommand,
  PutItemCommand,
  TransactWriteItemsCommand,
} from '@aws-sdk/client-dynamodb';
import { CopyObjectCommand, CreateBucketCommand, DeleteObjectsCommand, GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { BatchGetSecretValueCommand, CreateSecretCommand } from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { EnforcementKit, outcome, xmlField } from './enforcement-kit.js';
import { startStack, type Stack } from './harness.js';

const POLICY = `rules:
  - id: no-object-deletes
    effect: deny
    actions: ["s3:DeleteObject", "s3:DeleteObjectVersion"]
    message: objects are never deleted by machines
  - id: no-private-reads
    effect: deny
    actions: ["s3:GetObject"]
    resources: ["arn:aws:s3:::vault/private/*"]
  - id: no-acl-changes
    effect: deny
    actions: ["s3:PutObjectAcl"]
  - id: no-item-deletes
    effect: deny
    actions: ["dynamodb:DeleteItem", "dynamodb:PartiQLDelete"]
  - id: hold-prod-secrets
    effect: approve
    actions: ["secretsmanager:GetSecretValue"]
    resources: ["arn:aws:secretsmanager:*:*:secret:prod/*"]
    approval: {hold: 300ms, timeout: 1m}
  - id: work
    effect: allow
    actions: ["s3:*", "dynamodb:*", "secretsmanager:*"]
`;

let stack: Stack;
let kit: EnforcementKit;
let admin: Awaited<ReturnType<EnforcementKit['admin']>>;

async function objectBody(bucket: string, key: string): Promise<string | undefined> {
  try {
    const r = await admin.s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    return await r.Body!.transformToString();
  } catch {
    return undefined;
  }
}

async function itemExists(table: string, pk: string): Promise<boolean> {
  const r = await admin.ddb.send(new GetItemCommand({ TableName: table, Key: { pk: { S: pk } } }));
  return r.Item !== undefined;
}

beforeAll(async () => {
  stack = await startStack({ policyBody: POLICY });
  kit = await EnforcementKit.start(stack);
  admin = await kit.admin();
  await admin.s3.send(new CreateBucketCommand({ Bucket: 'vault' }));
  for (const key of ['a.txt', 'b.txt', 'private/secret.txt', 'public/readme.txt']) {
    await admin.s3.send(new PutObjectCommand({ Bucket: 'vault', Key: key, Body: `content of ${key}` }));
  }
  for (const table of ['ledger', 'audit']) {
    await admin.ddb.send(
      new CreateTableCommand({ TableName: table, BillingMode: 'PAY_PER_REQUEST', KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }], AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }] }),
    );
    for (const pk of ['i-1', 'i-2', 'i-3']) await admin.ddb.send(new PutItemCommand({ TableName: table, Item: { pk: { S: pk } } }));
  }
  await admin.secrets.send(new CreateSecretCommand({ Name: 'prod/db', SecretString: 'prod-db-password-xyz' }));
  await admin.secrets.send(new CreateSecretCommand({ Name: 'dev/db', SecretString: 'dev-db-password' }));
}, 120_000);

afterAll(async () => {
  await stack?.close();
});

describe('sibling operations are decided by the IAM actions they need', () => {
  test('DeleteObjects is s3:DeleteObject on each key: refused, both objects still there', async () => {
    const s3 = kit.s3();
    const result = await outcome(s3.send(new DeleteObjectsCommand({ Bucket: 'vault', Delete: { Objects: [{ Key: 'a.txt' }, { Key: 'b.txt' }] } })));
    expect(result).toBe('AccessDenied');
    expect(await objectBody('vault', 'a.txt')).toBe('content of a.txt');
    expect(await objectBody('vault', 'b.txt')).toBe('content of b.txt');
    const decision = stack.events.filter((e) => e.type === 'decision' && e.action === 's3:DeleteObjects').at(-1) as { pairs?: { action: string; resource: string; effect: string }[] };
    expect(decision.pairs).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ action: 's3:DeleteObject', resource: 'arn:aws:s3:::vault/a.txt', effect: 'deny' }),
        expect.objectContaining({ action: 's3:DeleteObject', resource: 'arn:aws:s3:::vault/b.txt', effect: 'deny' }),
      ]),
    );
  });

  test('BatchWriteItem with a DeleteRequest and TransactWriteItems with a Delete are refused; the items remain', async () => {
    const ddb = kit.ddb();
    expect(await outcome(ddb.send(new BatchWriteItemCommand({ RequestItems: { ledger: [{ DeleteRequest: { Key: { pk: { S: 'i-1' } } } }] } })))).toBe('AccessDeniedException');
    expect(await outcome(ddb.send(new TransactWriteItemsCommand({ TransactItems: [{ Delete: { TableName: 'ledger', Key: { pk: { S: 'i-2' } } } }] })))).toBe('AccessDeniedException');
    expect(await itemExists('ledger', 'i-1')).toBe(true);
    expect(await itemExists('ledger', 'i-2')).toBe(true);
    // A batch that only puts is allowed (the same operation, other IAM actions).
    expect(await outcome(ddb.send(new BatchWriteItemCommand({ RequestItems: { ledger: [{ PutRequest: { Item: { pk: { S: 'i-9' } } } }] } })))).toBe('ok');
  });

  test('PartiQL DELETE is dynamodb:PartiQLDelete on the table it names: refused, the item remains', async () => {
    const ddb = kit.ddb();
    expect(await outcome(ddb.send(new ExecuteStatementCommand({ Statement: `DELETE FROM "ledger" WHERE pk = 'i-3'` })))).toBe('AccessDeniedException');
    expect(await itemExists('ledger', 'i-3')).toBe(true);
    expect(await outcome(ddb.send(new ExecuteStatementCommand({ Statement: `SELECT * FROM "ledger" WHERE pk = 'i-3'` })))).toBe('ok');
  });

  test('BatchGetSecretValue of prod/db needs the approval GetSecretValue of prod/db needs: held, the secret not returned', async () => {
    const sm = kit.secrets();
    let error: { name?: string; message?: string; SecretValues?: unknown } | undefined;
    try {
      const r = await sm.send(new BatchGetSecretValueCommand({ SecretIdList: ['prod/db'] }));
      error = { SecretValues: r.SecretValues };
    } catch (e) {
      error = e as { name?: string; message?: string };
    }
    expect(error?.name).toBe('ThrottlingException');
    expect(JSON.stringify(error)).not.toContain('prod-db-password-xyz');
    const proposed = stack.events.filter((e) => e.type === 'approval.proposed').at(-1) as { pairs?: string[]; action: string };
    expect(proposed.action).toBe('secretsmanager:BatchGetSecretValue');
    expect(proposed.pairs).toEqual(expect.arrayContaining([expect.stringMatching(/^secretsmanager:GetSecretValue arn:aws:secretsmanager:us-east-1:\d+:secret:prod\/db$/)]));
    // A dev secret in a batch passes without approval.
    expect(await outcome(sm.send(new BatchGetSecretValueCommand({ SecretIdList: ['dev/db'] })))).toBe('ok');
  });

  test('HeadObject and ListObjectsV2 are authorized as s3:GetObject and s3:ListBucket', async () => {
    const s3 = kit.s3();
    // A HEAD answer has no body: the SDK sees only the status.
    const head = await s3.send(new HeadObjectCommand({ Bucket: 'vault', Key: 'private/secret.txt' })).catch((e: { $metadata?: { httpStatusCode?: number } }) => e);
    expect((head as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode).toBe(403);
    expect(await outcome(s3.send(new HeadObjectCommand({ Bucket: 'vault', Key: 'public/readme.txt' })))).toBe('ok');
    expect(await outcome(s3.send(new ListObjectsV2Command({ Bucket: 'vault' })))).toBe('ok');
  });
});

describe('the copy source is read as S3 reads it', () => {
  test('CopyObject reads its source: a denied source is refused, nothing copied', async () => {
    const s3 = kit.s3();
    expect(await outcome(s3.send(new CopyObjectCommand({ Bucket: 'vault', Key: 'public/leak.txt', CopySource: 'vault/private/secret.txt' })))).toBe('AccessDenied');
    expect(await objectBody('vault', 'public/leak.txt')).toBeUndefined();
    expect(await outcome(s3.send(new CopyObjectCommand({ Bucket: 'vault', Key: 'public/copy.txt', CopySource: 'vault/public/readme.txt' })))).toBe('ok');
    expect(await objectBody('vault', 'public/copy.txt')).toBe('content of public/readme.txt');
  });

  test.each([
    ['///vault/private/secret.txt', 'a triple slash'],
    ['//vault/private/secret.txt', 'a double slash'],
    ['/vault%2Fprivate/secret.txt', 'an encoded slash in the bucket'],
    ['vault/private/secret.txt?versionId=1&x=2', 'an extra query parameter'],
    ['vault/private/%ZZsecret.txt', 'bad percent-encoding'],
  ])('x-amz-copy-source %s (%s) is refused and nothing is copied', async (source) => {
    const result = await kit.raw({ method: 'PUT', path: '/vault/public/leak2.txt', service: 's3', headers: { 'x-amz-copy-source': source } });
    expect(result.status).toBeGreaterThanOrEqual(400);
    expect(result.status).toBeLessThan(500);
    expect(await objectBody('vault', 'public/leak2.txt')).toBeUndefined();
  });
});

describe('one reading of each request', () => {
  test('a JSON call signed as GetItem and sent to /?Action=DeleteItem is refused; the item remains', async () => {
    const body = JSON.stringify({ TableName: 'audit', Key: { pk: { S: 'i-1' } } });
    const result = await kit.raw({
      method: 'POST',
      path: '/?Action=DeleteItem',
      service: 'dynamodb',
      headers: { 'x-amz-target': 'DynamoDB_20120810.GetItem', 'content-type': 'application/x-amz-json-1.0' },
      body,
    });
    expect(result.status).toBe(400);
    expect(result.body).toMatch(/two different calls|Action/);
    expect(await itemExists('audit', 'i-1')).toBe(true);
  });

  test('Action in the query and a different Action in the form body is refused', async () => {
    const result = await kit.raw({
      method: 'POST',
      path: '/?Action=DeleteSecret',
      service: 'secretsmanager',
      headers: { 'x-amz-target': 'secretsmanager.DescribeSecret', 'content-type': 'application/x-amz-json-1.1' },
      body: JSON.stringify({ SecretId: 'dev/db' }),
    });
    expect(result.status).toBe(400);
  });
});

describe('only what was signed goes upstream', () => {
  test.each([
    ['x-amz-acl', 'public-read'],
    ['x-amz-tagging', 'owner=attacker'],
    ['content-md5', '1B2M2Y8AsgTpgAmY7PhCfg=='],
  ])('an unsigned %s added to a signed PUT is refused, naming it; nothing is stored', async (name, value) => {
    const key = `unsigned-${name}.txt`;
    const result = await kit.raw({ method: 'PUT', path: `/vault/${key}`, service: 's3', body: 'x', unsigned: { [name]: value } });
    expect(result.status).toBe(403);
    expect(xmlField(result.body, 'Message')).toContain(name);
    expect(await objectBody('vault', key)).toBeUndefined();
  });

  test('the same header, signed, passes', async () => {
    const result = await kit.raw({ method: 'PUT', path: '/vault/signed-tagging.txt', service: 's3', body: 'x', headers: { 'x-amz-tagging': 'owner=me' } });
    expect(result.status).toBe(200);
    expect(await objectBody('vault', 'signed-tagging.txt')).toBe('x');
  });
});

describe('headers that change more than the object', () => {
  test('a signed x-amz-acl on PutObject needs s3:PutObjectAcl: denied, nothing stored', async () => {
    const s3 = kit.s3();
    expect(await outcome(s3.send(new PutObjectCommand({ Bucket: 'vault', Key: 'acl.txt', Body: 'x', ACL: 'public-read' })))).toBe('AccessDenied');
    expect(await objectBody('vault', 'acl.txt')).toBeUndefined();
    expect(await outcome(s3.send(new PutObjectCommand({ Bucket: 'vault', Key: 'no-acl.txt', Body: 'x' })))).toBe('ok');
  });
});

describe('what a denial looks like', () => {
  test('the message names the IAM action and resource of the pair that was denied', async () => {
    const s3 = kit.s3();
    try {
      await s3.send(new DeleteObjectsCommand({ Bucket: 'vault', Delete: { Objects: [{ Key: 'a.txt' }] } }));
      expect.unreachable();
    } catch (error) {
      expect((error as Error).message).toContain('s3:DeleteObject on arn:aws:s3:::vault/a.txt');
      expect((error as Error).message).toContain('no-object-deletes');
    }
  });
});
