// The composition root: provision (state dir, keys, CA, policy, recorder, revocations, sessions) → validate →
// start (admin socket, listener) → close. Whatever was provisioned is cleaned up when a later step fails
// (Caddy's Provision/Validate/Cleanup). The request path itself is the pipeline (src/pipeline/stages.ts), compiled
// once per policy load together with its per-policy objects; this class only wires things and serves the admin
// surface (GatewayControl).

import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { CompactSign } from 'jose';
import type { ControlResult, DecisionInput, GatewayControl, GatewayStatus, Grant, PendingApproval, SessionSummary } from './admin/types.js';
import { EVENT_HISTORY_CAPACITY } from './admin/protocol.js';
import { startAdminServer, type AdminServer } from './admin/server.js';
import { OpenToolCalls } from './mcp/attribution.js';
import { ApprovalManager } from './approval/manager.js';
import { loadServiceIndex } from './aws/models.js';
import type { LoadedPolicy } from './config/load.js';
import { PolicyWatcher } from './config/watch.js';
import { GatewayError } from './errors.js';
import { EventBus, type GatewayEvent, type PolicyErrorItem, type UnstampedEvent } from './events.js';
import type { Flow } from './flow.js';
import { loadOrCreateGatewayKeys, type GatewayKeys } from './identity/keys.js';
import { VerifiedSessions } from './identity/session-cache.js';
import { systemClock, type Clock } from './lib/clock.js';
import { Limiter } from './limits/limiter.js';
import { DEFAULT_UPLOAD_RATE, DEFAULT_UPSTREAM_SOCKETS } from './limits/types.js';
import type { GatewayServices, PolicyRuntime } from './pipeline/context.js';
import { membersOf, membershipRefusal } from './pipeline/authenticate.js';
import { buildPolicyRuntime } from './pipeline/runtime.js';
import { compilePipeline, type CompiledPipeline } from './pipeline/stages.js';
import { handleConnect, type ConnectContext } from './proxy/connect.js';
import { UpstreamClient } from './proxy/forward.js';
import { prewarmHostCertificates } from './proxy/hostcerts.js';
import { Listener } from './proxy/server.js';
import { defaultServerNames, loadOrCreateCa, loadOrCreateServerCertificate, type CertificateAuthority } from './proxy/tls.js';
import { addRevocation, listRevocations, listSessions } from './recording/index-db.js';
import type { DigestLine } from './recording/chain.js';
import { Recorder } from './recording/recorder.js';
import { WitnessPublisher, witnessStore } from './recording/witness.js';
import { startTelemetry } from './telemetry/index.js';
import { DEFAULTS, validateOptions, type GatewayOptions } from './gateway-options.js';

export type { GatewayOptions };
import { Revocations } from './sessions/revocations.js';
import { SessionTable } from './sessions/table.js';
import { gatewayInfoPath, type GatewayInfo } from './state.js';
import { markLowerCaseHeaders } from './lib/headers.js';

/** Credentials the standard chain finds without asking the instance metadata service. */
function hasConfiguredCredentials(env: NodeJS.ProcessEnv): boolean {
  if (env.AWS_ACCESS_KEY_ID || env.AWS_PROFILE || env.AWS_WEB_IDENTITY_TOKEN_FILE || env.AWS_CONTAINER_CREDENTIALS_RELATIVE_URI || env.AWS_CONTAINER_CREDENTIALS_FULL_URI) return true;
  const home = homedir();
  return [env.AWS_SHARED_CREDENTIALS_FILE ?? join(home, '.aws', 'credentials'), env.AWS_CONFIG_FILE ?? join(home, '.aws', 'config')].some((file) => existsSync(file));
}

// Request ids: a random per-process prefix and a counter (unique, cheap: no CSPRNG call per request).
const REQUEST_ID_PREFIX = randomBytes(4).toString('hex').toUpperCase();
let requestCounter = 0;
function newRequestId(): string {
  requestCounter = (requestCounter + 1) % 0x100000000;
  return `${REQUEST_ID_PREFIX}${requestCounter.toString(16).toUpperCase().padStart(8, '0')}`;
}

