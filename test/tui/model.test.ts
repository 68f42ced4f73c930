import { describe, expect, it } from 'vitest';
import type { PendingApproval, SessionSummary } from '../../src/admin/types.js';
import type { GatewayEvent } from '../../src/events.js';
import { formatDuration, formatPolicyErrors, secondsLeft } from '../../src/tui/format.js';
import { compileFilter } from '../../src/tui/log-filter.js';
import { DashboardModel } from '../../src/tui/model.js';
import { Ring } from '../../src/tui/ring.js';

const T0 = Date.parse('2025-01-01T10:00:00Z');
const iso = (offsetMs = 0) => new Date(T0 + offsetMs).toISOString();

function clock(start = T0) {
  let now = start;
  return { now: () => now, advance: (ms: number) => (now += ms), set: (ms: number) => (now = ms) };
}

function started(sessionId: string, account: string, offsetMs = 0): GatewayEvent {
  return {
    type: 'session.started',
    at: iso(offsetMs),
    sessionId,
    serviceAccount: account,
    issuer: 'idp',
    subject: 'sub',
    claims: {},
    roleArn: `arn:aws:iam::1:role/${account}`,
    expiresAt: iso(3_600_000),
    policySha256: 'x',
  };
}

function callEvents(sessionId: string, requestId: string, effect: 'allow' | 'deny' | 'approve', action = 's3:GetObject'): GatewayEvent[] {
  const common = { at: iso(), sessionId, requestId, serviceAccount: 'ci', action, resource: 'arn:aws:s3:::b/k' };
  return [
    { type: 'request', ...common, service: 's3', region: 'eu-west-1' },
    { type: 'decision', ...common, effect, ruleId: `r-${effect}` },
  ];
}

function proposed(id: string, offsetMs = 0, ttlMs = 60_000): GatewayEvent {
  return {
    type: 'approval.proposed',
    at: iso(offsetMs),
    approvalId: id,
    sessionId: 's1',
    requestId: `req-${id}`,
    serviceAccount: 'ci',
    action: 's3:DeleteObject',
    resource: 'arn:aws:s3:::b/k',
    params: { Key: 'k' },
    ruleId: 'approve-deletes',
    expiresAt: iso(offsetMs + ttlMs),
  };
}

describe('Ring', () => {
  it.each([
    { capacity: 3, pushes: [1, 2], expected: [1, 2], evicted: [undefined, undefined] },
    { capacity: 3, pushes: [1, 2, 3, 4, 5], expected: [3, 4, 5], evicted: [undefined, undefined, undefined, 1, 2] },
    { capacity: 1, pushes: [1, 2], expected: [2], evicted: [undefined, 1] },
  ])('capacity $capacity after $pushes', ({ capacity, pushes, expected, evicted }) => {
    const ring = new Ring<number>(capacity);
    expect(pushes.map((p) => ring.push(p))).toEqual(evicted);
    expect(ring.toArray()).toEqual(expected);
    expect(ring.size).toBe(expected.length);
    expect(ring.at(0)).toBe(expected[0]);
    expect(ring.at(expected.length)).toBeUndefined();
    expect(ring.at(-1)).toBeUndefined();
  });

  it.each([0, -1, 1.5, Number.NaN])('rejects capacity %s', (capacity) => {
    expect(() => new Ring(capacity)).toThrow(/positive integer/);
  });
});

