// service_accounts: who a token maps to (issuer, subject, claims, `match` conditions) and the roles it may assume.

import { isMap, isScalar, isSeq, type Node, type Scalar } from 'yaml';
import { DEFAULT_SESSION_TTL_MS, type ClaimCondition, type ServiceAccountConfig } from '../types.js';
import { LOCAL_ISSUER, MAX_SESSION_TTL_MS } from './constants.js';
import { limitsBlock } from './limits.js';
import { Walker, type Entry } from './walker.js';
import { suggest } from '../../lib/suggest.js';
import { accountConditions, operatorValueKind, parseClaimPath, parseOperator } from '../../identity/claims.js';

export function serviceAccounts(w: Walker, entry: Entry | undefined): ServiceAccountConfig[] {
  if (!entry) return [];
  const issuerNames = w.issuerNames;
  const out: ServiceAccountConfig[] = [];
  const seenNames = new Map<string, Node | null>();
  const seenIdentities = new Map<string, string>();
  w.list(entry.value ?? entry.key, 'service_accounts', (node, path) => {
    const f = w.fields(node, path, ['name', 'issuer', 'subject', 'claims', 'match', 'roles', 'session_ttl', 'limits'], ['name', 'issuer', 'roles']);
    if (!f) return;
    const name = w.optString(f, 'name', `${path}.name`);
    const nameNode = f.get('name')?.value ?? node;
    if (name !== undefined) {
      // The name becomes RoleSessionName and SourceIdentity on AssumeRole, so it must fit AWS's pattern.
      if (!/^[\w+=,.@-]{2,64}$/.test(name)) {
        w.error(nameNode, `${path}.name`, `"${name}" is not a valid name (2-64 of letters, digits and _ + = , . @ -; it becomes the AWS RoleSessionName)`);
      } else if (seenNames.has(name)) {
        w.error(nameNode, `${path}.name`, `duplicate service account name \`${name}\` (first at line ${w.lineOf(seenNames.get(name)!)})`);
      } else seenNames.set(name, nameNode);
      w.accountNames.add(name);
    }
    const issuer = w.optString(f, 'issuer', `${path}.issuer`);
    let issuerOk = false;
    if (issuer !== undefined) {
      if (issuer === LOCAL_ISSUER || issuerNames.has(issuer)) issuerOk = true;
      else {
        const known = [...issuerNames, LOCAL_ISSUER];
        w.error(f.get('issuer')!.value, `${path}.issuer`, `unknown issuer \`${issuer}\`${suggest(issuer, known)} (known: ${known.join(', ')})`);
      }
    }
    const matchEntry = f.get('match');
    let match: ClaimCondition[] | undefined;
    if (matchEntry && issuer === LOCAL_ISSUER) {
      w.error(matchEntry.key, `${path}.match`, 'gateway-minted tokens carry only the account name; `match` is for IdP tokens');
    } else if (matchEntry) match = matchConditions(w, matchEntry, `${path}.match`);
    let subject = w.optString(f, 'subject', `${path}.subject`);
    if (subject === undefined && !f.has('subject') && !matchEntry && issuer !== undefined && issuer !== LOCAL_ISSUER) {
      w.error(node, `${path}.subject`, 'required (the `sub` claim this account\'s tokens carry), unless a `match` block identifies the tokens');
    }
    if (subject === '') w.error(f.get('subject')!.value, `${path}.subject`, 'must not be empty');
    // Gateway-minted tokens carry the account name as their subject unless one is given.
    if (subject === undefined && issuer === LOCAL_ISSUER && name !== undefined) subject = name;
    if (subject === undefined && !f.has('subject') && matchEntry) subject = '';
    const claims = claimEqualities(w, f.get('claims'), `${path}.claims`);
    const roles: string[] = [];
    const rolesEntry = f.get('roles');
    if (rolesEntry) {
      w.list(rolesEntry.value ?? rolesEntry.key, `${path}.roles`, (roleNode, rolePath) => {
        const role = w.string(roleNode, rolePath);
        if (role === undefined) return;
        if (!/^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@/-]+$/.test(role)) {
          w.error(roleNode, rolePath, `"${role}" is not an IAM role ARN (arn:aws:iam::123456789012:role/name)`);
        } else roles.push(role);
      }, { nonEmpty: true });
    }
    const sessionTtlMs = w.duration(f.get('session_ttl'), `${path}.session_ttl`, { min: 1, max: MAX_SESSION_TTL_MS }) ?? DEFAULT_SESSION_TTL_MS;
    const limits = limitsBlock(w, f.get('limits'), `${path}.limits`);
    if (name === undefined || issuer === undefined || subject === undefined || !issuerOk || limits === null) return;
    if (matchEntry && match === undefined) return;
    const account: ServiceAccountConfig = { name, issuer, subject, claims, roles, sessionTtlMs };
    if (match !== undefined) account.match = match;
    if (limits !== undefined) account.limits = limits;
    const conditions = accountConditions(account);
    if (issuer !== LOCAL_ISSUER && conditions.every((c) => c.ifExists || c.test.includes('Not') || (c.test === 'Null' && c.values[0] === true))) {
      w.error(matchEntry?.key ?? node, path, 'no condition identifies the tokens: this account would take any token of its issuer; pin `subject` or add a positive `match` condition');
      return;
    }
    const issuerConfig = w.issuerConfigs.get(issuer);
    if (issuerConfig?.rules?.requirePinnedSubject && !pinsSubject(conditions)) {
      w.error(node, `${path}.subject`, `issuer \`${issuer}\` (preset ${issuerConfig.preset?.name ?? ''}) needs every account to pin \`sub\` exactly: the caller chooses the audience of these tokens, so only the subject says who they are`);
      return;
    }
    const identityKey = JSON.stringify([issuer, conditions.map((c) => [c.operator, c.path, [...c.values].map(String).sort()]).map((c) => JSON.stringify(c)).sort()]);
    const clash = seenIdentities.get(identityKey);
    if (clash !== undefined && clash !== name) {
      w.error(node, path, `same issuer, subject and claims as \`${clash}\`: a token could not tell the two accounts apart`);
    } else seenIdentities.set(identityKey, name);
    out.push(account);
  });
  return out;
}

