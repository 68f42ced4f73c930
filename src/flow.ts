// One Flow per client request: the record of the call. Stages (src/pipeline/stages.ts) fill it in order: what
// arrived, who sent it, what it is, every decision, the approval, what came back and how it was masked. A stage
// that ends the call sets `outcome`; later stages then skip, and the respond stage answers from it. Events and the
// request record are built from the Flow.

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import type { AuthorizationPair } from './aws/authorize.js';
import type { CallInfo } from './aws/identify.js';
import type { ParsedSignature, VerifiedSignature } from './aws/sigv4.js';
import type { ErrorProtocol, GatewayError } from './errors.js';
import type { MaskingReport } from './events.js';
import type { GatewaySession } from './identity/credentials.js';
import type { Spool } from './lib/spool.js';
import type { MaskedRequestPlan } from './masking/request.js';
import type { UpstreamOrigin } from './aws/endpoints.js';
import type { Decision, PairDecision } from './policy/evaluate.js';

/**
 * How a call ended before (or instead of) reaching the upstream. `refused`: it could not be authenticated or read;
 * `denied`: the policy (or an approver) said no; `pending`: it waits for a human; `failed`: a technical fault.
 * `answered`: a stage produced the whole answer itself (STS).
 */
export type Outcome =
  | { kind: 'refused' | 'denied' | 'pending' | 'failed'; error: GatewayError }
  | { kind: 'answered' };

/** What goes back to the client: a buffered body, or a stream (with what was read of it before masking gave up). */
export interface FlowResponse {
  status: number;
  headers: Record<string, string | string[] | number>;
  body?: Buffer;
  stream?: Readable;
  prefix?: Buffer;
  masking?: MaskingReport;
  /** The start of the (masked) body, for the response event. */
  excerpt?: string;
  /** The AWS error code the upstream answered with, if any. */
  errorCode?: string;
}

export interface Flow {
  readonly requestId: string;
  /** ms since the epoch (wall clock), for durations. */
  readonly startedAtMs: number;
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly method: string;
  /** Path + query exactly as received. */
  readonly rawPath: string;
  readonly sourceIp?: string;
  readonly userAgent?: string;
  /** How errors must be shaped for this client; known once the signing service is. */
  errorProtocol: ErrorProtocol;
  /** authenticate: the client's signature, checked. */
  signature?: { parsed: ParsedSignature; verified: VerifiedSignature; payloadHash: string };
  /** authenticate: the gateway session the credentials belong to. */
  session?: GatewaySession;
  /** authenticate: the body, when it had to be read (payload hash, JSON/query protocols). */
  body?: Buffer;
  /** identify: what the call is. */
  call?: CallInfo;
  /** identify: the call's parameters as approvers and recordings see them. */
  maskedParams?: unknown;
  /** vet: the headers that go upstream (only what was signed, or may travel unsigned); approve binds them. */
  forwardHeaders?: Record<string, string>;
  /** decide: every (IAM action, resource) pair the call needs. */
  pairs?: AuthorizationPair[];
  /** decide: the decision for each pair. */
  pairDecisions?: PairDecision[];
  /** decide: the combined decision. */
  decision?: Decision;
  /** approve: the approval or grant that let a held call through. */
  approval?: { id: string; via: 'approval' | 'duration-grant'; grantId?: string };
  /** approve: a body held back to be hashed before the decision; forwarded from here, removed when the call ends. */
  spool?: Spool;
  /** forward: where the call goes. */
  target?: UpstreamOrigin;
  /** forward: the request as sent for masking, what the client asked that the gateway answers itself, the fallback. */
  maskPlan?: MaskedRequestPlan;
  /** forward: the upstream's answer, not yet read. */
  upstream?: { origin: string; method: string; status: number; headers: Record<string, string | string[]>; body: Readable };
  /** mask: what the client will receive. */
  response?: FlowResponse;
  outcome?: Outcome;
  /** respond: bytes of body sent to the client. */
  responseBytes?: number;
  /** Run once when the call has ended in any way (answered, refused, aborted, failed): releases limit slots and budgets. */
  onDone?: (() => void)[];
}

/** The five fields every per-call event starts with. */
export function callHeader(flow: Flow): { sessionId: string; requestId: string; serviceAccount: string; action: string; resource: string } {
  return {
    sessionId: flow.session!.sessionId,
    requestId: flow.requestId,
    serviceAccount: flow.session!.serviceAccount,
    action: flow.call!.action,
    resource: flow.call!.resource,
  };
}
