// Durations as written in the policy file and on the command line: `500ms`, `30s`, `10m`, `1h`, `1d`. A bare
// number is refused on purpose: `timeout: 30` could mean seconds or minutes, and guessing wrong changes what a
// policy does.

const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
type Unit = keyof typeof UNIT_MS;

/** Milliseconds for `500ms`, `30s`, `1.5h`…, or undefined when the text is not a duration. */
export function parseDurationMs(text: string): number | undefined {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(text.trim());
  if (!match) return undefined;
  const ms = Math.round(Number(match[1]) * UNIT_MS[match[2] as Unit]);
  return Number.isSafeInteger(ms) ? ms : undefined;
}

/** The shortest exact spelling of a duration, for messages (`90000` → `90s`, `3600000` → `1h`). */
export function formatDurationMs(ms: number): string {
  for (const unit of ['d', 'h', 'm', 's'] as const) {
    if (ms >= UNIT_MS[unit] && ms % UNIT_MS[unit] === 0) return `${ms / UNIT_MS[unit]}${unit}`;
  }
  return `${ms}ms`;
}
