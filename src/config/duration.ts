// Temporary: durations live in lib/duration.ts; remove once config/validate.ts and cli/policy.ts import from there.
export { formatDurationMs, parseDurationMs } from '../lib/duration.js';
