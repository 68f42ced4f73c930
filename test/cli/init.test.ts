// `portcullis init` as a process (`node bin/portcullis.js init …`, from the dist build): the files it
// writes and their modes, the printed next steps and client set-up, and its refusal to overwrite a policy.

import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadPolicyFile } from '../../src/config/load.js';
import { INIT_PLACEHOLDERS, initialPolicy } from '../../src/cli/init.js';

const BIN = fileURLToPath(new URL('../../bin/portcullis.js', import.meta.url));
const EXAMPLE = fileURLToPath(new URL('../../policy.example.yaml', import.meta.url));

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

function init(args: string[], cwd: string, env: Record<string, string> = {}): Promise<Result> {
  return run(['init', ...args], cwd, env);
}

function run(args: string[], cwd: string, env: Record<string, string> = {}): Promise<Result> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { cwd, timeout: 30_000, env: { PATH: process.env.PATH ?? '', HOME: join(cwd, 'home'), ...env } }, (error, stdout, stderr) => {
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

async function mode(path: string): Promise<number> {
  return (await stat(path)).mode & 0o777;
}

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'portcullis-init-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('portcullis init --dir DIR --state-dir DIR', () => {
  let cwd: string;
  let result: Result;
  beforeAll(async () => {
    cwd = join(root, 'fresh');
    await mkdir(cwd);
    result = await init(['--dir', 'conf', '--state-dir', 'state'], cwd);
  });

  it('exits 0 with nothing on stderr', () => {
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
  });

  it('writes policy.yaml: the example with placeholders for every issuer; it fails with located placeholder errors, and loads once they are replaced', async () => {
    const file = join(cwd, 'conf', 'policy.yaml');
    const text = await readFile(file, 'utf8');
    const example = await readFile(EXAMPLE, 'utf8');
    expect(text.split('\n')[0]).toContain(`gateway on ${hostname()}`);
    // The example's real tenants, orgs and audiences are gone: a fresh policy trusts nobody.
    expect(text).not.toContain('dev-123456.okta.com');
    expect(text).not.toContain('72f988bf-86f1-41af-91ab-2d7cd011db47');
    let restored = text.slice(text.indexOf('version:'));
    for (const [from, to] of INIT_PLACEHOLDERS) restored = restored.replace(to, from);
    expect(restored).toBe(example.slice(example.indexOf('version:')));

    const loaded = await loadPolicyFile(file);
    expect(loaded.ok).toBe(false);
    const errors = loaded.ok ? [] : loaded.errors;
    expect(errors.map((e) => e.path)).toEqual([
      'identity.issuers[0].org',
      'identity.issuers[1].tenant',
      'identity.issuers[2].audience',
      'identity.issuers[3].audience',
      'identity.issuers[4].issuer',
      'identity.issuers[5].trust_domain',
    ]);
    for (const e of errors) {
      expect(e.message).toMatch(/^placeholder `EDIT-ME` written by `portcullis init`: replace it with your own value/);
      expect(text.split('\n')[e.line - 1]!.slice(e.column - 1)).toMatch(/^(https:\/\/\S*)?EDIT-ME/);
    }
    const check = await run(['policy', 'check', file], cwd);
    expect(check.code).toBe(1);
    expect(check.stderr).toContain('6 errors; policy not valid');
    expect(check.stdout + check.stderr).toMatch(/policy\.yaml:\d+:\d+: identity\.issuers\[0\]\.org: placeholder `EDIT-ME`/);

    const edited = join(cwd, 'conf', 'edited.yaml');
    await writeFile(
      edited,
      text
        .replace('org: EDIT-ME.okta.com', 'org: acme.okta.com')
        .replace('tenant: EDIT-ME', 'tenant: 11111111-2222-4333-8444-555555555555')
        .replace('audience: EDIT-ME', 'audience: https://portcullis.acme.test')
        .replace('audience: EDIT-ME', 'audience: sts.amazonaws.com')
        .replace('/id/EDIT-ME', '/id/0123456789ABCDEF')
        .replace('trust_domain: EDIT-ME', 'trust_domain: acme.test'),
    );
    const fixed = await loadPolicyFile(edited);
    expect(fixed.ok ? [] : fixed.errors).toEqual([]);
  });

  it('creates the state dir 0700, the signing keys (private 0600) and the CA (key 0600)', async () => {
    const state = join(cwd, 'state');
    expect(await mode(state)).toBe(0o700);
    expect(await mode(join(state, 'keys'))).toBe(0o700);
    expect(await mode(join(state, 'keys', 'signing-key.json'))).toBe(0o600);
    expect(await mode(join(state, 'keys', 'gateway-secret'))).toBe(0o600);
    expect(JSON.parse(await readFile(join(state, 'keys', 'signing-key.pub.json'), 'utf8'))).toMatchObject({ kty: 'EC', crv: 'P-256' });
    expect(await mode(join(state, 'tls', 'ca.key.pem'))).toBe(0o600);
    expect(await readFile(join(state, 'tls', 'ca.cert.pem'), 'utf8')).toMatch(/^-----BEGIN CERTIFICATE-----/);
  });

  it('prints how to check and start, and the client environment of the first service account at the default URL', () => {
    const state = join(cwd, 'state');
    expect(result.stdout).toContain('portcullis policy check conf/policy.yaml');
    expect(result.stdout).toContain('portcullis start --policy conf/policy.yaml --state-dir state');
    expect(result.stdout).toContain(`--public-host ${hostname()}`);
    expect(result.stdout).toContain('Every EDIT-ME');
    expect(result.stdout).toContain('portcullis env --service-account reports-mcp --policy conf/policy.yaml --state-dir state');
    expect(result.stdout).toContain('portcullis ca export -o gateway-ca.pem --state-dir state');
    expect(state).toContain('state');
  });

  it('ca export -o FILE writes the gateway CA as 0644; without -o it prints it', async () => {
    const out = join(cwd, 'gateway-ca.pem');
    const exported = await run(['ca', 'export', '-o', out, '--state-dir', 'state'], cwd);
    expect(exported.code).toBe(0);
    expect(exported.stderr).toContain(`export AWS_CA_BUNDLE=${out}`);
    expect(await mode(out)).toBe(0o644);
    const ca = await readFile(join(cwd, 'state', 'tls', 'ca.cert.pem'), 'utf8');
    expect(await readFile(out, 'utf8')).toBe(ca);
    const printed = await run(['ca', 'export', '--state-dir', 'state'], cwd);
    expect(printed.stdout).toBe(ca.endsWith('\n') ? ca : `${ca}\n`);
  });

  it('refuses to overwrite an existing policy.yaml (exit 1, one line) and leaves it as it was', async () => {
    const file = join(cwd, 'conf', 'policy.yaml');
    await writeFile(file, 'version: 1 # mine\n');
    const again = await init(['--dir', 'conf', '--state-dir', 'state'], cwd);
    expect(again.code).toBe(1);
    expect(again.stdout).toBe('');
    expect(again.stderr).toBe(`portcullis: ${file} already exists; init never overwrites a policy (move it away, or pass --dir DIR to write elsewhere)\n`);
    expect(await readFile(file, 'utf8')).toBe('version: 1 # mine\n');
  });

  it('keeps the keys and CA of an existing state dir', async () => {
    const state = join(cwd, 'state');
    const key = await readFile(join(state, 'keys', 'signing-key.json'), 'utf8');
    const ca = await readFile(join(state, 'tls', 'ca.cert.pem'), 'utf8');
    const second = await init(['--dir', 'other', '--state-dir', 'state'], cwd);
    expect(second.code).toBe(0);
    expect(second.stdout).toContain('kept the gateway signing key');
    expect(second.stdout).toContain('kept the gateway CA');
    expect(await readFile(join(state, 'keys', 'signing-key.json'), 'utf8')).toBe(key);
    expect(await readFile(join(state, 'tls', 'ca.cert.pem'), 'utf8')).toBe(ca);
  });
});

