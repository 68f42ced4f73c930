// Just-in-time approval with a stock SDK: held calls, decisions over the real admin socket and the
// CLI, exact grants, duration grants, timeouts, concurrency, and revocation.
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { AdminClient } from '../../src/admin/client.js';
import type { GatewayEvent } from '../../src/events.js';
import { run, startStack, type Stack } from './harness.js';

const POLICY = `rules:
  - id: prod-secrets
    effect: approve
    actions: ["secretsmanager:GetSecretValue"]
    resources: ["arn:aws:secretsmanager:*:*:secret:prod/*"]
    message: production secrets need a human
    approval: {hold: 3s, timeout: 6s}
  - id: work
    effect: allow
    principals: [reports-mcp]
    actions: ["secretsmanager:*", "s3:*", "sts:GetCallerIdentity"]
masking:
  fields: []
  detectors: []
`;

let stack: Stack;
let env: Record<string, string>;
let admin: AdminClient;

function jsInBackground(steps: object[]): Promise<any[]> {
  return new Promise((resolve, reject) => {
    const child = spawn('node', ['test/integration/clients/js-sdk.mjs', JSON.stringify(steps)], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', (c) => (err += c));
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`js client exited ${code}: ${err}`))));
  });
}

async function waitFor<T>(probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function pendingFor(resourceSuffix: string) {
  return waitFor(async () => (await admin.pending()).find((p) => p.resource.endsWith(resourceSuffix)));
}

beforeAll(async () => {
  stack = await startStack({ policyBody: POLICY });
  env = await stack.clientEnv();
  admin = AdminClient.connect(stack.stateDir);
  const names = ['prod/db', 'prod/api', 'prod/deny-me', 'prod/slow', 'prod/window', 'dev/other', ...Array.from({ length: 20 }, (_, i) => `prod/many-${i}`)];
  await jsInBackground(names.map((name) => ({ op: 'createSecret', name, value: `value-of-${name}` })));
}, 90_000);

afterAll(async () => {
  await stack?.close();
});

describe('held calls', () => {
  test('approved over the admin socket → the held SDK call succeeds; proposed, decided, executed are separate events', async () => {
    const call = jsInBackground([{ op: 'getSecret', name: 'prod/db' }]);
    const pending = await pendingFor('secret:prod/db');
    expect(pending).toMatchObject({ serviceAccount: 'reports-mcp', action: 'secretsmanager:GetSecretValue', ruleId: 'prod-secrets', message: 'production secrets need a human' });
    expect(pending.id).toMatch(/^[a-z2-9]{4}$/);
    expect(await admin.approve(pending.id, { by: 'alice' })).toMatchObject({ ok: true });
    const [result] = await call;
    expect(result).toMatchObject({ ok: true, data: 'value-of-prod/db' });
    const types = stack.events.filter((e) => 'approvalId' in e && e.approvalId === pending.id).map((e) => e.type);
    expect(types).toEqual(['approval.proposed', 'approval.decided', 'approval.executed']);
    const decided = stack.events.find((e) => e.type === 'approval.decided' && e.approvalId === pending.id) as Extract<GatewayEvent, { type: 'approval.decided' }>;
    expect(decided.by).toBe('alice');
  });

  test('denied with a reason (from the CLI, as a process) → AccessDenied carrying the reason', async () => {
    const call = jsInBackground([{ op: 'getSecret', name: 'prod/deny-me' }]);
    const pending = await pendingFor('secret:prod/deny-me');
    const cli = await run('node', ['bin/portcullis.js', 'deny', pending.id, '--reason', 'not during the freeze', '--state-dir', stack.stateDir]);
    expect(cli.stdout).toContain(`denied ${pending.id}`);
    const [result] = await call;
    expect(result).toMatchObject({ ok: false, name: 'AccessDeniedException' });
    expect(result.message).toContain('not during the freeze');
  });

  test('nobody answers → retryable ThrottlingException while pending, then denied after the timeout', async () => {
    const [first] = await jsInBackground([{ op: 'getSecret', name: 'prod/slow' }]);
    // 3 attempts × 3 s hold > 6 s timeout: the last attempt sees the expiry, or all were throttled.
    expect(['ThrottlingException', 'AccessDeniedException']).toContain(first.name);
    await new Promise((r) => setTimeout(r, 6_500));
    const [later] = await jsInBackground([{ op: 'getSecret', name: 'prod/slow' }]);
    expect(later).toMatchObject({ ok: false, name: 'AccessDeniedException' });
    expect(later.message).toContain('timed out');
    expect(stack.events.some((e) => e.type === 'approval.expired')).toBe(true);
  }, 60_000);

  test('a grant is bound to the exact request: the approved call passes once; another secret is not covered', async () => {
    const call = jsInBackground([{ op: 'getSecret', name: 'prod/api' }]);
    const pending = await pendingFor('secret:prod/api');
    await admin.approve(pending.id, { by: 'alice' });
    expect((await call)[0]).toMatchObject({ ok: true });
    // Same call again: the one-shot grant is used up, a new approval is asked for.
    const again = jsInBackground([{ op: 'getSecret', name: 'prod/api' }]);
    const second = await pendingFor('secret:prod/api');
    expect(second.id).not.toBe(pending.id);
    await admin.deny(second.id, { by: 'alice' });
    expect((await again)[0]).toMatchObject({ ok: false, name: 'AccessDeniedException' });
  });

  test('approve --for: the same account + action + resource pass without asking until the window ends', async () => {
    const call = jsInBackground([{ op: 'getSecret', name: 'prod/window' }]);
    const pending = await pendingFor('secret:prod/window');
    const cli = await run('node', ['bin/portcullis.js', 'approve', pending.id, '--for', '10m', '--state-dir', stack.stateDir]);
    expect(cli.stdout).toContain(`approved ${pending.id}`);
    expect((await call)[0]).toMatchObject({ ok: true });
    const results = await jsInBackground([{ op: 'getSecret', name: 'prod/window' }, { op: 'getSecret', name: 'prod/window' }]);
    expect(results.every((r) => r.ok)).toBe(true);
    expect((await admin.pending()).filter((p) => p.resource.endsWith('prod/window'))).toEqual([]);
    // The grant is listed with the exact pairs and its uses, and `grants revoke` ends it: the next call is held again.
    const [grant] = (await admin.grants()).filter((g) => g.approvalId === pending.id);
    expect(grant).toMatchObject({ serviceAccount: pending.serviceAccount, pairs: pending.pairs, uses: 2 });
    const listed = await run('node', ['bin/portcullis.js', 'grants', '--state-dir', stack.stateDir]);
    expect(listed.stdout).toContain(grant!.id);
    const ended = await run('node', ['bin/portcullis.js', 'grants', 'revoke', grant!.id, '--state-dir', stack.stateDir]);
    expect(ended.stdout).toContain(`ended grant ${grant!.id}`);
    expect((await admin.grants()).filter((g) => g.id === grant!.id)).toEqual([]);
    const held = jsInBackground([{ op: 'getSecret', name: 'prod/window' }]);
    const again = await pendingFor('secret:prod/window');
    await admin.deny(again.id, { reason: 'grant ended' });
    expect((await held)[0]).toMatchObject({ ok: false });
  });

  test('20 concurrent pending approvals are resolved independently, in any order', async () => {
    const names = Array.from({ length: 20 }, (_, i) => `prod/many-${i}`);
    const call = jsInBackground([{ op: 'getSecretsParallel', names }]);
    const pending = await waitFor(async () => {
      const list = (await admin.pending()).filter((p) => p.resource.includes('prod/many-'));
      return list.length === 20 ? list : undefined;
    });
    const shuffled = [...pending].sort(() => Math.random() - 0.5);
    await Promise.all(shuffled.map((p) => (Number(p.resource.split('many-')[1]) % 2 === 0 ? admin.approve(p.id, { by: 'bob' }) : admin.deny(p.id, { by: 'bob' }))));
    const [result] = await call;
    result.data.forEach((r: any, i: number) => {
      if (i % 2 === 0) expect(r).toMatchObject({ ok: true, value: `value-of-prod/many-${i}` });
      else expect(r).toMatchObject({ ok: false, name: 'AccessDeniedException' });
    });
  });

  test('a secret outside the approve rule is not held', async () => {
    const [result] = await jsInBackground([{ op: 'getSecret', name: 'dev/other' }]);
    expect(result).toMatchObject({ ok: true, data: 'value-of-dev/other' });
  });
});

describe('revocation', () => {
  test('revoke stops the next call of an active session, including credentials the AWS CLI cached', async () => {
    const cliEnv = await stack.clientEnv();
    const first = await run('aws', ['sts', 'get-caller-identity'], { env: cliEnv });
    expect(first.stdout).toContain('assumed-role');
    const sessions = await admin.sessions({ active: true });
    expect(sessions.length).toBeGreaterThan(0);
    const revoke = await run('node', ['bin/portcullis.js', 'revoke', '--service-account', 'reports-mcp', '--reason', 'rotation', '--state-dir', stack.stateDir]);
    expect(revoke.stdout).toContain('revoked');
    // The CLI reuses its cached credentials (~/.aws/cli/cache): the gateway must refuse them.
    const second = await run('aws', ['sts', 'get-caller-identity'], { env: cliEnv }).catch((e) => e);
    expect(second.stderr).toContain('InvalidClientTokenId');
    // The same (older) identity token cannot buy fresh credentials either.
    const [again] = await jsInBackground([{ op: 'whoami' }]);
    expect(again).toMatchObject({ ok: false });
    expect(again.message).toContain('were revoked');
    // A fresh web-identity exchange after the revocation works again (credentials carry whole seconds).
    await new Promise((r) => setTimeout(r, 1100));
    const fresh = await stack.clientEnv();
    const third = await run('aws', ['sts', 'get-caller-identity'], { env: fresh });
    expect(third.stdout).toContain('assumed-role');
  }, 60_000);
});
