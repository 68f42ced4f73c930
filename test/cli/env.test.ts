// `portcullis env`: each format as a process (`node bin/portcullis.js env …`, from the dist build)
// against a state dir holding a gateway.json, every bad input with its one-line error, and the pure
// parts (aws-config section, merging into an existing config file, credential_process command).

import { execFile, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  clientEnvironment,
  credentialProcessCommand,
  env,
  formatAwsConfig,
  formatMcp,
  mergeAwsConfig,
  publicBundlePath,
  shellQuote,
  writePublicBundle,
  type ClientEnvironment,
} from '../../src/cli/env.js';
import { CliError } from '../../src/cli/output.js';
import { loadOrCreateCa } from '../../src/proxy/tls.js';

const BIN = fileURLToPath(new URL('../../bin/portcullis.js', import.meta.url));
const ROLE = 'arn:aws:iam::123456789012:role/reports';
const ROLE2 = 'arn:aws:iam::123456789012:role/reports-admin';
const URL_ = 'https://127.0.0.1:8443';

let root: string;
let stateDir: string;
let policyFile: string;
let caFile: string;
let bundleFile: string;
let tokenFile: string;

const EXPECTED_KEYS = [
  'AWS_ENDPOINT_URL',
  'AWS_CA_BUNDLE',
  'NODE_EXTRA_CA_CERTS',
  'REQUESTS_CA_BUNDLE',
  'SSL_CERT_FILE',
  'AWS_ROLE_ARN',
  'AWS_ROLE_SESSION_NAME',
  'AWS_WEB_IDENTITY_TOKEN_FILE',
  'AWS_REGION',
  'AWS_DEFAULT_REGION',
];

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function portcullis(args: string[], cwd = root): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { cwd, timeout: 30_000, env: { PATH: process.env.PATH ?? '', HOME: root } }, (error, stdout, stderr) => {
      const code = error ? (typeof (error as { code?: unknown }).code === 'number' ? ((error as { code: number }).code) : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

function envArgs(extra: string[] = [], account = 'reports-mcp'): string[] {
  return ['env', '--service-account', account, '--policy', policyFile, '--state-dir', stateDir, '--token-file', tokenFile, ...extra];
}

async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '0']);
  const pid = child.pid!;
  await new Promise((resolve) => child.on('exit', resolve));
  return pid;
}

