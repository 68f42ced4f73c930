// The gateway's options: what `start` and tests may set, their documented defaults, and the check that refuses
// values that would make the gateway misbehave rather than fail.

import type { CredentialProvider } from './aws/upstream.js';
import type { EventBus } from './events.js';
import type { Clock } from './lib/clock.js';

export interface GatewayOptions {
  policyFile: string;
  stateDir: string;
  host: string;
  port: number;
  upstreamEndpoint?: string;
  publicHosts?: string[];
  bus?: EventBus;
  version: string;
  /** The gateway's own AWS credentials; default: the standard Node provider chain. */
  baseCredentials?: CredentialProvider;
  now?: Clock;
  /** Largest request body buffered (JSON/query protocols, STS form). Default 20 MiB. */
  maxBufferedBodyBytes?: number;
  /** How long in-flight calls may finish after a stop signal. Default 10 s. */
  drainMs?: number;
  /** Time allowed without upstream socket activity. Default 60 s. */
  upstreamTimeoutMs?: number;
  /** A client must send its request headers within this (slowloris). Default 20 s. */
  headersTimeoutMs?: number;
  /** A buffered body (JSON/query protocols, the STS form) must arrive within this. Default 30 s. */
  bodyTimeoutMs?: number;
  /** A connection with no activity at all is closed after this. Default 120 s. */
  idleTimeoutMs?: number;
  /** Calls one service account may have in flight unless its `limits.concurrent` says otherwise. Default 32. */
  accountConcurrency?: number;
  /** Longest wait for a concurrency slot before THROTTLED. Default 2 s. */
  queueWaitMs?: number;
  /** All buffered request bodies together. Default 256 MiB. */
  bufferBudgetBytes?: number;
  /** Upstream sockets per origin; one account holds at most a quarter. Default 256. */
  upstreamSocketsPerOrigin?: number;
  /** Streamed uploads averaging less than this over `uploadRateWindowMs` (after `uploadGraceMs`) are cut; 0 turns it off. Default 1 KiB/s. */
  uploadMinBytesPerSec?: number;
  /** Default 10 s. */
  uploadRateWindowMs?: number;
  /** Default 10 s. */
  uploadGraceMs?: number;
}

export const DEFAULTS = {
  maxBufferedBodyBytes: 20 * 1024 * 1024,
  drainMs: 10_000,
  upstreamTimeoutMs: 60_000,
  headersTimeoutMs: 20_000,
  bodyTimeoutMs: 30_000,
  idleTimeoutMs: 120_000,
};

/** Options that would make the gateway misbehave rather than fail: refused before anything starts. */
export function validateOptions(options: GatewayOptions): void {
  if (!Number.isInteger(options.port) || options.port < 0 || options.port > 65_535) throw new Error(`port ${options.port} is not a TCP port (0-65535)`);
  for (const name of ['maxBufferedBodyBytes', 'drainMs', 'upstreamTimeoutMs', 'headersTimeoutMs', 'bodyTimeoutMs', 'idleTimeoutMs', 'accountConcurrency', 'queueWaitMs', 'bufferBudgetBytes', 'upstreamSocketsPerOrigin', 'uploadRateWindowMs', 'uploadGraceMs'] as const) {
    const value = options[name];
    if (value !== undefined && !(Number.isFinite(value) && value > 0)) throw new Error(`${name} must be a positive number (got ${value})`);
  }
  const minRate = options.uploadMinBytesPerSec;
  if (minRate !== undefined && !(Number.isFinite(minRate) && minRate >= 0)) throw new Error(`uploadMinBytesPerSec must be 0 or more (got ${minRate})`);
}

