// `portcullis env`: everything a client needs to reach AWS through the gateway, in the shape its
// launcher wants: shell exports, JSON, the `"env"` member of an MCP `mcpServers` entry, or an AWS
// config profile (for servers that force a named profile, which switches environment credentials off).
//
// Why each variable: AWS_ENDPOINT_URL routes every service and STS to the gateway (botocore ≥ 1.31,
// JS v3); AWS_CA_BUNDLE is read by botocore/CLI, NODE_EXTRA_CA_CERTS by the JS SDK (which ignores
// AWS_CA_BUNDLE), REQUESTS_CA_BUNDLE / SSL_CERT_FILE by non-SDK Python HTTPS (requests, httpx);
// AWS_REGION is the JS SDK's region and AWS_DEFAULT_REGION botocore's (CLI v1 ignores AWS_REGION).

import { readFile, stat } from 'node:fs/promises';
import { rootCertificates } from 'node:tls';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ServiceAccountConfig } from '../identity/config.js';
import { writeFileAtomic } from '../lib/atomic-write.js';
import { caFilePath } from '../proxy/tls.js';
import { gatewayInfoPath, resolveStateDir } from '../state.js';
import { loadCliPolicy, readRunningGateway } from './gateway-info.js';
import { CliError, printLine } from './output.js';
import { unreadableWarning } from './readable.js';

export { readRunningGateway };

export type EnvFormat = 'shell' | 'json' | 'mcp' | 'aws-config';
const FORMATS: readonly EnvFormat[] = ['shell', 'json', 'mcp', 'aws-config'];

/** AWS's RoleSessionName pattern; service account names are validated against it when the policy loads. */
const ROLE_SESSION_NAME = /^[\w+=,.@-]{2,64}$/;

export interface ClientEnvironment {
  /** In the order they are printed. CA variables are absent when the gateway's certificate is publicly trusted. */
  vars: Record<string, string>;
  /** How the token file gets its content, for the comment lines. */
  tokenSource: string;
  account: ServiceAccountConfig;
  role: string;
  policyFile: string;
  stateDir: string;
  /** Given with --url (else read from the running gateway). */
  explicitUrl?: string;
  tokenFile: string;
  /** Problems worth telling the user that do not stop the set-up (e.g. the token file does not exist yet). */
  warnings: string[];
}

type Opts = Record<string, unknown>;

function str(value: unknown): string | undefined {
  return typeof value === 'string' && value.length > 0 ? value : undefined;
}

async function exists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    () => false,
  );
}

/** Next to the gateway CA: that CA plus the public roots, for the variables that REPLACE a trust store. */
export function publicBundlePath(caFile: string): string {
  return join(dirname(caFile), 'ca-with-public-roots.pem');
}

/**
 * REQUESTS_CA_BUNDLE and SSL_CERT_FILE replace the trust store instead of adding to it, and the same
 * process also reaches public hosts with them: uv/uvx downloads the server from PyPI, aws-api-mcp-server
 * and docs fetchers call public sites directly. So they get the gateway CA plus Node's bundled Mozilla
 * roots; the AWS SDK variables keep the gateway CA alone (their calls all go to the gateway).
 */
export async function writePublicBundle(caFile: string, roots: readonly string[] = rootCertificates): Promise<string> {
  const target = publicBundlePath(caFile);
  const caPem = (await readFile(caFile, 'utf8')).trim();
  const content = `${caPem}\n${roots.join('\n')}\n`;
  if ((await readFile(target, 'utf8').catch(() => undefined)) === content) return target;
  // World-readable like any CA bundle: the MCP server may run as another user than the one running env.
  await writeFileAtomic(target, content, { mode: 0o644 });
  return target;
}

export function defaultTokenFile(stateDir: string, account: string): string {
  return join(stateDir, 'tokens', `${account}.jwt`);
}

