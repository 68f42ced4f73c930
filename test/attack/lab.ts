// A small, fully local stack for the attack and fault suites: a bare JWKS server as the IdP (keys the test
// controls), a tiny upstream we count requests at (it answers sts:AssumeRole and S3/DynamoDB-ish calls and can
// be told to misbehave), and the gateway in-process on 127.0.0.1:0 with its own state dir.
// moto is not used here on purpose: these tests are about what reaches the upstream, not about AWS semantics.

import { createHash, randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { signOutgoingRequest } from '../../src/aws/sigv4.js';
import { EventBus, type GatewayEvent } from '../../src/events.js';
import { clearJwksCache } from '../../src/identity/jwks.js';
import { Gateway, type GatewayOptions } from '../../src/gateway.js';
import { generateSigningKey, signToken, startJwksServer, type JwksServer, type TestSigningKey } from '../fixtures/idp.js';

export const ACCOUNT = '123456789012';
export const ROLE_ALPHA = `arn:aws:iam::${ACCOUNT}:role/alpha`;
export const ROLE_BETA = `arn:aws:iam::${ACCOUNT}:role/beta`;
export const AUDIENCE = 'urn:portcullis:lab';
/** A value the masking policy must never let through (the upstream plants it in JSON answers). */
export const PLANTED_SECRET = 'AKIAPLANTEDSECRET123';

export type UpstreamMode = 'ok' | 'reset' | 'hang' | 'garbage' | 'reset-mid-body' | 'big-slow';

export interface SeenRequest {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  bodyBytes: number;
}

export interface FakeUpstream {
  url: string;
  port: number;
  mode: UpstreamMode;
  /** Data-plane requests (sts:AssumeRole and GetCallerIdentity from the gateway itself are not counted). */
  readonly requests: SeenRequest[];
  readonly assumeRoles: number;
  /** Streaming answers the far end saw cut before they finished (client or gateway went away). */
  readonly aborted: number;
  /** Requests whose body was still arriving when the connection was cut (never counted in `requests`). */
  readonly truncatedUploads: number;
  /** Stops accepting connections and cuts the open ones: later connections are refused. */
  shut(): Promise<void>;
  close(): Promise<void>;
}

function assumeRoleXml(): string {
  const expiration = new Date(Date.now() + 3_600_000).toISOString();
  return `<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult><Credentials>
<AccessKeyId>ASIALABUPSTREAM00001</AccessKeyId><SecretAccessKey>lab-upstream-secret</SecretAccessKey>
<SessionToken>lab-upstream-token</SessionToken><Expiration>${expiration}</Expiration></Credentials>
<AssumedRoleUser><AssumedRoleId>AROALAB:x</AssumedRoleId><Arn>arn:aws:sts::${ACCOUNT}:assumed-role/alpha/x</Arn></AssumedRoleUser>
</AssumeRoleResult></AssumeRoleResponse>`;
}

/** The far end: records what reached it, answers S3-ish (XML/bytes) and JSON-protocol calls. */
export async function startUpstream(): Promise<FakeUpstream> {
  const requests: SeenRequest[] = [];
  let assumeRoles = 0;
  let aborted = 0;
  let truncatedUploads = 0;
  const sockets = new Set<Socket>();
  const state = { mode: 'ok' as UpstreamMode };
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('error', () => undefined);
    req.on('aborted', () => (truncatedUploads += 1));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      if (req.method === 'POST' && req.url === '/' && body.toString().includes('Action=GetCallerIdentity')) {
        // The gateway's own check at start: not a data-plane request.
        res.writeHead(200, { 'content-type': 'text/xml' });
        res.end(`<GetCallerIdentityResponse><GetCallerIdentityResult><Arn>arn:aws:iam::${ACCOUNT}:user/lab-gateway</Arn></GetCallerIdentityResult></GetCallerIdentityResponse>`);
        return;
      }
      if (req.method === 'POST' && req.url === '/' && body.toString().includes('Action=AssumeRole')) {
        assumeRoles += 1;
        res.writeHead(200, { 'content-type': 'text/xml' });
        res.end(assumeRoleXml());
        return;
      }
      requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, bodyBytes: body.length });
      const mode = state.mode;
      if (mode === 'reset') {
        req.socket.destroy();
        return;
      }
      if (mode === 'hang') return; // never answers; the socket is cut by close()
      if (mode === 'garbage') {
        req.socket.end('HTTP/1.1 ???? not http at all\r\n\x00\x01\x02\r\n\r\n');
        return;
      }
      if (mode === 'reset-mid-body' || mode === 'big-slow') {
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(8 * 1024 * 1024) });
        res.write(Buffer.alloc(64 * 1024, 'x'));
        if (mode === 'reset-mid-body') setTimeout(() => req.socket.destroy(), 50);
        else {
          // Streams slowly until the client goes away; the interval dies with the socket.
          const timer = setInterval(() => {
            if (!res.write(Buffer.alloc(16 * 1024, 'y'))) return;
          }, 20);
          res.once('close', () => {
            clearInterval(timer);
            if (!res.writableFinished) aborted += 1;
          });
        }
        return;
      }
      if (req.headers['x-amz-target']) {
        const json = JSON.stringify({ Item: { pk: { S: 'o-1' }, note: { S: `key ${PLANTED_SECRET} inside` } } });
        res.writeHead(200, { 'content-type': 'application/x-amz-json-1.0', 'content-length': Buffer.byteLength(json) });
        res.end(json);
        return;
      }
      if (req.method === 'PUT') {
        res.writeHead(200, { etag: '"lab"', 'content-length': '0' });
        res.end();
        return;
      }
      const text = `{"SecretString":"hunter2","note":"${PLANTED_SECRET}","path":"${req.url}"}`;
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
      res.end(text);
    });
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  let closed = false;
  const shut = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    const done = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const socket of sockets) socket.destroy();
    await done;
  };
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    get mode() {
      return state.mode;
    },
    set mode(value: UpstreamMode) {
      state.mode = value;
    },
    requests,
    get assumeRoles() {
      return assumeRoles;
    },
    get aborted() {
      return aborted;
    },
    get truncatedUploads() {
      return truncatedUploads;
    },
    shut,
    close: shut,
  };
}

