// `portcullis token`, `token fetch` and the pieces of `credentials`: pure parts table-driven, the token
// refresher with injected timers, the client-credentials grant against a real OpenID provider, and
// the commands as processes (`node bin/portcullis.js …`, from the dist build).

import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CliError } from '../../src/cli/output.js';
import { parseStsAnswer } from '../../src/cli/credentials.js';
import { TokenVerifier } from '../../src/identity/jwt.js';
import { LOCAL_ISSUER } from '../../src/identity/local-token.js';
import { loadOrCreateGatewayKeys } from '../../src/identity/keys.js';
import {
  backoffDelayMs,
  discoverTokenEndpoint,
  fetchClientCredentialsToken,
  refreshDelayMs,
  TokenFetchError,
  TokenRefresher,
  type FetchedToken,
  type Timers,
} from '../../src/identity/token-fetch.js';
import { writeFileAtomic } from '../../src/lib/atomic-write.js';
import { DEFAULT_IDP_AUDIENCE, startIdp, type LocalIdp } from '../fixtures/idp.js';

const BIN = fileURLToPath(new URL('../../bin/portcullis.js', import.meta.url));

let root: string;
let idp: LocalIdp;
let policyFile: string;
let secretFile: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'pc-cred-'));
  idp = await startIdp();
  policyFile = join(root, 'policy.yaml');
  await writeFile(
    policyFile,
    `version: 1
identity:
  issuers:
    - name: corp
      issuer: ${idp.issuer}
      audience: ${DEFAULT_IDP_AUDIENCE}
service_accounts:
  - name: local-job
    issuer: local
    roles: ["arn:aws:iam::123456789012:role/local"]
  - name: idp-job
    issuer: corp
    subject: billing-job
    roles: ["arn:aws:iam::123456789012:role/idp"]
rules: []
`,
  );
  secretFile = join(root, 'secret');
  await writeFile(secretFile, 'billing-job-secret\n', { mode: 0o600 });
}, 30_000);

afterAll(async () => {
  await idp?.close();
  await rm(root, { recursive: true, force: true });
});

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

// cwd is the directory holding policy.yaml: `token fetch` reads the default `policy.yaml` from there (commander
// currently hands a `--policy` written after `fetch` to the parent `token` command; see the report).
function cli(args: string[], options: { signalAfterStderr?: RegExp; cwd?: string; stateDir?: string } = {}): Promise<Run> {
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: options.cwd ?? root,
    env: { ...process.env, PORTCULLIS_STATE_DIR: options.stateDir ?? '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
  child.stderr.on('data', (c: Buffer) => {
    stderr += c.toString('utf8');
    if (options.signalAfterStderr?.test(stderr)) {
      options.signalAfterStderr = undefined;
      child.kill('SIGTERM');
    }
  });
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr })));
}

function expectOneLineError(result: Run, code: 1 | 2, text: RegExp): void {
  expect(result.code).toBe(code);
  expect(result.stdout).toBe('');
  expect(result.stderr.split('\n').filter(Boolean)).toHaveLength(1);
  expect(result.stderr).toMatch(text);
}

describe('parseStsAnswer', () => {
  const ok = `<AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult><Credentials><AccessKeyId>ASIAX</AccessKeyId>
<SecretAccessKey>sek</SecretAccessKey><SessionToken>tok</SessionToken><Expiration>2030-01-01T00:00:00Z</Expiration></Credentials>
</AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>`;
  it('turns the gateway answer into credential_process JSON', () => {
    expect(parseStsAnswer(200, ok)).toEqual({ Version: 1, AccessKeyId: 'ASIAX', SecretAccessKey: 'sek', SessionToken: 'tok', Expiration: '2030-01-01T00:00:00Z' });
  });
  it.each([
    [400, '<ErrorResponse><Error><Type>Sender</Type><Code>InvalidIdentityToken</Code><Message>token expired at X</Message></Error></ErrorResponse>', /InvalidIdentityToken: token expired at X/],
    [403, '<ErrorResponse><Error><Code>AccessDenied</Code><Message>role not allowed</Message></Error></ErrorResponse>', /AccessDenied: role not allowed/],
    [200, '<AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult><Credentials><AccessKeyId>A</AccessKeyId></Credentials></AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>', /no Credentials.SecretAccessKey/],
    [502, 'Bad gateway', /HTTP 502/],
  ])('HTTP %i → one-line error', (status, body, message) => {
    expect(() => parseStsAnswer(status, body)).toThrow(CliError);
    expect(() => parseStsAnswer(status, body)).toThrow(message);
  });
});

