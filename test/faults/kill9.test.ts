// kill -9 under load, then restart: every recording verifies (`portcullis verify`), and in strict durability
// no acknowledged call is missing from its session (the request line is fsynced before anything is forwarded).
// The gateway runs as a child process (`portcullis start --headless`), its own AWS credentials from the
// standard chain (environment), against the tiny local upstream and a local JWKS.
import { spawn, type ChildProcess } from 'node:child_process';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { listSessionFiles } from '../../src/recording/index-db.js';
import { generateSigningKey, signToken, startJwksServer, type JwksServer, type TestSigningKey } from '../fixtures/idp.js';
import { ensureBuilt, ROOT } from '../recording/build.js';
import { AUDIENCE, DEFAULT_RULES, gatewayClient, policyText, ROLE_ALPHA, startUpstream, type Credentials, type FakeUpstream, type GatewayClient } from '../attack/lab.js';

const run = promisify(execFile);
const WORKERS = 8;
const ACKED_BEFORE_KILL = 150;

let dir: string;
let stateDir: string;
let policyFile: string;
let upstream: FakeUpstream;
let jwks: JwksServer;
let idpKey: TestSigningKey;
const children: ChildProcess[] = [];

interface Started {
  child: ChildProcess;
  url: string;
  client: GatewayClient;
}

async function startGateway(): Promise<Started> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith('AWS_')) env[k] = v;
  Object.assign(env, {
    HOME: dir,
    AWS_ACCESS_KEY_ID: 'AKIAKILL9BASE0000000',
    AWS_SECRET_ACCESS_KEY: 'kill9-base-secret',
    AWS_CONFIG_FILE: join(dir, 'none'),
    AWS_SHARED_CREDENTIALS_FILE: join(dir, 'none'),
    AWS_EC2_METADATA_DISABLED: 'true',
  });
  const child = spawn(process.execPath, ['bin/portcullis.js', 'start', '--headless', '--listen', '127.0.0.1:0', '--policy', policyFile, '--state-dir', stateDir], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => (stderr = (stderr + c.toString()).slice(-2000)));
  const lines = createInterface({ input: child.stdout! });
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`gateway did not start: ${stderr}`)), 30_000);
    // src/cli/start.ts promises {"event":"listening"} first; policy.loaded comes before it today, so look for it.
    const onLine = (line: string): void => {
      const event = JSON.parse(line) as { event: string; url: string };
      if (event.event !== 'listening') return;
      clearTimeout(timer);
      lines.off('line', onLine);
      resolve(event.url);
    };
    lines.on('line', onLine);
    child.once('exit', (code) => reject(new Error(`gateway exited ${code}: ${stderr}`)));
  });
  lines.on('line', () => undefined);
  const info = JSON.parse(await readFile(join(stateDir, 'gateway.json'), 'utf8')) as { caFile: string };
  const ca = await readFile(info.caFile, 'utf8');
  return { child, url, client: gatewayClient(url, ca) };
}

function token(): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return signToken(idpKey, { iss: jwks.issuer, sub: 'svc-alpha', aud: AUDIENCE, iat: now, exp: now + 600 });
}

beforeAll(async () => {
  ensureBuilt();
  dir = await mkdtemp(join(tmpdir(), 'portcullis-kill9-'));
  stateDir = join(dir, 'state');
  policyFile = join(dir, 'policy.yaml');
  upstream = await startUpstream();
  idpKey = await generateSigningKey('RS256', 'kill9');
  jwks = await startJwksServer({ keys: [idpKey.publicJwk] });
  await writeFile(policyFile, policyText(jwks, DEFAULT_RULES, 'recording:\n  durability: strict\n').replace('upstream:\n  region: us-east-1', `upstream:\n  endpoint: ${upstream.url}\n  region: us-east-1`));
}, 120_000);

afterAll(async () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await upstream?.close();
  await jwks?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('kill -9 under load (strict durability)', () => {
  test('after a restart every recording verifies and every acknowledged call is in its session', async () => {
    const first = await startGateway();
    const sessions: Credentials[] = [];
    for (let i = 0; i < 3; i += 1) sessions.push(await first.client.credentials(await token(), ROLE_ALPHA));
    const acked: string[] = [];
    let stop = false;
    const deadline = Date.now() + 60_000;
    const worker = async (w: number): Promise<void> => {
      for (let n = 0; !stop && Date.now() < deadline && n < 10_000; n += 1) {
        const path = `/bucket/k9-${w}-${n}.txt`;
        const method = n % 5 === 4 ? 'DELETE' : 'GET';
        try {
          const result = await first.client.call(sessions[w % sessions.length]!, { method, path });
          // Any answer from the gateway is an acknowledgement: allowed (200) and denied (403) alike.
          if (result.status === 200 || result.status === 403) acked.push(`${method} ${path}`);
        } catch {
          return; // the gateway died under us
        }
      }
    };
    const workers = Array.from({ length: WORKERS }, (_, w) => worker(w));
    while (acked.length < ACKED_BEFORE_KILL && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    first.child.kill('SIGKILL');
    await new Promise((r) => first.child.once('exit', r));
    stop = true;
    await Promise.all(workers);
    expect(acked.length).toBeGreaterThanOrEqual(ACKED_BEFORE_KILL);

    const second = await startGateway();
    // Credentials are stateless: the same sessions carry on after the restart.
    const after = await second.client.call(sessions[0]!, { path: '/bucket/after-restart.txt' });
    expect(after.status, after.body).toBe(200);

    const files = await listSessionFiles(stateDir);
    expect(files.length).toBeGreaterThanOrEqual(sessions.length);
    const recorded = new Set<string>();
    for (const file of files) {
      // Sessions outlive the kill and are still open: accepted with --allow-open.
      const { stdout } = await run(process.execPath, ['bin/portcullis.js', 'verify', file, '--allow-open', '--state-dir', stateDir], { cwd: ROOT });
      expect(stdout, file).toMatch(/^ok (\(--allow-open\))?: /);
      for (const line of (await readFile(file, 'utf8')).split('\n')) {
        if (!line) continue;
        const record = JSON.parse(line) as { type: string; resource?: string; action?: string };
        if (record.type === 'request' && record.resource) recorded.add(`${record.action === 's3:DeleteObject' ? 'DELETE' : 'GET'} ${record.resource.replace('arn:aws:s3:::', '/')}`);
      }
    }
    const missing = acked.filter((call) => !recorded.has(call));
    expect(missing, `acknowledged calls missing from the recordings (of ${acked.length})`).toEqual([]);
    process.stdout.write(`[kill9] ${acked.length} acknowledged calls before kill -9, ${files.length} session files verified, 0 missing\n`);
    second.child.kill('SIGTERM');
    await new Promise((r) => second.child.once('exit', r));
  }, 120_000);
});
