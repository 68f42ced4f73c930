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
import { clientEnvironment, formatShell } from './env.js';
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

/** The example with a header naming this host; the rules are the documented reference, to be edited. */
export function initialPolicy(example: string, host: string, now: Date): string {
  const header = [
    `# portcullis policy for the gateway on ${host}, written by \`portcullis init\` on ${now.toISOString().slice(0, 10)}.`,
    '# It starts as a copy of policy.example.yaml: replace the issuer, service accounts and roles with yours.',
    '#',
  ].join('\n');
  return `${header}\n${example}`;
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
  printLine(`  1. Edit ${policyArg}: your IdP issuer, service accounts and the IAM roles they may assume. Then check it:`);
  printLine(`       portcullis policy check ${policyArg}`);
  printLine('  2. Start the gateway (dashboard on a terminal, JSON lines otherwise). It uses the AWS credentials of this');
  printLine('     host (env, profile, SSO or instance role) to assume the roles the policy names:');
  printLine(`       portcullis start --policy ${policyArg}${stateArg}`);
  printLine(`     For clients on other machines: --listen 0.0.0.0:8443 --public-host ${host} (and use https://${host}:8443).`);
  printLine('  3. Point a client at it. For the policy\'s first service account:');

  const first = await readFirstAccount(policyFile);
  if (first === undefined) {
    printLine(`       portcullis env --service-account NAME --policy ${policyArg}${stateArg}`);
    return;
  }
  const environment = await clientEnvironment({ stateDir, policy: policyFile, serviceAccount: first, url: DEFAULT_GATEWAY_URL });
  printLine('');
  printLine(formatShell(environment));
  printLine('');
  printLine(`  (once the gateway runs: portcullis env --service-account ${first} --policy ${policyArg}${stateArg} [--format json|mcp|aws-config])`);
}

async function readFirstAccount(policyFile: string): Promise<string | undefined> {
  const { loadPolicyFile } = await import('../config/load.js');
  const loaded = await loadPolicyFile(policyFile);
  return loaded.ok ? loaded.policy.config.serviceAccounts[0]?.name : undefined;
}
