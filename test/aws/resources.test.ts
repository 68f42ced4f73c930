import { describe, expect, it } from 'vitest';
import {
  deriveResources,
  lambdaFunctionArn,
  partitionFor,
  sqsQueueArnFromUrl,
  type ResourceContext,
} from '../../src/aws/resources.js';

function ctx(partial: Partial<ResourceContext> & Pick<ResourceContext, 'serviceId' | 'operation'>): ResourceContext {
  return {
    iamPrefix: partial.serviceId,
    region: 'us-east-1',
    accountId: '123456789012',
    params: {},
    labels: {},
    headers: {},
    required: [],
    ...partial,
  };
}

describe('partitionFor', () => {
  it.each([
    ['us-east-1', 'aws'],
    ['eu-central-2', 'aws'],
    ['cn-north-1', 'aws-cn'],
    ['cn-northwest-1', 'aws-cn'],
    ['us-gov-west-1', 'aws-us-gov'],
    ['us-iso-east-1', 'aws-iso'],
    ['us-isob-east-1', 'aws-iso-b'],
  ])('%s → %s', (region, partition) => {
    expect(partitionFor(region)).toBe(partition);
  });
});

describe('deriveResources', () => {
  const cases: { name: string; c: ResourceContext; want: string[] }[] = [
    { name: 'S3 bucket', c: ctx({ serviceId: 's3', operation: 'ListObjectsV2', bucket: 'b' }), want: ['arn:aws:s3:::b'] },
    { name: 'S3 object', c: ctx({ serviceId: 's3', operation: 'GetObject', bucket: 'b', key: 'k/x' }), want: ['arn:aws:s3:::b/k/x'] },
    { name: 'S3 no bucket', c: ctx({ serviceId: 's3', operation: 'ListBuckets' }), want: [] },
    {
      // `*` is allowed only by a rule for every resource; requestAmbiguity refuses such requests before deciding.
      name: 'S3 CopyObject with an unreadable source names the destination and *',
      c: ctx({ serviceId: 's3', operation: 'CopyObject', bucket: 'b', key: 'k', headers: { 'x-amz-copy-source': '%ZZ' } }),
      want: ['arn:aws:s3:::b/k', '*'],
    },
    {
      name: 'S3 CopyObject from ///private/secret.txt does not become a copy of private/secret.txt',
      c: ctx({ serviceId: 's3', operation: 'CopyObject', bucket: 'b', key: 'k', headers: { 'x-amz-copy-source': '///private/secret.txt' } }),
      want: ['arn:aws:s3:::b/k', '*'],
    },
    {
      name: 'S3 CopyObject: destination first, source second',
      c: ctx({ serviceId: 's3', operation: 'CopyObject', bucket: 'b', key: 'k', headers: { 'X-Amz-Copy-Source': '/reports/a%20b.txt?versionId=3' } }),
      want: ['arn:aws:s3:::b/k', 'arn:aws:s3:::reports/a b.txt'],
    },
    {
      name: 'S3 UploadPartCopy from an access point (China partition for the destination)',
      c: ctx({
        serviceId: 's3',
        operation: 'UploadPartCopy',
        region: 'cn-north-1',
        bucket: 'b',
        key: 'k',
        headers: { 'x-amz-copy-source': 'arn:aws-cn:s3:cn-north-1:123456789012:accesspoint/ap1/object/x' },
      }),
      want: ['arn:aws-cn:s3:::b/k', 'arn:aws-cn:s3:cn-north-1:123456789012:accesspoint/ap1/object/x'],
    },
    {
      name: 'S3 PutObject ignores x-amz-copy-source (not a copy)',
      c: ctx({ serviceId: 's3', operation: 'PutObject', bucket: 'b', key: 'k', headers: { 'x-amz-copy-source': 'other/x' } }),
      want: ['arn:aws:s3:::b/k'],
    },
    {
      name: 'DynamoDB in another account (account from input)',
      c: ctx({ serviceId: 'dynamodb', operation: 'GetItem', accountId: '999999999999', params: { TableName: 't' } }),
      want: ['arn:aws:dynamodb:us-east-1:999999999999:table/t'],
    },
    {
      name: 'DynamoDB BatchGetItem',
      c: ctx({ serviceId: 'dynamodb', operation: 'BatchGetItem', params: { RequestItems: { a: {}, b: {} } } }),
      want: ['arn:aws:dynamodb:us-east-1:123456789012:table/a', 'arn:aws:dynamodb:us-east-1:123456789012:table/b'],
    },
    {
      name: 'DynamoDB TransactGetItems',
      c: ctx({ serviceId: 'dynamodb', operation: 'TransactGetItems', params: { TransactItems: [{ Get: { TableName: 'a' } }, null, 'junk'] } }),
      want: ['arn:aws:dynamodb:us-east-1:123456789012:table/a'],
    },
    {
      name: 'DynamoDB RequestItems that is not an object is ignored',
      c: ctx({ serviceId: 'dynamodb', operation: 'BatchWriteItem', params: { RequestItems: ['a'] } }),
      want: [],
    },
    {
      name: 'DynamoDB TagResource by ARN',
      c: ctx({ serviceId: 'dynamodb', operation: 'TagResource', params: { ResourceArn: 'arn:aws:dynamodb:us-east-1:1:table/x' } }),
      want: ['arn:aws:dynamodb:us-east-1:1:table/x'],
    },
    {
      name: 'Secrets Manager BatchGetSecretValue',
      c: ctx({ serviceId: 'secretsmanager', operation: 'BatchGetSecretValue', params: { SecretIdList: ['a', 'arn:aws:secretsmanager:us-east-1:1:secret:b-123456'] } }),
      want: ['arn:aws:secretsmanager:us-east-1:123456789012:secret:a', 'arn:aws:secretsmanager:us-east-1:1:secret:b-123456'],
    },
    { name: 'Secrets Manager ListSecrets', c: ctx({ serviceId: 'secretsmanager', operation: 'ListSecrets' }), want: [] },
    {
      name: 'SSM parameter ARN with a version selector',
      c: ctx({ serviceId: 'ssm', operation: 'GetParameter', params: { Name: 'arn:aws:ssm:us-east-1:1:parameter/app/x:4' } }),
      want: ['arn:aws:ssm:us-east-1:1:parameter/app/x'],
    },
    {
      name: 'SSM GetParameters in query form (Names.member.N)',
      c: ctx({ serviceId: 'ssm', operation: 'GetParameters', params: { 'Names.member.1': '/a', 'Names.member.2': 'b' } }),
      want: ['arn:aws:ssm:us-east-1:123456789012:parameter/a', 'arn:aws:ssm:us-east-1:123456789012:parameter/b'],
    },
    {
      name: 'KMS CreateAlias names alias and key',
      c: ctx({ serviceId: 'kms', operation: 'CreateAlias', params: { AliasName: 'alias/app', TargetKeyId: 'k-1' } }),
      want: ['arn:aws:kms:us-east-1:123456789012:alias/app', 'arn:aws:kms:us-east-1:123456789012:key/k-1'],
    },
    { name: 'KMS alias ARN kept', c: ctx({ serviceId: 'kms', operation: 'Encrypt', params: { KeyId: 'arn:aws:kms:us-east-1:1:alias/x' } }), want: ['arn:aws:kms:us-east-1:1:alias/x'] },
    { name: 'KMS in aws-cn', c: ctx({ serviceId: 'kms', operation: 'Encrypt', region: 'cn-north-1', params: { KeyId: 'k' } }), want: ['arn:aws-cn:kms:cn-north-1:123456789012:key/k'] },
    {
      name: 'Lambda from the uri label',
      c: ctx({ serviceId: 'lambda', operation: 'Invoke', labels: { FunctionName: 'f' } }),
      want: ['arn:aws:lambda:us-east-1:123456789012:function:f'],
    },
    {
      name: 'SQS QueueUrl of a local server',
      c: ctx({ serviceId: 'sqs', operation: 'SendMessage', params: { QueueUrl: 'http://localhost:4566/000000000000/q' } }),
      want: ['arn:aws:sqs:us-east-1:000000000000:q'],
    },
    { name: 'SQS malformed QueueUrl', c: ctx({ serviceId: 'sqs', operation: 'SendMessage', params: { QueueUrl: 'not a url' } }), want: [] },
    {
      name: 'SQS GetQueueUrl for another owner',
      c: ctx({ serviceId: 'sqs', operation: 'GetQueueUrl', params: { QueueName: 'q', QueueOwnerAWSAccountId: '111122223333' } }),
      want: ['arn:aws:sqs:us-east-1:111122223333:q'],
    },
    { name: 'SNS ListTopics', c: ctx({ serviceId: 'sns', operation: 'ListTopics' }), want: [] },
    {
      name: 'SNS Publish with a TargetArn (endpoint)',
      c: ctx({ serviceId: 'sns', operation: 'Publish', params: { TargetArn: 'arn:aws:sns:us-east-1:1:endpoint/APNS/app/x' } }),
      want: ['arn:aws:sns:us-east-1:1:endpoint/APNS/app/x'],
    },
    {
      name: 'generic: a required *Arn carrying an ARN',
      c: ctx({ serviceId: 'sts', operation: 'AssumeRole', required: ['RoleArn', 'RoleSessionName'], params: { RoleArn: 'arn:aws:iam::1:role/r', RoleSessionName: 's' } }),
      want: ['arn:aws:iam::1:role/r'],
    },
    {
      name: 'generic: a required *Arn that is not an ARN is ignored',
      c: ctx({ serviceId: 'sts', operation: 'AssumeRole', required: ['RoleArn'], params: { RoleArn: 'role/r' } }),
      want: [],
    },
    {
      name: 'generic: an optional *Arn is ignored',
      c: ctx({ serviceId: 'logs', operation: 'CreateLogGroup', required: ['logGroupName'], params: { logGroupName: 'g', kmsKeyArn: 'arn:aws:kms:us-east-1:1:key/k' } }),
      want: [],
    },
  ];
  it.each(cases)('$name', ({ c, want }) => {
    expect(deriveResources(c)).toEqual(want);
  });

  it('uses * as the account when none is known', () => {
    const c = ctx({ serviceId: 'secretsmanager', operation: 'GetSecretValue', params: { SecretId: 'x' } });
    delete c.accountId;
    expect(deriveResources(c)).toEqual(['arn:aws:secretsmanager:us-east-1:*:secret:x']);
  });
});

