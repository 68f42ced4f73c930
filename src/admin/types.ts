// The control surface of a running gateway, shared by the admin socket (server side), the CLI and
// the dashboard (client side). One code path: the in-process dashboard talks to the same socket.

import type { EventBus, PolicyErrorItem } from '../events.js';
import type { DecisionInput, PendingApproval } from '../approval/manager.js';
import type { Grant } from '../approval/grants.js';
import type { LimitStats } from '../limits/limiter.js';
import type { SessionSummary } from '../sessions/table.js';

export type { DecisionInput, Grant, PendingApproval, SessionSummary };

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
  counts: { allowed: number; denied: number; pending: number; activeSessions: number; requests: number; limited?: number };
  /** Per-account concurrency, limit hits and the buffer budget in use. */
  limits?: LimitStats;
}


export type ControlResult = { ok: true; message: string } | { ok: false; error: string; status: 400 | 404 | 409 };

export interface GatewayControl {
  readonly bus: EventBus;
  status(): GatewayStatus;
  sessions(filter?: { active?: boolean }): SessionSummary[];
  pending(): PendingApproval[];
  approve(id: string, input: DecisionInput): ControlResult;
  deny(id: string, input: DecisionInput): ControlResult;
  /** Live duration grants (approve --for), oldest first. */
  grants(): Grant[];
  /** Ends a live grant before its deadline. */
  revokeGrant(id: string, by: string): ControlResult;
  revokeSession(sessionId: string, by: string, reason?: string): Promise<ControlResult>;
  revokeServiceAccount(name: string, by: string, reason?: string): Promise<ControlResult>;
  reloadPolicy(): Promise<ControlResult>;
}
