import { describe, expect, it } from 'vitest';
import { isS3BucketName, parseCopySource, pathAmbiguity } from '../../src/aws/s3-wire.js';

describe('parseCopySource: spellings S3 reads', () => {
  const AP = 'arn:aws:s3:us-west-2:123456789012:accesspoint/my-ap';
  const OP = 'arn:aws:s3-outposts:us-east-1:123456789012:outpost/op-01ac5d28a6a232904';
  it.each([
    // [header value, arn, versionId]
    ['/src/k', 'arn:aws:s3:::src/k', undefined],
    ['reports/x', 'arn:aws:s3:::reports/x', undefined],
    ['src/dir/k', 'arn:aws:s3:::src/dir/k', undefined],
    ['/reports/a%20b.txt?versionId=3', 'arn:aws:s3:::reports/a b.txt', '3'],
    // botocore: quote(key, safe='/~'), version id unquoted
    ['bkt/a%20b%2B%C3%BC?versionId=3', 'arn:aws:s3:::bkt/a b+ü', '3'],
    ['bkt/k?versionId=3/L4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY+MTRCxf3vjVBH40Nr8X8gdRQBpUMLUo', 'arn:aws:s3:::bkt/k', '3/L4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY+MTRCxf3vjVBH40Nr8X8gdRQBpUMLUo'],
    // keys are literal: `..`, `//`, `./`, an encoded slash and `%25` decoded once
    ['bkt/a/../private/x', 'arn:aws:s3:::bkt/a/../private/x', undefined],
    ['bkt//x', 'arn:aws:s3:::bkt//x', undefined],
    ['bkt/a%2Fb', 'arn:aws:s3:::bkt/a/b', undefined],
    ['bkt/%2541', 'arn:aws:s3:::bkt/%41', undefined],
    ['bkt/%5Cwin', 'arn:aws:s3:::bkt/\\win', undefined],
    ['Legacy_Bucket/k', 'arn:aws:s3:::Legacy_Bucket/k', undefined],
    // access points, raw (as AWS documents) and percent-encoded (as botocore sends)
    [`${AP}/object/reports/january.pdf`, `${AP}/object/reports/january.pdf`, undefined],
    [`${AP.replace(/:/g, '%3A')}/object/a%20b?versionId=v1`, `${AP}/object/a b`, 'v1'],
    [`/${AP}/object/k`, `${AP}/object/k`, undefined],
    ['arn:aws:s3::123456789012:accesspoint/mfzwi23gnjvgw.mrap/object/k', 'arn:aws:s3::123456789012:accesspoint/mfzwi23gnjvgw.mrap/object/k', undefined],
    [`${OP}/accesspoint/my-ap/object/k`, `${OP}/accesspoint/my-ap/object/k`, undefined],
    [`${OP}/object/k`, `${OP}/object/k`, undefined],
  ])('%s → %s (versionId %s)', (value, arn, versionId) => {
    const r = parseCopySource(value);
    expect(r).toMatchObject({ ok: true, source: { arn } });
    if (r.ok) expect(r.source.versionId).toBe(versionId);
  });

  it('bucket form reports bucket and key; access point form reports the access point', () => {
    expect(parseCopySource('/reports/a%20b.txt?versionId=3')).toEqual({
      ok: true,
      source: { arn: 'arn:aws:s3:::reports/a b.txt', bucket: 'reports', key: 'a b.txt', versionId: '3' },
    });
    expect(parseCopySource(`${AP}/object/k`)).toEqual({ ok: true, source: { arn: `${AP}/object/k`, key: 'k', accessPoint: AP } });
  });

  it('uses the partition it is given', () => {
    expect(parseCopySource('bkt/k', 'aws-cn')).toMatchObject({ ok: true, source: { arn: 'arn:aws-cn:s3:::bkt/k' } });
  });
});

