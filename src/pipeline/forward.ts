// forward — re-signs the call with the service account's real credentials and sends it upstream, streaming the
// body (signed chunks re-signed one by one). Resolves the upstream before touching headers; the client's own
// Authorization and security token never leave the gateway.

import type { Readable } from 'node:stream';
import { createChunkResigner } from '../aws/chunked.js';
import { s3UpstreamPath, upstreamOrigin } from '../aws/endpoints.js';
import { filterForwardHeaders } from '../aws/headers.js';
import { signOutgoingRequest } from '../aws/sigv4.js';
import { GatewayError, isGatewayError } from '../errors.js';
import type { StageFactory } from './context.js';
import { guardUpload } from './limit.js';

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade']);

function firstHeader(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

export const forward: StageFactory = (ctx) => async (flow) => {
  const { req } = flow;
  const call = flow.call!;
  const session = flow.session!;
  const { parsed, verified, payloadHash } = flow.signature!;
  const override = ctx.upstreamEndpoint ?? ctx.policy.config.upstream.endpoint;
  const target = upstreamOrigin(
    call.endpointPrefix ? { endpointPrefix: call.endpointPrefix, signingName: parsed.service } : parsed.service,
    call.region,
    override,
    { bucket: call.bucket },
  );
  let rawPath = flow.rawPath;
  if (call.service === 's3' && call.bucket !== undefined) {
    rawPath = s3UpstreamPath({ rawPath, bucket: call.bucket, clientPathStyle: call.pathStyle !== false, upstreamPathStyle: target.pathStyle !== false });
  }
  const credentials = await ctx.upstreamCredentials.forRole(session.serviceAccount, session.roleArn);
  // User-Agent is sent but never signed (as the SDKs do): HTTP stacks rewrite it.
  const { 'user-agent': userAgent, ...forwarded } = filterForwardHeaders(req.headers);
  const signed = signOutgoingRequest({
    method: flow.method,
    url: new URL(target.origin),
    rawPath,
    headers: forwarded,
    region: target.signingRegion,
    service: parsed.service,
    credentials,
    payloadHash,
    now: ctx.now(),
  });
  signed.headers.host = target.host;
  signed.headers['user-agent'] = `${userAgent ? `${userAgent} ` : ''}portcullis/${ctx.version}`;
  let body: Buffer | Readable | undefined = flow.body ?? flow.spool?.buffer;
  if (body === undefined && flow.method !== 'GET' && flow.method !== 'HEAD') {
    // A spooled body (held for approval) is forwarded from the spool: the bytes the approver's grant is bound to.
    const source = flow.spool?.stream() ?? guardUpload(ctx, flow, req);
    body = payloadHash.startsWith('STREAMING-AWS4-HMAC-SHA256-PAYLOAD')
      ? source.pipe(
          createChunkResigner({
            incoming: verified,
            outgoing: signed.signing,
            trailer: payloadHash.endsWith('-TRAILER'),
            decodedContentLength: Number(firstHeader(req.headers['x-amz-decoded-content-length']) ?? NaN) || undefined,
          }),
        )
      : source;
  }
  if (Buffer.isBuffer(body) && body.length === 0) body = undefined;

  let upstream;
  try {
    upstream = await ctx.upstreamClient.send({
      origin: target.origin,
      path: rawPath,
      method: flow.method,
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
  const headers: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(upstream.headers)) {
    if (value === undefined || HOP_BY_HOP.has(name)) continue;
    headers[name] = value;
  }
  flow.upstream = { origin: target.origin, status: upstream.statusCode, headers, body: upstream.body };
};
