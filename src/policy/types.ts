// The rule types policy evaluation reads. The policy domain owns them; config builds them from YAML.
import type { AccessLevel } from '../aws/iam.js';

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
  /** Only meaningful for effect `approve`; defaults filled in. */
  approval: ApprovalSettings;
}
