// The request, top to bottom. Each stage is a plain function over the Flow (src/flow.ts); a stage that ends the call
// sets `flow.outcome` and the stages after it are skipped, except respond, which always runs. Stages throw only on
// faults; a GatewayError thrown by a stage (or by the code it calls) ends the call as refused — or failed, for the
// gateway's own faults — and any other exception as an internal fault. The list is compiled once at start and again
// on every policy load; a request keeps the pipeline it started with.

import { GatewayError, isGatewayError, type GatewayErrorCode } from '../errors.js';
import type { Flow, Outcome } from '../flow.js';
import { approve } from './approve.js';
import { authenticate } from './authenticate.js';
import type { Stage, StageContext, StageFactory } from './context.js';
import { decide } from './decide.js';
import { forward } from './forward.js';
import { identify } from './identify.js';
import { escalate, limit } from './limit.js';
import { mask } from './mask.js';
import { mcp } from './mcp.js';
import { record } from './record.js';
import { respond } from './respond.js';
import { sts } from './sts.js';
import { vet } from './vet.js';

export interface StageSpec {
  name: string;
  factory: StageFactory;
  /** What the Flow holds before and after the stage (mitmproxy's hook docs). */
  doc: string;
}

export const STAGES: readonly StageSpec[] = [
  { name: 'sts', factory: sts, doc: 'before: the request. after: an AssumeRoleWithWebIdentity answer (credentials or a refusal) and outcome `answered`; other requests untouched' },
  { name: 'authenticate', factory: authenticate, doc: 'after: session, signature (parsed, verified, payloadHash), body when it had to be read; or outcome `refused`' },
  { name: 'mcp', factory: mcp, doc: 'after: for a request signed for `portcullis` (the MCP wrapper): its answer (a tool decision, a tool-call report taken) and outcome `answered`; other requests untouched' },
  { name: 'identify', factory: identify, doc: 'after: call (service, operation, protocol, region, params, resources, copy source), errorProtocol of the call, maskedParams' },
  { name: 'record', factory: record, doc: 'after: the request record written (durable first in strict mode); or outcome `failed` when it cannot be' },
  { name: 'vet', factory: vet, doc: 'after: outcome `refused` for a request with two readings (dispatch, path, bucket, copy source) or unsigned headers the upstream interprets; else unchanged' },
  { name: 'limit', factory: limit, doc: 'after: a concurrency slot of the service account (released by flow.onDone) and its calls/bytes counted; or outcome `refused` THROTTLED (limit.hit)' },
  { name: 'decide', factory: decide, doc: 'after: pairs (every IAM action × resource), pairDecisions, decision (any deny → deny, any approve → approve, else allow); on deny a decision event and outcome `denied`' },
  { name: 'escalate', factory: escalate, doc: 'after: the deciding rule\'s limits applied (or outcome `refused` THROTTLED); past its `escalate.after`, decision `approve` with why, or outcome `denied` (limit.escalated)' },
  { name: 'approve', factory: approve, doc: 'after: the decision event of an allowed call; for decision `approve`: approval (id, via, grant) and a decision event, or outcome `pending` / `denied`' },
  { name: 'forward', factory: forward, doc: 'after: upstream (status, headers without hop-by-hop, unread body) from the re-signed call; or outcome `failed`' },
  { name: 'mask', factory: mask, doc: 'after: response (masked body with fixed lengths and checksums, or a stream when too large) and its masking report' },
];

/** Always runs last: writes the response or the outcome as an error; the response event; approval executed. */
export const RESPOND: StageSpec = { name: 'respond', factory: respond, doc: 'after: the client has its answer; response event emitted' };

/** The gateway's own faults: the call failed rather than being refused. */
const FAULT_CODES: ReadonlySet<GatewayErrorCode> = new Set(['UPSTREAM_UNAVAILABLE', 'UNMASKABLE_RESPONSE', 'RECORDING_FAILED', 'INTERNAL']);

export interface CompiledPipeline {
  run(flow: Flow): Promise<void>;
}

/** Builds every stage for this context; `specs` narrows the list (stage tests), respond is always last. */
export function compilePipeline(context: StageContext, specs: readonly StageSpec[] = STAGES): CompiledPipeline {
  const stages: Stage[] = specs.map((spec) => spec.factory(context));
  const respondStage = RESPOND.factory(context);

  const outcomeOf = (error: unknown, flow: Flow): Outcome => {
    if (isGatewayError(error)) return { kind: FAULT_CODES.has(error.code) ? 'failed' : 'refused', error };
    context.emit({ type: 'error', message: `request ${flow.requestId}: ${(error as Error)?.message ?? String(error)}`, code: 'INTERNAL' });
    return { kind: 'failed', error: new GatewayError('INTERNAL', `internal gateway error (request ${flow.requestId})`, { cause: error }) };
  };

  return {
    async run(flow) {
      for (const stage of stages) {
        if (flow.outcome !== undefined) break;
        try {
          // Most stages are synchronous: await only a promise (an await per stage is a microtask turn per call).
          const pending = stage(flow);
          if (pending) await pending;
        } catch (error) {
          flow.outcome = outcomeOf(error, flow);
        }
      }
      try {
        await respondStage(flow);
      } catch (error) {
        outcomeOf(error, flow);
        flow.res.destroy();
      } finally {
        for (const done of flow.onDone?.splice(0) ?? []) {
          try {
            done();
          } catch (error) {
            outcomeOf(error, flow);
          }
        }
        await flow.spool?.remove().catch(() => undefined);
      }
    },
  };
}
