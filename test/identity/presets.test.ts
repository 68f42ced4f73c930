// Issuer presets end to end: a policy with `preset:` is loaded by the real loader, and tokens shaped exactly
// like each IdP's (issuer strings, claims, headers) are signed by local keys and served through a local
// JWKS (jwks_uri pointed at it) or a local discovery endpoint (an injected fetch sends the IdP's real
// discovery URL there). Each IdP's token is accepted, and its look-alikes are refused with a reason.
import type { JWTPayload } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatPolicyError, parsePolicy } from '../../src/config/load.js';
import type { PolicyConfig } from '../../src/config/types.js';
import { TokenVerifier, type IdentityResult } from '../../src/identity/jwt.js';
import { generateSigningKey, signToken, startJwksServer, type JwksServer, type TestSigningKey } from '../fixtures/idp.js';

const NOW = new Date('2026-11-20T10:00:00.000Z');
const IAT = Math.floor(NOW.getTime() / 1000) - 60;
const ROLE = 'arn:aws:iam::123456789012:role/reports';
const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const OTHER_TENANT = 'f8cdef31-a31e-4b4a-93e4-5f571e91255a';
const EKS = 'https://oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE';

let jwks: JwksServer;
let discovery: JwksServer;
let rs: TestSigningKey;
let es: TestSigningKey;

beforeAll(async () => {
  [rs, es] = await Promise.all([generateSigningKey('RS256', 'idp-rs'), generateSigningKey('ES256', 'idp-es')]);
  jwks = await startJwksServer({ keys: [rs.publicJwk, es.publicJwk] });
  discovery = await startJwksServer({ keys: [rs.publicJwk, es.publicJwk] });
  discovery.setAdvertisedIssuer(EKS);
});

afterAll(async () => {
  await Promise.all([jwks.close(), discovery.close()]);
});

function load(text: string): PolicyConfig {
  const result = parsePolicy(`version: 1\n${text}`, 'p.yaml');
  if (!result.ok) throw new Error(result.errors.map(formatPolicyError).join('\n'));
  return result.policy.config;
}

/** Sends the EKS discovery URL to the local discovery server; anything else outside loopback fails. */
const eksFetch: typeof fetch = (input, init) => {
  const url = String(input);
  if (url.startsWith(EKS)) return fetch(url.replace(EKS, discovery.issuer), init);
  if (url.startsWith('http://127.0.0.1:')) return fetch(url, init);
  return Promise.reject(new Error(`test fetch refuses ${url}`));
};

function verifierFor(config: PolicyConfig): TokenVerifier {
  return new TokenVerifier({ issuers: config.issuers, serviceAccounts: config.serviceAccounts, now: () => NOW, fetch: eksFetch });
}

function expectAccount(result: IdentityResult, name: string): void {
  if (!result.ok) throw new Error(`refused: ${result.reason}`);
  expect(result.account.name).toBe(name);
}

function expectRefused(result: IdentityResult, code: 'INVALID_IDENTITY_TOKEN' | 'ACCESS_DENIED', reason: string | RegExp): void {
  if (result.ok) throw new Error(`accepted as ${result.account.name}`);
  expect(result.code).toBe(code);
  if (typeof reason === 'string') expect(result.reason).toBe(reason);
  else expect(result.reason).toMatch(reason);
}

const roles = `roles: ["${ROLE}"]`;

