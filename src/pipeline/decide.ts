// decide — evaluates the compiled rules for the call: every resource it touches must be allowed (the strictest
// decision wins). Deny ends the call; approve is left to the approve stage; allow goes on.

import { GatewayError } from '../errors.js';
import { callHeader, type Flow } from '../flow.js';
import { evaluate, type Decision } from '../policy/evaluate.js';
import type { StageContext, StageFactory } from './context.js';

const STRICTNESS = { deny: 0, approve: 1, allow: 2 } as const;

/** A call touching several resources is decided by its strictest resource. */
export function combineDecisions(decisions: Decision[]): Decision {
  return decisions.reduce((worst, next) => (STRICTNESS[next.effect] < STRICTNESS[worst.effect] ? next : worst));
}

export function emitDecision(ctx: StageContext, flow: Flow, decision: Decision, via: 'policy' | 'grant'): void {
  ctx.emit({ type: 'decision', ...callHeader(flow), effect: decision.effect, ruleId: decision.ruleId, message: decision.message, via });
}

export const decide: StageFactory = (ctx) => (flow) => {
  const call = flow.call!;
  const session = flow.session!;
  const resources = call.resources.length > 0 ? call.resources : [call.resource];
  flow.pairs = resources.map((resource) => ({ action: call.action, resource }));
  const decision = combineDecisions(
    flow.pairs.map((pair) => evaluate(ctx.policy.compiled, { principal: session.serviceAccount, action: pair.action, resource: pair.resource, region: call.region })),
  );
  flow.decision = decision;
  if (decision.effect === 'approve') return;
  emitDecision(ctx, flow, decision, 'policy');
  if (decision.effect === 'deny') {
    const reason = decision.ruleId === 'default-deny' ? 'no rule allows it (default deny)' : `denied by rule ${decision.ruleId}${decision.message ? `: ${decision.message}` : ''}`;
    flow.outcome = { kind: 'denied', error: new GatewayError('ACCESS_DENIED', `portcullis: ${call.action} on ${call.resource} for ${session.serviceAccount}: ${reason}`) };
  }
};
