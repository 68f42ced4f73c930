import { describe, expect, it } from 'vitest';
import { formatDurationMs, parseDurationMs } from '../../src/lib/duration.js';

describe('parseDurationMs', () => {
  it.each([
    ['500ms', 500],
    ['30s', 30_000],
    ['10m', 600_000],
    ['1h', 3_600_000],
    ['1d', 86_400_000],
    ['1.5h', 5_400_000],
    [' 20s ', 20_000],
    ['0s', 0],
  ])('%s → %i ms', (text, ms) => expect(parseDurationMs(text)).toBe(ms));

  it.each(['', '30', '10 m', '1w', '-5s', 's', '1h30m', '1e3s', 'PT1H', '10M', '9'.repeat(400) + 'd'])('refuses %j', (text) => {
    expect(parseDurationMs(text)).toBeUndefined();
  });
});

describe('formatDurationMs', () => {
  it.each([
    [500, '500ms'],
    [20_000, '20s'],
    [90_000, '90s'],
    [600_000, '10m'],
    [3_600_000, '1h'],
    [86_400_000, '1d'],
    [1_500, '1500ms'],
  ])('%i → %s', (ms, text) => expect(formatDurationMs(ms)).toBe(text));
});
