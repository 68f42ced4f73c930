// Handlers for `portcullis policy check` and `portcullis policy explain`.

import { formatDurationMs } from '../config/duration.js';
import { formatPolicyError, loadPolicyFile, type LoadedPolicy } from '../config/load.js';
import { suggest } from '../config/validate.js';
import { evaluate } from '../policy/evaluate.js';
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
  if (json) printJson({ ok: true, file, sha256: policy.sha256, rules, serviceAccounts: accounts });
  else printLine(`ok: ${rules} rule${rules === 1 ? '' : 's'}, ${accounts} service account${accounts === 1 ? '' : 's'}`);
}

export async function policyExplain(opts: Opts): Promise<void> {
  if (opts.token !== undefined || opts.claims !== undefined) {
    const flag = opts.token !== undefined ? '--token' : '--claims';
    throw new CliError(`policy explain ${flag}: not built yet in this version (use --as NAME --action svc:Op)`, 1);
  }
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
  const decision = evaluate(policy.compiled, { principal, action, resource, region });
  const byId = new Map(policy.config.rules.map((r) => [r.id, r]));
  const matched = decision.matched.map((id) => ({ id, effect: byId.get(id)!.effect }));
  const approval = decision.effect === 'approve' && decision.rule ? decision.rule.approval : undefined;

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
      policySha256: policy.sha256,
    });
    return;
  }
  printLine(`${decision.effect}: ${principal} ${action} on ${resource} (${region})`);
  if (decision.rule) {
    printLine(`deciding rule: ${decision.ruleId} (${decision.rule.effect})${decision.message !== undefined ? `: ${decision.message}` : ''}`);
  } else {
    printLine(`deciding rule: ${decision.ruleId}: no rule matched`);
  }
  if (approval) printLine(`approval: holds the call ${formatDurationMs(approval.holdMs)}, denied after ${formatDurationMs(approval.timeoutMs)} without an answer`);
  printLine(`also matched: ${matched.length ? matched.map((m) => `${m.id} (${m.effect})`).join(', ') : 'none'}`);
}
