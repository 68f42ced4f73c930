// Can another user on this host read a file? `env` prints paths (the CA bundle) for clients that often run as
// another user; the state dir is 0700, so a path inside it works only for the gateway's own user.

import { statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

/** The first part of the path that keeps other users out (a directory they cannot enter, a file they cannot read), with its mode. */
export function blockedForOthers(path: string): { path: string; mode: number } | undefined {
  const file = resolve(path);
  const chain: string[] = [];
  for (let p = file; ; p = dirname(p)) {
    chain.unshift(p);
    if (dirname(p) === p) break;
  }
  for (const p of chain) {
    let mode: number;
    try {
      mode = statSync(p).mode;
    } catch {
      return undefined;
    }
    const need = p === file ? 0o004 : 0o001;
    if ((mode & need) === 0) return { path: p, mode: mode & 0o777 };
  }
  return undefined;
}

/** One warning line for `env` when a path it prints is closed to other users, or undefined. */
export function unreadableWarning(name: string, path: string | undefined): string | undefined {
  if (path === undefined) return undefined;
  const blocked = blockedForOthers(path);
  if (!blocked) return undefined;
  const what = blocked.path === resolve(path) ? '' : ` (${blocked.path} is ${blocked.mode.toString(8).padStart(4, '0')})`;
  return `${name}=${path} is not readable by other users${what}; for clients running as another user, copy it out: portcullis ca export -o FILE`;
}
