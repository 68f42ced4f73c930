// The gateway process: HTTPS listener and the request pipeline
// identity → verify → identify → policy → approval → forward (re-sign) → mask → record,
// plus the control surface (GatewayControl) the admin socket serves.

import { createHash, randomBytes } from 'node:crypto';
import { CompactSign } from 'jose';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ControlResult, DecisionInput, GatewayControl, GatewayStatus, PendingApproval, SessionSummary } from '../admin/types.js';
import { startAdminServer, type AdminServer } from '../admin/server.js';
import { ApprovalManager, requestFingerprint } from '../approval/manager.js';
import { createChunkResigner } from '../aws/chunked.js';
import { s3UpstreamPath, upstreamOrigin } from '../aws/endpoints.js';
import { filterForwardHeaders } from '../aws/headers.js';
import { bodyNeededForIdentify, errorProtocolFor, identifyRequest, type CallInfo } from '../aws/identify.js';
import { parseSigV4, payloadHashFor, signOutgoingRequest, verifySigV4, type ParsedSignature, type VerifiedSignature } from '../aws/sigv4.js';
import { loadServiceIndex } from '../aws/models.js';
import { UpstreamCredentials, type CredentialProvider } from '../aws/upstream.js';
import type { LoadedPolicy } from '../config/load.js';
import { PolicyWatcher } from '../config/watch.js';
import { GatewayError, isGatewayError, toAwsErrorResponse } from '../errors.js';
import { EventBus, type GatewayEvent, type MaskingReport, type PolicyErrorItem, type UnstampedEvent } from '../events.js';
import type { Flow } from '../flow.js';
import { verifyGatewayCredentials, type GatewaySession } from '../identity/credentials.js';
import { TokenVerifier } from '../identity/jwt.js';
import { loadOrCreateGatewayKeys, type GatewayKeys } from '../identity/keys.js';
import { handleStsRequest, isStsWebIdentityRequest } from '../identity/sts.js';
import { compileMasker, type Masker } from '../masking/masker.js';
import { fixMaskedHeaders } from '../masking/response.js';
import { evaluate, type Decision } from '../policy/evaluate.js';
import { addRevocation, listRevocations, listSessions } from '../recording/index-db.js';
import { Recorder } from '../recording/recorder.js';
import { gatewayInfoPath, type GatewayInfo } from '../state.js';
import { readBodyLimited } from './body.js';
import { UpstreamClient } from './forward.js';
import { handleConnect, type ConnectContext } from './connect.js';
import { prewarmHostCertificates } from './hostcerts.js';
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
  /** A client must send its request headers within this (slowloris). Default 20 s. */
  headersTimeoutMs?: number;
  /** A buffered body (JSON/query protocols, the STS form) must arrive within this. Default 30 s. */
  bodyTimeoutMs?: number;
  /** A connection with no activity at all is closed after this. Default 120 s. */
  idleTimeoutMs?: number;
}

const MAX_STS_BODY_BYTES = 64 * 1024;
const DEFAULT_MAX_BUFFERED_BODY_BYTES = 20 * 1024 * 1024;
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade']);


// Request ids: a random per-process prefix and a counter (unique, cheap: no CSPRNG call per request).
const REQUEST_ID_PREFIX = randomBytes(4).toString('hex').toUpperCase();
let requestCounter = 0;
function newRequestId(): string {
  requestCounter = (requestCounter + 1) % 0x100000000;
  return `${REQUEST_ID_PREFIX}${requestCounter.toString(16).toUpperCase().padStart(8, '0')}`;
}

/** Verified session tokens, so the ES256 check runs once per credential rather than once per call. */
const VERIFIED_CACHE_MAX = 10_000;

