// Runs the real dashboard (from dist/) against a scripted stand-in for the admin socket, for the tmux
// tests and for trying the dashboard by hand:
//   npx tsc -p . && node test/tui/harness.mjs /tmp/calls.jsonl
// Every command the dashboard sends (approve, deny, revoke, reload) is appended to the file as a JSON
// line, followed by {"method":"quit"} when runDashboard resolves.
// Env: HARNESS_PENDING=N approvals proposed after start (default 1); HARNESS_RELOAD=rejected makes
// `r` answer with a rejected policy; HARNESS_DOWN=1 simulates a gateway that is not running;
// HARNESS_RATE=N background calls per second (default 4); HARNESS_COPY=1 proposes S3 copies (two pairs, a body,
// effect-changing headers); HARNESS_GRANTS=1 starts with a live grant (grants, revokeGrant); HARNESS_OWNER=1 runs it as
// the dashboard of `start` (leaving asks: stop or detach; the exit is recorded); HARNESS_LONG_KEY=1 holds a call on a
// long S3 key.

import { appendFileSync } from 'node:fs';
import { runDashboard } from '../../dist/tui/dashboard.js';

const out = process.argv[2] ?? '/dev/null';
const record = (entry) => appendFileSync(out, `${JSON.stringify(entry)}\n`);
const env = process.env;
const down = env.HARNESS_DOWN === '1';
const pendingCount = Number(env.HARNESS_PENDING ?? 1);
const rate = Number(env.HARNESS_RATE ?? 4);
const iso = (ms = Date.now()) => new Date(ms).toISOString();
const startedAt = iso(Date.now() - 3_723_000);

