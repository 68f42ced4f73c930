// forward — re-signs the call with the service account's real credentials and sends it upstream, streaming the
// body (signed chunks re-signed one by one; a spooled body from the spool). Resolves the upstream before touching
// headers; the client's own Authorization, security token and presigning parameters never leave the gateway. Since
// the answer will be masked, the request asks for an identity encoding and leaves out what would let the upstream
// relabel or slice what the masker reads (response-content-* overrides, Range, conditions: see masking/request.ts);
// the mask stage answers those from the masked document.

import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { createChunkResigner } from '../aws/chunked.js';
import { s3UpstreamPath, upstreamOrigin } from '../aws/endpoints.js';
import { rewriteQueueUrlForm, rewriteQueueUrls } from '../aws/sqs-urls.js';
import { signOutgoingRequest } from '../aws/sign.js';
import { GatewayError, isGatewayError } from '../errors.js';
import type { Flow } from '../flow.js';
import { prepareMaskedRequest, type ForwardRequest } from '../masking/request.js';
import type { StageContext, StageFactory } from './context.js';
import { readBodyLimited } from '../proxy/body.js';
import { bodyReservation, guardUpload } from './limit.js';
import { forwardHeadersOf } from './vet.js';
import { firstHeader } from '../lib/headers.js';
import { BoundedMemo } from '../lib/memo.js';

/**
 * A body of a declared length up to this is read whole before it is forwarded (within the body timeout, against
 * the buffer budget): one write upstream instead of a stream through the upload-rate guard. Larger bodies stream.
 */
const SMALL_BODY_BYTES = 64 * 1024;

/** The declared length of a small body still unread in the client's stream, or undefined. */
function smallUnreadBody(flow: Flow): number | undefined {
  if (flow.body !== undefined || flow.spool !== undefined || flow.method === 'GET' || flow.method === 'HEAD') return undefined;
  if (flow.signature!.payloadHash.startsWith('STREAMING-')) return undefined;
  const declared = Number(firstHeader(flow.req.headers['content-length']));
  return Number.isSafeInteger(declared) && declared > 0 && declared <= SMALL_BODY_BYTES ? declared : undefined;
}

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade']);
const PRESIGN_QUERY = /^x-amz-(algorithm|credential|date|expires|signedheaders|signature|security-token)$/i;


/** The path without the client's presigning parameters: the gateway signs upstream with its own Authorization. */
function withoutPresignParams(rawPath: string): string {
  const q = rawPath.indexOf('?');
  if (q === -1) return rawPath;
  const kept = rawPath
    .slice(q + 1)
    .split('&')
    .filter((part) => part !== '' && !PRESIGN_QUERY.test(decodeURIComponentSafe(part.split('=', 1)[0]!)));
  return kept.length === 0 ? rawPath.slice(0, q) : `${rawPath.slice(0, q)}?${kept.join('&')}`;
}

