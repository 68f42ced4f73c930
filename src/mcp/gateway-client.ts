// The wrapper's side of the gateway: gateway credentials from AssumeRoleWithWebIdentity, renewed before they expire
// and lent to the wrapped server through a loopback container-credentials endpoint (so the server's AWS calls and
// the wrapper's reports share one gateway session), and SigV4-signed requests to the gateway's MCP endpoints.

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import { signOutgoing } from '../aws/sign.js';
import type { AwsCredentials } from '../aws/upstream.js';
import { DECIDE_PATH, PORTCULLIS_SERVICE, TOOL_CALLS_PATH, type DecideRequest, type DecideResponse, type ToolCallReport } from './protocol.js';
import type { ToolGateway } from './relay.js';

export interface GatewayCredentials extends AwsCredentials {
  sessionToken: string;
  expiration: Date;
}

export interface CredentialSourceOptions {
  /** One AssumeRoleWithWebIdentity at the gateway (a fresh identity token each time). */
  exchange: () => Promise<GatewayCredentials>;
  /** Renew when less than this is left (default 15 min: botocore refreshes from 15 min before expiry, and insists from 10). */
  renewBeforeMs?: number;
  nowMs?: () => number;
  log?: (line: string) => void;
}

/** The current gateway credentials, renewed (once, whoever asks first) when they come near their end. */
export class CredentialSource {
  readonly #o: CredentialSourceOptions;
  readonly #now: () => number;
  #current: GatewayCredentials | undefined;
  #renewing: Promise<GatewayCredentials> | undefined;

  constructor(options: CredentialSourceOptions) {
    this.#o = options;
    this.#now = options.nowMs ?? Date.now;
  }

  async get(): Promise<GatewayCredentials> {
    const current = this.#current;
    const renewBeforeMs = this.#o.renewBeforeMs ?? 15 * 60_000;
    if (current && current.expiration.getTime() - this.#now() > renewBeforeMs) return current;
    this.#renewing ??= this.#o.exchange().then(
      (fresh) => {
        this.#current = fresh;
        this.#renewing = undefined;
        if (current) this.#o.log?.(`gateway credentials renewed; they expire ${fresh.expiration.toISOString()}`);
        return fresh;
      },
      (error: unknown) => {
        this.#renewing = undefined;
        throw error;
      },
    );
    // A renewal that fails while the old credentials still work leaves them in use.
    if (current && current.expiration.getTime() > this.#now()) return this.#renewing.catch(() => current);
    return this.#renewing;
  }
}

/** The container-credentials endpoint the wrapped server's SDK reads (AWS_CONTAINER_CREDENTIALS_FULL_URI). */
export interface CredentialsEndpoint {
  /** Set in the server's environment. */
  env: { AWS_CONTAINER_CREDENTIALS_FULL_URI: string; AWS_CONTAINER_AUTHORIZATION_TOKEN: string };
  close(): Promise<void>;
}

/**
 * Loopback HTTP (the SDKs accept plain HTTP only to 127.0.0.0/8 and ::1), one random path and a bearer token: the
 * same user's other processes cannot read the port's answers without the token from the server's environment.
 */
export async function serveCredentials(source: CredentialSource, log: (line: string) => void = () => {}): Promise<CredentialsEndpoint> {
  const token = randomBytes(24).toString('base64url');
  const path = `/credentials/${randomBytes(8).toString('hex')}`;
  const expected = Buffer.from(token);
  const server: Server = createServer((req, res) => {
    const presented = Buffer.from(req.headers.authorization ?? '');
    if (req.url !== path || presented.length !== expected.length || !timingSafeEqual(presented, expected)) {
      res.writeHead(req.url === path ? 401 : 404, { 'content-type': 'application/json' }).end('{"message":"not here"}');
      return;
    }
    source.get().then(
      (c) => {
        res.writeHead(200, { 'content-type': 'application/json' }).end(
          JSON.stringify({ AccessKeyId: c.accessKeyId, SecretAccessKey: c.secretAccessKey, Token: c.sessionToken, Expiration: c.expiration.toISOString() }),
        );
      },
      (error: unknown) => {
        log(`the wrapped server asked for credentials and none could be had: ${(error as Error).message}`);
        res.writeHead(503, { 'content-type': 'application/json' }).end(JSON.stringify({ message: (error as Error).message }));
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  server.unref();
  const { port } = server.address() as AddressInfo;
  return {
    env: { AWS_CONTAINER_CREDENTIALS_FULL_URI: `http://127.0.0.1:${port}${path}`, AWS_CONTAINER_AUTHORIZATION_TOKEN: token },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

export interface SignedGatewayOptions {
  /** https://host:port */
  url: string;
  /** PEM of the gateway CA, when the gateway's certificate is not publicly trusted. */
  ca?: string;
  region: string;
  credentials: CredentialSource;
  timeoutMs?: number;
}

/** The gateway's MCP endpoints over HTTPS, signed with the gateway credentials. */
export function signedGateway(options: SignedGatewayOptions): ToolGateway {
  const post = async (path: string, payload: unknown, timeoutMs: number): Promise<unknown> => {
    const body = Buffer.from(JSON.stringify(payload));
    const url = new URL(path, options.url);
    const credentials = await options.credentials.get();
    const headers = signOutgoing({
      method: 'POST',
      url,
      headers: { 'content-type': 'application/json', 'content-length': String(body.length) },
      region: options.region,
      service: PORTCULLIS_SERVICE,
      credentials,
      payloadHash: createHash('sha256').update(body).digest('hex'),
      now: new Date(),
    });
    return new Promise((resolve, reject) => {
      const req = httpsRequest(url, { method: 'POST', headers, timeout: timeoutMs, ...(options.ca === undefined ? {} : { ca: options.ca }) }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: unknown;
          try {
            json = JSON.parse(text);
          } catch {
            return reject(new Error(`${path}: HTTP ${res.statusCode} with a body that is not JSON`));
          }
          if (res.statusCode !== 200) {
            const e = json as { message?: unknown; Message?: unknown; __type?: unknown };
            return reject(new Error(`${path}: HTTP ${res.statusCode} ${String(e.__type ?? '')}: ${String(e.message ?? e.Message ?? text)}`));
          }
          resolve(json);
        });
      });
      req.on('timeout', () => req.destroy(new Error(`no answer from the gateway within ${timeoutMs} ms`)));
      req.on('error', reject);
      req.end(body);
    });
  };
  const timeoutMs = options.timeoutMs ?? 30_000;
  return {
    // A decision may be held by the gateway for the rule's hold: give it time.
    decide: async (request: DecideRequest) => (await post(DECIDE_PATH, request, Math.max(timeoutMs, 120_000))) as DecideResponse,
    report: async (report: ToolCallReport) => {
      await post(TOOL_CALLS_PATH, report, timeoutMs);
    },
  };
}