export interface LabOptions {
  /** Extra YAML appended to the generated policy (rules, masking, recording). */
  rules?: string;
  recording?: string;
  gateway?: Partial<GatewayOptions>;
  /** Reuse another lab's state dir (keys) — or a fresh one when absent. */
  stateDir?: string;
}

export interface Lab {
  dir: string;
  stateDir: string;
  policyFile: string;
  gateway: Gateway;
  upstream: FakeUpstream;
  jwks: JwksServer;
  idpKey: TestSigningKey;
  events: GatewayEvent[];
  ca: string;
  host: string;
  port: number;
  /** A valid IdP token for `subject` (svc-alpha / svc-beta), with claims overridable. */
  token(subject: string, claims?: Record<string, unknown>, header?: Record<string, unknown>): Promise<string>;
  /** The unsigned STS form POST a stock SDK sends. */
  sts(token: string, roleArn: string): Promise<HttpResult>;
  /** Gateway credentials for a service account of the lab IdP. */
  credentials(subject?: string, roleArn?: string): Promise<Credentials>;
  /** A SigV4-signed request to the gateway with `creds`. */
  call(creds: Credentials, request: CallRequest): Promise<HttpResult>;
  /** Raw TLS connection to the gateway's listener. */
  tls(): Promise<TLSSocket>;
  close(): Promise<void>;
}

export interface Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken: string;
}

export interface CallRequest {
  method?: string;
  path?: string;
  /** `s3` (default) or `dynamodb` (JSON protocol; `target` names the operation). */
  service?: 's3' | 'dynamodb';
  target?: string;
  body?: string;
  headers?: Record<string, string>;
  now?: Date;
}

export interface HttpResult {
  status: number;
  headers: IncomingMessage['headers'];
  body: string;
}

