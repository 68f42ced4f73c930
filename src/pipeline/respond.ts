// respond — the one writer of answers: a forwarded (masked) response, a stage's own answer (STS), or any outcome
// or fault as an AWS-format error in the client's protocol. Emits the response event and marks an approved call
// as executed.

import { pipeline } from 'node:stream/promises';
import { GatewayError, toAwsErrorResponse } from '../errors.js';
import { callHeader, type Flow } from '../flow.js';
import type { StageContext, StageFactory } from './context.js';
import { requestBytes } from './wire.js';
import { firstHeader } from '../lib/headers.js';


function writeError(ctx: StageContext, flow: Flow, error: GatewayError): void {
  const { res } = flow;
  const response = toAwsErrorResponse(error, flow.errorProtocol, flow.requestId);
  if (flow.session && flow.call) {
    ctx.emit({
      type: 'response',
      ...callHeader(flow),
      status: error.status,
      errorCode: error.awsCode,
      bytes: 0,
      durationMs: Date.now() - flow.startedAtMs,
      bodyExcerpt: error.message,
      requestBytes: requestBytes(flow),
      contentType: firstHeader(response.headers['content-type']),
    });
  }
  if (res.headersSent) {
    res.destroy();
    return;
  }
  // The client may still be sending a body we will never read: close after answering.
  res.shouldKeepAlive = false;
  res.writeHead(response.status, { ...response.headers, 'content-length': Buffer.byteLength(response.body), connection: 'close' });
  res.end(flow.method === 'HEAD' ? undefined : response.body);
}

async function writeResponse(ctx: StageContext, flow: Flow): Promise<void> {
  const { res } = flow;
  const response = flow.response!;
  res.writeHead(response.status, response.headers);
  if (response.body) {
    res.end(flow.method === 'HEAD' ? undefined : response.body);
    flow.responseBytes = response.body.length;
  } else {
    let bytes = response.prefix?.length ?? 0;
    if (response.prefix) res.write(response.prefix);
    const stream = response.stream!;
    stream.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
    });
    try {
      await pipeline(stream, res);
    } catch {
      res.destroy();
    }
    flow.responseBytes = bytes;
  }
  if (flow.outcome?.kind === 'answered') return;
  ctx.emit({
    type: 'response',
    ...callHeader(flow),
    status: response.status,
    errorCode: firstHeader(response.headers['x-amzn-errortype'])?.split(':')[0] ?? response.errorCode,
    bytes: flow.responseBytes ?? 0,
    durationMs: Date.now() - flow.startedAtMs,
    masking: response.masking,
    bodyExcerpt: response.excerpt,
    requestBytes: requestBytes(flow),
    contentType: firstHeader(response.headers['content-type']),
  });
  if (flow.approval) ctx.approvals.executed(flow.approval.id, flow.requestId, flow.session!.sessionId);
}

export const respond: StageFactory = (ctx) => async (flow) => {
  const outcome = flow.outcome;
  if (outcome !== undefined && outcome.kind !== 'answered') {
    writeError(ctx, flow, outcome.error);
    return;
  }
  if (flow.response === undefined) {
    // A pipeline whose stages ended without an answer or an outcome: a fault, never a hung client.
    writeError(ctx, flow, new GatewayError('INTERNAL', `internal gateway error (request ${flow.requestId}): no stage answered`));
    return;
  }
  await writeResponse(ctx, flow);
};
