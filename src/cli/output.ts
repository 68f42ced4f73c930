// The only place that prints for humans. Commands throw CliError for expected failures; main() turns
// anything thrown into one line and an exit code (0 ok, 1 failure, 2 usage).

export type ExitCode = 0 | 1 | 2;

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

/** Parses `30s`, `10m`, `1h`, `1d` (and plain milliseconds `250ms`) into milliseconds. */
export function parseDurationMs(text: string): number | undefined {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(text.trim());
  if (!match) return undefined;
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[match[2] as 'ms' | 's' | 'm' | 'h' | 'd'];
  return Math.round(Number(match[1]) * unit);
}

export function requireDurationMs(text: string, flag: string): number {
  const ms = parseDurationMs(text);
  if (ms === undefined || ms <= 0) throw new CliError(`${flag}: "${text}" is not a duration (use 30s, 10m, 1h or 1d)`, 2);
  return ms;
}
