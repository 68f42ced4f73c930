// approve — holds a call that needs a human. The approval is bound to the whole call (callFingerprint): account,
// every (IAM action, resource) pair, method, path and query, the headers that change its effect, and the SHA-256 of
// the exact body forwarded. A body the signature does not cover (UNSIGNED-PAYLOAD, aws-chunked streams) is spooled
// and hashed first, so the retry is matched on real bytes, and the spooled bytes are what gets forwarded. The call
// waits up to the rule's hold, then passes (an approval or a duration grant), ends denied, or ends pending with a
// retryable error while the approval stays open.

import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { boundHeaders, callFingerprint, pairKeys } from '../approval/fingerprint.js';
import { chunkedPayloadDigest } from '../aws/chunked-digest.js';
import { streamingMode } from '../aws/chunked.js';
import { GatewayError } from '../errors.js';
import type { Flow } from '../flow.js';
import { formatBytes } from '../lib/bytes.js';
import { Spool } from '../lib/spool.js';
import type { StageContext, StageFactory } from './context.js';
import { emitDecision } from './decide.js';
import { forwardHeadersOf } from './vet.js';

const EMPTY_SHA256 = createHash('sha256').digest('hex');
/** Spooled bodies stay in memory up to this, then go to a file in the state dir. */
const SPOOL_MEMORY_BYTES = 1024 * 1024;

/** The SHA-256 of the body bytes that will be forwarded, spooling the body when the signature does not cover it. */
async function bodyDigest(ctx: StageContext, flow: Flow): Promise<{ sha256: string; bytes: number }> {
  const { payloadHash } = flow.signature!;
  if (flow.body !== undefined) return { sha256: createHash('sha256').update(flow.body).digest('hex'), bytes: flow.body.length };
  if (flow.method === 'GET' || flow.method === 'HEAD') return { sha256: EMPTY_SHA256, bytes: 0 };
  const maxBytes = ctx.policy.config.approval.maxBodyBytes;
  const filled = await Spool.fill(flow.req, { dir: join(ctx.stateDir, 'spool'), memoryBytes: SPOOL_MEMORY_BYTES, maxBytes, timeoutMs: ctx.limits.bodyTimeoutMs });
  if (!filled.ok) {
    if (filled.reason === 'too-large') {
      throw new GatewayError(
        'BODY_TOO_LARGE',
        `portcullis: this call needs approval and its body is larger than approval.max_body (${formatBytes(maxBytes)}); an approval must bind the exact bytes, so larger bodies are refused`,
      );
    }
    throw new GatewayError('MALFORMED_REQUEST', `portcullis: the request body ${filled.reason === 'timeout' ? 'did not arrive in time' : 'was cut off'} while it was read for approval`, {
      status: filled.reason === 'timeout' ? 408 : 400,
      awsCode: filled.reason === 'timeout' ? 'RequestTimeout' : 'IncompleteBody',
    });
  }
  flow.spool = filled.spool;
  if (streamingMode(payloadHash) === 'none') {
    const hash = createHash('sha256');
    for await (const chunk of filled.spool.stream()) hash.update(chunk as Buffer);
    return { sha256: hash.digest('hex'), bytes: filled.spool.bytes };
  }
  const digest = await chunkedPayloadDigest(filled.spool.stream());
  if (!digest.ok) throw new GatewayError('MALFORMED_REQUEST', `portcullis: ${digest.reason}`, { awsCode: 'IncompleteBody' });
  return { sha256: digest.sha256, bytes: digest.bytes };
}

export const approve: StageFactory = (ctx) => (flow) => {
  const decision = flow.decision!;
  if (decision.effect !== 'approve') {
    // The final decision (after escalation) of a call that needs no human (synchronous: no turn of the event loop).
    emitDecision(ctx, flow, decision, 'policy');
    return;
  }
  return askForApproval(ctx, flow);
};

/** A call the policy holds for a human: the grant that covers it, or a held or denied call. */
async function askForApproval(ctx: StageContext, flow: Flow): Promise<void> {
  const decision = flow.decision!;
  const call = flow.call!;
  const session = flow.session!;
  const rule = decision.rule;
  const body = await bodyDigest(ctx, flow);
  const headers = flow.forwardHeaders ?? forwardHeadersOf(flow);
  const pairs = pairKeys(flow.pairs!);
  const shown = Object.fromEntries(boundHeaders(headers).map(([name, value]) => [name, ctx.masker.maskValue(value, { service: call.service }).value as string]));
  const outcome = await ctx.approvals.request({
    sessionId: session.sessionId,
    requestId: flow.requestId,
    serviceAccount: session.serviceAccount,
    action: call.action,
    resource: call.resource,
    pairs,
    region: call.region,
    params: flow.maskedParams,
    body,
    headers: shown,
    fingerprint: callFingerprint({ serviceAccount: session.serviceAccount, pairs: flow.pairs!, method: flow.method, rawPath: flow.rawPath, headers, bodySha256: body.sha256 }),
    ruleId: decision.ruleId,
    message: decision.message,
    holdMs: rule?.approval.holdMs ?? 20_000,
    timeoutMs: rule?.approval.timeoutMs ?? 600_000,
  });
  if (outcome.outcome === 'pending') {
    emitDecision(ctx, flow, decision, 'policy');
    flow.outcome = {
      kind: 'pending',
      error: new GatewayError(
        'APPROVAL_PENDING',
        `portcullis: ${call.action} on ${call.resource} is waiting for approval ${outcome.approvalId} (rule ${decision.ruleId}${decision.message ? `: ${decision.message}` : ''}); retry after a human approves it (expires ${outcome.expiresAt.toISOString()})`,
        { awsCode: 'ThrottlingException' },
      ),
    };
    return;
  }
  if (outcome.outcome === 'denied') {
    emitDecision(ctx, flow, { ...decision, effect: 'deny', message: outcome.reason }, 'grant');
    flow.outcome = { kind: 'denied', error: new GatewayError('ACCESS_DENIED', `portcullis: ${call.action} on ${call.resource} was not approved (rule ${decision.ruleId}): ${outcome.reason}`) };
    return;
  }
  flow.approval = { id: outcome.approvalId, via: outcome.via, grantId: outcome.grantId };
  emitDecision(ctx, flow, { ...decision, effect: 'allow' }, 'grant');
}
