// Compact wording of times and policy errors for the dashboard's small spaces.

/** The first error of a rejected policy as `file:line:column: message (+N more)`. */
export function formatPolicyErrors(file: string, errors: { file: string; line: number; column: number; message: string }[]): string {
  if (errors.length === 0) return `${file}: policy rejected`;
  const [first] = errors;
  const more = errors.length > 1 ? ` (+${errors.length - 1} more)` : '';
  return `${first!.file || file}:${first!.line}:${first!.column}: ${first!.message}${more}`;
}

/** `45s`, `3m05s`, `2h04m`, `3d02h` — compact, for ages, uptime and countdowns. */
export function formatDuration(msValue: number): string {
  const total = Math.max(0, Math.floor(msValue / 1000));
  const d = Math.floor(total / 86400);
  const h = Math.floor((total % 86400) / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const two = (n: number) => String(n).padStart(2, '0');
  if (d > 0) return `${d}d${two(h)}h`;
  if (h > 0) return `${h}h${two(m)}m`;
  if (m > 0) return `${m}m${two(s)}s`;
  return `${s}s`;
}

/** Seconds left, rounded up, never negative. */
export function secondsLeft(expiresAtMs: number, nowMs: number): number {
  return Math.max(0, Math.ceil((expiresAtMs - nowMs) / 1000));
}
