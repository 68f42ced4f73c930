// `portcullis demo`: gateway + local OIDC IdP + local AWS-compatible upstream + simulated MCP traffic, in
// one process, offline. On a TTY the dashboard (as `start`); otherwise (or --headless) JSON event lines, the
// first demo line being {"event":"demo.ready",...}. State: `$PORTCULLIS_STATE_DIR/demo` when that variable
// is set (kept, so `portcullis verify` can check the recordings), else a temporary dir removed at exit.

import { join, resolve } from 'node:path';
import { EventBus } from '../events.js';
import { VERSION } from '../version.js';
import { parseDurationMs } from '../lib/duration.js';
import { CliError, printLine } from './output.js';
import { attachHeadlessLog } from './start.js';

/** In headless runs, held calls are approved after this long so the whole approval lifecycle shows. */
export const HEADLESS_AUTO_APPROVE_MS = 3000;

/** `--duration`: seconds (`15`, `2.5`) or a duration (`30s`, `2m`). */
export function parseDemoDurationMs(text: string): number {
  const trimmed = text.trim();
  const ms = /^\d+(?:\.\d+)?$/.test(trimmed) ? Math.round(Number(trimmed) * 1000) : parseDurationMs(trimmed);
  if (ms === undefined || !(ms > 0)) throw new CliError(`--duration: "${text}" is not a number of seconds (e.g. 15, or 30s, 2m)`, 2);
  return ms;
}

/** Where the demo keeps its state, or undefined for a temporary dir. */
export function demoStateDir(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const base = env.PORTCULLIS_STATE_DIR;
  return base ? join(resolve(base), 'demo') : undefined;
}

export async function demo(opts: Record<string, unknown>): Promise<void> {
  const durationMs = opts.duration === undefined ? undefined : parseDemoDurationMs(String(opts.duration));
  const headless = Boolean(opts.headless) || !process.stdout.isTTY || !process.stdin.isTTY;
  const bus = new EventBus();
  if (headless) attachHeadlessLog(bus);
  const { startDemo } = await import('../demo/run.js');
  let running: Awaited<ReturnType<typeof startDemo>>;
  try {
    running = await startDemo({ stateDir: demoStateDir(), bus, version: VERSION, autoApproveMs: headless ? HEADLESS_AUTO_APPROVE_MS : undefined });
  } catch (error) {
    throw new CliError(`demo: ${(error as Error).message}`);
  }
  const { gateway, stateDir } = running;
  const where = running.keepState ? `recordings kept in ${stateDir} (portcullis sessions|verify|replay --state-dir ${stateDir})` : 'temporary state removed';
  if (headless) {
    printLine(
      JSON.stringify({
        event: 'demo.ready',
        at: new Date().toISOString(),
        url: gateway.url,
        stateDir,
        keepState: running.keepState,
        policyFile: running.policyFile,
        startupMs: running.startupMs,
        listeningSinceProcessStartMs: running.listeningSinceProcessStartMs,
        listeningCpuMs: running.listeningCpuMs,
        autoApproveMs: HEADLESS_AUTO_APPROVE_MS,
        note: `held calls are approved automatically after ${HEADLESS_AUTO_APPROVE_MS / 1000} s in headless mode; ${durationMs ? `stops after ${durationMs / 1000} s` : 'Ctrl-C stops'}`,
      }),
    );
  }

  // One way out, whatever asks for it: --duration, a signal, or the dashboard's q / Ctrl-C.
  let endDashboard: (() => void) | undefined;
  let finished!: () => void;
  const ended = new Promise<void>((r) => (finished = r));
  let ending = false;
  const end = () => {
    if (ending) return;
    ending = true;
    if (endDashboard) endDashboard();
    else finished();
  };
  const timer = durationMs === undefined ? undefined : setTimeout(end, durationMs);
  const onSignal = () => end();
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    if (!headless) {
      const { runDashboard } = await import('../tui/dashboard.js');
      const { AdminClient } = await import('../admin/client.js');
      // runDashboard ends on q / Ctrl-C and on SIGTERM; it has no other stop handle, so --duration and SIGINT
      // deliver it a SIGTERM event (in-process, no real signal).
      endDashboard = () => {
        process.emit('SIGTERM', 'SIGTERM');
      };
      await runDashboard(AdminClient.connect(stateDir), { theme: opts.theme as string | undefined, stateDir, title: 'portcullis demo' });
    } else {
      await ended;
    }
  } finally {
    if (timer) clearTimeout(timer);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await running.stop();
  }
  if (headless) printLine(JSON.stringify({ event: 'demo.stopped', at: new Date().toISOString(), stateDir, keepState: running.keepState }));
  else printLine(`portcullis demo stopped; ${where}`);
}
