// rules: effect, principals, IAM actions and access levels, resource ARNs, approval settings.

import type { Node } from 'yaml';
import { iamActionsForOperation } from '../../aws/authorize.js';
import { ACCESS_LEVELS, arnProblem, isKnownIamAction, isKnownIamService, suggestIamActions, suggestIamServices, type AccessLevel } from '../../aws/iam.js';
import { OPERATION_ACTIONS } from '../../aws/operation-actions.js';
import { suggest } from '../../lib/suggest.js';
import { MCP_ACTIONS, toolResourceProblem } from '../../mcp/protocol.js';
import { hasGlob } from '../../policy/glob.js';
import { formatDurationMs } from '../../lib/duration.js';
import { DEFAULT_APPROVAL, type ApprovalSettings, type Effect, type RuleConfig } from '../types.js';
import { EFFECTS, RESERVED_RULE_ID } from './constants.js';
import { escalateBlock, limitsBlock } from './limits.js';
import { ruleWarnings } from './rule-warnings.js';
import { type Entry, type Walker } from './walker.js';

export function rules(w: Walker, entry: Entry | undefined): RuleConfig[] {
  if (!entry) return [];
  const accountNames = [...w.accountNames];
  const out: RuleConfig[] = [];
  const seenIds = new Map<string, Node | null>();
  const nodes: (Node | null)[] = [];
  w.list(entry.value ?? entry.key, 'rules', (node, path) => {
    const f = w.fields(node, path, ['id', 'effect', 'principals', 'actions', 'access', 'resources', 'message', 'approval', 'limits', 'escalate'], ['id', 'effect']);
    if (!f) return;
    if (!f.has('actions') && !f.has('access')) w.error(node, `${path}.actions`, 'a rule needs `actions` (IAM actions, e.g. s3:GetObject) or `access` (IAM access levels, e.g. [Read, List]), or both');
    const id = w.optString(f, 'id', `${path}.id`);
    const idNode = f.get('id')?.value ?? node;
    if (id !== undefined) {
      if (id === RESERVED_RULE_ID) w.error(idNode, `${path}.id`, '`default-deny` is reserved for "no rule matched"');
      else if (!/^[A-Za-z0-9][A-Za-z0-9_.:-]*$/.test(id)) w.error(idNode, `${path}.id`, `"${id}" is not a valid rule id (letters, digits, _ . : -)`);
      else if (seenIds.has(id)) w.error(idNode, `${path}.id`, `duplicate rule id \`${id}\` (first at line ${w.lineOf(seenIds.get(id)!)})`);
      else seenIds.set(id, idNode);
    }
    const effect = w.optString(f, 'effect', `${path}.effect`);
    let effectOk = false;
    if (effect !== undefined) {
      if ((EFFECTS as readonly string[]).includes(effect)) effectOk = true;
      else w.error(f.get('effect')!.value, `${path}.effect`, `must be one of ${EFFECTS.join(', ')} (got "${effect}")`);
    }
    // A literal principal that names no account is a typo: in a deny rule it would silently protect nothing.
    const principals = w.patternList(f, 'principals', `${path}.principals`, (p) => {
      if (/\s/.test(p)) return 'must not contain spaces';
      if (hasGlob(p) || accountNames.includes(p)) return undefined;
      return `\`${p}\` is not a service account${suggest(p, accountNames)}${accountNames.length ? ` (known: ${accountNames.join(', ')})` : ''}`;
    });
    const actions = w.patternList(f, 'actions', `${path}.actions`, actionProblem);
    const access = accessLevels(w, f.get('access'), `${path}.access`);
    const resources = w.patternList(f, 'resources', `${path}.resources`, resourceProblem);
    let message: string | undefined;
    if (f.has('message')) {
      message = w.optString(f, 'message', `${path}.message`);
      if (message !== undefined && message.trim() === '') {
        w.error(f.get('message')!.value, `${path}.message`, 'must not be empty');
        message = undefined;
      }
    }
    const limits = limitsBlock(w, f.get('limits'), `${path}.limits`);
    const escalateEntry = f.get('escalate');
    const escalate = escalateBlock(w, escalateEntry, `${path}.escalate`);
    if (escalateEntry && effectOk && effect !== 'allow') {
      w.error(escalateEntry.key, `${path}.escalate`, `only allowed on rules with effect: allow (this rule is ${effect}); it turns calls the rule allows into approvals or denials past a volume`);
    }
    let approval: ApprovalSettings = DEFAULT_APPROVAL;
    const approvalEntry = f.get('approval');
    if (approvalEntry) {
      if (effectOk && effect !== 'approve' && escalate?.then !== 'approve') {
        w.error(approvalEntry.key, `${path}.approval`, `only allowed on rules with effect: approve${effect === 'allow' ? ', or with escalate.then: approve' : ''} (this rule is ${effect})`);
      } else {
        approval = approvalSettings(w, approvalEntry, `${path}.approval`);
      }
    }
    if (id === undefined || !effectOk || !principals || !actions || !resources || access === null || limits === null || escalate === null) return;
    const rule: RuleConfig = { id, effect: effect as Effect, principals, actions, resources, approval };
    if (access !== undefined) rule.access = access;
    if (message !== undefined) rule.message = message;
    if (limits !== undefined) rule.limits = limits;
    if (escalate !== undefined) rule.escalate = escalate;
    out.push(rule);
    nodes.push(node);
  });
  for (const warning of ruleWarnings(out)) w.warn(nodes[warning.index], `rules[${warning.index}]`, warning.message);
  return out;
}

