// Limits and escalations in words, for `policy explain` and docs: what applies to one call of one account.

import { formatBytes } from '../lib/bytes.js';
import { formatDurationMs } from '../lib/duration.js';
import { DEFAULT_ACCOUNT_CONCURRENCY, type EscalateConfig, type LimitsConfig } from './types.js';

function rates(limits: LimitsConfig): string[] {
  const per = formatDurationMs(limits.perMs);
  const out: string[] = [];
  if (limits.concurrent !== undefined) out.push(`${limits.concurrent} in flight`);
  if (limits.calls !== undefined) out.push(`${limits.calls} calls per ${per}`);
  if (limits.bytes !== undefined) out.push(`${formatBytes(limits.bytes)} per ${per}`);
  return out;
}

/** One line per limit that applies: the account's, the deciding rule's, and its escalation. */
export function describeLimits(account: { name: string; limits?: LimitsConfig }, rule?: { id: string; limits?: LimitsConfig; escalate?: EscalateConfig }): string[] {
  const accountLimits = account.limits ? rates(account.limits) : [];
  if (account.limits?.concurrent === undefined) accountLimits.unshift(`${DEFAULT_ACCOUNT_CONCURRENCY} in flight (default)`);
  const lines = [`limits of ${account.name}: ${accountLimits.join(', ')}`];
  if (rule?.limits) lines.push(`limits of rule ${rule.id} (per service account): ${rates(rule.limits).join(', ')}`);
  const e = rule?.escalate;
  if (e) lines.push(`escalate: after ${e.after} calls by ${rule.id} within ${formatDurationMs(e.withinMs)} per service account, further ones ${e.then === 'approve' ? 'need approval' : 'are denied'}`);
  return lines;
}
