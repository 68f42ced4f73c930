// record — writes the request record before anything is forwarded: fsynced in strict durability; with
// `recording.on_failure: deny`, a recording that cannot be written refuses the call (fail closed). Every other
// event reaches the recording by observation.

import { GatewayError } from '../errors.js';
import type { GatewayEvent } from '../events.js';
import { callHeader } from '../flow.js';
import type { StageFactory } from './context.js';
import { clientTraceparent, requestWire } from './wire.js';

export const record: StageFactory = (ctx) => (flow) => {
  const call = flow.call!;
  const now = ctx.now();
  const event: GatewayEvent = {
    at: now.toISOString(),
    type: 'request',
    ...callHeader(flow),
    service: call.service,
    region: call.region,
    params: flow.maskedParams,
    sourceIp: flow.sourceIp,
    http: requestWire(flow, ctx.masker),
    traceparent: clientTraceparent(flow),
    ...ctx.toolCalls.attribute(flow.session!.sessionId, now.getTime()),
  };
  // Batch durability is synchronous (no promise, so the runner does not wait a turn); strict waits for the fsync.
  if (ctx.recordingDurability === 'strict') return ctx.recorder.recordDurable(event).then(() => ctx.publish(event));
  if (!ctx.recorder.record(event)) {
    throw new GatewayError(
      'RECORDING_FAILED',
      `portcullis: the session recording cannot be written (${ctx.recorder.failure()?.message ?? 'recorder unavailable'}); calls are refused until it can (recording.on_failure: deny)`,
    );
  }
  ctx.publish(event);
};
