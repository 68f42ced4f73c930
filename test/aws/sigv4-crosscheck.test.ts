// Cross-checks against two independent signers: @smithy/signature-v4 (what the JS SDK v3 uses) and botocore
// (through python3). Every case: (1) the external signer signs, our verifier must accept; (2) our signOutgoing signs,
// the external signer over the same headers and instant must produce the same signature.
import { describe, expect, it, beforeAll } from 'vitest';
import { createHash, createHmac, type Hash, type Hmac } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { SignatureV4 } from '@smithy/signature-v4';
import { parseSigV4, payloadHashFor, signOutgoing, verifySigV4, type SigV4Request } from '../../src/aws/sigv4.js';
import { percentDecode, splitQuery } from '../../src/aws/canonical.js';

const NOW = new Date('2026-03-04T05:06:07Z');
const CREDS = { accessKeyId: 'ASIAGATEWAYTEST00001', secretAccessKey: 'gw/Secret+Key/Example0123456789abcdefghij', sessionToken: 'tok.en/with+chars==' };

/** Node-crypto Sha256 for smithy (the @aws-crypto package is not hoisted here). */
class Sha256 {
  private h: Hash | Hmac;
  private readonly secret: Uint8Array | string | undefined;
  constructor(secret?: string | ArrayBuffer | ArrayBufferView) {
    this.secret =
      secret === undefined || typeof secret === 'string'
        ? secret
        : ArrayBuffer.isView(secret)
          ? new Uint8Array(secret.buffer, secret.byteOffset, secret.byteLength)
          : new Uint8Array(secret);
    this.h = this.secret === undefined ? createHash('sha256') : createHmac('sha256', this.secret);
  }
  update(data: string | ArrayBuffer | ArrayBufferView): void {
    this.h.update(
      typeof data === 'string'
        ? Buffer.from(data, 'utf8')
        : ArrayBuffer.isView(data)
          ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
          : new Uint8Array(data),
    );
  }
  digest(): Promise<Uint8Array> {
    return Promise.resolve(new Uint8Array(this.h.digest()));
  }
  reset(): void {
    this.h = this.secret === undefined ? createHash('sha256') : createHmac('sha256', this.secret);
  }
}

const sha256 = (b: string): string => createHash('sha256').update(b).digest('hex');

interface Case {
  name: string;
  service: string;
  method: string;
  /** Path as the client puts it on the wire. */
  path: string;
  /** Raw query, RFC 3986-encoded as SDKs send it. */
  query: string;
  headers: Array<[string, string]>;
  body: string;
  /** Signed with x-amz-content-sha256 (JS v3 does so for every service; botocore only for S3). */
  contentSha?: string;
  token?: boolean;
}