async function writeGatewayInfo(dir: string, info: Record<string, unknown>): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'gateway.json'), JSON.stringify(info));
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'pc-env-'));
  stateDir = join(root, 'state');
  caFile = (await loadOrCreateCa(stateDir)).caFile;
  bundleFile = publicBundlePath(caFile);
  // The test process stands in for the running gateway (env only reads gateway.json and checks the pid).
  await writeGatewayInfo(stateDir, { url: URL_, pid: process.pid, caFile, policyFile: join(root, 'policy.yaml'), startedAt: new Date().toISOString(), version: 'test' });
  policyFile = join(root, 'policy.yaml');
  await writeFile(
    policyFile,
    `version: 1
upstream:
  region: eu-west-1
identity:
  issuers:
    - name: corp
      issuer: https://idp.example.com
      audience: portcullis
service_accounts:
  - name: reports-mcp
    issuer: corp
    subject: billing-job
    roles: ["${ROLE}", "${ROLE2}"]
  - name: local-job
    issuer: local
    roles: ["${ROLE}"]
rules: []
`,
  );
  tokenFile = join(root, 'token.jwt');
  await writeFile(tokenFile, 'eyJ.fake.token\n', { mode: 0o600 });
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('portcullis env formats (as a process)', () => {
  it('json: every variable a client of any kind needs, from the running gateway', async () => {
    const out = await portcullis(envArgs(['--format', 'json']));
    expect(out.code).toBe(0);
    // The CA file lives in the 0700 state dir: one warning line saying other users cannot read it.
    expect(out.stderr).toMatch(/^portcullis: warning: AWS_CA_BUNDLE=\S+ is not readable by other users \(\S+ is 0700\); for clients running as another user, copy it out: portcullis ca export -o FILE\n$/);
    const vars = JSON.parse(out.stdout) as Record<string, string>;
    expect(Object.keys(vars)).toEqual(EXPECTED_KEYS);
    expect(vars).toEqual({
      AWS_ENDPOINT_URL: URL_,
      AWS_CA_BUNDLE: caFile,
      NODE_EXTRA_CA_CERTS: caFile,
      REQUESTS_CA_BUNDLE: bundleFile,
      SSL_CERT_FILE: bundleFile,
      AWS_ROLE_ARN: ROLE,
      AWS_ROLE_SESSION_NAME: 'reports-mcp',
      AWS_WEB_IDENTITY_TOKEN_FILE: tokenFile,
      AWS_REGION: 'eu-west-1',
      AWS_DEFAULT_REGION: 'eu-west-1',
    });
  });

  it('shell (default): export lines a shell can source, with the token hint', async () => {
    const out = await portcullis(envArgs());
    expect(out.code).toBe(0);
    expect(out.stdout).toContain(`# The token file holds a client-credentials token from issuer "corp", kept fresh by: portcullis token fetch --issuer corp`);
    const exports = out.stdout.split('\n').filter((l) => l.startsWith('export '));
    expect(exports.map((l) => l.slice(7, l.indexOf('=')))).toEqual(EXPECTED_KEYS);
    // Sourced by a real shell, the values come back unchanged.
    const printed = await new Promise<string>((resolve, reject) =>
      execFile('sh', ['-c', `${out.stdout}\nnode -e 'process.stdout.write(JSON.stringify(Object.fromEntries(Object.entries(process.env).filter(([k]) => /^(AWS_|NODE_EXTRA|REQUESTS_CA|SSL_CERT)/.test(k)))))'`], (e, so) => (e ? reject(e) : resolve(so))),
    );
    expect(JSON.parse(printed)).toMatchObject({ AWS_ROLE_ARN: ROLE, AWS_ENDPOINT_URL: URL_, SSL_CERT_FILE: bundleFile });
  });

  it('shell: the local-issuer hint names portcullis token', async () => {
    const out = await portcullis(envArgs([], 'local-job'));
    expect(out.code).toBe(0);
    expect(out.stdout).toContain('a gateway-minted token: portcullis token --service-account local-job');
  });

  it('mcp: an "env" member that pastes into an mcpServers entry as valid JSON', async () => {
    const out = await portcullis(envArgs(['--format', 'mcp']));
    expect(out.code).toBe(0);
    expect(out.stdout.startsWith('"env": {')).toBe(true);
    const config = JSON.parse(`{"mcpServers": {"aws": {"command": "uvx", "args": ["awslabs.aws-api-mcp-server@latest"],\n${out.stdout}}}}`);
    expect(Object.keys(config.mcpServers.aws.env)).toEqual(EXPECTED_KEYS);
    expect(config.mcpServers.aws.env.AWS_WEB_IDENTITY_TOKEN_FILE).toBe(tokenFile);
  });

  it('aws-config: writes the profile (0600) and prints the lines that select it', async () => {
    const file = join(root, 'aws-config-1');
    const out = await portcullis(envArgs(['--format', 'aws-config', '-o', file]));
    expect(out.code).toBe(0);
    expect(out.stdout.split('\n').filter(Boolean)).toEqual([
      `# wrote profile portcullis-reports-mcp to ${file}`,
      `export AWS_CONFIG_FILE=${file}`,
      'export AWS_PROFILE=portcullis-reports-mcp',
      `export NODE_EXTRA_CA_CERTS=${caFile}`,
    ]);
    const text = await readFile(file, 'utf8');
    expect(text).toContain('[profile portcullis-reports-mcp]\n');
    for (const line of [
      `web_identity_token_file = ${tokenFile}`,
      `role_arn = ${ROLE}`,
      'role_session_name = reports-mcp',
      `endpoint_url = ${URL_}`,
      `ca_bundle = ${caFile}`,
      'region = eu-west-1',
    ]) {
      expect(text).toContain(`${line}\n`);
    }
    expect((await stat(file)).mode & 0o777).toBe(0o600);
  });

  it('aws-config: an existing config file keeps its other profiles; a second run replaces ours', async () => {
    const file = join(root, 'aws-config-2');
    await writeFile(file, '[default]\nregion = us-west-2\n\n[profile other]\nregion = ap-south-1\n');
    expect((await portcullis(envArgs(['--format', 'aws-config', '-o', file]))).code).toBe(0);
    expect((await portcullis(envArgs(['--format', 'aws-config', '-o', file]))).code).toBe(0);
    const text = await readFile(file, 'utf8');
    expect(text.startsWith('[default]\nregion = us-west-2\n\n[profile other]\nregion = ap-south-1\n\n# portcullis profile')).toBe(true);
    expect(text.match(/\[profile portcullis-reports-mcp\]/g)).toHaveLength(1);
    expect(text.match(/# portcullis profile/g)).toHaveLength(1);
  });

  it('REQUESTS_CA_BUNDLE / SSL_CERT_FILE: the gateway CA plus public roots, loadable by Python\'s ssl', async () => {
    const out = await portcullis(envArgs(['--format', 'json']));
    expect(out.code).toBe(0);
    const bundle = await readFile(bundleFile, 'utf8');
    const gatewayCa = (await readFile(caFile, 'utf8')).trim();
    expect(bundle.startsWith(gatewayCa)).toBe(true);
    expect(bundle.split('-----BEGIN CERTIFICATE-----').length - 1).toBeGreaterThan(100);
    const stats = await new Promise<string>((resolve, reject) =>
      execFile('python3', ['-c', 'import ssl,sys,json; print(json.dumps(ssl.create_default_context(cafile=sys.argv[1]).cert_store_stats()))', bundleFile], (e, so) => (e ? reject(e) : resolve(so))),
    );
    expect(JSON.parse(stats).x509_ca).toBeGreaterThan(100);
    expect((await stat(bundleFile)).mode & 0o777).toBe(0o644);
  });

  it('a bundle that cannot be written: warning, and the gateway CA alone', async () => {
    const dir = join(root, 'bundle-blocked');
    const ca = await loadOrCreateCa(dir);
    await mkdir(publicBundlePath(ca.caFile), { recursive: true });
    await writeGatewayInfo(dir, { url: URL_, pid: process.pid, caFile: ca.caFile, policyFile, startedAt: '', version: 'test' });
    const out = await portcullis(['env', '--service-account', 'reports-mcp', '--policy', policyFile, '--state-dir', dir, '--token-file', tokenFile, '--format', 'json']);
    expect(out.code).toBe(0);
    expect(JSON.parse(out.stdout)).toMatchObject({ AWS_CA_BUNDLE: ca.caFile, REQUESTS_CA_BUNDLE: ca.caFile, SSL_CERT_FILE: ca.caFile });
    expect(out.stderr).toMatch(/^portcullis: warning: cannot write .*ca-with-public-roots\.pem \(E[A-Z]+\): REQUESTS_CA_BUNDLE and SSL_CERT_FILE name the gateway CA alone/);
  });

  it('--url: no gateway.json needed; the state dir CA is used when present', async () => {
    const out = await portcullis(['env', '--service-account', 'reports-mcp', '--policy', policyFile, '--state-dir', stateDir, '--token-file', tokenFile, '--url', 'https://gw.example.com:8443/', '--format', 'json']);
    expect(out.code).toBe(0);
    expect(JSON.parse(out.stdout)).toMatchObject({ AWS_ENDPOINT_URL: 'https://gw.example.com:8443', AWS_CA_BUNDLE: caFile });
  });

  it('--url with no CA in the state dir: CA variables left out, with a warning', async () => {
    const empty = join(root, 'empty-state');
    const out = await portcullis(['env', '--service-account', 'reports-mcp', '--policy', policyFile, '--state-dir', empty, '--token-file', tokenFile, '--url', 'https://gw.example.com', '--format', 'json']);
    expect(out.code).toBe(0);
    const vars = JSON.parse(out.stdout);
    expect(Object.keys(vars)).toEqual(EXPECTED_KEYS.filter((k) => !/CA_BUNDLE|NODE_EXTRA|SSL_CERT/.test(k)));
    expect(out.stderr).toMatch(/^portcullis: warning: no gateway CA at .*\.pem: the CA variables are left out/);
  });

  it('a token file that does not exist yet is a warning, not an error', async () => {
    const out = await portcullis(['env', '--service-account', 'reports-mcp', '--policy', policyFile, '--state-dir', stateDir, '--format', 'json']);
    expect(out.code).toBe(0);
    expect(JSON.parse(out.stdout).AWS_WEB_IDENTITY_TOKEN_FILE).toBe(join(stateDir, 'tokens', 'reports-mcp.jwt'));
    expect(out.stderr).toContain(`warning: the token file ${join(stateDir, 'tokens', 'reports-mcp.jwt')} does not exist yet`);
  });

  it('with no --policy and no policy.yaml here, the running gateway\'s policy is used', async () => {
    const out = await portcullis(['env', '--service-account', 'local-job', '--state-dir', stateDir, '--token-file', tokenFile, '--format', 'json'], stateDir);
    expect(out.code).toBe(0);
    expect(JSON.parse(out.stdout).AWS_REGION).toBe('eu-west-1');
  });
});

describe('portcullis env: bad input (one line, exit code)', () => {
  const cases: { name: string; args: () => Promise<string[]>; code: number; error: RegExp }[] = [
    {
      name: 'unknown service account',
      args: async () => envArgs([], 'nobody'),
      code: 1,
      error: /^portcullis: --service-account: no service account "nobody" in .*policy\.yaml \(known: reports-mcp, local-job\)\n$/,
    },
    {
      name: 'missing policy file',
      args: async () => ['env', '--service-account', 'reports-mcp', '--policy', join(root, 'nope.yaml'), '--state-dir', stateDir],
      code: 1,
      error: /^portcullis: --policy: .*nope\.yaml: cannot read .*nope\.yaml: .*\n$/,
    },
    {
      name: 'invalid policy',
      args: async () => {
        const bad = join(root, 'bad.yaml');
        await writeFile(bad, 'version: 1\nservice_accounts:\n  - name: x\n    issuer: nowhere\n    roles: [not-an-arn]\nrules: []\n');
        return ['env', '--service-account', 'x', '--policy', bad, '--state-dir', stateDir];
      },
      code: 1,
      error: /^portcullis: --policy: .*bad\.yaml:\d+:\d+: service_accounts\[0\]\..*\n$/,
    },
    {
      name: 'no running gateway and no --url',
      args: async () => ['env', '--service-account', 'reports-mcp', '--policy', policyFile, '--state-dir', join(root, 'no-gateway')],
      code: 1,
      error: /^portcullis: no running gateway found in .*no-gateway \(start one with portcullis start, or pass --url\)\n$/,
    },
    {
      name: 'gateway.json left behind by a gateway that is gone',
      args: async () => {
        const dir = join(root, 'stale');
        await writeGatewayInfo(dir, { url: URL_, pid: await deadPid(), caFile, policyFile, startedAt: '', version: 'test' });
        return ['env', '--service-account', 'reports-mcp', '--policy', policyFile, '--state-dir', dir];
      },
      code: 1,
      error: /^portcullis: the gateway recorded in .*stale\/gateway\.json \(pid \d+\) is not running \(start one, or pass --url\)\n$/,
    },
    {
      name: 'gateway.json that is not JSON',
      args: async () => {
        const dir = join(root, 'garbled');
        await mkdir(dir, { recursive: true });
        await writeFile(join(dir, 'gateway.json'), '{"url": ');
        return ['env', '--service-account', 'reports-mcp', '--policy', policyFile, '--state-dir', dir];
      },
      code: 1,
      error: /^portcullis: .*garbled\/gateway\.json is not JSON/,
    },
    {
      name: 'gateway CA file missing',
      args: async () => {
        const dir = join(root, 'no-ca');
        await writeGatewayInfo(dir, { url: URL_, pid: process.pid, caFile: join(dir, 'gone.pem'), policyFile, startedAt: '', version: 'test' });
        return ['env', '--service-account', 'reports-mcp', '--policy', policyFile, '--state-dir', dir];
      },
      code: 1,
      error: /^portcullis: the running gateway's CA file .*gone\.pem is missing\n$/,
    },
    {
      name: 'aws-config without -o',
      args: async () => envArgs(['--format', 'aws-config']),
      code: 2,
      error: /^portcullis: --format aws-config needs -o FILE \(the AWS config file to write the profile into\)\n$/,
    },
    {
      name: '-o with a format that prints',
      args: async () => envArgs(['--format', 'json', '-o', join(root, 'x')]),
      code: 2,
      error: /^portcullis: -o FILE is for --format aws-config/,
    },
    {
      name: 'aws-config into a directory that does not exist',
      args: async () => envArgs(['--format', 'aws-config', '-o', join(root, 'no', 'such', 'config')]),
      code: 1,
      error: /^portcullis: -o: cannot write .*no\/such\/config: ENOENT\n$/,
    },
    {
      name: 'plain-HTTP --url',
      args: async () => envArgs(['--url', 'http://127.0.0.1:8443']),
      code: 2,
      error: /^portcullis: --url: "http:\/\/127\.0\.0\.1:8443" must be an https:\/\/ URL/,
    },
    {
      name: '--url that is not a URL',
      args: async () => envArgs(['--url', 'gateway 8443']),
      code: 2,
      error: /^portcullis: --url: "gateway 8443" is not a URL\n$/,
    },
    {
      name: '--url with a path',
      args: async () => envArgs(['--url', 'https://gw.example.com/sts']),
      code: 2,
      error: /^portcullis: --url: .* must be the gateway's origin only/,
    },
    {
      name: 'unknown format',
      args: async () => envArgs(['--format', 'yaml']),
      code: 2,
      error: /^portcullis: option '--format <format>' argument 'yaml' is invalid/,
    },
    {
      name: 'no --service-account',
      args: async () => ['env', '--policy', policyFile, '--state-dir', stateDir],
      code: 2,
      error: /^portcullis: required option '--service-account <name>' not specified\n$/,
    },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      const out = await portcullis(await c.args());
      expect(out.stdout).toBe('');
      expect(out.stderr).toMatch(c.error);
      expect(out.code).toBe(c.code);
    });
  }
});

