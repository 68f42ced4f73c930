// Pure policy evaluation, shaped like IAM: any matching deny wins, then approve, then allow; nothing matched
// means deny. Among rules of the winning effect the first in the file decides. Actions are IAM actions, matched
// case-insensitively; a rule with `access` matches only actions at those IAM access levels. No I/O, no clock; the
// only state touched is the compiled policy's action memo, which never changes an answer.

import type { Effect, RuleConfig } from './types.js';
import { ACTION_CACHE_LIMIT, indexByResourcePrefix, positionsReaching, type CompiledPolicy, type CompiledRule } from './compile.js';

export interface EvaluationInput {
  /** Service-account name. */
  principal: string;
  /** An IAM action, e.g. `s3:ListBucket` (not the API operation: expand a call with aws/authorize.ts first). */
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
  let reached = compiled.actionCache.get(action);
  if (!reached) {
    reached = indexByResourcePrefix(rulesForAction(compiled, action));
    if (compiled.actionCache.size >= ACTION_CACHE_LIMIT) compiled.actionCache.clear();
    compiled.actionCache.set(action, reached);
  }

  // Fail closed when the resource could not be derived (`*`): deny and approve rules apply whatever resources
  // they name, while an allow rule applies only if it allows every resource (names `*` or no resources).
  const resourceUnknown = resource === '*';
  // Only rules one of whose resource patterns could begin this resource are tested (a policy of a thousand rules
  // for other buckets costs a walk down a trie, not a thousand regexes); all of them when the resource is unknown.
  const candidates = resourceUnknown ? reached.rules : positionsReaching(reached, resource).map((position) => reached.rules[position]!);
  let matched: CompiledRule[] | undefined;
  let decider: CompiledRule | undefined;
  for (const rule of candidates) {
    if (!rule.matchPrincipal(principal)) continue;
    if (!(resourceUnknown && rule.rank > 1) && !rule.matchResource(resource)) continue;
    (matched ??= []).push(rule);
    // Candidates are in file order, so the first rule of the highest effect decides.
    if (!decider || rule.rank > decider.rank) decider = rule;
  }

  if (!decider) {
    return { effect: 'deny', ruleId: DEFAULT_DENY, message: `no rule allows ${action} on ${resource} for ${principal}`, matched: [] };
  }
  const others: string[] = [];
  for (const rule of matched!) if (rule !== decider) others.push(rule.rule.id);
  const decision: Decision = { effect: decider.rule.effect, ruleId: decider.rule.id, rule: decider.rule, matched: others };
  if (decider.rule.message !== undefined) decision.message = decider.rule.message;
  return decision;
}

/** Rules with an action pattern matching `action`, deduplicated, in file order. */
export function rulesForAction(compiled: CompiledPolicy, action: string): CompiledRule[] {
  const colon = action.indexOf(':');
  const service = (colon < 0 ? action : action.slice(0, colon)).toLowerCase();
  const operation = (colon < 0 ? '' : action.slice(colon + 1)).toLowerCase();
  const found = new Set<CompiledRule>();
  const bucket = compiled.services.get(service);
  if (bucket) {
    for (const rule of bucket.byOperation.get(operation) ?? []) found.add(rule);
    for (const glob of bucket.operationGlobs) {
      if (glob.operation === undefined || glob.operation.test(operation)) found.add(glob.compiled);
    }
  }
  for (const glob of compiled.anyService) {
    if (glob.service !== undefined && !glob.service.test(service)) continue;
    if (glob.operation !== undefined && !glob.operation.test(operation)) continue;
    found.add(glob.compiled);
  }
  let levels: readonly string[] | undefined;
  const rules = [...found].filter((rule) => {
    if (rule.rule.access === undefined) return true;
    levels ??= compiled.accessLevelsOf(action) ?? [];
    return rule.rule.access.some((level) => levels!.includes(level));
  });
  return rules.sort((a, b) => a.index - b.index);
}

export interface PairDecision {
  action: string;
  resource: string;
  decision: Decision;
}

export interface CallDecision {
  /** One decision per (IAM action, resource) pair, in the order given. */
  pairs: PairDecision[];
  /**
   * Deny if any pair is denied (the first denied pair's decision), else approve if any pair needs approval,
   * else allow: a call is allowed only when every pair is. No pairs at all is the default deny.
   */
  combined: Decision;
}

/** Decides every (IAM action, resource) pair of one call and combines them. */
export function decideCall(compiled: CompiledPolicy, principal: string, pairs: readonly { action: string; resource: string }[]): CallDecision {
  const decided = pairs.map((p) => ({ action: p.action, resource: p.resource, decision: evaluate(compiled, { principal, action: p.action, resource: p.resource }) }));
  const first = (effect: Effect) => decided.find((p) => p.decision.effect === effect)?.decision;
  const combined = first('deny') ?? first('approve') ?? decided[0]?.decision ?? { effect: 'deny', ruleId: DEFAULT_DENY, message: `no action to authorize for ${principal}`, matched: [] };
  return { pairs: decided, combined };
}
