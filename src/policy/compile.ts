// Compiles validated rules into an index so evaluation touches only the rules that can match an action:
// rules are bucketed by lower-cased service prefix, then by lower-cased action name (IAM action names are
// case-insensitive); patterns with globs in the service part go to a small list that is always checked.
// Built once per policy load.

import { iamActionInfo } from '../aws/iam.js';
import { compileMatcher, globToRegExp, hasGlob, type Matcher } from './glob.js';
import type { AccessLevel, Effect, RuleConfig } from './types.js';

export interface CompiledRule {
  /** Position in the file: ties between rules of the same effect go to the earlier one. */
  index: number;
  rule: RuleConfig;
  /** deny 3, approve 2, allow 1: higher wins. */
  rank: number;
  matchPrincipal: Matcher;
  matchResource: Matcher;
  /**
   * The literal start of each resource pattern (up to its first `*` or `?`; '' for `*`): a resource can only match
   * the rule if one of these begins it. Evaluation uses them to skip rules for other buckets, tables, secrets.
   */
  resourcePrefixes: string[];
}

/** Rules an action reaches (file order), indexed by their resources' literal prefixes. */
export interface ActionRules {
  rules: CompiledRule[];
  /** A character trie of resourcePrefixes; each node lists positions in `rules` whose prefix ends there. */
  prefixes: PrefixNode;
}

export interface PrefixNode {
  positions: number[];
  next: Map<number, PrefixNode>;
}

/** One action pattern of one rule whose operation part has a glob (or whose service part does). */
export interface ActionGlob {
  compiled: CompiledRule;
  /** Tested against the lower-cased service; undefined when the bucket already fixes the service. */
  service?: RegExp;
  /** Tested against the action name, case-insensitively; undefined means any. */
  operation?: RegExp;
}

export interface ServiceBucket {
  byOperation: Map<string, CompiledRule[]>;
  operationGlobs: ActionGlob[];
}

export interface CompiledPolicy {
  rules: CompiledRule[];
  /** Keyed by lower-cased service prefix; byOperation by lower-cased action name. */
  services: Map<string, ServiceBucket>;
  /** `*` and patterns with a glob in the service part. */
  anyService: ActionGlob[];
  /** masking.patterns, compiled (global flag) for the masker. */
  maskingPatterns: { name: string; regex: RegExp }[];
  /**
   * Memo of action → rules whose action patterns match it, in file order. Which rules an action reaches
   * depends only on this policy, and a gateway sees few distinct actions, so each is worked out once.
   */
  actionCache: Map<string, ActionRules>;
  /** The IAM access levels of an action (for rules with `access`); undefined for an action AWS does not define. */
  accessLevelsOf: (action: string) => readonly AccessLevel[] | undefined;
}

export interface CompileOptions {
  /** Default: the generated IAM table (static data shipped with the gateway). */
  accessLevelsOf?: (action: string) => readonly AccessLevel[] | undefined;
}

/** The IAM table's access levels for an action. */
export function iamAccessLevels(action: string): readonly AccessLevel[] | undefined {
  return iamActionInfo(action)?.accessLevels;
}

function literalPrefix(pattern: string): string {
  const star = pattern.indexOf('*');
  const question = pattern.indexOf('?');
  const end = star < 0 ? question : question < 0 ? star : Math.min(star, question);
  return end < 0 ? pattern : pattern.slice(0, end);
}

/** The prefix trie over `rules` (see ActionRules). */
export function indexByResourcePrefix(rules: CompiledRule[]): ActionRules {
  const root: PrefixNode = { positions: [], next: new Map() };
  rules.forEach((rule, position) => {
    for (const prefix of rule.resourcePrefixes) {
      let node = root;
      for (let i = 0; i < prefix.length; i++) {
        const c = prefix.charCodeAt(i);
        let next = node.next.get(c);
        if (next === undefined) node.next.set(c, (next = { positions: [], next: new Map() }));
        node = next;
      }
      node.positions.push(position);
    }
  });
  return { rules, prefixes: root };
}

/** Positions (ascending, once each) of the rules one of whose resource prefixes begins `resource`. */
export function positionsReaching(index: ActionRules, resource: string): number[] {
  let node: PrefixNode | undefined = index.prefixes;
  const found: number[] = [...node.positions];
  for (let i = 0; i < resource.length; i++) {
    node = node.next.get(resource.charCodeAt(i));
    if (node === undefined) break;
    for (const position of node.positions) found.push(position);
  }
  found.sort((a, b) => a - b);
  let kept = 0;
  for (let i = 0; i < found.length; i++) if (i === 0 || found[i] !== found[i - 1]) found[kept++] = found[i]!;
  found.length = kept;
  return found;
}

/** Bound on actionCache entries; past it the cache starts over (a flood of made-up actions can't grow memory). */
export const ACTION_CACHE_LIMIT = 4096;

const RANK: Record<Effect, number> = { deny: 3, approve: 2, allow: 1 };

export function compilePolicy(
  config: { rules: RuleConfig[]; masking?: { patterns: { name: string; regex: string }[] } },
  options: CompileOptions = {},
): CompiledPolicy {
  const rules: CompiledRule[] = [];
  const services = new Map<string, ServiceBucket>();
  const anyService: ActionGlob[] = [];

  const bucketFor = (service: string): ServiceBucket => {
    let bucket = services.get(service);
    if (!bucket) services.set(service, (bucket = { byOperation: new Map(), operationGlobs: [] }));
    return bucket;
  };

  config.rules.forEach((rule, index) => {
    const compiled: CompiledRule = {
      index,
      rule,
      rank: RANK[rule.effect],
      matchPrincipal: compileMatcher(rule.principals),
      matchResource: compileMatcher(rule.resources),
      resourcePrefixes: [...new Set(rule.resources.map(literalPrefix))],
    };
    rules.push(compiled);
    for (const action of new Set(rule.actions)) {
      if (action === '*') {
        anyService.push({ compiled });
        continue;
      }
      const colon = action.indexOf(':');
      const service = action.slice(0, colon).toLowerCase();
      const operation = action.slice(colon + 1).toLowerCase();
      const operationGlob = operation === '*' ? undefined : hasGlob(operation) ? globToRegExp(operation, { caseInsensitive: true }) : undefined;
      if (hasGlob(service)) {
        anyService.push({
          compiled,
          ...(service === '*' ? {} : { service: globToRegExp(service, { caseInsensitive: true }) }),
          ...(operation === '*' ? {} : { operation: globToRegExp(operation, { caseInsensitive: true }) }),
        });
      } else if (operation === '*' || operationGlob) {
        bucketFor(service).operationGlobs.push({ compiled, operation: operationGlob });
      } else {
        const byOperation = bucketFor(service).byOperation;
        const list = byOperation.get(operation);
        // `s3:GetObject` and `S3:GetObject` in one rule land in the same list: keep one.
        if (!list) byOperation.set(operation, [compiled]);
        else if (list.at(-1) !== compiled) list.push(compiled);
      }
    }
  });

  const maskingPatterns = (config.masking?.patterns ?? []).map((p) => ({ name: p.name, regex: new RegExp(p.regex, 'g') }));
  return { rules, services, anyService, maskingPatterns, actionCache: new Map(), accessLevelsOf: options.accessLevelsOf ?? iamAccessLevels };
}
