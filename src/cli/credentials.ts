// Handlers for `portcullis credentials`, `portcullis token` and `portcullis token fetch`.
//  - credentials: credential_process JSON from the gateway's STS (AssumeRoleWithWebIdentity), with the
//    identity token from a file or fetched with the client-credentials grant. Runs on client hosts: with a token
//    file it needs only the gateway's URL and CA, the service account, the token and (optionally) the role — never
//    the policy file (the gateway picks the account's role when it has just one).
//  - token: a gateway-signed identity token for a service account with `issuer: local`.
//  - token fetch: an IdP token written atomically, optionally kept fresh until SIGINT/SIGTERM.

import { readFile, stat } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import { request as httpRequest } from 'node:http';
import { resolve } from 'node:path';
import { XMLParser } from 'fast-xml-parser';
import type { LoadedPolicy } from '../config/load.js';
import type { IssuerConfig, ServiceAccountConfig } from '../identity/config.js';
import { mintLocalToken } from '../identity/local-token.js';
import { KeyFileError, loadOrCreateGatewayKeys } from '../identity/keys.js';
import {
  fetchClientCredentialsToken,
  formatMs,
  refreshDelayMs,
  TokenRefresher,
  type FetchedToken,
} from '../identity/token-fetch.js';
import { writeFileAtomic } from '../lib/atomic-write.js';
import { caFilePath } from '../proxy/tls.js';
import { resolveStateDir } from '../state.js';
import { loadCliPolicy, readRunningGateway } from './gateway-info.js';
import { CliError, requireDurationMs } from './output.js';

type Opts = Record<string, unknown>;

/** Longest lifetime `portcullis token` mints: a long-lived token is a static key by another name. */
export const MAX_LOCAL_TOKEN_TTL_MS = 7 * 86_400_000;

export interface CredentialProcessOutput {
  Version: 1;
  AccessKeyId: string;
  SecretAccessKey: string;
  SessionToken: string;
  Expiration: string;
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' && value.length > 0 ? value : undefined;
}

function findAccount(policy: LoadedPolicy, name: string | undefined): ServiceAccountConfig {
  if (name === undefined) throw new CliError('--service-account NAME is required', 2);
  const account = policy.config.serviceAccounts.find((sa) => sa.name === name);
  if (!account) {
    const known = policy.config.serviceAccounts.map((sa) => sa.name).join(', ') || 'none';
    throw new CliError(`--service-account: no service account "${name}" in ${policy.file} (known: ${known})`);
  }
  return account;
}

export function findIssuer(policy: LoadedPolicy, name: string, flag: string): IssuerConfig {
  const issuer = policy.config.issuers.find((i) => i.name === name);
  if (!issuer) {
    const known = policy.config.issuers.map((i) => i.name).join(', ') || 'none';
    throw new CliError(`${flag}: no issuer "${name}" in ${policy.file} (known: ${known})`);
  }
  return issuer;
}

