import { describe, expect, it } from 'vitest';
import { isVirtualHostableBucket, s3UpstreamPath, upstreamOrigin } from '../../src/aws/endpoints.js';
import { identifyRequest } from '../../src/aws/identify.js';

describe('upstreamOrigin without override', () => {
  const cases: { target: string; region: string; host: string; signingRegion?: string }[] = [
    { target: 'dynamodb', region: 'eu-west-1', host: 'dynamodb.eu-west-1.amazonaws.com' },
    { target: 'secretsmanager', region: 'us-east-1', host: 'secretsmanager.us-east-1.amazonaws.com' },
    { target: 'sts', region: 'eu-west-1', host: 'sts.eu-west-1.amazonaws.com' },
    { target: 'sqs', region: 'us-west-2', host: 'sqs.us-west-2.amazonaws.com' },
    { target: 'monitoring', region: 'us-east-1', host: 'monitoring.us-east-1.amazonaws.com' },
    { target: 's3', region: 'us-east-1', host: 's3.us-east-1.amazonaws.com' },
    { target: 's3', region: 'cn-north-1', host: 's3.cn-north-1.amazonaws.com.cn' },
    { target: 'iam', region: 'eu-west-1', host: 'iam.amazonaws.com', signingRegion: 'us-east-1' },
    { target: 'iam', region: 'cn-northwest-1', host: 'iam.cn-north-1.amazonaws.com.cn', signingRegion: 'cn-north-1' },
    { target: 'iam', region: 'us-gov-east-1', host: 'iam.us-gov.amazonaws.com', signingRegion: 'us-gov-west-1' },
    { target: 'route53', region: 'ap-south-1', host: 'route53.amazonaws.com', signingRegion: 'us-east-1' },
    { target: 'cloudfront', region: 'eu-west-3', host: 'cloudfront.amazonaws.com', signingRegion: 'us-east-1' },
    { target: 'kms', region: 'us-gov-west-1', host: 'kms.us-gov-west-1.amazonaws.com' },
    { target: 'nosuchservice', region: 'us-east-1', host: 'nosuchservice.us-east-1.amazonaws.com' },
  ];
  it.each(cases)('$target in $region → $host', ({ target, region, host, signingRegion }) => {
    const o = upstreamOrigin(target, region);
    expect(o.host).toBe(host);
    expect(o.origin).toBe(`https://${host}`);
    expect(o.signingRegion).toBe(signingRegion ?? region);
  });

  it('ECR uses its endpoint prefix (api.ecr), not its signing name', () => {
    expect(upstreamOrigin('ecr', 'us-east-1').host).toBe('api.ecr.us-east-1.amazonaws.com');
  });

  it('an identified call resolves to its own service when the signing name is shared', () => {
    const call = identifyRequest({
      method: 'POST',
      host: 'gw:8443',
      rawPath: '/',
      headers: { 'x-amz-target': 'DynamoDBStreams_20120810.ListStreams' },
      body: Buffer.from('{}'),
      signingService: 'dynamodb',
      region: 'eu-west-1',
    });
    expect(call.endpointPrefix).toBe('streams.dynamodb');
    expect(upstreamOrigin({ endpointPrefix: call.endpointPrefix as string }, 'eu-west-1').host).toBe('streams.dynamodb.eu-west-1.amazonaws.com');
  });

  it('S3 uses virtual-host style for DNS-safe buckets, path style otherwise', () => {
    expect(upstreamOrigin('s3', 'eu-west-1', undefined, { bucket: 'my-bkt' })).toEqual({
      origin: 'https://my-bkt.s3.eu-west-1.amazonaws.com',
      host: 'my-bkt.s3.eu-west-1.amazonaws.com',
      pathStyle: false,
      signingRegion: 'eu-west-1',
    });
    expect(upstreamOrigin('s3', 'eu-west-1', undefined, { bucket: 'my.dotted.bkt' })).toMatchObject({
      host: 's3.eu-west-1.amazonaws.com',
      pathStyle: true,
    });
    expect(upstreamOrigin('s3', 'eu-west-1').pathStyle).toBe(true);
  });

  it.each(['', 'us-east', 'US-EAST-1', 'us-east-1.evil.com', 'a/b'])('rejects region %j', (region) => {
    expect(() => upstreamOrigin('dynamodb', region)).toThrow(/is not a valid AWS region name/);
  });
});

describe('upstreamOrigin with an override', () => {
  it('sends every service to the override origin, signed for the call region', () => {
    expect(upstreamOrigin('dynamodb', 'eu-west-1', 'http://127.0.0.1:5000')).toEqual({
      origin: 'http://127.0.0.1:5000',
      host: '127.0.0.1:5000',
      signingRegion: 'eu-west-1',
    });
    expect(upstreamOrigin('iam', 'eu-west-1', 'https://localstack:4566/').host).toBe('localstack:4566');
  });

  it('forces path style for S3', () => {
    expect(upstreamOrigin('s3', 'us-east-1', 'http://localhost:9000', { bucket: 'bkt' })).toEqual({
      origin: 'http://localhost:9000',
      host: 'localhost:9000',
      pathStyle: true,
      signingRegion: 'us-east-1',
    });
  });

  it('an empty override means none', () => {
    expect(upstreamOrigin('sts', 'us-east-1', '').host).toBe('sts.us-east-1.amazonaws.com');
  });

  it.each([
    ['not a url', /is not a URL/],
    ['ftp://host', /must be http:\/\/ or https:\/\//],
    ['http://host/prefix', /must be an origin only/],
    ['http://host/?a=b', /must be an origin only/],
    ['http://user:pw@host', /must be an origin only/],
  ])('rejects %j', (override, message) => {
    expect(() => upstreamOrigin('s3', 'us-east-1', override)).toThrow(message);
  });
});

describe('s3UpstreamPath', () => {
  const cases: { rawPath: string; clientPathStyle: boolean; upstreamPathStyle: boolean; want: string }[] = [
    { rawPath: '/bkt/a%20b?x-id=GetObject', clientPathStyle: true, upstreamPathStyle: true, want: '/bkt/a%20b?x-id=GetObject' },
    { rawPath: '/a%20b?tagging', clientPathStyle: false, upstreamPathStyle: true, want: '/bkt/a%20b?tagging' },
    { rawPath: '/?list-type=2', clientPathStyle: false, upstreamPathStyle: true, want: '/bkt?list-type=2' },
    { rawPath: '/', clientPathStyle: false, upstreamPathStyle: true, want: '/bkt' },
    { rawPath: '/bkt/dir/k?acl', clientPathStyle: true, upstreamPathStyle: false, want: '/dir/k?acl' },
    { rawPath: '/bkt?list-type=2', clientPathStyle: true, upstreamPathStyle: false, want: '/?list-type=2' },
    { rawPath: '/bkt', clientPathStyle: true, upstreamPathStyle: false, want: '/' },
  ];
  it.each(cases)('$rawPath ($clientPathStyle → $upstreamPathStyle) → $want', ({ rawPath, clientPathStyle, upstreamPathStyle, want }) => {
    expect(s3UpstreamPath({ rawPath, bucket: 'bkt', clientPathStyle, upstreamPathStyle })).toBe(want);
  });
});

describe('isVirtualHostableBucket', () => {
  it.each([
    ['my-bkt', true],
    ['abc', true],
    ['my.bkt', false],
    ['ab', false],
    ['Upper', false],
    ['-lead', false],
    ['a--b', false],
  ])('%s → %s', (bucket, want) => {
    expect(isVirtualHostableBucket(bucket)).toBe(want);
  });
});
