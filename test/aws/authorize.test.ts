import { describe, expect, it } from 'vitest';
import { authorizationPairs, bodyNeededForAuthorization, iamActionsForOperation } from '../../src/aws/authorize.js';
import { arnProblem, iamActionInfo, isKnownIamAction, suggestIamActions, suggestIamServices } from '../../src/aws/iam.js';
import { identifyRequest, type CallInfo, type IdentifyInput } from '../../src/aws/identify.js';
import { OPERATION_ACTIONS, PASSED_ROLE_PARAMS, S3_VERSIONED_ACTIONS } from '../../src/aws/operation-actions.js';

const ACCOUNT = '123456789012';
const T = (name: string) => `arn:aws:dynamodb:us-east-1:${ACCOUNT}:table/${name}`;

function identify(partial: Partial<IdentifyInput> & Pick<IdentifyInput, 'signingService' | 'method' | 'rawPath'>): CallInfo {
  return identifyRequest({ host: '127.0.0.1:8443', headers: {}, region: 'us-east-1', accountId: ACCOUNT, ...partial });
}

function json(signingService: string, target: string, body: unknown): CallInfo {
  return identify({
    signingService,
    method: 'POST',
    rawPath: '/',
    headers: { 'content-type': 'application/x-amz-json-1.0', 'x-amz-target': target },
    body: Buffer.from(JSON.stringify(body)),
  });
}

const pairs = (call: CallInfo, body?: Buffer, headers?: Record<string, string>) =>
  authorizationPairs(call, body, { accountId: ACCOUNT, ...(headers ? { headers } : {}) });

describe('the IAM table', () => {
  it('knows actions case-insensitively, with canonical case and access level', () => {
    expect(iamActionInfo('S3:listbucket')).toEqual({ action: 's3:ListBucket', service: 's3', accessLevels: ['List'] });
    expect(iamActionInfo('dynamodb:DeleteTable')?.accessLevels).toEqual(['Write']);
    expect(iamActionInfo('iam:PutRolePolicy')?.accessLevels).toEqual(['Write', 'Permissions management']);
    expect(iamActionInfo('s3:PutObjectTagging')?.accessLevels).toEqual(['Write', 'Tagging']);
    expect(isKnownIamAction('s3:ListObjectsV2')).toBe(false);
    expect(isKnownIamAction('dynamodb:DeleteTabel')).toBe(false);
  });

  it('suggests the nearest action and service', () => {
    expect(suggestIamActions('dynamodb:DeleteTabel')).toEqual(['dynamodb:DeleteTable']);
    expect(suggestIamActions('s3:GetObejct')).toEqual(['s3:GetObject']);
    expect(suggestIamServices('iamm')).toEqual(['iam']);
  });

  it('names only actions that exist in every hand-written mapping', () => {
    const named = [...Object.values(OPERATION_ACTIONS).flat(), ...Object.entries(S3_VERSIONED_ACTIONS).flat()];
    expect(named.filter((a) => !isKnownIamAction(a))).toEqual([]);
    expect(Object.keys(PASSED_ROLE_PARAMS).length).toBeGreaterThan(10);
  });

  it.each([
    ['arn:aws:s3:::reports/*', undefined],
    ['arn:aws:s3:::reports', undefined],
    ['arn:aws:dynamodb:*:*:table/orders', undefined],
    ['arn:aws:dynamodb:us-east-1:123456789012:table/orders/index/by-date', undefined],
    ['arn:aws:secretsmanager:*:*:secret:prod/*', undefined],
    ['arn:aws:iam::123456789012:role/deployer', undefined],
    ['arn:aws:lambda:us-east-1:123456789012:function:f', undefined],
    ['arn:*', undefined],
    ['arn:aws:s3::reports/*', /too few fields/],
    ['arn:aws:secretmanager:*:*:secret:x', /not a service in ARNs \(did you mean secretsmanager\?\)/],
    ['arn:aws:s3:us-east-1::reports/*', /empty region and account/],
    ['arn:aws:dynamodb:us-east-1:123456789012:tabel/orders', /does not fit any dynamodb ARN format/],
    ['arn:aws:dynamodb:us-east-1:12345:table/orders', /not an account id/],
    ['arn:awz:s3:::b', /not an AWS partition/],
  ])('arnProblem(%s)', (arn, expected) => {
    const problem = arnProblem(arn);
    if (expected === undefined) expect(problem).toBeUndefined();
    else expect(problem).toMatch(expected);
  });
});

