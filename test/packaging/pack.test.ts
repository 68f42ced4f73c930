// Packaging: `npm pack` gives a tarball that installs without dev dependencies and runs on plain Node —
// `npx --yes ./portcullis-*.tgz --help` from a temporary dir, and the installed bin's `--help`, `demo` and
// `verify`. Slow (an npm install from the local cache); it packs the current dist build without running
// `prepare` again (`npm test` builds dist first: `pretest`).

import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const NPX = process.platform === 'win32' ? 'npx.cmd' : 'npx';
const VERSION = (JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string }).version;

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The environment of a fresh shell: nothing from the npm run that started vitest, no AWS or portcullis settings. */
function shellEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (/^(npm_|AWS_|PORTCULLIS_|NODE_PATH$|NODE_OPTIONS$|VITEST)/i.test(key)) continue;
    env[key] = value;
  }
  return { ...env, ...extra };
}

function run(command: string, args: string[], options: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs?: number }): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd, env: options.env ?? shellEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${command} ${args.join(' ')} did not finish within ${options.timeoutMs ?? 60_000} ms\n${stderr}`));
    }, options.timeoutMs ?? 60_000);
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

let root: string;
let tarball: string;
let files: string[];
let prefix: string;
let install: Result;
let npx: Result;

beforeAll(async () => {
  if (!existsSync(join(REPO, 'dist', 'cli', 'main.js'))) throw new Error('no dist build: run `npm run build` first');
  root = await mkdtemp(join(tmpdir(), 'portcullis-pack-'));
  const packed = await run(NPM, ['pack', '--ignore-scripts', '--json', '--pack-destination', root], { cwd: REPO });
  if (packed.code !== 0) throw new Error(`npm pack failed: ${packed.stderr}`);
  const [info] = JSON.parse(packed.stdout) as { filename: string; files: { path: string }[] }[];
  tarball = join(root, info!.filename);
  files = info!.files.map((f) => f.path);
  prefix = join(root, 'install');
  const away = join(root, 'elsewhere');
  await mkdir(away);
  // Both from the local npm cache when it has everything (--prefer-offline); in parallel, they take a while.
  [install, npx] = await Promise.all([
    run(NPM, ['install', '--prefix', prefix, tarball, '--omit=dev', '--prefer-offline', '--no-audit', '--no-fund'], { cwd: away, timeoutMs: 120_000 }),
    // As a user types it, in the dir holding the tarball: `./name.tgz` (npx runs an absolute path as a command).
    run(NPX, ['--yes', `./${info!.filename}`, '--help'], { cwd: root, env: shellEnv({ npm_config_prefer_offline: 'true' }), timeoutMs: 120_000 }),
  ]);
}, 180_000);

afterAll(async () => {
  if (root) await rm(root, { recursive: true, force: true });
});

describe('npm pack', () => {
  it('ships the compiled JS, the bin, the themes, the policy example, docs/ and the operations table — no sources, tests or scripts', () => {
    expect(files).toEqual(expect.arrayContaining(['package.json', 'bin/portcullis.js', 'dist/cli/main.js', 'dist/demo/run.js', 'dist/aws/operations.generated.json', 'policy.example.yaml', 'themes/dark.json']));
    // The README links into docs/: every page ships with the package.
    expect(files).toEqual(expect.arrayContaining(['docs/dashboard.md', 'docs/admin.md', 'docs/policy.md', 'docs/first-run.md']));
    expect(files.filter((f) => /^(src|test|scripts)\//.test(f) || f.endsWith('.ts') && !f.endsWith('.d.ts'))).toEqual([]);
  });
});

describe('npx --yes ./portcullis-*.tgz --help (from a temporary dir)', () => {
  it('prints the usage', () => {
    expect(npx.code).toBe(0);
    expect(npx.stdout).toContain('Usage: portcullis');
    expect(npx.stdout).toContain('demo');
  });
});

describe('npm install --omit=dev from the tarball', () => {
  const bin = () => join(prefix, 'node_modules', '.bin', 'portcullis');

  it('installs the runtime dependencies only', async () => {
    expect(install.code).toBe(0);
    const modules = await readdir(join(prefix, 'node_modules'));
    expect(modules).toEqual(expect.arrayContaining(['portcullis', 'oidc-provider', 'blessed', 'jose', 'commander']));
    for (const dev of ['vitest', 'typescript', 's3rver', 'fast-check', 'autocannon']) expect(modules).not.toContain(dev);
    expect(existsSync(join(prefix, 'node_modules', '@aws-sdk', 'client-s3'))).toBe(false);
  });

  it('runs --help and --version', async () => {
    const help = await run(bin(), ['--help'], { cwd: root });
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Usage: portcullis');
    const version = await run(bin(), ['--version'], { cwd: root });
    expect(version.stdout.trim()).toBe(VERSION);
  });

  it('runs demo --headless --duration 8 offline, and verify passes on what it recorded', async () => {
    const stateBase = join(root, 'state');
    const env = shellEnv({ PORTCULLIS_STATE_DIR: stateBase, AWS_EC2_METADATA_DISABLED: 'true', AWS_CONFIG_FILE: '/nonexistent', AWS_SHARED_CREDENTIALS_FILE: '/nonexistent' });
    const demo = await run(bin(), ['demo', '--headless', '--duration', '8'], { cwd: root, env, timeoutMs: 60_000 });
    expect(demo.stderr).toBe('');
    expect(demo.code).toBe(0);
    const lines = demo.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, any>);
    const ready = lines.find((l) => l.event === 'demo.ready')!;
    expect(ready).toMatchObject({ keepState: true, stateDir: join(stateBase, 'demo') });
    const effects = new Set(lines.filter((l) => l.event === 'decision').map((l) => l.effect));
    expect(effects.has('allow') && effects.has('deny')).toBe(true);
    expect(lines.some((l) => l.event === 'response' && Object.keys(l.masking?.detectors ?? {}).length > 0)).toBe(true);
    const session = lines.find((l) => l.event === 'session.started')!.sessionId as string;
    // The demo leaves its sessions open (their credentials have not expired): accepted with --allow-open.
    const verified = await run(bin(), ['verify', session, '--allow-open', '--state-dir', join(stateBase, 'demo')], { cwd: root, env });
    expect(verified.stderr).toBe('');
    expect(verified.code).toBe(0);
    expect(verified.stdout).toMatch(/^ok (\(--allow-open\))?: /);
    const du = await run('du', ['-sk', prefix], { cwd: root });
    // Figures for docs/first-run.md (not asserted: timings depend on the machine).
    console.log(`[pack] tarball ${tarball}; installed size ${Math.round(Number(du.stdout.split('\t')[0]) / 1024)} MB; listening ${ready.listeningSinceProcessStartMs} ms after process start (${ready.startupMs} ms in startDemo)`);
  }, 90_000);
});