describe('refresh and backoff schedule', () => {
  const token = (lifetimeMs: number): FetchedToken => ({ accessToken: 'x', expiresAt: new Date(lifetimeMs), lifetimeMs });
  it.each([
    [3_600_000, 2_880_000],
    [300_000, 240_000],
    [500, 1_000],
  ])('lifetime %i ms → refresh after %i ms', (lifetime, delay) => {
    expect(refreshDelayMs(token(lifetime))).toBe(delay);
  });
  it.each([
    [0, 1, 1_000],
    [1, 1, 2_000],
    [3, 1, 8_000],
    [10, 1, 60_000],
    [3, 0.5, 4_000],
    [2, 0, 100],
  ])('attempt %i, random %f → %i ms', (attempt, random, delay) => {
    expect(backoffDelayMs(attempt, () => random)).toBe(delay);
  });
});

/** Timers driven by the test: nothing runs until advance(). */
function fakeTimers(start = 0): Timers & { advance(ms: number): Promise<void>; pending(): number[] } {
  let now = start;
  let seq = 0;
  const queue = new Map<number, { at: number; fn: () => void }>();
  return {
    now: () => new Date(now),
    setTimeout: (fn, ms) => {
      seq += 1;
      queue.set(seq, { at: now + ms, fn });
      return seq;
    },
    clearTimeout: (handle) => void queue.delete(handle as number),
    pending: () => [...queue.values()].map((t) => t.at - now),
    async advance(ms) {
      now += ms;
      for (const [id, t] of [...queue]) {
        if (t.at <= now) {
          queue.delete(id);
          t.fn();
        }
      }
      // Let the refresher's promise chain settle.
      for (let i = 0; i < 20; i += 1) await Promise.resolve();
    },
  };
}

describe('TokenRefresher', () => {
  it('rewrites before each expiry, backs off with jitter on IdP errors, and stops', async () => {
    const timers = fakeTimers();
    const written: string[] = [];
    const logs: string[] = [];
    const script: (string | Error)[] = ['t1', 't2', new Error('IdP down'), new Error('IdP down'), 't3'];
    let n = 0;
    const refresher = new TokenRefresher({
      timers,
      random: () => 0.5,
      log: (line) => logs.push(line),
      write: async (t) => void written.push(t.accessToken),
      fetchToken: async (now) => {
        const next = script[n++];
        if (next instanceof Error) throw next;
        return { accessToken: next as string, expiresAt: new Date(now.getTime() + 100_000), lifetimeMs: 100_000 };
      },
    });
    await refresher.start();
    expect(written).toEqual(['t1']);
    expect(timers.pending()).toEqual([80_000]);
    await timers.advance(79_999);
    expect(written).toEqual(['t1']);
    await timers.advance(1);
    expect(written).toEqual(['t1', 't2']);
    expect(logs.at(-1)).toMatch(/^token refreshed; expires .*, next refresh in 80\.0s$/);
    await timers.advance(80_000);
    expect(logs.at(-1)).toBe('token refresh failed (attempt 1): IdP down; retrying in 500ms');
    expect(timers.pending()).toEqual([500]);
    await timers.advance(500);
    expect(logs.at(-1)).toBe('token refresh failed (attempt 2): IdP down; retrying in 1.0s');
    await timers.advance(1_000);
    expect(written).toEqual(['t1', 't2', 't3']);
    expect(logs).toHaveLength(4);
    refresher.stop();
    expect(timers.pending()).toEqual([]);
    await refresher.done;
  });

  it('a failing first fetch is thrown to the caller', async () => {
    const refresher = new TokenRefresher({
      timers: fakeTimers(),
      log: () => undefined,
      write: async () => undefined,
      fetchToken: async () => {
        throw new TokenFetchError('bad secret', false);
      },
    });
    await expect(refresher.start()).rejects.toThrow('bad secret');
  });
});

