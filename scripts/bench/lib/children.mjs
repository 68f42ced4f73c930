// Child processes for the benches (upstream, forwarder, gateway each in their own process, so the load
// generator does not share an event loop with what it measures). Every child is tracked and killed when the
// bench exits, however it exits; children also exit by themselves when their parent's IPC channel closes.

import { fork } from 'node:child_process';
import { readFileSync } from 'node:fs';

const live = new Set();
let hooked = false;

function killAll(signal = 'SIGKILL') {
  for (const child of live) {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
  }
}

function hookExit() {
  if (hooked) return;
  hooked = true;
  process.on('exit', () => killAll());
  for (const signal of ['SIGINT', 'SIGTERM']) {
    process.once(signal, () => {
      killAll();
      process.exit(130);
    });
  }
}

// Installed on import, so these hooks run before any exit hook the importing bench adds later (children die
// before their files are removed).
hookExit();

/**
 * Forks `script` with an IPC channel and waits for its first `{ ready: true, ... }` message.
 * @returns {Promise<{ child: import('node:child_process').ChildProcess, info: any, request: (msg: any) => Promise<any>, stop: () => Promise<void> }>}
 */
export async function startChild(script, args = [], { readyTimeoutMs = 30_000, env } = {}) {
  // BENCH_CHILD_NODE_ARGS (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof") profiles the children.
  const execArgv = process.env.BENCH_CHILD_NODE_ARGS ? process.env.BENCH_CHILD_NODE_ARGS.split(' ') : undefined;
  const child = fork(script, args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], env: env ?? process.env, execArgv });
  live.add(child);
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  exited.then(() => live.delete(child));
  const info = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${script} ${args[0] ?? ''}: not ready within ${readyTimeoutMs} ms`)), readyTimeoutMs);
    child.on('message', function onMessage(message) {
      if (message?.ready) {
        clearTimeout(timer);
        child.off('message', onMessage);
        resolve(message);
      } else if (message?.failed) {
        clearTimeout(timer);
        reject(new Error(`${args[0] ?? script} failed to start: ${message.failed}`));
      }
    });
    exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`${args[0] ?? script} exited before it was ready (code ${code}, signal ${signal})`));
    });
  }).catch((error) => {
    child.kill('SIGKILL');
    throw error;
  });
  let nextId = 0;
  const request = (message) =>
    new Promise((resolve, reject) => {
      const id = ++nextId;
      const onMessage = (reply) => {
        if (reply?.replyTo !== id) return;
        child.off('message', onMessage);
        resolve(reply);
      };
      child.on('message', onMessage);
      child.send({ ...message, id }, (error) => error && reject(error));
    });
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.send({ cmd: 'close' }, () => undefined);
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  };
  return { child, info, request, stop };
}

/** Resident set size of a process in bytes (Linux /proc), or undefined elsewhere. */
export function rssBytes(pid) {
  try {
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** Samples a process's RSS every `everyMs` until stopped; returns start and peak. Falls back to `fallback()` (IPC). */
export function sampleRss(pid, { everyMs = 50, fallback } = {}) {
  let peak = 0;
  let start;
  let pending = Promise.resolve();
  const take = async () => {
    const value = rssBytes(pid) ?? (fallback ? await fallback() : undefined);
    if (value === undefined) return;
    if (start === undefined) start = value;
    if (value > peak) peak = value;
  };
  pending = take();
  const timer = setInterval(() => {
    pending = pending.then(take);
  }, everyMs);
  return {
    async stop() {
      clearInterval(timer);
      await pending;
      await take();
      return { startBytes: start, peakBytes: peak };
    },
  };
}

/** For scripts run as children: exit when the parent goes away, answer `close` with `onClose()`. */
export function serveAsChild(onClose, handlers = {}) {
  process.on('disconnect', () => process.exit(0));
  process.on('message', async (message) => {
    if (message?.cmd === 'close') {
      try {
        await onClose();
      } finally {
        process.exit(0);
      }
      return;
    }
    const handler = handlers[message?.cmd];
    if (handler && message.id !== undefined) process.send?.({ replyTo: message.id, ...(await handler(message)) });
  });
}
