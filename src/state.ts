// Where the gateway keeps its state: keys, certificates, recordings, the index and the admin socket.

import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

export function resolveStateDir(option?: string): string {
  if (option) return resolve(option);
  if (process.env.PORTCULLIS_STATE_DIR) return resolve(process.env.PORTCULLIS_STATE_DIR);
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
