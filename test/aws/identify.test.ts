import { describe, expect, it } from 'vitest';
import { bodyNeededForIdentify, errorProtocolFor, errorProtocolOf, identifyRequest, virtualHostBucket, type IdentifyInput } from '../../src/aws/identify.js';
import { loadServiceIndex } from '../../src/aws/models.js';

const ACCOUNT = '123456789012';

function req(partial: Partial<IdentifyInput> & Pick<IdentifyInput, 'signingService' | 'method' | 'rawPath'>): IdentifyInput {
  return { host: '127.0.0.1:8443', headers: {}, region: 'us-east-1', accountId: ACCOUNT, ...partial };
}

function json(target: string, body: unknown, version = '1.1'): Pick<IdentifyInput, 'headers' | 'body' | 'method' | 'rawPath'> {
  return {
    method: 'POST',
    rawPath: '/',
    headers: { 'content-type': `application/x-amz-json-${version}`, 'x-amz-target': target },
    body: Buffer.from(JSON.stringify(body)),
  };
}

function form(body: string): Pick<IdentifyInput, 'headers' | 'body' | 'method' | 'rawPath'> {
  return {
    method: 'POST',
    rawPath: '/',
    headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' },
    body: Buffer.from(body),
  };
}

describe('S3 REST operations (path style)', () => {
  const cases: { method: string; path: string; headers?: Record<string, string>; op: string; resource: string }[] = [
    { method: 'GET', path: '/', op: 'ListBuckets', resource: '*' },
    { method: 'GET', path: '/bkt?list-type=2', op: 'ListObjectsV2', resource: 'arn:aws:s3:::bkt' },
    { method: 'GET', path: '/bkt?list-type=2&prefix=dir%2F&encoding-type=url', op: 'ListObjectsV2', resource: 'arn:aws:s3:::bkt' },
    { method: 'GET', path: '/bkt', op: 'ListObjects', resource: 'arn:aws:s3:::bkt' },
    { method: 'GET', path: '/bkt/', op: 'ListObjects', resource: 'arn:aws:s3:::bkt' },
    { method: 'GET', path: '/bkt?list-type=1', op: 'ListObjects', resource: 'arn:aws:s3:::bkt' },
    { method: 'GET', path: '/bkt/k.txt', op: 'GetObject', resource: 'arn:aws:s3:::bkt/k.txt' },
    { method: 'GET', path: '/bkt/k.txt?x-id=GetObject', op: 'GetObject', resource: 'arn:aws:s3:::bkt/k.txt' },
    { method: 'HEAD', path: '/bkt/dir/k.txt', op: 'HeadObject', resource: 'arn:aws:s3:::bkt/dir/k.txt' },
    { method: 'PUT', path: '/bkt/k.txt', op: 'PutObject', resource: 'arn:aws:s3:::bkt/k.txt' },
    { method: 'PUT', path: '/bkt/k.txt?x-id=PutObject', op: 'PutObject', resource: 'arn:aws:s3:::bkt/k.txt' },
    { method: 'PUT', path: '/bkt/a%20b%20%C3%BC%2B.txt?x-id=PutObject', op: 'PutObject', resource: 'arn:aws:s3:::bkt/a b ü+.txt' },
    { method: 'PUT', path: '/bkt/dir%2Fsub/k', op: 'PutObject', resource: 'arn:aws:s3:::bkt/dir/sub/k' },
    { method: 'DELETE', path: '/bkt/k.txt', op: 'DeleteObject', resource: 'arn:aws:s3:::bkt/k.txt' },
    { method: 'POST', path: '/bkt?delete', op: 'DeleteObjects', resource: 'arn:aws:s3:::bkt' },
    { method: 'POST', path: '/bkt?delete=', op: 'DeleteObjects', resource: 'arn:aws:s3:::bkt' },
    { method: 'GET', path: '/bkt?tagging', op: 'GetBucketTagging', resource: 'arn:aws:s3:::bkt' },
    { method: 'PUT', path: '/bkt?tagging', op: 'PutBucketTagging', resource: 'arn:aws:s3:::bkt' },
    { method: 'DELETE', path: '/bkt?tagging', op: 'DeleteBucketTagging', resource: 'arn:aws:s3:::bkt' },
    { method: 'GET', path: '/bkt?policy', op: 'GetBucketPolicy', resource: 'arn:aws:s3:::bkt' },
    { method: 'PUT', path: '/bkt?policy', op: 'PutBucketPolicy', resource: 'arn:aws:s3:::bkt' },
    { method: 'GET', path: '/bkt?versions', op: 'ListObjectVersions', resource: 'arn:aws:s3:::bkt' },
    { method: 'GET', path: '/bkt?uploads', op: 'ListMultipartUploads', resource: 'arn:aws:s3:::bkt' },
    { method: 'GET', path: '/bkt?location', op: 'GetBucketLocation', resource: 'arn:aws:s3:::bkt' },
    { method: 'GET', path: '/bkt?lifecycle', op: 'GetBucketLifecycleConfiguration', resource: 'arn:aws:s3:::bkt' },
    { method: 'PUT', path: '/bkt', op: 'CreateBucket', resource: 'arn:aws:s3:::bkt' },
    { method: 'HEAD', path: '/bkt', op: 'HeadBucket', resource: 'arn:aws:s3:::bkt' },
    { method: 'DELETE', path: '/bkt', op: 'DeleteBucket', resource: 'arn:aws:s3:::bkt' },
    { method: 'POST', path: '/bkt/big.bin?uploads', op: 'CreateMultipartUpload', resource: 'arn:aws:s3:::bkt/big.bin' },
    { method: 'POST', path: '/bkt/big.bin?uploads=&x-id=CreateMultipartUpload', op: 'CreateMultipartUpload', resource: 'arn:aws:s3:::bkt/big.bin' },
    { method: 'PUT', path: '/bkt/big.bin?partNumber=2&uploadId=abc', op: 'UploadPart', resource: 'arn:aws:s3:::bkt/big.bin' },
    { method: 'PUT', path: '/bkt/big.bin?uploadId=abc&partNumber=2&x-id=UploadPart', op: 'UploadPart', resource: 'arn:aws:s3:::bkt/big.bin' },
    { method: 'POST', path: '/bkt/big.bin?uploadId=abc', op: 'CompleteMultipartUpload', resource: 'arn:aws:s3:::bkt/big.bin' },
    { method: 'DELETE', path: '/bkt/big.bin?uploadId=abc', op: 'AbortMultipartUpload', resource: 'arn:aws:s3:::bkt/big.bin' },
    { method: 'GET', path: '/bkt/big.bin?uploadId=abc', op: 'ListParts', resource: 'arn:aws:s3:::bkt/big.bin' },
    { method: 'GET', path: '/bkt/k?acl', op: 'GetObjectAcl', resource: 'arn:aws:s3:::bkt/k' },
    { method: 'PUT', path: '/bkt/k?acl', op: 'PutObjectAcl', resource: 'arn:aws:s3:::bkt/k' },
    { method: 'GET', path: '/bkt?acl', op: 'GetBucketAcl', resource: 'arn:aws:s3:::bkt' },
    { method: 'GET', path: '/bkt/k?tagging', op: 'GetObjectTagging', resource: 'arn:aws:s3:::bkt/k' },
    { method: 'PUT', path: '/bkt/k?tagging', op: 'PutObjectTagging', resource: 'arn:aws:s3:::bkt/k' },
    { method: 'POST', path: '/bkt/k?restore', op: 'RestoreObject', resource: 'arn:aws:s3:::bkt/k' },
    { method: 'POST', path: '/bkt/k?select&select-type=2', op: 'SelectObjectContent', resource: 'arn:aws:s3:::bkt/k' },
    // select-type missing: not SelectObjectContent; a POST to an object with no subresource is no S3 operation
    { method: 'POST', path: '/bkt/k?select', op: 'Unknown', resource: '*' },
    { method: 'GET', path: '/bkt?analytics', op: 'ListBucketAnalyticsConfigurations', resource: 'arn:aws:s3:::bkt' },
    { method: 'GET', path: '/bkt?analytics&id=a1', op: 'GetBucketAnalyticsConfiguration', resource: 'arn:aws:s3:::bkt' },
    // presigned URL: X-Amz-* query parameters do not change the operation
    {
      method: 'GET',
      path: '/bkt/k.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKID%2F20250101%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20250101T000000Z&X-Amz-Expires=900&X-Amz-SignedHeaders=host&X-Amz-Signature=abc&x-id=GetObject',
      op: 'GetObject',
      resource: 'arn:aws:s3:::bkt/k.txt',
    },
    {
      method: 'PUT',
      path: '/bkt/k.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=abc&partNumber=1&uploadId=u',
      op: 'UploadPart',
      resource: 'arn:aws:s3:::bkt/k.txt',
    },
    { method: 'PATCH', path: '/bkt/k', op: 'Unknown', resource: '*' },
    { method: 'POST', path: '/bkt', op: 'Unknown', resource: '*' },
  ];
  it.each(cases)('$method $path → $op', ({ method, path, headers, op, resource }) => {
    const c = identifyRequest(req({ signingService: 's3', method, rawPath: path, headers: headers ?? {} }));
    expect(c.operation).toBe(op);
    expect(c.action).toBe(`s3:${op}`);
    expect(c.service).toBe('s3');
    expect(c.protocol).toBe('rest-xml');
    expect(c.resource).toBe(resource);
    expect(c.region).toBe('us-east-1');
  });

  it('CopyObject vs PutObject by x-amz-copy-source, with the source as a second resource', () => {
    const put = identifyRequest(req({ signingService: 's3', method: 'PUT', rawPath: '/dst/new.txt' }));
    expect(put.operation).toBe('PutObject');
    const copy = identifyRequest(
      req({ signingService: 's3', method: 'PUT', rawPath: '/dst/new.txt', headers: { 'x-amz-copy-source': 'src/dir/old%20one.txt?versionId=3' } }),
    );
    expect(copy.operation).toBe('CopyObject');
    expect(copy.resources).toEqual(['arn:aws:s3:::dst/new.txt', 'arn:aws:s3:::src/dir/old one.txt']);
    const partCopy = identifyRequest(
      req({
        signingService: 's3',
        method: 'PUT',
        rawPath: '/dst/new.txt?partNumber=1&uploadId=u',
        headers: { 'X-Amz-Copy-Source': '/src/old.txt' },
      }),
    );
    expect(partCopy.operation).toBe('UploadPartCopy');
    expect(partCopy.resources).toEqual(['arn:aws:s3:::dst/new.txt', 'arn:aws:s3:::src/old.txt']);
  });

  it('sets bucket, key, pathStyle and params (presign and x-id left out)', () => {
    const c = identifyRequest(
      req({ signingService: 's3', method: 'GET', rawPath: '/bkt/a%2Bb?versionId=7&x-id=GetObject&X-Amz-Signature=ff' }),
    );
    expect(c).toMatchObject({ bucket: 'bkt', key: 'a+b', pathStyle: true, serviceId: 's3', endpointPrefix: 's3' });
    expect(c.params).toEqual({ versionId: '7', Bucket: 'bkt', Key: 'a+b' });
  });

  it('a malformed percent-encoding is Unknown, never a throw', () => {
    const c = identifyRequest(req({ signingService: 's3', method: 'GET', rawPath: '/bkt/%E0%A4%A' }));
    expect(c.operation).toBe('Unknown');
    expect(c.resource).toBe('*');
  });

  it('partition follows the region', () => {
    const cn = identifyRequest(req({ signingService: 's3', method: 'GET', rawPath: '/bkt/k', region: 'cn-north-1' }));
    expect(cn.resource).toBe('arn:aws-cn:s3:::bkt/k');
    const gov = identifyRequest(req({ signingService: 's3', method: 'GET', rawPath: '/bkt/k', region: 'us-gov-west-1' }));
    expect(gov.resource).toBe('arn:aws-us-gov:s3:::bkt/k');
  });
});