export class Gateway implements GatewayControl {
  readonly bus: EventBus;
  readonly options: GatewayOptions;
  readonly keys: GatewayKeys;
  readonly ca: CertificateAuthority;
  readonly policy: PolicyWatcher;
  readonly approvals: ApprovalManager;
  readonly recorder: Recorder;
  url = '';
  readonly startedAt: Date;
  readonly #now: Clock;
  readonly #listener: Listener;
  readonly #services: GatewayServices;
  readonly #sessions = new SessionTable();
  readonly #revocations: Revocations;
  readonly #sinks: { close(): Promise<void> }[];
  #pipeline: CompiledPipeline;
  #runtime: PolicyRuntime;
  #admin: AdminServer | undefined;
  #inFlight = 0;
  #closing = false;
  #policyErrors: PolicyErrorItem[] = [];
  #policyLoadedAt: Date;
  readonly #unsubscribe: (() => void)[] = [];
  /** Live sessions the policy being loaded no longer has: revoked once it is in force. */
  #endedByPolicy: SessionSummary[] = [];

  private constructor(parts: {
    options: GatewayOptions;
    bus: EventBus;
    keys: GatewayKeys;
    ca: CertificateAuthority;
    cert: { certPem: string; keyPem: string };
    policy: PolicyWatcher;
    recorder: Recorder;
    revocations: Revocations;
    /** Observers that ship data off the box (witness, telemetry): closed after the recorder's last digests. */
    sinks: { close(): Promise<void> }[];
  }) {
    const { options, bus, keys, policy, recorder } = parts;
    this.options = options;
    this.bus = bus;
    this.keys = keys;
    this.ca = parts.ca;
    this.policy = policy;
    this.recorder = recorder;
    this.#revocations = parts.revocations;
    this.#sinks = parts.sinks;
    this.#now = options.now ?? systemClock;
    this.startedAt = this.#now();
    this.#policyLoadedAt = this.startedAt;
    this.approvals = new ApprovalManager({ bus, now: this.#now });
    this.#services = {
      version: options.version,
      stateDir: options.stateDir,
      limits: {
        maxBufferedBodyBytes: options.maxBufferedBodyBytes ?? DEFAULTS.maxBufferedBodyBytes,
        bodyTimeoutMs: options.bodyTimeoutMs ?? DEFAULTS.bodyTimeoutMs,
        upstreamTimeoutMs: options.upstreamTimeoutMs ?? DEFAULTS.upstreamTimeoutMs,
      },
      upstreamEndpoint: options.upstreamEndpoint,
      gatewayHosts: defaultServerNames(options.publicHosts),
      keys,
      now: this.#now,
      emit: (event) => this.#emit(event),
      publish: (event) => bus.emit(event),
      recorder,
      recordingDurability: policy.current().config.recording.durability,
      approvals: this.approvals,
      revocations: this.#revocations,
      verifiedSessions: new VerifiedSessions({ keys, now: this.#now }),
      upstreamClient: new UpstreamClient({ socketsPerOrigin: options.upstreamSocketsPerOrigin ?? DEFAULT_UPSTREAM_SOCKETS }),
      limiter: new Limiter({
        now: this.#now,
        queueWaitMs: options.queueWaitMs,
        defaultConcurrency: options.accountConcurrency,
        upstreamSockets: options.upstreamSocketsPerOrigin,
        bufferBudgetBytes: options.bufferBudgetBytes,
      }),
      uploadRate: {
        minBytesPerSec: options.uploadMinBytesPerSec ?? DEFAULT_UPLOAD_RATE.minBytesPerSec,
        windowMs: options.uploadRateWindowMs ?? DEFAULT_UPLOAD_RATE.windowMs,
        graceMs: options.uploadGraceMs ?? DEFAULT_UPLOAD_RATE.graceMs,
      },
      newSessionId: () => `ses-${randomBytes(9).toString('base64url')}`,
      toolCalls: new OpenToolCalls(),
    };
    this.#runtime = this.#buildRuntime(policy.current());
    policy.onAccept = (loaded) => {
      this.#endedByPolicy = this.#sessionsOutside(loaded);
      return { endedSessions: this.#endedByPolicy.length };
    };
    this.#pipeline = compilePipeline({ ...this.#services, ...this.#runtime });
    this.#listener = new Listener({
      cert: parts.cert,
      headersTimeoutMs: options.headersTimeoutMs ?? DEFAULTS.headersTimeoutMs,
      idleTimeoutMs: options.idleTimeoutMs ?? DEFAULTS.idleTimeoutMs,
      onRequest: (req, res) => void this.#handle(req, res),
      onConnect: (req, socket, head) => handleConnect(this.#connectContext(), req, socket, head),
    });
    // The request record is written by the record stage (it may have to be durable before forwarding).
    this.#unsubscribe.push(
      bus.subscribe((event) => {
        if (event.type !== 'request' && event.type !== 'error') recorder.record(event);
      }),
      bus.subscribe((event) => this.#observe(event)),
    );
  }

  static async start(options: GatewayOptions): Promise<Gateway> {
    validateOptions(options);
    const bus = options.bus ?? new EventBus();
    const now = options.now ?? systemClock;
    const cleanups: (() => Promise<void> | void)[] = [];
    try {
      // Provision.
      await mkdir(options.stateDir, { recursive: true, mode: 0o700 });
      const keys = await loadOrCreateGatewayKeys(options.stateDir);
      const ca = await loadOrCreateCa(options.stateDir);
      const cert = await loadOrCreateServerCertificate(options.stateDir, ca, defaultServerNames(options.publicHosts));
      const policy = new PolicyWatcher({ file: options.policyFile, bus });
      await policy.start();
      cleanups.push(() => policy.close());
      const recording = policy.current().config.recording;
      const reportTo = (code: 'WITNESS_FAILED' | 'TELEMETRY_FAILED') => (error: Error) => bus.emit({ at: now().toISOString(), type: 'error', message: error.message, code });
      const witness = recording.witness === undefined
        ? undefined
        : new WitnessPublisher({ store: witnessStore(recording.witness), keyName: keys.kid, privateKey: keys.privateKey, onError: reportTo('WITNESS_FAILED') });
      const recorder = new Recorder({
        stateDir: options.stateDir,
        gatewayVersion: options.version,
        durability: recording.durability,
        onFailure: recording.onFailure,
        maxBodyBytes: recording.maxBodyBytes,
        checkpointEvery: { events: recording.checkpointEvents, ms: recording.checkpointIntervalMs },
        ...(witness ? { onDigest: (sessionId: string, digest: DigestLine) => witness.publish(sessionId, digest) } : {}),
        now,
        signer: {
          kid: keys.kid,
          sign: (payload) => new CompactSign(payload).setProtectedHeader({ alg: 'ES256', kid: keys.kid, typ: 'portcullis-digest+jws' }).sign(keys.privateKey),
        },
        onError: (error) => bus.emit({ at: now().toISOString(), type: 'error', message: `recording: ${error.message}`, code: 'RECORDING_FAILED' }),
      });
      if (witness) cleanups.push(() => witness.close());
      cleanups.push(() => recorder.close());
      const telemetry = await startTelemetry(policy.current().config.telemetry, { bus, version: options.version, onError: reportTo('TELEMETRY_FAILED') });
      if (telemetry) cleanups.push(() => telemetry.close());
      const revocations = Revocations.fromRecords(await listRevocations(options.stateDir));
      const gateway = new Gateway({ options, bus, keys, ca, cert, policy, recorder, revocations, sinks: [...(witness ? [witness] : []), ...(telemetry ? [telemetry] : [])] });
      cleanups.push(() => gateway.#teardown());
      await gateway.#restoreSessions();
      // Start: the admin socket first (it refuses to start when another gateway owns this state dir), then listen.
      gateway.#admin = await startAdminServer(gateway, { stateDir: options.stateDir, historyEvents: EVENT_HISTORY_CAPACITY });
      cleanups.push(() => gateway.#admin?.close());
      await gateway.#listen();
      // The operations table (≈1.4 MB of JSON) is parsed once, after listening rather than on the first call.
      setImmediate(() => loadServiceIndex());
      // Forward-proxy certificates for the usual hosts, minted in the background, before the first CONNECT.
      void prewarmHostCertificates(ca, policy.current().config.upstream.region).catch(() => undefined);
      return gateway;
    } catch (error) {
      for (const cleanup of cleanups.reverse()) await Promise.resolve(cleanup()).catch(() => undefined);
      throw error;
    }
  }

  /** Sessions whose credentials are still valid are listed again after a restart. */
  async #restoreSessions(): Promise<void> {
    this.#sessions.restoreFromIndex(await listSessions(this.options.stateDir, { active: true }), (id) => this.#revocations.isSessionRevoked(id));
  }

  /**
   * The objects that depend on the policy, built once per load. Upstream credentials are kept across loads while
   * region and endpoint stay the same, so a reload does not throw away cached AssumeRole credentials.
   */
  #buildRuntime(policy: LoadedPolicy): PolicyRuntime {
    return buildPolicyRuntime(policy, this.#runtime as PolicyRuntime | undefined, {
      upstreamEndpoint: this.options.upstreamEndpoint,
      baseCredentials: this.options.baseCredentials,
      now: this.options.now,
      keys: this.keys,
      upstreamClient: this.#services.upstreamClient,
    });
  }


  #observe(event: GatewayEvent): void {
    this.#sessions.observe(event);
    if (event.type === 'policy.loaded') {
      this.#policyErrors = [];
      this.#policyLoadedAt = new Date(event.at);
      this.#runtime = this.#buildRuntime(this.policy.current());
      this.#pipeline = compilePipeline({ ...this.#services, ...this.#runtime });
      for (const session of this.#endedByPolicy.splice(0)) {
        const why = membershipRefusal(this.#runtime.members, session.serviceAccount, session.roleArn) ?? 'removed from the policy';
        void this.revokeSession(session.sessionId, 'policy', why).catch((error: Error) =>
          this.#emit({ type: 'error', code: 'INTERNAL', message: `revoking ${session.sessionId} after a policy reload: ${error.message}` }),
        );
      }
    } else if (event.type === 'policy.rejected') {
      this.#policyErrors = event.errors;
    }
  }

  /** Live sessions whose service account or role `policy` no longer has. */
  #sessionsOutside(policy: LoadedPolicy): SessionSummary[] {
    const members = membersOf(policy);
    return this.sessions({ active: true }).filter((s) => membershipRefusal(members, s.serviceAccount, s.roleArn) !== undefined);
  }

  async #listen(): Promise<void> {
    this.url = await this.#listener.listen(this.options.port, this.options.host);
    const info: GatewayInfo = {
      url: this.url,
      pid: process.pid,
      caFile: this.ca.caFile,
      policyFile: this.options.policyFile,
      startedAt: this.startedAt.toISOString(),
      version: this.options.version,
    };
    await writeFile(gatewayInfoPath(this.options.stateDir), `${JSON.stringify(info, null, 2)}\n`, { mode: 0o600 });
    const upstream = await this.#checkUpstream();
    this.#emit({ type: 'listening', url: this.url, stateDir: this.options.stateDir, policyFile: this.options.policyFile, version: this.options.version, upstream });
  }

