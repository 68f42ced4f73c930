// What the dashboard keeps about each call for its detail view (Enter on a log row): the masked request, every pair
// and the rule that decided it, the approval's history, the response with its masking report and masked excerpt.
// Bounded (oldest calls forgotten first) and pure, like the model that feeds it.

import type { Effect } from '../config/types.js';
import type { GatewayEvent, MaskingReport } from '../events.js';


export interface CallPair {
  action: string;
  resource: string;
  effect: Effect;
  ruleId: string;
}

export interface CallDecision {
  atMs: number;
  effect: Effect;
  ruleId: string;
  message?: string;
  via?: 'policy' | 'grant';
  pairs: CallPair[];
}

export interface CallApproval {
  id: string;
  proposedAtMs: number;
  ruleId: string;
  message?: string;
  expiresAtMs: number;
  decided?: { atMs: number; decision: 'approved' | 'denied'; by: string; reason?: string; forMs?: number };
  expiredAtMs?: number;
  executedAtMs?: number;
}

export interface CallRecord {
  requestId: string;
  sessionId: string;
  serviceAccount: string;
  action: string;
  resource: string;
  service?: string;
  region?: string;
  sourceIp?: string;
  params?: unknown;
  requestAtMs?: number;
  decisions: CallDecision[];
  approval?: CallApproval;
  /** Held calls also carry what the approval bound. */
  pairKeys?: string[];
  body?: { bytes: number; sha256: string };
  headers?: Record<string, string>;
  response?: { atMs: number; status: number; errorCode?: string; bytes: number; durationMs: number; masking?: MaskingReport; bodyExcerpt?: string };
}

/** How many values a masking report says were masked (fields and detectors together). */
export function maskedCount(report: MaskingReport | undefined): number {
  if (!report) return 0;
  let n = 0;
  for (const v of Object.values(report.fields)) n += v;
  for (const v of Object.values(report.detectors)) n += v;
  return n;
}

export class CallBook {
  readonly #calls = new Map<string, CallRecord>();
  readonly #byApproval = new Map<string, string>();
  readonly #capacity: number;

  constructor(capacity = 2000) {
    this.#capacity = capacity;
  }

  get(requestId: string | undefined): CallRecord | undefined {
    return requestId === undefined ? undefined : this.#calls.get(requestId);
  }

  /** The request id an approval holds. */
  requestOf(approvalId: string): string | undefined {
    return this.#byApproval.get(approvalId);
  }

  #record(e: { requestId: string; sessionId?: string; serviceAccount: string; action?: string; resource?: string }): CallRecord {
    let c = this.#calls.get(e.requestId);
    if (!c) {
      c = { requestId: e.requestId, sessionId: e.sessionId ?? '-', serviceAccount: e.serviceAccount, action: e.action ?? '-', resource: e.resource ?? '-', decisions: [] };
      this.#calls.set(e.requestId, c);
      if (this.#calls.size > this.#capacity) {
        const [oldest, record] = this.#calls.entries().next().value as [string, CallRecord];
        this.#calls.delete(oldest);
        if (record.approval) this.#byApproval.delete(record.approval.id);
      }
    }
    return c;
  }

  apply(event: GatewayEvent, atMs: number): void {
    switch (event.type) {
      case 'request': {
        const c = this.#record(event);
        Object.assign(c, { service: event.service, region: event.region, sourceIp: event.sourceIp, params: event.params, requestAtMs: atMs });
        break;
      }
      case 'decision': {
        const c = this.#record(event);
        c.decisions.push({ atMs, effect: event.effect, ruleId: event.ruleId, message: event.message, via: event.via, pairs: event.pairs ?? [{ action: event.action, resource: event.resource, effect: event.effect, ruleId: event.ruleId }] });
        break;
      }
      case 'approval.proposed': {
        const c = this.#record(event);
        c.approval = { id: event.approvalId, proposedAtMs: atMs, ruleId: event.ruleId, message: event.message, expiresAtMs: Date.parse(event.expiresAt) || atMs };
        if (event.params !== undefined && c.params === undefined) c.params = event.params;
        c.pairKeys = event.pairs;
        c.body = event.body;
        c.headers = event.headers;
        this.#byApproval.set(event.approvalId, event.requestId);
        break;
      }
      case 'approval.decided': {
        const a = this.get(this.#byApproval.get(event.approvalId))?.approval;
        if (a) a.decided = { atMs, decision: event.decision, by: event.by, reason: event.reason, forMs: event.forMs };
        break;
      }
      case 'approval.expired': {
        const a = this.get(this.#byApproval.get(event.approvalId))?.approval;
        if (a) a.expiredAtMs = atMs;
        break;
      }
      case 'approval.executed': {
        const a = this.get(this.#byApproval.get(event.approvalId))?.approval;
        if (a) a.executedAtMs = atMs;
        break;
      }
      case 'response': {
        const c = this.#record(event);
        c.response = { atMs, status: event.status, errorCode: event.errorCode, bytes: event.bytes, durationMs: event.durationMs, masking: event.masking, bodyExcerpt: event.bodyExcerpt };
        break;
      }
      default:
        break;
    }
  }
}

