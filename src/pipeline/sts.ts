// sts — answers AssumeRoleWithWebIdentity (the unsigned form POST every stock credential chain sends): verifies the
// identity token, maps it to a service account and role, and returns gateway-issued credentials. Every other request
// passes through untouched.

import { GatewayError, toAwsErrorResponse } from '../errors.js';
import { handleStsRequest, isStsWebIdentityRequest } from '../identity/sts.js';
import { readBodyLimited } from '../proxy/body.js';
import type { Flow } from '../flow.js';
import type { StageContext, StageFactory } from './context.js';
import { bodyReservation } from './limit.js';

const MAX_STS_BODY_BYTES = 64 * 1024;

export const sts: StageFactory = (ctx) => (flow) => {
  if (!isStsWebIdentityRequest(flow.method, flow.req.headers, flow.rawPath)) return;
  return answerSts(ctx, flow);
};

async function answerSts(ctx: StageContext, flow: Flow): Promise<void> {
  const body = await readBodyLimited(flow.req, MAX_STS_BODY_BYTES, 'the AssumeRoleWithWebIdentity form', ctx.limits.bodyTimeoutMs, bodyReservation(ctx, flow));
  const outcome = await handleStsRequest(new URLSearchParams(body.toString('utf8')), {
    verifier: ctx.verifier,
    keys: ctx.keys,
    now: ctx.now(),
    newSessionId: ctx.newSessionId,
    requestId: flow.requestId,
    sourceIp: flow.sourceIp,
    userAgent: flow.userAgent,
  });
  let response = outcome.response;
  if (outcome.ok) {
    const session = outcome.session;
    const refusal = ctx.revocations.identityTokenRefusal(session.serviceAccount, session.claims.iat);
    if (refusal !== undefined) {
      ctx.emit({ type: 'session.refused', reason: refusal, code: 'ACCESS_DENIED', sourceIp: flow.sourceIp, userAgent: flow.userAgent });
      response = toAwsErrorResponse(new GatewayError('ACCESS_DENIED', refusal), 'query', flow.requestId);
    } else {
      ctx.emit({
        type: 'session.started',
        sessionId: session.sessionId,
        serviceAccount: session.serviceAccount,
        issuer: session.issuer,
        subject: session.subject,
        claims: session.claims,
        roleArn: session.roleArn,
        sourceIp: flow.sourceIp,
        userAgent: flow.userAgent,
        expiresAt: session.expiresAt.toISOString(),
        policySha256: ctx.policy.sha256,
      });
    }
  } else {
    ctx.emit({ type: 'session.refused', reason: outcome.reason, code: outcome.code, sourceIp: flow.sourceIp, userAgent: flow.userAgent });
  }
  flow.response = { status: response.status, headers: { ...response.headers, 'content-length': Buffer.byteLength(response.body) }, body: Buffer.from(response.body) };
  flow.outcome = { kind: 'answered' };
}
