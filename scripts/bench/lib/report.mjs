// Shared output helpers for the bench scripts: number formatting and aligned tables, so every bench prints
// figures the same way.

export const fmt = (n, digits = 0) =>
  n === undefined || n === null || Number.isNaN(n) ? '-' : Number(n).toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });

export const ms = (n) => (n === undefined || n === null || Number.isNaN(n) ? '-' : `${fmt(n, n < 10 ? 2 : 1)} ms`);

export const mib = (bytes) => (bytes === undefined ? '-' : `${fmt(bytes / 1024 / 1024, 1)} MiB`);

export const ratio = (a, b) => (a && b ? a / b : NaN);

export function section(title) {
  console.log(`\n== ${title} ==`);
}

/** Prints rows (arrays of cells) under a header with columns padded to the widest cell; numbers align right. */
export function table(header, rows) {
  const all = [header, ...rows].map((row) => row.map((cell) => String(cell)));
  const widths = header.map((_, i) => Math.max(...all.map((row) => (row[i] ?? '').length)));
  const line = (row, isHeader) =>
    row
      .map((cell, i) => (i === 0 || isHeader ? cell.padEnd(widths[i]) : cell.padStart(widths[i])))
      .join('  ')
      .trimEnd();
  console.log(line(all[0], true));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const row of all.slice(1)) console.log(line(row, false));
}

/** "0.72 (target >= 0.6: ok)" */
export function verdict(value, target, { atMost = false, digits = 2 } = {}) {
  if (!Number.isFinite(value)) return 'n/a';
  const ok = atMost ? value <= target : value >= target;
  return `${fmt(value, digits)} (target ${atMost ? '<' : '>='} ${target}: ${ok ? 'ok' : 'MISSED'})`;
}