const cases: Case[] = [
  { name: 'S3 key with spaces, unicode and +', service: 's3', method: 'GET', path: '/bkt/a%20b%20%C3%BC%2B.txt', query: 'x-id=GetObject', headers: [], body: '' },
  { name: 'S3 key with an encoded slash', service: 's3', method: 'GET', path: '/bkt/dir%2Ffile.txt', query: '', headers: [], body: '' },
  { name: 'S3 key with // and . segments', service: 's3', method: 'GET', path: '/bkt/a//./b/../c', query: '', headers: [], body: '' },
  { name: 'S3 key with reserved characters', service: 's3', method: 'GET', path: "/bkt/%21%27%28%29%2A%40%3D%26%24%2C%3B%3A", query: '', headers: [], body: '' },
  {
    name: 'S3 list: values with /, empty values, repeated keys',
    service: 's3',
    method: 'GET',
    path: '/bkt',
    query: 'list-type=2&prefix=dir%2Fsub%2F&delimiter=%2F&empty=&tag=b&tag=a&encoding-type=url',
    headers: [],
    body: '',
  },
  { name: 'S3 valueless subresource', service: 's3', method: 'GET', path: '/bkt', query: 'acl', headers: [], body: '' },
  {
    name: 'S3 PUT with metadata spaces and unicode value',
    service: 's3',
    method: 'PUT',
    path: '/bkt/k',
    query: 'x-id=PutObject',
    headers: [
      ['content-type', 'text/plain'],
      ['x-amz-meta-note', '  several   inner    spaces  '],
      ['x-amz-meta-tabbed', 'a\tb'],
      ['x-amz-storage-class', 'STANDARD'],
    ],
    body: 'hello world',
    token: true,
  },
  { name: 'S3 unsigned payload', service: 's3', method: 'PUT', path: '/bkt/u', query: '', headers: [], body: 'x', contentSha: 'UNSIGNED-PAYLOAD' },
  {
    name: 'DynamoDB JSON call',
    service: 'dynamodb',
    method: 'POST',
    path: '/',
    query: '',
    headers: [
      ['content-type', 'application/x-amz-json-1.0'],
      ['x-amz-target', 'DynamoDB_20120810.PutItem'],
    ],
    body: '{"TableName":"t","Item":{"id":{"S":"1"}}}',
    token: true,
  },
  {
    name: 'Lambda path double-encoded',
    service: 'lambda',
    method: 'POST',
    path: '/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A1%3Afunction%3Amy%20fn/invocations',
    query: 'Qualifier=%24LATEST',
    headers: [['content-type', 'application/json']],
    body: '{}',
  },
  { name: 'non-S3 path with dot segments and //', service: 'execute-api', method: 'GET', path: '/a/./b//c/../d/', query: 'q=%2Fx&q=%20y', headers: [], body: '' },
  {
    name: 'Query protocol form POST',
    service: 'sts',
    method: 'POST',
    path: '/',
    query: '',
    headers: [['content-type', 'application/x-www-form-urlencoded; charset=utf-8']],
    body: 'Action=GetCallerIdentity&Version=2011-06-15',
    token: true,
  },
];

const REGION = 'eu-west-3';
const HOST = '127.0.0.1:4566';

function rawPathOf(c: Case): string {
  return c.query === '' ? c.path : `${c.path}?${c.query}`;
}

function verifyOurs(req: SigV4Request, body: string): void {
  const parsed = parseSigV4(req);
  const source = payloadHashFor(parsed);
  const payloadHash = source.kind === 'declared' ? source.value : sha256(body);
  verifySigV4(parsed, req, { secretAccessKey: CREDS.secretAccessKey, payloadHash, now: NOW });
}