describe('okta (custom authorization server, client credentials)', () => {
  let config: PolicyConfig;
  beforeAll(() => {
    config = load(`identity:
  issuers:
    - name: okta
      preset: okta
      org: [dev-123456.okta.com, login.acme.example]
      authorization_server: aus1a2b3c4d5e6f7g8h9
      audience: api://portcullis
      jwks_uri: ${jwks.jwksUri}
service_accounts:
  - name: reports-mcp
    issuer: okta
    subject: 0oa1b2c3d4e5f6g7h8i9
    match:
      StringEquals: {cid: 0oa1b2c3d4e5f6g7h8i9}
      ForAnyValue:StringEquals: {scp: reports.read}
    ${roles}
`);
  });
  const claims = (extra: JWTPayload = {}): JWTPayload => ({
    ver: 1,
    jti: 'AT.x',
    iss: 'https://dev-123456.okta.com/oauth2/aus1a2b3c4d5e6f7g8h9',
    aud: 'api://portcullis',
    iat: IAT,
    exp: IAT + 3600,
    cid: '0oa1b2c3d4e5f6g7h8i9',
    scp: ['reports.read'],
    sub: '0oa1b2c3d4e5f6g7h8i9',
    ...extra,
  });
  // Okta access tokens carry no typ header.
  const sign = (c: JWTPayload) => signToken(rs, c, { typ: undefined });

  it('fills issuer, aliases, keys and algorithms from org and authorization_server', () => {
    expect(config.issuers[0]).toMatchObject({
      issuer: 'https://dev-123456.okta.com/oauth2/aus1a2b3c4d5e6f7g8h9',
      issuerAliases: ['https://dev-123456.okta.com/oauth2/aus1a2b3c4d5e6f7g8h9', 'https://login.acme.example/oauth2/aus1a2b3c4d5e6f7g8h9'],
      algorithms: ['RS256'],
      maxTokenLifetimeMs: 86_400_000,
    });
  });
  it('accepts a client-credentials token (no typ header)', async () => {
    expectAccount(await verifierFor(config).verify(await sign(claims()), ROLE), 'reports-mcp');
  });
  it('accepts the same server under its second host name', async () => {
    expectAccount(await verifierFor(config).verify(await sign(claims({ iss: 'https://login.acme.example/oauth2/aus1a2b3c4d5e6f7g8h9' }))), 'reports-mcp');
  });
  it('refuses an org authorization server token', async () => {
    expectRefused(await verifierFor(config).verify(await sign(claims({ iss: 'https://dev-123456.okta.com' }))), 'INVALID_IDENTITY_TOKEN', /^iss https:\/\/dev-123456\.okta\.com is Okta's org authorization server: its tokens are meant for Okta itself/);
  });
  it('refuses another authorization server of the same org', async () => {
    expectRefused(await verifierFor(config).verify(await sign(claims({ iss: 'https://dev-123456.okta.com/oauth2/default' }))), 'INVALID_IDENTITY_TOKEN', 'iss https://dev-123456.okta.com/oauth2/default is Okta authorization server default, not aus1a2b3c4d5e6f7g8h9 (issuer okta)');
  });
  it('refuses a token without the scope', async () => {
    expectRefused(await verifierFor(config).verify(await sign(claims({ scp: ['reports.write'] }))), 'ACCESS_DENIED', /closest reports-mcp: ForAnyValue:StringEquals scp: no value of \["reports.write"\] matches "reports.read"\)$/);
  });
  it('refuses ES256 (RS256 only)', async () => {
    expectRefused(await verifierFor(config).verify(await signToken(es, claims())), 'INVALID_IDENTITY_TOKEN', 'algorithm ES256 is not allowed for issuer okta (allowed: RS256)');
  });
});

