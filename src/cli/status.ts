// `portcullis status`: the running gateway at a glance — policy, counts, and limits (per-account concurrency,
// limit hits, the buffer budget in use).

import { AdminClient } from '../admin/client.js';
import { AdminError } from '../admin/errors.js';
import type { GatewayStatus } from '../admin/types.js';
import { resolveStateDir } from '../state.js';
import { formatTable } from './admin.js';
import { CliError, printJson, printLine } from './output.js';

type Opts = Record<string, unknown>;

function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

export function formatStatus(status: GatewayStatus): string {
  const c = status.counts;
  const lines = [
    `gateway   ${status.url} (version ${status.version}, pid ${status.pid}, since ${status.startedAt})`,
    `policy    ${status.policy.file} ${status.policy.state} (${status.policy.rules} rules, ${status.policy.serviceAccounts} service accounts, ${status.policy.sha256.slice(0, 12)})`,
    `calls     ${c.requests} requests, ${c.allowed} allowed, ${c.denied} denied, ${c.pending} pending, ${c.limited ?? 0} limited; ${c.activeSessions} active sessions`,
  ];
  const limits = status.limits;
  if (limits) {
    lines.push(`buffers   ${mib(limits.buffer.inUseBytes)} of ${mib(limits.buffer.budgetBytes)} in use (peak ${mib(limits.buffer.peakBytes)})`);
    if (limits.accounts.length > 0) {
      lines.push('');
      lines.push(
        formatTable(
          ['ACCOUNT', 'IN FLIGHT', 'WAITING', 'LIMIT HITS'],
          limits.accounts.map((a) => {
            const hits = Object.entries(a.hits).map(([name, n]) => `${name} ${n}`).join(', ');
            return [a.name, `${a.inFlight}/${a.concurrent}`, String(a.waiting), hits || '-'];
          }),
        ),
      );
    }
  }
  return lines.join('\n');
}

export async function status(opts: Opts): Promise<void> {
  const stateDir = typeof opts.stateDir === 'string' ? opts.stateDir : undefined;
  let result: GatewayStatus;
  try {
    result = await AdminClient.connect(resolveStateDir(stateDir)).status();
  } catch (error) {
    throw error instanceof AdminError ? new CliError(error.message, 1) : error;
  }
  if (opts.json === true) printJson(result);
  else printLine(formatStatus(result));
}
