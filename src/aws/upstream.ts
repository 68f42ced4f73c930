// The gateway's real credentials: a base identity from the standard AWS chain, then
// sts:AssumeRole into each service account's role (RoleSessionName and SourceIdentity name the
// service account, so CloudTrail attributes every call to the job). Cached until shortly before expiry.

import aws4 from 'aws4';
import { XMLParser } from 'fast-xml-parser';
import { GatewayError } from '../errors.js';

export interface AwsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  expiration?: Date;
}

export type CredentialProvider = () => Promise<AwsCredentials>;

/** The HTTP client AssumeRole goes through (the gateway's upstream client; aws/ does not import the transport). */
export interface HttpSender {
  send(request: {
    origin: string;
    method: string;
    path: string;
    headers: Record<string, string>;
    body?: Buffer;
    idleTimeoutMs: number;
  }): Promise<{ statusCode: number; body: AsyncIterable<unknown> }>;
}

export interface UpstreamCredentialsOptions {
  /** Where to send sts:AssumeRole: the override endpoint, or the regional STS endpoint. */
  stsOrigin: string;
  region: string;
  baseProvider?: CredentialProvider;
  /** Refresh this long before expiry. */
  refreshBeforeMs?: number;
  durationSeconds?: number;
  now?: () => Date;
  client: HttpSender;
}

/** The standard AWS chain (env, profiles/SSO, container, IMDSv2), loaded only when first needed. */
function defaultChain(): CredentialProvider {
  let provider: Promise<CredentialProvider> | undefined;
  return async () => {
    provider ??= import('@aws-sdk/credential-providers').then((m) => m.fromNodeProviderChain() as CredentialProvider);
    return (await provider)();
  };
}

type ResolvedOptions = Required<Omit<UpstreamCredentialsOptions, 'baseProvider' | 'client'>> & { baseProvider: CredentialProvider };

const xml = new XMLParser({ ignoreAttributes: true, parseTagValue: false });

/** STS RoleSessionName / SourceIdentity allow `[\w+=,.@-]`, 2-64 characters. */
export function stsSafeName(name: string): string {
  const cleaned = name.replace(/[^\w+=,.@-]/g, '-').slice(0, 64);
  return cleaned.length >= 2 ? cleaned : `${cleaned}--`.slice(0, 2);
}

export class UpstreamCredentials {
  readonly #options: ResolvedOptions;
  readonly #cache = new Map<string, Promise<AwsCredentials>>();
  readonly #client: HttpSender;

