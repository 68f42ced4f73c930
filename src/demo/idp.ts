// The demo's identity provider: a real OpenID provider (oidc-provider 9) in-process on 127.0.0.1:0,
// issuing client-credentials JWT access tokens (resource indicators → `aud`), as Okta or Entra would.
// Only for `portcullis demo`: in-memory storage, plain http on loopback, made-up client secrets.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair } from 'jose';

export interface DemoIdpClient {
  clientId: string;
  clientSecret: string;
}

export interface DemoIdp {
  issuer: string;
  jwksUri: string;
  tokenEndpoint: string;
  /** Builds the provider (once); settles when it answers, rejects if it could not be built. */
  load(): Promise<void>;
  /** A client-credentials access token (a JWT whose `sub` is the client id). */
  token(clientId: string): Promise<string>;
  close(): Promise<void>;
}

export interface DemoIdpOptions {
  clients: DemoIdpClient[];
  audience: string;
}

/**
 * oidc-provider prints notices meant for people deploying it (an unsupported Node version — it wants 22 —
 * and "development-only" adapters). In the demo they are noise, so its lines are dropped while it loads
 * and while the provider is built; anything else still goes through.
 */
async function quietly<T>(work: () => Promise<T>): Promise<T> {
  const original = { warn: console.warn, info: console.info };
  const filter =
    (write: (...args: unknown[]) => void) =>
    (...args: unknown[]) => {
      if (typeof args[0] === 'string' && args[0].includes('oidc-provider ')) return;
      write(...args);
    };
  console.warn = filter(original.warn);
  console.info = filter(original.info);
  try {
    return await work();
  } finally {
    console.warn = original.warn;
    console.info = original.info;
  }
}

type Stored = { payload: Record<string, unknown>; expiresAtMs?: number };

/**
 * Storage for the provider's short-lived artefacts (the demo issues only client-credentials tokens).
 * One store per IdP; giving the provider an adapter also avoids its "development-only adapter" path.
 */
function memoryAdapter(store: Map<string, Stored>) {
  return class MemoryAdapter {
    readonly #name: string;
    constructor(name: string) {
      this.#name = name;
    }
    #key(id: string): string {
      return `${this.#name}:${id}`;
    }
    async upsert(id: string, payload: Record<string, unknown>, expiresIn?: number): Promise<void> {
      store.set(this.#key(id), { payload, expiresAtMs: expiresIn ? Date.now() + expiresIn * 1000 : undefined });
    }
    async find(id: string): Promise<Record<string, unknown> | undefined> {
      const entry = store.get(this.#key(id));
      if (!entry) return undefined;
      if (entry.expiresAtMs !== undefined && entry.expiresAtMs < Date.now()) {
        store.delete(this.#key(id));
        return undefined;
      }
      return entry.payload;
    }
    async findByUserCode(): Promise<undefined> {
      return undefined;
    }
    async findByUid(): Promise<undefined> {
      return undefined;
    }
    async consume(id: string): Promise<void> {
      const entry = store.get(this.#key(id));
      if (entry) entry.payload.consumed = Math.floor(Date.now() / 1000);
    }
    async destroy(id: string): Promise<void> {
      store.delete(this.#key(id));
    }
    async revokeByGrantId(): Promise<void> {}
  };
}

export async function startDemoIdp(options: DemoIdpOptions): Promise<DemoIdp> {
  const secrets = new Map(options.clients.map((c) => [c.clientId, c.clientSecret]));
  // The issuer embeds the port: bind first, hand requests to the provider once it exists.
  let handler: ((req: IncomingMessage, res: ServerResponse) => void) | undefined;
  const server: Server = createServer((req, res) => {
    if (handler) handler(req, res);
    else {
      res.statusCode = 503;
      res.end();
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });

  // The provider is built on first need (importing oidc-provider and its dependencies is the slowest part of
  // the demo's start), so the gateway can start listening first. Until then the port answers 503; nothing asks
  // the IdP anything before a token exists, and token() waits for the provider.
  const build = async () => {
    // A fresh signing key per run (oidc-provider's built-in development key is the same everywhere).
    const { privateKey } = await generateKeyPair('RS256', { extractable: true });
    const signingJwk = { ...(await exportJWK(privateKey)), kid: `demo-${Date.now().toString(36)}`, alg: 'RS256', use: 'sig' };
    await quietly(async () => {
      const { default: Provider } = await import('oidc-provider');
      const provider = new Provider(issuer, {
        adapter: memoryAdapter(new Map()) as never,
        jwks: { keys: [signingJwk] },
        ttl: { ClientCredentials: 3600 },
        clients: options.clients.map((c) => ({
          client_id: c.clientId,
          client_secret: c.clientSecret,
          grant_types: ['client_credentials'],
          response_types: [],
          redirect_uris: [],
          token_endpoint_auth_method: 'client_secret_post',
        })),
        features: {
          clientCredentials: { enabled: true },
          devInteractions: { enabled: false },
          resourceIndicators: {
            enabled: true,
            defaultResource: () => options.audience,
            useGrantedResource: () => true,
            getResourceServerInfo: (_ctx: unknown, resourceIndicator: string) => ({
              audience: resourceIndicator,
              scope: 'aws',
              accessTokenTTL: 3600,
              accessTokenFormat: 'jwt',
              jwt: { sign: { alg: 'RS256' } },
            }),
          },
        },
        cookies: { keys: [signingJwk.kid] },
      });
      provider.on('server_error', () => undefined);
      handler = provider.callback() as (req: IncomingMessage, res: ServerResponse) => void;
    });
  };
  let loading: Promise<void> | undefined;
  const load = () => (loading ??= build());

  const tokenEndpoint = `${issuer}/token`;
  return {
    issuer,
    jwksUri: `${issuer}/jwks`,
    tokenEndpoint,
    load,
    async token(clientId) {
      await load();
      const secret = secrets.get(clientId);
      if (secret === undefined) throw new Error(`demo IdP: unknown client ${clientId}`);
      const response = await fetch(tokenEndpoint, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'client_credentials', client_id: clientId, client_secret: secret, resource: options.audience, scope: 'aws' }),
      });
      const json = (await response.json()) as { access_token?: string; error?: string; error_description?: string };
      if (!response.ok || typeof json.access_token !== 'string') {
        throw new Error(`demo IdP: token request for ${clientId} failed (${response.status} ${json.error ?? ''} ${json.error_description ?? ''})`);
      }
      return json.access_token;
    },
    close,
  };
}