  /**
   * Fail at start, not at the first call: the gateway's own credentials and the upstream are checked once
   * (GetCallerIdentity, bounded). Credentials that can only come from the instance role are not probed here (the
   * metadata service is asked at the first call, as before).
   */
  async #checkUpstream(): Promise<{ sts: string; identity?: string; problem?: string; unchecked?: string }> {
    const credentials = this.#runtime.upstreamCredentials;
    const sts = credentials.stsOrigin;
    if (this.options.baseCredentials === undefined && !hasConfiguredCredentials(process.env)) {
      return { sts, unchecked: 'no AWS credentials in the environment or the shared files; the instance role is asked at the first call' };
    }
    const result = await credentials.checkIdentity();
    return result.ok ? { sts, identity: result.arn } : { sts, problem: result.problem };
  }

  /** What forward-proxy mode (CONNECT) needs from the gateway. */
  #connectContext(): ConnectContext {
    return {
      handle: (req, res) => void this.#handle(req, res),
      ca: this.ca,
      passthrough: () => this.policy.current().config.passthrough ?? [],
      region: () => this.policy.current().config.upstream.region,
      emit: (event) => this.#emit(event),
    };
  }

  #emit(event: UnstampedEvent): void {
    this.bus.emit({ at: this.#now().toISOString(), ...event } as GatewayEvent);
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.#inFlight += 1;
    if (req.httpVersionMajor === 1) {
      // Node lower-cases HTTP/1.1 header names: lookups in these bags need no scan (lib/headers.ts).
      markLowerCaseHeaders(req.headers);
      markLowerCaseHeaders(req.headersDistinct);
    }
    const flow: Flow = {
      requestId: newRequestId(),
      startedAtMs: Date.now(),
      req,
      res,
      sourceIp: req.socket.remoteAddress,
      userAgent: req.headers['user-agent'],
      method: req.method ?? 'GET',
      rawPath: req.url ?? '/',
      errorProtocol: 'query',
    };
    if (this.#closing) flow.outcome = { kind: 'failed', error: new GatewayError('UPSTREAM_UNAVAILABLE', 'the gateway is shutting down; retry shortly') };
    try {
      await this.#pipeline.run(flow);
    } finally {
      this.#inFlight -= 1;
    }
  }

  // ---- GatewayControl (served by the admin socket) ----

  status(): GatewayStatus {
    const current = this.policy.current();
    const counts = this.#sessions.counts;
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
        allowed: counts.allowed,
        denied: counts.denied,
        requests: counts.requests,
        pending: this.approvals.pending().length,
        activeSessions: this.sessions({ active: true }).length,
        limited: counts.limited,
      },
      limits: this.#services.limiter.stats(),
    };
  }

  sessions(filter: { active?: boolean } = {}): SessionSummary[] {
    return this.#sessions.list(this.#now().getTime(), filter);
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

  grants(): Grant[] {
    return this.approvals.grants.list();
  }

  revokeGrant(id: string, by: string): ControlResult {
    return this.approvals.grants.revoke(id, by);
  }

  async revokeSession(sessionId: string, by: string, reason?: string): Promise<ControlResult> {
    if (!/^[\w-]{1,64}$/.test(sessionId)) return { ok: false, error: `"${sessionId}" is not a session id`, status: 400 };
    const at = this.#now().toISOString();
    this.#revocations.add({ sessionId, at });
    const session = this.#sessions.get(sessionId);
    this.#emit({ type: 'session.revoked', sessionId, by, reason });
    // Its recording is closed with a final signed digest: nothing more can happen in it.
    this.#emit({ type: 'session.ended', sessionId, reason: 'revoked' });
    await addRevocation(this.options.stateDir, { sessionId, by, reason, at });
    return { ok: true, message: `revoked ${sessionId}${session ? ` (${session.serviceAccount})` : ''}` };
  }

  async revokeServiceAccount(name: string, by: string, reason?: string): Promise<ControlResult> {
    const at = this.#now().toISOString();
    this.#revocations.add({ serviceAccount: name, at });
    await addRevocation(this.options.stateDir, { serviceAccount: name, by, reason, at });
    const sessions = this.#sessions.unrevokedOf(name);
    for (const session of sessions) {
      this.#emit({ type: 'session.revoked', sessionId: session.sessionId, by, reason });
      this.#emit({ type: 'session.ended', sessionId: session.sessionId, reason: 'revoked' });
    }
    return { ok: true, message: `revoked every session of ${name} issued until now (${sessions.length} known active)` };
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
    // Counted before anything closes: what this stop cuts off, for the last line an operator (or a log) reads.
    this.#emit({ type: 'stopped', ...this.#stopCounts() });
    const closed = this.#listener.stopAccepting();
    this.approvals.close();
    const deadline = Date.now() + (this.options.drainMs ?? DEFAULTS.drainMs);
    while (this.#inFlight > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
    this.#listener.destroyAll();
    await closed;
    this.#teardown();
    await this.#admin?.close();
    await this.recorder.close();
    for (const sink of this.#sinks) await sink.close().catch(() => undefined);
    await this.policy.close();
    await rm(gatewayInfoPath(this.options.stateDir), { force: true });
  }

  #stopCounts(): Omit<Extract<GatewayEvent, { type: 'stopped' }>, 'type' | 'at'> {
    const counts = this.#sessions.counts;
    return {
      activeSessions: this.sessions({ active: true }).length,
      pending: this.approvals.pending().length,
      grants: this.approvals.grants.list().length,
      requests: counts.requests,
      allowed: counts.allowed,
      denied: counts.denied,
      uptimeMs: Math.max(0, this.#now().getTime() - this.startedAt.getTime()),
    };
  }

  #teardown(): void {
    this.#services.upstreamClient.close();
    for (const unsubscribe of this.#unsubscribe.splice(0)) unsubscribe();
  }
}