describe('clientEnvironment / env in-process (options main.ts does not register yet)', () => {
  const base = () => ({ serviceAccount: 'reports-mcp', policy: policyFile, stateDir, tokenFile });

  it('role: picks another of the account\'s roles', async () => {
    const e = await clientEnvironment({ ...base(), role: ROLE2 });
    expect(e.vars.AWS_ROLE_ARN).toBe(ROLE2);
  });

  it('role: one the account may not assume is refused', async () => {
    await expect(clientEnvironment({ ...base(), role: 'arn:aws:iam::123456789012:role/admin' })).rejects.toThrow(
      /^--role: service account "reports-mcp" may not assume arn:aws:iam::123456789012:role\/admin/,
    );
  });

  it('credentialProcess: the aws-config profile runs portcullis credentials with absolute paths', async () => {
    const file = join(root, 'aws-config-cp');
    const written: string[] = [];
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => (written.push(String(chunk)), true));
    try {
      await env({ ...base(), format: 'aws-config', output: file, credentialProcess: true });
    } finally {
      spy.mockRestore();
    }
    expect(written.join('')).toContain('export AWS_PROFILE=portcullis-reports-mcp');
    const text = await readFile(file, 'utf8');
    // No --policy, no --state-dir: the line names the gateway, its CA and the role, so it runs on any host.
    expect(text).toMatch(/^credential_process = \S+ \S+portcullis\.js credentials --service-account reports-mcp --token-file \S+ --url https:\/\/\S+ --ca \S+\.pem --role arn:aws:iam::123456789012:role\/reports$/m);
    expect(text).not.toContain('web_identity_token_file');
    expect(text).toContain(`endpoint_url = ${URL_}\n`);
  });

  it('credentialProcess without aws-config is a usage error', async () => {
    await expect(env({ ...base(), format: 'json', credentialProcess: true })).rejects.toMatchObject({ message: '--credential-process goes with --format aws-config', exitCode: 2 });
  });
});