const accounts = [
  ['ci-deployer', 's-ci-7f3a'],
  ['etl-nightly', 's-etl-91bc'],
  ['mcp-agent', 's-mcp-22d0'],
];
const actions = [
  ['s3:GetObject', 'arn:aws:s3:::reports/2024/q1.csv', 'allow'],
  ['dynamodb:Query', 'arn:aws:dynamodb:eu-west-1:123456789012:table/orders', 'allow'],
  ['secretsmanager:GetSecretValue', 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:db-****', 'deny'],
  ['s3:PutObject', 'arn:aws:s3:::artifacts/build-42.tar.gz', 'allow'],
];

const listeners = new Set();
const emit = (event) => {
  for (const l of listeners) l(event);
};
let pending = [];
let seq = 0;
let grants =
  env.HARNESS_GRANTS === '1'
    ? [{ id: 'g-7hxk', approvalId: 'old1', sessionId: 's-etl-91bc', serviceAccount: 'etl-nightly', pairs: ['s3:GetObject arn:aws:s3:::reports/2024/q1.csv'], by: 'alice', createdAt: iso(), until: iso(Date.now() + 600_000), uses: 2 }]
    : [];

function call(i) {
  const [account, sessionId] = accounts[i % accounts.length];
  const [action, resource, effect] = actions[i % actions.length];
  const requestId = `r-${(seq += 1)}`;
  const ruleId = effect === 'deny' ? 'deny-secrets' : 'allow-reads';
  const query = action === 'dynamodb:Query';
  emit({ type: 'request', at: iso(), sessionId, requestId, serviceAccount: account, service: action.split(':')[0], action, resource, region: 'eu-west-1', sourceIp: '10.0.0.7', params: query ? { TableName: 'orders', KeyConditionExpression: 'pk = :p' } : undefined });
  emit({ type: 'decision', at: iso(), sessionId, requestId, serviceAccount: account, action, resource, effect, ruleId, pairs: [{ action, resource, effect, ruleId }] });
  // dynamodb:Query answers carry two masked e-mail addresses (the log marks them ⊘; the call detail says so).
  const masking = query ? { fields: {}, detectors: { email: 2 } } : { fields: {}, detectors: {} };
  emit({ type: 'response', at: iso(), sessionId, requestId, serviceAccount: account, action, resource, status: effect === 'deny' ? 403 : 200, bytes: 120, durationMs: 8 + (i % 7) * 3, masking, ...(query ? { bodyExcerpt: '{"Items":[{"email":{"S":"****"}}]}' } : {}) });
}

/** What happened before the dashboard attached: a session that already ended, and s-ci-7f3a's start and calls. */
function historyEvents() {
  const at = (agoMs) => iso(Date.now() - agoMs);
  return [
    { type: 'session.started', at: at(900_000), sessionId: 's-old-0001', serviceAccount: 'old-job', issuer: 'https://idp.example', subject: 'old', claims: {}, roleArn: 'arn:aws:iam::123456789012:role/old', expiresAt: at(0), policySha256: 'ab' },
    { type: 'session.started', at: at(600_000), sessionId: 's-ci-7f3a', serviceAccount: 'ci-deployer', issuer: 'https://token.actions.githubusercontent.com', subject: 'repo:acme/app:ref:refs/heads/main', claims: { repository: 'acme/app', ref: 'refs/heads/main' }, roleArn: 'arn:aws:iam::123456789012:role/ci-deployer', sourceIp: '10.0.0.9', userAgent: 'aws-cli/2.15.0', expiresAt: iso(Date.now() + 3_000_000), policySha256: 'ab' },
    { type: 'decision', at: at(500_000), sessionId: 's-ci-7f3a', requestId: 'r-hist-1', serviceAccount: 'ci-deployer', action: 'cloudformation:DescribeStacks', resource: '*', effect: 'allow', ruleId: 'allow-reads' },
    { type: 'decision', at: at(400_000), sessionId: 's-ci-7f3a', requestId: 'r-hist-2', serviceAccount: 'ci-deployer', action: 'iam:PassRole', resource: 'arn:aws:iam::123456789012:role/admin', effect: 'deny', ruleId: 'no-passrole' },
  ];
}

function propose(n) {
  const [account, sessionId] = accounts[n % accounts.length];
  const approvalId = `ap${n + 1}`;
  const event = {
    type: 'approval.proposed',
    at: iso(),
    approvalId,
    sessionId,
    requestId: `held-${n}`,
    serviceAccount: account,
    action: 's3:DeleteObject',
    resource: env.HARNESS_LONG_KEY === '1' ? `arn:aws:s3:::prod-data/exports/2024/q1/region=eu-west-1/tenant=acme-industries/customers-${n}.parquet` : `arn:aws:s3:::prod-data/customers-${n}.parquet`,
    params: { Bucket: 'prod-data', Key: `customers-${n}.parquet`, VersionId: '****' },
    ...(env.HARNESS_COPY === '1'
      ? {
          action: 's3:CopyObject',
          pairs: [`s3:PutObject arn:aws:s3:::prod-data/customers-${n}.parquet`, `s3:GetObject arn:aws:s3:::staging-data/exports/2024/customers-${n}.parquet`],
          body: { bytes: 12_595, sha256: 'ab12cd34ef56'.padEnd(64, '0') },
          headers: { 'x-amz-acl': 'bucket-owner-full-control', 'x-amz-metadata-directive': 'REPLACE' },
          params: { Bucket: 'prod-data', Key: `customers-${n}.parquet`, CopySource: `staging-data/exports/2024/customers-${n}.parquet`, MetadataDirective: 'REPLACE', Metadata: { owner: 'etl', stage: 'prod', ticket: 'OPS-1234', checksum: '****' } },
        }
      : {}),
    ruleId: 'approve-deletes',
    message: 'deleting production data needs a human',
    expiresAt: iso(Date.now() + 300_000),
  };
  pending.push(event);
  emit({ type: 'decision', at: iso(), sessionId, requestId: event.requestId, serviceAccount: account, action: event.action, resource: event.resource, effect: 'approve', ruleId: 'approve-deletes' });
  emit(event);
}

function decide(id, decision, input) {
  const found = pending.find((p) => p.approvalId === id);
  if (!found) return { ok: false, status: 404, error: `no pending approval ${id}` };
  pending = pending.filter((p) => p.approvalId !== id);
  setTimeout(() => emit({ type: 'approval.decided', at: iso(), approvalId: id, sessionId: found.sessionId, decision, by: input.by, reason: input.reason, forMs: input.forMs }), 50);
  return { ok: true, message: `${decision} ${id}` };
}

const unavailable = () => Object.assign(new Error('no gateway is running with state dir /tmp/harness (admin socket /tmp/harness/admin.sock not found)'), { code: 'ADMIN_UNAVAILABLE' });

const source = {
  async status() {
    if (down) throw unavailable();
    return {
      url: 'https://127.0.0.1:8443',
      version: '0.1.0',
      pid: process.pid,
      startedAt,
      stateDir: '/tmp/harness',
      policy: { file: 'policy.yaml', sha256: 'ab'.repeat(32), rules: 12, serviceAccounts: 3, state: 'ok', errors: [], loadedAt: startedAt },
      counts: { allowed: 40, denied: 2, pending: pending.length, activeSessions: accounts.length, requests: 42 },
    };
  },
  async sessions() {
    if (down) throw unavailable();
    return accounts.map(([account, sessionId], i) => ({
      sessionId,
      serviceAccount: account,
      roleArn: `arn:aws:iam::123456789012:role/${account}`,
      start: iso(Date.now() - (i + 1) * 600_000),
      expiresAt: iso(Date.now() + 3_000_000),
      calls: 10 + i,
      denied: i,
      lastAction: actions[i][0],
      lastAt: iso(),
      revoked: false,
      active: true,
    }));
  },
  async pending() {
    if (down) throw unavailable();
    return [];
  },
  async approve(id, input) {
    record({ method: 'approve', id, ...input });
    return decide(id, 'approved', input);
  },
  async deny(id, input) {
    record({ method: 'deny', id, ...input });
    return decide(id, 'denied', input);
  },
  async revokeSession(sessionId, by, reason) {
    record({ method: 'revokeSession', sessionId, by, reason });
    setTimeout(() => emit({ type: 'session.revoked', at: iso(), sessionId, by, reason }), 20);
    return { ok: true, message: `revoked ${sessionId}` };
  },
  async revokeServiceAccount(name, by) {
    record({ method: 'revokeServiceAccount', name, by });
    return { ok: true, message: 'ok' };
  },
  async grants() {
    if (down) throw unavailable();
    return grants;
  },
  async revokeGrant(id, by) {
    record({ method: 'revokeGrant', id, by });
    const found = grants.find((g) => g.id === id);
    if (!found) return { ok: false, status: 404, error: `no live grant ${id}` };
    grants = grants.filter((g) => g.id !== id);
    setTimeout(() => emit({ type: 'grant.ended', at: iso(), grantId: id, approvalId: found.approvalId, sessionId: found.sessionId, reason: 'revoked', by, uses: found.uses }), 20);
    return { ok: true, message: `ended grant ${id}` };
  },
  async reloadPolicy() {
    record({ method: 'reloadPolicy' });
    setTimeout(() => {
      if (env.HARNESS_RELOAD === 'rejected') {
        emit({ type: 'policy.rejected', at: iso(), file: 'policy.yaml', errors: [{ file: 'policy.yaml', line: 14, column: 7, path: 'rules[2].effect', message: 'effect must be allow, deny or approve' }] });
      } else emit({ type: 'policy.loaded', at: iso(), file: 'policy.yaml', sha256: 'cd'.repeat(32), rules: 13, serviceAccounts: 3 });
    }, 20);
    return { ok: true, message: 'policy reloaded' };
  },
  events({ signal, history } = {}) {
    return {
      async *[Symbol.asyncIterator]() {
        if (down) throw unavailable();
        if (env.HARNESS_HISTORY === '1') record({ method: 'events', history: history ?? 0 });
        if (env.HARNESS_HISTORY === '1' && history > 0) for (const event of historyEvents()) yield { ...event, replayed: true };
        const queue = [];
        let wake;
        const listener = (event) => {
          queue.push(event);
          wake?.();
        };
        listeners.add(listener);
        signal?.addEventListener('abort', () => wake?.(), { once: true });
        try {
          while (!signal?.aborted) {
            if (queue.length === 0) await new Promise((r) => (wake = r));
            wake = undefined;
            while (queue.length) yield queue.shift();
          }
        } finally {
          listeners.delete(listener);
        }
      },
    };
  },
};

let i = 0;
const traffic = rate > 0 ? setInterval(() => call(i++), 1000 / rate) : undefined;
const timers = [];
if (!down) {
  setTimeout(() => {
    for (let k = 0; k < 6; k += 1) call(i++);
  }, 200);
  for (let n = 0; n < pendingCount; n += 1) timers.push(setTimeout(() => propose(n), 800 + n * 150));
}

runDashboard(source, { title: 'portcullis harness', env: { ...process.env }, owner: env.HARNESS_OWNER === '1', stateDir: env.HARNESS_OWNER === '1' ? '/tmp/harness' : undefined })
  .then((exit) => {
    record(exit === 'quit' ? { method: 'quit' } : { method: 'quit', exit });
    clearInterval(traffic);
    for (const t of timers) clearTimeout(t);
  })
  .catch((error) => {
    record({ method: 'error', message: String(error?.stack ?? error) });
    process.exitCode = 1;
    clearInterval(traffic);
  });
