// What the dashboard's panels show, row by row: log entries, session, pending-approval and grant rows, banners.

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

export interface PendingRow {
  id: string;
  sessionId: string;
  requestId: string;
  serviceAccount: string;
  action: string;
  resource: string;
  /** Every `action resource` pair an approval covers (the copy source too). */
  pairs: string[];
  /** The body as it will be forwarded. */
  body?: { bytes: number; sha256: string };
  /** Forwarded headers that change the call's effect (masked). */
  headers?: Record<string, string>;
  params?: unknown;
  ruleId: string;
  message?: string;
  createdAtMs: number;
  expiresAtMs: number;
  /** A decision was sent and its event has not arrived yet. */
  deciding: boolean;
}

/** A live duration grant (approve --for). */
export interface GrantRow {
  id: string;
  approvalId: string;
  sessionId: string;
  serviceAccount: string;
  pairs: string[];
  by: string;
  untilMs: number;
  uses: number;
}

export type BannerKind = 'ok' | 'error' | 'info';
export interface Banner {
  kind: BannerKind;
  text: string;
  untilMs: number;
}

export type ConnectionState = 'connecting' | 'connected' | 'disconnected';
