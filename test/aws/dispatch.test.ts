import { describe, expect, it } from 'vitest';
import { dispatchConflict, requestAmbiguity } from '../../src/aws/dispatch.js';
import { identifyRequest, type IdentifyInput } from '../../src/aws/identify.js';
import { GatewayError } from '../../src/errors.js';

const FORM = 'application/x-www-form-urlencoded; charset=utf-8';

function req(partial: Partial<IdentifyInput> & Pick<IdentifyInput, 'signingService'>): IdentifyInput {
  return { method: 'POST', rawPath: '/', host: '127.0.0.1:8443', headers: {}, region: 'us-east-1', accountId: '123456789012', ...partial };
}

function ddb(rawPath = '/', extra: Record<string, string | string[]> = {}): IdentifyInput {
  return req({
    signingService: 'dynamodb',
    rawPath,
    headers: { 'content-type': 'application/x-amz-json-1.0', 'x-amz-target': 'DynamoDB_20120810.GetItem', ...extra },
    body: Buffer.from('{"TableName":"t","Key":{"id":{"S":"1"}}}'),
  });
}

function stsForm(body: string, rawPath = '/', extra: Record<string, string> = {}): IdentifyInput {
  return req({ signingService: 'sts', rawPath, headers: { 'content-type': FORM, ...extra }, body: Buffer.from(body) });
}

const CBOR_PATH = '/service/GraniteServiceVersion20100801/operation/GetMetricData';

describe('dispatchConflict: one reading is fine', () => {
  it.each<[string, IdentifyInput]>([
    ['DynamoDB JSON', ddb()],
    ['STS form POST', stsForm('Action=GetCallerIdentity&Version=2011-06-15')],
    ['STS presigned GET (query Action only)', req({ signingService: 'sts', method: 'GET', rawPath: '/?Action=GetCallerIdentity&Version=2011-06-15' })],
    ['STS form repeating the same Action', stsForm('Action=GetCallerIdentity&Action=GetCallerIdentity')],
    ['SQS legacy query form', req({ signingService: 'sqs', headers: { 'content-type': FORM }, body: Buffer.from('Action=ListQueues') })],
    ['SQS JSON', req({ signingService: 'sqs', headers: { 'content-type': 'application/x-amz-json-1.0', 'x-amz-target': 'AmazonSQS.ListQueues' }, body: Buffer.from('{}') })],
    ['CloudWatch CBOR', req({ signingService: 'monitoring', rawPath: CBOR_PATH, headers: { 'smithy-protocol': 'rpc-v2-cbor', 'content-type': 'application/cbor' } })],
    ['CloudWatch JSON', req({ signingService: 'monitoring', headers: { 'content-type': 'application/x-amz-json-1.0', 'x-amz-target': 'GraniteServiceVersion20100801.ListMetrics' } })],
    ['SageMaker JSON (signing name shared with REST services)', req({ signingService: 'sagemaker', headers: { 'x-amz-target': 'SageMaker.ListModels', 'content-type': 'application/x-amz-json-1.1' }, body: Buffer.from('{}') })],
    ['S3 GetObject', req({ signingService: 's3', method: 'GET', rawPath: '/bkt/k?x-id=GetObject' })],
    [
      'S3 presigned PUT with hoisted x-amz-acl and checksum parameters (JS presigner)',
      req({ signingService: 's3', method: 'PUT', rawPath: '/bkt/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&x-amz-acl=private&x-amz-sdk-checksum-algorithm=CRC32&x-amz-checksum-crc32=AAAAAA%3D%3D&x-id=PutObject' }),
    ],
    ['S3 DeleteObjects', req({ signingService: 's3', method: 'POST', rawPath: '/bkt?delete', headers: { 'content-type': 'application/xml' } })],
    ['S3 form-typed upload (body not parsed as a form)', req({ signingService: 's3', method: 'PUT', rawPath: '/bkt/k', headers: { 'content-type': FORM } })],
    ['S3 query key repeated with the same value', req({ signingService: 's3', method: 'GET', rawPath: '/bkt/k?versionId=1&versionId=1' })],
    ['repeated list-valued query keys on a REST-JSON service', req({ signingService: 'lambda', method: 'DELETE', rawPath: '/2017-03-31/tags/arn%3Aaws%3Alambda%3Aus-east-1%3A1%3Afunction%3Af?tagKeys=a&tagKeys=b' })],
    ['Lambda invoke', req({ signingService: 'lambda', rawPath: '/2015-03-31/functions/f/invocations' })],
    ['unknown signing service', req({ signingService: 'nosuch', rawPath: '/', headers: { 'x-amz-target': 'Y.Z' } })],
    ['a lone X-Amz-Target on a service the table knows as query only (one reading: Unknown)', req({ signingService: 'sts', headers: { 'x-amz-target': 'X.AssumeRole' } })],
  ])('%s', (_name, input) => {
    expect(dispatchConflict(input)).toBeUndefined();
  });
});

