// The pure core of a recording: which line an event becomes, how a line is serialised and chained, and what a
// digest signs. No I/O here; the recorder and the verifier both build on it.

import { hash } from 'node:crypto';
import type { GatewayEvent, MaskingReport, RequestWire, ToolCallOutcome } from '../events.js';
import type { Effect } from '../config/types.js';

export type LineType = 'header' | 'request' | 'decision' | 'approval' | 'grant' | 'response' | 'policy' | 'revocation' | 'tool' | 'end' | 'digest';
export type DigestKind = 'checkpoint' | 'final';
export type EndReason = 'expired' | 'revoked' | 'shutdown';

interface Chained {
  seq: number;
  /** SHA-256 hex of the previous line's exact bytes (without its newline); null on the header. */
  prev: string | null;
}

export interface HeaderLine extends Chained {
  type: 'header';
  sessionId: string;
  serviceAccount: string;
  issuer: string;
  subject: string;
  claims: Record<string, unknown>;
  roleArn: string;
  sourceIp?: string;
  userAgent?: string;
  gatewayVersion: string;
  policySha256: string;
  start: string;
  expiresAt: string;
}

export interface RequestLine extends Chained {
  type: 'request';
  at: string;
  requestId: string;
  service: string;
  action: string;
  resource: string;
  region: string;
  sourceIp?: string;
  /** The call as it came in (masked; signature query parameters removed). Absent in recordings made before 0.x. */
  http?: RequestWire;
  traceparent?: string;
  params?: unknown;
  /** Set when params were longer than maxBodyBytes; `params` then holds the first bytes of their JSON. */
  paramsTruncated?: { bytes: number };
  /** The MCP tool call this AWS call was made for (the only one open in the session). */
  toolCallId?: string;
  /** Several tool calls were open: one of these caused it. */
  toolCallCandidates?: string[];
}

/** An MCP tool call seen by `portcullis mcp run`: decided, started, ended; or a tool whose description changed. */
export interface ToolLine extends Chained {
  type: 'tool';
  at: string;
  step: 'decided' | 'started' | 'ended' | 'changed';
  server: string;
  tool: string;
  toolCallId?: string;
  /** decided */
  effect?: Effect;
  ruleId?: string;
  message?: string;
  pendingApproval?: string;
  /** started: the arguments, masked. */
  arguments?: unknown;
  argumentsTruncated?: { bytes: number };
  /** ended */
  outcome?: ToolCallOutcome;
  durationMs?: number;
  error?: string;
  /** changed: fingerprints first seen and now, and which parts differ. */
  before?: string;
  after?: string;
  fields?: string[];
}

export interface DecisionLine extends Chained {
  type: 'decision';
  at: string;
  requestId: string;
  action: string;
  resource: string;
  effect: Effect;
  ruleId: string;
  message?: string;
  via?: 'policy' | 'grant';
}

export interface ApprovalLine extends Chained {
  type: 'approval';
  at: string;
  step: 'proposed' | 'decided' | 'expired' | 'executed';
  approvalId: string;
  requestId?: string;
  action?: string;
  resource?: string;
  ruleId?: string;
  /** proposed: every `action resource` pair the approval covers (the copy source too). */
  pairs?: string[];
  /** proposed: the body as forwarded, size and SHA-256. */
  body?: { bytes: number; sha256: string };
  /** proposed: forwarded headers that change the call's effect (masked). */
  headers?: Record<string, string>;
  params?: unknown;
  paramsTruncated?: { bytes: number };
  message?: string;
  expiresAt?: string;
  decision?: 'approved' | 'denied';
  by?: string;
  reason?: string;
  forMs?: number;
}

/**
 * A duration grant's life: `created` and `ended` in the approving call's session, `used` in the session of the call
 * it let through.
 */
export interface GrantLine extends Chained {
  type: 'grant';
  at: string;
  step: 'created' | 'used' | 'ended';
  grantId: string;
  approvalId: string;
  /** used: the call the grant let through. */
  requestId?: string;
  /** created: the account and the `action resource` pairs covered, until when. */
  serviceAccount?: string;
  pairs?: string[];
  until?: string;
  /** created: who approved; ended: who revoked. */
  by?: string;
  /** ended */
  reason?: 'expired' | 'revoked' | 'shutdown';
  uses?: number;
}

export interface ResponseLine extends Chained {
  type: 'response';
  at: string;
  requestId: string;
  action: string;
  resource: string;
  status: number;
  errorCode?: string;
  bytes: number;
  durationMs: number;
  requestBytes?: number;
  contentType?: string;
  masking?: MaskingReport;
  bodyExcerpt?: string;
  bodyTruncated?: { bytes: number };
}

export interface PolicyLine extends Chained {
  type: 'policy';
  at: string;
  step: 'loaded' | 'rejected';
  file: string;
  sha256?: string;
  rules?: number;
  errors?: number;
  keptSha256?: string;
}

