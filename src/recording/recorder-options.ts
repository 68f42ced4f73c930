// The recorder's options, their defaults and their checks (made once, when the recorder is constructed).

import { DEFAULT_CHECKPOINT_EVENTS, DEFAULT_CHECKPOINT_INTERVAL_MS, type Durability, type OnRecordingFailure } from './config.js';
import type { DigestLine } from './chain.js';
import type { DigestSigner } from './session-batch.js';
import { NODE_FS, type RecorderFs } from './session-files.js';

export interface RecorderOptions {
  stateDir: string;
  signer: DigestSigner;
  /** batch (default): on disk within flushMs; strict: every write is fsynced. */
  durability?: Durability;
  /** deny (default): record() returns false and recordDurable() rejects while the disk fails. */
  onFailure?: OnRecordingFailure;
  /** Params and body excerpts longer than this are cut (default 16 KiB). */
  maxBodyBytes?: number;
  /** Checkpoint digest after this many events or this long since the last digest (default 100 events / 10 s). */
  checkpointEvery?: { events: number; ms: number };
  gatewayVersion: string;
  /** Batch flush delay (default 50 ms). */
  flushMs?: number;
  /** How often expiry and timed checkpoints are checked (default 10 s). */
  tickMs?: number;
  /** After a failure, how often writing is retried (default 1 s). */
  retryMs?: number;
  /** Events held in memory before record() refuses more (default 100 000). */
  maxQueuedEvents?: number;
  /** Session files kept open between writes (default 128). */
  maxOpenFiles?: number;
  /** Told of each digest once it is on disk (the witness publishes it off the box); must not throw or block. */
  onDigest?: (sessionId: string, digest: DigestLine) => void;
  /** Loud reporting of recording problems (wire it to the event bus as `error` events). */
  onError?: (error: Error) => void;
  /** The clock for line times, expiry and checkpoints; with setTimer/clearTimer, lets tests control time. */
  now?: () => Date;
  /**
   * Schedules the flush, retry and tick timers and returns a handle other than undefined (default: setTimeout,
   * unref'd so they never keep the process up).
   */
  setTimer?: (callback: () => void, delayMs: number) => unknown;
  clearTimer?: (handle: unknown) => void;
  fs?: RecorderFs;
}

export type ResolvedRecorderOptions = Required<RecorderOptions>;

const DEFAULTS = {
  durability: 'batch' as Durability,
  onFailure: 'deny' as OnRecordingFailure,
  maxBodyBytes: 16 * 1024,
  checkpointEvery: { events: DEFAULT_CHECKPOINT_EVENTS, ms: DEFAULT_CHECKPOINT_INTERVAL_MS },
  flushMs: 50,
  tickMs: 10_000,
  retryMs: 1000,
  maxQueuedEvents: 100_000,
  maxOpenFiles: 128,
};

/** Fills in defaults and refuses sizes and delays that are not positive numbers. */
export function resolveRecorderOptions(options: RecorderOptions): ResolvedRecorderOptions {
  const resolved: ResolvedRecorderOptions = {
    stateDir: options.stateDir,
    signer: options.signer,
    gatewayVersion: options.gatewayVersion,
    durability: options.durability ?? DEFAULTS.durability,
    onFailure: options.onFailure ?? DEFAULTS.onFailure,
    maxBodyBytes: options.maxBodyBytes ?? DEFAULTS.maxBodyBytes,
    checkpointEvery: options.checkpointEvery ?? DEFAULTS.checkpointEvery,
    flushMs: options.flushMs ?? DEFAULTS.flushMs,
    tickMs: 0,
    retryMs: options.retryMs ?? DEFAULTS.retryMs,
    maxQueuedEvents: options.maxQueuedEvents ?? DEFAULTS.maxQueuedEvents,
    maxOpenFiles: options.maxOpenFiles ?? DEFAULTS.maxOpenFiles,
    onError: options.onError ?? (() => undefined),
    onDigest: options.onDigest ?? (() => undefined),
    now: options.now ?? (() => new Date()),
    setTimer: options.setTimer ?? ((callback, delayMs) => setTimeout(callback, delayMs).unref()),
    clearTimer: options.clearTimer ?? ((handle) => clearTimeout(handle as NodeJS.Timeout)),
    fs: options.fs ?? NODE_FS,
  };
  for (const [name, value] of Object.entries({
    maxBodyBytes: resolved.maxBodyBytes,
    'checkpointEvery.events': resolved.checkpointEvery.events,
    'checkpointEvery.ms': resolved.checkpointEvery.ms,
    flushMs: resolved.flushMs,
    maxQueuedEvents: resolved.maxQueuedEvents,
    maxOpenFiles: resolved.maxOpenFiles,
  })) {
    if (!Number.isFinite(value) || value < 1) throw new Error(`recording: ${name} must be a positive number (got ${value})`);
  }
  // Timed checkpoints are only as punctual as the tick that looks for them.
  resolved.tickMs = Math.min(options.tickMs ?? DEFAULTS.tickMs, resolved.checkpointEvery.ms);
  return resolved;
}
