// `portcullis dash` attached over the real admin socket (startAdminServer + AdminClient), running in
// tmux. The gateway side is a stand-in GatewayControl (the real gateway's end-to-end test is the
// lead's); everything between it and the screen is the shipped code.

import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAdminServer, type AdminServer } from '../../src/admin/server.js';
import type { ControlResult, DecisionInput, GatewayControl, GatewayStatus, Grant, PendingApproval } from '../../src/admin/types.js';
import { EventBus, type GatewayEvent } from '../../src/events.js';

const ROOT = resolve(import.meta.dirname, '../..');
const hasTmux = spawnSync('tmux', ['-V']).status === 0;
const name = `pc-attach-${process.pid}`;
const stateDir = mkdtempSync(join(tmpdir(), 'pc-att-'));
const T = () => new Date().toISOString();

class FakeControl implements GatewayControl {
  readonly bus = new EventBus();
  readonly decisions: { kind: 'approve' | 'deny'; id: string; input: DecisionInput }[] = [];
  pendingList: PendingApproval[] = [];
  status(): GatewayStatus {
    return {
      url: 'https://127.0.0.1:9443',
      version: '0.1.0',
      pid: process.pid,
      startedAt: T(),
      stateDir,
      policy: { file: 'attach-policy.yaml', sha256: 'a'.repeat(64), rules: 5, serviceAccounts: 1, state: 'ok', errors: [], loadedAt: T() },
      counts: { allowed: 0, denied: 0, pending: this.pendingList.length, activeSessions: 1, requests: 0 },
    };
  }
  sessions() {
    return [{ sessionId: 's-attach-1', serviceAccount: 'attach-bot', roleArn: 'r', start: T(), expiresAt: new Date(Date.now() + 3_600_000).toISOString(), calls: 0, denied: 0, revoked: false, active: true }];
  }
  pending() {
    return this.pendingList;
  }
  approve(id: string, input: DecisionInput): ControlResult {
    this.decisions.push({ kind: 'approve', id, input });
    this.pendingList = this.pendingList.filter((p) => p.id !== id);
    this.bus.emit({ type: 'approval.decided', at: T(), approvalId: id, decision: 'approved', by: input.by, forMs: input.forMs });
    return { ok: true, message: `approved ${id}` };
  }
  deny(id: string, input: DecisionInput): ControlResult {
    this.decisions.push({ kind: 'deny', id, input });
    return { ok: true, message: `denied ${id}` };
  }
  grants(): Grant[] {
    return [];
  }
  revokeGrant(id: string): ControlResult {
    return { ok: false, status: 404, error: `no live grant ${id}` };
  }
  async revokeSession(): Promise<ControlResult> {
    return { ok: true, message: 'revoked' };
  }
  async revokeServiceAccount(): Promise<ControlResult> {
    return { ok: true, message: 'revoked' };
  }
  async reloadPolicy(): Promise<ControlResult> {
    return { ok: true, message: 'reloaded' };
  }
}

function capture(): string {
  return execFileSync('tmux', ['capture-pane', '-p', '-t', name], { encoding: 'utf8' });
}

async function shows(test: string | ((s: string) => boolean)): Promise<string> {
  const deadline = Date.now() + 20_000;
  let screen = '';
  while (Date.now() < deadline) {
    screen = capture();
    if (typeof test === 'string' ? screen.includes(test) : test(screen)) return screen;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${String(test)}; screen:\n${screen}`);
}

describe.skipIf(!hasTmux)('portcullis dash over the admin socket', () => {
  const control = new FakeControl();
  let server: AdminServer | undefined;

  beforeAll(async () => {
    const built = join(ROOT, 'dist/tui/dashboard.js');
    const stale = !existsSync(built) || [...readdirSync(join(ROOT, 'src/tui')).map((f) => join('src/tui', f)), 'src/cli/dash.ts'].some((f) => statSync(join(ROOT, f)).mtimeMs > statSync(built).mtimeMs);
    if (stale) spawnSync('npx', ['tsc', '-p', ROOT], { cwd: ROOT, stdio: 'ignore' });
    server = await startAdminServer(control, { stateDir });
  }, 120_000);

  afterAll(async () => {
    spawnSync('tmux', ['kill-session', '-t', name]);
    await server?.close();
    rmSync(stateDir, { recursive: true, force: true });
  });

  it('shows the gateway, pops a prompt from the live stream, approves, survives a gateway restart', async () => {
    const command = `env -u NO_COLOR NCURSES_NO_UTF8_ACS=1 TERM=xterm-256color LANG=C.UTF-8 PORTCULLIS_BELL=0 node ${join(ROOT, 'bin/portcullis.js')} dash --state-dir ${stateDir}; echo __EXITED__ $?; sleep 60`;
    execFileSync('tmux', ['new-session', '-d', '-s', name, '-x', '100', '-y', '30', command]);
    await shows((s) => s.includes('https://127.0.0.1:9443') && s.includes('attach-bot') && s.includes('● connected'));
    const held: PendingApproval = {
      id: 'k3f9', sessionId: 's-attach-1', requestId: 'req-1', serviceAccount: 'attach-bot', action: 'secretsmanager:GetSecretValue',
      resource: 'arn:aws:secretsmanager:eu-west-1:1:secret:prod-db', region: 'eu-west-1', ruleId: 'approve-secrets',
      pairs: ['secretsmanager:GetSecretValue arn:aws:secretsmanager:eu-west-1:1:secret:prod-db'],
      createdAt: T(), expiresAt: new Date(Date.now() + 120_000).toISOString(), held: true,
    };
    control.pendingList.push(held);
    const event: GatewayEvent = { type: 'approval.proposed', at: T(), approvalId: held.id, sessionId: held.sessionId, requestId: held.requestId, serviceAccount: held.serviceAccount, action: held.action, resource: held.resource, ruleId: held.ruleId, expiresAt: held.expiresAt };
    control.bus.emit(event);
    await shows('Approval 1 of 1');
    execFileSync('tmux', ['send-keys', '-t', name, 'a']);
    await shows((s) => s.includes('APPROVED') && !s.includes('Approval 1 of 1'));
    expect(control.decisions).toEqual([{ kind: 'approve', id: 'k3f9', input: expect.objectContaining({ by: expect.any(String) }) }]);

    await server!.close();
    server = undefined;
    await shows('disconnected — retrying');
    server = await startAdminServer(control, { stateDir });
    await shows((s) => s.includes('● connected') && !s.includes('disconnected — retrying'));
    execFileSync('tmux', ['send-keys', '-t', name, 'q']);
    await shows('__EXITED__ 0');
  });
});
