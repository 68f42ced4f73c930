// identity.issuers: plain issuers and presets, each accepted `iss` owned by one entry.

import { isMap, isScalar, isSeq, type Node, type Scalar } from 'yaml';
import { DEFAULT_CLOCK_SKEW_MS, DEFAULT_MAX_TOKEN_LIFETIME_MS, type IssuerConfig } from '../types.js';
import { ALLOWED_ALGORITHMS, LOCAL_ISSUER, MAX_CLOCK_SKEW_MS, MAX_TOKEN_LIFETIME_LIMIT_MS, ISSUER_KEYS, PRESET_KEY_OWNERS } from './constants.js';
import { Walker, type Entry, type Fields, httpUrlProblem } from './walker.js';
import { suggest } from '../../lib/suggest.js';
import { expandPreset, plainIssuerProblem, presetAudiences, PRESET_NAMES, PRESET_PARAMETERS, type PresetParameters } from '../../identity/presets.js';

export function issuers(w: Walker, entry: Entry | undefined): IssuerConfig[] {
  if (!entry) return [];
  const identity = w.fields(entry.value ?? entry.key, 'identity', ['issuers'], []);
  const list = identity?.get('issuers');
  if (!list) return [];
  const out: IssuerConfig[] = [];
  const seen = new Map<string, Node | null>();
  // Each accepted `iss` (and each SPIFFE trust domain) belongs to one issuer entry, or tokens could not be routed.
  const issOwners = new Map<string, string>();
  w.list(list.value ?? list.key, 'identity.issuers', (node, path) => {
    const f = w.fields(node, path, ISSUER_KEYS, ['name', 'audience']);
    if (!f) return;
    const name = w.optString(f, 'name', `${path}.name`);
    const nameNode = f.get('name')?.value ?? node;
    if (name !== undefined) {
      if (name === LOCAL_ISSUER) w.error(nameNode, `${path}.name`, '`local` is reserved for gateway-minted tokens; pick another name');
      else if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(name)) w.error(nameNode, `${path}.name`, `"${name}" is not a valid name (letters, digits, _ . -)`);
      else if (seen.has(name)) w.error(nameNode, `${path}.name`, `duplicate issuer name \`${name}\` (first at line ${w.lineOf(seen.get(name)!)})`);
      else seen.set(name, nameNode);
      if (name !== LOCAL_ISSUER) w.issuerNames.add(name);
    }
    const presetName = w.enumValue(f, 'preset', `${path}.preset`, PRESET_NAMES);
    const presetFailed = f.has('preset') && presetName === undefined;
    let keysOk = true;
    for (const [key, value] of f) {
      const owner = PRESET_KEY_OWNERS.get(key);
      if (owner === undefined || presetFailed) continue;
      if (presetName === undefined) {
        if (key === 'issuer') continue;
        w.error(value.key, `${path}.${key}`, `\`${key}\` is a parameter of preset ${owner.join(' / ')}; add \`preset: ${owner[0]}\``);
        keysOk = false;
      } else if (!PRESET_PARAMETERS[presetName].required.includes(key) && !PRESET_PARAMETERS[presetName].optional.includes(key) && key !== 'jwks_uri') {
        const params = [...PRESET_PARAMETERS[presetName].required, ...PRESET_PARAMETERS[presetName].optional].filter((k) => k !== 'jwks_uri');
        const why = key === 'issuer' ? `preset ${presetName} fills in the issuer itself` : `\`${key}\` is not a parameter of preset ${presetName}`;
        w.error(value.key, `${path}.${key}`, `${why} (its parameters: ${params.join(', ') || 'none'})`);
        keysOk = false;
      }
    }
    if (presetName !== undefined) {
      for (const key of PRESET_PARAMETERS[presetName].required) {
        if (!f.has(key)) w.error(node, `${path}.${key}`, `preset ${presetName} needs \`${key}\``);
      }
    } else if (!presetFailed && !f.has('issuer')) {
      w.error(node, `${path}.issuer`, 'required key `issuer` is missing (or use a preset: okta, entra-id, google, github-actions, kubernetes, spiffe)');
    }
    const issuerList = w.stringOrList(f.get('issuer'), `${path}.issuer`);
    const audience = w.stringOrList(f.get('audience'), `${path}.audience`);
    const jwksUri = w.optString(f, 'jwks_uri', `${path}.jwks_uri`);
    if (jwksUri !== undefined) {
      const problem = httpUrlProblem(jwksUri, true);
      if (problem) w.error(f.get('jwks_uri')!.value, `${path}.jwks_uri`, problem);
    }
    const userAlgorithms = f.has('algorithms') ? issuerAlgorithms(w, f.get('algorithms'), `${path}.algorithms`) : undefined;
    const clockSkewMs = w.duration(f.get('clock_skew'), `${path}.clock_skew`, { min: 0, max: MAX_CLOCK_SKEW_MS }) ?? DEFAULT_CLOCK_SKEW_MS;
    const userLifetimeMs = w.duration(f.get('max_token_lifetime'), `${path}.max_token_lifetime`, { min: 1000, max: MAX_TOKEN_LIFETIME_LIMIT_MS });

    let issuer: string | undefined;
    let aliases: string[] | undefined;
    let presetJwksUri: string | undefined;
    let algorithms = userAlgorithms ?? [...ALLOWED_ALGORITHMS];
    let maxTokenLifetimeMs = userLifetimeMs ?? DEFAULT_MAX_TOKEN_LIFETIME_MS;
    let preset: IssuerConfig['preset'];
    let rules: IssuerConfig['rules'];
    if (presetName !== undefined) {
      if (!keysOk) return;
      const params = presetParameters(w, f, path);
      if (params === undefined) return;
      const expanded = expandPreset(presetName, params);
      if (!expanded.ok) {
        for (const problem of expanded.problems) w.error(f.get(problem.key)?.value ?? node, `${path}.${problem.key}`, problem.message);
        return;
      }
      ({ issuer, issuerAliases: aliases, jwksUri: presetJwksUri, preset, rules } = expanded.value);
      algorithms = userAlgorithms ?? expanded.value.algorithms;
      maxTokenLifetimeMs = userLifetimeMs ?? expanded.value.maxTokenLifetimeMs;
    } else if (issuerList !== undefined) {
      issuer = issuerList[0];
      if (issuerList.length > 1) aliases = issuerList;
      const issuerNode = w.resolve(f.get('issuer')!.value);
      issuerList.forEach((iss, i) => {
        const itemNode = isSeq(issuerNode) ? (issuerNode.items[i] as Node) : issuerNode;
        const problem = plainIssuerProblem(iss);
        if (problem) w.error(itemNode, isSeq(issuerNode) ? `${path}.issuer[${i}]` : `${path}.issuer`, problem);
      });
    }
    const discoveryFrom = jwksUri ?? presetJwksUri;
    if (discoveryFrom === undefined && issuer !== undefined && presetName !== 'spiffe') {
      // Without jwks_uri the keys are discovered from the (first) issuer, so it must be a URL we may fetch.
      const problem = httpUrlProblem(issuer, true);
      const issuerNode = w.resolve(f.get('issuer')?.value ?? null);
      const at = isSeq(issuerNode) ? (issuerNode.items[0] as Node) : (issuerNode ?? node);
      if (problem) w.error(at, `${path}.issuer${isSeq(issuerNode) ? '[0]' : ''}`, `${problem} (keys are discovered from the issuer unless jwks_uri is set)`);
    }
    if (name === undefined || issuer === undefined || audience === undefined) return;
    const routes = aliases ?? [issuer];
    const spiffeDomain = preset?.name === 'spiffe' && routes.length === 0 ? `spiffe trust domain ${preset.trustDomain}` : undefined;
    for (const route of spiffeDomain !== undefined ? [spiffeDomain] : routes) {
      const owner = issOwners.get(route);
      if (owner !== undefined && owner !== name) {
        w.error(nameNode, `${path}`, `${route} is already trusted by issuer \`${owner}\`: a token could not tell which entry verifies it`);
        return;
      }
      issOwners.set(route, name);
    }
    const config: IssuerConfig = { name, issuer, audience: presetAudiences(preset, audience), algorithms, clockSkewMs, maxTokenLifetimeMs };
    if (aliases !== undefined) config.issuerAliases = aliases;
    const keys = jwksUri ?? presetJwksUri;
    if (keys !== undefined) config.jwksUri = keys;
    if (preset !== undefined) config.preset = preset;
    if (rules !== undefined && Object.keys(rules).length > 0) config.rules = rules;
    out.push(config);
    w.issuerConfigs.set(name, config);
  });
  return out.filter((i) => i.name !== LOCAL_ISSUER);
}

