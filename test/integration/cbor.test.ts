// Smithy RPC v2 CBOR end to end (CloudWatch, GameLift, Comprehend Medical… speak it): with raw SigV4-signed requests,
// and with the stock JS SDK v3 CloudWatch client switched to its CBOR protocol (`protocol: AwsSmithyRpcV2CborProtocol`;
// boto3 1.43 and the JS SDK still choose JSON for CloudWatch by default). A CBOR answer must be masked as CBOR, a
// refusal must be a CBOR error the SDK reads as the named error, and a CBOR answer the gateway cannot read must be
// withheld. The upstream is a small CloudWatch
// stand-in on port 0 answering in CBOR, because moto_server (5.2) does not speak the CBOR protocol; it also answers
// the gateway's AssumeRole and GetCallerIdentity, and records every call that reaches it, so a refused call is shown
// never to have left.

import { CloudWatchClient, DeleteAlarmsCommand, DescribeAlarmsCommand, GetDashboardCommand } from '@aws-sdk/client-cloudwatch';
import { AwsSmithyRpcV2CborProtocol } from '@aws-sdk/core/protocols';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { decode, encode, Tagged } from 'cborg';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { EventBus, type GatewayEvent } from '../../src/events.js';
import { Gateway } from '../../src/gateway.js';
import { mintLocalToken } from '../../src/identity/local-token.js';
import { Agent, request as httpsRequest } from 'node:https';
import { signOutgoingRequest, type AwsCredentials } from '../../src/aws/sigv4.js';

const ROLE = 'arn:aws:iam::123456789012:role/metrics';
const KEY_ID = 'AKIAIOSFODNN7PLANTED';
const PASSWORD = 'hunter2-in-a-dashboard';
const POLICY = (endpoint: string) => `version: 1
upstream:
  endpoint: ${endpoint}
  region: us-east-1
service_accounts:
  - name: metrics-bot
    issuer: local
    roles: ["${ROLE}"]
    session_ttl: 1h
rules:
  - id: no-deletes
    effect: deny
    actions: ["cloudwatch:DeleteAlarms"]
    message: alarms are not deleted by bots
  - id: read
    effect: allow
    actions: ["cloudwatch:Describe*", "cloudwatch:Get*"]
masking:
  fields: [password]
`;

const OPERATION = /^\/service\/GraniteServiceVersion20100801\/operation\/(\w+)$/;

function xml(action: string, inner: string): string {
  return `<${action}Response xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><${action}Result>${inner}</${action}Result><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></${action}Response>`;
}

let upstream: Server;
const hits: string[] = [];
let dir: string;
let gateway: Gateway;
let credentials: AwsCredentials;

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