describe('entra-id (app-only tokens)', () => {
  let config: PolicyConfig;
  const oid = '5b9f5c1e-0000-4000-8000-000000000001';
  const clientId = '6e74172b-be56-4843-9ff4-e66a39bb12e3';
  beforeAll(() => {
    config = load(`identity:
  issuers:
    - name: entra
      preset: entra-id
      tenant: ${TENANT}
      audience: [api://portcullis, ${clientId}]
      jwks_uri: ${jwks.jwksUri}
    - name: entra-v2
      preset: entra-id
      tenant: ${OTHER_TENANT}
      token_versions: [2]
      audience: ${clientId}
      jwks_uri: ${jwks.jwksUri}
service_accounts:
  - name: reports-app
    issuer: entra
    subject: ${oid}
    match:
      StringEquals: {idtyp: app}
      ForAnyValue:StringEquals: {roles: [Reports.Read, Reports.All]}
    ${roles}
  - name: other-tenant-app
    issuer: entra-v2
    subject: ${oid}
    ${roles}
`);
  });
  const v1 = (extra: JWTPayload = {}): JWTPayload => ({
    aud: 'api://portcullis',
    iss: `https://sts.windows.net/${TENANT}/`,
    iat: IAT,
    nbf: IAT,
    exp: IAT + 4499,
    aio: 'E2Zg',
    appid: clientId,
    appidacr: '1',
    idp: `https://sts.windows.net/${TENANT}/`,
    idtyp: 'app',
    oid,
    rh: '0.AR',
    roles: ['Reports.Read'],
    sub: oid,
    tid: TENANT,
    uti: 'x',
    ver: '1.0',
    ...extra,
  });
  const v2 = (extra: JWTPayload = {}): JWTPayload => {
    const { appid: _a, appidacr: _b, idp: _c, ...rest } = v1();
    return { ...rest, aud: clientId, iss: `https://login.microsoftonline.com/${TENANT}/v2.0`, azp: clientId, azpacr: '1', ver: '2.0', ...extra };
  };
  const sign = (c: JWTPayload, header: Record<string, unknown> = {}) => signToken(rs, c, { x5t: 'abc', ...header });

  it('accepts v1 and v2 issuer forms for the tenant', async () => {
    expect(config.issuers[0]!.issuerAliases).toEqual([`https://sts.windows.net/${TENANT}/`, `https://login.microsoftonline.com/${TENANT}/v2.0`]);
    expectAccount(await verifierFor(config).verify(await sign(v1()), ROLE), 'reports-app');
    expectAccount(await verifierFor(config).verify(await sign(v2())), 'reports-app');
  });
  it('accepts a v1 audience with a trailing slash on the App ID URI', async () => {
    expectAccount(await verifierFor(config).verify(await sign(v1({ aud: 'api://portcullis/' }))), 'reports-app');
  });
  it('refuses a token from another tenant', async () => {
    const other = '0d3d0a6c-1111-4222-8333-444455556666';
    expectRefused(await verifierFor(config).verify(await sign(v1({ iss: `https://sts.windows.net/${other}/`, tid: other }))), 'INVALID_IDENTITY_TOKEN', `token is from Entra tenant ${other}, not ${TENANT} (issuer entra)`);
  });
  it('refuses a tid that contradicts the issuer tenant', async () => {
    expectRefused(await verifierFor(config).verify(await sign(v1({ tid: OTHER_TENANT }))), 'INVALID_IDENTITY_TOKEN', `tid ${OTHER_TENANT} does not match ${TENANT} required by issuer entra`);
  });
  it('refuses a Graph-style token with a nonce header', async () => {
    expectRefused(await verifierFor(config).verify(await sign(v1({ aud: 'api://portcullis' }), { nonce: 'AQABAAAAAA' })), 'INVALID_IDENTITY_TOKEN', /^token has a nonce header: it is a token for a Microsoft API/);
  });
  it('refuses a v1 token where only v2 is accepted, naming the version', async () => {
    const token = await sign(v1({ iss: `https://sts.windows.net/${OTHER_TENANT}/`, tid: OTHER_TENANT, aud: clientId }));
    expectRefused(await verifierFor(config).verify(token), 'INVALID_IDENTITY_TOKEN', /^token is an Entra v1 token .* accepts token_versions \[2\]/);
  });
  it('refuses an app without the role, and a delegated (user) token', async () => {
    const { roles: _r, ...noRoles } = v1();
    expectRefused(await verifierFor(config).verify(await sign(noRoles)), 'ACCESS_DENIED', /closest reports-app: ForAnyValue:StringEquals roles: token has no roles claim\)$/);
    expectRefused(await verifierFor(config).verify(await sign(v1({ idtyp: 'user', scp: 'Reports.Read' }))), 'ACCESS_DENIED', /StringEquals idtyp: token has "user", expected "app"/);
  });
});