  constructor(options: UpstreamCredentialsOptions) {
    this.#client = options.client;
    this.#options = {
      stsOrigin: options.stsOrigin,
      region: options.region,
      refreshBeforeMs: options.refreshBeforeMs ?? 5 * 60_000,
      durationSeconds: options.durationSeconds ?? 3600,
      now: options.now ?? (() => new Date()),
      baseProvider: options.baseProvider ?? defaultChain(),
    };
  }

  get stsOrigin(): string {
    return this.#options.stsOrigin;
  }

  get region(): string {
    return this.#options.region;
  }

  /** Credentials for calls made on behalf of `serviceAccount` in `roleArn`. */
  async forRole(serviceAccount: string, roleArn: string): Promise<AwsCredentials> {
    const key = `${serviceAccount}\n${roleArn}`;
    const cached = this.#cache.get(key);
    if (cached) {
      const creds = await cached.catch(() => undefined);
      if (creds && (!creds.expiration || creds.expiration.getTime() - this.#options.now().getTime() > this.#options.refreshBeforeMs)) {
        return creds;
      }
    }
    const pending = this.#assumeRole(serviceAccount, roleArn);
    this.#cache.set(key, pending);
    pending.catch(() => this.#cache.delete(key));
    return pending;
  }

  async #baseCredentials(): Promise<AwsCredentials> {
    try {
      return await this.#options.baseProvider();
    } catch (error) {
      throw new GatewayError('UPSTREAM_UNAVAILABLE', `the gateway has no AWS credentials of its own: ${(error as Error).message}`, { cause: error });
    }
  }

  /** Signs an STS query call with the base credentials and sends it; the status and the parsed XML answer. */
  async #stsCall(params: Record<string, string>, timeoutMs = 15_000): Promise<{ status: number; doc: Record<string, any>; text: string; origin: string }> {
    const base = await this.#baseCredentials();
    const form = new URLSearchParams({ Version: '2011-06-15', ...params }).toString();
    const origin = new URL(this.#options.stsOrigin);
    const signed = aws4.sign(
      {
        host: origin.host,
        path: '/',
        method: 'POST',
        service: 'sts',
        region: this.#options.region,
        body: form,
        headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' },
      },
      { accessKeyId: base.accessKeyId, secretAccessKey: base.secretAccessKey, sessionToken: base.sessionToken },
    );
    try {
      const response = await this.#client.send({
        origin: origin.origin,
        method: 'POST',
        path: '/',
        headers: Object.fromEntries(Object.entries(signed.headers ?? {}).map(([name, value]) => [name, String(value)])),
        body: Buffer.from(form),
        idleTimeoutMs: timeoutMs,
      });
      const chunks: Buffer[] = [];
      for await (const chunk of response.body) chunks.push(chunk as Buffer);
      const text = Buffer.concat(chunks).toString('utf8');
      return { status: response.statusCode, doc: xml.parse(text) as Record<string, any>, text, origin: origin.origin };
    } catch (error) {
      throw new GatewayError('UPSTREAM_UNAVAILABLE', `sts:${params.Action} at ${origin.origin} failed: ${(error as Error).message}`, { cause: error });
    }
  }

  /**
   * Who the gateway is upstream (sts:GetCallerIdentity with its own credentials): checked at start so a gateway
   * without usable credentials says so at once, not at the first call.
   */
  async checkIdentity(timeoutMs = 3_000): Promise<{ ok: true; arn: string } | { ok: false; problem: string }> {
    const deadline = new Promise<{ ok: false; problem: string }>((resolve) => {
      setTimeout(() => resolve({ ok: false, problem: `no answer from ${this.#options.stsOrigin} within ${timeoutMs} ms` }), timeoutMs).unref();
    });
    const check = (async (): Promise<{ ok: true; arn: string } | { ok: false; problem: string }> => {
      try {
        const { status, doc, text } = await this.#stsCall({ Action: 'GetCallerIdentity' }, timeoutMs);
        const arn = doc?.GetCallerIdentityResponse?.GetCallerIdentityResult?.Arn;
        if (status === 200 && arn) return { ok: true, arn: String(arn) };
        const code = doc?.ErrorResponse?.Error?.Code ?? `HTTP ${status}`;
        const message = doc?.ErrorResponse?.Error?.Message ?? text.slice(0, 200);
        return { ok: false, problem: `sts:GetCallerIdentity with the gateway's own credentials failed: ${code}: ${message}` };
      } catch (error) {
        return { ok: false, problem: (error as Error).message };
      }
    })();
    return Promise.race([check, deadline]);
  }

  async #assumeRole(serviceAccount: string, roleArn: string): Promise<AwsCredentials> {
    const { status, doc, text, origin } = await this.#stsCall({
      Action: 'AssumeRole',
      RoleArn: roleArn,
      RoleSessionName: stsSafeName(`portcullis-${serviceAccount}`),
      SourceIdentity: stsSafeName(serviceAccount),
      DurationSeconds: String(this.#options.durationSeconds),
    });
    if (status !== 200) {
      const code = doc?.ErrorResponse?.Error?.Code ?? `HTTP ${status}`;
      const message = doc?.ErrorResponse?.Error?.Message ?? text.slice(0, 200);
      throw new GatewayError('ACCESS_DENIED', `the gateway could not assume ${roleArn} for ${serviceAccount}: ${code}: ${message}`);
    }
    const creds = doc?.AssumeRoleResponse?.AssumeRoleResult?.Credentials;
    if (!creds?.AccessKeyId || !creds?.SecretAccessKey) {
      throw new GatewayError('UPSTREAM_UNAVAILABLE', `sts:AssumeRole at ${origin} returned no credentials`);
    }
    return {
      accessKeyId: String(creds.AccessKeyId),
      secretAccessKey: String(creds.SecretAccessKey),
      sessionToken: creds.SessionToken ? String(creds.SessionToken) : undefined,
      expiration: creds.Expiration ? new Date(String(creds.Expiration)) : undefined,
    };
  }
}
