// An in-memory stand-in for the gateway's GatewayControl: the real gateway needs certificates, a
// policy and an upstream, none of which the admin transport cares about. It records every call so
// tests can see exactly what crossed the socket, and its bus counts subscribers.

import { EventBus, type EventListener, type GatewayEvent } from '../../src/events.js';
import type { ControlResult, DecisionInput, GatewayControl, GatewayStatus, Grant, PendingApproval, SessionSummary } from '../../src/admin/types.js';

/** An EventBus that knows how many listeners it has and lets tests wait for a count. */
export class CountingBus extends EventBus {
  listeners = 0;
  readonly #waiters: { n: number; resolve: () => void }[] = [];

  override subscribe(listener: EventListener): () => void {
    const unsubscribe = super.subscribe(listener);
    this.#change(1);
    let done = false;
    return () => {
      if (done) return false;
      done = true;
      this.#change(-1);
      return unsubscribe();
    };
  }

  /** Resolves once exactly `n` listeners are subscribed. */
  waitForListeners(n: number): Promise<void> {
    if (this.listeners === n) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ n, resolve }));
  }

  #change(delta: number): void {
    this.listeners += delta;
    for (let i = this.#waiters.length - 1; i >= 0; i -= 1) {
      const waiter = this.#waiters[i]!;
      if (waiter.n === this.listeners) {
        this.#waiters.splice(i, 1);
        waiter.resolve();
      }
    }
  }
}

export const T0 = '2025-01-01T12:00:00.000Z';

export function sampleSessions(): SessionSummary[] {
  return [
    {
      sessionId: 's-active1',
      serviceAccount: 'ci-bot',
      roleArn: 'arn:aws:iam::123456789012:role/ci',
      start: '2025-01-01T11:58:00.000Z',
      expiresAt: '2025-01-01T12:58:00.000Z',
      calls: 7,
      denied: 2,
      lastAction: 's3:GetObject',
      lastAt: '2025-01-01T11:59:00.000Z',
      revoked: false,
      active: true,
    },
    {
      sessionId: 's-old',
      serviceAccount: 'etl',
      roleArn: 'arn:aws:iam::123456789012:role/etl',
      start: '2025-01-01T09:00:00.000Z',
      expiresAt: '2025-01-01T10:00:00.000Z',
      calls: 0,
      denied: 0,
      revoked: true,
      active: false,
    },
  ];
}

export function samplePending(): PendingApproval[] {
  return [
    {
      id: 'k3f9',
      sessionId: 's-active1',
      requestId: 'r-1',
      serviceAccount: 'ci-bot',
      action: 'secretsmanager:GetSecretValue',
      resource: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod-db',
      pairs: ['secretsmanager:GetSecretValue arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod-db'],
      region: 'eu-west-1',
      ruleId: 'prod-secrets',
      createdAt: T0,
      expiresAt: '2099-01-01T12:05:00.000Z',
      held: true,
    },
  ];
}

/** A held S3 copy: two pairs (the copy source too), a body, one effect-changing header. */
export function sampleCopyPending(): PendingApproval {
  return {
    id: 'c0py',
    sessionId: 's-active1',
    requestId: 'r-2',
    serviceAccount: 'ci-bot',
    action: 's3:CopyObject',
    resource: 'arn:aws:s3:::prod-bucket/reports/q3.csv',
    pairs: ['s3:PutObject arn:aws:s3:::prod-bucket/reports/q3.csv', 's3:GetObject arn:aws:s3:::staging/reports/q3.csv'],
    region: 'eu-west-1',
    params: { Bucket: 'prod-bucket', Key: 'reports/q3.csv', CopySource: 'staging/reports/q3.csv' },
    body: { bytes: 12_595, sha256: 'ab12cd34ef56'.padEnd(64, '0') },
    headers: { 'x-amz-acl': 'public-read', 'x-amz-server-side-encryption-customer-key': '[MASKED]' },
    ruleId: 'prod-writes',
    createdAt: T0,
    expiresAt: '2099-01-01T12:05:00.000Z',
    held: true,
  };
}

export function sampleGrants(): Grant[] {
  return [
    {
      id: 'g-7hxk',
      approvalId: 'c0py',
      sessionId: 's-active1',
      serviceAccount: 'ci-bot',
      pairs: ['s3:PutObject arn:aws:s3:::prod-bucket/reports/q3.csv', 's3:GetObject arn:aws:s3:::staging/reports/q3.csv'],
      by: 'alice',
      createdAt: T0,
      until: '2025-01-01T12:10:00.000Z',
      uses: 3,
    },
  ];
}

export type Call = { method: string; args: unknown[] };

