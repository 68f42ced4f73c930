// The only place that prints for humans. Commands throw CliError for expected failures; main() turns
// anything thrown into one line and an exit code (0 ok, 1 failure, 2 usage).

import { parseDurationMs } from '../lib/duration.js';

/** 0 ok, 1 failure, 2 usage; `verify` adds 3 open, 4 truncated, 5 tampered (src/recording/verify.ts). */
export type ExitCode = 0 | 1 | 2 | 3 | 4 | 5;

export class CliError extends Error {
  readonly exitCode: ExitCode;
  constructor(message: string, exitCode: ExitCode = 1) {
    super(message);
    this.name = 'CliError';
    this.exitCode = exitCode;
  }
}

export function notBuilt(command: string): never {
  throw new CliError(`${command}: not built yet in this version`, 1);
}

export function printLine(text: string): void {
  process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

export function requireDurationMs(text: string, flag: string): number {
  const ms = parseDurationMs(text);
  if (ms === undefined || ms <= 0) throw new CliError(`${flag}: "${text}" is not a duration (use 30s, 10m, 1h or 1d)`, 2);
  return ms;
}
