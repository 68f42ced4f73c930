// Typed events the gateway emits. Recording, the headless log, the admin event stream and the
// dashboard all consume these; none of them feeds back into gateway decisions.
// Every value in an event is already masked by the time it is emitted.

import type { Effect } from './config/types.js';
import type { LimitName } from './limits/types.js';

export interface PolicyErrorItem {
  file: string;
  line: number;
  column: number;
  /** e.g. `rules[2].effect` */
  path: string;
  message: string;
}

export interface MaskingReport {
  /** Field rules that fired, with how many values each masked. */
  fields: Record<string, number>;
  /** Detectors (and custom patterns) that fired, with how many values each masked. */
  detectors: Record<string, number>;
  /** Why the body was not inspected, if it was not. */
  skipped?: 'binary' | 'too-large' | 'encoded' | 'none';
}

/**
 * What an `error` event is about, a closed union users can match on: an internal fault on a request, the recording
 * failing, a forward-proxy tunnel refused or failed, the policy file's watcher, a listener that threw, the admin
 * event stream overflowing, a telemetry sink or the recording witness dropping data, the demo's own traffic.
 */
export type ErrorEventCode =
  | 'INTERNAL'
  | 'RECORDING_FAILED'
  | 'CONNECT_REFUSED'
  | 'CONNECT_PASSTHROUGH'
  | 'CONNECT_TLS_FAILED'
  | 'CONNECT_MISDIRECTED'
  | 'POLICY_WATCH'
  | 'LISTENER_FAILED'
  | 'EVENT_STREAM_OVERFLOW'
  | 'TELEMETRY_FAILED'
  | 'WITNESS_FAILED'
  | 'DEMO';

/** The wire form of a call as recorded; every value is masked and signature query parameters are removed. */
export interface RequestWire {
  method: string;
  host?: string;
  path: string;
  /** Query parameters in order, without X-Amz-Signature, -Credential, -Security-Token and the other SigV4 ones. */
  query?: { name: string; value: string }[];
  userAgent?: string;
  contentType?: string;
}

/** How a wrapped MCP tool call ended: a result, a result marked isError, a JSON-RPC error, refused by the gateway, cancelled by the client, or the server went away. */
export type ToolCallOutcome = 'ok' | 'tool-error' | 'rpc-error' | 'denied' | 'cancelled' | 'lost';

interface Base {
  /** ISO-8601 time */
  at: string;
}