describe('parseCopySource: every other spelling is refused, with the reason', () => {
  it.each([
    ['///private/secret.txt', 'the bucket is empty'],
    ['//', 'the bucket is empty'],
    ['/', 'expected bucket/key'],
    ['', 'empty'],
    ['src', 'expected bucket/key'],
    ['src/', 'the key is empty'],
    ['/bkt/', 'the key is empty'],
    ['a%2Fb/k', 'is not a valid bucket name'],
    ['ab/k', 'is not a valid bucket name'],
    ['b%20x/k', 'is not a valid bucket name'],
    ['.../k', 'is not a valid bucket name'],
    ['bkt/%E0%A4%A', 'bad % escape'],
    ['bkt/%C3', 'bad percent-encoding'],
    ['bkt/%zz', 'must be percent-encoded'],
    ['bkt/a b', 'must be percent-encoded'],
    ['bkt/a+b', 'must be percent-encoded'],
    ['bkt/a\\b', 'must be percent-encoded'],
    ['bkt/ü', 'must be percent-encoded'],
    ['bkt/k?versionId=', 'versionId is empty'],
    ['bkt/k?', 'single versionId='],
    ['bkt/k?versionId=1&x=2', 'single versionId='],
    ['bkt/k?partNumber=1', 'single versionId='],
    ['bkt/k?versionid=1', 'single versionId='],
    ['bkt/k?versionId=a b', 'must be percent-encoded'],
    ['arn:aws:s3:us-west-2:123456789012:accesspoint/my-ap/k', 'expected accesspoint/NAME/object/KEY'],
    ['arn:aws:s3:us-west-2:123456789012:accesspoint/my-ap/object/', 'the key is empty'],
    ['arn:aws:s3:us-west-2:123456789012:accesspoint/my%2Fap/object/k', 'expected accesspoint/NAME/object/KEY'],
    ['arn:aws:s3:us-west-2:12345:accesspoint/my-ap/object/k', 'invalid partition, region or account'],
    ['arn:aws:s3:::bucket/k', 'invalid partition, region or account'],
    ['arn:aws:iam::123456789012:role/x/object/k', 'only S3 access point'],
    ['arn:aws:s3:us-west-2:123456789012/accesspoint/my-ap/object/k', 'not an access point object ARN'],
    ['arn:aws:s3-object-lambda:us-west-2:123456789012:accesspoint/ol/object/k', 'only S3 access point'],
    ['arn:aws:s3-outposts:us-east-1:123456789012:outpost/op-1/object/k', 'expected outpost/op-'],
  ])('%s: %s', (value, why) => {
    const r = parseCopySource(value);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.reason).toContain(why);
      expect(r.reason.startsWith(`x-amz-copy-source ${JSON.stringify(value)}: `)).toBe(true);
    }
  });

  it('refuses keys longer than S3 allows', () => {
    expect(parseCopySource(`bkt/${'k'.repeat(1024)}`).ok).toBe(true);
    expect(parseCopySource(`bkt/${'k'.repeat(1025)}`)).toMatchObject({ ok: false });
  });
});

describe('isS3BucketName', () => {
  it.each([
    ['reports', true],
    ['my.bucket-1', true],
    ['Legacy_Name', true],
    ['ab', false],
    ['', false],
    ['...', false],
    ['a/b', false],
    ['a%2Fb', false],
    ['a b', false],
    [`${'a'.repeat(255)}`, true],
    [`${'a'.repeat(256)}`, false],
  ])('%s → %s', (name, want) => {
    expect(isS3BucketName(name)).toBe(want);
  });
});

describe('pathAmbiguity', () => {
  it.each([
    ['/bkt/a/../private/x', 'segment'],
    ['/bkt/./x', 'segment'],
    ['/bkt/..', 'segment'],
    ['/bkt/%2e%2E/x', 'segment'],
    ['/bkt/.%2e', 'segment'],
    ['/..', 'segment'],
    ['/bkt/a\\..\\x', 'backslash'],
    ['/bkt/\u00fc', 'printable ASCII'],
    ['/bkt/a b', 'printable ASCII'],
    ['/bkt/a\tb', 'printable ASCII'],
  ])('%s is refused (%s)', (path, why) => {
    expect(pathAmbiguity(path)).toContain(why);
    expect(pathAmbiguity(path, { s3: true })).toContain(why);
  });
  it('a raw + is refused in S3 paths only (S3 reads it as a space)', () => {
    expect(pathAmbiguity('/bkt/a+b', { s3: true })).toContain('raw "+"');
    expect(pathAmbiguity('/bkt/a%2Bb', { s3: true })).toBeUndefined();
    expect(pathAmbiguity('/2015-03-31/functions/a+b')).toBeUndefined();
  });
  it.each(['/', '/bkt/key', '/bkt//x', '/bkt/a%2Fb', '/bkt/...', '/bkt/a..b', '/bkt/.hidden', '/bkt/a%5Cb', '/2015-03-31/functions/f/invocations'])(
    '%s is fine',
    (path) => {
      expect(pathAmbiguity(path)).toBeUndefined();
    },
  );
});