describe('DashboardModel', () => {
  it('counts sessions, calls, denials and latency from events', () => {
    const c = clock();
    const m = new DashboardModel({ now: c.now });
    m.apply(started('s1', 'ci'));
    for (const e of callEvents('s1', 'r1', 'allow')) m.apply(e);
    for (const e of callEvents('s1', 'r2', 'deny', 'secretsmanager:GetSecretValue')) m.apply(e);
    m.apply({ type: 'response', at: iso(), sessionId: 's1', requestId: 'r1', serviceAccount: 'ci', action: 's3:GetObject', resource: 'x', status: 200, bytes: 1, durationMs: 42 });
    const s = m.sessions.get('s1')!;
    expect(s).toMatchObject({ calls: 2, denied: 1, lastAction: 'secretsmanager:GetSecretValue' });
    expect(m.counts).toEqual({ allowed: 1, denied: 1 });
    const log = m.log.toArray();
    expect(log.map((e) => e.decision)).toEqual(['info', 'allow', 'deny']);
    expect(log[1]!.latencyMs).toBe(42);
    expect(log[2]!.latencyMs).toBeUndefined();
  });

  it('bounds the log and keeps sequence numbers increasing', () => {
    const m = new DashboardModel({ logCapacity: 5 });
    for (let i = 0; i < 12; i += 1) for (const e of callEvents('s1', `r${i}`, 'allow')) m.apply(e);
    const seqs = m.log.toArray().map((e) => e.seq);
    expect(seqs).toEqual([8, 9, 10, 11, 12]);
    // a response for an evicted request is ignored, not an error
    m.apply({ type: 'response', at: iso(), sessionId: 's1', requestId: 'r0', serviceAccount: 'ci', action: 'a', resource: 'x', status: 200, bytes: 1, durationMs: 5 });
    expect(m.log.toArray().every((e) => e.latencyMs === undefined)).toBe(true);
  });

  it('every change bumps the revision; unknown event types do not', () => {
    const m = new DashboardModel();
    const before = m.revision;
    m.apply(started('s1', 'ci'));
    expect(m.revision).toBeGreaterThan(before);
    const mid = m.revision;
    m.apply({ type: 'nonsense', at: iso() } as unknown as GatewayEvent);
    expect(m.revision).toBe(mid);
  });

  it('queues approvals in arrival order, reports fresh ones once, removes decided and expired ones', () => {
    const c = clock();
    const m = new DashboardModel({ now: c.now });
    m.apply(proposed('a1'));
    m.apply(proposed('a2', 1000));
    m.apply(proposed('a1')); // duplicate (snapshot + event race) is ignored
    expect(m.queue().map((p) => p.id)).toEqual(['a1', 'a2']);
    expect(m.takeFresh()).toEqual(['a1', 'a2']);
    expect(m.takeFresh()).toEqual([]);
    m.apply({ type: 'approval.decided', at: iso(), approvalId: 'a1', decision: 'denied', by: 'alice', reason: 'no' });
    m.apply({ type: 'approval.expired', at: iso(), approvalId: 'a2' });
    expect(m.queue()).toEqual([]);
    const tail = m.log.toArray().slice(-2);
    expect(tail.map((e) => [e.decision, e.action])).toEqual([
      ['denied', 's3:DeleteObject'],
      ['expired', 's3:DeleteObject'],
    ]);
    expect(tail[0]!.note).toBe('by alice: no');
    expect(m.counts.denied).toBe(1);
  });

  it('drops approvals whose expiry passed long ago even if the expired event was lost', () => {
    const c = clock();
    const m = new DashboardModel({ now: c.now });
    m.apply(proposed('a1', 0, 10_000));
    expect(m.queue(5000)).toHaveLength(1);
    c.advance(14_000);
    expect(m.queue(5000)).toHaveLength(1);
    c.advance(2_000);
    expect(m.queue(5000)).toHaveLength(0);
  });

  it('prompts the oldest approval not put off, keeps the preferred one, skips ones being decided', () => {
    const m = new DashboardModel({ now: () => T0 });
    for (const id of ['a1', 'a2', 'a3']) m.apply(proposed(id));
    expect(m.promptFor()?.row.id).toBe('a1');
    expect(m.promptFor()).toMatchObject({ index: 0, total: 3 });
    m.deferred.add('a1');
    expect(m.promptFor()?.row.id).toBe('a2');
    expect(m.promptFor('a1')?.row.id).toBe('a1'); // explicitly reopened
    expect(m.promptFor('a3')).toMatchObject({ index: 2, total: 3 });
    m.pending.get('a2')!.deciding = true;
    expect(m.promptFor()).toMatchObject({ row: { id: 'a3' }, index: 1, total: 2 });
    m.deferred.add('a3');
    expect(m.promptFor()).toBeUndefined();
  });

  it('snapshots replace sessions (active only) and pending; new pending ids are fresh', () => {
    const m = new DashboardModel({ now: () => T0 });
    m.apply(started('old', 'gone'));
    const sessions: SessionSummary[] = [
      { sessionId: 's1', serviceAccount: 'ci', roleArn: 'r', start: iso(-60_000), expiresAt: iso(60_000), calls: 3, denied: 1, revoked: false, active: true },
      { sessionId: 's2', serviceAccount: 'x', roleArn: 'r', start: iso(), expiresAt: iso(), calls: 0, denied: 0, revoked: true, active: false },
    ];
    m.applySessions(sessions);
    expect([...m.sessions.keys()]).toEqual(['s1']);
    const pending: PendingApproval[] = [
      { id: 'p2', sessionId: 's1', requestId: 'q2', serviceAccount: 'ci', action: 'a', resource: 'r', region: 'x', ruleId: 'r', createdAt: iso(2000), expiresAt: iso(60_000), held: true },
      { id: 'p1', sessionId: 's1', requestId: 'q1', serviceAccount: 'ci', action: 'a', resource: 'r', region: 'x', ruleId: 'r', createdAt: iso(1000), expiresAt: iso(60_000), held: false },
    ];
    m.deferred.add('stale');
    m.applyPending(pending);
    expect(m.queue().map((p) => p.id)).toEqual(['p1', 'p2']);
    expect(m.takeFresh().sort()).toEqual(['p1', 'p2']);
    expect(m.deferred.has('stale')).toBe(false);
    m.applyPending(pending);
    expect(m.takeFresh()).toEqual([]);
  });

  it('policy banners: green on load (expires), red with file:line:column on rejection (stays)', () => {
    const c = clock();
    const m = new DashboardModel({ now: c.now, bannerMs: 1000 });
    m.apply({ type: 'policy.loaded', at: iso(), file: 'policy.yaml', sha256: 'abcdef0123456789', rules: 7, serviceAccounts: 2 });
    expect(m.banner).toMatchObject({ kind: 'ok', text: 'policy loaded: policy.yaml (7 rules, abcdef012345)' });
    c.advance(1000);
    expect(m.expire()).toBe(true);
    expect(m.banner).toBeUndefined();
    m.apply({
      type: 'policy.rejected',
      at: iso(),
      file: 'policy.yaml',
      errors: [
        { file: 'policy.yaml', line: 3, column: 9, path: 'rules[0]', message: 'unknown key "efect"' },
        { file: 'policy.yaml', line: 8, column: 2, path: 'rules[1]', message: 'x' },
      ],
    });
    expect(m.banner).toMatchObject({ kind: 'error', text: 'policy.yaml:3:9: unknown key "efect" (+1 more)' });
    expect(m.policyState).toBe('error');
    c.advance(3_600_000);
    m.expire();
    expect(m.banner?.kind).toBe('error');
  });

  it('session revoked and ended', () => {
    const m = new DashboardModel();
    m.apply(started('s1', 'ci'));
    m.apply({ type: 'session.revoked', at: iso(), sessionId: 's1', by: 'bob' });
    expect(m.sessions.get('s1')!.revoked).toBe(true);
    m.apply({ type: 'session.ended', at: iso(), sessionId: 's1', reason: 'revoked' });
    expect(m.sessions.has('s1')).toBe(false);
    expect(m.sessionEvents('s1', 10).map((e) => e.action)).toEqual(['session.started', 'session.revoked', 'session.ended']);
    expect(m.sessionEvents('s1', 2).map((e) => e.action)).toEqual(['session.revoked', 'session.ended']);
  });

  it('req/s averages request events over the window', () => {
    const c = clock();
    const m = new DashboardModel({ now: c.now, rateWindowMs: 5000 });
    for (let i = 0; i < 10; i += 1) for (const e of callEvents('s1', `r${i}`, 'allow')) m.apply(e);
    expect(m.requestsPerSecond()).toBe(2);
    c.advance(5001);
    expect(m.requestsPerSecond()).toBe(0);
  });

  it('status snapshot sets header fields and counts', () => {
    const m = new DashboardModel();
    m.applyStatus({
      url: 'https://h:1',
      version: '1.2.3',
      pid: 1,
      startedAt: iso(),
      stateDir: '/s',
      policy: { file: 'p.yaml', sha256: 'x', rules: 4, serviceAccounts: 1, state: 'error', errors: [], loadedAt: iso() },
      counts: { allowed: 5, denied: 6, pending: 0, activeSessions: 0, requests: 11 },
    });
    expect(m).toMatchObject({ url: 'https://h:1', version: '1.2.3', policyFile: 'p.yaml', policyState: 'error', policyRules: 4, startedAtMs: T0, counts: { allowed: 5, denied: 6 } });
  });
});