describe('google (service-account ID tokens)', () => {
  let config: PolicyConfig;
  beforeAll(() => {
    config = load(`identity:
  issuers:
    - name: google
      preset: google
      audience: https://portcullis.acme.example
      jwks_uri: ${jwks.jwksUri}
service_accounts:
  - name: reports-gsa
    issuer: google
    subject: "113452651939271683245"
    match:
      StringEquals: {email: reports@acme-prod.iam.gserviceaccount.com}
      Bool: {email_verified: true}
    ${roles}
`);
  });
  const claims = (extra: JWTPayload = {}): JWTPayload => ({
    aud: 'https://portcullis.acme.example',
    azp: '113452651939271683245',
    email: 'reports@acme-prod.iam.gserviceaccount.com',
    email_verified: true,
    exp: IAT + 3600,
    iat: IAT,
    iss: 'https://accounts.google.com',
    sub: '113452651939271683245',
    ...extra,
  });
  it('accepts both issuer spellings', async () => {
    expectAccount(await verifierFor(config).verify(await signToken(rs, claims())), 'reports-gsa');
    expectAccount(await verifierFor(config).verify(await signToken(rs, claims({ iss: 'accounts.google.com' }))), 'reports-gsa');
  });
  it('refuses another service account with the same audience', async () => {
    expectRefused(await verifierFor(config).verify(await signToken(rs, claims({ sub: '999', azp: '999', email: 'x@evil.iam.gserviceaccount.com' }))), 'ACCESS_DENIED', /^no service account matches issuer google subject 999/);
  });
  it('refuses a token living longer than an hour', async () => {
    expectRefused(await verifierFor(config).verify(await signToken(rs, claims({ exp: IAT + 7200 }))), 'INVALID_IDENTITY_TOKEN', 'token lifetime 2h (exp − iat) exceeds max_token_lifetime 1h of issuer google');
  });
  it('refuses to load an account that does not pin sub', () => {
    const result = parsePolicy(`version: 1
identity:
  issuers:
    - {name: google, preset: google, audience: x}
service_accounts:
  - name: any-gsa
    issuer: google
    match:
      StringLike: {email: "*@acme-prod.iam.gserviceaccount.com"}
    ${roles}
`, 'p.yaml');
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.errors.map(formatPolicyError)).toEqual([expect.stringMatching(/^p\.yaml:6:5: service_accounts\[0\]\.subject: issuer `google` \(preset google\) needs every account to pin `sub` exactly/)]);
  });
});

