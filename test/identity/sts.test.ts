import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { AssumeRoleWithWebIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { XMLParser } from 'fast-xml-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IssuerConfig, ServiceAccountConfig } from '../../src/identity/config.js';
import { verifyGatewayCredentials } from '../../src/identity/credentials.js';
import { TokenVerifier } from '../../src/identity/jwt.js';
import { mintLocalToken } from '../../src/identity/local-token.js';
import { loadOrCreateGatewayKeys, type GatewayKeys } from '../../src/identity/keys.js';
import { assumedRoleIdFor, handleStsRequest, isStsWebIdentityRequest, STS_XMLNS, type StsContext } from '../../src/identity/sts.js';
import { DEFAULT_IDP_AUDIENCE, generateSigningKey, signToken, startIdp, startJwksServer, type JwksServer, type LocalIdp, type TestSigningKey } from '../fixtures/idp.js';

const run = promisify(execFile);
const NOW = new Date('2026-11-20T10:00:00.000Z');
const NOW_S = NOW.getTime() / 1000;
const ROLE = 'arn:aws:iam::123456789012:role/billing';
const ADMIN_ROLE = 'arn:aws:iam::123456789012:role/admin';
const parser = new XMLParser({ ignoreAttributes: false, parseTagValue: false, htmlEntities: true });

let root: string;
let keys: GatewayKeys;
let jwks: JwksServer;
let rsKey: TestSigningKey;
let lab: IssuerConfig;
let accounts: ServiceAccountConfig[];

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'portcullis-sts-'));
  keys = await loadOrCreateGatewayKeys(join(root, 'state'));
  rsKey = await generateSigningKey('RS256', 'k1');
  jwks = await startJwksServer({ keys: [rsKey.publicJwk] });
  lab = { name: 'lab', issuer: jwks.issuer, audience: ['sts.portcullis'], jwksUri: jwks.jwksUri, algorithms: [], clockSkewMs: 0 };
  accounts = [
    { name: 'billing', issuer: 'lab', subject: 'svc-billing', claims: { repository: 'acme/billing' }, roles: [ROLE], sessionTtlMs: 3_600_000 },
    { name: 'bot', issuer: 'local', subject: '', claims: {}, roles: [ROLE], sessionTtlMs: 7_200_000 },
  ];
});
afterAll(async () => {
  await jwks.close();
  await rm(root, { recursive: true, force: true });
});

function context(overrides: Partial<StsContext> = {}): StsContext {
  let n = 0;
  return {
    verifier: new TokenVerifier({ issuers: [lab], serviceAccounts: accounts, localKeys: keys, now: () => NOW }),
    keys,
    now: NOW,
    newSessionId: () => `ses-test-${++n}`,
    requestId: 'req-1',
    ...overrides,
  };
}

async function labToken(extra: Record<string, unknown> = {}): Promise<string> {
  return signToken(rsKey, { iss: jwks.issuer, sub: 'svc-billing', aud: 'sts.portcullis', exp: NOW_S + 300, repository: 'acme/billing', secret_claim: 'x', ...extra });
}

function form(params: Record<string, string | undefined>): URLSearchParams {
  const base: Record<string, string | undefined> = { Action: 'AssumeRoleWithWebIdentity', Version: '2011-06-15', RoleArn: ROLE, RoleSessionName: 'nightly-run', ...params };
  const out = new URLSearchParams();
  for (const [k, v] of Object.entries(base)) if (v !== undefined) out.set(k, v);
  return out;
}

