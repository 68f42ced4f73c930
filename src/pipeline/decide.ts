// decide — expands the call into every (IAM action, resource) pair AWS would authorize (DeleteObjects is
// s3:DeleteObject on each key, CopyObject reads its source, a call passing a role needs iam:PassRole…) and decides
// each against the compiled rules: any pair denied → deny, else any needing approval → approve, else allow. Deny
// ends the call (with its decision event); allow and approve go on to escalate and approve.

import { authorizationPairs } from '../aws/authorize.js';
import { GatewayError } from '../errors.js';
import { callHeader, type Flow } from '../flow.js';
import { decideCall, type Decision, type PairDecision } from '../policy/evaluate.js';
import type { StageContext, StageFactory } from './context.js';
import { accountIdFromRoleArn } from './identify.js';

export function emitDecision(ctx: StageContext, flow: Flow, decision: Decision, via: 'policy' | 'grant'): void {
  ctx.emit({
    type: 'decision',
    ...callHeader(flow),
    effect: decision.effect,
    ruleId: decision.ruleId,
    message: decision.message,
    via,
    pairs: flow.pairDecisions?.map((p) => ({ action: p.action, resource: p.resource, effect: p.decision.effect, ruleId: p.decision.ruleId })),
  });
}

/** The pair that made the decision what it is, for messages. */
function decidingPair(pairs: readonly PairDecision[], decision: Decision): PairDecision | undefined {
  return pairs.find((p) => p.decision === decision);
}

export const decide: StageFactory = (ctx) => (flow) => {
  const call = flow.call!;
  const session = flow.session!;
  const pairs = authorizationPairs(call, flow.body, { accountId: accountIdFromRoleArn(session.roleArn), headers: flow.req.headers });
  const decided = decideCall(ctx.policy.compiled, session.serviceAccount, pairs);
  flow.pairs = pairs;
  flow.pairDecisions = decided.pairs;
  const decision = decided.combined;
  flow.decision = decision;
  // Allow and approve may still change (escalation): their decision event is emitted by the approve stage.
  if (decision.effect === 'deny') {
    emitDecision(ctx, flow, decision, 'policy');
    const pair = decidingPair(decided.pairs, decision);
    const which = pair && (pair.action !== call.action || pair.resource !== call.resource) ? ` (${pair.action} on ${pair.resource})` : '';
    const reason = decision.ruleId === 'default-deny' ? `no rule allows it (default deny)${which}` : `denied by rule ${decision.ruleId}${which}${decision.message ? `: ${decision.message}` : ''}`;
    flow.outcome = { kind: 'denied', error: new GatewayError('ACCESS_DENIED', `portcullis: ${call.action} on ${call.resource} for ${session.serviceAccount}: ${reason}`) };
  }
};
