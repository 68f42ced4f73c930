// Real clients (JS SDK v3 and botocore) sign requests to a local server on port 0; every request must verify and
// pass the forward-header policy. The server answers 500 (no AWS behind it); only what arrived matters.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import http from 'node:http';
import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Readable } from 'node:stream';
import { S3Client, PutObjectCommand, GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { parseSigV4, payloadHashFor, verifySigV4 } from '../../src/aws/sigv4.js';
import { filterForwardHeaders } from '../../src/aws/headers.js';

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
        filterForwardHeaders(req.headersDistinct, { signedHeaders: parsed.signedHeaders });
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
    await attempt(() => s3.send(new PutObjectCommand({ Bucket: 'b', Key: 'a b ü+.txt', Body: 'hello' })));
    await attempt(() => s3.send(new PutObjectCommand({ Bucket: 'b', Key: 'k', Body: Readable.from([Buffer.from('hello stream')]), ContentLength: 12 })));
    await attempt(() => s3.send(new GetObjectCommand({ Bucket: 'b', Key: 'dir/x y', ChecksumMode: 'ENABLED' })));
    await attempt(() => s3.send(new ListObjectsV2Command({ Bucket: 'b', Prefix: 'dir/' })));
    const ddb = new DynamoDBClient({ endpoint, region: 'us-east-1', credentials: creds, maxAttempts: 1 });
    await attempt(() => ddb.send(new GetItemCommand({ TableName: 't', Key: { id: { S: '1' } } })));
    expect(seen.length).toBe(5);
    expect(seen.filter((s) => !s.ok)).toEqual([]);
    expect(seen.some((s) => s.declared === 'STREAMING-UNSIGNED-PAYLOAD-TRAILER')).toBe(true);
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
for f in (lambda: s3.put_object(Bucket='b', Key='a b ü+.txt', Body=b'hello'), lambda: s3.list_objects_v2(Bucket='b', Prefix='dir/'), lambda: d.get_item(TableName='t', Key={'id': {'S': '1'}})):
    try: f()
    except Exception: pass
`;
    await promisify(execFile)('python3', ['-c', py, endpoint]);
    expect(seen.length).toBe(3);
    expect(seen.filter((s) => !s.ok)).toEqual([]);
    expect(seen.find((s) => s.line === 'POST /')?.declared).toBeUndefined();
  });
});