describe('handleStsRequest: success', () => {
  it('answers the AWS XML shape with every field, and credentials that verify', async () => {
    const outcome = await handleStsRequest(form({ WebIdentityToken: await labToken() }), context());
    expect(outcome.ok).toBe(true);
    if (!outcome.ok) return;
    expect(outcome.response.status).toBe(200);
    expect(outcome.response.headers['content-type']).toBe('text/xml');
    const doc = parser.parse(outcome.response.body);
    const root = doc.AssumeRoleWithWebIdentityResponse;
    expect(root['@_xmlns']).toBe(STS_XMLNS);
    const result = root.AssumeRoleWithWebIdentityResult;
    const creds = result.Credentials;
    expect(creds.AccessKeyId).toMatch(/^ASIA[A-Z2-7]{16}$/);
    expect(creds.SecretAccessKey).toMatch(/^[A-Za-z0-9+/]{40}$/);
    expect(creds.Expiration).toBe('2026-11-20T11:00:00Z');
    expect(result.SubjectFromWebIdentityToken).toBe('svc-billing');
    expect(result.AssumedRoleUser.Arn).toBe('arn:aws:sts::123456789012:assumed-role/billing/nightly-run');
    expect(result.AssumedRoleUser.AssumedRoleId).toBe(`${assumedRoleIdFor(ROLE)}:nightly-run`);
    expect(result.AssumedRoleUser.AssumedRoleId).toMatch(/^AROA[A-Z2-7]{17}:nightly-run$/);
    expect(result.Provider).toBe(jwks.issuer);
    expect(result.Audience).toBe('sts.portcullis');
    expect(root.ResponseMetadata.RequestId).toBe('req-1');

    const session = verifyGatewayCredentials(keys, { accessKeyId: creds.AccessKeyId, sessionToken: creds.SessionToken }, NOW);
    expect(session).toMatchObject({ sessionId: 'ses-test-1', serviceAccount: 'billing', roleArn: ROLE, secretAccessKey: creds.SecretAccessKey, issuer: jwks.issuer, subject: 'svc-billing' });

    expect(outcome.session).toMatchObject({
      sessionId: 'ses-test-1',
      serviceAccount: 'billing',
      roleArn: ROLE,
      roleSessionName: 'nightly-run',
      issuer: jwks.issuer,
      subject: 'svc-billing',
      expiresAt: new Date('2026-11-20T11:00:00Z'),
      accessKeyId: creds.AccessKeyId,
    });
    expect(outcome.session.claims).toEqual({ iss: jwks.issuer, sub: 'svc-billing', aud: 'sts.portcullis', exp: NOW_S + 300, repository: 'acme/billing' });
  });

  const durations: [string | undefined, number, string][] = [
    [undefined, 3_600_000, 'the account session_ttl when no duration is asked'],
    ['900', 900_000, 'the asked duration when shorter'],
    ['43200', 3_600_000, 'the account session_ttl when the asked duration is longer'],
  ];
  for (const [duration, ttlMs, name] of durations) {
    it(`expires after ${name}`, async () => {
      const outcome = await handleStsRequest(form({ WebIdentityToken: await labToken(), DurationSeconds: duration }), context());
      expect(outcome.ok && outcome.session.expiresAt.getTime()).toBe(NOW.getTime() + ttlMs);
    });
  }

  it('does not tie the session to the identity token expiry', async () => {
    const outcome = await handleStsRequest(form({ WebIdentityToken: await labToken({ exp: NOW_S + 60 }) }), context());
    expect(outcome.ok && outcome.session.expiresAt.getTime()).toBe(NOW.getTime() + 3_600_000);
  });

  it('accepts a gateway-minted local token', async () => {
    const token = mintLocalToken(keys, { serviceAccount: 'bot', ttlMs: 600_000, now: NOW });
    const outcome = await handleStsRequest(form({ WebIdentityToken: token }), context({ sourceIp: '127.0.0.1', userAgent: 'ua/1' }));
    expect(outcome.ok).toBe(true);
    if (!outcome.ok) return;
    expect(outcome.session).toMatchObject({ serviceAccount: 'bot', issuer: 'urn:portcullis:local', subject: 'bot', sourceIp: '127.0.0.1', userAgent: 'ua/1' });
    expect(outcome.session.expiresAt.getTime()).toBe(NOW.getTime() + 7_200_000);
    const result = parser.parse(outcome.response.body).AssumeRoleWithWebIdentityResponse.AssumeRoleWithWebIdentityResult;
    expect(result.Provider).toBe('urn:portcullis:local');
    expect(result.Audience).toBe('portcullis');
  });

  it('names a role with a path by its last segment, and keeps the partition', async () => {
    const pathRole = 'arn:aws-cn:iam::123456789012:role/team/jobs/billing';
    const ctx = context({ verifier: new TokenVerifier({ issuers: [lab], serviceAccounts: [{ ...accounts[0]!, roles: [pathRole] }], now: () => NOW }) });
    const outcome = await handleStsRequest(form({ WebIdentityToken: await labToken(), RoleArn: pathRole }), ctx);
    const arn = parser.parse(outcome.response.body).AssumeRoleWithWebIdentityResponse.AssumeRoleWithWebIdentityResult.AssumedRoleUser.Arn;
    expect(arn).toBe('arn:aws-cn:sts::123456789012:assumed-role/billing/nightly-run');
  });
});

