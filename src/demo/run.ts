// `portcullis demo` in one process: the demo upstream, the demo IdP, the gateway (on 127.0.0.1:0 with the
// demo policy) and the simulated traffic. stop() ends everything it started and, for a temporary state
// dir, removes it.

import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { EventBus } from '../events.js';
import { Gateway } from '../gateway.js';
import { startDemoIdp, type DemoIdp } from './idp.js';
import { DEMO_ACCOUNT_ID, DEMO_ACCOUNTS, DEMO_AUDIENCE, DEMO_REGION, demoPolicyYaml } from './policy.js';
import { seedDemoData } from './scenario.js';
import { runTraffic } from './traffic.js';
import { emptyDemoData, startDemoUpstream, type DemoUpstream } from './upstream.js';

export interface DemoOptions {
  /** Keep state (recordings, keys, CA) here; absent: a temporary dir removed by stop(). */
  stateDir?: string;
  bus?: EventBus;
  version: string;
  /** Approve every held call after this long (headless runs, so the whole approval lifecycle shows). Absent: a human decides. */
  autoApproveMs?: number;
  /** Pause between simulated calls (default 400 ms). */
  paceMs?: number;
  /** Pause between rounds of calls (default 3000 ms). */
  roundPauseMs?: number;
  /** How long a call waits for approval before the client is told to retry (default 20 s). */
  holdSeconds?: number;
}

export interface RunningDemo {
  gateway: Gateway;
  stateDir: string;
  policyFile: string;
  /** Whether stop() leaves the state dir in place. */
  keepState: boolean;
  /** From the call to startDemo to the gateway listening. */
  startupMs: number;
  /** From the process start to the gateway listening (includes Node start-up and module loading). */
  listeningSinceProcessStartMs: number;
  /** CPU time (user + system) the process had used when the gateway listened: less sensitive to a busy machine. */
  listeningCpuMs: number;
  stop(): Promise<void>;
}

/** The gateway's own "AWS credentials": the demo upstream accepts anything, so these are placeholders. */
const DEMO_BASE_CREDENTIALS = { accessKeyId: 'AKIADEMOGATEWAY00000', secretAccessKey: 'demo-gateway-secret-not-checked' };

export async function startDemo(options: DemoOptions): Promise<RunningDemo> {
  const started = performance.now();
  const keepState = options.stateDir !== undefined;
  const stateDir = options.stateDir ?? (await mkdtemp(join(tmpdir(), 'portcullis-demo-')));
  if (keepState) await mkdir(stateDir, { recursive: true, mode: 0o700 });
  const bus = options.bus ?? new EventBus();
  const cleanups: (() => Promise<void>)[] = [];
  const cleanup = async () => {
    for (const step of cleanups.splice(0).reverse()) await step().catch(() => undefined);
    if (!keepState) await rm(stateDir, { recursive: true, force: true });
  };

  let gateway: Gateway;
  let upstream: DemoUpstream;
  let idp: DemoIdp;
  const policyFile = join(stateDir, 'demo-policy.yaml');
  try {
    const data = emptyDemoData();
    seedDemoData(data, new Date());
    [upstream, idp] = await Promise.all([
      startDemoUpstream({ accountId: DEMO_ACCOUNT_ID, region: DEMO_REGION }, data),
      startDemoIdp({ clients: DEMO_ACCOUNTS.map((a) => ({ clientId: a.name, clientSecret: a.clientSecret })), audience: DEMO_AUDIENCE }),
    ]);
    cleanups.push(() => upstream.close(), () => idp.close());
    await writeFile(policyFile, demoPolicyYaml({ issuer: idp.issuer, jwksUri: idp.jwksUri, upstreamEndpoint: upstream.endpoint, holdSeconds: options.holdSeconds ?? 20 }), { mode: 0o600 });
    gateway = await Gateway.start({
      policyFile,
      stateDir,
      host: '127.0.0.1',
      port: 0,
      bus,
      version: options.version,
      baseCredentials: async () => DEMO_BASE_CREDENTIALS,
      drainMs: 1000,
    });
    cleanups.push(() => gateway.close());
  } catch (error) {
    await cleanup();
    throw error;
  }
  const listeningAt = performance.now();
  const cpu = process.cpuUsage();

  const approvalTimers = new Set<NodeJS.Timeout>();
  const unsubscribe =
    options.autoApproveMs === undefined
      ? () => undefined
      : bus.subscribe((event) => {
          if (event.type !== 'approval.proposed') return;
          const timer = setTimeout(() => {
            approvalTimers.delete(timer);
            gateway.approve(event.approvalId, { by: 'demo-autopilot', reason: `headless demo: approved automatically after ${options.autoApproveMs} ms` });
          }, options.autoApproveMs);
          approvalTimers.add(timer);
        });

  const abort = new AbortController();
  const caPem = await readFile(gateway.ca.caFile, 'utf8');
  const traffic = idp.load().then(() =>
    runTraffic({
      gatewayUrl: gateway.url,
      caPem,
      region: DEMO_REGION,
      accounts: DEMO_ACCOUNTS,
      token: (name) => idp.token(name),
      paceMs: options.paceMs ?? 400,
      roundPauseMs: options.roundPauseMs ?? 3000,
      approvalRetries: 3,
      signal: abort.signal,
      // Shown on the dashboard's log or as a JSON line: the demo never writes to the screen itself.
      onError: (error) => bus.emit({ type: 'error', at: new Date().toISOString(), message: `demo traffic: ${error.message}`, code: 'DEMO' }),
    }),
  );
  traffic.catch((error: Error) => bus.emit({ type: 'error', at: new Date().toISOString(), message: `demo: ${error.message}`, code: 'DEMO' }));

  let stopping: Promise<void> | undefined;
  return {
    gateway,
    stateDir,
    policyFile,
    keepState,
    startupMs: Math.round(listeningAt - started),
    listeningSinceProcessStartMs: Math.round(listeningAt),
    listeningCpuMs: Math.round((cpu.user + cpu.system) / 1000),
    stop() {
      stopping ??= (async () => {
        abort.abort();
        unsubscribe();
        for (const timer of approvalTimers) clearTimeout(timer);
        await traffic.catch(() => undefined);
        await cleanup();
      })();
      return stopping;
    },
  };
}
