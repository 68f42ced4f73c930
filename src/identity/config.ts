// The identity section of a policy, as the rest of the gateway reads it after validation: issuers (with the
// preset and rules that shaped them) and service accounts with their claim conditions. Identity owns these types;
// config/validate.ts builds them.

import type { LimitsConfig } from '../limits/types.js';

export type IssuerPresetName = 'okta' | 'entra-id' | 'google' | 'github-actions' | 'kubernetes' | 'spiffe';

/** The preset an issuer was built from, with the parameters that shaped it (refusal hints use them). */
export type IssuerPreset =
  | { name: 'okta'; orgs: string[]; authorizationServer: string }
  | { name: 'entra-id'; tenant: string; tokenVersions: (1 | 2)[] }
  | { name: 'google' }
  | { name: 'github-actions'; enterprise?: string; host?: string }
  | { name: 'kubernetes' }
  | { name: 'spiffe'; trustDomain: string };

/** Refusal rules a preset adds on top of signature, time and audience checks. All absent for a plain issuer. */
export interface IssuerRules {
  /** The token may omit `iss` (SPIFFE JWT-SVID); it is then routed to this issuer by `subjectPrefix`. */
  issOptional?: boolean;
  /** `sub` must start with this (`spiffe://TRUST_DOMAIN/`, `system:serviceaccount:`). */
  subjectPrefix?: string;
  /** Claims that must equal these strings (Entra: `tid` = the configured tenant). */
  requiredClaims?: Record<string, string>;
  /** Protected-header parameters whose presence refuses the token, with the reason given. */
  refusedHeaders?: { name: string; reason: string }[];
  /** Every service account on this issuer must pin `sub` exactly (Google: the caller picks `aud`). */
  requirePinnedSubject?: boolean;
}

export interface IssuerConfig {
  name: string;
  /** The primary `iss` value: keys are discovered from it, messages and `token fetch` use it. */
  issuer: string;
  /**
   * Every accepted `iss` value, the primary included (aliases; a preset may fill several). Absent: just
   * `issuer`. Empty: any `iss` (only SPIFFE, where the subject's trust domain routes the token).
   */
  issuerAliases?: string[];
  audience: string[];
  jwksUri?: string;
  /** Allowed JWS algorithms; never `none` nor HS*. */
  algorithms: string[];
  clockSkewMs: number;
  /** Tokens whose exp − min(iat, nbf) exceeds this are refused. Absent: no limit (only hand-built configs). */
  maxTokenLifetimeMs?: number;
  preset?: IssuerPreset;
  rules?: IssuerRules;
}

export type ConditionOperator =
  | 'StringEquals'
  | 'StringNotEquals'
  | 'StringEqualsIgnoreCase'
  | 'StringNotEqualsIgnoreCase'
  | 'StringLike'
  | 'StringNotLike'
  | 'NumericEquals'
  | 'NumericNotEquals'
  | 'NumericLessThan'
  | 'NumericLessThanEquals'
  | 'NumericGreaterThan'
  | 'NumericGreaterThanEquals'
  | 'Bool'
  | 'Null';

export type ConditionSetQualifier = 'ForAnyValue' | 'ForAllValues';

/** One claim test of a service account's `match:` block (shaped like an IAM condition). */
export interface ClaimCondition {
  /** As written in the policy, e.g. `ForAnyValue:StringLike` or `StringEqualsIfExists`. */
  operator: string;
  test: ConditionOperator;
  qualifier?: ConditionSetQualifier;
  /** `…IfExists`: an absent claim satisfies the condition. */
  ifExists: boolean;
  /** The claim as written: a top-level name (`environment`) or a JSON pointer (`/kubernetes.io/namespace`). */
  claim: string;
  /** Keys from the claims object down to the value. */
  path: string[];
  /** Any of these satisfies the condition. */
  values: (string | number | boolean)[];
}

export interface ServiceAccountConfig {
  name: string;
  /** Name of an entry in identity.issuers, or `local` for gateway-minted tokens. */
  issuer: string;
  /** The exact `sub`; '' when the account leaves `sub` to its `match` conditions. */
  subject: string;
  /** Schema v1 equalities: claim name → value, compared as strings. */
  claims: Record<string, string>;
  /** `match:` conditions, all of which must hold. Absent: none. */
  match?: ClaimCondition[];
  roles: string[];
  sessionTtlMs: number;
  /** `limits:` — concurrency (default 32), calls and bytes per window for everything the account does. */
  limits?: LimitsConfig;
}