export function policyText(jwks: JwksServer, rules: string, recording: string): string {
  return `version: 1
upstream:
  region: us-east-1
identity:
  issuers:
    - name: lab
      issuer: ${jwks.issuer}
      audience: ${AUDIENCE}
      jwks_uri: ${jwks.jwksUri}
      algorithms: [RS256, ES256]
      clock_skew: 0s
service_accounts:
  - name: alpha
    issuer: lab
    subject: svc-alpha
    roles: ["${ROLE_ALPHA}"]
  - name: beta
    issuer: lab
    subject: svc-beta
    roles: ["${ROLE_BETA}"]
${rules}
masking:
  fields: [SecretString]
  detectors: [aws_access_key_id]
${recording}
`;
}

export const DEFAULT_RULES = `rules:
  - id: no-delete
    effect: deny
    actions: ["s3:DeleteObject"]
    message: deletes are blocked
  - id: work
    effect: allow
    actions: ["s3:*", "dynamodb:*"]
`;

function httpsCall(url: string, ca: string, options: { method: string; headers: Record<string, string>; body?: string }): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { method: options.method, headers: options.headers, ca, agent: false, timeout: 20_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('client timeout')));
    req.on('error', reject);
    req.end(options.body);
  });
}

export function field(xml: string, name: string): string | undefined {
  return new RegExp(`<${name}>([^<]*)</${name}>`).exec(xml)?.[1];
}

export interface GatewayClient {
  sts(token: string, roleArn: string): Promise<HttpResult>;
  credentials(token: string, roleArn: string): Promise<Credentials>;
  call(creds: Credentials, request: CallRequest): Promise<HttpResult>;
}