describe('handleStsRequest: refusals', () => {
  function errorOf(body: string): { Type: string; Code: string; Message: string } {
    return parser.parse(body).ErrorResponse.Error;
  }

  it('answers 400 InvalidIdentityToken for a bad token, naming the reason', async () => {
    const outcome = await handleStsRequest(form({ WebIdentityToken: await labToken({ exp: NOW_S - 10 }) }), context());
    expect(outcome.ok).toBe(false);
    if (outcome.ok) return;
    expect(outcome.code).toBe('INVALID_IDENTITY_TOKEN');
    expect(outcome.reason).toMatch(/^token expired at /);
    expect(outcome.response.status).toBe(400);
    expect(errorOf(outcome.response.body)).toEqual({ Type: 'Sender', Code: 'InvalidIdentityToken', Message: outcome.reason });
    expect(parser.parse(outcome.response.body).ErrorResponse.RequestId).toBe('req-1');
  });

  it('answers 403 AccessDenied for a role the account may not assume', async () => {
    const outcome = await handleStsRequest(form({ WebIdentityToken: await labToken(), RoleArn: ADMIN_ROLE }), context());
    expect(outcome.ok).toBe(false);
    if (outcome.ok) return;
    expect(outcome.code).toBe('ACCESS_DENIED');
    expect(outcome.response.status).toBe(403);
    expect(errorOf(outcome.response.body)).toEqual({ Type: 'Sender', Code: 'AccessDenied', Message: `role ${ADMIN_ROLE} is not allowed for service account billing` });
  });

  it('mints nothing when refused', async () => {
    let minted = 0;
    await handleStsRequest(form({ WebIdentityToken: 'a.b.c' }), context({ newSessionId: () => `s${++minted}` }));
    expect(minted).toBe(0);
  });

  const invalid: [string, Record<string, string | undefined>, number, string, RegExp][] = [
    ['missing Action', { Action: undefined }, 400, 'MissingParameter', /Action is required/],
    ['another Action', { Action: 'AssumeRole' }, 400, 'InvalidAction', /Action AssumeRole is not supported/],
    ['missing Version', { Version: undefined }, 400, 'MissingParameter', /Version is required/],
    ['wrong Version', { Version: '2010-01-01' }, 400, 'ValidationError', /'Version'/],
    ['empty RoleArn', { RoleArn: '' }, 400, 'ValidationError', /'RoleArn'/],
    ['RoleArn not a role', { RoleArn: 'arn:aws:iam::123456789012:user/bob' }, 400, 'ValidationError', /'RoleArn'/],
    ['RoleArn with a short account', { RoleArn: 'arn:aws:iam::1234:role/x' }, 400, 'ValidationError', /'RoleArn'/],
    ['missing RoleSessionName', { RoleSessionName: undefined }, 400, 'MissingParameter', /RoleSessionName is required/],
    ['RoleSessionName too short', { RoleSessionName: 'a' }, 400, 'ValidationError', /'RoleSessionName'/],
    ['RoleSessionName with a space', { RoleSessionName: 'my session' }, 400, 'ValidationError', /'RoleSessionName'/],
    ['RoleSessionName too long', { RoleSessionName: 'a'.repeat(65) }, 400, 'ValidationError', /'RoleSessionName'/],
    ['missing WebIdentityToken', { WebIdentityToken: undefined }, 400, 'MissingParameter', /WebIdentityToken is required/],
    ['empty WebIdentityToken', { WebIdentityToken: '' }, 400, 'MissingParameter', /WebIdentityToken is required/],
    ['oversized WebIdentityToken', { WebIdentityToken: 'a'.repeat(20_001) }, 400, 'ValidationError', /'WebIdentityToken'/],
    ['DurationSeconds below 900', { DurationSeconds: '899' }, 400, 'ValidationError', /'DurationSeconds'.*900 and 43200/],
    ['DurationSeconds above 43200', { DurationSeconds: '43201' }, 400, 'ValidationError', /'DurationSeconds'/],
    ['DurationSeconds not an integer', { DurationSeconds: '1e3' }, 400, 'ValidationError', /'DurationSeconds'/],
    ['DurationSeconds empty', { DurationSeconds: '' }, 400, 'ValidationError', /'DurationSeconds'/],
  ];
  for (const [name, params, status, awsCode, message] of invalid) {
    it(`answers ${status} ${awsCode} for ${name}`, async () => {
      const outcome = await handleStsRequest(form({ WebIdentityToken: 'eyJ.eyJ.sig', ...params }), context());
      expect(outcome.ok).toBe(false);
      if (outcome.ok) return;
      expect(outcome.response.status).toBe(status);
      const error = errorOf(outcome.response.body);
      expect(error.Code).toBe(awsCode);
      expect(error.Message).toMatch(message);
      expect(outcome.reason).toBe(error.Message);
    });
  }
});