describe('dispatchConflict: two readings are refused, naming both', () => {
  it.each<[string, IdentifyInput, string[]]>([
    ['JSON call with Action in the query (moto would dispatch on it)', ddb('/?Action=DeleteItem'), ['DynamoDB_20120810.GetItem', 'Action=DeleteItem']],
    ['JSON call with a lower-case action in the query', ddb('/?action=DeleteItem'), ['"action"']],
    ['query Action and form Action differ', stsForm('Action=AssumeRole', '/?Action=GetCallerIdentity'), ['GetCallerIdentity', 'AssumeRole']],
    ['query Action and form Action agree (still two places)', stsForm('Action=GetCallerIdentity', '/?Action=GetCallerIdentity'), ['query string', 'form body']],
    ['Action repeated with different values in the form', stsForm('Action=GetCallerIdentity&Action=AssumeRole'), ['GetCallerIdentity, AssumeRole']],
    ['Action repeated with different values in the query', req({ signingService: 'sts', method: 'GET', rawPath: '/?Action=GetCallerIdentity&Action=AssumeRole' }), ['GetCallerIdentity, AssumeRole']],
    ['X-Amz-Target on a query-protocol form', stsForm('Action=GetCallerIdentity', '/', { 'x-amz-target': 'AWSSecurityTokenServiceV20110615.AssumeRole' }), ['X-Amz-Target', 'Action=GetCallerIdentity']],
    ['X-Amz-Target on an S3 request', req({ signingService: 's3', method: 'DELETE', rawPath: '/bkt/k', headers: { 'x-amz-target': 'DynamoDB_20120810.GetItem' } }), ['DynamoDB_20120810.GetItem', 'DELETE /bkt/k reads as s3:DeleteObject']],
    ['Action on a JSON-only service (no target)', req({ signingService: 'dynamodb', rawPath: '/?Action=DeleteItem&TableName=t' }), ['Action=DeleteItem', 'no query protocol']],
    ['Action on S3', req({ signingService: 's3', method: 'GET', rawPath: '/bkt/k?Action=DeleteObject' }), ['Action=DeleteObject']],
    ['X-Amz-Target on a REST path of a mixed service', req({ signingService: 'mediastore', method: 'GET', rawPath: '/', headers: { 'x-amz-target': 'MediaStore_20170901.DeleteContainer' } }), ['MediaStore_20170901.DeleteContainer', 'GET / reads as mediastore:ListItems']],
    ['CBOR path and X-Amz-Target', req({ signingService: 'monitoring', rawPath: CBOR_PATH, headers: { 'smithy-protocol': 'rpc-v2-cbor', 'x-amz-target': 'GraniteServiceVersion20100801.DeleteAlarms' } }), [CBOR_PATH, 'DeleteAlarms']],
    ['CBOR path and query Action', req({ signingService: 'monitoring', rawPath: `${CBOR_PATH}?Action=DeleteAlarms`, headers: { 'smithy-protocol': 'rpc-v2-cbor' } }), [CBOR_PATH, 'Action=DeleteAlarms']],
    ['X-Amz-Target sent twice (headersDistinct)', ddb('/', { 'x-amz-target': ['DynamoDB_20120810.GetItem', 'DynamoDB_20120810.DeleteItem'] }), ['x-amz-target', 'GetItem | DynamoDB_20120810.DeleteItem']],
    ['X-Amz-Target sent twice (req.headers joins with a comma)', ddb('/', { 'x-amz-target': 'DynamoDB_20120810.GetItem, DynamoDB_20120810.DeleteItem' }), ['x-amz-target']],
    ['Content-Type sent twice with different values', stsForm('Action=GetCallerIdentity', '/', {}), ['content-type header is sent more than once']],
    [
      'presigned PUT with x-amz-copy-source hoisted into the query (S3 would copy; the gateway would read PutObject)',
      req({ signingService: 's3', method: 'PUT', rawPath: '/bkt/dst?X-Amz-Algorithm=AWS4-HMAC-SHA256&x-amz-copy-source=private%2Fsecret.txt' }),
      ['x-amz-copy-source is given as a query parameter'],
    ],
    ['X-Amz-Copy-Source in the query, any case', req({ signingService: 's3', method: 'PUT', rawPath: '/bkt/dst?X-Amz-Copy-Source=a%2Fb' }), ['X-Amz-Copy-Source']],
    ['S3 versionId repeated with different values', req({ signingService: 's3', method: 'DELETE', rawPath: '/bkt/k?versionId=1&versionId=2' }), ['versionId', '1, 2']],
    ['a method-override header', req({ signingService: 's3', method: 'GET', rawPath: '/bkt/k', headers: { 'X-HTTP-Method-Override': 'DELETE' } }), ['x-http-method-override', 'GET']],
    ['query string with bad percent-encoding', req({ signingService: 'sts', method: 'GET', rawPath: '/?Action=Get%ZZ' }), ['bad percent-encoding']],
  ])('%s', (name, input, mentions) => {
    if (name.startsWith('Content-Type sent twice')) input.headers['content-type'] = [FORM, 'application/x-amz-json-1.1'];
    const reason = dispatchConflict(input);
    expect(reason).toBeDefined();
    for (const m of mentions) expect(reason).toContain(m);
  });
});

