// What the dashboard's panels show, row by row: log entries, session, pending-approval and grant rows, banners.

import type { Grant } from '../approval/grants.js';
import type { HeldCall } from '../approval/manager.js';

export type LogDecision = 'allow' | 'deny' | 'hold' | 'approved' | 'denied' | 'expired' | 'info' | 'error';

export interface LogEntry {
  seq: number;
  atMs: number;
  sessionId?: string;
  requestId?: string;
  account: string;
  action: string;
  resource: string;
  decision: LogDecision;
  latencyMs?: number;
  status?: number;
  /** The rule that decided it (decisions, held calls, approvals). */
  rule?: string;
  /** Reason or message. */
  note?: string;
  /** Values the response's masking report counted (marked in the log). */
  masked?: number;
}

export interface SessionRow {
  sessionId: string;
  serviceAccount: string;
  startMs: number;
  expiresAtMs: number;
  calls: number;
  denied: number;
  /** Calls refused by a limit. */
  limited?: number;
  lastAction?: string;
  lastAtMs?: number;
  revoked: boolean;
  /** From session.started (a snapshot carries only the role). */
  roleArn?: string;
  issuer?: string;
  subject?: string;
  userAgent?: string;
  sourceIp?: string;
  claims?: Record<string, unknown>;
}

/** A held call as the queue shows it: the approval's own fields, with times as numbers. */
export interface PendingRow extends Omit<HeldCall, 'region' | 'pairs'> {
  id: string;
  /** Every `action resource` pair an approval covers (the copy source too). */
  pairs: string[];
  createdAtMs: number;
  expiresAtMs: number;
  /** A decision was sent and its event has not arrived yet. */
  deciding: boolean;
}

/** A live duration grant (approve --for). */
export interface GrantRow extends Omit<Grant, 'createdAt' | 'until'> {
  untilMs: number;
}

export type BannerKind = 'ok' | 'error' | 'info';
export interface Banner {
  kind: BannerKind;
  text: string;
  untilMs: number;
}

export type ConnectionState = 'connecting' | 'connected' | 'disconnected';
