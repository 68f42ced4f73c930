// Assembles each call from the events it produces (request, decisions, approval steps, response) and hands the
// finished call to the sinks. Observes only; bounded: calls that never finish and sessions seen long ago are forgotten.

import type { GatewayEvent } from '../events.js';
import { headerFromEvent, lineFromEvent, type ApprovalLine, type DecisionLine, type HeaderLine, type RequestLine, type ResponseLine } from '../recording/chain.js';
import type { RecordedCall } from '../recording/export.js';

export interface FinishedCall extends RecordedCall {
  header: HeaderLine;
  response: ResponseLine;
  /** Every (IAM action, resource) pair decided, from the decision events. */
  pairs: { action: string; resource: string; effect: string; ruleId: string }[];
}

const MAX_OPEN_CALLS = 10_000;
const MAX_SESSIONS = 10_000;
/** Params in telemetry are cut like recordings with a small limit: sinks are not archives. */
const MAX_BODY_BYTES = 4096;

function chained<T>(body: T): T & { seq: number; prev: null } {
  return { seq: 0, prev: null, ...body };
}

function remember<K, V>(map: Map<K, V>, key: K, value: V, max: number): void {
  map.set(key, value);
  if (map.size > max) map.delete(map.keys().next().value as K);
}

export class CallAssembler {
  readonly #sessions = new Map<string, HeaderLine>();
  readonly #open = new Map<string, FinishedCall>();
  readonly #approvalRequests = new Map<string, string>();
  readonly #onCall: (call: FinishedCall) => void;
  readonly #gatewayVersion: string;

  constructor(options: { onCall: (call: FinishedCall) => void; gatewayVersion: string }) {
    this.#onCall = options.onCall;
    this.#gatewayVersion = options.gatewayVersion;
  }

  observe(event: GatewayEvent): void {
    switch (event.type) {
      case 'session.started':
        remember(this.#sessions, event.sessionId, chained(headerFromEvent(event, this.#gatewayVersion)) as HeaderLine, MAX_SESSIONS);
        return;
      case 'request': {
        const request = chained(lineFromEvent(event, MAX_BODY_BYTES)) as RequestLine;
        // A session started before this process: what the request itself says about it.
        const header =
          this.#sessions.get(event.sessionId) ??
          (chained({ type: 'header', sessionId: event.sessionId, serviceAccount: event.serviceAccount, issuer: '', subject: '', claims: {}, roleArn: '', gatewayVersion: this.#gatewayVersion, policySha256: '', start: event.at, expiresAt: event.at }) as HeaderLine);
        remember(this.#open, event.requestId, { header, request, decisions: [], approvals: [], pairs: [], response: undefined as unknown as ResponseLine }, MAX_OPEN_CALLS);
        return;
      }
      case 'decision': {
        const call = this.#open.get(event.requestId);
        if (!call) return;
        call.decisions.push(chained(lineFromEvent(event, MAX_BODY_BYTES)) as DecisionLine);
        call.pairs.push(...(event.pairs ?? [{ action: event.action, resource: event.resource, effect: event.effect, ruleId: event.ruleId }]));
        return;
      }
      case 'approval.proposed':
      case 'approval.executed': {
        if (event.type === 'approval.proposed') remember(this.#approvalRequests, event.approvalId, event.requestId, MAX_OPEN_CALLS);
        this.#open.get(event.requestId)?.approvals.push(chained(lineFromEvent(event, MAX_BODY_BYTES)) as ApprovalLine);
        return;
      }
      case 'approval.decided': {
        const requestId = this.#approvalRequests.get(event.approvalId);
        if (requestId !== undefined) this.#open.get(requestId)?.approvals.push(chained(lineFromEvent(event, MAX_BODY_BYTES)) as ApprovalLine);
        return;
      }
      case 'response': {
        const call = this.#open.get(event.requestId);
        if (!call) return;
        this.#open.delete(event.requestId);
        call.response = chained(lineFromEvent(event, MAX_BODY_BYTES)) as ResponseLine;
        this.#onCall(call);
        return;
      }
      default:
        return;
    }
  }
}