function send(method: string, path: string, headers: Record<string, string>, body?: Buffer): Promise<Answer> {
  const url = new URL(path, gateway.url);
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { method, headers: body ? { ...headers, 'content-length': String(body.length) } : headers, ca: gateway.ca.certPem, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** One CloudWatch operation over Smithy RPC v2 CBOR, signed with the session's credentials (or the given ones). */
function cbor(operation: string, input: object, creds: AwsCredentials = credentials): Promise<Answer> {
  const path = `/service/GraniteServiceVersion20100801/operation/${operation}`;
  const body = Buffer.from(encode(input));
  const signed = signOutgoingRequest({
    method: 'POST',
    url: new URL(path, gateway.url),
    headers: { 'content-type': 'application/cbor', accept: 'application/cbor', 'smithy-protocol': 'rpc-v2-cbor', 'content-length': String(body.length) },
    region: 'us-east-1',
    service: 'monitoring',
    credentials: creds,
    payloadHash: createHash('sha256').update(body).digest('hex'),
    now: new Date(),
  });
  return send('POST', path, signed.headers, body);
}

const read = (answer: Answer): any => decode(answer.body, { tags: { 1: Tagged.decoder(1) }, useMaps: false });

beforeAll(async () => {
  upstream = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('latin1');
      const op = OPERATION.exec(req.url ?? '')?.[1];
      hits.push(op ?? new URLSearchParams(body).get('Action') ?? req.url ?? '');
      const cbor = (status: number, value: Uint8Array) => {
        res.writeHead(status, { 'content-type': 'application/cbor', 'smithy-protocol': 'rpc-v2-cbor', 'content-length': value.length });
        res.end(value);
      };
      if (op === 'DescribeAlarms') {
        return cbor(200, encode({
          MetricAlarms: [
            { AlarmName: 'cpu-high', AlarmDescription: `page on-call; old key ${KEY_ID}`, Threshold: 80.5, ActionsEnabled: true, StateUpdatedTimestamp: new Tagged(1, 1_700_000_000) },
          ],
        }));
      }
      if (op === 'GetDashboard') {
        const name = (decode(Buffer.from(body, 'latin1'), { useMaps: false }) as { DashboardName?: string }).DashboardName;
        // Not CBOR: a broken answer that still carries the secret.
        if (name === 'broken') return cbor(200, Buffer.from(`{"DashboardBody":"password=${PASSWORD}"}`));
        return cbor(200, encode({ DashboardBody: JSON.stringify({ widgets: [], password: PASSWORD }), DashboardName: name }));
      }
      if (op !== undefined) return cbor(200, encode({}));
      const action = new URLSearchParams(body).get('Action');
      res.writeHead(200, { 'content-type': 'text/xml' });
      if (action === 'AssumeRole') {
        const expiration = new Date(Date.now() + 3_600_000).toISOString();
        return res.end(xml('AssumeRole', `<Credentials><AccessKeyId>ASIAUPSTREAM00000001</AccessKeyId><SecretAccessKey>upstream-secret</SecretAccessKey><SessionToken>upstream-token</SessionToken><Expiration>${expiration}</Expiration></Credentials><AssumedRoleUser><AssumedRoleId>AROA:x</AssumedRoleId><Arn>${ROLE}</Arn></AssumedRoleUser>`));
      }
      return res.end(xml('GetCallerIdentity', '<Arn>arn:aws:iam::123456789012:user/gateway</Arn><UserId>AIDA</UserId><Account>123456789012</Account>'));
    });
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  const endpoint = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;

  dir = await mkdtemp(join(tmpdir(), 'portcullis-cbor-'));
  const policyFile = join(dir, 'policy.yaml');
  await writeFile(policyFile, POLICY(endpoint));
  const bus = new EventBus();
  const events: GatewayEvent[] = [];
  bus.subscribe((e) => events.push(e));
  gateway = await Gateway.start({
    policyFile,
    stateDir: join(dir, 'state'),
    host: '127.0.0.1',
    port: 0,
    bus,
    version: 'test',
    baseCredentials: async () => ({ accessKeyId: 'AKIAGATEWAYBASE00001', secretAccessKey: 'base-secret' }),
    drainMs: 500,
  });
  const token = mintLocalToken(gateway.keys, { serviceAccount: 'metrics-bot', ttlMs: 3_600_000, now: new Date() });
  const form = new URLSearchParams({ Action: 'AssumeRoleWithWebIdentity', Version: '2011-06-15', RoleArn: ROLE, RoleSessionName: 'cbor', WebIdentityToken: token }).toString();
  const sts = await send('POST', '/', { 'content-type': 'application/x-www-form-urlencoded' }, Buffer.from(form));
  const field = (name: string) => new RegExp(`<${name}>([^<]+)</${name}>`).exec(sts.body.toString())?.[1] ?? '';
  credentials = { accessKeyId: field('AccessKeyId'), secretAccessKey: field('SecretAccessKey'), sessionToken: field('SessionToken') };
  expect(credentials.accessKeyId).not.toBe('');
}, 60_000);

afterAll(async () => {
  await gateway?.close();
  await new Promise((resolve) => upstream?.close(resolve));
  await rm(dir, { recursive: true, force: true });
});