describe('github-actions', () => {
  let config: PolicyConfig;
  beforeAll(() => {
    config = load(`identity:
  issuers:
    - name: github
      preset: github-actions
      audience: sts.amazonaws.com
      jwks_uri: ${jwks.jwksUri}
    - name: github-ent
      preset: github-actions
      enterprise: acme-corp
      audience: sts.amazonaws.com
      jwks_uri: ${jwks.jwksUri}
service_accounts:
  - name: app-production
    issuer: github
    subject: "repo:acme/app:environment:production"
    match:
      StringEquals: {repository_id: "892345671"}
    ${roles}
  - name: app-main
    issuer: github
    match:
      StringEquals: {repository: acme/app, ref: refs/heads/main}
      StringLike: {job_workflow_ref: "acme/app/.github/workflows/*@refs/heads/main"}
      "Null": {environment: true}
    ${roles}
  - name: app-any-branch-a
    issuer: github
    match:
      StringEquals: {repository: acme/tools}
      StringLike: {ref: "refs/heads/*"}
    ${roles}
  - name: app-any-branch-b
    issuer: github
    match:
      StringEquals: {repository_owner: acme}
      StringLike: {ref: "refs/heads/release-*"}
    ${roles}
`);
  });
  // The shape of GitHub's documented example token: nbf ten minutes before iat, exp five minutes after.
  const claims = (extra: JWTPayload = {}): JWTPayload => ({
    jti: 'example-id',
    sub: 'repo:acme/app:environment:production',
    environment: 'production',
    aud: 'sts.amazonaws.com',
    ref: 'refs/heads/main',
    sha: 'example-sha',
    repository: 'acme/app',
    repository_owner: 'acme',
    repository_id: '892345671',
    actor_id: '12',
    repository_visibility: 'private',
    workflow: 'deploy',
    head_ref: '',
    base_ref: '',
    event_name: 'push',
    ref_type: 'branch',
    job_workflow_ref: 'acme/app/.github/workflows/deploy.yml@refs/heads/main',
    iss: 'https://token.actions.githubusercontent.com',
    nbf: IAT - 600,
    exp: IAT + 300,
    iat: IAT,
    run_id: '2042',
    ...extra,
  });
  const sign = (c: JWTPayload) => signToken(rs, c, { x5t: 'abc' });

  it("accepts this repository's production environment", async () => {
    expectAccount(await verifierFor(config).verify(await sign(claims()), ROLE), 'app-production');
  });
  it('accepts the main branch outside any environment', async () => {
    const { environment: _e, ...main } = claims({ sub: 'repo:acme/app:ref:refs/heads/main' });
    expectAccount(await verifierFor(config).verify(await sign(main)), 'app-main');
  });
  it('refuses another repository and another branch', async () => {
    const fork = await sign(claims({ sub: 'repo:acme/app-fork:environment:production', repository: 'acme/app-fork', repository_id: '1' }));
    expectRefused(await verifierFor(config).verify(fork), 'ACCESS_DENIED', /^no service account matches issuer github subject repo:acme\/app-fork:environment:production \(candidates: app-production, app-main, app-any-branch-a, app-any-branch-b; closest /);
    const { environment: _e, ...branch } = claims({ sub: 'repo:acme/app:ref:refs/heads/feature', ref: 'refs/heads/feature', job_workflow_ref: 'acme/app/.github/workflows/deploy.yml@refs/heads/feature' });
    expectRefused(await verifierFor(config).verify(await sign(branch)), 'ACCESS_DENIED', /closest app-main: StringEquals ref: token has "refs\/heads\/feature", expected "refs\/heads\/main" \(\+1 more\)\)$/);
  });
  it('refuses a token matching two accounts, naming both', async () => {
    const { environment: _e, ...tools } = claims({ sub: 'repo:acme/tools:ref:refs/heads/release-1', repository: 'acme/tools', ref: 'refs/heads/release-1' });
    expectRefused(await verifierFor(config).verify(await sign(tools)), 'ACCESS_DENIED', 'token matches more than one service account (app-any-branch-a, app-any-branch-b); make their subject or claims distinct');
  });
  it('routes enterprise tokens to the enterprise entry only', async () => {
    expect(config.issuers[1]!.issuer).toBe('https://token.actions.githubusercontent.com/acme-corp');
    expectRefused(await verifierFor(config).verify(await sign(claims({ iss: 'https://token.actions.githubusercontent.com/other-corp' }))), 'INVALID_IDENTITY_TOKEN', 'token is from GitHub enterprise other-corp, but issuer github trusts the public GitHub issuer');
  });
  it('refuses a token living longer than GitHub issues them', async () => {
    expectRefused(await verifierFor(config).verify(await sign(claims({ exp: IAT + 3600 }))), 'INVALID_IDENTITY_TOKEN', 'token lifetime 70m (exp − nbf) exceeds max_token_lifetime 20m of issuer github');
  });
});

