// `portcullis env`: everything a client needs to reach AWS through the gateway, in the shape its
// launcher wants (shell exports, JSON, an MCP `env` block, or an AWS config profile).

import { readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { loadPolicyFile } from '../config/load.js';
import type { ServiceAccountConfig } from '../config/types.js';
import { caFilePath } from '../proxy/tls.js';
import { gatewayInfoPath, resolveStateDir, type GatewayInfo } from '../state.js';
import { CliError, printLine } from './output.js';

export type EnvFormat = 'shell' | 'json' | 'mcp' | 'aws-config';

export interface ClientEnvironment {
  vars: Record<string, string>;
  tokenSource: string;
  account: ServiceAccountConfig;
}

async function readGatewayInfo(stateDir: string): Promise<GatewayInfo | undefined> {
  try {
    return JSON.parse(await readFile(gatewayInfoPath(stateDir), 'utf8')) as GatewayInfo;
  } catch {
    return undefined;
  }
}

export function defaultTokenFile(stateDir: string, account: string): string {
  return join(stateDir, 'tokens', `${account}.jwt`);
}

function tokenSource(account: ServiceAccountConfig, tokenFile: string): string {
  if (account.issuer === 'local') {
    return `a gateway-minted token: portcullis token --service-account ${account.name} > ${tokenFile}`;
  }
  return `your IdP's client-credentials token for issuer "${account.issuer}": portcullis token fetch --issuer ${account.issuer} --client-id ID --client-secret-file FILE --out ${tokenFile} --refresh`;
}

export async function clientEnvironment(opts: Record<string, unknown>): Promise<ClientEnvironment> {
  const stateDir = resolveStateDir(opts.stateDir as string | undefined);
  const policyFile = String(opts.policy ?? 'policy.yaml');
  const loaded = await loadPolicyFile(policyFile);
  if (!loaded.ok) {
    const first = loaded.errors[0]!;
    throw new CliError(`${first.file}:${first.line}:${first.column}: ${first.path ? `${first.path}: ` : ''}${first.message}${loaded.errors.length > 1 ? ` (and ${loaded.errors.length - 1} more; run portcullis policy check)` : ''}`);
  }
  const name = String(opts.serviceAccount);
  const account = loaded.policy.config.serviceAccounts.find((sa) => sa.name === name);
  if (!account) {
    const known = loaded.policy.config.serviceAccounts.map((sa) => sa.name).join(', ') || 'none';
    throw new CliError(`--service-account: no service account "${name}" in ${policyFile} (known: ${known})`);
  }
  const role = account.roles[0];
  if (!role) throw new CliError(`service account "${name}" has no roles in ${policyFile}`);
  let url = opts.url as string | undefined;
  let caFile = caFilePath(stateDir);
  if (!url) {
    const info = await readGatewayInfo(stateDir);
    if (!info) throw new CliError(`no running gateway found in ${stateDir} (start one, or pass --url)`);
    url = info.url;
    caFile = info.caFile;
  }
  const region = loaded.policy.config.upstream.region;
  const tokenFile = resolve(String(opts.tokenFile ?? defaultTokenFile(stateDir, name)));
  return {
    account,
    tokenSource: tokenSource(account, tokenFile),
    vars: {
      AWS_ENDPOINT_URL: url,
      AWS_CA_BUNDLE: caFile,
      NODE_EXTRA_CA_CERTS: caFile,
      REQUESTS_CA_BUNDLE: caFile,
      SSL_CERT_FILE: caFile,
      AWS_ROLE_ARN: role,
      AWS_ROLE_SESSION_NAME: name,
      AWS_WEB_IDENTITY_TOKEN_FILE: tokenFile,
      AWS_REGION: region,
      AWS_DEFAULT_REGION: region,
    },
  };
}

function shellQuote(value: string): string {
  return /^[\w@%+=:,./-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`;
}

export function formatShell(env: ClientEnvironment): string {
  const lines = [
    `# portcullis client set-up for service account ${env.account.name}`,
    `# The token file holds ${env.tokenSource}`,
    '# NODE_EXTRA_CA_CERTS is for the JS SDK (it ignores AWS_CA_BUNDLE); REQUESTS_CA_BUNDLE / SSL_CERT_FILE for non-SDK Python HTTPS.',
    ...Object.entries(env.vars).map(([key, value]) => `export ${key}=${shellQuote(value)}`),
  ];
  return lines.join('\n');
}

export function formatAwsConfig(env: ClientEnvironment, profile: string): string {
  const v = env.vars;
  return [
    `# portcullis profile for service account ${env.account.name}; token: ${env.tokenSource}`,
    `[profile ${profile}]`,
    `web_identity_token_file = ${v.AWS_WEB_IDENTITY_TOKEN_FILE}`,
    `role_arn = ${v.AWS_ROLE_ARN}`,
    `role_session_name = ${v.AWS_ROLE_SESSION_NAME}`,
    `endpoint_url = ${v.AWS_ENDPOINT_URL}`,
    `ca_bundle = ${v.AWS_CA_BUNDLE}`,
    `region = ${v.AWS_REGION}`,
    '',
  ].join('\n');
}

export async function env(opts: Record<string, unknown>): Promise<void> {
  const environment = await clientEnvironment(opts);
  const format = String(opts.format ?? 'shell') as EnvFormat;
  if (format === 'json') {
    printLine(JSON.stringify(environment.vars, null, 2));
  } else if (format === 'mcp') {
    printLine(JSON.stringify({ env: environment.vars }, null, 2));
  } else if (format === 'aws-config') {
    const profile = `portcullis-${environment.account.name}`;
    const text = formatAwsConfig(environment, profile);
    const output = opts.output as string | undefined;
    if (!output) throw new CliError('--format aws-config needs -o FILE (the AWS config file to write)', 2);
    await writeFile(output, text, { mode: 0o600 });
    printLine(`# wrote profile ${profile} to ${resolve(output)}`);
    printLine(`export AWS_CONFIG_FILE=${shellQuote(resolve(output))}`);
    printLine(`export AWS_PROFILE=${shellQuote(profile)}`);
    printLine(`export NODE_EXTRA_CA_CERTS=${shellQuote(environment.vars.NODE_EXTRA_CA_CERTS!)}`);
  } else {
    printLine(formatShell(environment));
  }
}
