// `portcullis start`: the gateway in the foreground. Headless (or without a TTY) it prints one JSON
// event per line on stdout, the first being {"event":"listening",...}.

import { closeSync, openSync, statSync } from 'node:fs';
import { describeStop, EventBus, eventJson, type GatewayEvent, type StopCounts } from '../events.js';
import { formatDuration } from '../tui/format.js';
import { Gateway } from '../gateway.js';
import { resolveStateDir } from '../state.js';
import { parseByteSize } from '../lib/bytes.js';
import { availableThemes } from '../tui/theme.js';
import { VERSION } from '../version.js';
import { createHeadlessWriter } from './headless-log.js';
import { CliError } from './output.js';

export interface ListenAddress {
  host: string;
  port: number;
}

export function parseListen(text: string): ListenAddress {
  const match = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(text.trim());
  const port = match ? Number(match[3]) : NaN;
  if (!match || port > 65535) throw new CliError(`--listen: "${text}" is not HOST:PORT (e.g. 127.0.0.1:8443, 0.0.0.0:8443, 127.0.0.1:0)`, 2);
  return { host: (match[1] ?? match[2])!, port };
}

/** One JSON line per event; `event` carries the type so log pipelines can filter on it. */
export function headlessLine(event: GatewayEvent): string {
  // Events are stamped `{ at, type, … }`: the line is that JSON with `type` renamed `event` and moved first, made
  // from one stringify rather than two object copies and a stringify (several lines per call on the hot path).
  const json = eventJson(event);
  const typeJson = JSON.stringify(event.type);
  if (typeof event.at === 'string' && !('event' in event)) {
    const atJson = JSON.stringify(event.at);
    const head = `{"at":${atJson},"type":${typeJson}`;
    if (json.startsWith(head)) return `{"event":${typeJson},"at":${atJson}${json.slice(head.length)}`;
  }
  const { type, ...rest } = event;
  return JSON.stringify({ event: type, ...rest });
}

/** The first line is always `listening` (scripts wait for it); events from start-up follow it. */
function writeStdout(): (line: string) => void {
  // A log reader that goes away (`| head`) must not take the gateway down: stop writing, keep serving.
  let open = true;
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (open && error.code === 'EPIPE') process.stderr.write('portcullis: stdout closed; event lines are no longer written (the gateway keeps running)\n');
    open = false;
  });
  return (line) => {
    if (open) process.stdout.write(`${line}\n`);
  };
}

export function attachHeadlessLog(bus: EventBus, write: (line: string) => void = writeStdout()): () => void {
  let early: GatewayEvent[] | undefined = [];
  return bus.subscribe((event) => {
    if (early && event.type !== 'listening') {
      early.push(event);
      return;
    }
    write(headlessLine(event));
    if (early) {
      for (const held of early) write(headlessLine(held));
      early = undefined;
    }
  });
}

/** Bad option values are one clear line and exit 2, before anything starts (not a failure at the first call). */
export function checkStartOptions(opts: Record<string, unknown>): void {
  const endpoint = opts.upstreamEndpoint as string | undefined;
  if (endpoint !== undefined) {
    let url: URL | undefined;
    try {
      url = new URL(endpoint);
    } catch {
      url = undefined;
    }
    if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:') || url.hostname === '') {
      throw new CliError(`--upstream-endpoint: "${endpoint}" is not an http(s) URL (e.g. http://127.0.0.1:5000)`, 2);
    }
  }
  const theme = opts.theme as string | undefined;
  if (theme !== undefined && !theme.includes('/') && !availableThemes().includes(theme)) {
    throw new CliError(`--theme: no theme "${theme}" (have: ${availableThemes().join(', ')}; or a path to a theme file)`, 2);
  }
}

/** The fairness settings of `start`, checked: one line and exit 2 for a bad value. */
export function limitOptions(opts: Record<string, unknown>): { accountConcurrency?: number; bufferBudgetBytes?: number; uploadMinBytesPerSec?: number } {
  const out: { accountConcurrency?: number; bufferBudgetBytes?: number; uploadMinBytesPerSec?: number } = {};
  if (opts.accountConcurrency !== undefined) {
    const n = Number(opts.accountConcurrency);
    if (!Number.isSafeInteger(n) || n < 1) throw new CliError(`--account-concurrency: "${String(opts.accountConcurrency)}" is not a whole number of calls of at least 1`, 2);
    out.accountConcurrency = n;
  }
  if (opts.bufferBudget !== undefined) {
    const bytes = parseByteSize(String(opts.bufferBudget));
    if (bytes === undefined || bytes < 1024 * 1024) throw new CliError(`--buffer-budget: "${String(opts.bufferBudget)}" is not a size of at least 1MiB (e.g. 256MiB)`, 2);
    out.bufferBudgetBytes = bytes;
  }
  if (opts.minUploadRate !== undefined) {
    const bytes = parseByteSize(String(opts.minUploadRate).replace(/\/s$/, ''));
    if (bytes === undefined) throw new CliError(`--min-upload-rate: "${String(opts.minUploadRate)}" is not a size per second (e.g. 1KiB, or 0 to turn it off)`, 2);
    out.uploadMinBytesPerSec = bytes;
  }
  return out;
}

/** Writes to the terminal, or to nothing once it is gone (a detached gateway outlives its terminal). */
function writeStderr(text: string): void {
  try {
    process.stderr.write(text);
  } catch {
    // no terminal any more
  }
}

