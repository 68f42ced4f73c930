// Issuer presets: the few parameters a team knows about its IdP (Okta org, Entra tenant, cluster issuer…)
// expanded into exact `iss` strings, key locations, algorithms, a lifetime cap and the refusal rules that
// IdP needs. Pure data in, data out: the validator calls expandPreset at load; the verifier only ever sees
// the expanded IssuerConfig, and asks unknownIssuerHint for a better message when a token looks like a
// near miss of a configured IdP (org-server Okta token, another Entra tenant, another GitHub enterprise).

import type { IssuerConfig, IssuerPreset, IssuerPresetName, IssuerRules } from './config.js';

export const PRESET_NAMES: readonly IssuerPresetName[] = ['okta', 'entra-id', 'google', 'github-actions', 'kubernetes', 'spiffe'];

/** Policy keys each preset reads besides the common ones (name, preset, audience, algorithms, clock_skew, max_token_lifetime, jwks_uri). */
export const PRESET_PARAMETERS: Record<IssuerPresetName, { required: readonly string[]; optional: readonly string[] }> = {
  okta: { required: ['org'], optional: ['authorization_server'] },
  'entra-id': { required: ['tenant'], optional: ['token_versions'] },
  google: { required: [], optional: [] },
  'github-actions': { required: [], optional: ['enterprise', 'host'] },
  kubernetes: { required: ['issuer'], optional: [] },
  spiffe: { required: ['trust_domain', 'jwks_uri'], optional: ['issuer'] },
};

/** Parameter values as the validator read them (types already checked, positions kept by the caller). */
export interface PresetParameters {
  org?: string[];
  authorizationServer?: string;
  tenant?: string;
  tokenVersions?: number[];
  enterprise?: string;
  host?: string;
  issuer?: string[];
  trustDomain?: string;
}

export interface PresetExpansion {
  issuer: string;
  issuerAliases: string[];
  jwksUri?: string;
  algorithms: string[];
  maxTokenLifetimeMs: number;
  /** Extra audience spellings the IdP is known to emit for the configured ones. */
  extraAudiences: string[];
  preset: IssuerPreset;
  rules: IssuerRules;
}

export type PresetResult = { ok: true; value: PresetExpansion } | { ok: false; problems: { key: string; message: string }[] };

const HOUR_MS = 3_600_000;
const GITHUB_ISSUER = 'https://token.actions.githubusercontent.com';
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const HOST = /^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*(?::\d{1,5})?$/;

export const ENTRA_NONCE_REASON =
  'token has a nonce header: it is a token for a Microsoft API (e.g. Graph), whose signature only Microsoft can check; request a token for your own application instead (scope api://…/.default)';

