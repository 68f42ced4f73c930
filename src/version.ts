// The gateway's version, read from package.json (one directory up from both src/ and dist/).
// A module of its own so commands can name it without importing the CLI entry point that loads them.

import { readFileSync } from 'node:fs';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };

export const VERSION = pkg.version;
