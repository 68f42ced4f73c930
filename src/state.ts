// Where the gateway keeps its state: keys, certificates, recordings, the index and the admin socket.

import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

/** `--state-dir`, else `$PORTCULLIS_STATE_DIR`, else `~/.portcullis`; always absolute. */
export function resolveStateDir(option?: string, env: NodeJS.ProcessEnv = process.env): string {
  if (option) return resolve(option);
  if (env.PORTCULLIS_STATE_DIR) return resolve(env.PORTCULLIS_STATE_DIR);
  return join(homedir(), '.portcullis');
}

/** Written by a running gateway so other commands (`env`, `credentials`) can find it. */
export function gatewayInfoPath(stateDir: string): string {
  return join(stateDir, 'gateway.json');
}

export function adminSocketPath(stateDir: string): string {
  return join(stateDir, 'admin.sock');
}

export interface GatewayInfo {
  url: string;
  pid: number;
  caFile: string;
  policyFile: string;
  startedAt: string;
  version: string;
}
