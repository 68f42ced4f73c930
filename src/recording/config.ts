// The recording section of a policy, as validated. Recording owns these types; config/validate.ts builds them.

/** batch: on disk within the flush delay; strict: every write is fsynced before the call goes on. */
export type Durability = 'batch' | 'strict';
/** deny: calls are refused while recording fails; allow: they continue unrecorded (reported loudly). */
export type OnRecordingFailure = 'deny' | 'allow';

export interface RecordingConfig {
  maxBodyBytes: number;
  durability: Durability;
  onFailure: OnRecordingFailure;
  /** `checkpoint: {events, interval}` */
  checkpointEvents: number;
  checkpointIntervalMs: number;
  /** `witness: DIR | URL` — where signed checkpoints are also published, off the box. */
  witness?: string;
}

/**
 * Signed checkpoints bound what an attacker with write access can rewrite in an open session (the lines after the
 * last one are hash-chained only): one after this many event lines, or this long after the last, whichever is first.
 */
export const DEFAULT_CHECKPOINT_EVENTS = 100;
export const DEFAULT_CHECKPOINT_INTERVAL_MS = 10_000;