function openLogFile(file: string): number {
  try {
    return openSync(file, 'a', 0o600);
  } catch (error) {
    throw new CliError(`--log-file: cannot open ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, 2);
  }
}

/** The state dir must be a directory (or not exist yet). */
function checkStateDir(stateDir: string): void {
  let info;
  try {
    info = statSync(stateDir);
  } catch {
    return;
  }
  if (!info.isDirectory()) throw new CliError(`--state-dir: ${stateDir} exists and is not a directory`, 2);
}

export async function start(opts: Record<string, unknown>): Promise<void> {
  const listen = parseListen(String(opts.listen ?? '127.0.0.1:8443'));
  checkStartOptions(opts);
  const limits = limitOptions(opts);
  const stateDir = resolveStateDir(opts.stateDir as string | undefined);
  checkStateDir(stateDir);
  const bus = new EventBus();
  // Signals during start-up (keys, certificates, policy) must also end cleanly.
  let stopRequested = false;
  let stop: () => void = () => {
    stopRequested = true;
  };
  const onSignal = () => stop();
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const headless = Boolean(opts.headless) || !process.stdout.isTTY || !process.stdin.isTTY;
  // On a TTY the dashboard owns the screen: nothing else may write to it. Headless, the event lines are written in
  // batches off the request path (headless-log.ts) and flushed before exit.
  const log = headless
    ? createHeadlessWriter({ onClosed: () => process.stderr.write('portcullis: stdout closed; event lines are no longer written (the gateway keeps running)\n') })
    : undefined;
  if (log) attachHeadlessLog(bus, log);
  // A gateway that cannot reach AWS as itself says so at once, on stderr as well as in the listening line.
  bus.subscribe((event) => {
    if (headless && event.type === 'listening' && event.upstream?.problem) {
      process.stderr.write(`portcullis: warning: ${event.upstream.problem}; calls through the gateway fail until it has working AWS credentials\n`);
    }
  });
  // --log-file: the same JSON lines appended to a file, whatever the mode (what a detached gateway leaves behind).
  const logFile = opts.logFile === undefined ? undefined : openLogFile(String(opts.logFile));
  const fileLog = logFile === undefined ? undefined : createHeadlessWriter({ fd: logFile });
  if (fileLog) attachHeadlessLog(bus, fileLog);
  let stopCounts: StopCounts | undefined;
  bus.subscribe((event) => {
    if (event.type === 'stopped') stopCounts = event;
  });
  const flushLogs = async () => {
    await log?.flush();
    await fileLog?.flush();
    if (logFile !== undefined) closeSync(logFile);
  };
  /** Every stop ends with one line on stderr saying what it cut off (the `stopped` event carries the same counts). */
  const stopped = async () => {
    await flushLogs();
    if (stopCounts) {
      writeStderr(`portcullis: stopped after ${formatDuration(stopCounts.uptimeMs)}: ${describeStop(stopCounts)}; ${stopCounts.requests} calls served (${stopCounts.allowed} allowed, ${stopCounts.denied} denied)\n`);
    }
  };
  let gateway: Gateway;
  try {
    gateway = await Gateway.start({
      policyFile: String(opts.policy ?? 'policy.yaml'),
      stateDir,
      host: listen.host,
      port: listen.port,
      upstreamEndpoint: opts.upstreamEndpoint as string | undefined,
      publicHosts: (opts.publicHost as string[] | undefined) ?? [],
      bus,
      version: VERSION,
      ...limits,
    });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') throw new CliError(`--listen ${listen.host}:${listen.port}: address already in use`);
    if (code === 'EACCES') throw new CliError(`--listen ${listen.host}:${listen.port}: permission denied`);
    await flushLogs();
    throw new CliError((error as Error).message);
  }
  if (!headless) {
    // The dashboard handles SIGTERM and reads ctrl-c as a key; it resolves when the user quits.
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    if (stopRequested) {
      await gateway.close();
      await stopped();
      return;
    }
    const { runDashboard } = await import('../tui/dashboard.js');
    const { AdminClient } = await import('../admin/client.js');
    let exit: Awaited<ReturnType<typeof runDashboard>> = 'stop';
    try {
      exit = await runDashboard(AdminClient.connect(stateDir), { theme: opts.theme as string | undefined, stateDir, title: 'portcullis', owner: true });
    } finally {
      if (exit !== 'detach') {
        await gateway.close();
        await stopped();
      }
    }
    if (exit !== 'detach') return;
    // Detached: keep serving without a screen. Closing the terminal (SIGHUP) does not stop it; ctrl-c or SIGTERM do.
    process.stderr.on('error', () => undefined);
    process.on('SIGHUP', () => undefined);
    const where = opts.stateDir === undefined ? '' : ` --state-dir ${stateDir}`;
    writeStderr(
      `portcullis: detached; the gateway keeps serving ${gateway.url} (pid ${process.pid}).\n` +
        `  reattach: portcullis dash${where}   stop: ctrl-c here, or kill ${process.pid}\n` +
        `  event log: ${opts.logFile === undefined ? 'none (start with --log-file FILE to keep JSON lines)' : String(opts.logFile)}\n`,
    );
    await new Promise<void>((resolve) => {
      const onStop = () => {
        process.off('SIGINT', onStop);
        process.off('SIGTERM', onStop);
        void gateway.close().then(stopped).then(resolve, resolve);
      };
      process.on('SIGINT', onStop);
      process.on('SIGTERM', onStop);
    });
    return;
  }
  await new Promise<void>((resolve) => {
    stop = () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      void gateway.close().then(stopped).then(resolve, resolve);
    };
    if (stopRequested) stop();
  });
}