/** `access: [Read, List]`, spelled case-insensitively, stored canonically; undefined when absent, null after an error. */
function accessLevels(w: Walker, entry: Entry | undefined, path: string): AccessLevel[] | undefined | null {
  if (!entry) return undefined;
  const out: AccessLevel[] = [];
  let ok = true;
  w.list(entry.value ?? entry.key, path, (node, itemPath) => {
    const text = w.string(node, itemPath);
    if (text === undefined) return void (ok = false);
    const level = ACCESS_LEVELS.find((l) => l.toLowerCase() === text.trim().toLowerCase());
    if (level === undefined) {
      w.error(node, itemPath, `unknown IAM access level \`${text}\`${suggest(text, ACCESS_LEVELS)} (one of ${ACCESS_LEVELS.join(', ')})`);
      ok = false;
    } else if (!out.includes(level)) out.push(level);
  }, { nonEmpty: true });
  return ok && out.length > 0 ? out : null;
}

const API_OPERATIONS = new Map(Object.keys(OPERATION_ACTIONS).map((op) => [op.toLowerCase(), op]));

/** What is wrong with an action pattern: it must be an IAM action AWS defines (or a glob over a known service). */
export function actionProblem(action: string): string | undefined {
  if (action === '*') return undefined;
  if (/\s/.test(action)) return 'must not contain spaces';
  const parts = action.split(':');
  if (parts.length !== 2 || parts[0] === '' || parts[1] === '') {
    return `\`${action}\` is not service:Action (e.g. s3:GetObject, dynamodb:*, or * alone)`;
  }
  const [service, name] = parts as [string, string];
  if (!/^[A-Za-z0-9*?-]+$/.test(service)) return `\`${service}\` is not a service prefix (e.g. s3, dynamodb, secretsmanager)`;
  if (!/^[A-Za-z0-9*?]+$/.test(name)) return `\`${name}\` is not an action name (e.g. GetObject, Delete*)`;
  // The gateway's own service: MCP tool calls seen by `portcullis mcp run`.
  if (service.toLowerCase() === 'mcp') {
    if (hasGlob(name) || MCP_ACTIONS.some((a) => a.toLowerCase() === name.toLowerCase())) return undefined;
    return `unknown MCP action ${action} (the mcp service has ${MCP_ACTIONS.map((a) => `mcp:${a}`).join(', ')})`;
  }
  if (!hasGlob(service) && !isKnownIamService(service)) {
    const near = suggestIamServices(service);
    return `unknown IAM service prefix \`${service}\`${near.length ? ` (did you mean ${near[0]}?)` : ''}`;
  }
  if (hasGlob(service) || hasGlob(name) || isKnownIamAction(action)) return undefined;
  const operation = API_OPERATIONS.get(action.toLowerCase());
  if (operation !== undefined) {
    const [svc, op] = operation.split(':') as [string, string];
    const iam = iamActionsForOperation(svc, op);
    return `${operation} is an API operation; it is authorized as ${iam.join(' and ')}`;
  }
  const near = suggestIamActions(action);
  return `unknown IAM action ${action}${near.length ? ` (did you mean ${near[0]}?)` : ''}`;
}

function resourceProblem(resource: string): string | undefined {
  if (resource === '*') return undefined;
  if (/\s/.test(resource)) return 'must not contain spaces';
  if (resource.startsWith('mcp:')) return toolResourceProblem(resource);
  if (!resource.startsWith('arn:')) return `\`${resource}\` is not an ARN or * (e.g. arn:aws:s3:::reports/*; MCP tools: mcp:<server>/tool/<name>)`;
  return arnProblem(resource);
}

export function approvalSettings(w: Walker, entry: Entry, path: string): ApprovalSettings {
  const f = w.fields(entry.value ?? entry.key, path, ['timeout', 'hold'], []);
  if (!f) return DEFAULT_APPROVAL;
  const timeoutMs = w.duration(f.get('timeout'), `${path}.timeout`, { min: 1 });
  const holdMs = w.duration(f.get('hold'), `${path}.hold`, { min: 1 });
  const timeout = timeoutMs ?? DEFAULT_APPROVAL.timeoutMs;
  if (holdMs !== undefined && holdMs > timeout) {
    w.error(f.get('hold')!.value, `${path}.hold`, `must not exceed the timeout (${formatDurationMs(holdMs)} > ${formatDurationMs(timeout)})`);
  }
  // A short timeout without a hold shortens the default hold rather than failing on a value nobody wrote.
  return { timeoutMs: timeout, holdMs: holdMs ?? Math.min(DEFAULT_APPROVAL.holdMs, timeout) };
}
