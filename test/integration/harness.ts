// A whole stack for end-to-end tests: moto_server (SigV4 + IAM enforced), a real OIDC provider
// (oidc-provider), and the gateway in-process on port 0 with its own state dir.

import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { EventBus, type GatewayEvent } from '../../src/events.js';
import { Gateway } from '../../src/gateway.js';
import { DEFAULT_IDP_AUDIENCE, startIdp, type LocalIdp } from '../fixtures/idp.js';
import { queryCall, startMoto, type Moto } from '../fixtures/moto.js';

export const run = promisify(execFile);

/** Runs the aws CLI; a failing command is a result (exit code and output), not an exception. */
export async function aws(env: Record<string, string>, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run('aws', args, { env, timeout: 180_000, maxBuffer: 64 * 1024 * 1024 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : 1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

export interface Stack {
  dir: string;
  stateDir: string;
  policyFile: string;
  gateway: Gateway;
  moto: Moto;
  idp: LocalIdp;
  events: GatewayEvent[];
  roleArn: string;
  /** Writes a fresh IdP token for the client to a file and returns the client environment. */
  clientEnv(options?: { clientId?: string; roleArn?: string }): Promise<Record<string, string>>;
  /** Seeds moto directly (outside the gateway) with the gateway user's full rights. */
  seed(service: string, params: Record<string, string>): Promise<Record<string, any>>;
  close(): Promise<void>;
}

export interface StackOptions {
  /** Policy rules and extra sections (YAML), appended after the generated identity part. */
  policyBody: string;
  clients?: { clientId: string; clientSecret: string }[];
  serviceAccounts?: string;
}

export function policyHeader(moto: Moto, idp: LocalIdp, roleArn: string, extraAccounts = ''): string {
  return `version: 1
upstream:
  endpoint: ${moto.endpoint}
  region: us-east-1
identity:
  issuers:
    - name: test-idp
      issuer: ${idp.issuer}
      audience: ${DEFAULT_IDP_AUDIENCE}
service_accounts:
  - name: reports-mcp
    issuer: test-idp
    subject: billing-job
    roles: ["${roleArn}"]
    session_ttl: 1h
${extraAccounts}`;
}

/** The environment a stock client needs, stripped of anything from the developer's machine. */
export function cleanEnv(extra: Record<string, string>, home: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (value === undefined || key.startsWith('AWS_')) continue;
    env[key] = value;
  }
  return {
    ...env,
    HOME: home,
    AWS_CONFIG_FILE: join(home, 'aws-config-none'),
    AWS_SHARED_CREDENTIALS_FILE: join(home, 'aws-credentials-none'),
    AWS_EC2_METADATA_DISABLED: 'true',
    ...extra,
  };
}

export async function startStack(options: StackOptions): Promise<Stack> {
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-e2e-'));
  const stateDir = join(dir, 'state');
  const moto = await startMoto();
  const idp = await startIdp({ clients: options.clients });
  const roleArn = moto.roleArn('portcullis-test');
  const policyFile = join(dir, 'policy.yaml');
  await writeFile(policyFile, `${policyHeader(moto, idp, roleArn, options.serviceAccounts)}${options.policyBody}`);
  const bus = new EventBus();
  const events: GatewayEvent[] = [];
  bus.subscribe((event) => events.push(event));
  const gateway = await Gateway.start({
    policyFile,
    stateDir,
    host: '127.0.0.1',
    port: 0,
    bus,
    version: 'test',
    baseCredentials: async () => ({ accessKeyId: moto.accessKeyId, secretAccessKey: moto.secretAccessKey }),
    drainMs: 2000,
  });
  let tokenCount = 0;
  return {
    dir,
    stateDir,
    policyFile,
    gateway,
    moto,
    idp,
    events,
    roleArn,
    async clientEnv(opts = {}) {
      tokenCount += 1;
      const tokenFile = join(dir, `token-${tokenCount}.jwt`);
      await writeFile(tokenFile, await idp.token(opts.clientId ?? 'billing-job'), { mode: 0o600 });
      const home = join(dir, `home-${tokenCount}`);
      return cleanEnv(
        {
          AWS_ENDPOINT_URL: gateway.url,
          AWS_CA_BUNDLE: gateway.ca.caFile,
          NODE_EXTRA_CA_CERTS: gateway.ca.caFile,
          AWS_ROLE_ARN: opts.roleArn ?? roleArn,
          AWS_ROLE_SESSION_NAME: 'e2e',
          AWS_WEB_IDENTITY_TOKEN_FILE: tokenFile,
          AWS_REGION: 'us-east-1',
          AWS_DEFAULT_REGION: 'us-east-1',
        },
        home,
      );
    },
    async seed(service, params) {
      await moto.openAuth(1);
      return queryCall(moto.endpoint, service, params, { accessKeyId: 'AKIASEEDSEEDSEEDSEED', secretAccessKey: 'x' });
    },
    async close() {
      await gateway.close();
      await Promise.all([moto.close(), idp.close()]);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * The environment of a stock client in forward-proxy mode: HTTPS_PROXY is the gateway, no endpoint
 * override, AWS_CA_BUNDLE is the gateway CA (botocore verifies both the proxy listener and the minted AWS
 * host certificates with it), and an AWS_CONFIG_FILE with `proxies_config.proxy_ca_bundle` (measured with
 * botocore 1.43.11: read by the session but not passed to clients, so harmless here, not load-bearing).
 */
export async function proxyClientEnv(stack: Stack, options: { clientId?: string; roleArn?: string } = {}): Promise<Record<string, string>> {
  const env = await stack.clientEnv(options);
  delete env.AWS_ENDPOINT_URL;
  for (const key of Object.keys(env)) if (/^(https?_proxy|no_proxy|all_proxy)$/i.test(key)) delete env[key];
  const home = env.HOME as string;
  const { mkdir } = await import('node:fs/promises');
  await mkdir(home, { recursive: true });
  const configFile = join(home, 'aws-proxy-config');
  await writeFile(configFile, `[default]\nregion = us-east-1\nproxies_config =\n    proxy_ca_bundle = ${stack.gateway.ca.caFile}\n`);
  return {
    ...env,
    AWS_CONFIG_FILE: configFile,
    HTTPS_PROXY: stack.gateway.url,
    https_proxy: stack.gateway.url,
    PORTCULLIS_TEST_PROXY: stack.gateway.url,
    PORTCULLIS_TEST_CA: stack.gateway.ca.caFile,
  };
}