describe('requestAmbiguity', () => {
  function check(input: IdentifyInput): GatewayError | undefined {
    return requestAmbiguity(input, identifyRequest(input));
  }

  it('a dispatch conflict is AMBIGUOUS_REQUEST, 400 InvalidRequest', () => {
    const e = check(ddb('/?Action=DeleteItem'));
    expect(e).toBeInstanceOf(GatewayError);
    expect(e?.code).toBe('AMBIGUOUS_REQUEST');
    expect(e?.status).toBe(400);
    expect(e?.awsCode).toBe('InvalidRequest');
    expect(e?.message).toMatch(/^The request can be read as two different calls: X-Amz-Target names DynamoDB_20120810.GetItem but the query string names Action=DeleteItem$/);
  });

  it.each([
    ['/bkt/a/../private/x', 'segment'],
    ['/bkt/./x', 'segment'],
    ['/bkt/%2E%2E/x', 'segment'],
    ['/bkt/a\\x', 'backslash'],
    ['/bkt/private+x', 'raw "+"'],
  ])('S3 path %s is refused (%s)', (rawPath, why) => {
    const e = check(req({ signingService: 's3', method: 'GET', rawPath }));
    expect(e?.code).toBe('AMBIGUOUS_REQUEST');
    expect(e?.message).toContain(why);
  });

  it('a bucket label that is not a bucket name (an encoded slash) is refused', () => {
    const e = check(req({ signingService: 's3', method: 'GET', rawPath: '/bkt%2Fother/k' }));
    expect(e?.code).toBe('AMBIGUOUS_REQUEST');
    expect(e?.awsCode).toBe('InvalidBucketName');
  });

  it.each(['/bkt/k', '/bkt//x', '/bkt/a%2Fb', '/bkt/a..b/.hidden', '/bkt/%5C'])('S3 path %s passes, and the key is the decoded raw path', (rawPath) => {
    const input = req({ signingService: 's3', method: 'GET', rawPath });
    expect(check(input)).toBeUndefined();
    expect(identifyRequest(input).key).toBe(decodeURIComponent(rawPath.slice('/bkt/'.length)));
  });

  it.each([
    ['CopyObject', '/bkt/dst', '///private/secret.txt'],
    ['CopyObject', '/bkt/dst', 'reports/a b'],
    ['UploadPartCopy', '/bkt/dst?partNumber=1&uploadId=u', '//'],
  ])('%s with x-amz-copy-source %s is MALFORMED_REQUEST 400 InvalidArgument', (op, rawPath, source) => {
    const input = req({ signingService: 's3', method: 'PUT', rawPath, headers: { 'x-amz-copy-source': source } });
    const call = identifyRequest(input);
    expect(call.operation).toBe(op);
    expect(call.resources).toEqual(['arn:aws:s3:::bkt/dst', '*']);
    expect(call.copySource).toBeUndefined();
    const e = requestAmbiguity(input, call);
    expect(e?.code).toBe('MALFORMED_REQUEST');
    expect(e?.status).toBe(400);
    expect(e?.awsCode).toBe('InvalidArgument');
    expect(e?.message).toContain(JSON.stringify(source));
  });

  it('a readable copy source passes and lands in CallInfo: destination first, source second', () => {
    const input = req({ signingService: 's3', method: 'PUT', rawPath: '/bkt/dst', headers: { 'x-amz-copy-source': '/reports/a%20b.txt?versionId=3' } });
    const call = identifyRequest(input);
    expect(requestAmbiguity(input, call)).toBeUndefined();
    expect(call.resources).toEqual(['arn:aws:s3:::bkt/dst', 'arn:aws:s3:::reports/a b.txt']);
    expect(call.copySource).toEqual({ arn: 'arn:aws:s3:::reports/a b.txt', versionId: '3' });
  });

  it('UploadPartCopy from an access point', () => {
    const ap = 'arn:aws:s3:us-east-1:123456789012:accesspoint/my-ap/object/x';
    const input = req({ signingService: 's3', method: 'PUT', rawPath: '/bkt/dst?partNumber=1&uploadId=u', headers: { 'x-amz-copy-source': ap } });
    const call = identifyRequest(input);
    expect(call.operation).toBe('UploadPartCopy');
    expect(requestAmbiguity(input, call)).toBeUndefined();
    expect(call.resources).toEqual(['arn:aws:s3:::bkt/dst', ap]);
    expect(call.copySource).toEqual({ arn: ap });
  });

  it('x-amz-copy-source sent twice is a conflict', () => {
    const input = req({ signingService: 's3', method: 'PUT', rawPath: '/bkt/dst', headers: { 'x-amz-copy-source': ['bkt/a', 'bkt/b'] } });
    expect(check(input)?.code).toBe('AMBIGUOUS_REQUEST');
  });
});