function smithyQuery(raw: string): Record<string, string | string[]> {
  const q: Record<string, string | string[]> = {};
  for (const { key, value } of splitQuery(raw)) {
    const k = percentDecode(key);
    const v = percentDecode(value);
    const prev = q[k];
    q[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
  }
  return q;
}

function smithySigner(service: string, token: boolean): SignatureV4 {
  return new SignatureV4({
    service,
    region: REGION,
    sha256: Sha256,
    uriEscapePath: service !== 's3',
    credentials: token ? CREDS : { accessKeyId: CREDS.accessKeyId, secretAccessKey: CREDS.secretAccessKey },
  });
}

function contentShaOf(c: Case): string {
  return c.contentSha ?? sha256(c.body);
}

describe('@smithy/signature-v4 (JS SDK v3) signs, portcullis verifies', () => {
  it.each(cases)('$name', async (c) => {
    const signed = await smithySigner(c.service, c.token === true).sign(
      {
        method: c.method,
        protocol: 'http:',
        hostname: '127.0.0.1',
        port: 4566,
        path: c.path,
        query: smithyQuery(c.query),
        headers: { host: HOST, 'x-amz-content-sha256': contentShaOf(c), ...Object.fromEntries(c.headers) },
        body: c.body,
      },
      { signingDate: NOW },
    );
    const req: SigV4Request = { method: c.method, rawPath: rawPathOf(c), headers: signed.headers };
    expect(() => verifyOurs(req, c.body)).not.toThrow();
  });
});

describe('portcullis signOutgoing equals @smithy/signature-v4', () => {
  it.each(cases)('$name', async (c) => {
    const headers = Object.fromEntries(c.headers);
    const ours = signOutgoing({
      method: c.method,
      url: new URL(`http://${HOST}${rawPathOf(c)}`),
      rawPath: rawPathOf(c),
      headers,
      region: REGION,
      service: c.service,
      credentials: c.token === true ? CREDS : { accessKeyId: CREDS.accessKeyId, secretAccessKey: CREDS.secretAccessKey },
      payloadHash: contentShaOf(c),
      now: NOW,
    });
    const theirs = await smithySigner(c.service, c.token === true).sign(
      {
        method: c.method,
        protocol: 'http:',
        hostname: '127.0.0.1',
        port: 4566,
        path: c.path,
        query: smithyQuery(c.query),
        headers: { host: HOST, 'x-amz-content-sha256': contentShaOf(c), ...headers },
        body: c.body,
      },
      { signingDate: NOW },
    );
    expect(ours.authorization).toBe(theirs.headers.authorization);
  });

  it('presigned S3 GET from smithy verifies', async () => {
    const url = await smithySigner('s3', true).presign(
      {
        method: 'GET',
        protocol: 'http:',
        hostname: '127.0.0.1',
        port: 4566,
        path: '/bkt/a%20b%2Bc.txt',
        query: { 'response-content-type': 'text/plain; charset=utf-8' },
        headers: { host: HOST, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' },
      },
      { signingDate: NOW, expiresIn: 900 },
    );
    const query = Object.entries(url.query ?? {})
      .flatMap(([k, v]) => (Array.isArray(v) ? v : [v]).map((x) => `${encodeURIComponent(k)}=${encodeURIComponent(String(x))}`))
      .join('&');
    const req: SigV4Request = { method: 'GET', rawPath: `${url.path}?${query}`, headers: url.headers };
    const parsed = parseSigV4(req);
    expect(parsed.presigned).toBe(true);
    expect(parsed.securityToken).toBe(CREDS.sessionToken);
    expect(payloadHashFor(parsed)).toEqual({ kind: 'declared', value: 'UNSIGNED-PAYLOAD' });
    expect(() => verifyOurs(req, '')).not.toThrow();
  });
});

// botocore through python3: sign each case with the real SigV4Auth / S3SigV4Auth (mode "client"), and sign our
// outgoing headers with a plain SigV4Auth that keeps our header set (mode "plain").
const PY = String.raw`
import json, sys, datetime, botocore.auth as A
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
jobs = json.load(sys.stdin)
out = []
for j in jobs:
    A.get_current_datetime = lambda: datetime.datetime.strptime(j['ts'], '%Y%m%dT%H%M%SZ')
    creds = Credentials(j['akid'], j['secret'], j.get('token'))
    s3 = j['service'] == 's3'
    if j['mode'] == 'presign':
        cls = A.S3SigV4QueryAuth if s3 else A.SigV4QueryAuth
        signer = cls(creds, j['service'], j['region'], expires=j['expires'])
    elif j['mode'] == 'client':
        signer = (A.S3SigV4Auth if s3 else A.SigV4Auth)(creds, j['service'], j['region'])
    else:
        class Plain(A.SigV4Auth):
            if s3:
                def _normalize_url_path(self, path):
                    return path
        signer = Plain(creds, j['service'], j['region'])
    req = AWSRequest(method=j['method'], url=j['url'], data=j['body'].encode('utf-8'))
    for k, v in j['headers']:
        req.headers[k] = v
    signer.add_auth(req)
    out.append({'url': req.url, 'headers': [[k, v] for k, v in req.headers.items()]})
json.dump(out, sys.stdout)
`;

interface PyJob {
  mode: 'client' | 'plain' | 'presign';
  service: string;
  region: string;
  method: string;
  url: string;
  headers: Array<[string, string]>;
  body: string;
  akid: string;
  secret: string;
  token?: string;
  ts: string;
  expires?: number;
}
interface PyResult {
  url: string;
  headers: Array<[string, string]>;
}

function botocore(jobs: PyJob[]): PyResult[] {
  const out = execFileSync('python3', ['-c', PY], { input: JSON.stringify(jobs), encoding: 'utf8' });
  return JSON.parse(out) as PyResult[];
}

/** Headers as Node's req.headersDistinct would show them: lowercase names, every value kept. */
function distinct(headers: Array<[string, string]>): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [k, v] of headers) (out[k.toLowerCase()] ??= []).push(v);
  return out;
}

