// limit — how much, not what. Before decide: the service account's concurrency slot (default 32, waiting at most
// 2 s for one) and its `calls` / `bytes` per window. After decide (the `escalate` stage): the deciding rule's own
// limits, and its `escalate:` — after N calls it allowed within a window, the next need a human or are denied.
// Over a limit is a retryable throttling error in the client's protocol and a `limit.hit` event. Slots and budget
// reservations are released by `flow.onDone` however the call ends. Counters live on the gateway (ctx.limiter),
// so a policy reload keeps them.

import type { Readable } from 'node:stream';
import type { ServiceAccountConfig } from '../config/types.js';
import { GatewayError } from '../errors.js';
import { callHeader, type Flow } from '../flow.js';
import { formatBytes } from '../lib/bytes.js';
import { formatDurationMs } from '../lib/duration.js';
import type { Reservation } from '../limits/budget.js';
import type { LimitScope } from '../limits/limiter.js';
import type { LimitName, LimitsConfig } from '../limits/types.js';
import type { Release } from '../limits/slots.js';
import { uploadRateGuard } from '../proxy/upload-rate.js';
import type { StageContext, StageFactory } from './context.js';
import { emitDecision } from './decide.js';

const accountsByPolicy = new WeakMap<readonly ServiceAccountConfig[], Map<string, ServiceAccountConfig>>();

function accountLimits(ctx: StageContext, name: string): LimitsConfig | undefined {
  const accounts = ctx.policy.config.serviceAccounts;
  let byName = accountsByPolicy.get(accounts);
  if (!byName) {
    byName = new Map(accounts.map((a) => [a.name, a]));
    accountsByPolicy.set(accounts, byName);
  }
  return byName.get(name)?.limits;
}

function onDone(flow: Flow, done: () => void): void {
  (flow.onDone ??= []).push(done);
}

function requestBytes(flow: Flow): number {
  const headers = flow.req.headers;
  const decoded = Number(headers['x-amz-decoded-content-length']);
  if (Number.isSafeInteger(decoded) && decoded > 0) return decoded;
  const length = Number(headers['content-length']);
  return Number.isSafeInteger(length) && length > 0 ? length : (flow.body?.length ?? 0);
}

function limitHit(ctx: StageContext, flow: Flow, limit: LimitName, message: string, ruleId?: string): void {
  const session = flow.session!;
  ctx.limiter.hit(session.serviceAccount, limit);
  ctx.emit({
    type: 'limit.hit',
    sessionId: session.sessionId,
    requestId: flow.requestId,
    serviceAccount: session.serviceAccount,
    action: flow.call?.action,
    resource: flow.call?.resource,
    limit,
    ruleId,
    message,
  });
}

function throttle(ctx: StageContext, flow: Flow, limit: LimitName, message: string, ruleId?: string): void {
  limitHit(ctx, flow, limit, message, ruleId);
  const what = flow.call ? `${flow.call.action} on ${flow.call.resource}` : 'this call';
  flow.outcome = { kind: 'refused', error: new GatewayError('THROTTLED', `portcullis: ${what} throttled: ${message}; retry with backoff`) };
}

/**
 * Takes a concurrency slot and admits the call against the scope's rate limits; false when it was throttled. A promise
 * only when the call has to queue for a slot: the common case stays synchronous (no turn of the event loop).
 */
function admit(ctx: StageContext, flow: Flow, scope: LimitScope, limits: LimitsConfig | undefined): boolean | Promise<boolean> {
  const now = ctx.limiter.enterNow(scope, limits);
  if (now !== undefined) return admitWith(ctx, flow, scope, limits, now);
  return ctx.limiter.enter(scope, limits).then((slot) => admitWith(ctx, flow, scope, limits, slot));
}

function admitWith(ctx: StageContext, flow: Flow, scope: LimitScope, limits: LimitsConfig | undefined, slot: Release | 'unlimited' | undefined): boolean {
  if (slot === undefined) {
    throttle(ctx, flow, 'concurrent', ctx.limiter.concurrencyMessage(scope, limits), scope.ruleId);
    return false;
  }
  if (slot !== 'unlimited') onDone(flow, slot);
  const verdict = ctx.limiter.admit(scope, limits, requestBytes(flow));
  if (!verdict.ok) {
    throttle(ctx, flow, verdict.limit, verdict.message, scope.ruleId);
    return false;
  }
  if (limits?.bytes !== undefined) onDone(flow, () => ctx.limiter.addBytes(scope, limits, flow.responseBytes ?? 0));
  return true;
}

