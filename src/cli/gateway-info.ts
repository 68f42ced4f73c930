// What the CLI learns from the gateway running from a state dir (its gateway.json): its URL and CA for the client
// set-up commands, and its policy file, which `env`, `token`, `token fetch` and `credentials` read when no --policy
// is given — on the bastion, the policy that decides is the running gateway's, wherever it was started from.

import { readFile, stat } from 'node:fs/promises';
import { formatPolicyError, loadPolicyFile, type LoadedPolicy } from '../config/load.js';
import { gatewayInfoPath, resolveStateDir, type GatewayInfo } from '../state.js';
import { CliError } from './output.js';

/** The policy file name tried last, in the working directory. */
export const DEFAULT_POLICY_FILE = 'policy.yaml';

type Opts = Record<string, unknown>;

function str(value: unknown): string | undefined {
  return typeof value === 'string' && value.length > 0 ? value : undefined;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: alive, owned by someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The running gateway's gateway.json, or a one-line reason why there is none. */
export async function readRunningGateway(stateDir: string): Promise<GatewayInfo> {
  const file = gatewayInfoPath(stateDir);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    throw new CliError(`no running gateway found in ${stateDir} (start one with portcullis start, or pass --url)`);
  }
  let info: GatewayInfo;
  try {
    info = JSON.parse(text) as GatewayInfo;
  } catch {
    throw new CliError(`${file} is not JSON (a gateway writes it when it starts; pass --url to name the gateway yourself)`);
  }
  if (typeof info?.url !== 'string' || typeof info.caFile !== 'string') {
    throw new CliError(`${file} has no url or caFile (pass --url to name the gateway yourself)`);
  }
  if (typeof info.pid === 'number' && !processAlive(info.pid)) {
    throw new CliError(`the gateway recorded in ${file} (pid ${info.pid}) is not running (start one, or pass --url)`);
  }
  return info;
}

/**
 * The policy file a command reads: `--policy`; else the running gateway's (found through the state dir); else
 * ./policy.yaml when there is one. Undefined when none of these exists.
 */
export async function policyFileFor(opts: Opts): Promise<string | undefined> {
  const given = str(opts.policy);
  if (given !== undefined) return given;
  const running = await readRunningGateway(resolveStateDir(str(opts.stateDir))).catch(() => undefined);
  if (typeof running?.policyFile === 'string') return running.policyFile;
  const here = await stat(DEFAULT_POLICY_FILE).then(
    () => true,
    () => false,
  );
  return here ? DEFAULT_POLICY_FILE : undefined;
}

/** Loads the policy `policyFileFor` names, or fails with one line saying where it looked. */
export async function loadCliPolicy(opts: Opts): Promise<LoadedPolicy> {
  const file = await policyFileFor(opts);
  if (file === undefined) {
    const stateDir = resolveStateDir(str(opts.stateDir));
    throw new CliError(`--policy: no policy file given, no running gateway in ${stateDir}, and no ${DEFAULT_POLICY_FILE} here; pass --policy FILE`, 2);
  }
  const loaded = await loadPolicyFile(file);
  if (!loaded.ok) {
    const more = loaded.errors.length > 1 ? ` (and ${loaded.errors.length - 1} more; run portcullis policy check ${file})` : '';
    throw new CliError(`--policy: ${formatPolicyError(loaded.errors[0]!)}${more}`);
  }
  return loaded.policy;
}