describe('CloudWatch over Smithy RPC v2 CBOR through the gateway', () => {
  test('an answer is masked as CBOR and keeps its types (numbers, booleans, timestamps)', async () => {
    const answer = await cbor('DescribeAlarms', {});
    expect(answer.status).toBe(200);
    expect(answer.headers['content-type']).toBe('application/cbor');
    expect(answer.body.includes(Buffer.from(KEY_ID))).toBe(false);
    const [alarm] = read(answer).MetricAlarms;
    expect(alarm.AlarmDescription).toMatch(/^page on-call; old key AKIA/);
    expect(alarm).toMatchObject({ AlarmName: 'cpu-high', Threshold: 80.5, ActionsEnabled: true });
    expect(alarm.StateUpdatedTimestamp).toEqual(new Tagged(1, 1_700_000_000));
    expect(Number(answer.headers['content-length'])).toBe(answer.body.length);
  });

  test('JSON inside a CBOR string is masked field by field', async () => {
    const answer = await cbor('GetDashboard', { DashboardName: 'ops' });
    expect(answer.status).toBe(200);
    expect(JSON.parse(read(answer).DashboardBody)).toEqual({ widgets: [], password: '****' });
  });

  test('a denied call is a CBOR error the SDK reads (__type, message) and never reaches the upstream', async () => {
    const answer = await cbor('DeleteAlarms', { AlarmNames: ['cpu-high'] });
    expect(answer.status).toBe(403);
    expect(answer.headers['content-type']).toBe('application/cbor');
    expect(answer.headers['smithy-protocol']).toBe('rpc-v2-cbor');
    expect(read(answer)).toMatchObject({ __type: 'AccessDeniedException', message: expect.stringContaining('alarms are not deleted by bots') });
    expect(hits).not.toContain('DeleteAlarms');
  });

  test('a bad signature on a CBOR call is refused in CBOR too, before anything is forwarded', async () => {
    const before = hits.length;
    const answer = await cbor('DescribeAlarms', {}, { ...credentials, secretAccessKey: 'not-the-secret' });
    expect(answer.status).toBe(403);
    expect(read(answer).__type).toMatch(/SignatureDoesNotMatch/);
    expect(hits.length).toBe(before);
  });

  test('a CBOR answer the gateway cannot read is withheld: a CBOR 502, never the bytes', async () => {
    const answer = await cbor('GetDashboard', { DashboardName: 'broken' });
    expect(hits).toContain('GetDashboard');
    expect(answer.status).toBe(502);
    expect(answer.body.includes(Buffer.from(PASSWORD))).toBe(false);
    expect(read(answer).message).toContain('CBOR body');
  });
});

describe('the JS SDK v3 CloudWatch client on its CBOR protocol, through the gateway', () => {
  const client = () =>
    new CloudWatchClient({
      endpoint: gateway.url,
      region: 'us-east-1',
      credentials,
      maxAttempts: 1,
      protocol: AwsSmithyRpcV2CborProtocol,
      requestHandler: new NodeHttpHandler({ httpsAgent: new Agent({ ca: gateway.ca.certPem }) }),
    });

  test('reads a masked answer with its types', async () => {
    const before = hits.filter((h) => h === 'DescribeAlarms').length;
    const out = await client().send(new DescribeAlarmsCommand({}));
    expect(hits.filter((h) => h === 'DescribeAlarms').length).toBe(before + 1);
    const [alarm] = out.MetricAlarms ?? [];
    expect(alarm?.AlarmDescription).toMatch(/^page on-call; old key AKIA/);
    expect(alarm?.AlarmDescription).not.toContain(KEY_ID);
    expect(alarm).toMatchObject({ AlarmName: 'cpu-high', Threshold: 80.5, ActionsEnabled: true });
    expect(alarm?.StateUpdatedTimestamp?.toISOString()).toBe('2023-11-14T22:13:20.000Z');
    const dashboard = await client().send(new GetDashboardCommand({ DashboardName: 'ops' }));
    expect(JSON.parse(dashboard.DashboardBody ?? '')).toEqual({ widgets: [], password: '****' });
  });

  test('a denial is the named error with the rule\'s message, and the call never reaches the upstream', async () => {
    const error = await client()
      .send(new DeleteAlarmsCommand({ AlarmNames: ['cpu-high'] }))
      .then(() => undefined, (e: unknown) => e as { name?: string; message?: string; $metadata?: { httpStatusCode?: number } });
    expect(error?.$metadata?.httpStatusCode).toBe(403);
    expect(error?.name).toMatch(/AccessDenied/);
    expect(error?.message).toContain('alarms are not deleted by bots');
    expect(hits).not.toContain('DeleteAlarms');
  });

  test('a withheld answer is an error, never the bytes', async () => {
    const error = await client()
      .send(new GetDashboardCommand({ DashboardName: 'broken' }))
      .then(() => undefined, (e: unknown) => e as { message?: string; $metadata?: { httpStatusCode?: number } });
    expect(error?.$metadata?.httpStatusCode).toBe(502);
    expect(error?.message).toContain('CBOR body');
    expect(JSON.stringify(error)).not.toContain(PASSWORD);
  });
});