describe('S3 operations map to IAM actions', () => {
  const cases: { method: string; path: string; headers?: Record<string, string>; expected: [string, string][] }[] = [
    { method: 'GET', path: '/bkt?list-type=2', expected: [['s3:ListBucket', 'arn:aws:s3:::bkt']] },
    { method: 'GET', path: '/bkt', expected: [['s3:ListBucket', 'arn:aws:s3:::bkt']] },
    { method: 'GET', path: '/bkt?versions', expected: [['s3:ListBucketVersions', 'arn:aws:s3:::bkt']] },
    { method: 'GET', path: '/bkt?uploads', expected: [['s3:ListBucketMultipartUploads', 'arn:aws:s3:::bkt']] },
    { method: 'HEAD', path: '/bkt', expected: [['s3:ListBucket', 'arn:aws:s3:::bkt']] },
    { method: 'GET', path: '/', expected: [['s3:ListAllMyBuckets', '*']] },
    { method: 'HEAD', path: '/bkt/k', expected: [['s3:GetObject', 'arn:aws:s3:::bkt/k']] },
    { method: 'GET', path: '/bkt/k', expected: [['s3:GetObject', 'arn:aws:s3:::bkt/k']] },
    { method: 'GET', path: '/bkt/k?versionId=v1', expected: [['s3:GetObjectVersion', 'arn:aws:s3:::bkt/k']] },
    { method: 'DELETE', path: '/bkt/k?versionId=v1', expected: [['s3:DeleteObjectVersion', 'arn:aws:s3:::bkt/k']] },
    { method: 'DELETE', path: '/bkt/k', expected: [['s3:DeleteObject', 'arn:aws:s3:::bkt/k']] },
    { method: 'POST', path: '/bkt/k?uploads', expected: [['s3:PutObject', 'arn:aws:s3:::bkt/k']] },
    { method: 'PUT', path: '/bkt/k?partNumber=1&uploadId=u', expected: [['s3:PutObject', 'arn:aws:s3:::bkt/k']] },
    { method: 'POST', path: '/bkt/k?uploadId=u', expected: [['s3:PutObject', 'arn:aws:s3:::bkt/k']] },
    { method: 'DELETE', path: '/bkt/k?uploadId=u', expected: [['s3:AbortMultipartUpload', 'arn:aws:s3:::bkt/k']] },
    { method: 'GET', path: '/bkt/k?uploadId=u', expected: [['s3:ListMultipartUploadParts', 'arn:aws:s3:::bkt/k']] },
    { method: 'GET', path: '/bkt?acl', expected: [['s3:GetBucketAcl', 'arn:aws:s3:::bkt']] },
    { method: 'PUT', path: '/bkt?acl', expected: [['s3:PutBucketAcl', 'arn:aws:s3:::bkt']] },
    { method: 'GET', path: '/bkt?lifecycle', expected: [['s3:GetLifecycleConfiguration', 'arn:aws:s3:::bkt']] },
    { method: 'DELETE', path: '/bkt?cors', expected: [['s3:PutBucketCORS', 'arn:aws:s3:::bkt']] },
    { method: 'GET', path: '/bkt?publicAccessBlock', expected: [['s3:GetBucketPublicAccessBlock', 'arn:aws:s3:::bkt']] },
    { method: 'GET', path: '/bkt/k?tagging&versionId=v', expected: [['s3:GetObjectVersionTagging', 'arn:aws:s3:::bkt/k']] },
    {
      method: 'PUT',
      path: '/dst/new.txt',
      headers: { 'x-amz-copy-source': '/src/old%20file.txt' },
      expected: [['s3:GetObject', 'arn:aws:s3:::src/old file.txt'], ['s3:PutObject', 'arn:aws:s3:::dst/new.txt']],
    },
    {
      method: 'PUT',
      path: '/dst/new.txt',
      headers: { 'x-amz-copy-source': 'src/old.txt?versionId=abc' },
      expected: [['s3:GetObjectVersion', 'arn:aws:s3:::src/old.txt'], ['s3:PutObject', 'arn:aws:s3:::dst/new.txt']],
    },
    {
      method: 'PUT',
      path: '/dst/big?partNumber=2&uploadId=u',
      headers: { 'x-amz-copy-source': '/src/big' },
      expected: [['s3:GetObject', 'arn:aws:s3:::src/big'], ['s3:PutObject', 'arn:aws:s3:::dst/big']],
    },
  ];
  it.each(cases)('$method $path', ({ method, path, headers, expected }) => {
    const call = identify({ signingService: 's3', method, rawPath: path, headers: headers ?? {} });
    expect(pairs(call, undefined, headers).map((p) => [p.action, p.resource])).toEqual(expected);
  });
});