export function expandPreset(name: IssuerPresetName, params: PresetParameters): PresetResult {
  const problems: { key: string; message: string }[] = [];
  const fail = (key: string, message: string): void => void problems.push({ key, message });
  let value: PresetExpansion | undefined;

  switch (name) {
    case 'okta': {
      const orgs = params.org ?? [];
      for (const org of orgs) {
        if (/^https?:\/\//i.test(org)) fail('org', `"${org}": give the host name only (e.g. dev-123456.okta.com), not a URL`);
        else if (!HOST.test(org)) fail('org', `"${org}" is not a host name (e.g. dev-123456.okta.com or login.example.com)`);
      }
      const server = params.authorizationServer ?? 'default';
      if (!/^[A-Za-z0-9]+$/.test(server)) fail('authorization_server', `"${server}" is not an authorization server id (e.g. default or aus1a2b3c4d5e6f7g8h9)`);
      if (problems.length > 0) break;
      const aliases = orgs.map((org) => `https://${org.toLowerCase()}/oauth2/${server}`);
      value = {
        issuer: aliases[0]!,
        issuerAliases: aliases,
        jwksUri: `${aliases[0]!}/v1/keys`,
        algorithms: ['RS256'],
        maxTokenLifetimeMs: 24 * HOUR_MS,
        extraAudiences: [],
        preset: { name: 'okta', orgs: orgs.map((o) => o.toLowerCase()), authorizationServer: server },
        rules: {},
      };
      break;
    }
    case 'entra-id': {
      const tenant = params.tenant ?? '';
      if (['common', 'organizations', 'consumers'].includes(tenant.toLowerCase())) {
        fail('tenant', `"${tenant}" is not one tenant: tokens carry their own tenant id in iss and tid, so trust each tenant with its own issuer entry`);
      } else if (!GUID.test(tenant)) {
        fail('tenant', `"${tenant}" is not a tenant id: use the directory (tenant) id GUID, which tokens carry in iss and tid (a domain name never appears there)`);
      }
      const versions = params.tokenVersions ?? [1, 2];
      if (versions.length === 0) fail('token_versions', 'must not be empty (1, 2 or both)');
      for (const v of versions) if (v !== 1 && v !== 2) fail('token_versions', `${v} is not an Entra access token version (1 or 2)`);
      if (problems.length > 0) break;
      const tid = tenant.toLowerCase();
      const unique = [...new Set(versions)] as (1 | 2)[];
      const aliases = unique.map((v) => entraIssuer(tid, v));
      value = {
        issuer: aliases[0]!,
        issuerAliases: aliases,
        jwksUri: `https://login.microsoftonline.com/${tid}/discovery/v2.0/keys`,
        algorithms: ['RS256'],
        maxTokenLifetimeMs: 24 * HOUR_MS,
        extraAudiences: [],
        preset: { name: 'entra-id', tenant: tid, tokenVersions: unique },
        rules: { requiredClaims: { tid }, refusedHeaders: [{ name: 'nonce', reason: ENTRA_NONCE_REASON }] },
      };
      break;
    }
    case 'google':
      value = {
        issuer: 'https://accounts.google.com',
        // Google's own libraries accept both spellings, and Google has issued both.
        issuerAliases: ['https://accounts.google.com', 'accounts.google.com'],
        jwksUri: 'https://www.googleapis.com/oauth2/v3/certs',
        algorithms: ['RS256'],
        maxTokenLifetimeMs: HOUR_MS,
        extraAudiences: [],
        preset: { name: 'google' },
        rules: { requirePinnedSubject: true },
      };
      break;
    case 'github-actions': {
      if (params.enterprise !== undefined && params.host !== undefined) {
        fail('host', '`enterprise` (GitHub Enterprise Cloud) and `host` (GitHub Enterprise Server) exclude each other');
      }
      if (params.enterprise !== undefined && !/^[A-Za-z0-9][A-Za-z0-9-]*$/.test(params.enterprise)) {
        fail('enterprise', `"${params.enterprise}" is not an enterprise slug (letters, digits, -)`);
      }
      if (params.host !== undefined && !HOST.test(params.host)) fail('host', `"${params.host}" is not a host name (e.g. github.example.com)`);
      if (problems.length > 0) break;
      const issuer =
        params.host !== undefined
          ? `https://${params.host.toLowerCase()}/_services/token`
          : params.enterprise !== undefined
            ? `${GITHUB_ISSUER}/${params.enterprise}`
            : GITHUB_ISSUER;
      const preset: IssuerPreset = { name: 'github-actions' };
      if (params.enterprise !== undefined) preset.enterprise = params.enterprise;
      if (params.host !== undefined) preset.host = params.host.toLowerCase();
      value = {
        issuer,
        issuerAliases: [issuer],
        jwksUri: `${issuer}/.well-known/jwks`,
        algorithms: ['RS256'],
        // Tokens live about five minutes after iat, with nbf set some minutes before iat.
        maxTokenLifetimeMs: 20 * 60_000,
        extraAudiences: [],
        preset,
        rules: {},
      };
      break;
    }
    case 'kubernetes': {
      const issuers = params.issuer ?? [];
      if (issuers.length === 0) fail('issuer', 'must name the cluster issuer (e.g. https://oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE)');
      if (problems.length > 0) break;
      value = {
        issuer: issuers[0]!,
        issuerAliases: issuers,
        algorithms: ['RS256', 'ES256'],
        // EKS projects 24 h tokens for sts.amazonaws.com.
        maxTokenLifetimeMs: 24 * HOUR_MS,
        extraAudiences: [],
        preset: { name: 'kubernetes' },
        rules: { subjectPrefix: 'system:serviceaccount:' },
      };
      break;
    }
    case 'spiffe': {
      const td = params.trustDomain ?? '';
      if (td.startsWith('spiffe://')) fail('trust_domain', `"${td}": give the trust domain only (e.g. acme.internal), not a SPIFFE ID`);
      else if (!/^[a-z0-9._-]+$/.test(td)) fail('trust_domain', `"${td}" is not a trust domain (lower-case letters, digits, . _ -)`);
      if (params.issuer !== undefined && params.issuer.length > 1) fail('issuer', 'one issuer at most for spiffe (iss is optional in JWT-SVIDs)');
      if (problems.length > 0) break;
      const configured = params.issuer?.[0];
      value = {
        issuer: configured ?? `spiffe://${td}`,
        issuerAliases: configured === undefined ? [] : [configured],
        algorithms: ['ES256'],
        maxTokenLifetimeMs: HOUR_MS,
        extraAudiences: [],
        preset: { name: 'spiffe', trustDomain: td },
        rules: { issOptional: true, subjectPrefix: `spiffe://${td}/` },
      };
      break;
    }
  }
  if (problems.length > 0 || value === undefined) return { ok: false, problems };
  return { ok: true, value };
}

/** Audience spellings to accept besides the configured ones (Entra v1: App ID URI with or without a trailing slash). */
export function presetAudiences(preset: IssuerPreset | undefined, audience: readonly string[]): string[] {
  const out = [...audience];
  if (preset?.name !== 'entra-id') return out;
  for (const aud of audience) {
    if (GUID.test(aud) || !aud.includes(':')) continue;
    const twin = aud.endsWith('/') ? aud.replace(/\/+$/, '') : `${aud}/`;
    if (twin !== '' && !out.includes(twin)) out.push(twin);
  }
  return out;
}

export function entraIssuer(tenant: string, version: 1 | 2): string {
  return version === 1 ? `https://sts.windows.net/${tenant}/` : `https://login.microsoftonline.com/${tenant}/v2.0`;
}

/** Every accepted `iss` of an issuer (empty: any iss, SPIFFE without a configured issuer). */
export function acceptedIssuers(issuer: IssuerConfig): readonly string[] {
  return issuer.issuerAliases ?? [issuer.issuer];
}

/** A refusal for a plain (preset-less) issuer string that can only be a mistake. */
export function plainIssuerProblem(iss: string): string | undefined {
  let url: URL;
  try {
    url = new URL(iss);
  } catch {
    return undefined;
  }
  if (/\.okta(?:preview)?\.com$|\.okta-emea\.com$/i.test(url.hostname) && !url.pathname.startsWith('/oauth2/')) {
    return `${iss} is Okta's org authorization server, whose access tokens are meant for Okta's own APIs; use a custom authorization server (https://${url.hostname}/oauth2/default or /oauth2/{id}), e.g. with preset: okta`;
  }
  return undefined;
}

/** A specific reason when an unknown `iss` is a near miss of a configured IdP; undefined otherwise. */
export function unknownIssuerHint(issuers: readonly IssuerConfig[], iss: string): string | undefined {
  for (const issuer of issuers) {
    const preset = issuer.preset;
    if (preset === undefined) continue;
    if (preset.name === 'okta') {
      for (const org of preset.orgs) {
        if (iss === `https://${org}` || iss === `https://${org}/`) {
          return `iss ${iss} is Okta's org authorization server: its tokens are meant for Okta itself and are refused; issuer ${issuer.name} trusts ${acceptedIssuers(issuer).join(', ')}`;
        }
        const prefix = `https://${org}/oauth2/`;
        if (iss.startsWith(prefix)) {
          return `iss ${iss} is Okta authorization server ${iss.slice(prefix.length)}, not ${preset.authorizationServer} (issuer ${issuer.name})`;
        }
      }
    }
    if (preset.name === 'entra-id') {
      const m = /^https:\/\/sts\.windows\.net\/([^/]+)\/$/.exec(iss) ?? /^https:\/\/login\.microsoftonline\.com\/([^/]+)\/v2\.0$/.exec(iss);
      if (m) {
        const version = iss.startsWith('https://sts.windows.net/') ? 1 : 2;
        const tenantTrusted = issuers.some((other) => other.preset?.name === 'entra-id' && other.preset.tenant === m[1]!.toLowerCase());
        if (m[1]!.toLowerCase() !== preset.tenant) {
          if (tenantTrusted) continue;
          return `token is from Entra tenant ${m[1]}, not ${preset.tenant} (issuer ${issuer.name})`;
        }
        if (!preset.tokenVersions.includes(version)) {
          return `token is an Entra v${version} token (iss ${iss}) but issuer ${issuer.name} accepts token_versions [${preset.tokenVersions.join(', ')}]; the version follows the resource app's accessTokenAcceptedVersion`;
        }
      }
    }
    if (preset.name === 'github-actions' && (iss === GITHUB_ISSUER || iss.startsWith(`${GITHUB_ISSUER}/`))) {
      const enterprise = iss === GITHUB_ISSUER ? undefined : iss.slice(GITHUB_ISSUER.length + 1);
      const want = preset.enterprise === undefined ? 'the public GitHub issuer' : `enterprise ${preset.enterprise}`;
      return `token is from ${enterprise === undefined ? 'the public GitHub issuer' : `GitHub enterprise ${enterprise}`}, but issuer ${issuer.name} trusts ${want}`;
    }
    if (preset.name === 'google' && /^(https?:\/\/)?accounts\.google\.com\/?$/.test(iss)) {
      return `iss ${iss} is a spelling of Google's issuer that Google does not issue (issuer ${issuer.name})`;
    }
  }
  return undefined;
}
