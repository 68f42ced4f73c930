// Runs chosen pipeline stages behind a real HTTP server on port 0, against a real upstream on port 0 (a small
// S3/STS-like node:http server that records what reaches it). Nothing is mocked: each test drives a stage with real
// requests signed by the gateway's own signer and looks at the Flow it left behind and at what the upstream saw.

import { OpenToolCalls } from '../../src/mcp/attribution.js';
import { Limiter } from '../../src/limits/limiter.js';
import { DEFAULT_UPLOAD_RATE } from '../../src/limits/types.js';
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, request as httpRequest, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApprovalManager } from '../../src/approval/manager.js';
import { signOutgoingRequest } from '../../src/aws/sigv4.js';
import { UpstreamCredentials } from '../../src/aws/upstream.js';
import { parsePolicy } from '../../src/config/load.js';
import { EventBus, type GatewayEvent } from '../../src/events.js';
import type { Flow } from '../../src/flow.js';
import { mintCredentials } from '../../src/identity/credentials.js';
import { TokenVerifier } from '../../src/identity/jwt.js';
import { loadOrCreateGatewayKeys, type GatewayKeys } from '../../src/identity/keys.js';
import { VerifiedSessions } from '../../src/identity/session-cache.js';
import { compileMasker } from '../../src/masking/masker.js';
import { membersOf } from '../../src/pipeline/authenticate.js';
import type { StageContext } from '../../src/pipeline/context.js';
import { compilePipeline, STAGES } from '../../src/pipeline/stages.js';
import { UpstreamClient } from '../../src/proxy/forward.js';
import { Recorder } from '../../src/recording/recorder.js';
import { Revocations } from '../../src/sessions/revocations.js';

export const ROLE = 'arn:aws:iam::111122223333:role/alpha';

export const RULES = `rules:
  - id: no-delete
    effect: deny
    actions: ["s3:DeleteObject"]
    message: deletes are blocked
  - id: hold-secrets
    effect: approve
    actions: ["secretsmanager:GetSecretValue"]
    approval: {hold: 200ms, timeout: 1m}
  - id: work
    effect: allow
    actions: ["s3:*", "dynamodb:*", "secretsmanager:*"]
`;