function decodeURIComponentSafe(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** The request body to send: the buffered or spooled bytes, or the client's stream; aws-chunked bodies re-signed. */
function requestBody(ctx: StageContext, flow: Flow, signing: ReturnType<typeof signOutgoingRequest>['signing']): Buffer | Readable | undefined {
  const { payloadHash, verified } = flow.signature!;
  const buffered = flow.body ?? flow.spool?.buffer;
  if (payloadHash.startsWith('STREAMING-AWS4-HMAC-SHA256-PAYLOAD')) {
    const source = flow.spool?.stream() ?? (buffered ? Readable.from([buffered]) : guardUpload(ctx, flow, flow.req));
    return source.pipe(
      createChunkResigner({
        incoming: verified,
        outgoing: signing,
        trailer: payloadHash.endsWith('-TRAILER'),
        decodedContentLength: Number(firstHeader(flow.req.headers['x-amz-decoded-content-length']) ?? NaN) || undefined,
      }),
    );
  }
  if (buffered !== undefined) return buffered.length === 0 ? undefined : buffered;
  return flow.spool?.stream() ?? guardUpload(ctx, flow, flow.req);
}

/** Queue URLs the client got from the gateway (sqs-urls.ts) go upstream as the upstream's own; the body is re-hashed. */
function queueUrlsToUpstream(flow: Flow, upstreamOrigin: string): void {
  if (flow.body === undefined || flow.body.length === 0) return;
  const text = flow.body.toString('utf8');
  const form = (flow.req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded');
  const rewritten = form ? rewriteQueueUrlForm(text, upstreamOrigin) : rewriteQueueUrls(text, upstreamOrigin);
  if (rewritten === text) return;
  flow.body = Buffer.from(rewritten);
  flow.signature = { ...flow.signature!, payloadHash: createHash('sha256').update(flow.body).digest('hex') };
}

/** Upstream origins parsed once (a URL per call is a measurable cost); bounded, virtual-host S3 has one per bucket. */
const originUrls = new BoundedMemo(1024, (origin) => new URL(origin));

/** Signs `request` for the upstream and sends it; fills flow.upstream. */
export async function sendUpstream(ctx: StageContext, flow: Flow, request: ForwardRequest): Promise<void> {
  const session = flow.session!;
  const { parsed } = flow.signature!;
  const target = flow.target!;
  const credentials = await ctx.upstreamCredentials.forRole(session.serviceAccount, session.roleArn);
  const headers = request.headers as Record<string, string>;
  const userAgent = headers['user-agent'];
  const signed = signOutgoingRequest({
    // Sent but never signed: the signer leaves it out of its copy and it is added back below.
    leaveOut: 'user-agent',
    method: request.method,
    url: originUrls.get(target.origin),
    rawPath: request.path,
    headers,
    region: target.signingRegion,
    service: parsed.service,
    credentials,
    payloadHash: flow.signature!.payloadHash,
    now: ctx.now(),
  });
  signed.headers.host = target.host;
  signed.headers['user-agent'] = `${userAgent ? `${userAgent} ` : ''}portcullis/${ctx.version}`;
  const body = request.method === 'GET' || request.method === 'HEAD' ? undefined : requestBody(ctx, flow, signed.signing);
  let upstream;
  try {
    upstream = await ctx.upstreamClient.send({
      origin: target.origin,
      path: request.path,
      method: request.method,
      headers: signed.headers,
      body,
      idleTimeoutMs: ctx.limits.upstreamTimeoutMs,
    });
  } catch (error) {
    if (isGatewayError(error)) throw error;
    const cause = (error as { cause?: unknown }).cause;
    if (isGatewayError(cause)) throw cause;
    throw new GatewayError('UPSTREAM_UNAVAILABLE', `upstream ${target.origin} is unavailable: ${(error as Error).message}`, { cause: error });
  }
  const responseHeaders: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(upstream.headers)) {
    if (value === undefined || HOP_BY_HOP.has(name)) continue;
    responseHeaders[name] = value;
  }
  flow.upstream = { origin: target.origin, method: request.method, status: upstream.statusCode, headers: responseHeaders, body: upstream.body };
}

export const forward: StageFactory = (ctx) => async (flow) => {
  const call = flow.call!;
  const { parsed } = flow.signature!;
  const override = ctx.upstreamEndpoint ?? ctx.policy.config.upstream.endpoint;
  const target = upstreamOrigin(
    call.endpointPrefix ? { endpointPrefix: call.endpointPrefix, signingName: parsed.service } : parsed.service,
    call.region,
    override,
    { bucket: call.bucket },
  );
  flow.target = target;
  let rawPath = parsed.presigned ? withoutPresignParams(flow.rawPath) : flow.rawPath;
  if (call.service === 's3' && call.bucket !== undefined) {
    rawPath = s3UpstreamPath({ rawPath, bucket: call.bucket, clientPathStyle: call.pathStyle !== false, upstreamPathStyle: target.pathStyle !== false });
  }
  if (smallUnreadBody(flow) !== undefined) {
    flow.body = await readBodyLimited(flow.req, SMALL_BODY_BYTES, 'the request body', ctx.limits.bodyTimeoutMs, bodyReservation(ctx, flow));
  }
  // Only what the client signed goes on (vet refused the rest); user-agent is sent but never signed.
  const headers = { ...(flow.forwardHeaders ?? forwardHeadersOf(flow)) };
  if (call.service === 'sqs') queueUrlsToUpstream(flow, target.origin);
  // A buffered body is sent as it is now (an SQS queue URL may have been rewritten): its length, not the client's.
  if (flow.body !== undefined && headers['content-length'] !== undefined) headers['content-length'] = String(flow.body.length);
  const plan = prepareMaskedRequest({ method: flow.method, path: rawPath, headers, operation: call.operation });
  flow.maskPlan = plan;
  await sendUpstream(ctx, flow, plan.forward);
};