describe('compileFilter', () => {
  const entry = { account: 'ci-deployer', action: 's3:GetObject', decision: 'deny' as const };
  it.each([
    ['', true],
    ['   ', true],
    ['ci', true],
    ['CI-DEP', true],
    ['getobject', true],
    ['deny', true],
    ['allow', false],
    ['ci getobject', true],
    ['ci putobject', false],
    ['!allow', true],
    ['!deny', false],
    ['decision:deny', true],
    ['account:s3', false],
    ['action:s3', true],
    ['!account:ci', false],
  ])('%j → %s', (filter, expected) => {
    const match = compileFilter(filter);
    expect(match ? match(entry) : true).toBe(expected);
  });
});

describe('formatting', () => {
  it.each([
    [0, '0s'],
    [999, '0s'],
    [45_000, '45s'],
    [185_000, '3m05s'],
    [7_440_000, '2h04m'],
    [266_400_000, '3d02h'],
    [-5000, '0s'],
  ])('formatDuration(%i) = %s', (ms, text) => expect(formatDuration(ms)).toBe(text));

  it.each([
    [10_000, 0, 10],
    [10_001, 0, 11],
    [0, 5000, 0],
  ])('secondsLeft(%i, %i) = %i', (exp, now, s) => expect(secondsLeft(exp, now)).toBe(s));

  it('formatPolicyErrors with no items still names the file', () => {
    expect(formatPolicyErrors('p.yaml', [])).toBe('p.yaml: policy rejected');
  });
});