describe('pure parts', () => {
  it('writePublicBundle: CA first, then the roots; rewritten only when they change', async () => {
    const dir = join(root, 'bundle-unit');
    await mkdir(dir, { recursive: true });
    const ca = join(dir, 'ca.pem');
    await writeFile(ca, 'GATEWAY-CA\n');
    const file = await writePublicBundle(ca, ['ROOT-1', 'ROOT-2']);
    expect(await readFile(file, 'utf8')).toBe('GATEWAY-CA\nROOT-1\nROOT-2\n');
    const before = (await stat(file)).ino;
    await writePublicBundle(ca, ['ROOT-1', 'ROOT-2']);
    expect((await stat(file)).ino).toBe(before);
    await writePublicBundle(ca, ['ROOT-3']);
    expect(await readFile(file, 'utf8')).toBe('GATEWAY-CA\nROOT-3\n');
  });

  const environment = (): ClientEnvironment => ({
    account: { name: 'reports-mcp', issuer: 'corp', subject: 's', claims: {}, roles: [ROLE], sessionTtlMs: 3_600_000 },
    role: ROLE,
    policyFile: '/etc/portcullis/policy.yaml',
    stateDir: "/var/lib/port cullis's",
    tokenFile: '/run/tokens/reports.jwt',
    tokenSource: 'a token',
    warnings: [],
    vars: { AWS_ENDPOINT_URL: URL_, AWS_CA_BUNDLE: '/ca dir/ca.pem', AWS_ROLE_ARN: ROLE, AWS_ROLE_SESSION_NAME: 'reports-mcp', AWS_WEB_IDENTITY_TOKEN_FILE: '/run/tokens/reports.jwt', AWS_REGION: 'us-east-1' },
  });

  it.each([
    ['plain', 'plain'],
    ['/a/b-c_d.e:f,g@h%i+j=k', '/a/b-c_d.e:f,g@h%i+j=k'],
    ['with space', "'with space'"],
    ["it's", "'it'\\''s'"],
    ['$HOME', "'$HOME'"],
    ['', "''"],
  ])('shellQuote(%j) = %s', (input, quoted) => {
    expect(shellQuote(input)).toBe(quoted);
  });

  it('credential_process quotes what needs quoting (shlex and sh agree)', () => {
    const cmd = credentialProcessCommand(environment(), '/usr/bin/node', '/opt/portcullis/bin/portcullis.js');
    expect(cmd).toBe(
      `/usr/bin/node /opt/portcullis/bin/portcullis.js credentials --service-account reports-mcp --token-file /run/tokens/reports.jwt --url ${URL_} --ca '/ca dir/ca.pem' --role ${ROLE}`,
    );
    const noCa = environment();
    delete noCa.vars.AWS_CA_BUNDLE;
    expect(credentialProcessCommand(noCa, 'n', 'b')).toBe(`n b credentials --service-account reports-mcp --token-file /run/tokens/reports.jwt --url ${URL_} --role ${ROLE}`);
  });

  it('formatAwsConfig leaves out ca_bundle when there is no CA, and refuses line breaks', () => {
    const e = environment();
    delete e.vars.AWS_CA_BUNDLE;
    expect(formatAwsConfig(e, 'p')).not.toContain('ca_bundle');
    e.vars.AWS_WEB_IDENTITY_TOKEN_FILE = '/tmp/x\n[profile evil]';
    expect(() => formatAwsConfig(e, 'p')).toThrow(CliError);
  });

  it('formatMcp is exactly one JSON member', () => {
    const text = formatMcp(environment());
    expect(JSON.parse(`{${text}}`)).toEqual({ env: environment().vars });
  });

  it.each([
    ['empty file', '', 'S\n'],
    ['other profiles kept', '[default]\nregion = x\n', '[default]\nregion = x\n\nS\n'],
    ['old section replaced', '[default]\na = 1\n# portcullis profile for service account q; token: t\n[profile p]\nrole_arn = old\n\n[profile z]\nb = 2\n', '[default]\na = 1\n[profile z]\nb = 2\n\nS\n'],
    ['a section named without "profile" is ours too', '[p]\nx = 1\n[q]\ny = 2\n', '[q]\ny = 2\n\nS\n'],
    ['a profile whose name merely starts the same is kept', '[profile p2]\nx = 1\n', '[profile p2]\nx = 1\n\nS\n'],
  ])('mergeAwsConfig: %s', (_name, existing, expected) => {
    expect(mergeAwsConfig(existing, 'p', 'S\n')).toBe(expected);
  });
});