describe('kubernetes (EKS projected service account tokens)', () => {
  let config: PolicyConfig;
  beforeAll(() => {
    // No jwks_uri: keys are discovered from the cluster issuer, served locally through the injected fetch.
    config = load(`identity:
  issuers:
    - name: eks-prod
      preset: kubernetes
      issuer: ${EKS}
      audience: sts.amazonaws.com
service_accounts:
  - name: reports-pod
    issuer: eks-prod
    subject: "system:serviceaccount:analytics:reports"
    match:
      StringEquals:
        /kubernetes.io/namespace: analytics
        /kubernetes.io/serviceaccount/name: reports
    ${roles}
  - name: batch-pods
    issuer: eks-prod
    match:
      StringEquals: {/kubernetes.io/namespace: batch}
      StringLike: {sub: "system:serviceaccount:batch:*"}
    ${roles}
`);
  });
  const claims = (ns: string, sa: string, extra: JWTPayload = {}): JWTPayload => ({
    aud: ['sts.amazonaws.com'],
    exp: IAT + 86_400,
    iat: IAT,
    iss: EKS,
    'kubernetes.io': { namespace: ns, pod: { name: `${sa}-7c9f`, uid: 'p-1' }, serviceaccount: { name: sa, uid: 's-1' } },
    nbf: IAT,
    sub: `system:serviceaccount:${ns}:${sa}`,
    ...extra,
  });
  it('accepts a 24 h token, keys found through discovery', async () => {
    expectAccount(await verifierFor(config).verify(await signToken(rs, claims('analytics', 'reports'), { typ: undefined }), ROLE), 'reports-pod');
    expectAccount(await verifierFor(config).verify(await signToken(es, claims('batch', 'nightly'))), 'batch-pods');
  });
  it('refuses the same service account name in another namespace', async () => {
    expectRefused(await verifierFor(config).verify(await signToken(rs, claims('default', 'reports'))), 'ACCESS_DENIED', /closest reports-pod: StringEquals sub: token has "system:serviceaccount:default:reports", expected "system:serviceaccount:analytics:reports" \(\+1 more\)\)$/);
  });
  it('refuses a token living longer than 24 h', async () => {
    expectRefused(await verifierFor(config).verify(await signToken(rs, claims('analytics', 'reports', { exp: IAT + 2 * 86_400 }))), 'INVALID_IDENTITY_TOKEN', 'token lifetime 2d (exp − iat) exceeds max_token_lifetime 1d of issuer eks-prod');
  });
  it('refuses a subject that is not a service account', async () => {
    expectRefused(await verifierFor(config).verify(await signToken(rs, claims('analytics', 'reports', { sub: 'system:node:ip-10-0-0-1' }))), 'INVALID_IDENTITY_TOKEN', 'subject system:node:ip-10-0-0-1 is not under system:serviceaccount: (issuer eks-prod)');
  });
});

describe('spiffe (JWT-SVID)', () => {
  let config: PolicyConfig;
  beforeAll(() => {
    config = load(`identity:
  issuers:
    - name: spire
      preset: spiffe
      trust_domain: acme.internal
      jwks_uri: ${jwks.jwksUri}
      audience: portcullis
service_accounts:
  - name: reports-workload
    issuer: spire
    subject: spiffe://acme.internal/ns/reports/sa/mcp
    ${roles}
`);
  });
  const svid = (extra: JWTPayload = {}): JWTPayload => ({ sub: 'spiffe://acme.internal/ns/reports/sa/mcp', aud: ['portcullis'], exp: IAT + 300, iat: IAT, ...extra });
  it('accepts an SVID without iss, and one with the discovery provider as iss', async () => {
    expectAccount(await verifierFor(config).verify(await signToken(es, svid(), { typ: 'JOSE' }), ROLE), 'reports-workload');
    expectAccount(await verifierFor(config).verify(await signToken(es, svid({ iss: 'https://oidc-discovery.acme.internal' }))), 'reports-workload');
  });
  it('refuses another trust domain, and RS256 (ES256 only by default)', async () => {
    expectRefused(await verifierFor(config).verify(await signToken(es, svid({ sub: 'spiffe://evil.internal/ns/reports/sa/mcp' }))), 'INVALID_IDENTITY_TOKEN', 'token has no iss claim, and its subject spiffe://evil.internal/ns/reports/sa/mcp is in no configured SPIFFE trust domain');
    expectRefused(await verifierFor(config).verify(await signToken(rs, svid())), 'INVALID_IDENTITY_TOKEN', 'algorithm RS256 is not allowed for issuer spire (allowed: ES256)');
  });
  it('refuses an SVID without aud', async () => {
    expectRefused(await verifierFor(config).verify(await signToken(es, svid({ aud: [] }))), 'INVALID_IDENTITY_TOKEN', 'token has no aud claim');
  });
});

