// mask — masks the upstream's answer and fails closed. Headers always go through the field rules and detectors
// (user metadata by name and value). A body up to the masking limit is read whole, decoded (an encoding that cannot
// be decoded is refused with a 502, never passed through), masked, and answered from the masked document: Range,
// partNumber and conditions are served from it (no slice reveals what a full masked read hides), and ETag and
// checksums are those of the masked bytes. A body over the limit is not masked and streams through: when the forward
// stage had changed the request for masking (a HeadObject fetched as GET, a Range taken off), the client's own
// request is sent instead and its answer streamed.

import type { Readable } from 'node:stream';
import { GatewayError } from '../errors.js';
import type { Flow, FlowResponse } from '../flow.js';
import { rewriteQueueUrls } from '../aws/sqs-urls.js';
import { answerMasked } from '../masking/answer.js';
import type { MaskedBody } from '../masking/masker.js';
import type { MaskedHeaders } from '../masking/headers.js';
import { mergeReports } from '../masking/report.js';
import type { MaskedRequestPlan } from '../masking/request.js';
import type { StageContext, StageFactory } from './context.js';
import { sendUpstream } from './forward.js';
import { firstHeader } from '../lib/headers.js';


const TOO_LARGE = { fields: {}, detectors: {}, skipped: 'too-large' } as const;

/**
 * Reads up to `limit` bytes; over it, stops without destroying the stream (the rest can still be piped). Plain
 * listeners rather than an async iterator: the iterator costs a promise per chunk and an object per call.
 */
function readUpTo(body: Readable, limit: number): Promise<{ data: Buffer; complete: boolean }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    const done = (complete: boolean): void => {
      body.off('data', onData);
      body.off('end', onEnd);
      body.off('error', onError);
      body.off('close', onClose);
      resolve({ data: Buffer.concat(chunks, total), complete });
    };
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk);
      total += chunk.length;
      if (total > limit) {
        body.pause();
        done(false);
      }
    };
    const onEnd = (): void => done(true);
    const onError = (error: Error): void => {
      body.off('data', onData);
      body.off('end', onEnd);
      body.off('close', onClose);
      reject(error);
    };
    // Closed before its end (the upstream went away mid-body): an error, never a short body taken as whole.
    const onClose = (): void => onError(new Error('the upstream closed the connection before the body ended'));
    body.on('data', onData);
    body.on('end', onEnd);
    body.on('error', onError);
    body.on('close', onClose);
  });
}

/** Whether the request sent for masking asks the upstream something other than what the client asked. */
function planChangedTheAsk(plan: MaskedRequestPlan): boolean {
  const { client } = plan;
  return (
    plan.forward.method !== plan.fallback.method ||
    plan.forward.path !== plan.fallback.path ||
    [client.range, client.partNumber, client.ifRange, client.ifMatch, client.ifNoneMatch, client.ifModifiedSince, client.ifUnmodifiedSince].some((v) => v !== undefined)
  );
}

/** The upstream's answer passed through unmasked (too large), headers still masked. */
function streamed(flow: Flow, headers: MaskedHeaders, prefix?: Buffer): FlowResponse {
  const upstream = flow.upstream!;
  if (flow.method === 'HEAD') {
    upstream.body.resume();
    return { status: upstream.status, headers: headers.headers, body: Buffer.alloc(0), masking: mergeReports(TOO_LARGE, headers.report) };
  }
  return { status: upstream.status, headers: headers.headers, stream: upstream.body, prefix, masking: mergeReports(TOO_LARGE, headers.report) };
}

/** SQS answers name queues by URL; those URLs point at the gateway, as the client addressed it (sqs-urls.ts). */
function keepQueueUrlsOnGateway(flow: Flow, result: MaskedBody): void {
  const host = flow.req.headers.host;
  if (host === undefined || result.format === 'binary' || result.format === 'cbor') return;
  const text = result.body.toString('utf8');
  const rewritten = rewriteQueueUrls(text, `https://${host}`);
  if (rewritten === text) return;
  result.body = Buffer.from(rewritten);
  result.changed = true;
  result.outcome = 'masked';
}

async function maskedResponse(ctx: StageContext, flow: Flow): Promise<FlowResponse> {
  const call = flow.call!;
  const plan = flow.maskPlan!;
  let upstream = flow.upstream!;
  const limit = ctx.policy.config.masking.maxBodyBytes;

  if (upstream.method === 'HEAD') {
    // No body follows a HEAD response; drain so the pooled connection is released cleanly.
    upstream.body.resume();
    const headers = ctx.masker.maskHeaders(upstream.headers);
    return { status: upstream.status, headers: headers.headers, body: Buffer.alloc(0), masking: headers.report };
  }

  const declared = Number(firstHeader(upstream.headers['content-length']) ?? NaN);
  let read: { data: Buffer; complete: boolean } | undefined;
  if (!(Number.isFinite(declared) && declared > limit)) read = await readUpTo(upstream.body, limit);
  if (read === undefined || !read.complete) {
    if (planChangedTheAsk(plan)) {
      // Not maskable anyway: ask the upstream exactly what the client asked, and stream that.
      upstream.body.destroy();
      await sendUpstream(ctx, flow, plan.fallback);
      upstream = flow.upstream!;
      return streamed(flow, ctx.masker.maskHeaders(upstream.headers));
    }
    return streamed(flow, ctx.masker.maskHeaders(upstream.headers), read?.data);
  }

  const headers = ctx.masker.maskHeaders(upstream.headers);
  const result = ctx.masker.maskBody(read.data, {
    contentType: firstHeader(upstream.headers['content-type']),
    contentEncoding: firstHeader(upstream.headers['content-encoding']),
    protocol: call.protocol,
    service: call.service,
    operation: call.operation,
  });
  if (result.outcome === 'undecodable') {
    const what = result.unreadable === 'document' ? `a ${result.encoding.toUpperCase()} body` : `Content-Encoding ${result.encoding}`;
    throw new GatewayError('UNMASKABLE_RESPONSE', `portcullis: the upstream answered with ${what}, which the gateway cannot read to mask (${result.reason}); the answer is withheld`);
  }
  const masking = mergeReports(result.report, headers.report);
  if (call.service === 'sqs') keepQueueUrlsOnGateway(flow, result);
  const answer = answerMasked(upstream.status, headers.headers, result, plan.client);
  if (answer.kind === 'refuse') {
    const extra = Object.fromEntries(Object.entries(answer.headers).map(([name, value]) => [name, Array.isArray(value) ? value.join(', ') : value]));
    throw new GatewayError('MALFORMED_REQUEST', answer.message, { status: answer.status, awsCode: answer.code, headers: extra });
  }
  const excerpt =
    result.excerpt ?? (result.report.skipped === 'binary' || result.report.skipped === 'encoded' ? undefined : result.body.subarray(0, 2048).toString('utf8'));
  return {
    status: answer.status,
    headers: answer.headers,
    body: answer.body,
    masking,
    excerpt,
    errorCode: excerpt ? /<Code>([^<]+)<\/Code>/.exec(excerpt)?.[1] : undefined,
  };
}

export const mask: StageFactory = (ctx) => async (flow) => {
  try {
    flow.response = await maskedResponse(ctx, flow);
  } catch (error) {
    flow.upstream!.body.destroy();
    if (error instanceof GatewayError) throw error;
    throw new GatewayError('UPSTREAM_UNAVAILABLE', `upstream ${flow.upstream!.origin} failed while answering: ${(error as Error).message}`, { cause: error });
  }
};