describe('client-credentials grant against a real OpenID provider', () => {
  it('discovers the token endpoint and fetches a JWT for the audience', async () => {
    expect(await discoverTokenEndpoint(idp.issuer)).toBe(idp.tokenEndpoint);
    const now = new Date();
    const token = await fetchClientCredentialsToken({ issuer: idp.issuer, clientId: 'billing-job', clientSecret: 'billing-job-secret', audience: DEFAULT_IDP_AUDIENCE }, now);
    const claims = decodeJwt(token.accessToken);
    expect(claims).toMatchObject({ iss: idp.issuer, sub: 'billing-job', aud: DEFAULT_IDP_AUDIENCE });
    expect(token.lifetimeMs).toBe(3_600_000);
  });

  it.each([
    ['a wrong secret', { clientSecret: 'nope' }, /refused client billing-job \(HTTP 401\): invalid_client/],
    ['an unknown client', { clientId: 'ghost' }, /refused client ghost/],
    ['an issuer whose discovery names another issuer', { issuer: 'http://127.0.0.1:1/' }, /unreachable|names issuer/],
  ])('%s → a clear error', async (_name, override, message) => {
    await expect(
      fetchClientCredentialsToken({ issuer: idp.issuer, clientId: 'billing-job', clientSecret: 'billing-job-secret', audience: DEFAULT_IDP_AUDIENCE, ...override }),
    ).rejects.toThrow(message);
  });

  it('an IdP answering 503 is retryable; discovery without token_endpoint is not', async () => {
    const down = (async () => new Response('{"error":"temporarily_unavailable"}', { status: 503 })) as typeof fetch;
    await expect(discoverTokenEndpoint('https://idp.example', down)).rejects.toMatchObject({ retryable: true });
    const bare = (async () => new Response(JSON.stringify({ issuer: 'https://idp.example' }), { status: 200 })) as typeof fetch;
    await expect(discoverTokenEndpoint('https://idp.example', bare)).rejects.toMatchObject({ retryable: false, message: expect.stringContaining('no usable token_endpoint') });
  });
});

describe('writeFileAtomic', () => {
  it('replaces the file whole, mode 0600, leaving no temp file', async () => {
    const dir = await mkdtemp(join(root, 'atomic-'));
    const file = join(dir, 'token.jwt');
    await writeFile(file, 'old', { mode: 0o644 });
    await writeFileAtomic(file, 'new-token\n');
    expect(await readFile(file, 'utf8')).toBe('new-token\n');
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect(await readdir(dir)).toEqual(['token.jwt']);
  });
});

