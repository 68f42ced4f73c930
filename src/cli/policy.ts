// Handlers for `portcullis policy check` and `portcullis policy explain`.

import { readFile } from 'node:fs/promises';
import { formatDurationMs } from '../lib/duration.js';
import { formatPolicyError, loadPolicyFile, type LoadedPolicy } from '../config/load.js';
import { decideTool, NO_TOOL_RULE } from '../mcp/endpoints.js';
import { MCP_ACTIONS } from '../mcp/protocol.js';
import { suggest } from '../config/validate.js';
import { TokenVerifier, type TokenExplanation } from '../identity/jwt.js';
import { iamActionsForOperation } from '../aws/authorize.js';
import { iamActionInfo, isKnownIamService, suggestIamActions } from '../aws/iam.js';
import { OPERATION_ACTIONS } from '../aws/operation-actions.js';
import { describeLimits } from '../limits/describe.js';
import { decideCall } from '../policy/evaluate.js';
import { CliError, printJson, printLine } from './output.js';

type Opts = Record<string, unknown>;

/** Loads the file or prints every error (one per line, or JSON) and fails with exit 1. */
async function loadOrFail(file: string, json: boolean): Promise<LoadedPolicy> {
  const result = await loadPolicyFile(file);
  if (result.ok) return result.policy;
  if (json) printJson({ ok: false, file, errors: result.errors });
  else for (const error of result.errors) process.stderr.write(`${formatPolicyError(error)}\n`);
  const n = result.errors.length;
  throw new CliError(`${file}: ${n} error${n === 1 ? '' : 's'}; policy not valid`, 1);
}

export async function policyCheck(file: string, opts: Opts): Promise<void> {
  const json = opts.json === true;
  const policy = await loadOrFail(file, json);
  const rules = policy.config.rules.length;
  const accounts = policy.config.serviceAccounts.length;
  const warnings = policy.warnings;
  if (json) printJson({ ok: true, file, sha256: policy.sha256, rules, serviceAccounts: accounts, warnings });
  else {
    for (const warning of warnings) process.stderr.write(`warning: ${formatPolicyError(warning)}\n`);
    printLine(`ok: ${rules} rule${rules === 1 ? '' : 's'}, ${accounts} service account${accounts === 1 ? '' : 's'}${warnings.length ? `, ${warnings.length} warning${warnings.length === 1 ? '' : 's'}` : ''}`);
  }
  if (opts.strict === true && warnings.length > 0) throw new CliError(`${file}: ${warnings.length} warning${warnings.length === 1 ? '' : 's'} (--strict)`, 1);
}