/** A stock-client stand-in for a gateway at `gatewayUrl` whose CA is `ca` (PEM): the STS form POST and signed calls. */
export function gatewayClient(gatewayUrl: string, ca: string): GatewayClient {
  const client: GatewayClient = {
    sts(token, roleArn) {
      const body = new URLSearchParams({
        Action: 'AssumeRoleWithWebIdentity',
        Version: '2011-06-15',
        RoleArn: roleArn,
        RoleSessionName: 'attack',
        WebIdentityToken: token,
      }).toString();
      return httpsCall(`${gatewayUrl}/`, ca, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' }, body });
    },
    async credentials(token, roleArn) {
      const result = await client.sts(token, roleArn);
      const accessKeyId = field(result.body, 'AccessKeyId');
      if (result.status !== 200 || !accessKeyId) throw new Error(`STS answered ${result.status}: ${result.body.slice(0, 300)}`);
      return { accessKeyId, secretAccessKey: field(result.body, 'SecretAccessKey')!, sessionToken: field(result.body, 'SessionToken')! };
    },
    call(creds, request) {
      const method = request.method ?? 'GET';
      const service = request.service ?? 's3';
      const path = request.path ?? (service === 's3' ? '/bucket/key.txt' : '/');
      const headers: Record<string, string> = { ...request.headers };
      if (service === 'dynamodb') {
        headers['content-type'] = 'application/x-amz-json-1.0';
        headers['x-amz-target'] = `DynamoDB_20120810.${request.target ?? 'GetItem'}`;
      }
      const body = request.body ?? (service === 'dynamodb' ? '{"TableName":"orders","Key":{"pk":{"S":"o-1"}}}' : undefined);
      // S3 declares UNSIGNED-PAYLOAD; JSON protocols are signed over the body hash (as botocore does).
      const payloadHash = service === 's3' ? 'UNSIGNED-PAYLOAD' : sha256(body ?? '');
      const signed = signOutgoingRequest({
        method,
        url: new URL(path, gatewayUrl),
        rawPath: path,
        headers,
        region: 'us-east-1',
        service,
        credentials: creds,
        payloadHash,
        now: request.now ?? new Date(),
      });
      const sent = { ...signed.headers };
      if (body !== undefined) sent['content-length'] = String(Buffer.byteLength(body));
      return httpsCall(`${gatewayUrl}${path}`, ca, { method, headers: sent, body });
    },
  };
  return client;
}

export async function startLab(options: LabOptions = {}): Promise<Lab> {
  clearJwksCache();
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-lab-'));
  const stateDir = options.stateDir ?? join(dir, 'state');
  const idpKey = await generateSigningKey('RS256', `lab-${randomUUID().slice(0, 8)}`);
  const jwks = await startJwksServer({ keys: [idpKey.publicJwk] });
  const upstream = await startUpstream();
  const policyFile = join(dir, 'policy.yaml');
  await writeFile(policyFile, policyText(jwks, options.rules ?? DEFAULT_RULES, options.recording ?? 'recording:\n  durability: batch\n'));
  const bus = new EventBus();
  const events: GatewayEvent[] = [];
  bus.subscribe((event) => events.push(event));
  const gateway = await Gateway.start({
    policyFile,
    stateDir,
    host: '127.0.0.1',
    port: 0,
    bus,
    version: 'lab',
    upstreamEndpoint: upstream.url,
    baseCredentials: async () => ({ accessKeyId: 'AKIALABBASE000000000', secretAccessKey: 'lab-base-secret' }),
    drainMs: 1000,
    ...options.gateway,
  });
  const ca = await readFile(gateway.ca.caFile, 'utf8');
  const url = new URL(gateway.url);
  const client = gatewayClient(gateway.url, ca);

  const lab: Lab = {
    dir,
    stateDir,
    policyFile,
    gateway,
    upstream,
    jwks,
    idpKey,
    events,
    ca,
    host: url.hostname,
    port: Number(url.port),
    token(subject, claims = {}, header = {}) {
      const now = Math.floor(Date.now() / 1000);
      return signToken(idpKey, { iss: jwks.issuer, sub: subject, aud: AUDIENCE, iat: now, exp: now + 600, ...claims }, header);
    },
    sts: (token, roleArn) => client.sts(token, roleArn),
    async credentials(subject = 'svc-alpha', roleArn = ROLE_ALPHA) {
      return client.credentials(await lab.token(subject), roleArn);
    },
    call: (creds, request) => client.call(creds, request),
    tls() {
      return new Promise((resolve, reject) => {
        const socket = tlsConnect({ host: url.hostname, port: Number(url.port), ca, servername: 'localhost' }, () => resolve(socket));
        socket.once('error', reject);
      });
    },
    async close() {
      await gateway.close();
      await upstream.close();
      await jwks.close();
      if (!options.stateDir) await rm(dir, { recursive: true, force: true });
      else await rm(policyFile, { force: true });
    },
  };
  return lab;
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** Sends raw bytes on a fresh TLS connection and collects everything the gateway answers until it closes (or `waitMs`). */
export async function rawExchange(lab: Lab, data: string | Buffer | (string | Buffer)[], waitMs = 3000): Promise<string> {
  const socket = await lab.tls();
  const parts = Array.isArray(data) ? data : [data];
  let out = '';
  socket.on('data', (c: Buffer) => (out += c.toString('latin1')));
  for (const part of parts) socket.write(part);
  await new Promise<void>((resolve) => {
    const timer = setTimeout(() => {
      socket.destroy();
      resolve();
    }, waitMs);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
    socket.once('error', () => undefined);
  });
  return out;
}

/**
 * The head of a SigV4-signed S3 request as raw text (request line + signed headers, no blank line), for
 * hand-built framing. `extra` headers are added unsigned after signing.
 */
export function signedHead(lab: Lab, creds: Credentials, method: string, path: string, extra: string[] = [], version = '1.1'): string {
  const signed = signOutgoingRequest({
    method,
    url: new URL(path, lab.gateway.url),
    rawPath: path,
    headers: {},
    region: 'us-east-1',
    service: 's3',
    credentials: creds,
    payloadHash: 'UNSIGNED-PAYLOAD',
    now: new Date(),
  });
  const lines = [`${method} ${path} HTTP/${version}`, ...Object.entries(signed.headers).map(([k, v]) => `${k}: ${v}`), ...extra];
  return lines.join('\r\n');
}

export function statusOf(raw: string): number | undefined {
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(raw);
  return m ? Number(m[1]) : undefined;
}

export async function waitUntil(probe: () => boolean | Promise<boolean>, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
