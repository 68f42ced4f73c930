// identify — reads what the call is from the bytes that will be forwarded: service, operation, protocol, region,
// parameters and every resource it touches; errors are shaped in the call's own protocol from here on; the
// parameters are masked once for approvers and recordings.

import { errorProtocolOf, identifyRequest, type IdentifyInput } from '../aws/identify.js';
import type { Flow } from '../flow.js';
import type { StageFactory } from './context.js';

export function accountIdFromRoleArn(roleArn: string): string | undefined {
  return /^arn:[^:]+:iam::(\d{12}):/.exec(roleArn)?.[1];
}

/** What identification reads; the vet stage reads the same input. */
export function identifyInput(flow: Flow, gatewayHosts: string[]): IdentifyInput {
  return {
    method: flow.method,
    host: flow.req.headers.host ?? '',
    rawPath: flow.rawPath,
    // Repeated headers kept apart, so a second copy of a dispatch header cannot hide.
    headers: flow.req.headersDistinct,
    signingService: flow.signature!.parsed.service,
    region: flow.signature!.parsed.region,
    body: flow.body,
    accountId: accountIdFromRoleArn(flow.session!.roleArn),
    gatewayHosts,
  };
}

export const identify: StageFactory = (ctx) => (flow) => {
  const call = identifyRequest(identifyInput(flow, ctx.gatewayHosts));
  flow.call = call;
  flow.errorProtocol = errorProtocolOf(call);
  flow.maskedParams = call.params === undefined ? undefined : ctx.masker.maskValue(call.params, { service: call.service }).value;
};