export const limit: StageFactory = (ctx) => (flow) => {
  const account = flow.session!.serviceAccount;
  const admitted = admit(ctx, flow, { account }, accountLimits(ctx, account));
  if (admitted instanceof Promise) return admitted.then(() => undefined);
};

function ordinal(n: number): string {
  const tens = n % 100;
  const suffix = tens >= 11 && tens <= 13 ? 'th' : (['th', 'st', 'nd', 'rd'][n % 10] ?? 'th');
  return `${n}${suffix}`;
}

export const escalate: StageFactory = (ctx) => (flow) => {
  const rule = flow.decision!.rule;
  if (rule === undefined || (rule.limits === undefined && rule.escalate === undefined)) return;
  if (rule.limits !== undefined) {
    const admitted = admit(ctx, flow, { account: flow.session!.serviceAccount, ruleId: rule.id }, rule.limits);
    if (admitted instanceof Promise) return admitted.then((ok) => (ok ? escalateIfDue(ctx, flow) : undefined));
    if (!admitted) return;
  }
  escalateIfDue(ctx, flow);
};

/** Past the deciding rule's `escalate.after` within its window: held for approval, or denied. */
function escalateIfDue(ctx: StageContext, flow: Flow): void {
  const decision = flow.decision!;
  const rule = decision.rule!;
  const session = flow.session!;
  const call = flow.call!;
  const policy = rule.escalate;
  if (policy === undefined || decision.effect !== 'allow') return;
  const count = ctx.limiter.countEscalation(session.serviceAccount, rule.id, policy.withinMs);
  // Counted as it arrives (concurrent calls cannot all slip under the threshold), but a call that ends held for
  // approval is taken back: the SDK's retries of one held call are one call, counted when it goes through.
  const countedAtMs = ctx.now().getTime();
  onDone(flow, () => {
    if (flow.outcome?.kind === 'pending' && ctx.now().getTime() - countedAtMs < policy.withinMs) ctx.limiter.uncountEscalation(session.serviceAccount, rule.id, policy.withinMs);
  });
  if (count <= policy.after) return;
  const why = `${ordinal(count)} ${call.action} within ${formatDurationMs(policy.withinMs)} (escalate after ${policy.after})`;
  ctx.emit({ type: 'limit.escalated', ...callHeader(flow), ruleId: rule.id, count, after: policy.after, withinMs: policy.withinMs, then: policy.then });
  if (policy.then === 'approve') {
    flow.decision = { ...decision, effect: 'approve', message: why };
    return;
  }
  const denied = { ...decision, effect: 'deny' as const, message: why };
  flow.decision = denied;
  emitDecision(ctx, flow, denied, 'policy');
  flow.outcome = { kind: 'denied', error: new GatewayError('ACCESS_DENIED', `portcullis: ${call.action} on ${call.resource} for ${session.serviceAccount}: denied by rule ${rule.id}: ${why}`) };
}

/** A share of the gateway's buffer budget for this call's body, given back when the call ends. */
export function bodyReservation(ctx: StageContext, flow: Flow): Reservation {
  const reservation = ctx.limiter.buffers.reservation();
  onDone(flow, () => reservation.release());
  return reservation;
}

/** The client's streamed body, cut when it stays below the minimum upload rate (`limit.hit` upload-rate). */
export function guardUpload(ctx: StageContext, flow: Flow, source: Readable): Readable {
  const settings = ctx.uploadRate;
  if (settings.minBytesPerSec <= 0) return source;
  const guard = uploadRateGuard(settings, (bytesPerSec) => {
    const message = `the upload ran at ${formatBytes(bytesPerSec)}/s over the last ${formatDurationMs(settings.windowMs)}, below the minimum of ${formatBytes(settings.minBytesPerSec)}/s`;
    limitHit(ctx, flow, 'upload-rate', message);
    return new GatewayError('UPLOAD_TOO_SLOW', `portcullis: ${message}; the request was cut`);
  });
  source.once('close', () => {
    if (!flow.req.complete && !guard.destroyed) guard.destroy(new Error('the client closed the connection during the upload'));
  });
  return source.pipe(guard);
}
