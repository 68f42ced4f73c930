// `portcullis init`: write policy.yaml from the documented example, create the state dir (0700), the
// gateway CA and the signing keys, then print what to do next and one client's set-up. Never overwrites
// a policy file; keys and CA already in the state dir are kept (the gateway would reuse them anyway).

import { constants } from 'node:fs';
import { access, chmod, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { loadOrCreateGatewayKeys, keyPaths } from '../identity/keys.js';
import { caFilePath, loadOrCreateCa } from '../proxy/tls.js';
import { resolveStateDir } from '../state.js';
import { PLACEHOLDER } from '../config/validate.js';
import { CliError, printLine } from './output.js';

/** Where `portcullis start` listens by default, so the URL clients will use once it runs. */
export const DEFAULT_GATEWAY_URL = 'https://127.0.0.1:8443';

const EXAMPLE_URL = new URL('../../policy.example.yaml', import.meta.url);

async function exists(path: string): Promise<boolean> {
  try {
    await access(path, constants.F_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * The example's values that say which identity provider (tenant, org, cluster, audience) to trust, replaced by the
 * placeholder: a policy fresh from `init` must trust nobody's tokens, and fails `policy check` (and `start`) at
 * each of these lines until the operator puts in their own. `[example value, placeholder]`.
 */
export const INIT_PLACEHOLDERS: readonly (readonly [string, string])[] = [
  ['org: dev-123456.okta.com', `org: ${PLACEHOLDER}.okta.com`],
  ['tenant: 72f988bf-86f1-41af-91ab-2d7cd011db47', `tenant: ${PLACEHOLDER}`],
  ['audience: https://portcullis.acme.example', `audience: ${PLACEHOLDER}`],
  ['audience: sts.amazonaws.com     # what aws-actions', `audience: ${PLACEHOLDER}               # sts.amazonaws.com is what aws-actions`],
  ['issuer: https://oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE', `issuer: https://oidc.eks.eu-west-1.amazonaws.com/id/${PLACEHOLDER}`],
  ['trust_domain: acme.internal', `trust_domain: ${PLACEHOLDER}`],
];

/** The example with a header naming this host and its issuers' identifying values replaced by placeholders. */
export function initialPolicy(example: string, host: string, now: Date): string {
  const header = [
    `# portcullis policy for the gateway on ${host}, written by \`portcullis init\` on ${now.toISOString().slice(0, 10)}.`,
    '# It starts as a copy of policy.example.yaml: replace the issuer, service accounts and roles with yours.',
    `# Every ${PLACEHOLDER} marks a value only you know (your IdP's org, tenant, cluster, audience): until each is`,
    '# replaced, `portcullis policy check` lists them and `portcullis start` refuses the file. Delete the issuers',
    '# (and their service accounts) you do not use.',
    '#',
  ].join('\n');
  let body = example;
  for (const [from, to] of INIT_PLACEHOLDERS) body = body.replace(from, to);
  return `${header}\n${body}`;
}

function shellPath(path: string): string {
  const rel = relative(process.cwd(), path);
  const shown = rel === '' ? '.' : rel.startsWith('..') ? path : rel;
  return /^[\w@%+=:,./-]+$/.test(shown) ? shown : `'${shown.replace(/'/g, `'\\''`)}'`;
}

export async function init(opts: Record<string, unknown>): Promise<void> {
  const dir = resolve(String(opts.dir ?? '.'));
  const policyFile = join(dir, 'policy.yaml');
  const stateDir = resolveStateDir(opts.stateDir as string | undefined);

  let example: string;
  try {
    example = await readFile(EXAMPLE_URL, 'utf8');
  } catch (error) {
    throw new CliError(`cannot read the policy example shipped with portcullis (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}); reinstall portcullis`);
  }
  if (await exists(policyFile)) {
    throw new CliError(`${policyFile} already exists; init never overwrites a policy (move it away, or pass --dir DIR to write elsewhere)`);
  }
  try {
    const info = await stat(dir);
    if (!info.isDirectory()) throw new CliError(`--dir: ${dir} is not a directory`, 2);
  } catch (error) {
    if (error instanceof CliError) throw error;
    await mkdir(dir, { recursive: true });
  }

  const stateExisted = await exists(stateDir);
  if (stateExisted && !(await stat(stateDir)).isDirectory()) throw new CliError(`--state-dir: ${stateDir} is not a directory`, 2);
  try {
    await mkdir(stateDir, { recursive: true, mode: 0o700 });
    // mkdir's mode is filtered by the umask; a state dir we create is set exactly. An existing one is the
    // operator's: we warn rather than change it.
    if (!stateExisted) await chmod(stateDir, 0o700);
  } catch (error) {
    throw new CliError(`--state-dir: cannot create ${stateDir}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  const stateInfo = await stat(stateDir);
  const keysExisted = await exists(keyPaths(stateDir).signingKey);
  const caExisted = await exists(caFilePath(stateDir));
  let kid: string;
  try {
    kid = (await loadOrCreateGatewayKeys(stateDir)).kid;
    await loadOrCreateCa(stateDir);
  } catch (error) {
    throw new CliError(`${stateDir}: ${(error as Error).message}`);
  }

  // `wx`: if another init raced us since the check above, it wins and we stop here.
  try {
    await writeFile(policyFile, initialPolicy(example, hostname(), new Date()), { flag: 'wx', mode: 0o644 });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') throw new CliError(`${policyFile} already exists; init never overwrites a policy`);
    throw new CliError(`cannot write ${policyFile}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }

  const policyArg = shellPath(policyFile);
  const stateArg = opts.stateDir === undefined ? '' : ` --state-dir ${shellPath(stateDir)}`;
  const host = hostname();
  printLine(`wrote ${policyFile}`);
  printLine(`${stateExisted ? 'using' : 'created'} state dir ${stateDir}${!stateExisted || (stateInfo.mode & 0o077) === 0 ? ' (mode 0700)' : ` — warning: its mode is ${(stateInfo.mode & 0o777).toString(8)}; chmod 700 it`}`);
  printLine(`${keysExisted ? 'kept' : 'created'} the gateway signing key (kid ${kid}) in ${keyPaths(stateDir).dir}`);
  printLine(`${caExisted ? 'kept' : 'created'} the gateway CA: ${caFilePath(stateDir)} (clients trust this file)`);
  printLine('');
  printLine('Next steps:');
  printLine(`  1. Edit ${policyArg}: your IdP issuer, service accounts and the IAM roles they may assume. Every ${PLACEHOLDER}`);
  printLine('     marks a value only you know; `policy check` lists each one with its line until all are replaced:');
  printLine(`       portcullis policy check ${policyArg}`);
  printLine('  2. Start the gateway (dashboard on a terminal, JSON lines otherwise). It uses the AWS credentials of this');
  printLine('     host (env, profile, SSO or instance role) to assume the roles the policy names:');
  printLine(`       portcullis start --policy ${policyArg}${stateArg}`);
  printLine(`     For clients on other machines: --listen 0.0.0.0:8443 --public-host ${host} (and use https://${host}:8443).`);
  printLine(`  3. Point a client at it (once the policy checks clean and the gateway runs), e.g. for ${'`'}${(await readFirstAccount(policyFile)) ?? 'NAME'}${'`'}:`);
  printLine(`       portcullis env --service-account ${(await readFirstAccount(policyFile)) ?? 'NAME'} --policy ${policyArg}${stateArg} [--format json|mcp|aws-config]`);
  printLine(`     Clients trust the gateway CA: portcullis ca export -o gateway-ca.pem${stateArg} (a copy readable by their users).`);
}

/** The first service account's name, read without validating (the fresh policy fails until its placeholders are edited). */
async function readFirstAccount(policyFile: string): Promise<string | undefined> {
  const { parse } = await import('yaml');
  try {
    const doc = parse(await readFile(policyFile, 'utf8')) as { service_accounts?: { name?: unknown }[] } | null;
    const name = doc?.service_accounts?.[0]?.name;
    return typeof name === 'string' ? name : undefined;
  } catch {
    return undefined;
  }
}