function tokenSource(account: ServiceAccountConfig, tokenFile: string, policyArgs: string): string {
  if (account.issuer === 'local') {
    return `a gateway-minted token: portcullis token --service-account ${account.name}${policyArgs} > ${tokenFile}`;
  }
  return `a client-credentials token from issuer "${account.issuer}", kept fresh by: portcullis token fetch --issuer ${account.issuer} --client-id ID --client-secret-file FILE --out ${tokenFile} --refresh${policyArgs}`;
}

function parseGatewayUrl(url: string, flag: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new CliError(`${flag}: "${url}" is not a URL`, 2);
  }
  // Clients would send the web-identity token and receive credentials over it: plain HTTP fails closed.
  if (parsed.protocol !== 'https:') throw new CliError(`${flag}: "${url}" must be an https:// URL (the gateway serves TLS)`, 2);
  if (parsed.pathname !== '/' || parsed.search !== '' || parsed.hash !== '') {
    throw new CliError(`${flag}: "${url}" must be the gateway's origin only (https://host:port), without a path`, 2);
  }
  return parsed.origin;
}

export async function clientEnvironment(opts: Opts): Promise<ClientEnvironment> {
  const stateDir = resolveStateDir(str(opts.stateDir));
  const name = str(opts.serviceAccount);
  if (name === undefined) throw new CliError('--service-account NAME is required', 2);
  const policy = await loadCliPolicy(opts);
  const account = policy.config.serviceAccounts.find((sa) => sa.name === name);
  if (!account) {
    const known = policy.config.serviceAccounts.map((sa) => sa.name).join(', ') || 'none';
    throw new CliError(`--service-account: no service account "${name}" in ${policy.file} (known: ${known})`);
  }
  const wantedRole = str(opts.role);
  const role = wantedRole ?? account.roles[0];
  if (role === undefined) throw new CliError(`service account "${name}" has no roles in ${policy.file}`);
  if (!account.roles.includes(role)) {
    throw new CliError(`--role: service account "${name}" may not assume ${role} (its roles: ${account.roles.join(', ')})`);
  }
  if (!ROLE_SESSION_NAME.test(account.name)) {
    // Unreachable with a validated policy; kept so a bad name never reaches an SDK as AWS_ROLE_SESSION_NAME.
    throw new CliError(`service account "${name}" is not a valid AWS RoleSessionName`);
  }

  const warnings: string[] = [];
  const explicitUrl = str(opts.url);
  let url: string;
  let caFile: string | undefined;
  if (explicitUrl !== undefined) {
    url = parseGatewayUrl(explicitUrl, '--url');
    // A gateway started from this state dir has its CA here; otherwise its certificate must be publicly trusted.
    const candidate = caFilePath(stateDir);
    if (await exists(candidate)) caFile = candidate;
    else warnings.push(`no gateway CA at ${candidate}: the CA variables are left out, so clients must trust ${url}'s certificate by themselves`);
  } else {
    const info = await readRunningGateway(stateDir);
    url = parseGatewayUrl(info.url, `${gatewayInfoPath(stateDir)} url`);
    caFile = info.caFile;
    if (!(await exists(caFile))) throw new CliError(`the running gateway's CA file ${caFile} is missing`);
  }

  const region = policy.config.upstream.region;
  const tokenFile = resolve(str(opts.tokenFile) ?? defaultTokenFile(stateDir, name));
  if (!(await exists(tokenFile))) warnings.push(`the token file ${tokenFile} does not exist yet; clients fail until it does`);
  const policyArgs = ` --policy ${shellQuote(resolve(policy.file))}`;

  let publicBundle = caFile;
  if (caFile !== undefined) {
    try {
      publicBundle = await writePublicBundle(caFile);
    } catch (error) {
      warnings.push(
        `cannot write ${publicBundlePath(caFile)} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}): REQUESTS_CA_BUNDLE and SSL_CERT_FILE name the gateway CA alone, so non-SDK HTTPS to public hosts (uvx installs from PyPI included) will fail verification`,
      );
    }
  }
  const ca: Record<string, string> = caFile === undefined || publicBundle === undefined
    ? {}
    : { AWS_CA_BUNDLE: caFile, NODE_EXTRA_CA_CERTS: caFile, REQUESTS_CA_BUNDLE: publicBundle, SSL_CERT_FILE: publicBundle };
  return {
    account,
    role,
    policyFile: resolve(policy.file),
    stateDir,
    explicitUrl: explicitUrl === undefined ? undefined : url,
    tokenFile,
    tokenSource: tokenSource(account, tokenFile, policyArgs),
    warnings,
    vars: {
      AWS_ENDPOINT_URL: url,
      ...ca,
      AWS_ROLE_ARN: role,
      AWS_ROLE_SESSION_NAME: account.name,
      AWS_WEB_IDENTITY_TOKEN_FILE: tokenFile,
      AWS_REGION: region,
      AWS_DEFAULT_REGION: region,
    },
  };
}

