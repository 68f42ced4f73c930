// The simulated MCP server and a nightly job: rounds of realistic calls through the gateway until stopped.
// Each service account gets an IdP token, exchanges it at the gateway's STS for gateway-issued credentials,
// and signs every call with them. A call held for approval is retried the way an SDK retries a throttled call.

import { Agent } from 'node:https';
import { setTimeout as sleep } from 'node:timers/promises';
import type { AwsCredentials } from '../aws/sign.js';
import { assumeRoleWithWebIdentity, signedCall, type DemoResponse, type DemoTransport } from './client.js';
import type { DemoAccount } from './policy.js';
import { demoSteps, type DemoStep } from './scenario.js';

export interface TrafficOptions {
  gatewayUrl: string;
  caPem: string;
  region: string;
  accounts: readonly DemoAccount[];
  /** Gets an identity token for a service account from the IdP. */
  token(account: string): Promise<string>;
  /** Pause between calls, so a human can follow the dashboard. */
  paceMs: number;
  /** Pause between rounds. */
  roundPauseMs: number;
  /** How many times a call held for approval is retried after its hold elapses (as an SDK retries throttling). */
  approvalRetries: number;
  signal: AbortSignal;
  onStep?: (step: DemoStep, response: DemoResponse, attempt: number) => void;
  onError?: (error: Error) => void;
  now?: () => Date;
}

interface Held {
  credentials: AwsCredentials;
  expiresAtMs: number;
}

const REFRESH_BEFORE_MS = 5 * 60_000;

export async function runTraffic(options: TrafficOptions): Promise<void> {
  const agent = new Agent({ ca: options.caPem, keepAlive: true, maxSockets: 4 });
  const transport: DemoTransport = { url: options.gatewayUrl, agent, region: options.region, signal: options.signal, now: options.now };
  const now = () => (options.now?.() ?? new Date()).getTime();
  const held = new Map<string, Held>();
  const credentialsFor = async (name: string): Promise<AwsCredentials> => {
    const current = held.get(name);
    if (current && current.expiresAtMs - now() > REFRESH_BEFORE_MS) return current.credentials;
    const account = options.accounts.find((a) => a.name === name);
    if (!account) throw new Error(`demo traffic: unknown account ${name}`);
    const credentials = await assumeRoleWithWebIdentity(transport, { roleArn: account.roleArn, token: await options.token(name), sessionName: name });
    held.set(name, { credentials, expiresAtMs: credentials.expiration.getTime() });
    return credentials;
  };
  const pause = async (ms: number) => {
    try {
      await sleep(ms, undefined, { signal: options.signal });
    } catch {
      // aborted: the loop checks the signal
    }
  };
  // Each service account is its own program (an MCP server, a nightly job): they run side by side.
  const loop = async (account: string) => {
    for (let round = 1; !options.signal.aborted; round += 1) {
      for (const step of demoSteps(round).filter((s) => s.account === account)) {
        if (options.signal.aborted) return;
        try {
          const credentials = await credentialsFor(step.account);
          for (let attempt = 1; ; attempt += 1) {
            const response = await signedCall(transport, credentials, step.call);
            options.onStep?.(step, response, attempt);
            if (response.errorCode !== 'ThrottlingException' || attempt > options.approvalRetries || options.signal.aborted) break;
            await pause(500);
          }
        } catch (error) {
          if (options.signal.aborted) return;
          options.onError?.(error as Error);
        }
        await pause(options.paceMs);
      }
      await pause(options.roundPauseMs);
    }
  };
  try {
    await Promise.all(options.accounts.map((account) => loop(account.name)));
  } finally {
    agent.destroy();
  }
}
