// How many cases each property runs: modest defaults for CI; FUZZ_RUNS=N runs every property N times
// (e.g. FUZZ_RUNS=20000 npx vitest run test/fuzz). Every file prints what it ran, so the totals can be
// reported (docs/resilience.md).
import { afterAll, vi } from 'vitest';

const override = Number(process.env.FUZZ_RUNS);
const counts = new Map<string, number>();

// Scaled-up runs take as long as they take; the CI defaults stay well inside a minute per test.
vi.setConfig({ testTimeout: Number.isInteger(override) && override > 0 ? 3_600_000 : 60_000 });

export function runs(defaultRuns: number): number {
  return Number.isInteger(override) && override > 0 ? override : defaultRuns;
}

/** fast-check parameters for a property named `name`; counts the cases it runs. */
export function params(name: string, defaultRuns: number): { numRuns: number; seed?: number } {
  const numRuns = runs(defaultRuns);
  counts.set(name, (counts.get(name) ?? 0) + numRuns);
  const seed = Number(process.env.FUZZ_SEED);
  return Number.isInteger(seed) ? { numRuns, seed } : { numRuns };
}

/** Prints `[fuzz] <file>: N cases (name=n, ...)` once the file's properties have run. */
export function reportCases(file: string): void {
  afterAll(() => {
    const total = [...counts.values()].reduce((a, b) => a + b, 0);
    const detail = [...counts.entries()].map(([k, v]) => `${k}=${v}`).join(', ');
    process.stdout.write(`[fuzz] ${file}: ${total} cases (${detail})\n`);
  });
}
