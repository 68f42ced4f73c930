// Claim matching for service accounts, shaped like IAM conditions: `StringEquals`, `StringLike`,
// `ForAnyValue:StringEquals`, `Null`, `Bool`, `NumericEquals`… Pure: the validator uses the parsers at
// load, the verifier evaluates compiled conditions against verified claims and keeps the failures so a
// refusal can say which condition of the closest account failed.
//
// Claim paths: a key starting with `/` is a JSON pointer (RFC 6901: `/kubernetes.io/namespace`, `~1` for
// `/`, `~0` for `~`); any other key names one top-level claim literally, dots, slashes and colons included.
// Unlike IAM, absence never satisfies a positive or negated test (fail closed): say `…IfExists` or use Null.

import type { ClaimCondition, ConditionOperator, ConditionSetQualifier, ServiceAccountConfig } from './config.js';
import { compileMatcher, type Matcher } from '../policy/glob.js';

export const CONDITION_OPERATORS: readonly ConditionOperator[] = [
  'StringEquals',
  'StringNotEquals',
  'StringEqualsIgnoreCase',
  'StringNotEqualsIgnoreCase',
  'StringLike',
  'StringNotLike',
  'NumericEquals',
  'NumericNotEquals',
  'NumericLessThan',
  'NumericLessThanEquals',
  'NumericGreaterThan',
  'NumericGreaterThanEquals',
  'Bool',
  'Null',
];

/** Claims whose value is a space-separated list in some IdPs (Entra `scp`, RFC 9068 `scope`). */
const SPACE_SEPARATED_CLAIMS = new Set(['scp', 'scope']);

export type ValueKind = 'string' | 'number' | 'boolean';

export interface ParsedOperator {
  test: ConditionOperator;
  qualifier?: ConditionSetQualifier;
  ifExists: boolean;
}

/** `ForAnyValue:StringLike`, `StringEqualsIfExists`… or a message naming what is wrong. */
export function parseOperator(text: string): { ok: true; value: ParsedOperator } | { ok: false; message: string } {
  let rest = text;
  let qualifier: ConditionSetQualifier | undefined;
  const colon = rest.indexOf(':');
  if (colon >= 0) {
    const prefix = rest.slice(0, colon);
    if (prefix !== 'ForAnyValue' && prefix !== 'ForAllValues') {
      return { ok: false, message: `unknown operator \`${text}\`: the only prefixes are ForAnyValue: and ForAllValues:` };
    }
    qualifier = prefix;
    rest = rest.slice(colon + 1);
  }
  let ifExists = false;
  if (rest.endsWith('IfExists') && rest !== 'IfExists') {
    ifExists = true;
    rest = rest.slice(0, -'IfExists'.length);
  }
  if (!(CONDITION_OPERATORS as readonly string[]).includes(rest)) {
    return { ok: false, message: `unknown operator \`${text}\`${nearOperator(text)} (one of ${CONDITION_OPERATORS.join(', ')}, optionally prefixed ForAnyValue: / ForAllValues: or suffixed IfExists)` };
  }
  const test = rest as ConditionOperator;
  if (test === 'Null' && (qualifier !== undefined || ifExists)) return { ok: false, message: '`Null` takes no ForAnyValue:/ForAllValues: prefix nor IfExists suffix' };
  if (test === 'Bool' && qualifier !== undefined) return { ok: false, message: '`Bool` compares one value; it takes no ForAnyValue:/ForAllValues: prefix' };
  const value: ParsedOperator = { test, ifExists };
  if (qualifier !== undefined) value.qualifier = qualifier;
  return { ok: true, value };
}

/** What the operator's values must be in the policy file. */
export function operatorValueKind(test: ConditionOperator): ValueKind {
  if (test.startsWith('Numeric')) return 'number';
  if (test === 'Bool' || test === 'Null') return 'boolean';
  return 'string';
}

/** The key path a claim key addresses (see the header comment), or a message. */
export function parseClaimPath(key: string): { ok: true; path: string[] } | { ok: false; message: string } {
  if (key === '') return { ok: false, message: 'a claim name must not be empty' };
  if (!key.startsWith('/')) return { ok: true, path: [key] };
  const path: string[] = [];
  for (const token of key.slice(1).split('/')) {
    if (/~(?![01])/.test(token)) return { ok: false, message: `\`${key}\` is not a JSON pointer: ~ must be followed by 0 (~) or 1 (/)` };
    if (token === '') return { ok: false, message: `\`${key}\` has an empty segment (a JSON pointer is /key/key…)` };
    path.push(token.replace(/~1/g, '/').replace(/~0/g, '~'));
  }
  return { ok: true, path };
}

/** The value at `path` (own properties only; array elements by index), undefined when absent. */
export function claimAt(claims: Record<string, unknown>, path: readonly string[]): unknown {
  let current: unknown = claims;
  for (const key of path) {
    if (Array.isArray(current) && /^(0|[1-9]\d*)$/.test(key)) current = current[Number(key)];
    else if (current !== null && typeof current === 'object' && !Array.isArray(current) && Object.hasOwn(current, key)) {
      current = (current as Record<string, unknown>)[key];
    } else return undefined;
  }
  return current;
}

/** Conditions an account imposes: schema v1 `subject` and `claims` as StringEquals, then its `match` block. */
export function accountConditions(account: ServiceAccountConfig): ClaimCondition[] {
  const out: ClaimCondition[] = [];
  const equals = (claim: string, value: string): ClaimCondition => ({ operator: 'StringEquals', test: 'StringEquals', ifExists: false, claim, path: [claim], values: [value] });
  if (account.subject !== '') out.push(equals('sub', account.subject));
  for (const [name, value] of Object.entries(account.claims)) out.push(equals(name, value));
  return out.concat(account.match ?? []);
}

