// The recording section of a policy, as validated. Recording owns these types; config/validate.ts builds them.

/** batch: on disk within the flush delay; strict: every write is fsynced before the call goes on. */
export type Durability = 'batch' | 'strict';
/** deny: calls are refused while recording fails; allow: they continue unrecorded (reported loudly). */
export type OnRecordingFailure = 'deny' | 'allow';

export interface RecordingConfig {
  maxBodyBytes: number;
  durability: Durability;
  onFailure: OnRecordingFailure;
}
