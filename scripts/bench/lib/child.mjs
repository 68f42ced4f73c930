// Entry point for a bench child process: `node child.mjs <role> '<json options>'`, forked by startChild().
//   upstream  → startUpstream(options)
//   forwarder → startForwarder(options)               (options: upstreamUrl, certPem, keyPem)
//   gateway   → Gateway.start from dist/ (options: distDir, policyFile, stateDir, recordingOff, logFile)
// Replies to { cmd: 'mem' } with process.memoryUsage() (the RSS fallback where /proc is missing) and to { cmd: 'cpu' }
// with process.cpuUsage() (CPU per call).

import { pathToFileURL } from 'node:url';
import { join } from 'node:path';
import { serveAsChild } from './children.mjs';

const [role, json = '{}'] = process.argv.slice(2);
const options = JSON.parse(json);

async function start() {
  if (role === 'upstream') {
    const { startUpstream } = await import('./upstream.mjs');
    return startUpstream(options);
  }
  if (role === 'forwarder') {
    const { startForwarder } = await import('./forwarder.mjs');
    return startForwarder(options);
  }
  if (role === 'gateway') {
    const { existsSync } = await import('node:fs');
    // Older builds (the baseline of an A/B run) had the composition root in proxy/server.js.
    const entry = existsSync(join(options.distDir, 'gateway.js')) ? 'gateway.js' : 'proxy/server.js';
    const { Gateway } = await import(pathToFileURL(join(options.distDir, entry)).href);
    if (options.recordingOff) {
      // Bench only: the gateway has no switch to turn recording off, so the recorder is stubbed in this process
      // to measure what recording costs on the request path. Files are still opened; nothing is written.
      const { Recorder } = await import(pathToFileURL(join(options.distDir, 'recording/recorder.js')).href);
      Recorder.prototype.record = () => true;
      Recorder.prototype.recordDurable = async () => undefined;
    }
    // The real default: the headless JSON log, here written to a file (as `start --headless > file` would).
    let bus;
    let log;
    if (options.logFile) {
      const { openSync } = await import('node:fs');
      const { EventBus } = await import(pathToFileURL(join(options.distDir, 'events.js')).href);
      const { attachHeadlessLog } = await import(pathToFileURL(join(options.distDir, 'cli/start.js')).href);
      const fd = openSync(options.logFile, 'a');
      bus = new EventBus();
      if (existsSync(join(options.distDir, 'cli/headless-log.js'))) {
        const { createHeadlessWriter } = await import(pathToFileURL(join(options.distDir, 'cli/headless-log.js')).href);
        log = createHeadlessWriter({ fd });
        attachHeadlessLog(bus, log);
      } else {
        // Older builds wrote each line synchronously, as their `start --headless` did.
        const { writeSync } = await import('node:fs');
        attachHeadlessLog(bus, (line) => writeSync(fd, `${line}\n`));
      }
    }
    const gateway = await Gateway.start({
      ...(bus ? { bus } : {}),
      policyFile: options.policyFile,
      stateDir: options.stateDir,
      host: '127.0.0.1',
      port: 0,
      version: 'bench',
      // Static fake base keys: the bench upstream answers AssumeRole without checking them.
      baseCredentials: async () => ({ accessKeyId: 'AKIABENCHBASE0000000', secretAccessKey: 'bench-base-secret' }),
      drainMs: 2_000,
    });
    return { url: gateway.url, sessions: () => gateway.sessions({ active: true }).length, close: async () => { await gateway.close(); await log?.flush(); } };
  }
  throw new Error(`unknown role ${role} (upstream, forwarder, gateway)`);
}

try {
  const server = await start();
  serveAsChild(() => server.close(), {
    mem: () => ({ memory: process.memoryUsage() }),
    cpu: () => ({ cpu: process.cpuUsage() }),
    stats: () => ({ stats: server.stats ?? {} }),
    sessions: () => ({ sessions: server.sessions?.() }),
  });
  process.send({ ready: true, url: server.url, pid: process.pid });
} catch (error) {
  process.send?.({ failed: error?.message ?? String(error) });
  process.exit(1);
}
