// The real program in a real terminal: `portcullis start` on a TTY (tmux) opens the dashboard in
// front of a real gateway; a stock JS SDK call shows up as a session and a log line; an approve rule
// pops the prompt and `a` / `d` decide the held call; `portcullis dash` attached from a second tmux
// window answers a prompt; `q` asks before stopping, detaching keeps the gateway serving, ctrl-c then stops it.
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startIdp, type LocalIdp } from '../fixtures/idp.js';
import { startMoto, type Moto } from '../fixtures/moto.js';
import { cleanEnv, policyHeader } from './harness.js';

const ROOT = resolve(import.meta.dirname, '../..');
const hasTmux = spawnSync('tmux', ['-V']).status === 0;
const tmuxSessions: string[] = [];
let moto: Moto;
let idp: LocalIdp;
let dir: string;
let stateDir: string;
let clientEnv: Record<string, string>;

const POLICY = `rules:
  - id: prod-secrets
    effect: approve
    actions: ["secretsmanager:GetSecretValue"]
    resources: ["arn:aws:secretsmanager:*:*:secret:prod/*"]
    approval: {hold: 20s, timeout: 2m}
  - id: work
    effect: allow
    principals: [reports-mcp]
    actions: ["secretsmanager:*", "s3:*", "sts:GetCallerIdentity"]
masking:
  fields: []
  detectors: []
`;

function tmux(...args: string[]): string {
  return execFileSync('tmux', args, { encoding: 'utf8' });
}

function openTerminal(name: string, command: string, env: Record<string, string>): void {
  const assignments = Object.entries(env).map(([k, v]) => `${k}='${v}'`).join(' ');
  tmux('new-session', '-d', '-s', name, '-x', '120', '-y', '40', `cd ${ROOT} && env -u NO_COLOR ${assignments} ${command}; echo __EXITED__ $?; sleep 120`);
  tmuxSessions.push(name);
}

async function waitForScreen(name: string, test: (screen: string) => boolean, what: string, timeoutMs = 20_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let screen = '';
  while (Date.now() < deadline) {
    screen = tmux('capture-pane', '-p', '-t', name);
    if (test(screen)) return screen;
    await new Promise((r) => setTimeout(r, 150));
  }
  throw new Error(`timed out waiting for ${what}; screen:\n${screen}`);
}

function js(steps: object[]): Promise<any[]> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn('node', ['test/integration/clients/js-sdk.mjs', JSON.stringify(steps)], { env: clientEnv, cwd: ROOT });
    let out = '';
    child.stdout.on('data', (c) => (out += c));
    child.on('exit', (code) => (code === 0 ? resolvePromise(JSON.parse(out)) : reject(new Error(`js client exited ${code}`))));
  });
}

