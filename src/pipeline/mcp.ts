// mcp — answers the gateway's own MCP endpoints (`/portcullis/mcp/…`, SigV4-signed for the pseudo-service
// `portcullis` by `portcullis mcp run` with the same gateway credentials the wrapped server's AWS calls use): tool
// decisions and tool-call reports (src/mcp/endpoints.ts). Like sts answers STS, it ends the call itself; every
// other request passes through untouched. The path alone is not enough: `/portcullis/mcp/decide` signed for S3
// is an object in a bucket named portcullis.

import { GatewayError } from '../errors.js';
import { handleMcpEndpoint } from '../mcp/endpoints.js';
import { MCP_PATH_PREFIX, PORTCULLIS_SERVICE } from '../mcp/protocol.js';
import type { Flow } from '../flow.js';
import type { StageContext, StageFactory } from './context.js';

export const mcp: StageFactory = (ctx) => (flow) => {
  if (flow.signature!.parsed.service !== PORTCULLIS_SERVICE) return;
  return answerMcp(ctx, flow);
};

async function answerMcp(ctx: StageContext, flow: Flow): Promise<void> {
  const q = flow.rawPath.indexOf('?');
  const path = q < 0 ? flow.rawPath : flow.rawPath.slice(0, q);
  if (!path.startsWith(MCP_PATH_PREFIX)) {
    throw new GatewayError('MALFORMED_REQUEST', `portcullis: requests signed for the service "${PORTCULLIS_SERVICE}" go to ${MCP_PATH_PREFIX}…, not ${path}`, { status: 404, awsCode: 'UnknownOperationException' });
  }
  const answer = await handleMcpEndpoint(ctx, flow.session!, flow.method, path, flow.body);
  const body = Buffer.from(JSON.stringify(answer));
  flow.response = { status: 200, headers: { 'content-type': 'application/json', 'content-length': body.length }, body };
  flow.outcome = { kind: 'answered' };
}
