// vet — one reading of each request, and only what was signed goes upstream. Refuses (400/403, never forwarded) a
// request the gateway and the upstream could read differently: two operation readings (a target header and an
// `Action`, a query `Action` on a JSON call…), dot segments or bytes the upstream may normalise, a bucket that is not
// a bucket name, an unreadable copy source; and one carrying headers the upstream interprets that the client did not
// sign (x-amz-acl, x-amz-tagging, content-md5, range…). Runs after the request record, so the refusal is recorded
// against the call.

import { requestAmbiguity } from '../aws/dispatch.js';
import { unsignedForwardedHeaders, unsignedHeadersError } from '../aws/headers.js';
import type { StageFactory } from './context.js';
import { identifyInput } from './identify.js';

export const vet: StageFactory = (ctx) => (flow) => {
  const ambiguity = requestAmbiguity(identifyInput(flow, ctx.gatewayHosts), flow.call!);
  if (ambiguity !== undefined) {
    flow.outcome = { kind: 'refused', error: ambiguity };
    return;
  }
  const { parsed } = flow.signature!;
  const unsigned = unsignedForwardedHeaders(flow.req.headersDistinct, { signedHeaders: parsed.signedHeaders, presigned: parsed.presigned, method: flow.method });
  if (unsigned.length > 0) flow.outcome = { kind: 'refused', error: unsignedHeadersError(unsigned) };
};