/** The preset parameters present in an issuer entry, type-checked; undefined after an error. */
export function presetParameters(w: Walker, f: Fields, path: string): PresetParameters | undefined {
  const before = w.errors.length;
  const params: PresetParameters = {};
  const org = w.stringOrList(f.get('org'), `${path}.org`);
  if (org !== undefined) params.org = org;
  const issuer = w.stringOrList(f.get('issuer'), `${path}.issuer`);
  if (issuer !== undefined) params.issuer = issuer;
  for (const [key, field] of [
    ['authorization_server', 'authorizationServer'],
    ['tenant', 'tenant'],
    ['enterprise', 'enterprise'],
    ['host', 'host'],
    ['trust_domain', 'trustDomain'],
  ] as const) {
    const value = w.optString(f, key, `${path}.${key}`);
    if (value !== undefined) params[field] = value;
  }
  const versions = f.get('token_versions');
  if (versions) {
    params.tokenVersions = [];
    w.list(versions.value ?? versions.key, `${path}.token_versions`, (node, itemPath) => {
      if (isScalar(node) && (node.value === 1 || node.value === 2)) params.tokenVersions!.push(node.value);
      else w.error(node, itemPath, `must be 1 or 2 (Entra access token versions), got ${isScalar(node) ? String(node.value) : 'a non-number'}`);
    }, { nonEmpty: true });
  }
  return w.errors.length === before ? params : undefined;
}

export function issuerAlgorithms(w: Walker, entry: Entry | undefined, path: string): string[] {
  if (!entry) return [...ALLOWED_ALGORITHMS];
  const out = new Set<string>();
  w.list(entry.value ?? entry.key, path, (node, itemPath) => {
    const alg = w.string(node, itemPath);
    if (alg === undefined) return;
    if (alg.toLowerCase() === 'none') w.error(node, itemPath, '`none` is never allowed: it would accept unsigned tokens');
    else if (/^HS\d+$/i.test(alg)) {
      w.error(node, itemPath, `\`${alg}\` is refused: HMAC needs a secret shared with the IdP, and allowing it invites key-confusion attacks with a public JWKS`);
    } else if (!(ALLOWED_ALGORITHMS as readonly string[]).includes(alg)) {
      w.error(node, itemPath, `must be one of ${ALLOWED_ALGORITHMS.join(', ')}${suggest(alg, ALLOWED_ALGORITHMS)}`);
    } else out.add(alg);
  });
  return [...out];
}
