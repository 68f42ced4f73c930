// The gateway's STS endpoint: the unsigned `AssumeRoleWithWebIdentity` form POST that every stock
// SDK's web-identity credential provider sends to AWS_ENDPOINT_URL. Verifies the identity token,
// then answers with gateway-issued credentials in the exact XML shape botocore and JS v3 parse.
import { createHash } from 'node:crypto';
import type { JWTPayload } from 'jose';
import { GatewayError, toAwsErrorResponse, type ErrorResponse } from '../errors.js';
import { mintCredentials } from './credentials.js';
import type { GatewayKeys } from './keys.js';
import type { TokenVerifier } from './jwt.js';
import { LOCAL_ISSUER } from './local-token.js';

export const STS_VERSION = '2011-06-15';
export const STS_XMLNS = 'https://sts.amazonaws.com/doc/2011-06-15/';
export const MIN_DURATION_SECONDS = 900;
export const MAX_DURATION_SECONDS = 43_200;

export interface StsContext {
  verifier: TokenVerifier;
  keys: GatewayKeys;
  now: Date;
  newSessionId: () => string;
  requestId: string;
  sourceIp?: string;
  userAgent?: string;
}

export interface StsResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export interface OpenedSession {
  sessionId: string;
  serviceAccount: string;
  roleArn: string;
  roleSessionName: string;
  issuer: string;
  subject: string;
  /** Identifying, non-secret claims of the identity token, for the session header. */
  claims: Record<string, string | number | boolean | string[]>;
  expiresAt: Date;
  accessKeyId: string;
  sourceIp?: string;
  userAgent?: string;
}

export type StsOutcome =
  | { ok: true; response: StsResponse; session: OpenedSession }
  | { ok: false; response: ErrorResponse; code: GatewayError['code']; reason: string };

/** Claims copied into the session record (plus whatever a service account matches on). */
const RECORDED_CLAIMS = [
  'iss', 'sub', 'aud', 'azp', 'client_id', 'jti', 'iat', 'nbf', 'exp', 'scope', 'scp',
  // GitHub Actions / GitLab CI identify the job with these.
  'repository', 'repository_owner', 'ref', 'ref_type', 'sha', 'workflow', 'job_workflow_ref', 'environment',
  'run_id', 'actor', 'project_path', 'pipeline_id', 'namespace_path',
];

const ROLE_ARN = /^arn:(aws[a-z-]*):iam::(\d{12}):role\/((?:[\w+=,.@-]+\/)*)([\w+=,.@-]{1,64})$/;
const ROLE_SESSION_NAME = /^[\w+=,.@-]{2,64}$/;

/**
 * POST + form body + no Authorization: the shape of an unsigned web-identity STS call.
 * `peek` is either the first bytes of the body (then it must say `Action=AssumeRoleWithWebIdentity`)
 * or, when the body has not been read yet, the request path (then it must be `/`, as SDKs send it).
 */
export function isStsWebIdentityRequest(
  method: string,
  headers: Record<string, string | string[] | undefined>,
  peek?: string | Buffer,
): boolean {
  if (method.toUpperCase() !== 'POST') return false;
  const header = (name: string): string | undefined => {
    const value = headers[name];
    return Array.isArray(value) ? value[0] : value;
  };
  if (header('authorization') !== undefined) return false;
  const contentType = header('content-type')?.toLowerCase() ?? '';
  if (!contentType.startsWith('application/x-www-form-urlencoded')) return false;
  if (peek === undefined) return true;
  const text = typeof peek === 'string' ? peek : peek.toString('latin1');
  // Presigned (query-string) SigV4 requests carry their signature in the URL: not unsigned.
  if (text.startsWith('/')) return /^\/(?:\?|$)/.test(text) && !/[?&]X-Amz-Signature=/i.test(text);
  return /(?:^|&)Action=AssumeRoleWithWebIdentity(?:&|$)/.test(text);
}

function xml(text: string): string {
  return text.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);
}