describe('S3 virtual-host style', () => {
  const cases: { host: string; path: string; op: string; resource: string; gatewayHosts?: string[] }[] = [
    { host: 'bkt.s3.us-east-1.amazonaws.com', path: '/k.txt', op: 'GetObject', resource: 'arn:aws:s3:::bkt/k.txt' },
    { host: 'bkt.s3.amazonaws.com', path: '/?list-type=2', op: 'ListObjectsV2', resource: 'arn:aws:s3:::bkt' },
    { host: 'my.dotted.bkt.s3.eu-west-1.amazonaws.com:443', path: '/', op: 'ListObjects', resource: 'arn:aws:s3:::my.dotted.bkt' },
    { host: 'bkt.s3-us-west-2.amazonaws.com', path: '/a/b', op: 'GetObject', resource: 'arn:aws:s3:::bkt/a/b' },
    { host: 'bkt.s3.dualstack.us-east-1.amazonaws.com', path: '/a?tagging', op: 'GetObjectTagging', resource: 'arn:aws:s3:::bkt/a' },
    { host: 's3.us-east-1.amazonaws.com', path: '/bkt/k', op: 'GetObject', resource: 'arn:aws:s3:::bkt/k' },
    { host: 's3.amazonaws.com', path: '/', op: 'ListBuckets', resource: '*' },
    { host: 'bkt.gw.example.com:8443', path: '/k', op: 'GetObject', resource: 'arn:aws:s3:::bkt/k', gatewayHosts: ['gw.example.com'] },
    { host: 'gw.example.com:8443', path: '/bkt/k', op: 'GetObject', resource: 'arn:aws:s3:::bkt/k', gatewayHosts: ['gw.example.com'] },
  ];
  it.each(cases)('$host $path → $op', ({ host, path, op, resource, gatewayHosts }) => {
    const c = identifyRequest(req({ signingService: 's3', method: 'GET', host, rawPath: path, ...(gatewayHosts ? { gatewayHosts } : {}) }));
    expect(c.operation).toBe(op);
    expect(c.resource).toBe(resource);
  });

  it('marks virtual-host requests as not path style', () => {
    const c = identifyRequest(req({ signingService: 's3', method: 'PUT', host: 'bkt.s3.us-east-1.amazonaws.com', rawPath: '/k' }));
    expect(c.pathStyle).toBe(false);
    expect(c.bucket).toBe('bkt');
  });

  it('virtualHostBucket', () => {
    expect(virtualHostBucket('bkt.s3.amazonaws.com')).toBe('bkt');
    expect(virtualHostBucket('s3.eu-west-1.amazonaws.com')).toBeUndefined();
    expect(virtualHostBucket('dynamodb.us-east-1.amazonaws.com')).toBeUndefined();
    expect(virtualHostBucket('111122223333.s3-control.us-east-1.amazonaws.com')).toBeUndefined();
    expect(virtualHostBucket('127.0.0.1:9000', ['127.0.0.1'])).toBeUndefined();
    expect(virtualHostBucket('[::1]:9000', ['::1'])).toBeUndefined();
  });
});

