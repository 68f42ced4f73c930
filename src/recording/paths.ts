// Where recordings, the index and the gateway keys live inside the state directory.

import { join } from 'node:path';

export { resolveStateDir } from '../state.js';

export function sessionsDir(stateDir: string): string {
  return join(stateDir, 'sessions');
}

export function indexPath(stateDir: string): string {
  return join(stateDir, 'db.json');
}

export function publicKeyPath(stateDir: string): string {
  return join(stateDir, 'keys', 'signing-key.pub.json');
}

// Session ids become file names, so only a conservative alphabet is accepted (no separators, no leading dot).
const SESSION_ID = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$/;

export function isValidSessionId(id: string): boolean {
  return SESSION_ID.test(id);
}

/** `YYYY-MM-DD` (UTC) of the session start. */
export function sessionDay(startIso: string): string {
  const date = new Date(startIso);
  if (Number.isNaN(date.getTime())) throw new Error(`invalid session start time "${startIso}"`);
  return date.toISOString().slice(0, 10);
}

/** Path relative to the state dir, as stored in the index. */
export function sessionFileRelative(sessionId: string, startIso: string): string {
  return join('sessions', sessionDay(startIso), `${sessionId}.jsonl`);
}