/** A `match:` block: operator → claim → value or list of values (any of them). */
export function matchConditions(w: Walker, entry: Entry, path: string): ClaimCondition[] | undefined {
  const node = w.resolve(entry.value);
  if (!isMap(node)) {
    w.error(node ?? entry.key, path, 'must be a mapping of operator to claims, e.g. {StringEquals: {repository: acme/app}}');
    return undefined;
  }
  const before = w.errors.length;
  const out: ClaimCondition[] = [];
  const operators = w.fields(node, path, null, []) ?? new Map<string, Entry>();
  if (operators.size === 0) w.error(node, path, 'must hold at least one operator (StringEquals, StringLike, ForAnyValue:StringEquals, Null, Bool, NumericEquals…)');
  for (const [operator, opEntry] of operators) {
    const opPath = `${path}.${operator}`;
    const parsed = parseOperator(operator);
    if (!parsed.ok) {
      w.error(opEntry.key, opPath, parsed.message);
      continue;
    }
    const claimsNode = w.resolve(opEntry.value);
    if (!isMap(claimsNode)) {
      w.error(claimsNode ?? opEntry.key, opPath, `must be a mapping of claim to value(s), e.g. {${operator}: {environment: production}}`);
      continue;
    }
    const claims = w.fields(claimsNode, opPath, null, []) ?? new Map<string, Entry>();
    if (claims.size === 0) w.error(claimsNode, opPath, 'must name at least one claim');
    const kind = operatorValueKind(parsed.value.test);
    for (const [claim, claimEntry] of claims) {
      const claimPath = `${opPath}.${claim}`;
      const parsedPath = parseClaimPath(claim);
      if (!parsedPath.ok) {
        w.error(claimEntry.key, claimPath, parsedPath.message);
        continue;
      }
      const valueNode = w.resolve(claimEntry.value);
      const items = isSeq(valueNode) ? valueNode.items.map((item, i) => ({ node: w.resolve(item as Node | null), at: `${claimPath}[${i}]` })) : [{ node: valueNode, at: claimPath }];
      if (items.length === 0) {
        w.error(valueNode, claimPath, 'must not be empty');
        continue;
      }
      if (parsed.value.test === 'Null' && items.length !== 1) {
        w.error(valueNode, claimPath, 'Null takes one value: true (the claim must be absent) or false (it must be present)');
        continue;
      }
      const values: (string | number | boolean)[] = [];
      for (const item of items) {
        const value = conditionValue(w, item.node ?? claimEntry.key, item.at, kind, parsed.value.test);
        if (value !== undefined) values.push(value);
      }
      if (values.length !== items.length) continue;
      const condition: ClaimCondition = { operator, test: parsed.value.test, ifExists: parsed.value.ifExists, claim, path: parsedPath.path, values };
      if (parsed.value.qualifier !== undefined) condition.qualifier = parsed.value.qualifier;
      out.push(condition);
    }
  }
  return w.errors.length === before ? out : undefined;
}

export function conditionValue(w: Walker, raw: Node | Scalar | null, path: string, kind: 'string' | 'number' | 'boolean', test: string): string | number | boolean | undefined {
  const node = w.resolve(raw);
  if (kind === 'string') {
    const s = w.string(node, path, `${test} compares strings; quote it`);
    if (s === '') {
      w.error(node, path, 'must not be empty');
      return undefined;
    }
    return s;
  }
  if (kind === 'number') {
    if (isScalar(node) && typeof node.value === 'number' && Number.isFinite(node.value)) return node.value;
    if (isScalar(node) && typeof node.value === 'string' && /^-?\d+(\.\d+)?$/.test(node.value)) return Number(node.value);
    w.error(node ?? raw, path, `${test} compares numbers; got ${isScalar(node) ? JSON.stringify(node.value) : 'a non-number'}`);
    return undefined;
  }
  if (isScalar(node) && typeof node.value === 'boolean') return node.value;
  const hint = test === 'Null' ? 'true (the claim must be absent) or false (it must be present)' : 'true or false';
  w.error(node ?? raw, path, `${test} takes ${hint}; got ${isScalar(node) ? JSON.stringify(node.value) : 'a non-boolean'}`);
  return undefined;
}

export function claimEqualities(w: Walker, entry: Entry | undefined, path: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (!entry) return out;
  const node = w.resolve(entry.value);
  if (!isMap(node)) {
    w.error(node ?? entry.key, path, 'must be a mapping of claim name to value, e.g. {client_id: reports-mcp}');
    return out;
  }
  const f = w.fields(node, path, null, []);
  for (const [key, value] of f ?? []) {
    const v = w.string(value.value ?? value.key, `${path}.${key}`, 'claim values are compared as strings; quote it');
    if (v !== undefined) out[key] = v;
  }
  return out;
}

/** True when `sub` is pinned to exact values (Google: the audience alone proves nothing). */
function pinsSubject(conditions: readonly ClaimCondition[]): boolean {
  return conditions.some((c) => c.test === 'StringEquals' && c.qualifier === undefined && !c.ifExists && c.path.length === 1 && c.path[0] === 'sub');
}