describe('handleStsRequest without RoleArn (portcullis credentials on a host without the policy)', () => {
  const errorOf = (body: string): { Type: string; Code: string; Message: string } => parser.parse(body).ErrorResponse.Error;
  it("an account with one role gets that role", async () => {
    const outcome = await handleStsRequest(form({ RoleArn: undefined, WebIdentityToken: await labToken() }), context());
    expect(outcome.ok).toBe(true);
    if (!outcome.ok) return;
    expect(outcome.session.roleArn).toBe(ROLE);
    const result = parser.parse(outcome.response.body).AssumeRoleWithWebIdentityResponse.AssumeRoleWithWebIdentityResult;
    expect(result.AssumedRoleUser.Arn).toBe('arn:aws:sts::123456789012:assumed-role/billing/nightly-run');
  });

  it('an account with several roles must name one: MissingParameter, nothing minted', async () => {
    let minted = 0;
    const twoRoles = accounts.map((a) => (a.name === 'billing' ? { ...a, roles: [ROLE, ADMIN_ROLE] } : a));
    const outcome = await handleStsRequest(
      form({ RoleArn: undefined, WebIdentityToken: await labToken() }),
      context({
        verifier: new TokenVerifier({ issuers: [lab], serviceAccounts: twoRoles, localKeys: keys, now: () => NOW }),
        newSessionId: () => `s${++minted}`,
      }),
    );
    expect(outcome.ok).toBe(false);
    if (outcome.ok) return;
    expect(outcome.response.status).toBe(400);
    expect(errorOf(outcome.response.body)).toMatchObject({ Code: 'MissingParameter', Message: expect.stringMatching(/RoleArn is required: service account billing has 2 roles/) });
    expect(minted).toBe(0);
  });

  it('a bad token is refused as with a RoleArn', async () => {
    const outcome = await handleStsRequest(form({ RoleArn: undefined, WebIdentityToken: 'eyJ.eyJ.sig' }), context());
    expect(outcome.ok).toBe(false);
    if (outcome.ok) return;
    expect(errorOf(outcome.response.body).Code).toBe('InvalidIdentityToken');
  });
});

