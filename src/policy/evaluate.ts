// Pure policy evaluation, shaped like IAM: any matching deny wins, then approve, then allow; nothing matched
// means deny. Among rules of the winning effect the first in the file decides. No I/O, no clock.

import type { Effect, RuleConfig } from '../config/types.js';
import type { CompiledPolicy, CompiledRule } from './compile.js';

export interface EvaluationInput {
  /** Service-account name. */
  principal: string;
  /** `service:Operation`, e.g. `s3:GetObject` (API operation name, as in CloudTrail eventName). */
  action: string;
  /** Resource ARN, or `*` when the gateway cannot derive one. */
  resource: string;
  /** Carried for explain output; v1 rules match regions through the ARN, not separately. */
  region?: string;
}

export interface Decision {
  effect: Effect;
  /** The deciding rule's id, or `default-deny`. */
  ruleId: string;
  message?: string;
  rule?: RuleConfig;
  /** Ids of the other rules that matched, in file order. */
  matched: string[];
}

export const DEFAULT_DENY = 'default-deny';

export function evaluate(compiled: CompiledPolicy, input: EvaluationInput): Decision {
  const { principal, action, resource } = input;
  const colon = action.indexOf(':');
  const service = (colon < 0 ? action : action.slice(0, colon)).toLowerCase();
  const operation = colon < 0 ? '' : action.slice(colon + 1);

  // Rules whose action patterns match; a rule can appear through several patterns, so dedupe.
  const candidates: CompiledRule[] = [];
  const add = (rule: CompiledRule): void => {
    if (!candidates.includes(rule)) candidates.push(rule);
  };

  const bucket = compiled.services.get(service);
  if (bucket) {
    const exact = bucket.byOperation.get(operation);
    if (exact) for (const rule of exact) add(rule);
    for (const glob of bucket.operationGlobs) {
      if (glob.operation === undefined || glob.operation.test(operation)) add(glob.compiled);
    }
  }
  for (const glob of compiled.anyService) {
    if (glob.service !== undefined && !glob.service.test(service)) continue;
    if (glob.operation !== undefined && !glob.operation.test(operation)) continue;
    add(glob.compiled);
  }

  // Fail closed when the resource is unknown (`*`): deny and approve rules apply whatever resources they
  // name, while allow rules apply only if they allow every resource.
  const resourceUnknown = resource === '*';
  const matched: CompiledRule[] = [];
  let decider: CompiledRule | undefined;
  for (const rule of candidates) {
    if (!rule.matchPrincipal(principal)) continue;
    if (!(resourceUnknown && rule.rank > 1) && !rule.matchResource(resource)) continue;
    matched.push(rule);
    if (!decider || rule.rank > decider.rank || (rule.rank === decider.rank && rule.index < decider.index)) decider = rule;
  }

  if (!decider) {
    return { effect: 'deny', ruleId: DEFAULT_DENY, message: `no rule allows ${action} on ${resource} for ${principal}`, matched: [] };
  }
  const others = matched.length === 1 ? [] : matched.filter((r) => r !== decider).sort((a, b) => a.index - b.index).map((r) => r.rule.id);
  const decision: Decision = { effect: decider.rule.effect, ruleId: decider.rule.id, rule: decider.rule, matched: others };
  if (decider.rule.message !== undefined) decision.message = decider.rule.message;
  return decision;
}