describe('S3 DeleteObjects', () => {
  const call = identify({ signingService: 's3', method: 'POST', rawPath: '/bkt?delete' });
  const body = Buffer.from(
    '<?xml version="1.0" encoding="UTF-8"?>\n<Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/">\n' +
      '  <Object><Key>a/one.txt</Key></Object>\n  <Object><Key>b&amp;c</Key><VersionId>v7</VersionId></Object>\n  <Quiet>true</Quiet>\n</Delete>',
  );

  it('is identified as DeleteObjects and needs its body', () => {
    expect(call.operation).toBe('DeleteObjects');
    expect(bodyNeededForAuthorization(call)).toBe(true);
  });

  it('checks s3:DeleteObject (or DeleteObjectVersion) on every key', () => {
    expect(pairs(call, body)).toEqual([
      { action: 's3:DeleteObject', resource: 'arn:aws:s3:::bkt/a/one.txt' },
      { action: 's3:DeleteObjectVersion', resource: 'arn:aws:s3:::bkt/b&c' },
    ]);
  });

  it.each([
    ['no body', undefined],
    ['not XML', Buffer.from('<Delete><Object><Key>')],
    ['no objects', Buffer.from('<Delete><Quiet>true</Quiet></Delete>')],
  ])('falls back to * with %s', (_name, b) => {
    expect(pairs(call, b)).toEqual([
      { action: 's3:DeleteObject', resource: '*' },
      { action: 's3:DeleteObjectVersion', resource: '*' },
    ]);
  });
});