describe('lambdaFunctionArn', () => {
  it.each([
    ['f', undefined, 'arn:aws:lambda:us-east-1:1:function:f'],
    ['f', '7', 'arn:aws:lambda:us-east-1:1:function:f:7'],
    ['f:live', undefined, 'arn:aws:lambda:us-east-1:1:function:f:live'],
    ['f:live', 'other', 'arn:aws:lambda:us-east-1:1:function:f:live'],
    ['222:function:f', undefined, 'arn:aws:lambda:us-east-1:222:function:f'],
    ['arn:aws:lambda:eu-west-1:3:function:f', '$LATEST', 'arn:aws:lambda:eu-west-1:3:function:f:$LATEST'],
  ])('%s (qualifier %s) → %s', (name, qualifier, want) => {
    expect(lambdaFunctionArn(name, qualifier, 'us-east-1', 'aws', '1')).toBe(want);
  });
});

describe('sqsQueueArnFromUrl', () => {
  it.each([
    ['https://sqs.eu-west-1.amazonaws.com/111122223333/q', 'arn:aws:sqs:us-east-1:111122223333:q'],
    ['https://queue.amazonaws.com/1/q.fifo', 'arn:aws:sqs:us-east-1:1:q.fifo'],
    ['https://sqs.us-east-1.amazonaws.com/', undefined],
    ['::', undefined],
  ])('%s → %s', (url, want) => {
    expect(sqsQueueArnFromUrl(url, 'us-east-1', 'aws')).toBe(want);
  });
});
