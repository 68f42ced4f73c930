// Figures and verdicts for scripts/soak.js: pure functions over what the soak collected.

/** The p-th percentile (0–100) of a list of numbers, nearest rank; NaN for an empty list. */
export function percentile(values, p) {
  if (values.length === 0) return NaN;
  const sorted = Float64Array.from(values).sort();
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank];
}

const fmt = (n, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : '-');

/**
 * Memory is "flat" when the second half of the run adds at most 10 % (or 20 MiB) to the middle sample (start and end
 * are reported too: the first half includes the heap growing to the load); descriptors when those that are not
 * session files end within 16 of the start (sockets come and go with the load) and open session files stay
 * under the recorder's cap of 128.
 */
export function summarize({ kinds, stats, recorded, elapsedS, snapshotStart, snapshotEnd, samples, transportErrors, approvals, sessionsOpened, files, recordedResponses }) {
  const lines = [];
  const all = kinds.flatMap((k) => stats[k].latenciesMs);
  const answered = kinds.reduce((a, k) => a + stats[k].answered, 0);
  const unexpected = kinds.reduce((a, k) => a + stats[k].unexpected, 0);
  const leaked = kinds.reduce((a, k) => a + stats[k].leaked, 0);
  const fiveXx = kinds.reduce((a, k) => a + Object.entries(stats[k].statuses).filter(([s]) => Number(s) >= 500).reduce((b, [, c]) => b + c, 0), 0);
  const lost = kinds.reduce((a, k) => a + Math.max(0, stats[k].answered - recorded[k]), 0);
  const maxRss = Math.max(...samples.map((s) => s.rssMiB));
  // The first half includes V8 growing its heaps to the load; a leak keeps growing in the second half.
  const midSample = samples[Math.floor(samples.length / 2)] ?? snapshotStart;
  const secondHalfGrowth = snapshotEnd.rssMiB - midSample.rssMiB;
  const memoryFlat = secondHalfGrowth <= Math.max(20, midSample.rssMiB * 0.1);
  // Session files stay open by design (the recorder's LRU holds up to 128): count them apart from the rest.
  const otherStart = snapshotStart.fds - snapshotStart.sessionFds;
  const otherEnd = snapshotEnd.fds - snapshotEnd.sessionFds;
  const fdsFlat = otherEnd - otherStart <= 16 && snapshotEnd.sessionFds <= 128;
  const mid = midSample;

  lines.push(`calls answered      ${answered} in ${fmt(elapsedS)} s (${fmt(answered / elapsedS, 0)}/s), ${sessionsOpened} sessions, ${approvals} approvals`);
  for (const k of kinds) {
    const s = stats[k];
    lines.push(`  ${k.padEnd(8)} ${String(s.answered).padStart(7)}  p50 ${fmt(percentile(s.latenciesMs, 50)).padStart(7)} ms  p99 ${fmt(percentile(s.latenciesMs, 99)).padStart(7)} ms  statuses ${JSON.stringify(s.statuses)}  recorded ${recorded[k]}`);
  }
  lines.push(`latency (all)       p50 ${fmt(percentile(all, 50))} ms, p99 ${fmt(percentile(all, 99))} ms`);
  lines.push(`unexpected statuses ${unexpected} (5xx: ${fiveXx}); transport errors ${transportErrors}; secrets leaked ${leaked}`);
  lines.push(`resident memory     start ${fmt(snapshotStart.rssMiB)} MiB, middle ${fmt(mid.rssMiB)} MiB, end ${fmt(snapshotEnd.rssMiB)} MiB, max ${fmt(maxRss)} MiB; second half ${secondHalfGrowth >= 0 ? '+' : ''}${fmt(secondHalfGrowth)} MiB → ${memoryFlat ? 'flat' : 'GROWING'}`);
  lines.push(`open descriptors    start ${snapshotStart.fds} (${snapshotStart.sessionFds} session files), end ${snapshotEnd.fds} (${snapshotEnd.sessionFds} session files); others ${otherStart} → ${otherEnd} → ${fdsFlat ? 'flat' : 'GROWING'}`);
  lines.push(`recorded            ${files} session files, ${kinds.reduce((a, k) => a + recorded[k], 0)} request lines, ${recordedResponses} response lines; calls lost ${lost}`);
  const checks = {
    'no unexpected status (no 5xx)': unexpected === 0 && fiveXx === 0,
    'no transport errors': transportErrors === 0,
    'no secret leaked': leaked === 0,
    'memory flat': memoryFlat,
    'descriptors flat': fdsFlat,
    'every answered call recorded': lost === 0,
  };
  const ok = Object.values(checks).every(Boolean);
  lines.push(`verdict             ${ok ? 'PASS' : `FAIL (${Object.entries(checks).filter(([, v]) => !v).map(([k]) => k).join('; ')})`}`);
  return {
    ok,
    lines,
    figures: {
      answered,
      elapsedS,
      rps: answered / elapsedS,
      p50Ms: percentile(all, 50),
      p99Ms: percentile(all, 99),
      unexpected,
      fiveXx,
      transportErrors,
      leaked,
      rssStartMiB: snapshotStart.rssMiB,
      rssEndMiB: snapshotEnd.rssMiB,
      rssMidMiB: mid.rssMiB,
      rssSecondHalfGrowthMiB: secondHalfGrowth,
      rssMaxMiB: maxRss,
      sessionFdsStart: snapshotStart.sessionFds,
      sessionFdsEnd: snapshotEnd.sessionFds,
      fdsStart: snapshotStart.fds,
      fdsEnd: snapshotEnd.fds,
      sessionsOpened,
      approvals,
      lost,
      checks,
    },
  };
}