export class FakeControl implements GatewayControl {
  readonly bus = new CountingBus();
  readonly calls: Call[] = [];
  sessionList = sampleSessions();
  pendingList = samplePending();
  grantList = sampleGrants();
  reloadResult: ControlResult = { ok: true, message: 'policy reloaded (3 rules)' };
  /** When set, status() throws it (to exercise the 500 path). */
  statusError?: Error;

  status(): GatewayStatus {
    this.calls.push({ method: 'status', args: [] });
    if (this.statusError) throw this.statusError;
    return {
      url: 'https://127.0.0.1:8443',
      version: '0.1.0',
      pid: 4242,
      startedAt: T0,
      stateDir: '/tmp/state',
      policy: { file: 'policy.yaml', sha256: 'ab'.repeat(32), rules: 3, serviceAccounts: 2, state: 'ok', errors: [], loadedAt: T0 },
      counts: { allowed: 5, denied: 2, pending: this.pendingList.length, activeSessions: 1, requests: 7 },
    };
  }

  sessions(filter?: { active?: boolean }): SessionSummary[] {
    this.calls.push({ method: 'sessions', args: [filter] });
    return filter?.active ? this.sessionList.filter((s) => s.active) : this.sessionList;
  }

  pending(): PendingApproval[] {
    this.calls.push({ method: 'pending', args: [] });
    return this.pendingList;
  }

  #decide(method: 'approve' | 'deny', id: string, input: DecisionInput): ControlResult {
    this.calls.push({ method, args: [id, input] });
    if (id === 'done') return { ok: false, status: 409, error: `approval ${id} was already decided` };
    const entry = this.pendingList.find((p) => p.id === id);
    if (!entry) return { ok: false, status: 404, error: `no pending approval ${id}` };
    this.pendingList = this.pendingList.filter((p) => p.id !== id);
    return { ok: true, message: `${method === 'approve' ? 'approved' : 'denied'} ${id} (${entry.action})` };
  }

  approve(id: string, input: DecisionInput): ControlResult {
    return this.#decide('approve', id, input);
  }

  deny(id: string, input: DecisionInput): ControlResult {
    return this.#decide('deny', id, input);
  }

  grants(): Grant[] {
    this.calls.push({ method: 'grants', args: [] });
    return this.grantList;
  }

  revokeGrant(id: string, by: string): ControlResult {
    this.calls.push({ method: 'revokeGrant', args: [id, by] });
    const grant = this.grantList.find((g) => g.id === id);
    if (!grant) return { ok: false, status: 404, error: `no live grant ${id}` };
    this.grantList = this.grantList.filter((g) => g.id !== id);
    return { ok: true, message: `ended grant ${id} (${grant.serviceAccount}, ${grant.pairs.length} pair(s), used ${grant.uses} time(s))` };
  }

  async revokeSession(sessionId: string, by: string, reason?: string): Promise<ControlResult> {
    this.calls.push({ method: 'revokeSession', args: [sessionId, by, reason] });
    if (!this.sessionList.some((s) => s.sessionId === sessionId)) return { ok: false, status: 404, error: `no session ${sessionId}` };
    return { ok: true, message: `revoked session ${sessionId}` };
  }

  async revokeServiceAccount(name: string, by: string, reason?: string): Promise<ControlResult> {
    this.calls.push({ method: 'revokeServiceAccount', args: [name, by, reason] });
    if (name === 'nobody') return { ok: false, status: 404, error: `no service account ${name}` };
    return { ok: true, message: `revoked every session of ${name}` };
  }

  async reloadPolicy(): Promise<ControlResult> {
    this.calls.push({ method: 'reloadPolicy', args: [] });
    return this.reloadResult;
  }

  emit(event: GatewayEvent): void {
    this.bus.emit(event);
  }
}

export function responseEvent(sessionId: string, requestId: string, extra: Partial<Extract<GatewayEvent, { type: 'response' }>> = {}): GatewayEvent {
  return {
    type: 'response',
    at: T0,
    sessionId,
    requestId,
    serviceAccount: 'ci-bot',
    action: 's3:GetObject',
    resource: 'arn:aws:s3:::bucket/key',
    status: 200,
    bytes: 10,
    durationMs: 12,
    ...extra,
  } as GatewayEvent;
}

export function decisionEvent(sessionId: string, requestId: string, effect: 'allow' | 'deny' | 'approve' = 'allow'): GatewayEvent {
  return {
    type: 'decision',
    at: T0,
    sessionId,
    requestId,
    serviceAccount: 'ci-bot',
    action: 's3:GetObject',
    resource: 'arn:aws:s3:::bucket/key',
    effect,
    ruleId: 'r1',
    via: 'policy',
  };
}
