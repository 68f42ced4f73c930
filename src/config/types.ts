// The compiled shape of a policy file (schema v1). The YAML keys are public interface; these
// camelCase fields are what the rest of the gateway reads after load → validate → compile.

import type { IssuerConfig, ServiceAccountConfig } from '../identity/config.js';
import type { RecordingConfig } from '../recording/config.js';
import type { TelemetryConfig } from '../telemetry/config.js';

export type { ClaimCondition, ConditionOperator, ConditionSetQualifier, IssuerConfig, IssuerPreset, IssuerPresetName, IssuerRules, ServiceAccountConfig } from '../identity/config.js';
export type { RecordingConfig } from '../recording/config.js';
export type { TelemetryConfig } from '../telemetry/config.js';

import { DEFAULT_APPROVAL, type AccessLevel, type ApprovalSettings, type Effect, type RuleConfig } from '../policy/types.js';

export { DEFAULT_APPROVAL };
export type { AccessLevel, ApprovalSettings, Effect, RuleConfig };

import type { MaskingConfig } from '../masking/config.js';

export type { DetectorName, MaskingConfig } from '../masking/config.js';

export interface PolicyConfig {
  version: 1;
  upstream: { endpoint?: string; region: string };
  issuers: IssuerConfig[];
  serviceAccounts: ServiceAccountConfig[];
  rules: RuleConfig[];
  masking: MaskingConfig;
  recording: RecordingConfig;
  /** `approval:` — settings shared by every approve rule. */
  approval: { maxBodyBytes: number };
  /** Host globs the forward proxy tunnels untouched (never AWS hosts); lower-cased. */
  passthrough: string[];
  /** `telemetry:` — streaming sinks (read at start); absent when the policy has none. */
  telemetry?: TelemetryConfig;
}

export const DEFAULT_REGION = 'us-east-1';
/** approval.max_body: the largest body an approval can bind (it is spooled and hashed before the human decides). */
export const DEFAULT_APPROVAL_MAX_BODY_BYTES = 64 * 1024 * 1024;
export const DEFAULT_SESSION_TTL_MS = 3_600_000;
export const DEFAULT_MASKING_MAX_BODY_BYTES = 1_048_576;
export const DEFAULT_RECORDING_MAX_BODY_BYTES = 65_536;
export const DEFAULT_CLOCK_SKEW_MS = 60_000;
/** max_token_lifetime of an issuer without a preset, when the policy does not set one. */
export const DEFAULT_MAX_TOKEN_LIFETIME_MS = 24 * 3_600_000;
