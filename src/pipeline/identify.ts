// identify — reads what the call is from the bytes that will be forwarded: service, operation, protocol, region,
// parameters and every resource it touches; and masks the parameters once for approvers and recordings.

import { identifyRequest } from '../aws/identify.js';
import type { StageFactory } from './context.js';

function accountIdFromRoleArn(roleArn: string): string | undefined {
  return /^arn:[^:]+:iam::(\d{12}):/.exec(roleArn)?.[1];
}

export const identify: StageFactory = (ctx) => (flow) => {
  const { parsed } = flow.signature!;
  const host = flow.req.headers.host ?? '';
  const call = identifyRequest({
    method: flow.method,
    host,
    rawPath: flow.rawPath,
    headers: flow.req.headers,
    signingService: parsed.service,
    region: parsed.region,
    body: flow.body,
    accountId: accountIdFromRoleArn(flow.session!.roleArn),
    gatewayHosts: ctx.gatewayHosts,
  });
  flow.call = call;
  flow.maskedParams = call.params === undefined ? undefined : ctx.masker.maskValue(call.params, { service: call.service }).value;
};