describe('portcullis token (process)', () => {
  it('mints a local token the verifier accepts, signed with the state dir key', async () => {
    const stateDir = join(root, 'state-token');
    const result = await cli(['token', '--service-account', 'local-job', '--ttl', '10m', '--policy', policyFile, '--state-dir', stateDir]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const token = result.stdout.trim();
    const claims = decodeJwt(token);
    expect(claims).toMatchObject({ iss: LOCAL_ISSUER, sub: 'local-job' });
    expect((claims.exp as number) - (claims.iat as number)).toBe(600);
    const keys = await loadOrCreateGatewayKeys(stateDir);
    expect((await stat(join(stateDir, 'keys', 'signing-key.json'))).mode & 0o777).toBe(0o600);
    const verifier = new TokenVerifier({
      issuers: [],
      localKeys: keys,
      serviceAccounts: [{ name: 'local-job', issuer: 'local', subject: '', claims: {}, roles: ['arn:aws:iam::123456789012:role/local'], sessionTtlMs: 3_600_000 }],
    });
    expect(await verifier.verify(token)).toMatchObject({ ok: true, account: { name: 'local-job' } });
  });

  it.each([
    ['an account with another issuer', ['--service-account', 'idp-job'], 1, /"idp-job" uses issuer corp, not local.*portcullis token fetch --issuer corp/],
    ['an unknown account', ['--service-account', 'ghost'], 1, /no service account "ghost" .*known: local-job, idp-job/],
    ['no account', [], 2, /--service-account NAME is required/],
    ['a bad ttl', ['--service-account', 'local-job', '--ttl', 'soon'], 2, /--ttl: "soon" is not a duration/],
    ['a ttl over the maximum', ['--service-account', 'local-job', '--ttl', '30d'], 2, /longer than the 7d maximum/],
  ])('refuses %s with one line', async (_name, args, code, message) => {
    const result = await cli(['token', ...args, '--policy', policyFile, '--state-dir', join(root, 'state-refuse')]);
    expectOneLineError(result, code as 1 | 2, message);
  });
});

describe('the policy the bastion commands read without --policy', () => {
  /** A state dir as a running gateway leaves it (gateway.json naming a live pid and its policy file). */
  async function runningGatewayState(name: string): Promise<string> {
    const stateDir = join(root, name);
    await mkdir(stateDir, { recursive: true });
    const info = { url: 'https://127.0.0.1:1', pid: process.pid, caFile: join(stateDir, 'ca.pem'), policyFile, startedAt: '', version: 'test' };
    await writeFile(join(stateDir, 'gateway.json'), JSON.stringify(info));
    return stateDir;
  }

  it("token: the running gateway's policy, from anywhere", async () => {
    const stateDir = await runningGatewayState('state-running');
    const elsewhere = await mkdtemp(join(tmpdir(), 'pc-cred-cwd-'));
    try {
      const result = await cli(['token', '--service-account', 'local-job', '--state-dir', stateDir], { cwd: elsewhere });
      expect(result.stderr).toBe('');
      expect(decodeJwt(result.stdout.trim())).toMatchObject({ iss: LOCAL_ISSUER, sub: 'local-job' });
      // The same through $PORTCULLIS_STATE_DIR.
      const viaEnv = await cli(['token', '--service-account', 'local-job'], { cwd: elsewhere, stateDir });
      expect(viaEnv.code).toBe(0);
    } finally {
      await rm(elsewhere, { recursive: true, force: true });
    }
  });

  it('a gateway that is no longer running does not count', async () => {
    const stateDir = await runningGatewayState('state-dead');
    const info = JSON.parse(await readFile(join(stateDir, 'gateway.json'), 'utf8'));
    await writeFile(join(stateDir, 'gateway.json'), JSON.stringify({ ...info, pid: 2 ** 22 + 1 }));
    const elsewhere = await mkdtemp(join(tmpdir(), 'pc-cred-cwd-'));
    try {
      const result = await cli(['token', '--service-account', 'local-job', '--state-dir', stateDir], { cwd: elsewhere });
      expectOneLineError(result, 2, /--policy: no policy file given, no running gateway in \S+state-dead, and no policy\.yaml here; pass --policy FILE/);
    } finally {
      await rm(elsewhere, { recursive: true, force: true });
    }
  });

  it('token fetch: the running gateway\'s policy names the issuer', async () => {
    const stateDir = await runningGatewayState('state-running-fetch');
    const elsewhere = await mkdtemp(join(tmpdir(), 'pc-cred-cwd-'));
    try {
      const out = join(elsewhere, 't.jwt');
      const result = await cli(['token', 'fetch', '--issuer', 'corp', '--client-id', 'billing-job', '--client-secret-file', secretFile, '--out', out], { cwd: elsewhere, stateDir });
      expect(result.code).toBe(0);
      expect(decodeJwt((await readFile(out, 'utf8')).trim()).sub).toBe('billing-job');
    } finally {
      await rm(elsewhere, { recursive: true, force: true });
    }
  });
});

describe('portcullis token fetch (process)', () => {
  it('writes the IdP token atomically with mode 0600', async () => {
    const out = join(root, 'fetched.jwt');
    const result = await cli(['token', 'fetch', '--issuer', 'corp', '--client-id', 'billing-job', '--client-secret-file', secretFile, '--out', out]);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/token for billing-job from corp written to .*fetched\.jwt; expires /);
    expect(decodeJwt((await readFile(out, 'utf8')).trim())).toMatchObject({ iss: idp.issuer, sub: 'billing-job', aud: DEFAULT_IDP_AUDIENCE });
    expect((await stat(out)).mode & 0o777).toBe(0o600);
  });

  it('--refresh keeps running, and stops cleanly on SIGTERM leaving the token in place', async () => {
    const out = join(root, 'refreshed.jwt');
    const result = await cli(
      ['token', 'fetch', '--issuer', 'corp', '--client-id', 'billing-job', '--client-secret-file', secretFile, '--out', out, '--refresh'],
      { signalAfterStderr: /next refresh in 48m/ },
    );
    expect(result.code).toBe(0);
    expect(result.stderr).toMatch(/SIGTERM: stopping; .*refreshed\.jwt keeps the last token/);
    expect(decodeJwt((await readFile(out, 'utf8')).trim()).sub).toBe('billing-job');
  });

  it.each([
    ['a wrong secret', ['--issuer', 'corp', '--client-id', 'billing-job', '--client-secret-file', 'WRONG'], 1, /issuer corp: token endpoint .* refused client billing-job \(HTTP 401\): invalid_client/],
    ['a missing secret file', ['--issuer', 'corp', '--client-id', 'billing-job', '--client-secret-file', '/nonexistent/secret'], 1, /--client-secret-file: cannot read \/nonexistent\/secret: ENOENT/],
    ['an unknown issuer', ['--issuer', 'nope', '--client-id', 'x', '--client-secret-file', 'SECRET'], 1, /--issuer: no issuer "nope" .*known: corp/],
    ['issuer local', ['--issuer', 'local', '--client-id', 'x', '--client-secret-file', 'SECRET'], 2, /local tokens are minted by the gateway/],
  ])('refuses %s with one line', async (_name, args, code, message) => {
    const wrong = join(root, 'wrong-secret');
    await writeFile(wrong, 'not-the-secret\n');
    const resolved = args.map((a) => (a === 'WRONG' ? wrong : a === 'SECRET' ? secretFile : a));
    const result = await cli(['token', 'fetch', ...resolved, '--out', join(root, 'never.jwt')]);
    expectOneLineError(result, code as 1 | 2, message);
  });
});