describe('JSON protocols', () => {
  const table = `arn:aws:dynamodb:us-east-1:${ACCOUNT}:table`;
  const cases: { name: string; signing: string; target: string; body: unknown; op: string; service: string; resources: string[]; version?: string }[] = [
    { name: 'DynamoDB PutItem', signing: 'dynamodb', target: 'DynamoDB_20120810.PutItem', body: { TableName: 'orders', Item: {} }, op: 'PutItem', service: 'dynamodb', resources: [`${table}/orders`], version: '1.0' },
    { name: 'DynamoDB GetItem', signing: 'dynamodb', target: 'DynamoDB_20120810.GetItem', body: { TableName: 'orders', Key: {} }, op: 'GetItem', service: 'dynamodb', resources: [`${table}/orders`] },
    { name: 'DynamoDB Query', signing: 'dynamodb', target: 'DynamoDB_20120810.Query', body: { TableName: 'orders' }, op: 'Query', service: 'dynamodb', resources: [`${table}/orders`] },
    { name: 'DynamoDB Query on an index', signing: 'dynamodb', target: 'DynamoDB_20120810.Query', body: { TableName: 'orders', IndexName: 'byDate' }, op: 'Query', service: 'dynamodb', resources: [`${table}/orders/index/byDate`] },
    { name: 'DynamoDB DeleteTable', signing: 'dynamodb', target: 'DynamoDB_20120810.DeleteTable', body: { TableName: 'orders' }, op: 'DeleteTable', service: 'dynamodb', resources: [`${table}/orders`] },
    { name: 'DynamoDB table given as ARN', signing: 'dynamodb', target: 'DynamoDB_20120810.GetItem', body: { TableName: 'arn:aws:dynamodb:eu-west-1:999999999999:table/x' }, op: 'GetItem', service: 'dynamodb', resources: ['arn:aws:dynamodb:eu-west-1:999999999999:table/x'] },
    {
      name: 'DynamoDB BatchWriteItem names every table',
      signing: 'dynamodb',
      target: 'DynamoDB_20120810.BatchWriteItem',
      body: { RequestItems: { orders: [], audit: [] } },
      op: 'BatchWriteItem',
      service: 'dynamodb',
      resources: [`${table}/orders`, `${table}/audit`],
    },
    {
      name: 'DynamoDB TransactWriteItems names every table',
      signing: 'dynamodb',
      target: 'DynamoDB_20120810.TransactWriteItems',
      body: { TransactItems: [{ Put: { TableName: 'a' } }, { Delete: { TableName: 'b' } }, { ConditionCheck: { TableName: 'a' } }] },
      op: 'TransactWriteItems',
      service: 'dynamodb',
      resources: [`${table}/a`, `${table}/b`],
    },
    { name: 'DynamoDB ListTables', signing: 'dynamodb', target: 'DynamoDB_20120810.ListTables', body: {}, op: 'ListTables', service: 'dynamodb', resources: ['*'] },
    {
      name: 'DynamoDB Streams (same signing name, other target prefix)',
      signing: 'dynamodb',
      target: 'DynamoDBStreams_20120810.GetRecords',
      body: { ShardIterator: 'x' },
      op: 'GetRecords',
      service: 'dynamodb',
      resources: ['*'],
    },
    {
      name: 'Secrets Manager GetSecretValue by name',
      signing: 'secretsmanager',
      target: 'secretsmanager.GetSecretValue',
      body: { SecretId: 'prod/db' },
      op: 'GetSecretValue',
      service: 'secretsmanager',
      resources: [`arn:aws:secretsmanager:us-east-1:${ACCOUNT}:secret:prod/db`],
    },
    {
      name: 'Secrets Manager GetSecretValue by ARN',
      signing: 'secretsmanager',
      target: 'secretsmanager.GetSecretValue',
      body: { SecretId: 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:prod/db-AbCdEf' },
      op: 'GetSecretValue',
      service: 'secretsmanager',
      resources: ['arn:aws:secretsmanager:eu-west-1:111122223333:secret:prod/db-AbCdEf'],
    },
    {
      name: 'Secrets Manager CreateSecret',
      signing: 'secretsmanager',
      target: 'secretsmanager.CreateSecret',
      body: { Name: 'new', SecretString: 'x' },
      op: 'CreateSecret',
      service: 'secretsmanager',
      resources: [`arn:aws:secretsmanager:us-east-1:${ACCOUNT}:secret:new`],
    },
    { name: 'SSM GetParameter with leading slash', signing: 'ssm', target: 'AmazonSSM.GetParameter', body: { Name: '/app/db/password', WithDecryption: true }, op: 'GetParameter', service: 'ssm', resources: [`arn:aws:ssm:us-east-1:${ACCOUNT}:parameter/app/db/password`] },
    { name: 'SSM GetParameter without slash, with version selector', signing: 'ssm', target: 'AmazonSSM.GetParameter', body: { Name: 'plain:3' }, op: 'GetParameter', service: 'ssm', resources: [`arn:aws:ssm:us-east-1:${ACCOUNT}:parameter/plain`] },
    { name: 'SSM GetParameters', signing: 'ssm', target: 'AmazonSSM.GetParameters', body: { Names: ['/a', 'b'] }, op: 'GetParameters', service: 'ssm', resources: [`arn:aws:ssm:us-east-1:${ACCOUNT}:parameter/a`, `arn:aws:ssm:us-east-1:${ACCOUNT}:parameter/b`] },
    { name: 'SSM GetParametersByPath', signing: 'ssm', target: 'AmazonSSM.GetParametersByPath', body: { Path: '/app/' }, op: 'GetParametersByPath', service: 'ssm', resources: [`arn:aws:ssm:us-east-1:${ACCOUNT}:parameter/app/`] },
    { name: 'KMS Decrypt with KeyId', signing: 'kms', target: 'TrentService.Decrypt', body: { CiphertextBlob: 'AAA', KeyId: '1234abcd-12ab-34cd-56ef-1234567890ab' }, op: 'Decrypt', service: 'kms', resources: [`arn:aws:kms:us-east-1:${ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab`] },
    { name: 'KMS Decrypt without KeyId', signing: 'kms', target: 'TrentService.Decrypt', body: { CiphertextBlob: 'AAA' }, op: 'Decrypt', service: 'kms', resources: ['*'] },
    { name: 'KMS Encrypt by alias', signing: 'kms', target: 'TrentService.Encrypt', body: { KeyId: 'alias/app', Plaintext: 'eA==' }, op: 'Encrypt', service: 'kms', resources: [`arn:aws:kms:us-east-1:${ACCOUNT}:alias/app`] },
    { name: 'KMS key ARN kept', signing: 'kms', target: 'TrentService.DescribeKey', body: { KeyId: 'arn:aws:kms:eu-west-1:111122223333:key/k' }, op: 'DescribeKey', service: 'kms', resources: ['arn:aws:kms:eu-west-1:111122223333:key/k'] },
    {
      name: 'SQS SendMessage (JSON protocol)',
      signing: 'sqs',
      target: 'AmazonSQS.SendMessage',
      body: { QueueUrl: 'https://sqs.us-east-1.amazonaws.com/111122223333/jobs', MessageBody: 'hi' },
      op: 'SendMessage',
      service: 'sqs',
      resources: ['arn:aws:sqs:us-east-1:111122223333:jobs'],
      version: '1.0',
    },
    { name: 'SQS GetQueueUrl', signing: 'sqs', target: 'AmazonSQS.GetQueueUrl', body: { QueueName: 'jobs' }, op: 'GetQueueUrl', service: 'sqs', resources: [`arn:aws:sqs:us-east-1:${ACCOUNT}:jobs`] },
    { name: 'CloudWatch Logs (generic: no ARN)', signing: 'logs', target: 'Logs_20140328.PutLogEvents', body: { logGroupName: 'g', logStreamName: 's', logEvents: [] }, op: 'PutLogEvents', service: 'logs', resources: ['*'] },
    { name: 'Step Functions StartExecution (generic required *Arn)', signing: 'states', target: 'AWSStepFunctions.StartExecution', body: { stateMachineArn: 'arn:aws:states:us-east-1:1:stateMachine:m' }, op: 'StartExecution', service: 'states', resources: ['arn:aws:states:us-east-1:1:stateMachine:m'] },
  ];
  it.each(cases)('$name', ({ signing, target, body, op, service, resources, version }) => {
    const c = identifyRequest(req({ signingService: signing, ...json(target, body, version) }));
    expect(c.operation).toBe(op);
    expect(c.service).toBe(service);
    expect(c.action).toBe(`${service}:${op}`);
    expect(c.protocol).toBe('json');
    expect(c.resources).toEqual(resources);
    expect(c.resource).toBe(resources[0]);
    expect(c.params).toEqual(body);
  });

  it('uses * for the account when no accountId is given', () => {
    const c = identifyRequest({ ...req({ signingService: 'dynamodb', ...json('DynamoDB_20120810.GetItem', { TableName: 't' }) }), accountId: undefined });
    expect(c.resource).toBe('arn:aws:dynamodb:us-east-1:*:table/t');
  });

  const unknown: { name: string; signing: string; target: string; body?: string; service: string }[] = [
    { name: 'operation not in the model', signing: 'dynamodb', target: 'DynamoDB_20120810.DropEverything', service: 'dynamodb' },
    { name: 'target of another service than the signing one', signing: 'dynamodb', target: 'TrentService.Decrypt', service: 'dynamodb' },
    { name: 'target without a dot', signing: 'kms', target: 'Decrypt', service: 'kms' },
    { name: 'unknown signing service', signing: 'nosuchservice', target: 'X.Y', service: 'nosuchservice' },
  ];
  it.each(unknown)('Unknown: $name', ({ signing, target, service }) => {
    const c = identifyRequest(req({ signingService: signing, ...json(target, { TableName: 't' }) }));
    expect(c.operation).toBe('Unknown');
    expect(c.action).toBe(`${service}:Unknown`);
    expect(c.resource).toBe('*');
    expect(c.resources).toEqual(['*']);
  });

  it('an unparseable JSON body still names the operation, with no params and resource *', () => {
    const c = identifyRequest(
      req({ signingService: 'secretsmanager', ...json('secretsmanager.GetSecretValue', {}), body: Buffer.from('{not json') }),
    );
    expect(c.operation).toBe('GetSecretValue');
    expect(c.params).toBeUndefined();
    expect(c.resource).toBe('*');
  });

  it('a JSON array body is not params', () => {
    const c = identifyRequest(req({ signingService: 'kms', ...json('TrentService.ListKeys', {}), body: Buffer.from('[1]') }));
    expect(c.operation).toBe('ListKeys');
    expect(c.params).toBeUndefined();
  });

  it('reads a repeated or differently-cased X-Amz-Target header', () => {
    const c = identifyRequest(
      req({
        signingService: 'dynamodb',
        method: 'POST',
        rawPath: '/',
        headers: { 'X-Amz-Target': ['DynamoDB_20120810.Scan'] },
        body: Buffer.from('{"TableName":"t"}'),
      }),
    );
    expect(c.operation).toBe('Scan');
  });
});

describe('query protocols', () => {
  it('STS AssumeRole from a form body (resource = the role ARN)', () => {
    const c = identifyRequest(
      req({
        signingService: 'sts',
        ...form('Action=AssumeRole&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A111122223333%3Arole%2Fdeploy&RoleSessionName=s'),
      }),
    );
    expect(c).toMatchObject({ service: 'sts', operation: 'AssumeRole', protocol: 'query', resource: 'arn:aws:iam::111122223333:role/deploy' });
    expect(c.params).toMatchObject({ Action: 'AssumeRole', RoleSessionName: 's' });
  });

  it('STS GetCallerIdentity from the query string (GET)', () => {
    const c = identifyRequest(req({ signingService: 'sts', method: 'GET', rawPath: '/?Action=GetCallerIdentity&Version=2011-06-15' }));
    expect(c).toMatchObject({ action: 'sts:GetCallerIdentity', protocol: 'query', resource: '*' });
  });

  it('SQS SendMessage in its legacy query form', () => {
    const c = identifyRequest(
      req({
        signingService: 'sqs',
        ...form('Action=SendMessage&Version=2012-11-05&QueueUrl=https%3A%2F%2Fsqs.us-east-1.amazonaws.com%2F111122223333%2Fjobs&MessageBody=hi'),
      }),
    );
    expect(c).toMatchObject({ action: 'sqs:SendMessage', protocol: 'query', resource: 'arn:aws:sqs:us-east-1:111122223333:jobs' });
  });

  it('SQS query form with a path-style queue URL in the request path is still the body QueueUrl', () => {
    const c = identifyRequest(
      req({
        signingService: 'sqs',
        ...form('Action=ReceiveMessage&QueueUrl=http%3A%2F%2Flocalhost%3A4566%2F000000000000%2Fq'),
        rawPath: '/000000000000/q',
      }),
    );
    expect(c).toMatchObject({ action: 'sqs:ReceiveMessage', resource: 'arn:aws:sqs:us-east-1:000000000000:q' });
  });

  it('SNS Publish to a topic', () => {
    const c = identifyRequest(
      req({ signingService: 'sns', ...form('Action=Publish&TopicArn=arn%3Aaws%3Asns%3Aus-east-1%3A111122223333%3Aalerts&Message=hi') }),
    );
    expect(c).toMatchObject({ action: 'sns:Publish', resource: 'arn:aws:sns:us-east-1:111122223333:alerts' });
  });

  it('SNS Publish to a phone number has no resource', () => {
    const c = identifyRequest(req({ signingService: 'sns', ...form('Action=Publish&PhoneNumber=%2B15555550100&Message=hi') }));
    expect(c).toMatchObject({ action: 'sns:Publish', resource: '*' });
  });

  it('SNS CreateTopic', () => {
    const c = identifyRequest(req({ signingService: 'sns', ...form('Action=CreateTopic&Name=alerts') }));
    expect(c.resource).toBe(`arn:aws:sns:us-east-1:${ACCOUNT}:alerts`);
  });

  it('IAM (global query service)', () => {
    const c = identifyRequest(req({ signingService: 'iam', ...form('Action=ListUsers&Version=2010-05-08') }));
    expect(c).toMatchObject({ action: 'iam:ListUsers', protocol: 'query' });
  });

  it('EC2 protocol', () => {
    const c = identifyRequest(req({ signingService: 'ec2', ...form('Action=DescribeInstances&Version=2016-11-15') }));
    expect(c).toMatchObject({ action: 'ec2:DescribeInstances', protocol: 'ec2' });
  });

  it('CloudWatch (signing name monitoring) maps to the cloudwatch IAM prefix', () => {
    const c = identifyRequest(req({ signingService: 'monitoring', ...form('Action=PutMetricData&Namespace=x') }));
    expect(c.action).toBe('cloudwatch:PutMetricData');
  });

  it('Action in body and query string that disagree is Unknown', () => {
    const c = identifyRequest(
      req({ signingService: 'sts', ...form('Action=AssumeRole&RoleArn=arn%3Aaws%3Aiam%3A%3A1%3Arole%2Fr'), rawPath: '/?Action=GetCallerIdentity' }),
    );
    expect(c.operation).toBe('Unknown');
    expect(c.resource).toBe('*');
  });

  it('an Action the service does not have is Unknown', () => {
    const c = identifyRequest(req({ signingService: 'sts', ...form('Action=DeleteEverything') }));
    expect(c).toMatchObject({ action: 'sts:Unknown', protocol: 'query', resource: '*' });
  });

  it('flattened query lists (SSM-like names) are read', () => {
    const c = identifyRequest(req({ signingService: 'sns', ...form('Action=ListTopics') }));
    expect(c.operation).toBe('ListTopics');
  });
});

describe('CloudWatch in each protocol its model lists', () => {
  it('JSON 1.0 (botocore 1.43, JS v3)', () => {
    const c = identifyRequest(
      req({ signingService: 'monitoring', ...json('GraniteServiceVersion20100801.DeleteAlarms', { AlarmNames: ['a'] }, '1.0') }),
    );
    expect(c).toMatchObject({ action: 'cloudwatch:DeleteAlarms', protocol: 'json', params: { AlarmNames: ['a'] } });
  });

  it('query (aws CLI v1)', () => {
    const c = identifyRequest(req({ signingService: 'monitoring', ...form('Action=ListMetrics&Version=2010-08-01') }));
    expect(c).toMatchObject({ action: 'cloudwatch:ListMetrics', protocol: 'query' });
  });

  it('CBOR reads its params: blobs as base64, tag-1 timestamps as numbers', () => {
    // {"AlarmNames": ["a"], "Blob": h'0102', "T": 1(1700000000)}
    const body = Buffer.from('a3' + '6a416c61726d4e616d6573' + '816161' + '64426c6f62' + '420102' + '6154' + 'c11a6553f100', 'hex');
    const c = identifyRequest(
      req({
        signingService: 'monitoring',
        method: 'POST',
        rawPath: '/service/GraniteServiceVersion20100801/operation/DeleteAlarms',
        headers: { 'smithy-protocol': 'rpc-v2-cbor', 'content-type': 'application/cbor' },
        body,
      }),
    );
    expect(c).toMatchObject({ action: 'cloudwatch:DeleteAlarms', protocol: 'rpc-v2-cbor' });
    expect(c.params).toEqual({ AlarmNames: ['a'], Blob: 'AQI=', T: 1700000000 });
  });

  it('a CBOR body with a repeated map key is not read (parsers differ on which wins)', () => {
    const body = Buffer.from('a2' + '6154' + '01' + '6154' + '02', 'hex');
    const c = identifyRequest(
      req({
        signingService: 'monitoring',
        method: 'POST',
        rawPath: '/service/GraniteServiceVersion20100801/operation/ListMetrics',
        headers: { 'smithy-protocol': 'rpc-v2-cbor' },
        body,
      }),
    );
    expect(c.operation).toBe('ListMetrics');
    expect(c.params).toBeUndefined();
  });

  it('the CBOR path must name the service as its model does', () => {
    const c = identifyRequest(
      req({
        signingService: 'monitoring',
        method: 'POST',
        rawPath: '/service/DynamoDB_20120810/operation/ListMetrics',
        headers: { 'smithy-protocol': 'rpc-v2-cbor' },
        body: Buffer.from([0xa0]),
      }),
    );
    expect(c.action).toBe('cloudwatch:Unknown');
  });

  it('names the operation from the path', () => {
    const c = identifyRequest(
      req({
        signingService: 'monitoring',
        method: 'POST',
        rawPath: '/service/GraniteServiceVersion20100801/operation/GetMetricData',
        headers: { 'smithy-protocol': 'rpc-v2-cbor', 'content-type': 'application/cbor' },
        body: Buffer.from([0xa0]),
      }),
    );
    expect(c).toMatchObject({ action: 'cloudwatch:GetMetricData', protocol: 'rpc-v2-cbor', resource: '*' });
  });
  it('an unknown CBOR operation is Unknown', () => {
    const c = identifyRequest(
      req({
        signingService: 'monitoring',
        method: 'POST',
        rawPath: '/service/X/operation/Nope',
        headers: { 'smithy-protocol': 'rpc-v2-cbor' },
      }),
    );
    expect(c.action).toBe('cloudwatch:Unknown');
  });
});

describe('other REST services', () => {
  const fn = `arn:aws:lambda:us-east-1:${ACCOUNT}:function`;
  const account = { 'x-amz-account-id': '111122223333' };
  const cases: { name: string; signing: string; method: string; path: string; host?: string; headers?: Record<string, string>; action: string; resource: string }[] = [
    { name: 'Lambda Invoke', signing: 'lambda', method: 'POST', path: '/2015-03-31/functions/my-fn/invocations', action: 'lambda:Invoke', resource: `${fn}:my-fn` },
    { name: 'Lambda Invoke with Qualifier', signing: 'lambda', method: 'POST', path: '/2015-03-31/functions/my-fn/invocations?Qualifier=live', action: 'lambda:Invoke', resource: `${fn}:my-fn:live` },
    { name: 'Lambda Invoke by ARN (encoded)', signing: 'lambda', method: 'POST', path: '/2015-03-31/functions/arn%3Aaws%3Alambda%3Aeu-west-1%3A111122223333%3Afunction%3Af/invocations', action: 'lambda:Invoke', resource: 'arn:aws:lambda:eu-west-1:111122223333:function:f' },
    { name: 'Lambda Invoke by partial ARN', signing: 'lambda', method: 'POST', path: '/2015-03-31/functions/111122223333:function:f:2/invocations', action: 'lambda:Invoke', resource: 'arn:aws:lambda:us-east-1:111122223333:function:f:2' },
    { name: 'Lambda GetFunction', signing: 'lambda', method: 'GET', path: '/2015-03-31/functions/my-fn', action: 'lambda:GetFunction', resource: `${fn}:my-fn` },
    { name: 'Lambda ListFunctions', signing: 'lambda', method: 'GET', path: '/2015-03-31/functions/', action: 'lambda:ListFunctions', resource: '*' },
    { name: 'Lambda ListFunctions as the SDKs send it', signing: 'lambda', method: 'GET', path: '/2015-03-31/functions', action: 'lambda:ListFunctions', resource: '*' },
    { name: 'Lambda ListFunctions paged', signing: 'lambda', method: 'GET', path: '/2015-03-31/functions?MaxItems=5', action: 'lambda:ListFunctions', resource: '*' },
    { name: 'S3 Control (signing name s3, literal path beats /{Bucket}/{Key+})', signing: 's3', method: 'GET', path: '/v20180820/configuration/publicAccessBlock', headers: account, action: 's3:GetPublicAccessBlock', resource: '*' },
    { name: 'S3 Control by host', signing: 's3', method: 'GET', path: '/v20180820/accesspoint', host: '111122223333.s3-control.us-east-1.amazonaws.com', headers: account, action: 's3:ListAccessPoints', resource: '*' },
    { name: 'S3 Control path without the required account header is not S3 Control', signing: 's3', method: 'GET', path: '/v20180820/configuration/publicAccessBlock', action: 's3:GetObject', resource: 'arn:aws:s3:::v20180820/configuration/publicAccessBlock' },
    { name: 'Bedrock runtime by path', signing: 'bedrock', method: 'POST', path: '/model/anthropic.claude-v2/invoke', action: 'bedrock:InvokeModel', resource: '*' },
  ];
  it.each(cases)('$name', ({ signing, method, path, host, headers, action, resource }) => {
    const c = identifyRequest(req({ signingService: signing, method, rawPath: path, headers: headers ?? {}, ...(host ? { host } : {}) }));
    expect(c.action).toBe(action);
    expect(c.resource).toBe(resource);
  });

  it('picks the service the host names when the signing name is shared', () => {
    const c = identifyRequest(req({ signingService: 'bedrock', method: 'POST', host: 'bedrock-runtime.us-east-1.amazonaws.com', rawPath: '/model/m/invoke' }));
    expect(c.endpointPrefix).toBe('bedrock-runtime');
    expect(c.serviceId).toBe('bedrock-runtime'); // botocore's service name
  });
});

describe('bodyNeededForIdentify', () => {
  const cases: { signing: string; headers: Record<string, string>; want: boolean }[] = [
    { signing: 's3', headers: {}, want: false },
    { signing: 's3', headers: { 'content-type': 'application/x-www-form-urlencoded' }, want: false },
    { signing: 'lambda', headers: { 'content-type': 'application/json' }, want: false },
    { signing: 'dynamodb', headers: { 'x-amz-target': 'DynamoDB_20120810.GetItem' }, want: true },
    { signing: 'secretsmanager', headers: {}, want: true },
    { signing: 'sts', headers: { 'content-type': 'application/x-www-form-urlencoded' }, want: true },
    { signing: 'sqs', headers: { 'content-type': 'application/x-www-form-urlencoded' }, want: true },
    { signing: 'sagemaker', headers: { 'x-amz-target': 'SageMaker.ListModels' }, want: true },
    { signing: 'sagemaker', headers: { 'content-type': 'application/json' }, want: false },
    { signing: 'nosuchservice', headers: {}, want: false },
  ];
  it.each(cases)('$signing $headers → $want', ({ signing, headers, want }) => {
    expect(bodyNeededForIdentify(signing, headers)).toBe(want);
  });

  // DeleteObjects' XML names the keys deleted: buffered so they can be decided one by one.
  it.each([
    ['POST', '/bkt?delete', true],
    ['POST', '/bkt?delete=', true],
    ['POST', '/?delete', true],
    ['POST', '/bkt/?delete&x-id=DeleteObjects', true],
    ['PUT', '/bkt?delete', false],
    ['POST', '/bkt/key?uploads', false],
    ['POST', '/bkt', false],
    ['PUT', '/bkt/key', false],
  ])('s3 %s %s → %s', (method, rawPath, want) => {
    const headers = { 'content-type': 'application/xml' };
    expect(bodyNeededForIdentify('s3', headers, loadServiceIndex(), { method, rawPath })).toBe(want);
    expect(bodyNeededForIdentify('lambda', headers, loadServiceIndex(), { method, rawPath })).toBe(false);
  });

  it('agrees with identify: what it buffers for S3 is DeleteObjects', () => {
    expect(identifyRequest(req({ signingService: 's3', method: 'POST', rawPath: '/bkt?delete' })).operation).toBe('DeleteObjects');
    expect(identifyRequest(req({ signingService: 's3', method: 'POST', host: 'bkt.s3.us-east-1.amazonaws.com', rawPath: '/?delete' })).operation).toBe('DeleteObjects');
  });
});

describe('errorProtocolFor', () => {
  const cases: { signing: string; headers?: Record<string, string>; want: string }[] = [
    { signing: 's3', want: 'rest-xml' },
    { signing: 'dynamodb', want: 'json' },
    { signing: 'secretsmanager', want: 'json' },
    { signing: 'sts', want: 'query' },
    { signing: 'ec2', want: 'query' },
    { signing: 'lambda', want: 'rest-json' },
    { signing: 'sqs', want: 'json' },
    { signing: 'sqs', headers: { 'content-type': 'application/x-www-form-urlencoded' }, want: 'query' },
    { signing: 'sqs', headers: { 'x-amz-target': 'AmazonSQS.SendMessage' }, want: 'json' },
    { signing: 's3', headers: { 'content-type': 'application/x-www-form-urlencoded' }, want: 'rest-xml' },
    { signing: 'nosuchservice', want: 'json' },
  ];
  it.each(cases)('$signing $headers → $want', ({ signing, headers, want }) => {
    expect(errorProtocolFor(signing, headers)).toBe(want);
  });
});

describe('errorProtocolOf', () => {
  it.each([
    ['json', 'json'],
    ['query', 'query'],
    ['ec2', 'query'],
    ['rest-xml', 'rest-xml'],
    ['rest-json', 'rest-json'],
    ['rpc-v2-cbor', 'rpc-v2-cbor'],
  ] as const)('%s → %s', (protocol, want) => {
    expect(errorProtocolOf({ protocol })).toBe(want);
  });
});

describe('generated table', () => {
  it('holds the services the gateway documents, with their protocols', () => {
    const index = loadServiceIndex();
    const expectations: [string, string[], string][] = [
      ['s3', ['rest-xml'], 's3'],
      ['dynamodb', ['json'], 'dynamodb'],
      ['secretsmanager', ['json'], 'secretsmanager'],
      ['sts', ['query'], 'sts'],
      ['ssm', ['json'], 'ssm'],
      ['kms', ['json'], 'kms'],
      ['lambda', ['rest-json'], 'lambda'],
      ['sqs', ['json', 'query'], 'sqs'],
      ['sns', ['query'], 'sns'],
      ['cloudwatch', ['rpc-v2-cbor', 'json', 'query'], 'cloudwatch'],
      ['logs', ['json'], 'logs'],
    ];
    for (const [id, protocols, iam] of expectations) {
      const svc = index.byId.get(id);
      expect(svc, id).toBeDefined();
      expect(svc?.protocols, id).toEqual(protocols);
      expect(svc?.protocol, id).toBe(protocols[0]);
      expect(svc?.iamPrefix).toBe(iam);
    }
    expect(index.source).toMatch(/^botocore@\d+\.\d+\.\d+$/);
    expect(index.byId.get('sqs')?.queryCompatible).toBe(true);
    expect(index.byId.get('s3')?.operations.has('GetBucketLifecycle')).toBe(false); // deprecated alias folded
    expect(index.services.length).toBeGreaterThan(300);
  });
});

describe('errorProtocolFor a CBOR client', () => {
  it('a request with smithy-protocol: rpc-v2-cbor gets CBOR errors, before it is identified', () => {
    expect(errorProtocolFor('monitoring', { 'smithy-protocol': 'rpc-v2-cbor' })).toBe('rpc-v2-cbor');
    expect(errorProtocolFor('monitoring', { 'x-amz-target': 'GraniteServiceVersion20100801.DescribeAlarms' })).toBe('json');
  });
});