function isoSeconds(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function base32Upper(bytes: Buffer, length: number): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of bytes) {
    value = ((value << 8) | byte) & 0xffff;
    bits += 8;
    while (bits >= 5 && out.length < length) {
      out += alphabet[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  return out;
}

/** Stable stand-in for IAM's unique role id (AROA…), derived from the role ARN. */
export function assumedRoleIdFor(roleArn: string): string {
  return 'AROA' + base32Upper(createHash('sha256').update(roleArn).digest(), 17);
}

function selectClaims(claims: JWTPayload, extra: string[]): OpenedSession['claims'] {
  const selected: OpenedSession['claims'] = {};
  for (const name of [...RECORDED_CLAIMS, ...extra]) {
    const value = claims[name];
    if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') selected[name] = value;
    else if (Array.isArray(value) && value.every((item) => typeof item === 'string')) selected[name] = value as string[];
  }
  return selected;
}

interface RoleParts {
  roleArn: string;
  partition: string;
  accountId: string;
  roleName: string;
}

interface StsParams {
  /**
   * Absent when the form names no RoleArn: the gateway's own extension for `portcullis credentials` on hosts that
   * have no policy file. The service account must then have exactly one role (stock SDKs always send RoleArn).
   */
  role?: RoleParts;
  roleSessionName: string;
  token: string;
  durationSeconds?: number;
}

function missing(name: string): GatewayError {
  return new GatewayError('MALFORMED_REQUEST', `1 validation error detected: ${name} is required`, { awsCode: 'MissingParameter' });
}

function invalidValue(name: string, constraint: string): GatewayError {
  return new GatewayError('MALFORMED_REQUEST', `1 validation error detected: Value at '${name}' failed to satisfy constraint: ${constraint}`, {
    awsCode: 'ValidationError',
  });
}

function parseParams(form: URLSearchParams): StsParams {
  const action = form.get('Action');
  if (action === null || action === '') throw missing('Action');
  if (action !== 'AssumeRoleWithWebIdentity') {
    throw new GatewayError('UNSUPPORTED', `Action ${action} is not supported by the gateway's STS endpoint (only AssumeRoleWithWebIdentity)`, {
      awsCode: 'InvalidAction',
    });
  }
  const version = form.get('Version');
  if (version === null || version === '') throw missing('Version');
  if (version !== STS_VERSION) throw invalidValue('Version', `Member must be ${STS_VERSION}`);

  const roleArn = form.get('RoleArn');
  const role = roleArn === null ? undefined : roleParts(roleArn);
  if (roleArn !== null && role === undefined) throw invalidValue('RoleArn', 'Member must be an IAM role ARN (arn:aws:iam::123456789012:role/NAME)');

  const roleSessionName = form.get('RoleSessionName');
  if (roleSessionName === null || roleSessionName === '') throw missing('RoleSessionName');
  if (!ROLE_SESSION_NAME.test(roleSessionName)) {
    throw invalidValue('RoleSessionName', 'Member must have length 2..64 and satisfy regular expression pattern: [\\w+=,.@-]*');
  }

  const token = form.get('WebIdentityToken');
  if (token === null || token === '') throw missing('WebIdentityToken');
  if (token.length < 4 || token.length > 20_000) throw invalidValue('WebIdentityToken', 'Member must have length between 4 and 20000');

  const duration = form.get('DurationSeconds');
  let durationSeconds: number | undefined;
  if (duration !== null) {
    durationSeconds = /^\d{1,9}$/.test(duration) ? Number(duration) : NaN;
    if (!(durationSeconds >= MIN_DURATION_SECONDS && durationSeconds <= MAX_DURATION_SECONDS)) {
      throw invalidValue('DurationSeconds', `Member must be an integer between ${MIN_DURATION_SECONDS} and ${MAX_DURATION_SECONDS}`);
    }
  }
  return {
    ...(role === undefined ? {} : { role }),
    roleSessionName,
    token,
    ...(durationSeconds === undefined ? {} : { durationSeconds }),
  };
}

function roleParts(roleArn: string): RoleParts | undefined {
  const m = roleArn.length <= 2048 ? ROLE_ARN.exec(roleArn) : null;
  if (m === null) return undefined;
  return { roleArn, partition: m[1] as string, accountId: m[2] as string, roleName: m[4] as string };
}

function refusal(error: GatewayError, requestId: string): StsOutcome {
  return { ok: false, response: toAwsErrorResponse(error, 'query', requestId), code: error.code, reason: error.message };
}

export async function handleStsRequest(form: URLSearchParams, ctx: StsContext): Promise<StsOutcome> {
  let params: StsParams;
  try {
    params = parseParams(form);
  } catch (error) {
    if (error instanceof GatewayError) return refusal(error, ctx.requestId);
    throw error;
  }

  const identity = await ctx.verifier.verify(params.token, params.role?.roleArn);
  if (!identity.ok) return refusal(new GatewayError(identity.code, identity.reason), ctx.requestId);

  const { account, claims } = identity;
  let role = params.role;
  if (role === undefined) {
    // No RoleArn: the account's only role (a validated policy holds valid role ARNs). Several: the caller must choose.
    const only = account.roles.length === 1 ? roleParts(account.roles[0] as string) : undefined;
    if (only === undefined) {
      const choices = account.roles.length === 0 ? 'none' : account.roles.join(', ');
      return refusal(
        new GatewayError('MALFORMED_REQUEST', `1 validation error detected: RoleArn is required: service account ${account.name} has ${account.roles.length} roles (${choices})`, {
          awsCode: 'MissingParameter',
        }),
        ctx.requestId,
      );
    }
    role = only;
  }
  // SPIFFE JWT-SVIDs may carry no `iss`: record the configured issuer then.
  const issuer =
    typeof claims.iss === 'string' ? claims.iss : identity.issuer === 'local' ? LOCAL_ISSUER : identity.issuer.issuer;
  const subject = String(claims.sub);
  // Token-independent: the session outlives the identity token if the account allows it, never
  // beyond the account's session_ttl nor the duration the client asked for.
  const ttlMs = Math.min(account.sessionTtlMs, (params.durationSeconds ?? Number.POSITIVE_INFINITY) * 1000);
  const sessionId = ctx.newSessionId();
  const credentials = mintCredentials(ctx.keys, {
    sessionId,
    serviceAccount: account.name,
    roleArn: role.roleArn,
    issuer,
    subject,
    expiresAt: new Date(ctx.now.getTime() + ttlMs),
    now: ctx.now,
  });

  const audiences = Array.isArray(claims.aud) ? claims.aud : claims.aud === undefined ? [] : [claims.aud];
  const configured = identity.issuer === 'local' ? audiences : identity.issuer.audience;
  const audience = audiences.find((aud) => configured.includes(aud)) ?? audiences[0] ?? '';
  const assumedRoleArn = `arn:${role.partition}:sts::${role.accountId}:assumed-role/${role.roleName}/${params.roleSessionName}`;
  const assumedRoleId = `${assumedRoleIdFor(role.roleArn)}:${params.roleSessionName}`;

  const body =
    `<AssumeRoleWithWebIdentityResponse xmlns="${STS_XMLNS}">\n` +
    `  <AssumeRoleWithWebIdentityResult>\n` +
    `    <Credentials>\n` +
    `      <AccessKeyId>${credentials.accessKeyId}</AccessKeyId>\n` +
    `      <SecretAccessKey>${xml(credentials.secretAccessKey)}</SecretAccessKey>\n` +
    `      <SessionToken>${xml(credentials.sessionToken)}</SessionToken>\n` +
    `      <Expiration>${isoSeconds(credentials.expiration)}</Expiration>\n` +
    `    </Credentials>\n` +
    `    <SubjectFromWebIdentityToken>${xml(subject)}</SubjectFromWebIdentityToken>\n` +
    `    <AssumedRoleUser>\n` +
    `      <AssumedRoleId>${xml(assumedRoleId)}</AssumedRoleId>\n` +
    `      <Arn>${xml(assumedRoleArn)}</Arn>\n` +
    `    </AssumedRoleUser>\n` +
    `    <Provider>${xml(issuer)}</Provider>\n` +
    `    <Audience>${xml(audience)}</Audience>\n` +
    `  </AssumeRoleWithWebIdentityResult>\n` +
    `  <ResponseMetadata>\n` +
    `    <RequestId>${xml(ctx.requestId)}</RequestId>\n` +
    `  </ResponseMetadata>\n` +
    `</AssumeRoleWithWebIdentityResponse>\n`;

  return {
    ok: true,
    response: {
      status: 200,
      headers: { 'content-type': 'text/xml', 'x-amzn-requestid': ctx.requestId },
      body,
    },
    session: {
      sessionId,
      serviceAccount: account.name,
      roleArn: role.roleArn,
      roleSessionName: params.roleSessionName,
      issuer,
      subject,
      claims: selectClaims(claims, [...Object.keys(account.claims), ...(account.match ?? []).map((condition) => condition.path[0]!).filter(Boolean)]),
      expiresAt: credentials.expiration,
      accessKeyId: credentials.accessKeyId,
      ...(ctx.sourceIp === undefined ? {} : { sourceIp: ctx.sourceIp }),
      ...(ctx.userAgent === undefined ? {} : { userAgent: ctx.userAgent }),
    },
  };
}