const botoCases: Array<Case & { multi?: Array<[string, string]> }> = [
  ...cases,
  {
    name: 'S3 header with multiple values',
    service: 's3',
    method: 'GET',
    path: '/bkt/k',
    query: '',
    headers: [
      ['x-amz-meta-multi', 'first'],
      ['x-amz-meta-multi', '  second   value '],
    ],
    body: '',
  },
];

describe('botocore signs, portcullis verifies; portcullis signs, botocore agrees', () => {
  const ts = '20260304T050607Z';
  let clientResults: PyResult[] = [];
  let plainResults: PyResult[] = [];
  let ourOutgoing: Array<Record<string, string>> = [];

  beforeAll(() => {
    const base = (c: Case) => ({
      service: c.service,
      region: REGION,
      method: c.method,
      url: `http://${HOST}${rawPathOf(c)}`,
      body: c.body,
      akid: CREDS.accessKeyId,
      secret: CREDS.secretAccessKey,
      ...(c.token === true ? { token: CREDS.sessionToken } : {}),
      ts,
    });
    clientResults = botocore(botoCases.map((c) => ({ ...base(c), mode: 'client' as const, headers: c.headers })));
    ourOutgoing = botoCases.map((c) => {
      const merged: Record<string, string> = {};
      for (const [k, v] of c.headers) merged[k] = merged[k] === undefined ? v : `${merged[k]},${v}`;
      return signOutgoing({
        method: c.method,
        url: new URL(`http://${HOST}${rawPathOf(c)}`),
        rawPath: rawPathOf(c),
        headers: merged,
        region: REGION,
        service: c.service,
        credentials: c.token === true ? CREDS : { accessKeyId: CREDS.accessKeyId, secretAccessKey: CREDS.secretAccessKey },
        payloadHash: contentShaOf(c),
        now: NOW,
      });
    });
    plainResults = botocore(
      botoCases.map((c, i) => ({
        ...base(c),
        mode: 'plain' as const,
        headers: Object.entries(ourOutgoing[i]!).filter(([k]) => k !== 'authorization') as Array<[string, string]>,
      })),
    );
  });

  it.each(botoCases.map((c, i) => [c.name, i] as const))('botocore client signature verifies: %s', (_name, i) => {
    const c = botoCases[i]!;
    const r = clientResults[i]!;
    const req: SigV4Request = { method: c.method, rawPath: rawPathOf(c), headers: { host: HOST, ...distinct(r.headers) } };
    expect(() => verifyOurs(req, c.body)).not.toThrow();
  });

  it.each(botoCases.map((c, i) => [c.name, i] as const))('botocore reproduces our outgoing signature: %s', (_name, i) => {
    const theirs = Object.fromEntries(plainResults[i]!.headers.map(([k, v]) => [k.toLowerCase(), v]));
    expect(ourOutgoing[i]!.authorization).toBe(theirs.authorization);
  });

  it('presigned URLs from botocore verify (S3 and STS)', () => {
    const jobs: PyJob[] = [
      { mode: 'presign', service: 's3', region: REGION, method: 'GET', url: `http://${HOST}/bkt/a%20b%2Bc%C3%BC.txt?versionId=v%2F1`, headers: [], body: '', akid: CREDS.accessKeyId, secret: CREDS.secretAccessKey, token: CREDS.sessionToken, ts, expires: 3600 },
      { mode: 'presign', service: 'sts', region: REGION, method: 'GET', url: `http://${HOST}/?Action=GetCallerIdentity&Version=2011-06-15`, headers: [], body: '', akid: CREDS.accessKeyId, secret: CREDS.secretAccessKey, ts, expires: 60 },
    ];
    for (const r of botocore(jobs)) {
      const u = new URL(r.url);
      const req: SigV4Request = { method: 'GET', rawPath: u.pathname + u.search, headers: { host: HOST, ...distinct(r.headers) } };
      const parsed = parseSigV4(req);
      expect(parsed.presigned).toBe(true);
      expect(() => verifyOurs(req, '')).not.toThrow();
    }
  });
});