describe('portcullis init defaults and errors', () => {
  it('writes ./policy.yaml and uses $PORTCULLIS_STATE_DIR when no flags are given', async () => {
    const cwd = join(root, 'defaults');
    await mkdir(cwd);
    const state = join(root, 'env-state');
    const result = await init([], cwd, { PORTCULLIS_STATE_DIR: state });
    expect(result.code).toBe(0);
    expect((await stat(join(cwd, 'policy.yaml'))).isFile()).toBe(true);
    expect(await mode(state)).toBe(0o700);
    expect(result.stdout).toContain('portcullis start --policy policy.yaml\n');
  });

  it('defaults the state dir to ~/.portcullis', async () => {
    const cwd = join(root, 'home-default');
    await mkdir(cwd);
    const result = await init([], cwd);
    expect(result.code).toBe(0);
    expect(await mode(join(cwd, 'home', '.portcullis'))).toBe(0o700);
  });

  it('refuses --dir naming a file (exit 2)', async () => {
    const cwd = join(root, 'dir-is-file');
    await mkdir(cwd);
    await writeFile(join(cwd, 'afile'), 'x');
    const result = await init(['--dir', 'afile', '--state-dir', 'state'], cwd);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(`portcullis: --dir: ${join(cwd, 'afile')} is not a directory\n`);
  });

  it('fails with one line when the state dir cannot be created (its parent is a file), and writes no policy', async () => {
    const cwd = join(root, 'state-blocked');
    await mkdir(cwd);
    await writeFile(join(cwd, 'afile'), 'x');
    const result = await init(['--state-dir', 'afile/state'], cwd);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(`portcullis: --state-dir: cannot create ${join(cwd, 'afile', 'state')}: ENOTDIR\n`);
    await expect(stat(join(cwd, 'policy.yaml'))).rejects.toThrow();
  });

  it('refuses a state dir that is a file (exit 2), and writes no policy', async () => {
    const cwd = join(root, 'state-is-file');
    await mkdir(cwd);
    await writeFile(join(cwd, 'st'), 'x');
    const result = await init(['--state-dir', 'st'], cwd);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(`portcullis: --state-dir: ${join(cwd, 'st')} is not a directory\n`);
    await expect(stat(join(cwd, 'policy.yaml'))).rejects.toThrow();
  });
});

describe('initialPolicy', () => {
  it('puts the host name and date in a comment header and keeps the example intact', () => {
    const text = initialPolicy('version: 1\n', 'bastion-1', new Date('2025-03-04T10:00:00Z'));
    expect(text.split('\n')[0]).toBe('# portcullis policy for the gateway on bastion-1, written by `portcullis init` on 2025-03-04.');
    expect(text.endsWith('#\nversion: 1\n')).toBe(true);
    expect(text).toContain('Every EDIT-ME marks a value only you know');
  });
});
