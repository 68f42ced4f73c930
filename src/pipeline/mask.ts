// mask — reads the upstream's answer up to the masking limit and masks it (field rules, detectors), fixing the
// lengths and checksums the client validates. A body over the limit streams through untouched.

import { GatewayError } from '../errors.js';
import type { Flow, FlowResponse } from '../flow.js';
import { fixMaskedHeaders } from '../masking/response.js';
import type { StageContext, StageFactory } from './context.js';

function firstHeader(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

async function maskedResponse(ctx: StageContext, flow: Flow): Promise<FlowResponse> {
  const call = flow.call!;
  const { status, headers, body } = flow.upstream!;
  if (flow.method === 'HEAD') {
    // No body follows a HEAD response; drain so the pooled connection is released cleanly.
    body.resume();
    return { status, headers, body: Buffer.alloc(0) };
  }
  const limit = ctx.policy.config.masking.maxBodyBytes;
  const declared = Number(firstHeader(headers['content-length']) ?? NaN);
  if (Number.isFinite(declared) && declared > limit) {
    return { status, headers, stream: body, masking: { fields: {}, detectors: {}, skipped: 'too-large' } };
  }
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of body) {
    chunks.push(chunk as Buffer);
    total += (chunk as Buffer).length;
    if (total > limit) {
      return { status, headers, stream: body, prefix: Buffer.concat(chunks, total), masking: { fields: {}, detectors: {}, skipped: 'too-large' } };
    }
  }
  const result = ctx.masker.maskBody(Buffer.concat(chunks, total), {
    contentType: firstHeader(headers['content-type']),
    contentEncoding: firstHeader(headers['content-encoding']),
    protocol: call.protocol === 'rpc-v2-cbor' ? undefined : call.protocol,
    service: call.service,
    operation: call.operation,
  });
  const excerpt = result.report.skipped === 'binary' || result.report.skipped === 'encoded' ? undefined : result.body.subarray(0, 2048).toString('utf8');
  return {
    status,
    headers: fixMaskedHeaders(headers, result.body, result.changed),
    body: result.body,
    masking: result.report,
    excerpt,
    errorCode: excerpt ? /<Code>([^<]+)<\/Code>/.exec(excerpt)?.[1] : undefined,
  };
}

export const mask: StageFactory = (ctx) => async (flow) => {
  try {
    flow.response = await maskedResponse(ctx, flow);
  } catch (error) {
    flow.upstream!.body.destroy();
    throw new GatewayError('UPSTREAM_UNAVAILABLE', `upstream ${flow.upstream!.origin} failed while answering: ${(error as Error).message}`, { cause: error });
  }
};