/** POSIX shell quoting; also what botocore's credential_process splitter (shlex) understands. */
export function shellQuote(value: string): string {
  return /^[\w@%+=:,./-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`;
}

export function formatShell(env: ClientEnvironment): string {
  const lines = [
    `# portcullis client set-up for service account ${env.account.name}`,
    `# The token file holds ${env.tokenSource}`,
    '# NODE_EXTRA_CA_CERTS is for the JS SDK (it ignores AWS_CA_BUNDLE); REQUESTS_CA_BUNDLE / SSL_CERT_FILE (gateway CA + public roots) for non-SDK HTTPS and uv.',
    ...Object.entries(env.vars).map(([key, value]) => `export ${key}=${shellQuote(value)}`),
  ];
  return lines.join('\n');
}

/**
 * The `"env": {…}` member of an `mcpServers` entry: pasted between
 * `"args": […],` and the entry's closing brace it makes valid JSON with no editing.
 */
export function formatMcp(env: ClientEnvironment): string {
  return `"env": ${JSON.stringify(env.vars, null, 2)}`;
}

/** The path of this installation's CLI entry point, for credential_process. */
export function portcullisBin(): string {
  return fileURLToPath(new URL('../../bin/portcullis.js', import.meta.url));
}

/**
 * `credential_process` command: absolute paths everywhere, since the SDK runs it from any directory. It names the
 * gateway, its CA and the role itself, so it needs neither the policy file nor the state dir: the same line works
 * on a client host that has the token and CA files at those paths.
 */
export function credentialProcessCommand(env: ClientEnvironment, node = process.execPath, bin = portcullisBin()): string {
  const ca = env.vars.AWS_CA_BUNDLE;
  const args = [
    node,
    bin,
    'credentials',
    '--service-account',
    env.account.name,
    '--token-file',
    env.tokenFile,
    '--url',
    env.vars.AWS_ENDPOINT_URL as string,
    ...(ca === undefined ? [] : ['--ca', ca]),
    '--role',
    env.role,
  ];
  return args.map(shellQuote).join(' ');
}

export function profileName(env: ClientEnvironment): string {
  return `portcullis-${env.account.name}`;
}

export interface AwsConfigOptions {
  /** Use `credential_process = portcullis credentials …` instead of web_identity_token_file + role_arn. */
  credentialProcess?: string;
}

/** One `[profile …]` section. Config values cannot be quoted, so paths with a newline are refused. */
export function formatAwsConfig(env: ClientEnvironment, profile: string, options: AwsConfigOptions = {}): string {
  const v = env.vars;
  const entries: [string, string | undefined][] = [
    ...(options.credentialProcess !== undefined
      ? ([['credential_process', options.credentialProcess]] as [string, string][])
      : ([
          ['web_identity_token_file', v.AWS_WEB_IDENTITY_TOKEN_FILE],
          ['role_arn', v.AWS_ROLE_ARN],
          ['role_session_name', v.AWS_ROLE_SESSION_NAME],
        ] as [string, string | undefined][])),
    ['endpoint_url', v.AWS_ENDPOINT_URL],
    ['ca_bundle', v.AWS_CA_BUNDLE],
    ['region', v.AWS_REGION],
  ];
  const lines = [`# portcullis profile for service account ${env.account.name}; token: ${env.tokenSource.replace(/\n/g, ' ')}`, `[profile ${profile}]`];
  for (const [key, value] of entries) {
    if (value === undefined) continue;
    if (/[\r\n]/.test(value)) throw new CliError(`${key}: "${value}" contains a line break and cannot go in an AWS config file`);
    lines.push(`${key} = ${value}`);
  }
  return `${lines.join('\n')}\n`;
}

