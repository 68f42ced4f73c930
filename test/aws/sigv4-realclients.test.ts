// Real clients (JS SDK v3 and botocore) sign requests to a local server on port 0; every request must verify and
// pass the forward-header policy. The server answers 500 (no AWS behind it); only what arrived matters.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import http from 'node:http';
import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Readable } from 'node:stream';
import {
  S3Client,
  PutObjectCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  CopyObjectCommand,
  UploadPartCopyCommand,
  DeleteObjectsCommand,
} from '@aws-sdk/client-s3';
import { DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { parseSigV4, payloadHashFor, verifySigV4 } from '../../src/aws/sigv4.js';
import { filterForwardHeaders } from '../../src/aws/headers.js';
import { requestAmbiguity } from '../../src/aws/dispatch.js';
import { identifyRequest } from '../../src/aws/identify.js';

const creds = { accessKeyId: 'ASIAGWTEST', secretAccessKey: 'gw/secret+key', sessionToken: 'gw-token' };
const seen: Array<{ line: string; ok: boolean; error?: string; declared?: string }> = [];
let server: http.Server;
let endpoint = '';

beforeAll(async () => {
  server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const r = { method: req.method!, rawPath: req.url!, headers: req.headersDistinct };
      try {
        const parsed = parseSigV4(r);
        const source = payloadHashFor(parsed);
        const payloadHash = source.kind === 'declared' ? source.value : createHash('sha256').update(Buffer.concat(chunks)).digest('hex');
        verifySigV4(parsed, r, { secretAccessKey: creds.secretAccessKey, payloadHash, now: new Date() });
        filterForwardHeaders(req.headersDistinct, { signedHeaders: parsed.signedHeaders, presigned: parsed.presigned, method: req.method! });
        // One reading per request, as the pipeline checks it (repeated headers kept apart).
        const input = {
          method: req.method!,
          host: req.headers.host ?? '',
          rawPath: req.url!,
          headers: req.headersDistinct,
          signingService: parsed.service,
          region: parsed.region,
          body: Buffer.concat(chunks),
        };
        const refusal = requestAmbiguity(input, identifyRequest(input));
        if (refusal) throw refusal;
        seen.push({ line: `${req.method} ${req.url}`, ok: true, ...(parsed.declaredPayloadHash ? { declared: parsed.declaredPayloadHash } : {}) });
      } catch (error) {
        seen.push({ line: `${req.method} ${req.url}`, ok: false, error: (error as Error).message });
      }
      res.writeHead(500, { 'content-type': 'text/plain' });
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

async function attempt(fn: () => Promise<unknown>): Promise<void> {
  try {
    await fn();
  } catch {
    // The server answers 500 on purpose.
  }
}

describe('real clients verify', () => {
  it('JS SDK v3: S3 put (buffer and stream), get, list; DynamoDB GetItem', async () => {
    seen.length = 0;
    const s3 = new S3Client({ endpoint, region: 'us-east-1', credentials: creds, forcePathStyle: true, maxAttempts: 1 });
    await attempt(() => s3.send(new PutObjectCommand({ Bucket: 'bkt', Key: 'a b ü+.txt', Body: 'hello' })));
    await attempt(() => s3.send(new PutObjectCommand({ Bucket: 'bkt', Key: 'k', Body: Readable.from([Buffer.from('hello stream')]), ContentLength: 12 })));
    await attempt(() => s3.send(new GetObjectCommand({ Bucket: 'bkt', Key: 'dir/x y', ChecksumMode: 'ENABLED' })));
    await attempt(() => s3.send(new ListObjectsV2Command({ Bucket: 'bkt', Prefix: 'dir/' })));
    const ddb = new DynamoDBClient({ endpoint, region: 'us-east-1', credentials: creds, maxAttempts: 1 });
    await attempt(() => ddb.send(new GetItemCommand({ TableName: 't', Key: { id: { S: '1' } } })));
    expect(seen.length).toBe(5);
    expect(seen.filter((s) => !s.ok)).toEqual([]);
    expect(seen.some((s) => s.declared === 'STREAMING-UNSIGNED-PAYLOAD-TRAILER')).toBe(true);
  });

  // Every optional header these calls can carry: the forward-header rule must let all of them through.
  it('JS SDK v3: S3 calls with every optional header (cache-control is never signed by JS v3)', async () => {
    seen.length = 0;
    const s3 = new S3Client({ endpoint, region: 'us-east-1', credentials: creds, forcePathStyle: true, maxAttempts: 1 });
    await attempt(() =>
      s3.send(
        new PutObjectCommand({
          Bucket: 'bkt',
          Key: 'k',
          Body: 'hello',
          ContentType: 'text/plain',
          ContentMD5: 'XUFAKrxLKna5cZ2REBfFkg==',
          CacheControl: 'no-cache',
          ContentDisposition: 'attachment',
          ContentEncoding: 'gzip',
          ContentLanguage: 'en',
          Expires: new Date(),
          ACL: 'private',
          Tagging: 'a=b',
          Metadata: { m: 'v' },
        }),
      ),
    );
    await attempt(() =>
      s3.send(
        new GetObjectCommand({
          Bucket: 'bkt',
          Key: 'k',
          Range: 'bytes=0-1',
          IfMatch: '"e"',
          IfNoneMatch: '"f"',
          IfModifiedSince: new Date(0),
          IfUnmodifiedSince: new Date(),
        }),
      ),
    );
    await attempt(() => s3.send(new CopyObjectCommand({ Bucket: 'bkt', Key: 'k2', CopySource: 'src/a%20b?versionId=3', MetadataDirective: 'REPLACE', CacheControl: 'max-age=1' })));
    await attempt(() => s3.send(new UploadPartCopyCommand({ Bucket: 'bkt', Key: 'k2', CopySource: 'src/k', UploadId: 'u', PartNumber: 1, CopySourceRange: 'bytes=0-1' })));
    await attempt(() => s3.send(new DeleteObjectsCommand({ Bucket: 'bkt', Delete: { Objects: [{ Key: 'a' }] } })));
    expect(seen.length).toBe(5);
    expect(seen.filter((s) => !s.ok)).toEqual([]);
  });

  it('botocore: S3 put and list, DynamoDB GetItem (no x-amz-content-sha256)', async () => {
    seen.length = 0;
    const py = String.raw`
import boto3, sys
from botocore.config import Config
ep = sys.argv[1]
kw = dict(endpoint_url=ep, region_name='us-east-1', aws_access_key_id='ASIAGWTEST', aws_secret_access_key='gw/secret+key', aws_session_token='gw-token')
s3 = boto3.client('s3', config=Config(retries={'max_attempts': 0}, s3={'addressing_style': 'path'}), **kw)
d = boto3.client('dynamodb', config=Config(retries={'max_attempts': 0}), **kw)
for f in (lambda: s3.put_object(Bucket='bkt', Key='a b ü+.txt', Body=b'hello'), lambda: s3.list_objects_v2(Bucket='bkt', Prefix='dir/'), lambda: d.get_item(TableName='t', Key={'id': {'S': '1'}})):
    try: f()
    except Exception: pass
`;
    await promisify(execFile)('python3', ['-c', py, endpoint]);
    expect(seen.length).toBe(3);
    expect(seen.filter((s) => !s.ok)).toEqual([]);
    expect(seen.find((s) => s.line === 'POST /')?.declared).toBeUndefined();
  });

  it('botocore: S3 calls with every optional header, copies, DeleteObjects, presigned GET with a Range', async () => {
    seen.length = 0;
    const py = String.raw`
import boto3, sys, datetime, urllib.request
from botocore.config import Config
ep = sys.argv[1]
kw = dict(endpoint_url=ep, region_name='us-east-1', aws_access_key_id='ASIAGWTEST', aws_secret_access_key='gw/secret+key', aws_session_token='gw-token')
s3 = boto3.client('s3', config=Config(retries={'max_attempts': 0}, s3={'addressing_style': 'path'}, signature_version='s3v4'), **kw)
now = datetime.datetime.now()
calls = (
  lambda: s3.put_object(Bucket='bkt', Key='k', Body=b'hello', ContentType='text/plain', ContentMD5='XUFAKrxLKna5cZ2REBfFkg==', CacheControl='no-cache', ContentDisposition='attachment', ContentEncoding='gzip', ContentLanguage='en', Expires=now, ACL='private', Tagging='a=b', Metadata={'m': 'v'}),
  lambda: s3.get_object(Bucket='bkt', Key='k', Range='bytes=0-1', IfMatch='"e"', IfNoneMatch='"f"', IfModifiedSince=datetime.datetime(2000, 1, 1), IfUnmodifiedSince=now),
  lambda: s3.copy_object(Bucket='bkt', Key='k2', CopySource={'Bucket': 'src', 'Key': 'a b+ü', 'VersionId': '3'}, MetadataDirective='REPLACE', CacheControl='max-age=1'),
  lambda: s3.upload_part_copy(Bucket='bkt', Key='k2', CopySource='src/k', UploadId='u', PartNumber=1, CopySourceRange='bytes=0-1'),
  lambda: s3.delete_objects(Bucket='bkt', Delete={'Objects': [{'Key': 'a'}]}),
  lambda: urllib.request.urlopen(urllib.request.Request(s3.generate_presigned_url('get_object', Params={'Bucket': 'bkt', 'Key': 'k'}), headers={'Range': 'bytes=0-1'})),
)
for f in calls:
    try: f()
    except Exception: pass
`;
    await promisify(execFile)('python3', ['-c', py, endpoint]);
    expect(seen.length).toBe(6);
    expect(seen.filter((s) => !s.ok)).toEqual([]);
  });
});