export async function policyExplain(opts: Opts): Promise<void> {
  if (opts.token !== undefined || opts.claims !== undefined) return explainIdentity(opts);
  const principal = typeof opts.as === 'string' ? opts.as : undefined;
  const action = typeof opts.action === 'string' ? opts.action : undefined;
  if (!principal) throw new CliError('policy explain: --as NAME is required (the service account making the call)', 2);
  if (!action) throw new CliError('policy explain: --action svc:Op is required (e.g. --action s3:GetObject)', 2);
  if (!/^[A-Za-z0-9-]+:[A-Za-z0-9]+$/.test(action)) {
    throw new CliError(`policy explain: --action "${action}" is not service:Operation (e.g. s3:GetObject)`, 2);
  }
  const resource = typeof opts.resource === 'string' && opts.resource !== '' ? opts.resource : '*';
  const json = opts.json === true;
  const file = typeof opts.policy === 'string' ? opts.policy : 'policy.yaml';
  const policy = await loadOrFail(file, json);

  const names = policy.config.serviceAccounts.map((s) => s.name);
  if (!names.includes(principal)) {
    throw new CliError(`policy explain: --as: no service account \`${principal}\` in ${file}${suggest(principal, names)} (known: ${names.join(', ') || 'none'})`, 2);
  }
  const region = typeof opts.region === 'string' ? opts.region : policy.config.upstream.region;
  const pairs = explainActions(action).map((a) => ({ action: a, resource }));
  const { pairs: decided, combined: decision } = isMcpAction(action) ? explainTool(policy, principal, pairs[0]!) : decideCall(policy.compiled, principal, pairs);
  const byId = new Map(policy.config.rules.map((r) => [r.id, r]));
  const matched = decision.matched.map((id) => ({ id, effect: byId.get(id)!.effect }));
  const approval = decision.effect === 'approve' && decision.rule ? decision.rule.approval : undefined;
  const account = policy.config.serviceAccounts.find((s) => s.name === principal)!;
  // Limits matter only to a call that can pass, and only when the policy sets some (the default concurrency alone is not news).
  const limitRule = decision.effect === 'deny' ? undefined : decision.rule;
  const limited = decision.effect !== 'deny' && (account.limits !== undefined || limitRule?.limits !== undefined || limitRule?.escalate !== undefined);
  const limitLines = limited ? describeLimits(account, limitRule) : [];

  if (json) {
    printJson({
      principal,
      action,
      resource,
      region,
      effect: decision.effect,
      ruleId: decision.ruleId,
      ...(decision.message !== undefined ? { message: decision.message } : {}),
      ...(approval ? { approval: { holdMs: approval.holdMs, timeoutMs: approval.timeoutMs } } : {}),
      matched,
      ...(limited
        ? {
            limits: {
              ...(account.limits ? { account: account.limits } : {}),
              ...(limitRule?.limits ? { rule: limitRule.limits } : {}),
              ...(limitRule?.escalate ? { escalate: limitRule.escalate } : {}),
              explained: limitLines,
            },
          }
        : {}),
      pairs: decided.map((p) => ({ action: p.action, resource: p.resource, effect: p.decision.effect, ruleId: p.decision.ruleId })),
      policySha256: policy.sha256,
    });
    return;
  }
  printLine(`${decision.effect}: ${principal} ${action} on ${resource} (${region})`);
  if (decided.length > 1 || decided[0]?.action.toLowerCase() !== action.toLowerCase()) {
    for (const p of decided) printLine(`  ${p.action} on ${p.resource}: ${p.decision.effect} (${p.decision.ruleId})`);
  }
  if (decision.rule) {
    printLine(`deciding rule: ${decision.ruleId} (${decision.rule.effect})${decision.message !== undefined ? `: ${decision.message}` : ''}`);
  } else {
    printLine(`deciding rule: ${decision.ruleId}: ${decision.ruleId === NO_TOOL_RULE ? decision.message : 'no rule matched'}`);
  }
  if (approval) printLine(`approval: holds the call ${formatDurationMs(approval.holdMs)}, denied after ${formatDurationMs(approval.timeoutMs)} without an answer`);
  for (const line of limitLines) printLine(line);
  printLine(`also matched: ${matched.length ? matched.map((m) => `${m.id} (${m.effect})`).join(', ') : 'none'}`);
}

const isMcpAction = (action: string): boolean => action.toLowerCase().startsWith('mcp:');

/**
 * MCP tools are decided as the gateway decides them (mcp/endpoints.ts decideTool): a tool no rule names runs, its AWS
 * calls being decided one by one.
 */
function explainTool(policy: LoadedPolicy, principal: string, pair: { action: string; resource: string }): ReturnType<typeof decideCall> {
  const server = /^mcp:([^/]+)\/tool\/(.+)$/.exec(pair.resource);
  if (!server) throw new CliError(`policy explain: --resource: an MCP tool is mcp:<server>/tool/<name> (got ${pair.resource})`, 2);
  const decision = decideTool({ policy }, principal, server[1]!, server[2]!, pair.action.toLowerCase() === 'mcp:callchangedtool');
  const shown = decision.ruleId === NO_TOOL_RULE ? { ...decision, message: 'no rule names this tool: it runs, and the AWS calls it makes are decided one by one' } : decision;
  return { pairs: [{ ...pair, decision: shown }], combined: shown };
}

/** The IAM actions to explain: the action itself, or those an API operation is authorized as. */
function explainActions(action: string): string[] {
  if (isMcpAction(action)) {
    const name = MCP_ACTIONS.find((a) => a.toLowerCase() === action.slice(4).toLowerCase());
    if (name === undefined) throw new CliError(`policy explain: --action: the mcp service has ${MCP_ACTIONS.map((a) => `mcp:${a}`).join(', ')} (got ${action})`, 2);
    return [`mcp:${name}`];
  }
  const info = iamActionInfo(action);
  if (info) return [info.action];
  const operation = Object.keys(OPERATION_ACTIONS).find((op) => op.toLowerCase() === action.toLowerCase());
  if (operation !== undefined) {
    const [service, name] = operation.split(':') as [string, string];
    return iamActionsForOperation(service, name);
  }
  const [service] = action.split(':') as [string];
  if (!isKnownIamService(service)) throw new CliError(`policy explain: --action: unknown service \`${service}\` in ${action}`, 2);
  const near = suggestIamActions(action);
  throw new CliError(`policy explain: --action: ${action} is neither an IAM action nor a known API operation${near.length ? ` (did you mean ${near[0]}?)` : ''}`, 2);
}

