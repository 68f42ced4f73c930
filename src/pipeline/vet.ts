// vet — one reading of each request, and only what was signed goes upstream. Refuses (400/403, never forwarded) a
// request the gateway and the upstream could read differently: two operation readings (a target header and an
// `Action`, a query `Action` on a JSON call…), dot segments or bytes the upstream may normalise, a bucket that is not
// a bucket name, an unreadable copy source; and one carrying headers the upstream interprets that the client did not
// sign (x-amz-acl, x-amz-tagging, content-md5, range…). Runs after the request record, so the refusal is recorded
// against the call.

import { requestAmbiguity } from '../aws/dispatch.js';
import { filterForwardHeaders } from '../aws/headers.js';
import type { Flow } from '../flow.js';
import type { StageFactory } from './context.js';
import { identifyInput } from './identify.js';

export const vet: StageFactory = (ctx) => (flow) => {
  const ambiguity = requestAmbiguity(identifyInput(flow, ctx.gatewayHosts), flow.call!);
  if (ambiguity !== undefined) {
    flow.outcome = { kind: 'refused', error: ambiguity };
    return;
  }
  // The headers that will go upstream, worked out once: approve binds them, forward sends them. An unsigned one the
  // upstream interprets throws the refusal naming it (the runner makes it outcome `refused`).
  flow.forwardHeaders = forwardHeadersOf(flow);
};

/** Only what the client signed (plus what may harmlessly travel unsigned), lower-case names. */
export function forwardHeadersOf(flow: Flow): Record<string, string> {
  const { parsed } = flow.signature!;
  return filterForwardHeaders(flow.req.headersDistinct, { signedHeaders: parsed.signedHeaders, presigned: parsed.presigned, method: flow.method });
}