export interface RevocationLine extends Chained {
  type: 'revocation';
  at: string;
  by: string;
  reason?: string;
}

export interface EndLine extends Chained {
  type: 'end';
  at: string;
  reason: EndReason;
}

export interface DigestLine extends Chained {
  type: 'digest';
  kind: DigestKind;
  at: string;
  /** Equal to `prev`: the hash of the last line this digest covers. */
  lastHash: string;
  /** Lines covered (header included) = this digest's seq. */
  count: number;
  from: string;
  to: string;
  kid: string;
  /** Compact JWS (ES256) over digestPayload(). */
  signature: string;
}

export type RecordLine = HeaderLine | RequestLine | DecisionLine | ApprovalLine | GrantLine | ResponseLine | PolicyLine | RevocationLine | ToolLine | EndLine | DigestLine;
export type EventLine = Exclude<RecordLine, HeaderLine | DigestLine>;

/** A line before it is chained: the recorder adds seq and prev. */
export type Unchained<T> = T extends Chained ? Omit<T, 'seq' | 'prev'> : never;

export interface DigestPayload {
  sessionId: string;
  lastHash: string;
  count: number;
  from: string;
  to: string;
}

export function sha256Hex(data: string | Uint8Array): string {
  return hash('sha256', data, 'hex');
}

/** Serialises a line with `seq` and `prev` first so files read naturally. JSON never contains a raw newline. */
export function serializeLine(body: Unchained<RecordLine>, seq: number, prev: string | null): string {
  // The same text as JSON.stringify({ seq, prev, ...body }) without copying the body into a new object.
  if ('seq' in body || 'prev' in body) return JSON.stringify({ seq, prev, ...body });
  const rest = JSON.stringify(body);
  return `{"seq":${JSON.stringify(seq)},"prev":${JSON.stringify(prev)}${rest === '{}' ? '}' : `,${rest.slice(1)}`}`;
}

/** The exact bytes a digest's JWS signs: fixed key order, so signer and verifier agree without canonicalisation. */
export function digestPayloadBytes(payload: DigestPayload): Uint8Array {
  const ordered: DigestPayload = {
    sessionId: payload.sessionId,
    lastHash: payload.lastHash,
    count: payload.count,
    from: payload.from,
    to: payload.to,
  };
  return new TextEncoder().encode(JSON.stringify(ordered));
}

/** Cuts a UTF-8 string to at most maxBytes bytes without splitting a character. */
export function cutUtf8(text: string, maxBytes: number): string {
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length <= maxBytes) return text;
  let end = Math.max(0, maxBytes);
  // Step back over continuation bytes (10xxxxxx) so the cut lands on a character boundary.
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end -= 1;
  return bytes.subarray(0, end).toString('utf8');
}

/** Params kept whole when their JSON fits in maxBodyBytes, else the first maxBodyBytes of that JSON. */
export function boundParams(params: unknown, maxBodyBytes: number): { params?: unknown; paramsTruncated?: { bytes: number } } {
  if (params === undefined) return {};
  const json = JSON.stringify(params) ?? 'null';
  const bytes = Buffer.byteLength(json, 'utf8');
  if (bytes <= maxBodyBytes) return { params };
  return { params: cutUtf8(json, maxBodyBytes), paramsTruncated: { bytes } };
}

function boundText(text: string | undefined, maxBodyBytes: number): { bodyExcerpt?: string; bodyTruncated?: { bytes: number } } {
  if (text === undefined) return {};
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes <= maxBodyBytes) return { bodyExcerpt: text };
  return { bodyExcerpt: cutUtf8(text, maxBodyBytes), bodyTruncated: { bytes } };
}

/** Optional members may be undefined here: JSON.stringify leaves them out of the file, so no copying is needed. */
function compact<T extends object>(value: T): T {
  return value;
}

export function headerFromEvent(
  event: Extract<GatewayEvent, { type: 'session.started' }>,
  gatewayVersion: string,
): Unchained<HeaderLine> {
  return compact({
    type: 'header' as const,
    sessionId: event.sessionId,
    serviceAccount: event.serviceAccount,
    issuer: event.issuer,
    subject: event.subject,
    claims: event.claims,
    roleArn: event.roleArn,
    sourceIp: event.sourceIp,
    userAgent: event.userAgent,
    gatewayVersion,
    policySha256: event.policySha256,
    start: event.at,
    expiresAt: event.expiresAt,
  });
}

/**
 * The line an event becomes inside its session, or undefined for events that are not part of one
 * (session.started becomes the header; session.ended — a revocation — is handled by the recorder because it also closes).
 */