/** `policy explain --token FILE | --claims JSON`: which issuer takes the token, why, and which account it maps to. */
async function explainIdentity(opts: Opts): Promise<void> {
  if (opts.token !== undefined && opts.claims !== undefined) throw new CliError('policy explain: give --token FILE or --claims JSON, not both', 2);
  if (opts.as !== undefined || opts.action !== undefined) {
    throw new CliError('policy explain: --token/--claims explain an identity; --as/--action explain a call (run them separately)', 2);
  }
  const json = opts.json === true;
  let claims: Record<string, unknown> | undefined;
  let token: string | undefined;
  if (typeof opts.claims === 'string') {
    try {
      claims = JSON.parse(opts.claims) as Record<string, unknown>;
    } catch (error) {
      throw new CliError(`policy explain: --claims is not JSON: ${(error as Error).message}`, 2);
    }
    if (claims === null || typeof claims !== 'object' || Array.isArray(claims)) throw new CliError('policy explain: --claims must be a JSON object of claims, e.g. {"iss":"…","sub":"…"}', 2);
  } else {
    const file = String(opts.token);
    try {
      token = (await readFile(file, 'utf8')).trim();
    } catch (error) {
      throw new CliError(`policy explain: --token: cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, 1);
    }
  }
  const file = typeof opts.policy === 'string' ? opts.policy : 'policy.yaml';
  const policy = await loadOrFail(file, json);
  const verifier = new TokenVerifier({ issuers: policy.config.issuers, serviceAccounts: policy.config.serviceAccounts });
  const explanation = token !== undefined ? await verifier.explainToken(token) : verifier.explainClaims(claims!);
  const result = explanation.result;
  const account = result.ok ? result.account : undefined;

  if (json) {
    printJson({
      mode: explanation.mode,
      accepted: result.ok,
      ...(result.ok ? {} : { code: result.code, reason: result.reason }),
      issuer: explanation.issuer ?? null,
      signature: explanation.signature,
      ...(explanation.signatureDetail !== undefined ? { signatureDetail: explanation.signatureDetail } : {}),
      notChecked: explanation.notChecked,
      serviceAccount: account?.name ?? null,
      roles: account?.roles ?? [],
      candidates: explanation.candidates.map((c) => ({ name: c.name, matches: c.failures.length === 0, failures: c.failures })),
      claims: pick(explanation.claims, ['iss', 'sub', 'aud', 'iat', 'nbf', 'exp']),
      policySha256: policy.sha256,
    });
  } else {
    for (const line of explanationLines(explanation)) printLine(line);
  }
  if (!result.ok) throw new CliError(`${explanation.mode === 'token' ? 'token' : 'claims'} refused: ${result.reason}`, 1);
}

function explanationLines(e: TokenExplanation): string[] {
  const lines: string[] = [];
  const result = e.result;
  const iss = typeof e.claims.iss === 'string' ? e.claims.iss : '(none)';
  lines.push(e.issuer !== undefined ? `issuer: ${e.issuer} (iss ${iss})` : `issuer: none takes iss ${iss}`);
  const signature: Record<TokenExplanation['signature'], string> = {
    verified: 'verified',
    invalid: `invalid${e.signatureDetail !== undefined ? `: ${e.signatureDetail}` : ''}`,
    unverified: `NOT verified: ${e.signatureDetail ?? 'unknown reason'} (the gateway would refuse the token until it can check it)`,
    skipped: 'not checked (--claims)',
  };
  if (e.issuer !== undefined || e.signature !== 'invalid') lines.push(`signature: ${signature[e.signature]}`);
  if (e.notChecked.length > 0) lines.push(`not checked: ${e.notChecked.join('; ')}`);
  if (result.ok) {
    lines.push(`accepted: maps to service account ${result.account.name}`);
    lines.push(`roles it may assume: ${result.account.roles.join(', ')}`);
  } else {
    lines.push(`refused (${result.code === 'ACCESS_DENIED' ? 'AccessDenied' : 'InvalidIdentityToken'}): ${result.reason}`);
  }
  if (e.candidates.length > 0) {
    lines.push(`service accounts of issuer ${e.issuer ?? ''}:`);
    for (const c of e.candidates) {
      lines.push(c.failures.length === 0 ? `  ${c.name}: matches` : `  ${c.name}: ${c.failures.join('; ')}`);
    }
  }
  return lines;
}

function pick(claims: Record<string, unknown>, names: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const name of names) if (claims[name] !== undefined) out[name] = claims[name];
  return out;
}