/** Every failing condition of the account, as one-line reasons; empty when the claims match. */
export function accountFailures(account: ServiceAccountConfig, claims: Record<string, unknown>): string[] {
  const failures: string[] = [];
  for (const condition of accountConditions(account)) {
    const reason = conditionFailure(condition, claims);
    if (reason !== undefined) failures.push(reason);
  }
  return failures;
}

/** Why the condition does not hold for these claims, or undefined when it does. */
export function conditionFailure(condition: ClaimCondition, claims: Record<string, unknown>): string | undefined {
  const where = `${condition.operator} ${condition.claim}`;
  const raw = claimAt(claims, condition.path);
  const absent = raw === undefined || raw === null;
  if (condition.test === 'Null') {
    const wantAbsent = condition.values[0] === true;
    if (absent === wantAbsent) return undefined;
    return wantAbsent ? `${where}: the claim must be absent, token has ${show(raw)}` : `${where}: the claim must be present, token has none`;
  }
  if (absent) return condition.ifExists ? undefined : `${where}: token has no ${condition.claim} claim`;

  if (condition.qualifier !== undefined) {
    const set = asSet(raw, condition.path[condition.path.length - 1]!);
    if (set === undefined) return `${where}: token has ${show(raw)}, not a list`;
    if (set.length === 0) return `${where}: token has an empty ${condition.claim}`;
    const results = set.map((v) => scalarMatches(condition, v));
    if (condition.qualifier === 'ForAnyValue') {
      return results.some((r) => r === true) ? undefined : `${where}: no value of ${show(raw)} matches ${expected(condition)}`;
    }
    const bad = set.find((_, i) => results[i] !== true);
    return bad === undefined ? undefined : `${where}: ${show(bad)} does not match ${expected(condition)}`;
  }

  if (Array.isArray(raw)) return `${where}: token has a list ${show(raw)}; use ForAnyValue: or ForAllValues:`;
  if (typeof raw === 'object') return `${where}: token has an object; address a key inside it with a JSON pointer (/${condition.path.join('/')}/key)`;
  const result = scalarMatches(condition, raw);
  if (result === true) return undefined;
  if (typeof result === 'string') return `${where}: ${result}`;
  return `${where}: token has ${show(raw)}, expected ${expected(condition)}`;
}

// ---- helpers ----

const matchers = new WeakMap<ClaimCondition, Matcher>();

/** true, false, or a reason the value cannot be compared at all. */
function scalarMatches(condition: ClaimCondition, value: unknown): boolean | string {
  const test = condition.test;
  if (test.startsWith('String')) {
    // RFC 7519: sub is a StringOrURI; a numeric sub must never pass for a configured string subject.
    const strict = condition.path.length === 1 && condition.path[0] === 'sub';
    if (typeof value !== 'string' && (strict || (typeof value !== 'number' && typeof value !== 'boolean'))) return `token has ${show(value)}, not a string`;
    const text = String(value);
    const values = condition.values.map(String);
    let any: boolean;
    if (test === 'StringLike' || test === 'StringNotLike') {
      let matcher = matchers.get(condition);
      if (matcher === undefined) {
        matcher = compileMatcher(values);
        matchers.set(condition, matcher);
      }
      any = matcher(text);
    } else if (test === 'StringEqualsIgnoreCase' || test === 'StringNotEqualsIgnoreCase') {
      any = values.some((v) => v.toLowerCase() === text.toLowerCase());
    } else any = values.includes(text);
    return test.includes('Not') ? !any : any;
  }
  if (test.startsWith('Numeric')) {
    const n = typeof value === 'number' ? value : typeof value === 'string' && /^-?\d+(\.\d+)?$/.test(value) ? Number(value) : undefined;
    if (n === undefined || !Number.isFinite(n)) return `token has ${show(value)}, not a number`;
    const values = condition.values.map(Number);
    switch (test) {
      case 'NumericEquals':
        return values.includes(n);
      case 'NumericNotEquals':
        return !values.includes(n);
      case 'NumericLessThan':
        return values.some((v) => n < v);
      case 'NumericLessThanEquals':
        return values.some((v) => n <= v);
      case 'NumericGreaterThan':
        return values.some((v) => n > v);
      default:
        return values.some((v) => n >= v);
    }
  }
  // Bool: some IdPs send "true"/"false" strings (Okta custom claims, older Google tokens).
  const b = typeof value === 'boolean' ? value : value === 'true' ? true : value === 'false' ? false : undefined;
  if (b === undefined) return `token has ${show(value)}, not a boolean`;
  return condition.values.includes(b);
}

function asSet(value: unknown, lastKey: string): unknown[] | undefined {
  if (Array.isArray(value)) return value;
  if (typeof value === 'string') return SPACE_SEPARATED_CLAIMS.has(lastKey) ? value.split(/\s+/).filter((s) => s !== '') : [value];
  if (typeof value === 'number' || typeof value === 'boolean') return [value];
  return undefined;
}

function expected(condition: ClaimCondition): string {
  const list = condition.values.map((v) => JSON.stringify(v)).join(' or ');
  return condition.test.includes('Not') ? `none of ${list}` : list;
}

function show(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

function nearOperator(text: string): string {
  const plain = text.replace(/^For(Any|All)Values?:/, '').replace(/IfExists$/, '').toLowerCase();
  const hit = CONDITION_OPERATORS.find((op) => op.toLowerCase() === plain);
  if (hit) return ` (operators are case-sensitive: \`${text.replace(new RegExp(plain, 'i'), hit)}\`?)`;
  if (/^for(any|all)values?:/i.test(text) && !/^For(AnyValue|AllValues):/.test(text)) return ' (the prefixes are spelled ForAnyValue: and ForAllValues:)';
  return '';
}