export type GatewayEvent =
  | (Base & {
      type: 'listening';
      url: string;
      stateDir: string;
      policyFile: string;
      version: string;
      /**
       * The upstream as checked at start: who the gateway is there (sts:GetCallerIdentity with its own credentials),
       * or the problem; `unchecked` when the credentials can only come from the instance role (asked at the first call).
       */
      upstream?: { sts: string; identity?: string; problem?: string; unchecked?: string };
    })
  | (Base & {
      type: 'policy.loaded';
      file: string;
      sha256: string;
      rules: number;
      serviceAccounts: number;
      /** Live sessions revoked because the new policy no longer has their service account or role. */
      endedSessions?: number;
    })
  | (Base & { type: 'policy.rejected'; file: string; errors: PolicyErrorItem[]; keptSha256?: string })
  | (Base & {
      type: 'session.started';
      sessionId: string;
      serviceAccount: string;
      issuer: string;
      subject: string;
      claims: Record<string, unknown>;
      roleArn: string;
      sourceIp?: string;
      userAgent?: string;
      expiresAt: string;
      policySha256: string;
    })
  | (Base & { type: 'session.refused'; reason: string; code: string; sourceIp?: string; userAgent?: string })
  | (Base & {
      type: 'request';
      sessionId: string;
      requestId: string;
      serviceAccount: string;
      service: string;
      action: string;
      resource: string;
      region: string;
      params?: unknown;
      sourceIp?: string;
      /** The call as it came in (masked): HTTP method, path, query without SigV4 signature parameters, host. */
      http?: RequestWire;
      /** W3C trace context from the client's `traceparent` header, when valid (telemetry continues the trace). */
      traceparent?: string;

      /** The MCP tool call this AWS call was made for: the session had exactly this one open. */
      toolCallId?: string;
      /** Several tool calls of the session were open: one of these caused it (never guessed). */
      toolCallCandidates?: string[];
    })
  | (Base & {
      type: 'decision';
      sessionId: string;
      requestId: string;
      serviceAccount: string;
      action: string;
      resource: string;
      effect: Effect;
      ruleId: string;
      message?: string;
      /** `grant` when an earlier approval let this call through. */
      via?: 'policy' | 'grant';
      /** Every (IAM action, resource) pair decided, with its own effect and rule. */
      pairs?: { action: string; resource: string; effect: Effect; ruleId: string }[];
    })
  | (Base & {
      type: 'approval.proposed';
      approvalId: string;
      sessionId: string;
      requestId: string;
      serviceAccount: string;
      action: string;
      resource: string;
      /** Every (IAM action, resource) pair the held call needs, as `action resource`. */
      pairs?: string[];
      region?: string;
      params?: unknown;
      /** The body as it will be forwarded: size and SHA-256. */
      body?: { bytes: number; sha256: string };
      /** Forwarded headers that change the call's effect (masked). */
      headers?: Record<string, string>;
      ruleId: string;
      message?: string;
      expiresAt: string;
    })
  | (Base & {
      type: 'approval.decided';
      approvalId: string;
      /** Lets the recorder file the step under its session even after a restart. */
      sessionId?: string;
      decision: 'approved' | 'denied';
      by: string;
      reason?: string;
      forMs?: number;
    })
  | (Base & { type: 'approval.expired'; approvalId: string; sessionId?: string })
  | (Base & {
      type: 'grant.created';
      grantId: string;
      approvalId: string;
      sessionId: string;
      serviceAccount: string;
      /** `action resource` keys the grant covers. */
      pairs: string[];
      by: string;
      until: string;
    })
  | (Base & { type: 'grant.used'; grantId: string; approvalId: string; sessionId: string; requestId: string })
  | (Base & { type: 'grant.ended'; grantId: string; approvalId: string; sessionId: string; reason: 'expired' | 'revoked' | 'shutdown'; by?: string; uses: number })
  | (Base & { type: 'approval.executed'; approvalId: string; requestId: string; sessionId?: string })
  | (Base & {
      type: 'response';
      sessionId: string;
      requestId: string;
      serviceAccount: string;
      action: string;
      resource: string;
      status: number;
      errorCode?: string;
      bytes: number;
      durationMs: number;
      masking?: MaskingReport;
      bodyExcerpt?: string;
      /** Bytes of request body received, when known (Content-Length or the body read). */
      requestBytes?: number;
      /** The answer's Content-Type. */
      contentType?: string;
    })
  | (Base & {
      /** A call refused (throttled, or an upload cut) by a limit. `ruleId` for a rule's limits. */
      type: 'limit.hit';
      sessionId?: string;
      requestId: string;
      serviceAccount: string;
      action?: string;
      resource?: string;
      limit: LimitName;
      ruleId?: string;
      message: string;
    })
  | (Base & {
      /** A rule's `escalate:` fired: the call needs approval (`then: approve`) or is denied. */
      type: 'limit.escalated';
      sessionId: string;
      requestId: string;
      serviceAccount: string;
      action: string;
      resource: string;
      ruleId: string;
      /** Matching calls within the window, this one included. */
      count: number;
      after: number;
      withinMs: number;
      then: 'approve' | 'deny';
    })
  | (Base & {
      /** The gateway decided an MCP tool call (`mcp:CallTool` on `mcp:<server>/tool/<name>`), asked by `portcullis mcp run`. */
      type: 'tool.call.decided';
      sessionId: string;
      serviceAccount: string;
      toolCallId: string;
      server: string;
      tool: string;
      effect: Effect;
      ruleId: string;
      message?: string;
      /** effect approve: the approval it waits for (named apart from `approvalId`, which files approval steps). */
      pendingApproval?: string;
    })
  | (Base & { type: 'tool.call.started'; sessionId: string; serviceAccount: string; toolCallId: string; server: string; tool: string; arguments?: unknown })
  | (Base & {
      type: 'tool.call.ended';
      sessionId: string;
      serviceAccount: string;
      toolCallId: string;
      server: string;
      tool: string;
      outcome: ToolCallOutcome;
      durationMs: number;
      error?: string;
    })
  | (Base & {
      /** A tool's description or input schema differs from the first time the wrapper saw it (rug-pull guard). */
      type: 'tool.changed';
      sessionId: string;
      serviceAccount: string;
      server: string;
      tool: string;
      before: string;
      after: string;
      fields: string[];
    })
  | (Base & { type: 'session.revoked'; sessionId: string; by: string; reason?: string })
  /** A session closed by the gateway before its credentials expired (expiry itself is noticed by the recorder). */
  | (Base & { type: 'session.ended'; sessionId: string; reason: 'revoked' })
  | (Base & { type: 'error'; message: string; code: ErrorEventCode })
  /**
   * The gateway is stopping (the last event it emits): what the stop cuts off. Active sessions lose access, pending
   * calls are denied, grants end.
   */
  | (Base & { type: 'stopped'; activeSessions: number; pending: number; grants: number; requests: number; allowed: number; denied: number; uptimeMs: number });

export type GatewayEventType = GatewayEvent['type'];

export type StopCounts = Omit<Extract<GatewayEvent, { type: 'stopped' }>, 'type' | 'at'>;

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** What stopping cuts off, in one line (the stop confirm, the last line `start` prints, `tail`). */
export function describeStop(c: Pick<StopCounts, 'activeSessions' | 'pending' | 'grants'>): string {
  const parts = [`${plural(c.activeSessions, 'active session')} ${c.activeSessions === 1 ? 'loses' : 'lose'} access`];
  if (c.pending > 0) parts.push(`${plural(c.pending, 'held call')} ${c.pending === 1 ? 'is' : 'are'} denied`);
  if (c.grants > 0) parts.push(`${plural(c.grants, 'grant')} ${c.grants === 1 ? 'ends' : 'end'}`);
  return parts.join(', ');
}

/** An event as its producer builds it: the bus stamps `at`. */
export type UnstampedEvent = GatewayEvent extends infer E ? (E extends unknown ? Omit<E, 'at'> : never) : never;

export type EventListener = (event: GatewayEvent) => void;

const serialized = new WeakMap<GatewayEvent, string>();

/**
 * The event's JSON, made once and shared by every consumer that writes it out (the headless log, each admin event
 * stream): with a dashboard or `portcullis events` attached, an event is not serialised again per reader. Events are
 * not changed after they are emitted.
 */
export function eventJson(event: GatewayEvent): string {
  let json = serialized.get(event);
  if (json === undefined) {
    json = JSON.stringify(event);
    serialized.set(event, json);
  }
  return json;
}

/** A tiny synchronous fan-out; listeners must not throw (a throwing listener is isolated and reported). */
export class EventBus {
  readonly #listeners = new Set<EventListener>();

  subscribe(listener: EventListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  emit(event: GatewayEvent): void {
    for (const listener of this.#listeners) {
      try {
        listener(event);
      } catch (error) {
        if (event.type !== 'error') this.emit({ type: 'error', at: new Date().toISOString(), message: `event listener failed: ${(error as Error).message}`, code: 'LISTENER_FAILED' });
      }
    }
  }
}
