// `portcullis mcp run`: what goes in an `mcpServers` entry's command/args. It gets an identity token (a token file,
// a gateway-minted token for `issuer: local` accounts, or the client-credentials grant), exchanges it at the
// gateway for gateway credentials, starts the MCP server with the client environment of `portcullis env` (the
// credentials lent through a loopback container-credentials endpoint, so the server's AWS calls and the wrapper's
// reports share one gateway session), and relays MCP over stdio (src/mcp/relay.ts), asking the gateway about each
// tool call and reporting it.

import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { mintLocalToken } from '../identity/local-token.js';
import { KeyFileError, loadOrCreateGatewayKeys } from '../identity/keys.js';
import { CredentialSource, serveCredentials, signedGateway, type GatewayCredentials } from '../mcp/gateway-client.js';
import { SERVER_NAME } from '../mcp/protocol.js';
import { McpRelay } from '../mcp/relay.js';
import { loadPolicyFile } from '../config/load.js';
import { fetchIdpToken, findIssuer, parseStsAnswer, postForm, readSecretFile } from './credentials.js';
import { clientEnvironment, portcullisBin, shellQuote, type ClientEnvironment } from './env.js';
import { CliError } from './output.js';

type Opts = Record<string, unknown>;

function str(value: unknown): string | undefined {
  return typeof value === 'string' && value.length > 0 ? value : undefined;
}

/** Variables the wrapper sets or must keep from the server: inherited keys or profiles would win over its credentials. */
const STRIPPED = [
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_SESSION_TOKEN',
  'AWS_SECURITY_TOKEN',
  'AWS_PROFILE',
  'AWS_DEFAULT_PROFILE',
  'AWS_ROLE_ARN',
  'AWS_ROLE_SESSION_NAME',
  'AWS_WEB_IDENTITY_TOKEN_FILE',
  'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI',
];

/** The wrapped server's environment: the wrapper's own, minus AWS credentials, plus the gateway's client set-up. */
export function serverEnvironment(inherited: NodeJS.ProcessEnv, client: Record<string, string>, credentials: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(inherited)) if (value !== undefined && !STRIPPED.includes(key)) out[key] = value;
  const { AWS_ROLE_ARN: _role, AWS_ROLE_SESSION_NAME: _name, AWS_WEB_IDENTITY_TOKEN_FILE: _file, ...rest } = client;
  return { ...out, ...rest, ...credentials };
}

type TokenSource = () => Promise<string>;

async function tokenSource(opts: Opts, env: ClientEnvironment): Promise<{ source: TokenSource; describe: string }> {
  const tokenFile = str(opts.tokenFile);
  const clientId = str(opts.clientId);
  const secretFile = str(opts.clientSecretFile);
  if (tokenFile !== undefined && (clientId !== undefined || secretFile !== undefined)) {
    throw new CliError('give either --token-file or --client-id with --client-secret-file, not both', 2);
  }
  if ((clientId === undefined) !== (secretFile === undefined)) throw new CliError('--client-id and --client-secret-file go together', 2);
  if (tokenFile !== undefined) return { source: () => readSecretFile(resolve(tokenFile), '--token-file'), describe: `token file ${resolve(tokenFile)}` };
  const account = env.account;
  if (clientId !== undefined && secretFile !== undefined) {
    if (account.issuer === 'local') throw new CliError(`service account "${account.name}" uses issuer local: there is no IdP to ask`, 2);
    const loaded = await loadPolicyFile(env.policyFile);
    if (!loaded.ok) throw new CliError(`--policy: ${env.policyFile} does not load`);
    const issuer = findIssuer(loaded.policy, account.issuer, 'service account issuer');
    return { source: async () => (await fetchIdpToken(issuer, clientId, secretFile)).accessToken, describe: `client-credentials grant of ${issuer.name}` };
  }
  if (account.issuer === 'local') {
    let keys;
    try {
      keys = await loadOrCreateGatewayKeys(env.stateDir);
    } catch (error) {
      if (error instanceof KeyFileError) throw new CliError(error.message);
      throw error;
    }
    return { source: async () => mintLocalToken(keys, { serviceAccount: account.name, ttlMs: 3_600_000, now: new Date() }), describe: `tokens minted with the gateway key in ${env.stateDir}` };
  }
  return { source: () => readSecretFile(env.tokenFile, 'the token file'), describe: `token file ${env.tokenFile}` };
}