describe('isStsWebIdentityRequest', () => {
  const form = { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' };
  const body = 'Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn=x';
  const cases: [string, string, Record<string, string>, string | Buffer | undefined, boolean][] = [
    ['unsigned form POST with the action', 'POST', form, body, true],
    ['as a Buffer', 'POST', form, Buffer.from(body), true],
    ['the action later in the body', 'POST', form, 'Version=2011-06-15&Action=AssumeRoleWithWebIdentity', true],
    ['no peek', 'POST', form, undefined, true],
    ['the path / instead of a body', 'POST', form, '/', true],
    ['another path', 'POST', form, '/bucket/key', false],
    ['a presigned URL', 'POST', form, '/?X-Amz-Signature=abc', false],
    ['GET', 'GET', form, body, false],
    ['signed (Authorization present)', 'POST', { ...form, authorization: 'AWS4-HMAC-SHA256 Credential=…' }, body, false],
    ['JSON content type', 'POST', { 'content-type': 'application/x-amz-json-1.0' }, body, false],
    ['no content type', 'POST', {}, body, false],
    ['another STS action', 'POST', form, 'Action=AssumeRole&Version=2011-06-15', false],
    ['an action with a suffix', 'POST', form, 'Action=AssumeRoleWithWebIdentityX', false],
  ];
  for (const [name, method, headers, peek, expected] of cases) {
    it(`${expected ? 'matches' : 'rejects'} ${name}`, () => {
      expect(isStsWebIdentityRequest(method, headers, peek)).toBe(expected);
    });
  }
});

describe('real AWS clients against the STS handler', () => {
  let server: Server;
  let endpoint: string;
  let idp: LocalIdp;

  beforeAll(async () => {
    idp = await startIdp({ clients: [{ clientId: 'billing-job', clientSecret: 's' }] });
    const corp: IssuerConfig = { name: 'corp', issuer: idp.issuer, audience: [DEFAULT_IDP_AUDIENCE], algorithms: [], clockSkewMs: 0 };
    const verifier = new TokenVerifier({
      issuers: [corp],
      serviceAccounts: [{ name: 'billing', issuer: 'corp', subject: 'billing-job', claims: {}, roles: [ROLE], sessionTtlMs: 3_600_000 }],
    });
    let n = 0;
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        if (!isStsWebIdentityRequest(req.method ?? '', req.headers, body)) {
          res.writeHead(418).end();
          return;
        }
        handleStsRequest(new URLSearchParams(body.toString('utf8')), {
          verifier,
          keys,
          now: new Date(),
          newSessionId: () => `ses-client-${++n}`,
          requestId: `req-${n}`,
        }).then(
          (outcome) => {
            res.writeHead(outcome.response.status, outcome.response.headers).end(outcome.response.body);
          },
          () => res.writeHead(500).end(),
        );
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await idp.close();
  });

  function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: root, AWS_CONFIG_FILE: join(root, 'none'), AWS_SHARED_CREDENTIALS_FILE: join(root, 'none') };
    return { ...env, ...extra };
  }

  it('botocore: the web-identity credential chain through AWS_ENDPOINT_URL gets credentials that verify', async () => {
    const tokenFile = join(root, 'token.jwt');
    await writeFile(tokenFile, await idp.token('billing-job'));
    const script = [
      'import boto3, json',
      'c = boto3.Session().get_credentials()',
      'f = c.get_frozen_credentials()',
      'print(json.dumps({"method": c.method, "ak": f.access_key, "sk": f.secret_key, "token": f.token}))',
    ].join('\n');
    const { stdout } = await run('python3', ['-c', script], {
      env: cleanEnv({
        AWS_ENDPOINT_URL: endpoint,
        AWS_WEB_IDENTITY_TOKEN_FILE: tokenFile,
        AWS_ROLE_ARN: ROLE,
        AWS_ROLE_SESSION_NAME: 'boto-session',
        AWS_DEFAULT_REGION: 'us-east-1',
      }),
    });
    const got = JSON.parse(stdout);
    expect(got.method).toBe('assume-role-with-web-identity');
    expect(got.ak).toMatch(/^ASIA/);
    const session = verifyGatewayCredentials(keys, { accessKeyId: got.ak, sessionToken: got.token }, new Date());
    expect(session.secretAccessKey).toBe(got.sk);
    expect(session.serviceAccount).toBe('billing');
  });

  it('botocore: a refused token surfaces as InvalidIdentityTokenException with our reason', async () => {
    const script = [
      'import boto3, sys',
      `sts = boto3.client("sts", endpoint_url="${endpoint}", region_name="us-east-1")`,
      'try:',
      `    sts.assume_role_with_web_identity(RoleArn="${ROLE}", RoleSessionName="s1", WebIdentityToken="eyJhbGciOiJub25lIn0.e30.")`,
      'except sts.exceptions.InvalidIdentityTokenException as e:',
      '    print("REFUSED", e.response["Error"]["Message"])',
    ].join('\n');
    const { stdout } = await run('python3', ['-c', script], { env: cleanEnv({}) });
    expect(stdout.trim()).toBe('REFUSED algorithm none is not allowed: tokens must be signed');
  });

  it('JS SDK v3: AssumeRoleWithWebIdentityCommand with an endpoint override', async () => {
    const client = new STSClient({ endpoint, region: 'us-east-1' });
    try {
      const out = await client.send(
        new AssumeRoleWithWebIdentityCommand({ RoleArn: ROLE, RoleSessionName: 'js-session', WebIdentityToken: await idp.token('billing-job'), DurationSeconds: 900 }),
      );
      expect(out.Credentials?.AccessKeyId).toMatch(/^ASIA/);
      expect(out.Credentials?.Expiration).toBeInstanceOf(Date);
      expect(out.AssumedRoleUser?.Arn).toBe('arn:aws:sts::123456789012:assumed-role/billing/js-session');
      expect(out.SubjectFromWebIdentityToken).toBe('billing-job');
      expect(out.Audience).toBe(DEFAULT_IDP_AUDIENCE);
      const session = verifyGatewayCredentials(keys, { accessKeyId: out.Credentials!.AccessKeyId!, sessionToken: out.Credentials!.SessionToken }, new Date());
      expect(session.secretAccessKey).toBe(out.Credentials?.SecretAccessKey);

      await expect(
        client.send(new AssumeRoleWithWebIdentityCommand({ RoleArn: ADMIN_ROLE, RoleSessionName: 'js-session', WebIdentityToken: await idp.token('billing-job') })),
      ).rejects.toMatchObject({ name: 'AccessDenied', message: `role ${ADMIN_ROLE} is not allowed for service account billing` });
    } finally {
      client.destroy();
    }
  });
});
