// approve — holds a call that needs a human: it waits up to the rule's hold for a decision, then either passes
// (an approval or a live duration grant), ends denied, or ends pending with a retryable error while the approval
// stays open. Grants are bound to the call's fingerprint so the SDK's retry passes and a different call does not.

import { createHash } from 'node:crypto';
import { requestFingerprint } from '../approval/manager.js';
import { GatewayError } from '../errors.js';
import type { Flow } from '../flow.js';
import type { StageFactory } from './context.js';
import { emitDecision } from './decide.js';

const SIGNATURE_QUERY = /^x-amz-(signature|credential|date|security-token|expires|signedheaders|algorithm)=/i;

/** Which parts of a REST request identify it beyond its params (the signature query params do not). */
function restFingerprintExtra(flow: Flow, payloadHash: string): string {
  const [path, query = ''] = flow.rawPath.split('?', 2) as [string, string?];
  const kept = query
    .split('&')
    .filter((pair) => pair && !SIGNATURE_QUERY.test(pair))
    .sort()
    .join('&');
  return `${flow.method} ${path}?${kept} ${payloadHash}`;
}

export const approve: StageFactory = (ctx) => async (flow) => {
  const decision = flow.decision!;
  if (decision.effect !== 'approve') return;
  const call = flow.call!;
  const session = flow.session!;
  const rule = decision.rule;
  const outcome = await ctx.approvals.request({
    sessionId: session.sessionId,
    requestId: flow.requestId,
    serviceAccount: session.serviceAccount,
    action: call.action,
    resource: call.resource,
    region: call.region,
    params: flow.maskedParams,
    fingerprint: requestFingerprint({
      serviceAccount: session.serviceAccount,
      action: call.action,
      resource: call.resource,
      params: call.params,
      extra: flow.body === undefined ? restFingerprintExtra(flow, flow.signature!.payloadHash) : createHash('sha256').update(flow.body).digest('hex'),
    }),
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
        `portcullis: ${call.action} on ${call.resource} is waiting for approval ${outcome.approvalId} (rule ${decision.ruleId}); retry after a human approves it (expires ${outcome.expiresAt.toISOString()})`,
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
  flow.approval = { id: outcome.approvalId, via: outcome.via };
  emitDecision(ctx, flow, { ...decision, effect: 'allow' }, 'grant');
};
