// What the enforcement tests share: gateway credentials for the stack's service account, a stock JS SDK v3 client
// pointed at the gateway (in-process, trusting its CA), raw signed requests for what no SDK would send, and an
// "admin view" of moto — clients that talk to moto directly with the role's own credentials, to check the real
// effect upstream (the object still there, the item not deleted).

import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { Agent, request as httpsRequest } from 'node:https';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { XMLParser } from 'fast-xml-parser';
import { signOutgoingRequest } from '../../src/aws/sigv4.js';
import type { Stack } from './harness.js';

export interface Creds {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken: string;
}

const xml = new XMLParser({ ignoreAttributes: true, parseTagValue: false });

export interface RawResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function httpsCall(url: URL, ca: string, options: { method: string; headers: Record<string, string>; body?: string | Buffer }): Promise<RawResult> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { method: options.method, headers: options.headers, ca, agent: false, timeout: 30_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

export class EnforcementKit {
  readonly stack: Stack;
  readonly ca: string;
  creds!: Creds;

  private constructor(stack: Stack, ca: string) {
    this.stack = stack;
    this.ca = ca;
  }

  static async start(stack: Stack, clientId = 'billing-job'): Promise<EnforcementKit> {
    const kit = new EnforcementKit(stack, await readFile(stack.gateway.ca.caFile, 'utf8'));
    kit.creds = await kit.credentials(clientId);
    return kit;
  }

  /** Gateway credentials from AssumeRoleWithWebIdentity with a fresh IdP token. */
  async credentials(clientId = 'billing-job', roleArn = this.stack.roleArn): Promise<Creds> {
    const token = await this.stack.idp.token(clientId);
    const form = new URLSearchParams({ Action: 'AssumeRoleWithWebIdentity', Version: '2011-06-15', RoleArn: roleArn, RoleSessionName: 'kit', WebIdentityToken: token });
    const result = await httpsCall(new URL('/', this.stack.gateway.url), this.ca, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: form.toString(),
    });
    const doc = xml.parse(result.body);
    const c = doc?.AssumeRoleWithWebIdentityResponse?.AssumeRoleWithWebIdentityResult?.Credentials;
    if (result.status !== 200 || !c) throw new Error(`STS at the gateway answered ${result.status}: ${result.body.slice(0, 300)}`);
    return { accessKeyId: c.AccessKeyId, secretAccessKey: c.SecretAccessKey, sessionToken: c.SessionToken };
  }

  /** Stock JS SDK v3 client config through the gateway: one attempt, so a throttled call is seen, not retried. */
  viaGateway(): { endpoint: string; region: string; credentials: Creds; maxAttempts: number; requestHandler: NodeHttpHandler } {
    return {
      endpoint: this.stack.gateway.url,
      region: 'us-east-1',
      credentials: this.creds,
      maxAttempts: 1,
      requestHandler: new NodeHttpHandler({ httpsAgent: new Agent({ ca: this.ca }) }),
    };
  }

  s3(): S3Client {
    return new S3Client({ ...this.viaGateway(), forcePathStyle: true });
  }

  ddb(): DynamoDBClient {
    return new DynamoDBClient(this.viaGateway());
  }

  secrets(): SecretsManagerClient {
    return new SecretsManagerClient(this.viaGateway());
  }

  /**
   * A request signed with the gateway credentials by the gateway's own SigV4 signer, then sent with `unsigned`
   * headers added after signing: what an attacker with valid credentials can put on the wire.
   */
  async raw(request: {
    method: string;
    path: string;
    service: string;
    headers?: Record<string, string>;
    unsigned?: Record<string, string>;
    body?: string | Buffer;
    payloadHash?: string;
  }): Promise<RawResult> {
    const url = new URL(this.stack.gateway.url);
    const body = request.body ?? '';
    const signed = signOutgoingRequest({
      method: request.method,
      url,
      rawPath: request.path,
      headers: request.headers ?? {},
      region: 'us-east-1',
      service: request.service,
      credentials: this.creds,
      payloadHash: request.payloadHash ?? createHash('sha256').update(body).digest('hex'),
      now: new Date(),
    });
    return httpsCall(new URL(request.path, url), this.ca, { method: request.method, headers: { ...signed.headers, ...request.unsigned }, body: request.body });
  }

  /** Clients straight to moto, with the role's own credentials: the truth upstream. */
  async admin(): Promise<{ s3: S3Client; ddb: DynamoDBClient; secrets: SecretsManagerClient }> {
    const { moto, roleArn } = this.stack;
    const sts = new STSClient({ endpoint: moto.endpoint, region: 'us-east-1', credentials: { accessKeyId: moto.accessKeyId, secretAccessKey: moto.secretAccessKey } });
    const assumed = await sts.send(new AssumeRoleCommand({ RoleArn: roleArn, RoleSessionName: 'admin-view' }));
    const credentials = {
      accessKeyId: assumed.Credentials!.AccessKeyId!,
      secretAccessKey: assumed.Credentials!.SecretAccessKey!,
      sessionToken: assumed.Credentials!.SessionToken!,
    };
    const base = { endpoint: moto.endpoint, region: 'us-east-1', credentials };
    return { s3: new S3Client({ ...base, forcePathStyle: true }), ddb: new DynamoDBClient(base), secrets: new SecretsManagerClient(base) };
  }
}

/** The AWS error code of a failed SDK call (or `ok`). */
export async function outcome(call: Promise<unknown>): Promise<string> {
  try {
    await call;
    return 'ok';
  } catch (error) {
    const e = error as { name?: string; Code?: string; $metadata?: { httpStatusCode?: number } };
    return e.Code ?? e.name ?? 'error';
  }
}

export function xmlField(body: string, name: string): string | undefined {
  return new RegExp(`<${name}>([^<]*)</${name}>`).exec(body)?.[1];
}
