// Limit settings as the policy states them (`limits:` on a service account or a rule, `escalate:` on a rule) and the
// gateway-wide defaults. The limits domain owns these types; config builds them from YAML, policy carries them on
// its rules.

/** `limits:` — how much, not what. Every field optional; `perMs` is the window of `calls` and `bytes`. */
export interface LimitsConfig {
  /** Calls in flight at once (from the limit stage until the answer is written). */
  concurrent?: number;
  /** Calls admitted per window. */
  calls?: number;
  /** Request + response body bytes per window (the call that crosses it passes; later ones wait for the window). */
  bytes?: number;
  /** The window of `calls` and `bytes`. Default 1 minute. */
  perMs: number;
}

/** `escalate:` — after `after` matching calls within `withinMs` (per service account and rule), the next need a human or are denied. */
export interface EscalateConfig {
  after: number;
  withinMs: number;
  then: 'approve' | 'deny';
}

export const ESCALATE_THEN = ['approve', 'deny'] as const;

/** Calls one service account may have in flight when the policy does not say (a quarter of the upstream pool's 128). */
export const DEFAULT_ACCOUNT_CONCURRENCY = 32;
/** How long a call over a concurrency limit waits for a slot before it is throttled. */
export const DEFAULT_QUEUE_WAIT_MS = 2_000;
/** All buffered request bodies together (JSON/query protocols, STS forms). */
export const DEFAULT_BUFFER_BUDGET_BYTES = 256 * 1024 * 1024;
/** The window of `calls` / `bytes` when `per` is not given. */
export const DEFAULT_LIMIT_WINDOW_MS = 60_000;
/** Upstream sockets per origin; no account may hold more than `UPSTREAM_SHARE` of them, whatever its policy says. */
export const DEFAULT_UPSTREAM_SOCKETS = 256;
export const UPSTREAM_SHARE = 0.25;

/** A streamed upload slower than this (averaged over `windowMs`, after `graceMs`) is cut. */
export interface UploadRateSettings {
  minBytesPerSec: number;
  windowMs: number;
  graceMs: number;
}

export const DEFAULT_UPLOAD_RATE: UploadRateSettings = { minBytesPerSec: 1024, windowMs: 10_000, graceMs: 10_000 };

/** Names a limit in events, errors and counters. */
export type LimitName = 'concurrent' | 'calls' | 'bytes' | 'buffer' | 'upload-rate';