describe('DynamoDB batches and transactions', () => {
  it('BatchWriteItem: BatchWriteItem on each table, PutItem/DeleteItem by request kind', () => {
    const call = json('dynamodb', 'DynamoDB_20120810.BatchWriteItem', {
      RequestItems: { orders: [{ PutRequest: { Item: {} } }], audit: [{ DeleteRequest: { Key: {} } }, { PutRequest: { Item: {} } }] },
    });
    expect(pairs(call)).toEqual([
      { action: 'dynamodb:BatchWriteItem', resource: T('orders') },
      { action: 'dynamodb:BatchWriteItem', resource: T('audit') },
      { action: 'dynamodb:PutItem', resource: T('orders') },
      { action: 'dynamodb:PutItem', resource: T('audit') },
      { action: 'dynamodb:DeleteItem', resource: T('audit') },
    ]);
  });

  it('BatchGetItem: GetItem on each table', () => {
    const call = json('dynamodb', 'DynamoDB_20120810.BatchGetItem', { RequestItems: { a: { Keys: [] }, b: { Keys: [] } } });
    expect(pairs(call).filter((p) => p.action === 'dynamodb:GetItem')).toEqual([
      { action: 'dynamodb:GetItem', resource: T('a') },
      { action: 'dynamodb:GetItem', resource: T('b') },
    ]);
  });

  it('TransactWriteItems: the item action of each entry on its table', () => {
    const call = json('dynamodb', 'DynamoDB_20120810.TransactWriteItems', {
      TransactItems: [
        { Put: { TableName: 'a', Item: {} } },
        { Update: { TableName: 'b', Key: {} } },
        { Delete: { TableName: 'c', Key: {} } },
        { ConditionCheck: { TableName: 'd', Key: {}, ConditionExpression: 'x' } },
      ],
    });
    expect(pairs(call)).toEqual([
      { action: 'dynamodb:PutItem', resource: T('a') },
      { action: 'dynamodb:UpdateItem', resource: T('b') },
      { action: 'dynamodb:DeleteItem', resource: T('c') },
      { action: 'dynamodb:ConditionCheckItem', resource: T('d') },
    ]);
  });

  it('TransactGetItems: GetItem on each table', () => {
    const call = json('dynamodb', 'DynamoDB_20120810.TransactGetItems', { TransactItems: [{ Get: { TableName: 'a', Key: {} } }, { Get: { TableName: 'b', Key: {} } }] });
    expect(pairs(call)).toEqual([
      { action: 'dynamodb:GetItem', resource: T('a') },
      { action: 'dynamodb:GetItem', resource: T('b') },
    ]);
  });
});

describe('DynamoDB PartiQL', () => {
  it.each([
    ['SELECT * FROM "orders" WHERE id = ?', 'dynamodb:PartiQLSelect', T('orders')],
    ['select a, b from orders', 'dynamodb:PartiQLSelect', T('orders')],
    ['SELECT * FROM "orders"."by-date" WHERE d > ?', 'dynamodb:PartiQLSelect', `${T('orders')}/index/by-date`],
    ['SELECT * FROM orders.byDate', 'dynamodb:PartiQLSelect', `${T('orders')}/index/byDate`],
    ['INSERT INTO "orders" VALUE {\'id\': 1}', 'dynamodb:PartiQLInsert', T('orders')],
    ['UPDATE "orders" SET x = 1 WHERE id = 1', 'dynamodb:PartiQLUpdate', T('orders')],
    ['  DELETE FROM "weird""name" WHERE id = 1', 'dynamodb:PartiQLDelete', T('weird"name')],
    ['SELECT nonsense', 'dynamodb:PartiQLSelect', '*'],
  ])('ExecuteStatement %s', (statement, action, resource) => {
    const call = json('dynamodb', 'DynamoDB_20120810.ExecuteStatement', { Statement: statement });
    expect(pairs(call)).toEqual([{ action, resource }]);
  });

  it('an unknown verb checks all four actions on *', () => {
    const call = json('dynamodb', 'DynamoDB_20120810.ExecuteStatement', { Statement: 'UPSERT x' });
    expect(pairs(call).map((p) => p.action)).toEqual(['dynamodb:PartiQLSelect', 'dynamodb:PartiQLInsert', 'dynamodb:PartiQLUpdate', 'dynamodb:PartiQLDelete']);
    expect(pairs(call).every((p) => p.resource === '*')).toBe(true);
  });

  it('BatchExecuteStatement and ExecuteTransaction expand every statement', () => {
    const batch = json('dynamodb', 'DynamoDB_20120810.BatchExecuteStatement', { Statements: [{ Statement: 'SELECT * FROM a' }, { Statement: 'DELETE FROM "b" WHERE k = 1' }] });
    expect(pairs(batch)).toEqual([
      { action: 'dynamodb:PartiQLSelect', resource: T('a') },
      { action: 'dynamodb:PartiQLDelete', resource: T('b') },
    ]);
    const tx = json('dynamodb', 'DynamoDB_20120810.ExecuteTransaction', { TransactStatements: [{ Statement: 'UPDATE c SET v = 1 WHERE k = 1' }] });
    expect(pairs(tx)).toEqual([{ action: 'dynamodb:PartiQLUpdate', resource: T('c') }]);
  });
});