function firstHeader(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function accountIdFromRoleArn(roleArn: string): string | undefined {
  return /^arn:[^:]+:iam::(\d{12}):/.exec(roleArn)?.[1];
}

/** A call touching several resources is decided by its strictest resource: every one must allow it. */
function combineDecisions(decisions: Decision[]): Decision {
  const order = { deny: 0, approve: 1, allow: 2 } as const;
  return decisions.reduce((worst, next) => (order[next.effect] < order[worst.effect] ? next : worst));
}

/** Which parts of a REST request identify it beyond its params (the signature query params do not). */
function restFingerprintExtra(flow: Flow, payloadHash: string): string {
  const [path, query = ''] = flow.rawPath.split('?', 2) as [string, string?];
  const kept = query
    .split('&')
    .filter((pair) => pair && !/^x-amz-(signature|credential|date|security-token|expires|signedheaders|algorithm)=/i.test(pair))
    .sort()
    .join('&');
  return `${flow.method} ${path}?${kept} ${payloadHash}`;
}

export class Gateway implements GatewayControl {
  readonly bus: EventBus;
  readonly options: GatewayOptions;
  readonly keys: GatewayKeys;
  readonly ca: CertificateAuthority;
  readonly policy: PolicyWatcher;
  readonly approvals: ApprovalManager;
  url = '';
  readonly startedAt = new Date();
  readonly #server: Server;
  readonly #upstreamClient = new UpstreamClient();
  /** Names the gateway answers on: `<bucket>.<one of these>` is a virtual-host S3 request. */
  readonly #gatewayHosts: string[];
  #admin: AdminServer | undefined;
  readonly recorder: Recorder;
  readonly #sockets = new Set<Socket>();
  #inFlight = 0;
  #verifier?: { sha256: string; verifier: TokenVerifier };
  #masker?: { sha256: string; masker: Masker };
  #upstream: { key: string; credentials: UpstreamCredentials } | undefined;
  #closing = false;
  readonly #sessions = new Map<string, SessionSummary>();
  /** Session ids revoked, and service accounts revoked as of a time (credentials issued before it are refused). */
  readonly #revokedSessions = new Set<string>();
  readonly #verifiedSessions = new Map<string, GatewaySession>();
  readonly #revokedAccounts = new Map<string, number>();
  #policyErrors: PolicyErrorItem[] = [];
  #policyLoadedAt = new Date();
  readonly #counts = { allowed: 0, denied: 0, requests: 0 };

  private constructor(options: GatewayOptions, bus: EventBus, keys: GatewayKeys, ca: CertificateAuthority, cert: { certPem: string; keyPem: string }, policy: PolicyWatcher) {
    this.options = options;
    this.bus = bus;
    this.keys = keys;
    this.ca = ca;
    this.policy = policy;
    this.approvals = new ApprovalManager({ bus, now: options.now });
    this.#gatewayHosts = defaultServerNames(options.publicHosts);
    const recording = policy.current().config.recording;
    this.recorder = new Recorder({
      stateDir: options.stateDir,
      gatewayVersion: options.version,
      durability: recording.durability,
      onFailure: recording.onFailure,
      maxBodyBytes: recording.maxBodyBytes,
      now: options.now,
      signer: {
        kid: keys.kid,
        sign: (payload) => new CompactSign(payload).setProtectedHeader({ alg: 'ES256', kid: keys.kid, typ: 'portcullis-digest+jws' }).sign(keys.privateKey),
      },
      onError: (error) => this.#emit({ type: 'error', message: `recording: ${error.message}`, code: 'RECORDING_FAILED' }),
    });
    // The request record is written by the pipeline itself (it may have to be durable before forwarding).
    bus.subscribe((event) => {
      if (event.type !== 'request' && event.type !== 'error') this.recorder.record(event);
    });
    const headersTimeoutMs = options.headersTimeoutMs ?? 20_000;
    this.#server = createHttpsServer(
      // Node checks header deadlines on this interval: keep it well below the deadline itself.
      { cert: cert.certPem, key: cert.keyPem, connectionsCheckingInterval: Math.max(250, Math.min(5_000, Math.floor(headersTimeoutMs / 4))) },
      (req, res) => {
        void this.#handle(req, res);
      },
    );
    // Slow clients must not hold sockets forever. Streamed uploads may be long, so a whole request has no
    // deadline; headers and buffered bodies do, and so does idle time.
    this.#server.headersTimeout = headersTimeoutMs;
    this.#server.requestTimeout = 0;
    this.#server.setTimeout(options.idleTimeoutMs ?? 120_000);
    this.#server.keepAliveTimeout = 5_000;
    this.#server.on('connection', (socket: Socket) => {
      this.#sockets.add(socket);
      socket.once('close', () => this.#sockets.delete(socket));
    });
    this.#server.on('connect', (req: IncomingMessage, socket: Socket, head: Buffer) => {
      handleConnect(this.connectContext(), req, socket, head);
    });
    // A client that does not trust the CA, or speaks plain HTTP: nothing was forwarded; nothing to do.
    this.#server.on('tlsClientError', () => undefined);
    bus.subscribe((event) => this.#observe(event));
  }

  static async start(options: GatewayOptions): Promise<Gateway> {
    const bus = options.bus ?? new EventBus();
    await mkdir(options.stateDir, { recursive: true, mode: 0o700 });
    const keys = await loadOrCreateGatewayKeys(options.stateDir);
    const ca = await loadOrCreateCa(options.stateDir);
    const cert = await loadOrCreateServerCertificate(options.stateDir, ca, defaultServerNames(options.publicHosts));
    const policy = new PolicyWatcher({ file: options.policyFile, bus });
    await policy.start();
    const gateway = new Gateway(options, bus, keys, ca, cert, policy);
    try {
      await gateway.#restoreState();
      // The admin socket first: it refuses to start when another gateway owns this state dir.
      gateway.#admin = await startAdminServer(gateway, { stateDir: options.stateDir });
      await gateway.#listen();
      // The operations table (≈1.4 MB of JSON) is parsed once, after listening rather than on the first call.
      setImmediate(() => loadServiceIndex());
      // Forward-proxy certificates for the usual hosts, minted in the background, before the first CONNECT.
      void prewarmHostCertificates(ca, policy.current().config.upstream.region).catch(() => undefined);
    } catch (error) {
      await gateway.#admin?.close();
      await policy.close();
      throw error;
    }
    return gateway;
  }

  /** Revocations survive restarts; sessions whose credentials are still valid are listed again. */
  async #restoreState(): Promise<void> {
    for (const revocation of await listRevocations(this.options.stateDir)) {
      if (revocation.sessionId) this.#revokedSessions.add(revocation.sessionId);
      if (revocation.serviceAccount) {
        const at = Date.parse(revocation.at);
        this.#revokedAccounts.set(revocation.serviceAccount, Math.max(at, this.#revokedAccounts.get(revocation.serviceAccount) ?? 0));
      }
    }
    for (const session of await listSessions(this.options.stateDir, { active: true })) {
      this.#sessions.set(session.id, {
        sessionId: session.id,
        serviceAccount: session.serviceAccount,
        roleArn: session.roleArn,
        start: session.start,
        expiresAt: session.expiresAt,
        calls: session.counts.calls,
        denied: session.counts.denied,
        revoked: this.#revokedSessions.has(session.id),
        active: true,
      });
    }
  }

  /** Keeps the live session table and counters from the event stream (the same events everyone sees). */
  #observe(event: GatewayEvent): void {
    switch (event.type) {
      case 'session.started':
        this.#sessions.set(event.sessionId, {
          sessionId: event.sessionId,
          serviceAccount: event.serviceAccount,
          roleArn: event.roleArn,
          start: event.at,
          expiresAt: event.expiresAt,
          calls: 0,
          denied: 0,
          revoked: false,
          active: true,
        });
        break;
      case 'decision': {
        const session = this.#sessions.get(event.sessionId);
        if (event.effect === 'allow') this.#counts.allowed += 1;
        if (event.effect === 'deny') this.#counts.denied += 1;
        if (session) {
          session.calls += 1;
          if (event.effect === 'deny') session.denied += 1;
          session.lastAction = event.action;
          session.lastAt = event.at;
        }
        break;
      }
      case 'request':
        this.#counts.requests += 1;
        break;
      case 'policy.loaded':
        this.#policyErrors = [];
        this.#policyLoadedAt = new Date(event.at);
        break;
      case 'policy.rejected':
        this.#policyErrors = event.errors;
        break;
      default:
        break;
    }
  }

  #upstreamCredentials(policy: LoadedPolicy): UpstreamCredentials {
    const region = policy.config.upstream.region;
    const override = this.options.upstreamEndpoint ?? policy.config.upstream.endpoint;
    const key = `${region} ${override ?? ''}`;
    if (this.#upstream?.key !== key) {
      this.#upstream = {
        key,
        credentials: new UpstreamCredentials({
          stsOrigin: override ?? `https://sts.${region}.amazonaws.com`,
          region,
          baseProvider: this.options.baseCredentials,
          now: this.options.now,
        }),
      };
    }
    return this.#upstream.credentials;
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
      startedAt: this.startedAt.toISOString(),
      version: this.options.version,
    };
    await writeFile(gatewayInfoPath(this.options.stateDir), `${JSON.stringify(info, null, 2)}\n`, { mode: 0o600 });
    this.#emit({ type: 'listening', url: this.url, stateDir: this.options.stateDir, policyFile: this.options.policyFile, version: this.options.version });
  }

  /** What forward-proxy mode (CONNECT) needs from the gateway. */
  connectContext(): ConnectContext {
    return {
      handle: (req, res) => {
        void this.#handle(req, res);
      },
      ca: this.ca,
      passthrough: () => this.policy.current().config.passthrough ?? [],
      region: () => this.policy.current().config.upstream.region,
      emit: (event) => this.#emit(event),
    };
  }

  #now(): Date {
    return this.options.now?.() ?? new Date();
  }

  #emit(event: UnstampedEvent): void {
    this.bus.emit({ at: this.#now().toISOString(), ...event } as GatewayEvent);
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

  /**
   * verifyGatewayCredentials, memoised on the exact (key id, token) pair: the token is immutable and signed, so
   * only its expiry has to be checked again (revocation is checked by the caller on every call).
   */
  #verifiedSession(accessKeyId: string, sessionToken: string | undefined): GatewaySession {
    const key = sessionToken === undefined ? undefined : `${accessKeyId}.${sessionToken}`;
    const cached = key === undefined ? undefined : this.#verifiedSessions.get(key);
    if (cached && cached.expiresAt.getTime() > this.#now().getTime()) return cached;
    const session = verifyGatewayCredentials(this.keys, { accessKeyId, sessionToken }, this.#now());
    if (key !== undefined) {
      if (this.#verifiedSessions.size >= VERIFIED_CACHE_MAX) this.#verifiedSessions.delete(this.#verifiedSessions.keys().next().value!);
      this.#verifiedSessions.set(key, session);
    }
    return session;
  }

  #isRevoked(session: GatewaySession): string | undefined {
    if (this.#revokedSessions.has(session.sessionId)) return `session ${session.sessionId} was revoked`;
    const accountCutoff = this.#revokedAccounts.get(session.serviceAccount);
    // issuedAt has whole seconds: a credential from the revocation's own second counts as revoked (fail closed).
    if (accountCutoff !== undefined && session.issuedAt.getTime() <= accountCutoff) return `the sessions of ${session.serviceAccount} were revoked`;
    return undefined;
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
    // The client may still be sending a body we will never read: close after answering.
    res.shouldKeepAlive = false;
    res.writeHead(response.status, { ...response.headers, 'content-length': Buffer.byteLength(response.body), connection: 'close' });
    res.end(flow.method === 'HEAD' ? undefined : response.body);
  }

  async #assumeRoleWithWebIdentity(flow: Flow, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBodyLimited(req, MAX_STS_BODY_BYTES, 'the AssumeRoleWithWebIdentity form', this.options.bodyTimeoutMs);
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
    let response = outcome.response;
    const revokedAt = outcome.ok ? this.#revokedAccounts.get(outcome.session.serviceAccount) : undefined;
    if (outcome.ok && revokedAt !== undefined) {
      // A token from before an account-wide revocation must not buy fresh credentials (tokens without iat: fail closed).
      const iat = outcome.session.claims.iat;
      if (typeof iat !== 'number' || iat * 1000 <= revokedAt) {
        const reason = `the sessions of ${outcome.session.serviceAccount} were revoked at ${new Date(revokedAt).toISOString()}; present an identity token issued after that`;
        this.#emit({ type: 'session.refused', reason, code: 'ACCESS_DENIED', sourceIp: flow.sourceIp, userAgent: flow.userAgent });
        response = toAwsErrorResponse(new GatewayError('ACCESS_DENIED', reason), 'query', flow.requestId);
        res.writeHead(response.status, { ...response.headers, 'content-length': Buffer.byteLength(response.body) });
        res.end(response.body);
        return;
      }
    }
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
    res.writeHead(response.status, { ...response.headers, 'content-length': Buffer.byteLength(response.body) });
    res.end(response.body);
  }

  async #dataPath(flow: Flow, req: IncomingMessage, res: ServerResponse): Promise<void> {
    // Repeated headers kept apart: SigV4 joins them with ',', Node's req.headers with ', '.
    const request = { method: flow.method, rawPath: flow.rawPath, headers: req.headersDistinct };
    const parsed = parseSigV4(request);
    flow.errorProtocol = errorProtocolFor(parsed.service) as Flow['errorProtocol'];
    const session = this.#verifiedSession(parsed.accessKeyId, parsed.securityToken);
    const revoked = this.#isRevoked(session);
    if (revoked) throw new GatewayError('INVALID_CLIENT_TOKEN', `The security token included in the request is invalid: ${revoked}`);
    flow.session = session;

    let body: Buffer | undefined;
    let payloadHash: string;
    const payload = payloadHashFor(parsed);
    if (payload.kind === 'compute' || bodyNeededForIdentify(parsed.service, req.headers)) {
      body = await readBodyLimited(req, this.options.maxBufferedBodyBytes ?? DEFAULT_MAX_BUFFERED_BODY_BYTES, 'the request body', this.options.bodyTimeoutMs);
      const computed = createHash('sha256').update(body).digest('hex');
      if (payload.kind === 'compute') {
        if (payload.declared !== undefined && payload.declared.toLowerCase() !== computed) {
          throw new GatewayError('SIGNATURE_MISMATCH', 'The provided x-amz-content-sha256 header does not match what was computed.', { awsCode: 'XAmzContentSHA256Mismatch', status: 400 });
        }
        payloadHash = computed;
      } else {
        payloadHash = payload.value;
      }
    } else {
      payloadHash = payload.value;
    }
    const verified = verifySigV4(parsed, request, { secretAccessKey: session.secretAccessKey, payloadHash, now: this.#now() });

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
      gatewayHosts: this.#gatewayHosts,
    });
    flow.call = call;
    const masker = this.#maskerFor(policy);
    const maskedParams = call.params === undefined ? undefined : masker.maskValue(call.params, { service: call.service }).value;
    await this.#recordRequest({
      type: 'request',
      sessionId: session.sessionId,
      requestId: flow.requestId,
      serviceAccount: session.serviceAccount,
      service: call.service,
      action: call.action,
      resource: call.resource,
      region: call.region,
      params: maskedParams,
      sourceIp: flow.sourceIp,
    });

    const resources = call.resources.length > 0 ? call.resources : [call.resource];
    const decision = combineDecisions(
      resources.map((resource) => evaluate(policy.compiled, { principal: session.serviceAccount, action: call.action, resource, region: call.region })),
    );
    flow.decision = decision;
    let approvalId: string | undefined;
    if (decision.effect === 'approve') {
      const rule = decision.rule;
      const outcome = await this.approvals.request({
        sessionId: session.sessionId,
        requestId: flow.requestId,
        serviceAccount: session.serviceAccount,
        action: call.action,
        resource: call.resource,
        region: call.region,
        params: maskedParams,
        fingerprint: requestFingerprint({
          serviceAccount: session.serviceAccount,
          action: call.action,
          resource: call.resource,
          params: call.params,
          extra: body === undefined ? restFingerprintExtra(flow, payloadHash) : createHash('sha256').update(body).digest('hex'),
        }),
        ruleId: decision.ruleId,
        message: decision.message,
        holdMs: rule?.approval.holdMs ?? 20_000,
        timeoutMs: rule?.approval.timeoutMs ?? 600_000,
      });
      if (outcome.outcome === 'pending') {
        this.#emitDecision(flow, session, call, decision, 'policy');
        throw new GatewayError(
          'APPROVAL_PENDING',
          `portcullis: ${call.action} on ${call.resource} is waiting for approval ${outcome.approvalId} (rule ${decision.ruleId}); retry after a human approves it (expires ${outcome.expiresAt.toISOString()})`,
          { awsCode: 'ThrottlingException' },
        );
      }
      if (outcome.outcome === 'denied') {
        this.#emitDecision(flow, session, call, { ...decision, effect: 'deny', message: outcome.reason }, 'grant');
        throw new GatewayError('ACCESS_DENIED', `portcullis: ${call.action} on ${call.resource} was not approved (rule ${decision.ruleId}): ${outcome.reason}`);
      }
      approvalId = outcome.approvalId;
      this.#emitDecision(flow, session, call, { ...decision, effect: 'allow' }, 'grant');
    } else {
      this.#emitDecision(flow, session, call, decision, 'policy');
    }
    if (decision.effect === 'deny') {
      const reason = decision.ruleId === 'default-deny' ? 'no rule allows it (default deny)' : `denied by rule ${decision.ruleId}${decision.message ? `: ${decision.message}` : ''}`;
      throw new GatewayError('ACCESS_DENIED', `portcullis: ${call.action} on ${call.resource} for ${session.serviceAccount}: ${reason}`);
    }
    await this.#forward(flow, req, res, { parsed, verified, session, call, body, payloadHash, masker, policy });
    if (approvalId) this.approvals.executed(approvalId, flow.requestId, session.sessionId);
  }

  /**
   * The request record goes to the recording before anything is forwarded: fsynced in strict durability;
   * with on_failure: deny, a recording that cannot be written refuses the call (fail closed).
   */
  async #recordRequest(event: Omit<Extract<GatewayEvent, { type: 'request' }>, 'at'>): Promise<void> {
    const full = { at: this.#now().toISOString(), ...event } as GatewayEvent;
    const policy = this.policy.current();
    if (policy.config.recording.durability === 'strict') {
      await this.recorder.recordDurable(full);
    } else if (!this.recorder.record(full)) {
      throw new GatewayError('RECORDING_FAILED', `portcullis: the session recording cannot be written (${this.recorder.failure()?.message ?? 'recorder unavailable'}); calls are refused until it can (recording.on_failure: deny)`);
    }
    this.bus.emit(full);
  }

  #emitDecision(flow: Flow, session: GatewaySession, call: CallInfo, decision: Decision, via: 'policy' | 'grant'): void {
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
      via,
    });
  }

  async #forward(
    flow: Flow,
    req: IncomingMessage,
    res: ServerResponse,
    ctx: {
      parsed: ParsedSignature;
      verified: VerifiedSignature;
      session: GatewaySession;
      call: CallInfo;
      body?: Buffer;
      payloadHash: string;
      masker: Masker;
      policy: LoadedPolicy;
    },
  ): Promise<void> {
    const { session, call, policy } = ctx;
    const override = this.options.upstreamEndpoint ?? policy.config.upstream.endpoint;
    const target = upstreamOrigin(
      call.endpointPrefix ? { endpointPrefix: call.endpointPrefix, signingName: ctx.parsed.service } : ctx.parsed.service,
      call.region,
      override,
      { bucket: call.bucket },
    );
    let rawPath = flow.rawPath;
    if (call.service === 's3' && call.bucket !== undefined) {
      rawPath = s3UpstreamPath({ rawPath, bucket: call.bucket, clientPathStyle: call.pathStyle !== false, upstreamPathStyle: target.pathStyle !== false });
    }
    const credentials = await this.#upstreamCredentials(policy).forRole(session.serviceAccount, session.roleArn);
    // User-Agent is sent but never signed (as the SDKs do): HTTP stacks rewrite it.
    const { 'user-agent': userAgent, ...forwarded } = filterForwardHeaders(req.headers);
    const signed = signOutgoingRequest({
      method: flow.method,
      url: new URL(target.origin),
      rawPath,
      headers: forwarded,
      region: target.signingRegion,
      service: ctx.parsed.service,
      credentials,
      payloadHash: ctx.payloadHash,
      now: this.#now(),
    });
    signed.headers.host = target.host;
    signed.headers['user-agent'] = `${userAgent ? `${userAgent} ` : ''}portcullis/${this.options.version}`;
    let requestBody: Buffer | Readable | undefined = ctx.body;
    if (requestBody === undefined && flow.method !== 'GET' && flow.method !== 'HEAD') {
      requestBody = ctx.payloadHash.startsWith('STREAMING-AWS4-HMAC-SHA256-PAYLOAD')
        ? req.pipe(
            createChunkResigner({
              incoming: ctx.verified,
              outgoing: signed.signing,
              trailer: ctx.payloadHash.endsWith('-TRAILER'),
              decodedContentLength: Number(firstHeader(req.headers['x-amz-decoded-content-length']) ?? NaN) || undefined,
            }),
          )
        : req;
    }
    if (Buffer.isBuffer(requestBody) && requestBody.length === 0) requestBody = undefined;

    let upstream;
    try {
      upstream = await this.#upstreamClient.send({
        origin: target.origin,
        path: rawPath,
        method: flow.method,
        headers: signed.headers,
        body: requestBody,
        idleTimeoutMs: this.options.upstreamTimeoutMs ?? 60_000,
      });
    } catch (error) {
      if (isGatewayError(error)) throw error;
      const cause = (error as { cause?: unknown }).cause;
      if (isGatewayError(cause)) throw cause;
      throw new GatewayError('UPSTREAM_UNAVAILABLE', `upstream ${target.origin} is unavailable: ${(error as Error).message}`, { cause: error });
    }
    const responseHeaders: Record<string, string | string[]> = {};
    for (const [name, value] of Object.entries(upstream.headers)) {
      if (value === undefined || HOP_BY_HOP.has(name)) continue;
      responseHeaders[name] = value;
    }
    let masked: Awaited<ReturnType<Gateway['maskResponse']>>;
    try {
      masked = await this.maskResponse(flow, upstream.body, responseHeaders, ctx.masker, policy, call);
    } catch (error) {
      upstream.body.destroy();
      throw new GatewayError('UPSTREAM_UNAVAILABLE', `upstream ${target.origin} failed while answering: ${(error as Error).message}`, { cause: error });
    }
    flow.responseStatus = upstream.statusCode;
    res.writeHead(upstream.statusCode, masked.headers);
    if (masked.body) {
      res.end(flow.method === 'HEAD' ? undefined : masked.body);
      flow.responseBytes = masked.body.length;
    } else {
      let bytes = masked.prefix?.length ?? 0;
      if (masked.prefix) res.write(masked.prefix);
      upstream.body.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
      });
      try {
        await pipeline(upstream.body, res);
      } catch {
        res.destroy();
      }
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
  private async maskResponse(
    flow: Flow,
    body: Readable,
    headers: Record<string, string | string[]>,
    masker: Masker,
    policy: LoadedPolicy,
    call: CallInfo,
  ): Promise<{ headers: Record<string, string | string[]>; body?: Buffer; prefix?: Buffer; report?: MaskingReport; excerpt?: string; errorCode?: string }> {
    if (flow.method === 'HEAD') {
      // No body follows a HEAD response; drain so the pooled connection is released cleanly.
      body.resume();
      return { headers, body: Buffer.alloc(0) };
    }
    const limit = policy.config.masking.maxBodyBytes;
    const declared = Number(firstHeader(headers['content-length']) ?? NaN);
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
      protocol: call.protocol === 'rpc-v2-cbor' ? undefined : call.protocol,
      service: call.service,
      operation: call.operation,
    });
    const fixed = fixMaskedHeaders(headers, result.body, result.changed);
    const excerpt = result.report.skipped === 'binary' || result.report.skipped === 'encoded' ? undefined : result.body.subarray(0, 2048).toString('utf8');
    return { headers: fixed, body: result.body, report: result.report, excerpt, errorCode: excerpt ? /<Code>([^<]+)<\/Code>/.exec(excerpt)?.[1] : undefined };
  }

  // ---- GatewayControl (served by the admin socket) ----

  status(): GatewayStatus {
    const current = this.policy.current();
    return {
      url: this.url,
      version: this.options.version,
      pid: process.pid,
      startedAt: this.startedAt.toISOString(),
      stateDir: this.options.stateDir,
      policy: {
        file: current.file,
        sha256: current.sha256,
        rules: current.config.rules.length,
        serviceAccounts: current.config.serviceAccounts.length,
        state: this.#policyErrors.length > 0 ? 'error' : 'ok',
        errors: this.#policyErrors,
        loadedAt: this.#policyLoadedAt.toISOString(),
      },
      counts: {
        allowed: this.#counts.allowed,
        denied: this.#counts.denied,
        requests: this.#counts.requests,
        pending: this.approvals.pending().length,
        activeSessions: this.sessions({ active: true }).length,
      },
    };
  }

  sessions(filter: { active?: boolean } = {}): SessionSummary[] {
    const now = this.#now().getTime();
    const all = [...this.#sessions.values()].map((s) => ({ ...s, active: !s.revoked && Date.parse(s.expiresAt) > now }));
    return filter.active ? all.filter((s) => s.active) : all;
  }

  pending(): PendingApproval[] {
    return this.approvals.pending();
  }

  approve(id: string, input: DecisionInput): ControlResult {
    return this.approvals.approve(id, input);
  }

  deny(id: string, input: DecisionInput): ControlResult {
    return this.approvals.deny(id, input);
  }

  async revokeSession(sessionId: string, by: string, reason?: string): Promise<ControlResult> {
    if (!/^[\w-]{1,64}$/.test(sessionId)) return { ok: false, error: `"${sessionId}" is not a session id`, status: 400 };
    this.#revokedSessions.add(sessionId);
    const session = this.#sessions.get(sessionId);
    if (session) session.revoked = true;
    this.#emit({ type: 'session.revoked', sessionId, by, reason });
    await addRevocation(this.options.stateDir, { sessionId, by, reason, at: this.#now().toISOString() });
    return { ok: true, message: `revoked ${sessionId}${session ? ` (${session.serviceAccount})` : ''}` };
  }

  async revokeServiceAccount(name: string, by: string, reason?: string): Promise<ControlResult> {
    const at = this.#now();
    this.#revokedAccounts.set(name, at.getTime());
    await addRevocation(this.options.stateDir, { serviceAccount: name, by, reason, at: at.toISOString() });
    let count = 0;
    for (const session of this.#sessions.values()) {
      if (session.serviceAccount !== name || session.revoked) continue;
      session.revoked = true;
      count += 1;
      this.#emit({ type: 'session.revoked', sessionId: session.sessionId, by, reason });
    }
    return { ok: true, message: `revoked every session of ${name} issued until now (${count} known active)` };
  }

  async reloadPolicy(): Promise<ControlResult> {
    const result = await this.policy.reload();
    if (result.ok) return { ok: true, message: `policy reloaded (${result.policy.sha256.slice(0, 12)})` };
    return { ok: false, error: `policy rejected: ${result.errors.length} error(s); the last good policy stays in force`, status: 400 };
  }

  /** Stop accepting, let in-flight calls finish (bounded), then close everything. */
  async close(): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    this.#server.closeIdleConnections();
    this.approvals.close();
    const deadline = Date.now() + (this.options.drainMs ?? 10_000);
    while (this.#inFlight > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
    for (const socket of this.#sockets) socket.destroy();
    await closed;
    this.#upstreamClient.close();
    await this.#admin?.close();
    await this.recorder.close();
    await this.policy.close();
    await rm(gatewayInfoPath(this.options.stateDir), { force: true });
  }
}
