// The gateway process: HTTPS listener, the request pipeline
// (identity → verify → identify → policy → approval → forward → mask → record), graceful shutdown.

import { createHash, randomBytes } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Pool } from 'undici';
import { bodyNeededForIdentify, errorProtocolFor, identifyRequest, type CallInfo } from '../aws/identify.js';
import { upstreamOrigin } from '../aws/endpoints.js';
import { filterForwardHeaders } from '../aws/headers.js';
import { parseSigV4, payloadHashFor, signOutgoing, verifySigV4, type ParsedSignature } from '../aws/sigv4.js';
import { createChunkResigner } from '../aws/chunked.js';
import { UpstreamCredentials, type CredentialProvider } from '../aws/upstream.js';
import type { LoadedPolicy } from '../config/load.js';
import { PolicyWatcher } from '../config/watch.js';
import { GatewayError, isGatewayError, toAwsErrorResponse, type ErrorProtocol } from '../errors.js';
import { EventBus, type GatewayEvent, type MaskingReport } from '../events.js';
import type { Flow } from '../flow.js';
import { verifyGatewayCredentials, type GatewaySession } from '../identity/credentials.js';
import { TokenVerifier } from '../identity/jwt.js';
import { loadOrCreateGatewayKeys, type GatewayKeys } from '../identity/keys.js';
import { handleStsRequest, isStsWebIdentityRequest } from '../identity/sts.js';
import { compileMasker, type Masker } from '../masking/masker.js';
import { fixMaskedHeaders } from '../masking/response.js';
import { evaluate, type Decision } from '../policy/evaluate.js';
import { gatewayInfoPath, type GatewayInfo } from '../state.js';
import { readBodyLimited } from './body.js';
import { defaultServerNames, loadOrCreateCa, loadOrCreateServerCertificate, type CertificateAuthority } from './tls.js';

export interface GatewayOptions {
  policyFile: string;
  stateDir: string;
  host: string;
  port: number;
  upstreamEndpoint?: string;
  publicHosts?: string[];
  bus?: EventBus;
  version: string;
  /** The gateway's own AWS credentials; default: the standard Node provider chain. */
  baseCredentials?: CredentialProvider;
  now?: () => Date;
  /** Largest request body buffered (JSON/query protocols, STS form). */
  maxBufferedBodyBytes?: number;
  /** How long in-flight calls may finish after a stop signal. */
  drainMs?: number;
  upstreamTimeoutMs?: number;
}

const MAX_STS_BODY_BYTES = 64 * 1024;
const DEFAULT_MAX_BUFFERED_BODY_BYTES = 20 * 1024 * 1024;
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade']);

function newRequestId(): string {
  return randomBytes(8).toString('hex').toUpperCase();
}

