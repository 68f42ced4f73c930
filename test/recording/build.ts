// The crash and CLI tests run the compiled gateway in child processes. `npm test` builds dist/ first; when run
// alone, build it here if it is missing or older than the sources these tests exercise.

import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

export const ROOT = join(import.meta.dirname, '..', '..');

function newestSource(): number {
  const dirs = ['src/recording', 'src/cli'];
  let newest = 0;
  for (const dir of dirs) {
    for (const name of readdirSync(join(ROOT, dir))) if (name.endsWith('.ts')) newest = Math.max(newest, statSync(join(ROOT, dir, name)).mtimeMs);
  }
  return newest;
}

export function ensureBuilt(): void {
  const outputs = ['dist/recording/recorder.js', 'dist/cli/recording.js', 'dist/cli/main.js'].map((p) => join(ROOT, p));
  const fresh = outputs.every((p) => existsSync(p) && statSync(p).mtimeMs >= newestSource());
  if (fresh) return;
  try {
    execFileSync(join(ROOT, 'node_modules', '.bin', 'tsc'), ['-p', ROOT], { stdio: 'ignore' });
  } catch {
    // Type errors elsewhere in the tree do not stop tsc from emitting; the check below is what matters.
  }
  for (const p of outputs) if (!existsSync(p)) throw new Error(`build did not produce ${p}`);
}