export async function readSecretFile(file: string, flag: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new CliError(`${flag}: cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  const value = text.trim();
  if (value.length === 0) throw new CliError(`${flag}: ${file} is empty`);
  return value;
}

export async function fetchIdpToken(issuer: IssuerConfig, clientId: string, secretFile: string): Promise<FetchedToken> {
  const clientSecret = await readSecretFile(secretFile, '--client-secret-file');
  try {
    return await fetchClientCredentialsToken({ issuer: issuer.issuer, clientId, clientSecret, audience: issuer.audience[0] });
  } catch (error) {
    throw new CliError(`issuer ${issuer.name}: ${(error as Error).message}`);
  }
}

// ---------------------------------------------------------------------------------------------
// credentials

export interface GatewayTarget {
  url: URL;
  ca?: string;
}

/** The gateway to ask: --url (else the running gateway's), trusting --ca (else the state dir's CA, else the system's). */
export async function gatewayTarget(opts: Opts, stateDir: string): Promise<GatewayTarget> {
  let url = str(opts.url);
  let caFile = str(opts.ca);
  if (url === undefined) {
    const info = await readRunningGateway(stateDir);
    url = info.url;
    caFile ??= info.caFile;
  } else if (caFile === undefined) {
    // With --url, trust the CA of this state dir when there is one, else the system's roots.
    const candidate = caFilePath(stateDir);
    caFile = await stat(candidate).then(
      () => candidate,
      () => undefined,
    );
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new CliError(`--url: "${url}" is not a URL`, 2);
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') throw new CliError(`--url: "${url}" must be https://`, 2);
  const ca = caFile === undefined ? undefined : await readFile(caFile, 'utf8').catch((error: NodeJS.ErrnoException) => {
    throw new CliError(`${str(opts.ca) === undefined ? '' : '--ca: '}cannot read the gateway CA ${caFile}: ${error.code ?? error.message}`);
  });
  return { url: parsed, ca };
}

export function postForm(target: GatewayTarget, form: URLSearchParams, timeoutMs: number): Promise<{ status: number; body: string }> {
  const body = form.toString();
  const send = target.url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolvePromise, reject) => {
    const req = send(
      target.url,
      {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8', 'content-length': Buffer.byteLength(body), 'user-agent': 'portcullis-credentials' },
        ...(target.ca === undefined ? {} : { ca: target.ca }),
        timeout: timeoutMs,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolvePromise({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}

const xml = new XMLParser({ ignoreAttributes: true, parseTagValue: false });

/** Parses the gateway's AssumeRoleWithWebIdentity answer into credential_process JSON (or a one-line error). */
export function parseStsAnswer(status: number, body: string): CredentialProcessOutput {
  let doc: Record<string, any>;
  try {
    doc = xml.parse(body) as Record<string, any>;
  } catch {
    throw new CliError(`the gateway answered HTTP ${status} with a body that is not XML`);
  }
  const error = doc?.ErrorResponse?.Error ?? doc?.Error;
  if (status !== 200 || error) {
    const code = str(error?.Code) ?? `HTTP ${status}`;
    const hint = code === 'MissingParameter' && /RoleArn/.test(str(error?.Message) ?? '') ? ' (pass --role ARN)' : '';
    throw new CliError(`the gateway refused the token: ${code}: ${str(error?.Message) ?? 'no message'}${hint}`);
  }
  const c = doc?.AssumeRoleWithWebIdentityResponse?.AssumeRoleWithWebIdentityResult?.Credentials;
  const fields = ['AccessKeyId', 'SecretAccessKey', 'SessionToken', 'Expiration'] as const;
  for (const field of fields) {
    if (str(c?.[field]) === undefined) throw new CliError(`the gateway's answer has no Credentials.${field}`);
  }
  return { Version: 1, AccessKeyId: c.AccessKeyId, SecretAccessKey: c.SecretAccessKey, SessionToken: c.SessionToken, Expiration: c.Expiration };
}

const ROLE_ARN = /^arn:aws[a-z-]*:iam::\d{12}:role\/\S+$/;

export async function credentials(opts: Opts): Promise<void> {
  const stateDir = resolveStateDir(str(opts.stateDir));
  const name = str(opts.serviceAccount);
  if (name === undefined) throw new CliError('--service-account NAME is required', 2);
  // Without --role the form names none and the gateway answers with the account's only role (or says to choose).
  const role = str(opts.role);
  if (role !== undefined && !ROLE_ARN.test(role)) throw new CliError(`--role: "${role}" is not an IAM role ARN (arn:aws:iam::123456789012:role/NAME)`, 2);
  const tokenFile = str(opts.tokenFile);
  const clientId = str(opts.clientId);
  const secretFile = str(opts.clientSecretFile);
  if (tokenFile !== undefined && (clientId !== undefined || secretFile !== undefined)) {
    throw new CliError('give either --token-file or --client-id with --client-secret-file, not both', 2);
  }
  let token: string;
  if (tokenFile !== undefined) {
    token = await readSecretFile(tokenFile, '--token-file');
  } else if (clientId !== undefined && secretFile !== undefined) {
    // The IdP to ask is in the policy: this path needs it (--policy, or the running gateway's on its host).
    const policy = await loadCliPolicy(opts);
    const account = findAccount(policy, name);
    if (account.issuer === 'local') {
      throw new CliError(`service account "${account.name}" uses issuer local: there is no IdP to ask; use --token-file with a token from portcullis token`, 2);
    }
    token = (await fetchIdpToken(findIssuer(policy, account.issuer, 'service account issuer'), clientId, secretFile)).accessToken;
  } else {
    throw new CliError('an identity token is needed: --token-file FILE, or --client-id ID with --client-secret-file FILE', 2);
  }
  const target = await gatewayTarget(opts, stateDir);
  const form = new URLSearchParams({
    Action: 'AssumeRoleWithWebIdentity',
    Version: '2011-06-15',
    ...(role === undefined ? {} : { RoleArn: role }),
    RoleSessionName: `portcullis-${name}`.slice(0, 64).replace(/[^\w+=,.@-]/g, '-'),
    WebIdentityToken: token,
  });
  let answer: { status: number; body: string };
  try {
    answer = await postForm(target, form, 30_000);
  } catch (error) {
    throw new CliError(`cannot reach the gateway at ${target.url.origin}: ${(error as Error).message}`);
  }
  process.stdout.write(`${JSON.stringify(parseStsAnswer(answer.status, answer.body))}\n`);
}

// ---------------------------------------------------------------------------------------------
// token

export async function token(opts: Opts): Promise<void> {
  const policy = await loadCliPolicy(opts);
  const account = findAccount(policy, str(opts.serviceAccount));
  if (account.issuer !== 'local') {
    throw new CliError(
      `service account "${account.name}" uses issuer ${account.issuer}, not local: its tokens come from that IdP (portcullis token fetch --issuer ${account.issuer} ...); portcullis token mints only for issuer: local`,
    );
  }
  const ttlMs = requireDurationMs(String(opts.ttl ?? '1h'), '--ttl');
  if (ttlMs > MAX_LOCAL_TOKEN_TTL_MS) throw new CliError(`--ttl: ${String(opts.ttl)} is longer than the 7d maximum for local tokens`, 2);
  const stateDir = resolveStateDir(str(opts.stateDir));
  let keys;
  try {
    keys = await loadOrCreateGatewayKeys(stateDir);
  } catch (error) {
    if (error instanceof KeyFileError) throw new CliError(error.message);
    throw error;
  }
  process.stdout.write(`${mintLocalToken(keys, { serviceAccount: account.name, ttlMs, now: new Date() })}\n`);
}

// ---------------------------------------------------------------------------------------------
// token fetch

export async function tokenFetch(opts: Opts): Promise<void> {
  const policy = await loadCliPolicy(opts);
  const issuerName = str(opts.issuer);
  if (issuerName === undefined) throw new CliError('--issuer NAME is required', 2);
  if (issuerName === 'local') throw new CliError('--issuer: local tokens are minted by the gateway: use portcullis token --service-account NAME', 2);
  const issuer = findIssuer(policy, issuerName, '--issuer');
  const clientId = str(opts.clientId);
  const secretFile = str(opts.clientSecretFile);
  const out = str(opts.out);
  if (clientId === undefined || secretFile === undefined || out === undefined) {
    throw new CliError('--client-id, --client-secret-file and --out are required', 2);
  }
  const outFile = resolve(out);
  const log = (line: string): void => {
    process.stderr.write(`portcullis: ${new Date().toISOString()} ${line}\n`);
  };
  const write = async (fetched: FetchedToken): Promise<void> => {
    try {
      await writeFileAtomic(outFile, `${fetched.accessToken}\n`);
    } catch (error) {
      throw new CliError(`--out: cannot write ${outFile}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
  };
  // The secret file is read on every fetch, so rotating it needs no restart.
  const fetchToken = async (): Promise<FetchedToken> => fetchIdpToken(issuer, clientId, secretFile);

  if (!opts.refresh) {
    const fetched = await fetchToken();
    await write(fetched);
    log(`token for ${clientId} from ${issuer.name} written to ${outFile}; expires ${fetched.expiresAt.toISOString()}`);
    return;
  }
  const refresher = new TokenRefresher({ fetchToken, write, log });
  // Handlers first: a signal during the first fetch must also stop cleanly.
  const stop = (signal: string): void => {
    log(`${signal}: stopping; ${outFile} keeps the last token`);
    refresher.stop();
  };
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));
  const first = await refresher.start();
  log(
    `token for ${clientId} from ${issuer.name} written to ${outFile}; expires ${first.expiresAt.toISOString()}, next refresh in ${formatMs(refreshDelayMs(first))} (Ctrl-C to stop)`,
  );
  await refresher.done;
}