describe('Secrets Manager BatchGetSecretValue', () => {
  it('GetSecretValue on each secret, BatchGetSecretValue on *', () => {
    const call = json('secretsmanager', 'secretsmanager.BatchGetSecretValue', { SecretIdList: ['prod/db', 'arn:aws:secretsmanager:us-east-1:123456789012:secret:x-AbCdEf'] });
    expect(pairs(call)).toEqual([
      { action: 'secretsmanager:BatchGetSecretValue', resource: '*' },
      { action: 'secretsmanager:GetSecretValue', resource: `arn:aws:secretsmanager:us-east-1:${ACCOUNT}:secret:prod/db` },
      { action: 'secretsmanager:GetSecretValue', resource: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:x-AbCdEf' },
    ]);
    // The same ARN spelling as identification's resources for the single-secret calls.
    expect(json('secretsmanager', 'secretsmanager.GetSecretValue', { SecretId: 'prod/db' }).resources).toEqual([`arn:aws:secretsmanager:us-east-1:${ACCOUNT}:secret:prod/db`]);
  });

  it('with Filters, any secret: *', () => {
    const call = json('secretsmanager', 'secretsmanager.BatchGetSecretValue', { Filters: [{ Key: 'name', Values: ['prod'] }] });
    expect(pairs(call)).toEqual([
      { action: 'secretsmanager:BatchGetSecretValue', resource: '*' },
      { action: 'secretsmanager:GetSecretValue', resource: '*' },
    ]);
  });
});

describe('iam:PassRole', () => {
  const call = (service: string, operation: string, params: Record<string, unknown>, protocol: CallInfo['protocol'] = 'json'): CallInfo => ({
    service,
    operation,
    action: `${service}:${operation}`,
    protocol,
    region: 'us-east-1',
    resource: '*',
    resources: ['*'],
    params,
  });
  const passed = (c: CallInfo, body?: Buffer) => pairs(c, body).filter((p) => p.action === 'iam:PassRole').map((p) => p.resource);
  const role = (name: string) => `arn:aws:iam::${ACCOUNT}:role/${name}`;

  it.each([
    ['ecs', 'RegisterTaskDefinition', { taskRoleArn: role('task'), executionRoleArn: 'exec' }, [role('task'), role('exec')]],
    ['glue', 'CreateJob', { Role: 'glue-role' }, [role('glue-role')]],
    ['glue', 'UpdateJob', { JobUpdate: { Role: role('g') } }, [role('g')]],
    ['glue', 'CreateCrawler', { Role: role('c') }, [role('c')]],
    ['states', 'CreateStateMachine', { roleArn: role('sfn') }, [role('sfn')]],
    ['states', 'UpdateStateMachine', {}, []],
    ['ec2', 'AssociateIamInstanceProfile', { 'IamInstanceProfile.Name': 'profile' }, ['*']],
  ])('%s:%s', (service, operation, params, expected) => {
    expect(passed(call(service, operation, params))).toEqual(expected);
  });

  it('CloudFormation (query form) and EC2 RunInstances (ec2 form) through identification', () => {
    const form = (service: string, body: string) =>
      identify({ signingService: service, method: 'POST', rawPath: '/', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: Buffer.from(body) });
    const cfn = form('cloudformation', `Action=CreateStack&Version=2010-05-15&StackName=s&RoleARN=${encodeURIComponent(role('cfn'))}`);
    expect(cfn.operation).toBe('CreateStack');
    expect(passed(cfn)).toEqual([role('cfn')]);
    const ec2 = form('ec2', 'Action=RunInstances&Version=2016-11-15&ImageId=ami-1&MinCount=1&MaxCount=1&IamInstanceProfile.Arn=arn%3Aaws%3Aiam%3A%3A123456789012%3Ainstance-profile%2Fp');
    expect(ec2.operation).toBe('RunInstances');
    expect(pairs(ec2).map((p) => p.action)).toContain('ec2:RunInstances');
    expect(passed(ec2)).toEqual(['*']);
    const plain = form('ec2', 'Action=RunInstances&Version=2016-11-15&ImageId=ami-1&MinCount=1&MaxCount=1');
    expect(passed(plain)).toEqual([]);
  });

  it('Lambda CreateFunction reads the role from the REST-JSON body; without it, any role', () => {
    const c = identify({ signingService: 'lambda', method: 'POST', rawPath: '/2015-03-31/functions' });
    expect(c.operation).toBe('CreateFunction');
    expect(bodyNeededForAuthorization(c)).toBe(true);
    expect(passed(c, Buffer.from(JSON.stringify({ FunctionName: 'f', Role: role('lambda-exec') })))).toEqual([role('lambda-exec')]);
    expect(passed(c)).toEqual(['*']);
    const update = identify({ signingService: 'lambda', method: 'PUT', rawPath: '/2015-03-31/functions/f/configuration' });
    expect(update.operation).toBe('UpdateFunctionConfiguration');
    expect(passed(update, Buffer.from('{"Timeout":3}'))).toEqual([]);
  });
});

describe('everything else', () => {
  it('uses the operation name on each resource', () => {
    const call = json('dynamodb', 'DynamoDB_20120810.DeleteTable', { TableName: 'orders' });
    expect(pairs(call)).toEqual([{ action: 'dynamodb:DeleteTable', resource: T('orders') }]);
  });

  it('iamActionsForOperation lists the mapped actions, PassRole included', () => {
    expect(iamActionsForOperation('s3', 'ListObjectsV2')).toEqual(['s3:ListBucket']);
    expect(iamActionsForOperation('s3', 'GetObject')).toEqual(['s3:GetObject']);
    expect(iamActionsForOperation('lambda', 'CreateFunction')).toEqual(['lambda:CreateFunction', 'iam:PassRole']);
  });
});

describe('S3 writes whose headers set more than the object', () => {
  const put = identify({ signingService: 's3', method: 'PUT', rawPath: '/bkt/k.txt' });
  const object = 'arn:aws:s3:::bkt/k.txt';

  it.each([
    [{ 'x-amz-acl': 'public-read' }, ['s3:PutObject', 's3:PutObjectAcl']],
    [{ 'x-amz-grant-read': 'uri="http://acs.amazonaws.com/groups/global/AllUsers"' }, ['s3:PutObject', 's3:PutObjectAcl']],
    [{ 'x-amz-tagging': 'a=b' }, ['s3:PutObject', 's3:PutObjectTagging']],
    [{ 'x-amz-object-lock-mode': 'GOVERNANCE', 'x-amz-object-lock-retain-until-date': '2030-01-01T00:00:00Z' }, ['s3:PutObject', 's3:PutObjectRetention']],
    [{ 'x-amz-object-lock-legal-hold': 'ON' }, ['s3:PutObject', 's3:PutObjectLegalHold']],
    [{ 'content-type': 'text/plain' }, ['s3:PutObject']],
  ])('PutObject with %j needs %j', (headers, actions) => {
    expect(pairs(put, undefined, headers)).toEqual(actions.map((action) => ({ action, resource: object })));
  });

  it('CreateBucket with an ACL needs s3:PutBucketAcl on the bucket', () => {
    const create = identify({ signingService: 's3', method: 'PUT', rawPath: '/newbkt' });
    expect(pairs(create, undefined, { 'x-amz-acl': 'public-read' })).toEqual([
      { action: 's3:CreateBucket', resource: 'arn:aws:s3:::newbkt' },
      { action: 's3:PutBucketAcl', resource: 'arn:aws:s3:::newbkt' },
    ]);
  });
});