beforeAll(async () => {
  if (!hasTmux) return;
  dir = await mkdtemp(join(tmpdir(), 'portcullis-dash-'));
  stateDir = join(dir, 'state');
  moto = await startMoto();
  idp = await startIdp();
  const policyFile = join(dir, 'policy.yaml');
  await writeFile(policyFile, `${policyHeader(moto, idp, moto.roleArn('portcullis-test'))}${POLICY}`);
  const gatewayEnv = {
    NCURSES_NO_UTF8_ACS: '1',
    TERM: 'xterm-256color',
    LANG: 'C.UTF-8',
    PORTCULLIS_BELL: '0',
    AWS_ACCESS_KEY_ID: moto.accessKeyId,
    AWS_SECRET_ACCESS_KEY: moto.secretAccessKey,
    AWS_EC2_METADATA_DISABLED: 'true',
  };
  openTerminal(`pc-gw-${process.pid}`, `node bin/portcullis.js start --policy ${policyFile} --state-dir ${stateDir} --listen 127.0.0.1:0`, gatewayEnv);
  const deadline = Date.now() + 20_000;
  while (!existsSync(join(stateDir, 'gateway.json')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  const info = JSON.parse(readFileSync(join(stateDir, 'gateway.json'), 'utf8')) as { url: string; caFile: string };
  const tokenFile = join(dir, 'token.jwt');
  await writeFile(tokenFile, await idp.token('billing-job'));
  clientEnv = cleanEnv(
    {
      AWS_ENDPOINT_URL: info.url,
      NODE_EXTRA_CA_CERTS: info.caFile,
      AWS_ROLE_ARN: moto.roleArn('portcullis-test'),
      AWS_WEB_IDENTITY_TOKEN_FILE: tokenFile,
      AWS_REGION: 'us-east-1',
    },
    dir,
  );
  await js([{ op: 'createSecret', name: 'prod/db', value: 'db-value' }, { op: 'createSecret', name: 'prod/api', value: 'api-value' }, { op: 'createSecret', name: 'prod/third', value: 'third-value' }]);
}, 90_000);

afterAll(async () => {
  for (const name of tmuxSessions) spawnSync('tmux', ['kill-session', '-t', name]);
  await moto?.close();
  await idp?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe.skipIf(!hasTmux)('dashboard in front of a real gateway', () => {
  const gw = () => `pc-gw-${process.pid}`;

  test('an SDK call shows up as a session and a log line', async () => {
    await waitForScreen(gw(), (s) => s.includes('connected'), 'the dashboard to connect');
    const [who] = await js([{ op: 'whoami' }]);
    expect(who.ok).toBe(true);
    const screen = await waitForScreen(gw(), (s) => s.includes('sts:GetCallerIdentity') && s.includes('reports-mcp'), 'the call in the log');
    expect(screen).toMatch(/Sessions\[\d+\]/);
  });

  test('an approve rule pops the prompt; `a` lets the held SDK call finish', async () => {
    const call = js([{ op: 'getSecret', name: 'prod/db' }]);
    const screen = await waitForScreen(gw(), (s) => /Approval 1 of 1/.test(s), 'the approval prompt');
    expect(screen).toContain('secretsmanager:GetSecretValue');
    expect(screen).toContain('prod/db');
    tmux('send-keys', '-t', gw(), 'a');
    const [result] = await call;
    expect(result).toMatchObject({ ok: true, data: 'db-value' });
  }, 60_000);

  test('`d` with a reason denies the held call', async () => {
    const call = js([{ op: 'getSecret', name: 'prod/api' }]);
    await waitForScreen(gw(), (s) => /Approval 1 of 1/.test(s) && s.includes('prod/api'), 'the approval prompt');
    tmux('send-keys', '-t', gw(), 'd');
    await new Promise((r) => setTimeout(r, 300));
    tmux('send-keys', '-t', gw(), '-l', 'not now');
    tmux('send-keys', '-t', gw(), 'Enter');
    const [result] = await call;
    expect(result).toMatchObject({ ok: false, name: 'AccessDeniedException' });
    expect(result.message).toContain('not now');
  }, 60_000);

  test('`portcullis dash` attached from a second terminal answers a prompt', async () => {
    const dash = `pc-dash-${process.pid}`;
    openTerminal(dash, `node bin/portcullis.js dash --state-dir ${stateDir}`, { NCURSES_NO_UTF8_ACS: '1', TERM: 'xterm-256color', LANG: 'C.UTF-8', PORTCULLIS_BELL: '0' });
    await waitForScreen(dash, (s) => s.includes('connected'), 'the attached dashboard to connect');
    const call = js([{ op: 'getSecret', name: 'prod/third' }]);
    await waitForScreen(dash, (s) => /Approval 1 of 1/.test(s) && s.includes('prod/third'), 'the prompt in the attached dashboard');
    tmux('send-keys', '-t', dash, 'a');
    const [result] = await call;
    expect(result).toMatchObject({ ok: true, data: 'third-value' });
    tmux('send-keys', '-t', dash, 'q');
    await waitForScreen(dash, (s) => s.includes('__EXITED__ 0'), 'dash to exit');
  }, 60_000);

  test('`q` asks before stopping (Cancel focused); detach keeps the gateway serving; ctrl-c then stops it with a final line', async () => {
    tmux('send-keys', '-t', gw(), 'q');
    const dialog = await waitForScreen(gw(), (s) => /Stop the gateway\? \d+ active sessions? will lose access/.test(s), 'the stop dialog');
    expect(dialog).toContain('Detach (keep serving)');
    tmux('send-keys', '-t', gw(), 'Enter');
    await waitForScreen(gw(), (s) => !s.includes('will lose access') && s.includes('Sessions['), 'Cancel to keep the dashboard');
    expect(existsSync(join(stateDir, 'gateway.json'))).toBe(true);
    tmux('send-keys', '-t', gw(), 'q');
    await waitForScreen(gw(), (s) => s.includes('will lose access'), 'the stop dialog again');
    tmux('send-keys', '-t', gw(), 'd');
    const detached = await waitForScreen(gw(), (s) => s.includes('detached; the gateway keeps serving'), 'the detach message');
    expect(detached).toContain('reattach: portcullis dash --state-dir');
    // Still serving: the admin socket answers and a client call goes through.
    const status = spawnSync(process.execPath, ['bin/portcullis.js', 'status', '--state-dir', stateDir, '--json'], { cwd: ROOT, encoding: 'utf8' });
    expect(status.status).toBe(0);
    const [who] = await js([{ op: 'whoami' }]);
    expect(who).toMatchObject({ ok: true });
    tmux('send-keys', '-t', gw(), 'C-c');
    const stopped = await waitForScreen(gw(), (s) => s.includes('__EXITED__ 0'), 'start to exit');
    expect(stopped).toMatch(/portcullis: stopped after \S+: \d+ active sessions? loses? access/);
    const deadline = Date.now() + 5000;
    while (existsSync(join(stateDir, 'gateway.json')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(existsSync(join(stateDir, 'gateway.json'))).toBe(false);
  }, 60_000);
});
