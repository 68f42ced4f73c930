// A tiny AWS-compatible upstream for `portcullis demo` ONLY. It answers the handful of calls the demo
// makes (S3 buckets/objects, DynamoDB GetItem/PutItem/Query/DescribeTable/DeleteTable, Secrets Manager
// GetSecretValue, STS AssumeRole/GetCallerIdentity) from in-memory data, in the wire shapes the SDKs use.
//
// It does NOT check signatures or permissions: it trusts whatever reaches it. That is acceptable only
// because it listens on 127.0.0.1, lives inside the demo process and holds made-up data. It is not a
// test double for AWS (the test suite uses moto and s3rver for that) and must never be used for anything else.

import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { crc32 } from 'node:zlib';

export interface DemoObject {
  body: Buffer;
  contentType: string;
  lastModified: Date;
}

type DdbValue = Record<string, unknown>;
type DdbItem = Record<string, DdbValue>;

export interface DemoTable {
  hashKey: string;
  rangeKey?: string;
  items: Map<string, DdbItem>;
  createdAt: Date;
}

export interface DemoSecret {
  name: string;
  arn: string;
  value: string;
  createdAt: Date;
}

export interface DemoUpstreamData {
  buckets: Map<string, Map<string, DemoObject>>;
  tables: Map<string, DemoTable>;
  secrets: Map<string, DemoSecret>;
}

export interface DemoUpstreamOptions {
  accountId: string;
  region: string;
  now?: () => Date;
}

export interface DemoUpstream {
  /** `http://127.0.0.1:PORT`, for `upstream.endpoint`. */
  endpoint: string;
  data: DemoUpstreamData;
  /** Calls answered, by `service:Operation` (the demo's own sanity check). */
  readonly calls: Map<string, number>;
  close(): Promise<void>;
}

interface Reply {
  status: number;
  headers: Record<string, string>;
  body: Buffer | string;
}

const XMLNS_S3 = 'http://s3.amazonaws.com/doc/2006-03-01/';
const XMLNS_STS = 'https://sts.amazonaws.com/doc/2011-06-15/';
const MAX_BODY_BYTES = 5 * 1024 * 1024;

function xmlEscape(text: string): string {
  return text.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);
}

function iso(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, '.000Z');
}

function requestId(): string {
  return randomBytes(8).toString('hex').toUpperCase();
}

function xmlReply(status: number, body: string): Reply {
  return { status, headers: { 'content-type': 'application/xml' }, body: `<?xml version="1.0" encoding="UTF-8"?>\n${body}` };
}

function s3Error(status: number, code: string, message: string, resource: string): Reply {
  return xmlReply(status, `<Error><Code>${code}</Code><Message>${xmlEscape(message)}</Message><Resource>${xmlEscape(resource)}</Resource><RequestId>${requestId()}</RequestId></Error>`);
}

function jsonReply(status: number, contentType: string, value: unknown): Reply {
  const body = Buffer.from(JSON.stringify(value));
  // DynamoDB clients check x-amz-crc32; the gateway must recompute it after masking.
  return { status, headers: { 'content-type': contentType, 'x-amz-crc32': String(crc32(body) >>> 0) }, body };
}

function jsonError(contentType: string, prefix: string, code: string, message: string, status = 400): Reply {
  return jsonReply(status, contentType, { __type: `${prefix}#${code}`, message });
}

/** The signing service from `Authorization: AWS4-HMAC-SHA256 Credential=AK/DATE/REGION/SERVICE/aws4_request` (not verified). */
function scope(header: string | undefined): { accessKeyId?: string; service?: string } {
  const match = /Credential=([^/]+)\/\d{8}\/[^/]+\/([^/]+)\/aws4_request/.exec(header ?? '');
  return match ? { accessKeyId: match[1], service: match[2] } : {};
}

function itemKey(table: DemoTable, key: DdbItem | undefined): string | undefined {
  if (!key) return undefined;
  const hash = key[table.hashKey];
  if (!hash) return undefined;
  const range = table.rangeKey ? key[table.rangeKey] : undefined;
  if (table.rangeKey && !range) return undefined;
  return JSON.stringify([hash, range ?? null]);
}

function tableDescription(name: string, table: DemoTable, options: DemoUpstreamOptions, status = 'ACTIVE'): Record<string, unknown> {
  const keySchema = [{ AttributeName: table.hashKey, KeyType: 'HASH' }, ...(table.rangeKey ? [{ AttributeName: table.rangeKey, KeyType: 'RANGE' }] : [])];
  return {
    TableName: name,
    TableStatus: status,
    TableArn: `arn:aws:dynamodb:${options.region}:${options.accountId}:table/${name}`,
    KeySchema: keySchema,
    AttributeDefinitions: keySchema.map((k) => ({ AttributeName: k.AttributeName, AttributeType: 'S' })),
    ItemCount: table.items.size,
    CreationDateTime: table.createdAt.getTime() / 1000,
    BillingModeSummary: { BillingMode: 'PAY_PER_REQUEST' },
  };
}