export async function mcpRun(command: string[], opts: Opts): Promise<void> {
  if (command.length === 0) throw new CliError('the MCP server command goes after --: portcullis mcp run --service-account NAME -- node server.js', 2);
  const env = await clientEnvironment({ ...opts, url: opts.gateway });
  const server = str(opts.name) ?? env.account.name;
  if (!SERVER_NAME.test(server)) throw new CliError(`--name: "${server}" is not a server name (letters, digits, _ . -; at most 64)`, 2);
  const log = (line: string): void => void process.stderr.write(`portcullis mcp: ${line}\n`);
  const { source: token, describe } = await tokenSource(opts, env);
  for (const warning of env.warnings) if (!warning.startsWith('the token file') || describe.startsWith('token file')) log(`warning: ${warning}`);

  const gatewayUrl = new URL(env.vars.AWS_ENDPOINT_URL!);
  const caFile = env.vars.AWS_CA_BUNDLE;
  const ca = caFile === undefined ? undefined : await readFile(caFile, 'utf8');
  const exchange = async (): Promise<GatewayCredentials> => {
    const form = new URLSearchParams({
      Action: 'AssumeRoleWithWebIdentity',
      Version: '2011-06-15',
      RoleArn: env.role,
      RoleSessionName: env.account.name,
      WebIdentityToken: await token(),
    });
    let answer: { status: number; body: string };
    try {
      answer = await postForm({ url: gatewayUrl, ca }, form, 30_000);
    } catch (error) {
      throw new CliError(`cannot reach the gateway at ${gatewayUrl.origin}: ${(error as Error).message}`);
    }
    const c = parseStsAnswer(answer.status, answer.body);
    return { accessKeyId: c.AccessKeyId, secretAccessKey: c.SecretAccessKey, sessionToken: c.SessionToken, expiration: new Date(c.Expiration) };
  };
  const credentials = new CredentialSource({ exchange, log });
  await credentials.get();
  const endpoint = await serveCredentials(credentials, log);

  const child = spawn(command[0]!, command.slice(1), {
    stdio: ['pipe', 'pipe', 'inherit'],
    env: serverEnvironment(process.env, env.vars, endpoint.env),
  });
  const spawned = new Promise<void>((resolveSpawn, reject) => {
    child.once('spawn', () => resolveSpawn());
    child.once('error', (error) => reject(new CliError(`cannot start ${command[0]}: ${(error as NodeJS.ErrnoException).code ?? error.message}`)));
  });
  const exited = new Promise<number>((resolveExit) => child.once('close', (code, signal) => resolveExit(code ?? (signal ? 128 : 1))));
  await spawned;
  log(`started ${command.map(shellQuote).join(' ')} as ${env.account.name} through ${gatewayUrl.origin} (${describe})`);

  const relay = new McpRelay({
    server,
    gateway: signedGateway({ url: gatewayUrl.origin, ca, region: env.vars.AWS_REGION ?? 'us-east-1', credentials }),
    clientIn: process.stdin,
    clientOut: process.stdout,
    serverIn: child.stdin,
    serverOut: child.stdout,
    log,
    newToolCallId: () => `tc-${randomBytes(6).toString('base64url')}`,
  });
  child.stdin.on('error', () => undefined);
  relay.start();
  const forward = (signal: NodeJS.Signals) => () => void child.kill(signal);
  process.once('SIGINT', forward('SIGINT'));
  process.once('SIGTERM', forward('SIGTERM'));
  const code = await exited;
  await relay.serverExited();
  await endpoint.close();
  process.stdin.destroy();
  if (code !== 0) throw new CliError(`the MCP server exited with code ${code}`, 1);
}

/** The `mcpServers` entry that runs a server through `portcullis mcp run` (`portcullis env --format mcp --wrap`). */
export function wrappedEntry(env: ClientEnvironment, name: string, command: string[], tokenFile?: string, node = process.execPath, bin = portcullisBin()): string {
  const args = [
    bin,
    'mcp',
    'run',
    '--service-account',
    env.account.name,
    '--name',
    name,
    '--policy',
    env.policyFile,
    '--state-dir',
    env.stateDir,
    ...(env.explicitUrl === undefined ? [] : ['--gateway', env.explicitUrl]),
    ...(tokenFile === undefined ? [] : ['--token-file', env.tokenFile]),
    '--',
    ...(command.length > 0 ? command : ['<server command>', '<args…>']),
  ];
  return JSON.stringify({ [name]: { command: node, args } }, null, 2);
}