/**
 * Puts `section` into an existing config file's text in place of any earlier section of the same
 * profile (and its portcullis comment), keeping every other profile: -o may well be ~/.aws/config.
 */
export function mergeAwsConfig(existing: string, profile: string, section: string): string {
  const header = new RegExp(`^\\s*\\[\\s*(?:profile\\s+)?${profile.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\s*\\]\\s*$`);
  const lines = existing.split('\n');
  const kept: string[] = [];
  let skipping = false;
  for (let i = 0; i < lines.length; i += 1) {
    const line = lines[i]!;
    if (/^\s*\[/.test(line)) skipping = header.test(line);
    const ourComment = !skipping && /^# portcullis profile for /.test(line) && header.test(lines[i + 1] ?? '');
    if (!skipping && !ourComment) kept.push(line);
  }
  const rest = kept.join('\n').replace(/\n+$/, '');
  return rest.length === 0 ? section : `${rest}\n\n${section}`;
}

export async function env(opts: Opts, command: string[] = []): Promise<void> {
  const format = String(opts.format ?? 'shell') as EnvFormat;
  if ((opts.wrap || command.length > 0) && format !== 'mcp') throw new CliError('--wrap (and a server command after --) goes with --format mcp', 2);
  if (!FORMATS.includes(format)) throw new CliError(`--format: "${format}" is not one of ${FORMATS.join(', ')}`, 2);
  const output = str(opts.output);
  if (format === 'aws-config' && output === undefined) {
    throw new CliError('--format aws-config needs -o FILE (the AWS config file to write the profile into)', 2);
  }
  if (format !== 'aws-config' && output !== undefined) throw new CliError('-o FILE is for --format aws-config; other formats print to stdout', 2);
  if (opts.credentialProcess && format !== 'aws-config') throw new CliError('--credential-process goes with --format aws-config', 2);

  const environment = await clientEnvironment(opts);
  for (const warning of environment.warnings) process.stderr.write(`portcullis: warning: ${warning}\n`);

  if (format === 'json') {
    printLine(JSON.stringify(environment.vars, null, 2));
  } else if (format === 'mcp' && (opts.wrap || command.length > 0)) {
    const { wrappedEntry } = await import('./mcp.js');
    printLine(wrappedEntry(environment, str(opts.name) ?? environment.account.name, command, str(opts.tokenFile)));
  } else if (format === 'mcp') {
    printLine(formatMcp(environment));
  } else if (format === 'aws-config') {
    const file = resolve(output!);
    const profile = profileName(environment);
    const section = formatAwsConfig(environment, profile, opts.credentialProcess ? { credentialProcess: credentialProcessCommand(environment) } : {});
    let existing = '';
    try {
      existing = await readFile(file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw new CliError(`-o: cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
      }
    }
    try {
      await writeFileAtomic(file, mergeAwsConfig(existing, profile, section));
    } catch (error) {
      throw new CliError(`-o: cannot write ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
    printLine(`# wrote profile ${profile} to ${file}`);
    printLine(`export AWS_CONFIG_FILE=${shellQuote(file)}`);
    printLine(`export AWS_PROFILE=${shellQuote(profile)}`);
    // The JS SDK ignores the profile's ca_bundle.
    if (environment.vars.NODE_EXTRA_CA_CERTS !== undefined) printLine(`export NODE_EXTRA_CA_CERTS=${shellQuote(environment.vars.NODE_EXTRA_CA_CERTS)}`);
  } else {
    printLine(formatShell(environment));
  }
  const closed = unreadableWarning('AWS_CA_BUNDLE', environment.vars.AWS_CA_BUNDLE);
  if (closed) process.stderr.write(`portcullis: warning: ${closed}\n`);
}
