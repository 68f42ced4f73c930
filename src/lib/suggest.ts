// Did-you-mean for names typed by hand (config keys, issuers, IAM actions): the nearest candidates by edit distance.

/** Optimal-string-alignment distance: like Levenshtein, but a swap of two neighbours (`otka`) costs 1. */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, d[i - 2]![j - 2]! + 1);
      d[i]![j] = best;
    }
  }
  return d[a.length]![b.length]!;
}

/** The candidates nearest to `word` (case-insensitive), within a third of its length, best first (at most `max`). */
export function nearest(word: string, candidates: Iterable<string>, max = 1): string[] {
  const limit = Math.max(1, Math.floor(word.length / 3));
  const lower = word.toLowerCase();
  const scored: { c: string; d: number }[] = [];
  for (const c of candidates) {
    // Cheap length bound first: a table of 20k actions is searched on every typo.
    if (Math.abs(c.length - word.length) > limit) continue;
    const d = editDistance(lower, c.toLowerCase());
    if (d <= limit) scored.push({ c, d });
  }
  scored.sort((a, b) => a.d - b.d);
  return scored.slice(0, max).map((s) => s.c);
}

/** ` (did you mean \`x\`?)` for a near miss, else empty. */
export function suggest(word: string, candidates: readonly string[]): string {
  const [best] = nearest(word, candidates);
  return best !== undefined ? ` (did you mean \`${best}\`?)` : '';
}