/** `pk = :v` or `#n = :v`, optionally `AND begins_with(sk, :p)`: the subset the demo uses. */
function queryLite(table: DemoTable, input: Record<string, any>): DdbItem[] | string {
  const expression = String(input.KeyConditionExpression ?? '');
  const names = (input.ExpressionAttributeNames ?? {}) as Record<string, string>;
  const values = (input.ExpressionAttributeValues ?? {}) as Record<string, DdbValue>;
  const resolveName = (token: string) => (token.startsWith('#') ? names[token] : token);
  const match = /^\s*([#\w]+)\s*=\s*(:\w+)\s*(?:AND\s+begins_with\(\s*([#\w]+)\s*,\s*(:\w+)\s*\)\s*)?$/i.exec(expression);
  if (!match) return `the demo upstream only understands "pk = :v [AND begins_with(sk, :p)]", not "${expression}"`;
  const hashName = resolveName(match[1]!);
  const hashValue = values[match[2]!];
  if (hashName !== table.hashKey || !hashValue) return 'KeyConditionExpression must test the partition key';
  const prefixName = match[3] ? resolveName(match[3]) : undefined;
  const prefix = match[4] ? values[match[4]]?.S : undefined;
  return [...table.items.values()].filter((item) => {
    if (JSON.stringify(item[hashName]) !== JSON.stringify(hashValue)) return false;
    if (prefixName && typeof prefix === 'string') return typeof item[prefixName]?.S === 'string' && (item[prefixName]!.S as string).startsWith(prefix);
    return true;
  });
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of req) {
    total += (chunk as Buffer).length;
    if (total > MAX_BODY_BYTES) throw new Error('request body too large for the demo upstream');
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

export function emptyDemoData(): DemoUpstreamData {
  return { buckets: new Map(), tables: new Map(), secrets: new Map() };
}

export async function startDemoUpstream(options: DemoUpstreamOptions, data: DemoUpstreamData = emptyDemoData()): Promise<DemoUpstream> {
  const now = options.now ?? (() => new Date());
  const calls = new Map<string, number>();
  /** Access keys this "STS" issued, so GetCallerIdentity can say who is calling. */
  const issued = new Map<string, { roleArn: string; sessionName: string }>();
  const count = (name: string) => calls.set(name, (calls.get(name) ?? 0) + 1);

  const sts = (form: URLSearchParams, accessKeyId: string | undefined): Reply => {
    const action = form.get('Action');
    count(`sts:${action}`);
    if (action === 'AssumeRole') {
      const roleArn = form.get('RoleArn') ?? '';
      const sessionName = form.get('RoleSessionName') ?? 'demo';
      const role = /^arn:aws:iam::(\d{12}):role\/(?:.*\/)?([\w+=,.@-]+)$/.exec(roleArn);
      if (!role) return xmlReply(400, `<ErrorResponse xmlns="${XMLNS_STS}"><Error><Type>Sender</Type><Code>ValidationError</Code><Message>RoleArn ${xmlEscape(roleArn)} is not a role ARN</Message></Error><RequestId>${requestId()}</RequestId></ErrorResponse>`);
      const key = `ASIA${randomBytes(8).toString('hex').toUpperCase()}`;
      issued.set(key, { roleArn, sessionName });
      const seconds = Math.min(Number(form.get('DurationSeconds') ?? 3600) || 3600, 43_200);
      const expiration = new Date(now().getTime() + seconds * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
      return xmlReply(
        200,
        `<AssumeRoleResponse xmlns="${XMLNS_STS}"><AssumeRoleResult>` +
          `<SourceIdentity>${xmlEscape(form.get('SourceIdentity') ?? '')}</SourceIdentity>` +
          `<AssumedRoleUser><Arn>arn:aws:sts::${role[1]}:assumed-role/${xmlEscape(role[2]!)}/${xmlEscape(sessionName)}</Arn><AssumedRoleId>AROADEMO${randomBytes(6).toString('hex').toUpperCase()}:${xmlEscape(sessionName)}</AssumedRoleId></AssumedRoleUser>` +
          `<Credentials><AccessKeyId>${key}</AccessKeyId><SecretAccessKey>${randomBytes(30).toString('base64')}</SecretAccessKey>` +
          `<SessionToken>${randomBytes(48).toString('base64')}</SessionToken><Expiration>${expiration}</Expiration></Credentials>` +
          `</AssumeRoleResult><ResponseMetadata><RequestId>${requestId()}</RequestId></ResponseMetadata></AssumeRoleResponse>`,
      );
    }
    if (action === 'GetCallerIdentity') {
      const who = accessKeyId ? issued.get(accessKeyId) : undefined;
      const account = who ? /::(\d{12}):/.exec(who.roleArn)?.[1] ?? options.accountId : options.accountId;
      const arn = who ? `arn:aws:sts::${account}:assumed-role/${who.roleArn.split('/').pop()}/${who.sessionName}` : `arn:aws:iam::${account}:user/demo`;
      return xmlReply(
        200,
        `<GetCallerIdentityResponse xmlns="${XMLNS_STS}"><GetCallerIdentityResult><Arn>${xmlEscape(arn)}</Arn><UserId>AIDADEMO:${xmlEscape(who?.sessionName ?? 'demo')}</UserId><Account>${account}</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>${requestId()}</RequestId></ResponseMetadata></GetCallerIdentityResponse>`,
      );
    }
    return xmlReply(400, `<ErrorResponse xmlns="${XMLNS_STS}"><Error><Type>Sender</Type><Code>InvalidAction</Code><Message>the demo upstream does not implement sts:${xmlEscape(action ?? '')}</Message></Error><RequestId>${requestId()}</RequestId></ErrorResponse>`);
  };

  const dynamodb = (operation: string, input: Record<string, any>): Reply => {
    const type = 'application/x-amz-json-1.0';
    const prefix = 'com.amazonaws.dynamodb.v20120810';
    count(`dynamodb:${operation}`);
    const name = String(input.TableName ?? '');
    const table = data.tables.get(name);
    if (!table) return jsonError(type, prefix, 'ResourceNotFoundException', `Requested resource not found: Table: ${name} not found`);
    switch (operation) {
      case 'DescribeTable':
        return jsonReply(200, type, { Table: tableDescription(name, table, options) });
      case 'GetItem': {
        const key = itemKey(table, input.Key);
        if (!key) return jsonError(type, prefix, 'ValidationException', 'The provided key element does not match the schema');
        const item = table.items.get(key);
        return jsonReply(200, type, item ? { Item: item } : {});
      }
      case 'PutItem': {
        const key = itemKey(table, input.Item);
        if (!key) return jsonError(type, prefix, 'ValidationException', 'One of the required keys was not given a value');
        table.items.set(key, input.Item as DdbItem);
        return jsonReply(200, type, {});
      }
      case 'Query': {
        const items = queryLite(table, input);
        if (typeof items === 'string') return jsonError(type, prefix, 'ValidationException', items);
        return jsonReply(200, type, { Items: items, Count: items.length, ScannedCount: items.length });
      }
      case 'DeleteTable':
        data.tables.delete(name);
        return jsonReply(200, type, { TableDescription: tableDescription(name, table, options, 'DELETING') });
      default:
        return jsonError(type, prefix, 'UnknownOperationException', `the demo upstream does not implement dynamodb:${operation}`);
    }
  };

  const secretsManager = (operation: string, input: Record<string, any>): Reply => {
    const type = 'application/x-amz-json-1.1';
    count(`secretsmanager:${operation}`);
    if (operation !== 'GetSecretValue') return jsonError(type, 'com.amazonaws.secretsmanager', 'InvalidRequestException', `the demo upstream does not implement secretsmanager:${operation}`);
    const id = String(input.SecretId ?? '');
    const secret = data.secrets.get(id) ?? [...data.secrets.values()].find((s) => s.arn === id);
    if (!secret) return jsonError(type, 'com.amazonaws.secretsmanager', 'ResourceNotFoundException', "Secrets Manager can't find the specified secret.");
    return jsonReply(200, type, {
      ARN: secret.arn,
      Name: secret.name,
      SecretString: secret.value,
      VersionId: createHash('sha256').update(secret.value).digest('hex').slice(0, 32).replace(/^(.{8})(.{4})(.{4})(.{4})/, '$1-$2-$3-$4-'),
      VersionStages: ['AWSCURRENT'],
      CreatedDate: secret.createdAt.getTime() / 1000,
    });
  };

  const s3 = (method: string, url: URL, body: Buffer, headers: IncomingMessage['headers']): Reply => {
    // Path style only: the gateway always sends path style to an endpoint override.
    const [, bucketName = '', ...rest] = url.pathname.split('/');
    const bucket = decodeURIComponent(bucketName);
    const key = rest.map(decodeURIComponent).join('/');
    const objects = data.buckets.get(bucket);
    const resource = `/${bucket}${key ? `/${key}` : ''}`;
    if (!bucket) {
      count('s3:ListBuckets');
      const list = [...data.buckets.keys()].map((b) => `<Bucket><Name>${xmlEscape(b)}</Name><CreationDate>${iso(now())}</CreationDate></Bucket>`).join('');
      return xmlReply(200, `<ListAllMyBucketsResult xmlns="${XMLNS_S3}"><Owner><ID>demo</ID></Owner><Buckets>${list}</Buckets></ListAllMyBucketsResult>`);
    }
    if (!key) {
      if (method === 'PUT') {
        count('s3:CreateBucket');
        if (!objects) data.buckets.set(bucket, new Map());
        return { status: 200, headers: { location: `/${bucket}` }, body: '' };
      }
      if (!objects) return s3Error(404, 'NoSuchBucket', 'The specified bucket does not exist', resource);
      if (method === 'DELETE') {
        count('s3:DeleteBucket');
        if (objects.size > 0) return s3Error(409, 'BucketNotEmpty', 'The bucket you tried to delete is not empty', resource);
        data.buckets.delete(bucket);
        return { status: 204, headers: {}, body: '' };
      }
      count('s3:ListObjectsV2');
      const prefix = url.searchParams.get('prefix') ?? '';
      const maxKeys = Math.max(0, Math.min(1000, Number(url.searchParams.get('max-keys') ?? 1000) || 1000));
      const keys = [...objects.keys()].filter((k) => k.startsWith(prefix)).sort();
      const shown = keys.slice(0, maxKeys);
      const contents = shown
        .map((k) => {
          const o = objects.get(k)!;
          return `<Contents><Key>${xmlEscape(k)}</Key><LastModified>${iso(o.lastModified)}</LastModified><ETag>"${createHash('md5').update(o.body).digest('hex')}"</ETag><Size>${o.body.length}</Size><StorageClass>STANDARD</StorageClass></Contents>`;
        })
        .join('');
      return xmlReply(
        200,
        `<ListBucketResult xmlns="${XMLNS_S3}"><Name>${xmlEscape(bucket)}</Name><Prefix>${xmlEscape(prefix)}</Prefix><KeyCount>${shown.length}</KeyCount><MaxKeys>${maxKeys}</MaxKeys><IsTruncated>${shown.length < keys.length}</IsTruncated>${contents}</ListBucketResult>`,
      );
    }
    if (!objects) return s3Error(404, 'NoSuchBucket', 'The specified bucket does not exist', resource);
    if (method === 'PUT') {
      count('s3:PutObject');
      objects.set(key, { body, contentType: String(headers['content-type'] ?? 'application/octet-stream'), lastModified: now() });
      return { status: 200, headers: { etag: `"${createHash('md5').update(body).digest('hex')}"` }, body: '' };
    }
    if (method === 'DELETE') {
      count('s3:DeleteObject');
      objects.delete(key);
      return { status: 204, headers: {}, body: '' };
    }
    count(method === 'HEAD' ? 's3:HeadObject' : 's3:GetObject');
    const object = objects.get(key);
    if (!object) return s3Error(404, 'NoSuchKey', 'The specified key does not exist.', resource);
    return {
      status: 200,
      headers: {
        'content-type': object.contentType,
        etag: `"${createHash('md5').update(object.body).digest('hex')}"`,
        'last-modified': object.lastModified.toUTCString(),
      },
      body: object.body,
    };
  };

  const route = async (req: IncomingMessage): Promise<Reply> => {
    const url = new URL(req.url ?? '/', 'http://demo-upstream');
    const body = await readBody(req);
    const { accessKeyId, service } = scope(req.headers.authorization);
    const target = String(req.headers['x-amz-target'] ?? '');
    const json = (): Record<string, any> => (body.length > 0 ? (JSON.parse(body.toString('utf8')) as Record<string, any>) : {});
    if (target.startsWith('DynamoDB_20120810.')) return dynamodb(target.slice('DynamoDB_20120810.'.length), json());
    if (target.startsWith('secretsmanager.')) return secretsManager(target.slice('secretsmanager.'.length), json());
    if (service === 'sts' || (req.method === 'POST' && url.pathname === '/' && String(req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded'))) {
      return sts(new URLSearchParams(body.toString('utf8')), accessKeyId);
    }
    return s3(req.method ?? 'GET', url, body, req.headers);
  };

  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    route(req).then(
      (reply) => {
        const body = typeof reply.body === 'string' ? Buffer.from(reply.body) : reply.body;
        res.writeHead(reply.status, { 'x-amzn-requestid': requestId(), ...reply.headers, 'content-length': body.length });
        res.end(req.method === 'HEAD' ? undefined : body);
      },
      (error: unknown) => {
        res.writeHead(400, { 'content-type': 'text/plain' });
        res.end(`demo upstream: ${(error as Error).message}`);
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    data,
    calls,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