describe('headers and lifetime hygiene (plain issuer)', () => {
  let config: PolicyConfig;
  beforeAll(() => {
    config = load(`identity:
  issuers:
    - name: corp
      issuer: [${jwks.issuer}, https://idp.acme.example]
      audience: [a, b]
      jwks_uri: ${jwks.jwksUri}
      algorithms: [ES256, PS256, RS256]
      max_token_lifetime: 2h
      clock_skew: 0s
service_accounts:
  - {name: svc, issuer: corp, subject: s, ${roles}}
`);
  });
  const claims = (extra: JWTPayload = {}): JWTPayload => ({ iss: jwks.issuer, sub: 's', aud: 'b', iat: IAT, exp: IAT + 3600, ...extra });

  for (const typ of [undefined, 'JWT', 'JOSE', 'at+jwt', 'application/at+jwt']) {
    it(`accepts typ ${String(typ)}`, async () => {
      expectAccount(await verifierFor(config).verify(await signToken(rs, claims(), { typ })), 'svc');
    });
  }
  it('refuses another typ (a gateway session token, an ID-JAG…)', async () => {
    expectRefused(await verifierFor(config).verify(await signToken(rs, claims(), { typ: 'portcullis-session+jws' })), 'INVALID_IDENTITY_TOKEN', 'token type portcullis-session+jws is not accepted for issuer corp (JWT, JOSE, at+jwt or none)');
  });
  it('accepts an alias iss and an audience list with one match', async () => {
    expectAccount(await verifierFor(config).verify(await signToken(es, claims({ iss: 'https://idp.acme.example', aud: ['x', 'a'] }))), 'svc');
  });
  it('refuses a lifetime over max_token_lifetime, and a token with neither iat nor nbf', async () => {
    expectRefused(await verifierFor(config).verify(await signToken(rs, claims({ exp: IAT + 3 * 3600 }))), 'INVALID_IDENTITY_TOKEN', 'token lifetime 3h (exp − iat) exceeds max_token_lifetime 2h of issuer corp');
    expectRefused(await verifierFor(config).verify(await signToken(rs, claims({ iat: undefined }))), 'INVALID_IDENTITY_TOKEN', 'token has neither iat nor nbf, so its lifetime cannot be checked against max_token_lifetime of issuer corp');
  });
  it('refuses a token issued in the future', async () => {
    expectRefused(await verifierFor(config).verify(await signToken(rs, claims({ iat: IAT + 3600, exp: IAT + 5000 }))), 'INVALID_IDENTITY_TOKEN', /^token is issued in the future/);
  });
  it('never fetches keys from x5u / jku headers, nor uses x5c', async () => {
    const attacker = await generateSigningKey('RS256', 'idp-rs');
    const token = await signToken(attacker, claims(), { jku: 'http://127.0.0.1:9/jwks', x5u: 'http://127.0.0.1:9/cert', x5c: ['MIIB'] });
    expectRefused(await verifierFor(config).verify(token), 'INVALID_IDENTITY_TOKEN', 'signature invalid for issuer corp');
  });
});