function firstHeader(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function accountIdFromRoleArn(roleArn: string): string | undefined {
  return /^arn:[^:]+:iam::(\d{12}):/.exec(roleArn)?.[1];
}

/** Combines the decisions for a call that touches several resources: every one must allow it. */
function combineDecisions(decisions: Decision[]): Decision {
  const order = { deny: 0, approve: 1, allow: 2 } as const;
  return decisions.reduce((worst, next) => (order[next.effect] < order[worst.effect] ? next : worst));
}

export class Gateway {
  readonly bus: EventBus;
  readonly options: GatewayOptions;
  readonly keys: GatewayKeys;
  readonly ca: CertificateAuthority;
  readonly policy: PolicyWatcher;
  url = '';
  readonly #server: Server;
  readonly #pools = new Map<string, Pool>();
  readonly #sockets = new Set<Socket>();
  #inFlight = 0;
  #verifier?: { sha256: string; verifier: TokenVerifier };
  #masker?: { sha256: string; masker: Masker };
  #upstream: UpstreamCredentials;
  #closing = false;
  readonly #revoked = new Set<string>();

  private constructor(options: GatewayOptions, keys: GatewayKeys, ca: CertificateAuthority, cert: { certPem: string; keyPem: string }, policy: PolicyWatcher) {
    this.options = options;
    this.bus = options.bus ?? new EventBus();
    this.keys = keys;
    this.ca = ca;
    this.policy = policy;
    this.#upstream = this.#newUpstream(policy.current());
    this.#server = createHttpsServer({ cert: cert.certPem, key: cert.keyPem, ca: ca.certPem }, (req, res) => {
      void this.#handle(req, res);
    });
    // Slow clients must not hold sockets forever; uploads may be long, so only idle time is bounded.
    this.#server.headersTimeout = 20_000;
    this.#server.requestTimeout = 0;
    this.#server.setTimeout(120_000);
    this.#server.keepAliveTimeout = 5_000;
    this.#server.on('connection', (socket: Socket) => {
      this.#sockets.add(socket);
      socket.once('close', () => this.#sockets.delete(socket));
    });
    this.#server.on('tlsClientError', () => {
      // A client that does not trust the CA, or speaks plain HTTP: nothing to forward, nothing to log per request.
    });
  }

  static async start(options: GatewayOptions): Promise<Gateway> {
    const bus = options.bus ?? new EventBus();
    await mkdir(options.stateDir, { recursive: true, mode: 0o700 });
    const keys = await loadOrCreateGatewayKeys(options.stateDir);
    const ca = await loadOrCreateCa(options.stateDir);
    const cert = await loadOrCreateServerCertificate(options.stateDir, ca, defaultServerNames(options.publicHosts));
    const policy = new PolicyWatcher({ file: options.policyFile, bus });
    await policy.start();
    const gateway = new Gateway({ ...options, bus }, keys, ca, cert, policy);
    await gateway.#listen();
    return gateway;
  }

  #newUpstream(policy: LoadedPolicy): UpstreamCredentials {
    const region = policy.config.upstream.region;
    const override = this.options.upstreamEndpoint ?? policy.config.upstream.endpoint;
    return new UpstreamCredentials({
      stsOrigin: override ?? `https://sts.${region}.amazonaws.com`,
      region,
      baseProvider: this.options.baseCredentials,
      now: this.options.now,
    });
  }

  async #listen(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(this.options.port, this.options.host, () => {
        this.#server.off('error', reject);
        resolve();
      });
    });
    const address = this.#server.address() as AddressInfo;
    const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    this.url = `https://${host === '0.0.0.0' || host === '[::]' ? 'localhost' : host}:${address.port}`;
    const info: GatewayInfo = {
      url: this.url,
      pid: process.pid,
      caFile: this.ca.caFile,
      policyFile: this.options.policyFile,
      startedAt: new Date().toISOString(),
      version: this.options.version,
    };
    await writeFile(gatewayInfoPath(this.options.stateDir), `${JSON.stringify(info, null, 2)}\n`, { mode: 0o600 });
    this.#emit({ type: 'listening', url: this.url, stateDir: this.options.stateDir, policyFile: this.options.policyFile, version: this.options.version });
  }

  #now(): Date {
    return this.options.now?.() ?? new Date();
  }

  #emit(event: DistributiveOmit<GatewayEvent, 'at'>): void {
    this.bus.emit({ at: this.#now().toISOString(), ...event } as GatewayEvent);
  }

  revoke(sessionId: string): void {
    this.#revoked.add(sessionId);
  }

  #tokenVerifier(policy: LoadedPolicy): TokenVerifier {
    if (this.#verifier?.sha256 !== policy.sha256) {
      this.#verifier = {
        sha256: policy.sha256,
        verifier: new TokenVerifier({
          issuers: policy.config.issuers,
          serviceAccounts: policy.config.serviceAccounts,
          localKeys: this.keys,
          now: this.options.now,
        }),
      };
    }
    return this.#verifier.verifier;
  }

  #maskerFor(policy: LoadedPolicy): Masker {
    if (this.#masker?.sha256 !== policy.sha256) this.#masker = { sha256: policy.sha256, masker: compileMasker(policy.config.masking) };
    return this.#masker.masker;
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.#inFlight += 1;
    const flow: Flow = {
      requestId: newRequestId(),
      startedAt: Date.now(),
      sourceIp: req.socket.remoteAddress,
      userAgent: firstHeader(req.headers['user-agent']),
      method: req.method ?? 'GET',
      rawPath: req.url ?? '/',
      errorProtocol: 'query',
    };
    try {
      if (this.#closing) throw new GatewayError('UPSTREAM_UNAVAILABLE', 'the gateway is shutting down; retry shortly');
      if (isStsWebIdentityRequest(flow.method, req.headers, flow.rawPath)) {
        await this.#assumeRoleWithWebIdentity(flow, req, res);
      } else {
        await this.#dataPath(flow, req, res);
      }
    } catch (error) {
      this.#fail(flow, res, error);
    } finally {
      this.#inFlight -= 1;
    }
  }

  #fail(flow: Flow, res: ServerResponse, error: unknown): void {
    const gatewayError = isGatewayError(error)
      ? error
      : new GatewayError('INTERNAL', `internal gateway error (request ${flow.requestId})`, { cause: error });
    if (!isGatewayError(error)) {
      this.#emit({ type: 'error', message: `request ${flow.requestId}: ${(error as Error)?.message ?? String(error)}`, code: 'INTERNAL' });
    }
    if (flow.session && flow.call) {
      this.#emit({
        type: 'response',
        sessionId: flow.session.sessionId,
        requestId: flow.requestId,
        serviceAccount: flow.session.serviceAccount,
        action: flow.call.action,
        resource: flow.call.resource,
        status: gatewayError.status,
        errorCode: gatewayError.awsCode,
        bytes: 0,
        durationMs: Date.now() - flow.startedAt,
        bodyExcerpt: gatewayError.message,
      });
    }
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const response = toAwsErrorResponse(gatewayError, flow.errorProtocol, flow.requestId);
    res.writeHead(response.status, { ...response.headers, 'content-length': Buffer.byteLength(response.body) });
    res.end(flow.method === 'HEAD' ? undefined : response.body);
  }

  async #assumeRoleWithWebIdentity(flow: Flow, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBodyLimited(req, MAX_STS_BODY_BYTES, 'the AssumeRoleWithWebIdentity form');
    const policy = this.policy.current();
    const outcome = await handleStsRequest(new URLSearchParams(body.toString('utf8')), {
      verifier: this.#tokenVerifier(policy),
      keys: this.keys,
      now: this.#now(),
      newSessionId: () => `ses-${randomBytes(9).toString('base64url')}`,
      requestId: flow.requestId,
      sourceIp: flow.sourceIp,
      userAgent: flow.userAgent,
    });
    if (outcome.ok) {
      const session = outcome.session;
      this.#emit({
        type: 'session.started',
        sessionId: session.sessionId,
        serviceAccount: session.serviceAccount,
        issuer: session.issuer,
        subject: session.subject,
        claims: session.claims,
        roleArn: session.roleArn,
        sourceIp: flow.sourceIp,
        userAgent: flow.userAgent,
        expiresAt: session.expiresAt.toISOString(),
        policySha256: policy.sha256,
      });
    } else {
      this.#emit({ type: 'session.refused', reason: outcome.reason, code: outcome.code, sourceIp: flow.sourceIp, userAgent: flow.userAgent });
    }
    const response = outcome.response;
    res.writeHead(response.status, { ...response.headers, 'content-length': Buffer.byteLength(response.body) });
    res.end(response.body);
  }

  async #dataPath(flow: Flow, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const request = { method: flow.method, rawPath: flow.rawPath, headers: req.headers };
    const parsed = parseSigV4(request);
    flow.errorProtocol = errorProtocolFor(parsed.service);
    const session = verifyGatewayCredentials(this.keys, { accessKeyId: parsed.accessKeyId, sessionToken: parsed.securityToken }, this.#now());
    if (this.#revoked.has(session.sessionId)) {
      throw new GatewayError('INVALID_CLIENT_TOKEN', `session ${session.sessionId} was revoked`);
    }
    flow.session = session;

    let body: Buffer | undefined;
    let payloadHash: string;
    const payload = payloadHashFor(parsed, req.headers);
    if (payload.kind === 'compute' || bodyNeededForIdentify(parsed.service, req.headers)) {
      body = await readBodyLimited(req, this.options.maxBufferedBodyBytes ?? DEFAULT_MAX_BUFFERED_BODY_BYTES, 'the request body');
      payloadHash = createHash('sha256').update(body).digest('hex');
      if (payload.kind === 'declared' && !payload.value.startsWith('STREAMING-') && payload.value !== 'UNSIGNED-PAYLOAD' && payload.value !== payloadHash) {
        throw new GatewayError('SIGNATURE_MISMATCH', 'The provided x-amz-content-sha256 header does not match what was computed.', { awsCode: 'XAmzContentSHA256Mismatch', status: 400 });
      }
      if (payload.kind === 'declared') payloadHash = payload.value;
    } else {
      payloadHash = payload.value;
    }
    verifySigV4(parsed, request, { secretAccessKey: session.secretAccessKey, payloadHash, now: this.#now() });

    const policy = this.policy.current();
    const call = identifyRequest({
      method: flow.method,
      host: firstHeader(req.headers.host) ?? '',
      rawPath: flow.rawPath,
      headers: req.headers,
      signingService: parsed.service,
      region: parsed.region,
      body,
      accountId: accountIdFromRoleArn(session.roleArn),
    });
    flow.call = call;
    const masker = this.#maskerFor(policy);
    this.#emit({
      type: 'request',
      sessionId: session.sessionId,
      requestId: flow.requestId,
      serviceAccount: session.serviceAccount,
      service: call.service,
      action: call.action,
      resource: call.resource,
      region: call.region,
      params: call.params === undefined ? undefined : masker.maskValue(call.params).value,
      sourceIp: flow.sourceIp,
    });

    const resources = call.resources && call.resources.length > 0 ? call.resources : [call.resource];
    const decision = combineDecisions(
      resources.map((resource) => evaluate(policy.compiled, { principal: session.serviceAccount, action: call.action, resource, region: call.region })),
    );
    flow.decision = decision;
    this.#emit({
      type: 'decision',
      sessionId: session.sessionId,
      requestId: flow.requestId,
      serviceAccount: session.serviceAccount,
      action: call.action,
      resource: call.resource,
      effect: decision.effect,
      ruleId: decision.ruleId,
      message: decision.message,
      via: 'policy',
    });
    if (decision.effect === 'deny') {
      const reason = decision.ruleId === 'default-deny' ? 'no rule allows it (default deny)' : `denied by rule ${decision.ruleId}${decision.message ? `: ${decision.message}` : ''}`;
      throw new GatewayError('ACCESS_DENIED', `portcullis: ${call.action} on ${call.resource} for ${session.serviceAccount}: ${reason}`);
    }
    if (decision.effect === 'approve') {
      throw new GatewayError('ACCESS_DENIED', `portcullis: ${call.action} on ${call.resource}: approval required by rule ${decision.ruleId}`);
    }
    await this.#forward(flow, req, res, { parsed, session, call, body, payloadHash, masker, policy });
  }

  #pool(origin: string): Pool {
    let pool = this.#pools.get(origin);
    if (!pool) {
      pool = new Pool(origin, {
        connections: 64,
        keepAliveTimeout: 10_000,
        headersTimeout: this.options.upstreamTimeoutMs ?? 60_000,
        bodyTimeout: this.options.upstreamTimeoutMs ?? 60_000,
      });
      this.#pools.set(origin, pool);
    }
    return pool;
  }

  async #forward(
    flow: Flow,
    req: IncomingMessage,
    res: ServerResponse,
    ctx: { parsed: ParsedSignature; session: GatewaySession; call: CallInfo; body?: Buffer; payloadHash: string; masker: Masker; policy: LoadedPolicy },
  ): Promise<void> {
    const { session, call, policy } = ctx;
    const override = this.options.upstreamEndpoint ?? policy.config.upstream.endpoint;
    const target = upstreamOrigin({ signingService: ctx.parsed.service, region: call.region, host: firstHeader(req.headers.host) ?? '', rawPath: flow.rawPath, override });
    const credentials = await this.#upstream.forRole(session.serviceAccount, session.roleArn);
    const url = new URL(target.rawPath ?? flow.rawPath, target.origin);
    const headers = signOutgoing({
      method: flow.method,
      url,
      headers: filterForwardHeaders(req.headers),
      region: call.region,
      service: ctx.parsed.service,
      credentials,
      payloadHash: ctx.payloadHash.startsWith('STREAMING-AWS4-HMAC-SHA256-PAYLOAD') ? ctx.payloadHash : ctx.payloadHash,
      now: this.#now(),
    });
    let requestBody: Buffer | Readable | undefined = ctx.body;
    if (requestBody === undefined && flow.method !== 'GET' && flow.method !== 'HEAD') {
      requestBody = ctx.payloadHash.startsWith('STREAMING-AWS4-HMAC-SHA256-PAYLOAD')
        ? req.pipe(createChunkResigner({ client: { parsed: ctx.parsed, secretAccessKey: session.secretAccessKey }, upstream: { headers, credentials, region: call.region, service: ctx.parsed.service } }))
        : req;
    }
    if (requestBody !== undefined && Buffer.isBuffer(requestBody) && requestBody.length === 0) requestBody = undefined;

    let upstream;
    try {
      upstream = await this.#pool(target.origin).request({
        path: `${url.pathname}${url.search}`,
        method: flow.method as 'GET',
        headers,
        body: requestBody,
      });
    } catch (error) {
      if (isGatewayError(error)) throw error;
      throw new GatewayError('UPSTREAM_UNAVAILABLE', `upstream ${target.origin} is unavailable: ${(error as Error).message}`, { cause: error });
    }
    const responseHeaders: Record<string, string | string[]> = {};
    for (const [name, value] of Object.entries(upstream.headers)) {
      if (value === undefined || HOP_BY_HOP.has(name)) continue;
      responseHeaders[name] = value;
    }
    const masked = await this.#maskResponse(flow, upstream.body, responseHeaders, ctx.masker, policy, call);
    flow.responseStatus = upstream.statusCode;
    if (masked.body) {
      res.writeHead(upstream.statusCode, masked.headers);
      res.end(flow.method === 'HEAD' ? undefined : masked.body);
      flow.responseBytes = masked.body.length;
    } else {
      res.writeHead(upstream.statusCode, masked.headers);
      let bytes = masked.prefix?.length ?? 0;
      if (masked.prefix) res.write(masked.prefix);
      const counter = upstream.body.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
      });
      try {
        await pipeline(upstream.body, res);
      } catch {
        res.destroy();
      }
      counter.removeAllListeners('data');
      flow.responseBytes = bytes;
    }
    this.#emit({
      type: 'response',
      sessionId: session.sessionId,
      requestId: flow.requestId,
      serviceAccount: session.serviceAccount,
      action: call.action,
      resource: call.resource,
      status: upstream.statusCode,
      errorCode: firstHeader(responseHeaders['x-amzn-errortype'])?.split(':')[0] ?? masked.errorCode,
      bytes: flow.responseBytes ?? 0,
      durationMs: Date.now() - flow.startedAt,
      masking: masked.report,
      bodyExcerpt: masked.excerpt,
    });
  }

  /**
   * Buffers a response up to the masking limit and masks it. A body over the limit streams through
   * untouched: `prefix` holds what was read before the limit was hit.
   */
  async #maskResponse(
    flow: Flow,
    body: Readable,
    headers: Record<string, string | string[]>,
    masker: Masker,
    policy: LoadedPolicy,
    call: CallInfo,
  ): Promise<{ headers: Record<string, string | string[]>; body?: Buffer; prefix?: Buffer; report?: MaskingReport; excerpt?: string; errorCode?: string }> {
    const limit = policy.config.masking.maxBodyBytes;
    const declared = Number(firstHeader(headers['content-length']) ?? NaN);
    if (flow.method === 'HEAD') {
      return { headers };
    }
    if (Number.isFinite(declared) && declared > limit) {
      return { headers, report: { fields: {}, detectors: {}, skipped: 'too-large' } };
    }
    const chunks: Buffer[] = [];
    let total = 0;
    for await (const chunk of body) {
      chunks.push(chunk as Buffer);
      total += (chunk as Buffer).length;
      if (total > limit) {
        return { headers, prefix: Buffer.concat(chunks, total), report: { fields: {}, detectors: {}, skipped: 'too-large' } };
      }
    }
    const original = Buffer.concat(chunks, total);
    const result = masker.maskBody(original, {
      contentType: firstHeader(headers['content-type']),
      contentEncoding: firstHeader(headers['content-encoding']),
      protocol: call.protocol,
      service: call.service,
      operation: call.operation,
    });
    const fixed = fixMaskedHeaders(headers, result.body, result.changed);
    const excerpt = result.report.skipped === 'binary' || result.report.skipped === 'encoded' ? undefined : result.body.subarray(0, 2048).toString('utf8');
    return { headers: fixed, body: result.body, report: result.report, excerpt, errorCode: excerpt ? /<Code>([^<]+)<\/Code>/.exec(excerpt)?.[1] : undefined };
  }

  /** Stop accepting, let in-flight calls finish (bounded), then close everything. */
  async close(): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    this.#server.closeIdleConnections();
    const deadline = Date.now() + (this.options.drainMs ?? 10_000);
    while (this.#inFlight > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
    for (const socket of this.#sockets) socket.destroy();
    await closed;
    await Promise.all([...this.#pools.values()].map((pool) => pool.close().catch(() => undefined)));
    await this.policy.close();
    await rm(gatewayInfoPath(this.options.stateDir), { force: true });
  }
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
