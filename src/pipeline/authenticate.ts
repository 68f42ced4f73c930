// authenticate — checks the client's SigV4 signature (header or presigned query) against the gateway session its
// credentials belong to, refuses revoked sessions, and reads the body when the payload hash or identification
// needs it (bounded).

import { hash } from 'node:crypto';
import { bodyNeededForIdentify, errorProtocolFor } from '../aws/identify.js';
import { parseSigV4, payloadHashFor, verifySigV4 } from '../aws/sigv4.js';
import { GatewayError } from '../errors.js';
import type { LoadedPolicy } from '../config/load.js';
import { readBodyLimited } from '../proxy/body.js';
import type { StageFactory } from './context.js';
import { bodyReservation } from './limit.js';

/** The membership list of a policy: service account → the roles it may use. */
export function membersOf(policy: LoadedPolicy): Map<string, Set<string>> {
  return new Map(policy.config.serviceAccounts.map((account) => [account.name, new Set(account.roles)]));
}

/** Credentials outlive policy edits: a session whose account or role the loaded policy no longer has is refused. */
export function membershipRefusal(members: ReadonlyMap<string, ReadonlySet<string>>, serviceAccount: string, roleArn: string): string | undefined {
  const roles = members.get(serviceAccount);
  if (roles === undefined) return `service account ${serviceAccount} is no longer in the policy`;
  if (!roles.has(roleArn)) return `role ${roleArn} is no longer allowed for ${serviceAccount} by the policy`;
  return undefined;
}

const HEX_SHA256 = /^[0-9a-fA-F]{64}$/;

/** `?AWSAccessKeyId=…&Signature=…&Expires=…`: a SigV2 presigned URL (botocore's and `aws s3 presign`'s default). */
const SIGV2_QUERY = /[?&]AWSAccessKeyId=[^&]*&?/;

export const authenticate: StageFactory = (ctx) => (flow) => {
  if (SIGV2_QUERY.test(flow.rawPath) && /[?&]Signature=/.test(flow.rawPath) && !/[?&]X-Amz-Signature=/i.test(flow.rawPath)) {
    throw new GatewayError(
      'MISSING_AUTH',
      "This is a SigV2 presigned URL, which the gateway cannot verify; presign with SigV4 (boto3: Config(signature_version='s3v4'); aws s3 presign after `aws configure set default.s3.signature_version s3v4`; the JS SDK's presigner always does)",
      { awsCode: 'InvalidRequest', status: 400 },
    );
  }
  // Repeated headers kept apart: SigV4 joins them with ',', Node's req.headers with ', '.
  const request = { method: flow.method, rawPath: flow.rawPath, headers: flow.req.headersDistinct };
  const parsed = parseSigV4(request);
  // The client's error shape from its signing service and headers (a CBOR client reads CBOR, SQS's query form XML);
  // refined once the call is identified.
  flow.errorProtocol = errorProtocolFor(parsed.service, flow.req.headers);
  const session = ctx.verifiedSessions.verify(parsed.accessKeyId, parsed.securityToken);
  const notMember = membershipRefusal(ctx.members, session.serviceAccount, session.roleArn);
  if (notMember !== undefined) throw new GatewayError('INVALID_CLIENT_TOKEN', `The security token included in the request is invalid: ${notMember}`);
  const revoked = ctx.revocations.reason({ sessionId: session.sessionId, serviceAccount: session.serviceAccount, issuedAtMs: session.issuedAt.getTime() });
  if (revoked !== undefined) throw new GatewayError('INVALID_CLIENT_TOKEN', `The security token included in the request is invalid: ${revoked}`);
  flow.session = session;

  const payload = payloadHashFor(parsed);
  const verify = (payloadHash: string): void => {
    const verified = verifySigV4(parsed, request, { secretAccessKey: session.secretAccessKey, payloadHash, now: ctx.now() });
    flow.signature = { parsed, verified, payloadHash };
  };
  if (payload.kind === 'compute' || bodyNeededForIdentify(parsed.service, flow.req.headers, undefined, { method: flow.method, rawPath: flow.rawPath })) {
    return readBodyLimited(flow.req, ctx.limits.maxBufferedBodyBytes, 'the request body', ctx.limits.bodyTimeoutMs, bodyReservation(ctx, flow)).then((body) => {
      flow.body = body;
      const computed = hash('sha256', body, 'hex');
      // A declared hash must be the body's: the call is decided on (and forwarded with) these bytes.
      const declared = payload.kind === 'compute' ? payload.declared : HEX_SHA256.test(payload.value) ? payload.value : undefined;
      if (declared !== undefined && declared.toLowerCase() !== computed) {
        throw new GatewayError('SIGNATURE_MISMATCH', 'The provided x-amz-content-sha256 header does not match what was computed.', { awsCode: 'XAmzContentSHA256Mismatch', status: 400 });
      }
      verify(payload.kind === 'compute' ? computed : payload.value);
    });
  }
  // No body to read (S3's declared hash): synchronous, no turn of the event loop.
  verify(payload.value);
};
