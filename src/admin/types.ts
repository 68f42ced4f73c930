// The control surface of a running gateway, shared by the admin socket (server side), the CLI and
// the dashboard (client side). One code path: the in-process dashboard talks to the same socket.

import type { EventBus, PolicyErrorItem } from '../events.js';

export interface PolicyStatus {
  file: string;
  /** SHA-256 of the policy in force. */
  sha256: string;
  rules: number;
  serviceAccounts: number;
  /** `error` when the last edit was rejected (the last good policy stays in force). */
  state: 'ok' | 'error';
  errors: PolicyErrorItem[];
  loadedAt: string;
}

export interface GatewayStatus {
  url: string;
  version: string;
  pid: number;
  startedAt: string;
  stateDir: string;
  policy: PolicyStatus;
  counts: { allowed: number; denied: number; pending: number; activeSessions: number; requests: number };
}

export interface SessionSummary {
  sessionId: string;
  serviceAccount: string;
  roleArn: string;
  start: string;
  expiresAt: string;
  calls: number;
  denied: number;
  lastAction?: string;
  lastAt?: string;
  revoked: boolean;
  active: boolean;
}

export interface PendingApproval {
  /** Short, typeable id (e.g. `k3f9`). */
  id: string;
  sessionId: string;
  requestId: string;
  serviceAccount: string;
  action: string;
  resource: string;
  region: string;
  /** Masked request parameters. */
  params?: unknown;
  ruleId: string;
  message?: string;
  createdAt: string;
  expiresAt: string;
  /** Whether the client is still being held (false once the hold elapsed; the SDK will retry). */
  held: boolean;
}

export interface DecisionInput {
  /** OS user name of the deciding process. */
  by: string;
  reason?: string;
  /** Approve for a duration: the same account + action + resource pass until then. */
  forMs?: number;
}

export type ControlResult = { ok: true; message: string } | { ok: false; error: string; status: 400 | 404 | 409 };

export interface GatewayControl {
  readonly bus: EventBus;
  status(): GatewayStatus;
  sessions(filter?: { active?: boolean }): SessionSummary[];
  pending(): PendingApproval[];
  approve(id: string, input: DecisionInput): ControlResult;
  deny(id: string, input: DecisionInput): ControlResult;
  revokeSession(sessionId: string, by: string, reason?: string): Promise<ControlResult>;
  revokeServiceAccount(name: string, by: string, reason?: string): Promise<ControlResult>;
  reloadPolicy(): Promise<ControlResult>;
}