export interface UpstreamHit {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** What the upstream answers: a JSON secret for Secrets Manager, an object for S3 GETs, empty 200 otherwise. */
async function startUpstream(): Promise<{ url: string; hits: UpstreamHit[]; close(): Promise<void> }> {
  const hits: UpstreamHit[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      if (body.includes('Action=AssumeRole')) {
        res.writeHead(200, { 'content-type': 'text/xml' });
        res.end(
          '<AssumeRoleResponse><AssumeRoleResult><Credentials><AccessKeyId>ASIAUPSTREAM00000000</AccessKeyId>' +
            '<SecretAccessKey>upstream-secret</SecretAccessKey><SessionToken>upstream-token</SessionToken>' +
            `<Expiration>${new Date(Date.now() + 3_600_000).toISOString()}</Expiration></Credentials></AssumeRoleResult></AssumeRoleResponse>`,
        );
        return;
      }
      hits.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      if (req.headers['x-amz-target'] === 'secretsmanager.GetSecretValue') {
        res.writeHead(200, { 'content-type': 'application/x-amz-json-1.1' });
        res.end(JSON.stringify({ Name: 'prod/db', SecretString: 'hunter2-secret' }));
        return;
      }
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(req.method === 'GET' ? 'object body with AKIAIOSFODNN7EXAMPLE inside' : '');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    hits,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

export interface StageLab {
  context: StageContext;
  events: GatewayEvent[];
  upstream: { url: string; hits: UpstreamHit[] };
  keys: GatewayKeys;
  credentials: { accessKeyId: string; secretAccessKey: string; sessionToken: string };
  /** Sends a signed request through a server running `stages` (then respond); resolves with the answer and the Flow. */
  send(
    stages: string[],
    request: { method: string; path: string; service: string; headers?: Record<string, string>; body?: string },
  ): Promise<{ status: number; headers: IncomingHttpHeaders; body: string; flow: Flow }>;
  close(): Promise<void>;
}

export async function startStageLab(rules = RULES): Promise<StageLab> {
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-stages-'));
  const upstream = await startUpstream();
  const keys = await loadOrCreateGatewayKeys(dir);
  const loaded = parsePolicy(
    `version: 1
upstream:
  region: us-east-1
  endpoint: ${upstream.url}
service_accounts:
  - name: alpha
    issuer: local
    roles: ["${ROLE}"]
${rules}
masking:
  fields: [SecretString]
  detectors: [aws_access_key_id]
`,
    join(dir, 'policy.yaml'),
  );
  if (!loaded.ok) throw new Error(`fixture policy rejected: ${JSON.stringify(loaded.errors)}`);
  const policy = loaded.policy;
  const bus = new EventBus();
  const events: GatewayEvent[] = [];
  bus.subscribe((event) => events.push(event));
  const now = () => new Date();
  const recorder = new Recorder({ stateDir: dir, gatewayVersion: 'test', now });
  bus.subscribe((event) => {
    if (event.type !== 'request') recorder.record(event);
  });
  const upstreamClient = new UpstreamClient();
  const approvals = new ApprovalManager({ bus, now });
  const context: StageContext = {
    version: 'test',
    limits: { maxBufferedBodyBytes: 1024 * 1024, bodyTimeoutMs: 5_000, upstreamTimeoutMs: 5_000 },
    gatewayHosts: ['127.0.0.1', 'localhost'],
    keys,
    now,
    emit: (event) => bus.emit({ at: now().toISOString(), ...event } as GatewayEvent),
    publish: (event) => bus.emit(event),
    recorder,
    recordingDurability: 'batch',
    toolCalls: new OpenToolCalls(),
    approvals,
    revocations: new Revocations(),
    verifiedSessions: new VerifiedSessions({ keys, now }),
    upstreamClient,
    limiter: new Limiter({ now }),
    uploadRate: DEFAULT_UPLOAD_RATE,
    newSessionId: () => 'ses-fixture',
    policy,
    members: membersOf(policy),
    verifier: new TokenVerifier({ issuers: policy.config.issuers, serviceAccounts: policy.config.serviceAccounts, localKeys: keys, now }),
    masker: compileMasker(policy.config.masking),
    upstreamCredentials: new UpstreamCredentials({
      stsOrigin: upstream.url,
      region: 'us-east-1',
      baseProvider: async () => ({ accessKeyId: 'AKIABASE000000000000', secretAccessKey: 'base' }),
      client: upstreamClient,
    }),
  };
  const issued = mintCredentials(keys, {
    sessionId: 'ses-alpha',
    serviceAccount: 'alpha',
    roleArn: ROLE,
    issuer: 'urn:portcullis:local',
    subject: 'alpha',
    expiresAt: new Date(Date.now() + 3_600_000),
    now: new Date(),
  });
  // Session-started first, so the recorder has a session file to write to.
  context.emit({
    type: 'session.started',
    sessionId: 'ses-alpha',
    serviceAccount: 'alpha',
    issuer: 'urn:portcullis:local',
    subject: 'alpha',
    claims: {},
    roleArn: ROLE,
    expiresAt: new Date(Date.now() + 3_600_000).toISOString(),
    policySha256: policy.sha256,
  });

  const servers: Server[] = [];
  const lab: StageLab = {
    context,
    events,
    upstream,
    keys,
    credentials: { accessKeyId: issued.accessKeyId, secretAccessKey: issued.secretAccessKey, sessionToken: issued.sessionToken },
    async send(stageNames, request) {
      const specs = STAGES.filter((spec) => stageNames.includes(spec.name));
      if (specs.length !== stageNames.length) throw new Error(`unknown stage in ${stageNames.join(', ')}`);
      let captured: Flow | undefined;
      const pipeline = compilePipeline(context, specs);
      const server = createServer((req, res) => {
        const flow: Flow = {
          requestId: 'REQ1',
          startedAtMs: Date.now(),
          req,
          res,
          method: req.method ?? 'GET',
          rawPath: req.url ?? '/',
          errorProtocol: 'query',
        };
        captured = flow;
        void pipeline.run(flow);
      });
      servers.push(server);
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const port = (server.address() as AddressInfo).port;
      const body = request.body ?? '';
      const signed = signOutgoingRequest({
        method: request.method,
        url: new URL(`http://127.0.0.1:${port}`),
        rawPath: request.path,
        headers: request.headers ?? {},
        region: 'us-east-1',
        service: request.service,
        credentials: lab.credentials,
        payloadHash: createHash('sha256').update(body).digest('hex'),
        now: new Date(),
      });
      const answer = await new Promise<{ status: number; headers: IncomingHttpHeaders; body: string }>((resolve, reject) => {
        const req = httpRequest({ host: '127.0.0.1', port, method: request.method, path: request.path, headers: signed.headers, agent: false }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
        });
        req.on('error', reject);
        req.end(body);
      });
      return { ...answer, flow: captured! };
    },
    async close() {
      approvals.close();
      for (const server of servers) await new Promise<void>((resolve) => server.close(() => resolve()));
      upstreamClient.close();
      await recorder.close();
      await upstream.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
  return lab;
}
