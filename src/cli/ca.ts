// `portcullis ca export`: the gateway CA certificate for clients to trust (AWS_CA_BUNDLE), as a copy other users can
// read. The state dir is 0700 (it holds keys), so pointing clients of other users into it cannot work.

import { chmod, readFile, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { caFilePath } from '../proxy/tls.js';
import { resolveStateDir } from '../state.js';
import { CliError } from './output.js';

export async function caExport(opts: Record<string, unknown>): Promise<void> {
  const stateDir = resolveStateDir(opts.stateDir as string | undefined);
  const source = caFilePath(stateDir);
  let pem: string;
  try {
    pem = await readFile(source, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new CliError(`no gateway CA in ${stateDir} (run \`portcullis init\` or start the gateway once; or pass --state-dir)`);
    throw new CliError(`cannot read ${source}: ${code ?? (error as Error).message}`);
  }
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new CliError(`${source} is not a PEM certificate`);
  const out = opts.output as string | undefined;
  if (out === undefined || out === '-') {
    process.stdout.write(pem.endsWith('\n') ? pem : `${pem}\n`);
    return;
  }
  const file = resolve(out);
  try {
    await writeFile(file, pem, { mode: 0o644 });
    // writeFile's mode is filtered by the umask and ignored for an existing file: set it exactly.
    await chmod(file, 0o644);
  } catch (error) {
    throw new CliError(`-o: cannot write ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  process.stderr.write(`wrote the gateway CA certificate to ${file} (mode 0644); clients: export AWS_CA_BUNDLE=${file}\n`);
}