describe('honest labels (issue #21)', () => {
  const held = (requestId: string): GatewayEvent => ({
    type: 'approval.proposed',
    at: iso(1000),
    approvalId: 'ap9',
    sessionId: 's1',
    requestId,
    serviceAccount: 'ci',
    action: 's3:DeleteObject',
    resource: 'arn:aws:s3:::b/k',
    ruleId: 'needs-human',
    message: 'escalated: 21 deletes within 10m',
    expiresAt: iso(600_000),
  });
  const decision = (requestId: string, effect: 'approve' | 'deny' | 'allow', via: 'policy' | 'grant', message?: string, offsetMs = 20_000): GatewayEvent => ({
    type: 'decision',
    at: iso(offsetMs),
    sessionId: 's1',
    requestId,
    serviceAccount: 'ci',
    action: 's3:DeleteObject',
    resource: 'arn:aws:s3:::b/k',
    effect,
    ruleId: 'needs-human',
    via,
    ...(message ? { message } : {}),
  });

  it('a held call is logged once, when its hold starts, with the rule and why; the late decision adds no line', () => {
    const m = new DashboardModel({ now: clock().now });
    m.apply(held('r1'));
    m.apply(decision('r1', 'approve', 'policy', undefined, 20_000));
    const lines = m.log.toArray();
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ decision: 'hold', rule: 'needs-human', atMs: T0 + 1000, requestId: 'r1' });
    expect(lines[0]!.note).toBe('waiting for approval ap9: escalated: 21 deletes within 10m');
  });

  it('a held call the approver denied reads DENIED by the approver, not "(grant)"', () => {
    const m = new DashboardModel({ now: clock().now });
    m.apply(held('r1'));
    m.apply(decision('r1', 'deny', 'grant', 'alice: not during the freeze', 5000));
    const last = m.log.toArray().at(-1)!;
    expect(last).toMatchObject({ decision: 'denied', rule: 'needs-human', note: 'not approved: denied by alice: not during the freeze' });
    m.apply(decision('r2', 'allow', 'grant'));
    expect(m.log.toArray().at(-1)).toMatchObject({ decision: 'allow', note: 'approved' });
  });

  it('marks calls whose response had values masked, and keeps the call for its detail', () => {
    const m = new DashboardModel({ now: clock().now });
    for (const e of callEvents('s1', 'r1', 'allow')) m.apply(e);
    m.apply({ type: 'response', at: iso(5), sessionId: 's1', requestId: 'r1', serviceAccount: 'ci', action: 's3:GetObject', resource: 'arn:aws:s3:::b/k', status: 200, bytes: 10, durationMs: 5, masking: { fields: { SecretString: 1 }, detectors: { email: 2 } }, bodyExcerpt: '{"SecretString":"****"}' });
    const line = m.log.toArray().at(-1)!;
    expect(line.masked).toBe(3);
    const call = m.calls.get('r1')!;
    expect(call.decisions[0]!.pairs).toEqual([{ action: 's3:GetObject', resource: 'arn:aws:s3:::b/k', effect: 'allow', ruleId: 'r-allow' }]);
    expect(call.response).toMatchObject({ status: 200, bodyExcerpt: '{"SecretString":"****"}' });
    expect(m.logEntry(line.seq)).toBe(line);
  });

  it('session rows keep who the session is (role, issuer, subject, claims) across snapshots', () => {
    const m = new DashboardModel({ now: clock().now });
    m.apply(started('s1', 'ci'));
    m.applySessions([{ sessionId: 's1', serviceAccount: 'ci', roleArn: 'arn:aws:iam::1:role/ci', start: iso(), expiresAt: iso(3_600_000), calls: 1, denied: 0, revoked: false, active: true }]);
    expect(m.sessions.get('s1')).toMatchObject({ roleArn: 'arn:aws:iam::1:role/ci', issuer: 'idp', subject: 'sub', claims: {} });
  });
});
