// CLI conventions (issue #21): examples in every --help, one `--output json|text` wherever `--json` exists (the old
// flag kept), and shell completion generated from the command tree. Processes run the built CLI (dist/).
import { execFile, spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildProgram } from '../../src/cli/main.js';
import { allCommands, commandPath, EXAMPLES } from '../../src/cli/help.js';
import { ensureBuilt } from '../recording/build.js';

const BIN = fileURLToPath(new URL('../../bin/portcullis.js', import.meta.url));
const EXAMPLE = fileURLToPath(new URL('../../policy.example.yaml', import.meta.url));

function run(args: string[], cwd = process.cwd()): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { cwd, timeout: 30_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

let dir: string;
beforeAll(async () => {
  ensureBuilt();
  dir = await mkdtemp(join(tmpdir(), 'portcullis-conv-'));
}, 120_000);
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('help', () => {
  it('every command has examples', () => {
    const paths = allCommands(buildProgram()).map(commandPath);
    expect(paths.filter((p) => !EXAMPLES[p])).toEqual([]);
  });

  it.each([['sessions'], ['policy', 'check'], ['ca', 'export'], ['completion']])('`%s --help` ends with examples', async (...args) => {
    const out = await run([...args, '--help']);
    expect(out.code).toBe(0);
    expect(out.stdout).toMatch(/\nExamples:\n {2}\$ portcullis /);
  });
});

describe('--output json|text', () => {
  it('is on every command that has --json, and means the same', async () => {
    for (const command of allCommands(buildProgram())) {
      const longs = command.options.map((o) => o.long);
      if (longs.includes('--json')) expect(longs, commandPath(command)).toContain('--output');
    }
    const asJson = await run(['policy', 'check', EXAMPLE, '--json']);
    const asOutput = await run(['policy', 'check', EXAMPLE, '--output', 'json']);
    expect(asOutput.code).toBe(asJson.code);
    expect(JSON.parse(asOutput.stdout)).toEqual(JSON.parse(asJson.stdout));
    const text = await run(['policy', 'check', EXAMPLE, '--output', 'text']);
    expect(() => JSON.parse(text.stdout)).toThrow();
  });

  it('refuses a bad value and a contradiction (exit 2, one line)', async () => {
    const bad = await run(['policy', 'check', EXAMPLE, '--output', 'yaml']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("argument 'yaml' is invalid. Allowed choices are text, json.");
    const both = await run(['policy', 'check', EXAMPLE, '--json', '--output', 'text']);
    expect(both.code).toBe(2);
    expect(both.stderr).toBe('portcullis: --json and --output text disagree; give one of them\n');
  });
});

describe('completion', () => {
  async function complete(line: string[]): Promise<string[]> {
    const script = join(dir, 'portcullis.bash');
    await writeFile(script, (await run(['completion', 'bash'])).stdout);
    const words = line.map((w) => `'${w}'`).join(' ');
    const probe = `source ${script}; COMP_WORDS=(${words}); COMP_CWORD=${line.length - 1}; _portcullis; printf '%s\\n' "\${COMPREPLY[@]}"`;
    const out = spawnSync('bash', ['-c', probe], { encoding: 'utf8' });
    expect(out.stderr).toBe('');
    return out.stdout.split('\n').filter(Boolean);
  }

  it('bash completes commands, subcommands, flags and flag choices', async () => {
    expect(await complete(['portcullis', 'po'])).toEqual(['policy']);
    expect(await complete(['portcullis', 'policy', ''])).toEqual(expect.arrayContaining(['check', 'explain']));
    expect(await complete(['portcullis', 'policy', 'check', '--s'])).toEqual(['--strict']);
    expect(await complete(['portcullis', 'env', '--format', ''])).toEqual(['shell', 'json', 'mcp', 'aws-config']);
    expect(await complete(['portcullis', 'sessions', '--output', ''])).toEqual(['text', 'json']);
  });

  it('zsh wraps the bash script; fish gets its own; an unknown shell is a usage error', async () => {
    const zsh = await run(['completion', 'zsh']);
    expect(zsh.stdout.split('\n').slice(0, 3).join('\n')).toMatch(/^#compdef portcullis\n.*\nautoload -U \+X bashcompinit && bashcompinit$/);
    expect(spawnSync('bash', ['-n'], { input: zsh.stdout.split('\n').slice(3).join('\n') }).status).toBe(0);
    const fish = await run(['completion', 'fish']);
    expect(fish.stdout).toContain("complete -c portcullis -n '__fish_use_subcommand' -a 'policy'");
    expect(fish.stdout).toContain("complete -c portcullis -n '__fish_seen_subcommand_from env' -l format -x -a 'shell json mcp aws-config'");
    const bad = await run(['completion', 'tcsh']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toBe('portcullis: completion: "tcsh" is not one of bash, zsh, fish\n');
  });
});