export function lineFromEvent(event: GatewayEvent, maxBodyBytes: number): Unchained<EventLine> | undefined {
  switch (event.type) {
    case 'request':
      return compact({
        type: 'request' as const,
        at: event.at,
        requestId: event.requestId,
        service: event.service,
        action: event.action,
        resource: event.resource,
        region: event.region,
        sourceIp: event.sourceIp,
        http: event.http,
        traceparent: event.traceparent,
        ...boundParams(event.params, maxBodyBytes),
        toolCallId: event.toolCallId,
        toolCallCandidates: event.toolCallCandidates,
      });
    case 'tool.call.decided':
      return compact({
        type: 'tool' as const,
        at: event.at,
        step: 'decided' as const,
        server: event.server,
        tool: event.tool,
        toolCallId: event.toolCallId,
        effect: event.effect,
        ruleId: event.ruleId,
        message: event.message,
        pendingApproval: event.pendingApproval,
      });
    case 'tool.call.started': {
      const bounded = boundParams(event.arguments, maxBodyBytes);
      return compact({
        type: 'tool' as const,
        at: event.at,
        step: 'started' as const,
        server: event.server,
        tool: event.tool,
        toolCallId: event.toolCallId,
        arguments: bounded.params,
        argumentsTruncated: bounded.paramsTruncated,
      });
    }
    case 'tool.call.ended':
      return compact({
        type: 'tool' as const,
        at: event.at,
        step: 'ended' as const,
        server: event.server,
        tool: event.tool,
        toolCallId: event.toolCallId,
        outcome: event.outcome,
        durationMs: event.durationMs,
        error: event.error,
      });
    case 'tool.changed':
      return { type: 'tool', at: event.at, step: 'changed', server: event.server, tool: event.tool, before: event.before, after: event.after, fields: event.fields };
    case 'decision':
      return compact({
        type: 'decision' as const,
        at: event.at,
        requestId: event.requestId,
        action: event.action,
        resource: event.resource,
        effect: event.effect,
        ruleId: event.ruleId,
        message: event.message,
        via: event.via,
      });
    case 'approval.proposed':
      return compact({
        type: 'approval' as const,
        at: event.at,
        step: 'proposed' as const,
        approvalId: event.approvalId,
        requestId: event.requestId,
        action: event.action,
        resource: event.resource,
        ruleId: event.ruleId,
        pairs: event.pairs,
        body: event.body,
        headers: event.headers,
        message: event.message,
        expiresAt: event.expiresAt,
        ...boundParams(event.params, maxBodyBytes),
      });
    case 'approval.decided':
      return compact({
        type: 'approval' as const,
        at: event.at,
        step: 'decided' as const,
        approvalId: event.approvalId,
        decision: event.decision,
        by: event.by,
        reason: event.reason,
        forMs: event.forMs,
      });
    case 'approval.expired':
      return { type: 'approval', at: event.at, step: 'expired', approvalId: event.approvalId };
    case 'approval.executed':
      return { type: 'approval', at: event.at, step: 'executed', approvalId: event.approvalId, requestId: event.requestId };
    case 'grant.created':
      return {
        type: 'grant',
        at: event.at,
        step: 'created',
        grantId: event.grantId,
        approvalId: event.approvalId,
        serviceAccount: event.serviceAccount,
        pairs: event.pairs,
        until: event.until,
        by: event.by,
      };
    case 'grant.used':
      return { type: 'grant', at: event.at, step: 'used', grantId: event.grantId, approvalId: event.approvalId, requestId: event.requestId };
    case 'grant.ended':
      return compact({ type: 'grant' as const, at: event.at, step: 'ended' as const, grantId: event.grantId, approvalId: event.approvalId, reason: event.reason, by: event.by, uses: event.uses });
    case 'response':
      return compact({
        type: 'response' as const,
        at: event.at,
        requestId: event.requestId,
        action: event.action,
        resource: event.resource,
        status: event.status,
        errorCode: event.errorCode,
        bytes: event.bytes,
        durationMs: event.durationMs,
        requestBytes: event.requestBytes,
        contentType: event.contentType,
        masking: event.masking,
        ...boundText(event.bodyExcerpt, maxBodyBytes),
      });
    case 'policy.loaded':
      return { type: 'policy', at: event.at, step: 'loaded', file: event.file, sha256: event.sha256, rules: event.rules };
    case 'policy.rejected':
      return compact({
        type: 'policy' as const,
        at: event.at,
        step: 'rejected' as const,
        file: event.file,
        errors: event.errors.length,
        keptSha256: event.keptSha256,
      });
    case 'session.revoked':
      return compact({ type: 'revocation' as const, at: event.at, by: event.by, reason: event.reason });
    default:
      return undefined;
  }
}

/** The session an event belongs to, when the event says so itself. */
export function eventSessionId(event: GatewayEvent): string | undefined {
  return 'sessionId' in event && typeof event.sessionId === 'string' ? event.sessionId : undefined;
}
