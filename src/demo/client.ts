// The demo's AWS client: a minimal SigV4 client built from the gateway's own signer, so the demo needs only
// runtime dependencies (the stock @aws-sdk/client-* packages are dev dependencies and stay out of a bastion
// install). It does what a stock SDK does in endpoint mode — AssumeRoleWithWebIdentity at the gateway, then
// every call signed with the gateway-issued credentials over TLS trusting the gateway CA — but it is not a
// stock client: that proof lives in the test suite (JS SDK v3, boto3 and the AWS CLI against the gateway).

import { createHash } from 'node:crypto';
import { Agent, request } from 'node:https';
import { XMLParser } from 'fast-xml-parser';
import { signOutgoingRequest, type AwsCredentials } from '../aws/sign.js';

export interface DemoResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  /** The AWS error code, when the call failed (`AccessDenied`, `ThrottlingException`…). */
  errorCode?: string;
  errorMessage?: string;
}

export interface DemoCall {
  service: 's3' | 'dynamodb' | 'secretsmanager' | 'sts';
  method: string;
  /** Path + query, already encoded. */
  path: string;
  headers?: Record<string, string>;
  body?: string;
}

export interface DemoTransport {
  /** `https://127.0.0.1:PORT` */
  url: string;
  agent: Agent;
  region: string;
  now?: () => Date;
  signal?: AbortSignal;
}

const xml = new XMLParser({ ignoreAttributes: true, parseTagValue: false });

function send(transport: DemoTransport, method: string, path: string, headers: Record<string, string>, body: string): Promise<DemoResponse> {
  const url = new URL(path, transport.url);
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { method, headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) }, agent: transport.agent, signal: transport.signal },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text, ...errorOf(res.statusCode ?? 0, res.headers, text) });
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** AWS errors come as JSON `__type` (JSON protocols) or XML `<Code>` (query, S3). */
function errorOf(status: number, headers: Record<string, string | string[] | undefined>, body: string): { errorCode?: string; errorMessage?: string } {
  if (status < 400) return {};
  try {
    const json = JSON.parse(body) as { __type?: string; message?: string; Message?: string };
    const type = json.__type ?? String(headers['x-amzn-errortype'] ?? '');
    return { errorCode: type.split('#').pop()?.split(':')[0], errorMessage: json.message ?? json.Message };
  } catch {
    return { errorCode: /<Code>([^<]+)<\/Code>/.exec(body)?.[1], errorMessage: /<Message>([^<]*)<\/Message>/.exec(body)?.[1] };
  }
}

/** The unsigned STS form POST every SDK's web-identity provider sends to AWS_ENDPOINT_URL. */
export async function assumeRoleWithWebIdentity(
  transport: DemoTransport,
  input: { roleArn: string; token: string; sessionName: string },
): Promise<AwsCredentials & { expiration: Date }> {
  const form = new URLSearchParams({
    Action: 'AssumeRoleWithWebIdentity',
    Version: '2011-06-15',
    RoleArn: input.roleArn,
    RoleSessionName: input.sessionName,
    WebIdentityToken: input.token,
  }).toString();
  const response = await send(transport, 'POST', '/', { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' }, form);
  if (response.status !== 200) throw new Error(`AssumeRoleWithWebIdentity: ${response.errorCode ?? response.status}: ${response.errorMessage ?? ''}`);
  const creds = (xml.parse(response.body) as Record<string, any>)?.AssumeRoleWithWebIdentityResponse?.AssumeRoleWithWebIdentityResult?.Credentials;
  if (!creds?.AccessKeyId) throw new Error('AssumeRoleWithWebIdentity: no credentials in the answer');
  return {
    accessKeyId: String(creds.AccessKeyId),
    secretAccessKey: String(creds.SecretAccessKey),
    sessionToken: String(creds.SessionToken),
    expiration: new Date(String(creds.Expiration)),
  };
}

/** One signed call through the gateway. */
export function signedCall(transport: DemoTransport, credentials: AwsCredentials, call: DemoCall): Promise<DemoResponse> {
  const body = call.body ?? '';
  const url = new URL(call.path, transport.url);
  const { headers } = signOutgoingRequest({
    method: call.method,
    url,
    rawPath: call.path,
    headers: { ...(call.headers ?? {}), 'user-agent': 'portcullis-demo-mcp/1' },
    region: transport.region,
    service: call.service,
    credentials,
    payloadHash: createHash('sha256').update(body).digest('hex'),
    now: transport.now?.() ?? new Date(),
  });
  return send(transport, call.method, call.path, headers, body);
}

/** A JSON-protocol call (DynamoDB: JSON 1.0, Secrets Manager: JSON 1.1). */
export function jsonCall(service: 'dynamodb' | 'secretsmanager', operation: string, input: Record<string, unknown>): DemoCall {
  const target = service === 'dynamodb' ? `DynamoDB_20120810.${operation}` : `secretsmanager.${operation}`;
  const version = service === 'dynamodb' ? '1.0' : '1.1';
  return {
    service,
    method: 'POST',
    path: '/',
    headers: { 'content-type': `application/x-amz-json-${version}`, 'x-amz-target': target },
    body: JSON.stringify(input),
  };
}
