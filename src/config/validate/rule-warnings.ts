// Rules that load but can never take effect: their actions and resources belong to different services, or a deny
// rule covers every principal, action, resource and access level they name. Reported by `policy check` (an error
// with --strict); a policy with such a rule still loads, because it is not weaker than the author meant.
import { arnServicesOfPrefix } from '../../aws/iam.js';
import { globToRegExp, hasGlob } from '../../policy/glob.js';
import type { RuleConfig } from '../types.js';

export interface RuleWarning {
  /** Position of the rule in `rules`. */
  index: number;
  message: string;
}

export function ruleWarnings(rules: readonly RuleConfig[]): RuleWarning[] {
  const out: RuleWarning[] = [];
  rules.forEach((rule, index) => {
    const mismatch = serviceMismatch(rule);
    if (mismatch) out.push({ index, message: `rule \`${rule.id}\` can never match: ${mismatch}` });
    if (rule.effect === 'deny') return;
    const shadow = rules.find((d) => d !== rule && d.effect === 'deny' && covers(d, rule));
    if (shadow) {
      out.push({ index, message: `rule \`${rule.id}\` never takes effect: deny rule \`${shadow.id}\` covers all its principals, actions and resources` });
    }
  });
  return out;
}

/** Why no action of the rule can apply to any of its resources (each side literal enough to tell), or undefined. */
function serviceMismatch(rule: RuleConfig): string | undefined {
  const actionServices = new Set<string>();
  for (const action of rule.actions) {
    const service = action.split(':')[0]!;
    if (action === '*' || hasGlob(service)) return undefined;
    actionServices.add(service.toLowerCase());
  }
  const resourceServices = new Set<string>();
  for (const resource of rule.resources) {
    const service = resource.split(':')[2];
    if (resource === '*' || service === undefined || hasGlob(service)) return undefined;
    resourceServices.add(service);
  }
  for (const prefix of actionServices) {
    const arnServices = arnServicesOfPrefix(prefix);
    // A service without ARN formats (actions on `*` only) cannot be judged.
    if (!arnServices || arnServices.size === 0) return undefined;
    for (const s of resourceServices) if (arnServices.has(s)) return undefined;
  }
  return `its actions are for ${[...actionServices].join(', ')} but its resources are ${[...resourceServices].join(', ')} ARNs`;
}

function covers(deny: RuleConfig, rule: RuleConfig): boolean {
  if (deny.access && (!rule.access || !rule.access.every((l) => deny.access!.includes(l)))) return false;
  return coversAll(deny.principals, rule.principals, false) && coversAll(deny.actions, rule.actions, true) && coversAll(deny.resources, rule.resources, false);
}

/** Every pattern of `inner` is matched by some pattern of `outer` (an inner glob is tested as literal text). */
function coversAll(outer: readonly string[], inner: readonly string[], caseInsensitive: boolean): boolean {
  if (outer.includes('*')) return true;
  const res = outer.map((p) => globToRegExp(p, { caseInsensitive }));
  return inner.every((p) => res.some((re) => re.test(p)));
}
