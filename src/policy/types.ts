// The rule types policy evaluation reads. The policy domain owns them; config builds them from YAML.
import type { AccessLevel } from '../aws/iam.js';
import type { EscalateConfig, LimitsConfig } from '../limits/types.js';

export type { AccessLevel };

export type Effect = 'allow' | 'deny' | 'approve';

export interface ApprovalSettings {
  holdMs: number;
  timeoutMs: number;
}

export const DEFAULT_APPROVAL: ApprovalSettings = { holdMs: 20_000, timeoutMs: 600_000 };

export interface RuleConfig {
  id: string;
  effect: Effect;
  principals: string[];
  /** IAM action patterns (`s3:GetObject`, `dynamodb:*`), matched case-insensitively; `["*"]` when the rule gives only `access`. */
  actions: string[];
  /** IAM access levels (canonical spelling); the rule matches only actions at one of these levels. Absent: any level. */
  access?: AccessLevel[];
  resources: string[];
  message?: string;
  /** Only meaningful for effect `approve` (or an `escalate` with `then: approve`); defaults filled in. */
  approval: ApprovalSettings;
  /** `limits:` — calls, bytes and concurrency of the calls this rule decides, per service account. */
  limits?: LimitsConfig;
  /** `escalate:` — after N calls this rule allowed within a window (per service account), the next need a human or are denied. */
  escalate?: EscalateConfig;
}
