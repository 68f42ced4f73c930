// The log panel's filter language.

import type { LogEntry } from './rows.js';

/**
 * Log filter: whitespace-separated terms, all must match. A term matches the account, the action or
 * the decision (case-insensitive substring); `account:`, `action:` or `decision:` narrows it to one
 * field; a leading `!` inverts it (as in k9s). Returns undefined for an empty filter.
 */
export function compileFilter(text: string): ((entry: Pick<LogEntry, 'account' | 'action' | 'decision'>) => boolean) | undefined {
  const terms = text.trim().toLowerCase().split(/\s+/).filter(Boolean);
  if (terms.length === 0) return undefined;
  const tests = terms.map((raw) => {
    const negate = raw.startsWith('!');
    const term = negate ? raw.slice(1) : raw;
    const field = /^(account|action|decision):(.*)$/.exec(term);
    const needle = field ? field[2]! : term;
    const fields = field ? [field[1] as 'account' | 'action' | 'decision'] : (['account', 'action', 'decision'] as const);
    return (e: Pick<LogEntry, 'account' | 'action' | 'decision'>) => {
      const hit = fields.some((f) => e[f].toLowerCase().includes(needle));
      return negate ? !hit : hit;
    };
  });
  return (e) => tests.every((t) => t(e));
}
