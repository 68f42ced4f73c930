// Validates a parsed policy document (schema v1) node by node, so every error carries the line and column
// of the offending key or value and a path such as `rules[2].effect`. Collects every error instead of
// stopping at the first; returns a PolicyConfig with defaults filled in only when there are none.

import { isAlias, isMap, isScalar, isSeq, type Document, type LineCounter, type Node, type Scalar } from 'yaml';
import type { PolicyErrorItem } from '../events.js';
import { globToRegExp, hasGlob } from '../policy/glob.js';
import { accountConditions, operatorValueKind, parseClaimPath, parseOperator } from '../identity/claims.js';
import { expandPreset, plainIssuerProblem, presetAudiences, PRESET_NAMES, PRESET_PARAMETERS, type PresetParameters } from '../identity/presets.js';
import { formatDurationMs, parseDurationMs } from './duration.js';
import { suggest } from '../lib/suggest.js';

export { suggest };
import {
  DEFAULT_APPROVAL,
  DEFAULT_CLOCK_SKEW_MS,
  DEFAULT_MAX_TOKEN_LIFETIME_MS,
  DEFAULT_MASKING_MAX_BODY_BYTES,
  DEFAULT_RECORDING_MAX_BODY_BYTES,
  DEFAULT_REGION,
  DEFAULT_SESSION_TTL_MS,
  type ApprovalSettings,
  type ClaimCondition,
  type IssuerPresetName,
  type DetectorName,
  type Effect,
  type IssuerConfig,
  type MaskingConfig,
  type PolicyConfig,
  type RecordingConfig,
  type RuleConfig,
  type ServiceAccountConfig,
} from './types.js';

export const EFFECTS: readonly Effect[] = ['allow', 'deny', 'approve'];
export const DETECTORS: readonly DetectorName[] = ['aws_access_key_id', 'aws_secret_access_key', 'private_key', 'jwt', 'email', 'credit_card'];
export const ALLOWED_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'] as const;
/** Masked when `masking.fields` is not given: the secrets AWS APIs hand back in well-known places. */
export const DEFAULT_MASKING_FIELDS: readonly string[] = [
  'SecretString',
  'SecretBinary',
  'Credentials.SecretAccessKey',
  'Credentials.SessionToken',
  'Parameter.Value',
];
/** Reserved issuer name: tokens the gateway mints itself (`portcullis token`). */
export const LOCAL_ISSUER = 'local';
export const RESERVED_RULE_ID = 'default-deny';

const MAX_SESSION_TTL_MS = 12 * 3_600_000;
const MAX_CLOCK_SKEW_MS = 5 * 60_000;
const MAX_TOKEN_LIFETIME_LIMIT_MS = 366 * 86_400_000;
const ISSUER_KEYS = ['name', 'preset', 'issuer', 'audience', 'jwks_uri', 'algorithms', 'clock_skew', 'max_token_lifetime', ...new Set(Object.values(PRESET_PARAMETERS).flatMap((p) => [...p.required, ...p.optional]))].filter(
  (key, i, all) => all.indexOf(key) === i,
);
/** Preset-only keys → the presets that read them (`issuer` and `jwks_uri` are also plain-issuer keys). */
const PRESET_KEY_OWNERS = new Map<string, IssuerPresetName[]>();
for (const name of Object.keys(PRESET_PARAMETERS) as IssuerPresetName[]) {
  for (const key of [...PRESET_PARAMETERS[name].required, ...PRESET_PARAMETERS[name].optional]) {
    if (key === 'jwks_uri') continue;
    PRESET_KEY_OWNERS.set(key, [...(PRESET_KEY_OWNERS.get(key) ?? []), name]);
  }
}

// IAM permission names that are not API operations: a rule naming them would never match a request.
const IAM_ONLY_ACTIONS: Record<string, string> = {
  's3:ListBucket': 's3:ListObjectsV2 (and s3:ListObjects)',
  's3:ListAllMyBuckets': 's3:ListBuckets',
  's3:ListBucketVersions': 's3:ListObjectVersions',
  's3:ListBucketMultipartUploads': 's3:ListMultipartUploads',
  's3:ListMultipartUploadParts': 's3:ListParts',
  's3:GetObjectVersion': 's3:GetObject',
  's3:DeleteObjectVersion': 's3:DeleteObject',
};

// Sample AWS hosts: a passthrough glob matching any of them would let AWS calls skip the policy.
const AWS_HOST_SAMPLES = [
  'sts.amazonaws.com',
  's3.amazonaws.com',
  'reports.s3.amazonaws.com',
  's3.us-east-1.amazonaws.com',
  'dynamodb.us-east-1.amazonaws.com',
  'secretsmanager.eu-west-1.amazonaws.com',
  'sts.cn-north-1.amazonaws.com.cn',
  'lambda.us-gov-west-1.amazonaws.com',
];

interface Entry {
  key: Scalar;
  value: Node | null;
}

type Fields = Map<string, Entry>;

export interface ValidationResult {
  config?: PolicyConfig;
  errors: PolicyErrorItem[];
}

export function validatePolicyDocument(doc: Document, lineCounter: LineCounter, file: string): ValidationResult {
  return new Validator(doc, lineCounter, file).run();
}

class Validator {
  readonly errors: PolicyErrorItem[] = [];
  // Names declared (even in entries with other errors), so one mistake doesn't cascade into "unknown" errors.
  private readonly issuerNames = new Set<string>();
  private readonly accountNames = new Set<string>();
  private readonly issuerConfigs = new Map<string, IssuerConfig>();

  constructor(
    private readonly doc: Document,
    private readonly lineCounter: LineCounter,
    private readonly file: string,
  ) {}

  run(): ValidationResult {
    const root = this.resolve(this.doc.contents as Node | null);
    if (root === null || (isScalar(root) && root.value === null)) {
      this.errorAt(0, '', 'the policy file is empty (start with `version: 1`)');
      return { errors: this.errors };
    }
    const top = this.fields(root, '', ['version', 'upstream', 'identity', 'service_accounts', 'rules', 'masking', 'recording', 'passthrough'], ['version']);
    if (!top) return { errors: this.errors };

    this.version(top);
    const upstream = this.upstream(top.get('upstream'));
    const issuers = this.issuers(top.get('identity'));
    const serviceAccounts = this.serviceAccounts(top.get('service_accounts'));
    const rules = this.rules(top.get('rules'));
    const masking = this.masking(top.get('masking'));
    const recording = this.recording(top.get('recording'));
    const passthrough = this.passthrough(top.get('passthrough'));

    if (this.errors.length > 0) return { errors: this.sorted() };
    return { config: { version: 1, upstream, issuers, serviceAccounts, rules, masking, recording, passthrough }, errors: [] };
  }

  // ---- sections ----

  private version(top: Fields): void {
    const entry = top.get('version');
    if (!entry) return;
    const node = this.resolve(entry.value);
    if (isScalar(node) && node.value === 1) return;
    if (isScalar(node) && typeof node.value === 'number') {
      this.error(node, 'version', `unsupported version ${node.value} (this gateway reads version 1)`);
    } else {
      this.error(node ?? entry.key, 'version', 'must be 1');
    }
  }

  private upstream(entry: Entry | undefined): PolicyConfig['upstream'] {
    const result: PolicyConfig['upstream'] = { region: DEFAULT_REGION };
    if (!entry) return result;
    const f = this.fields(entry.value ?? entry.key, 'upstream', ['endpoint', 'region'], []);
    if (!f) return result;
    const endpoint = this.optString(f, 'endpoint', 'upstream.endpoint');
    if (endpoint !== undefined) {
      const problem = httpUrlProblem(endpoint, false);
      if (problem) this.error(f.get('endpoint')!.value, 'upstream.endpoint', problem);
      else result.endpoint = endpoint;
    }
    const region = this.optString(f, 'region', 'upstream.region');
    if (region !== undefined) {
      if (!/^[a-z0-9][a-z0-9-]*$/.test(region)) this.error(f.get('region')!.value, 'upstream.region', `"${region}" is not a region name (e.g. us-east-1)`);
      else result.region = region;
    }
    return result;
  }

  private issuers(entry: Entry | undefined): IssuerConfig[] {
    if (!entry) return [];
    const identity = this.fields(entry.value ?? entry.key, 'identity', ['issuers'], []);
    const list = identity?.get('issuers');
    if (!list) return [];
    const out: IssuerConfig[] = [];
    const seen = new Map<string, Node | null>();
    // Each accepted `iss` (and each SPIFFE trust domain) belongs to one issuer entry, or tokens could not be routed.
    const issOwners = new Map<string, string>();
    this.list(list.value ?? list.key, 'identity.issuers', (node, path) => {
      const f = this.fields(node, path, ISSUER_KEYS, ['name', 'audience']);
      if (!f) return;
      const name = this.optString(f, 'name', `${path}.name`);
      const nameNode = f.get('name')?.value ?? node;
      if (name !== undefined) {
        if (name === LOCAL_ISSUER) this.error(nameNode, `${path}.name`, '`local` is reserved for gateway-minted tokens; pick another name');
        else if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(name)) this.error(nameNode, `${path}.name`, `"${name}" is not a valid name (letters, digits, _ . -)`);
        else if (seen.has(name)) this.error(nameNode, `${path}.name`, `duplicate issuer name \`${name}\` (first at line ${this.lineOf(seen.get(name)!)})`);
        else seen.set(name, nameNode);
        if (name !== LOCAL_ISSUER) this.issuerNames.add(name);
      }
      const presetName = this.enumValue(f, 'preset', `${path}.preset`, PRESET_NAMES);
      const presetFailed = f.has('preset') && presetName === undefined;
      let keysOk = true;
      for (const [key, value] of f) {
        const owner = PRESET_KEY_OWNERS.get(key);
        if (owner === undefined || presetFailed) continue;
        if (presetName === undefined) {
          if (key === 'issuer') continue;
          this.error(value.key, `${path}.${key}`, `\`${key}\` is a parameter of preset ${owner.join(' / ')}; add \`preset: ${owner[0]}\``);
          keysOk = false;
        } else if (!PRESET_PARAMETERS[presetName].required.includes(key) && !PRESET_PARAMETERS[presetName].optional.includes(key) && key !== 'jwks_uri') {
          const params = [...PRESET_PARAMETERS[presetName].required, ...PRESET_PARAMETERS[presetName].optional].filter((k) => k !== 'jwks_uri');
          const why = key === 'issuer' ? `preset ${presetName} fills in the issuer itself` : `\`${key}\` is not a parameter of preset ${presetName}`;
          this.error(value.key, `${path}.${key}`, `${why} (its parameters: ${params.join(', ') || 'none'})`);
          keysOk = false;
        }
      }
      if (presetName !== undefined) {
        for (const key of PRESET_PARAMETERS[presetName].required) {
          if (!f.has(key)) this.error(node, `${path}.${key}`, `preset ${presetName} needs \`${key}\``);
        }
      } else if (!presetFailed && !f.has('issuer')) {
        this.error(node, `${path}.issuer`, 'required key `issuer` is missing (or use a preset: okta, entra-id, google, github-actions, kubernetes, spiffe)');
      }
      const issuerList = this.stringOrList(f.get('issuer'), `${path}.issuer`);
      const audience = this.stringOrList(f.get('audience'), `${path}.audience`);
      const jwksUri = this.optString(f, 'jwks_uri', `${path}.jwks_uri`);
      if (jwksUri !== undefined) {
        const problem = httpUrlProblem(jwksUri, true);
        if (problem) this.error(f.get('jwks_uri')!.value, `${path}.jwks_uri`, problem);
      }
      const userAlgorithms = f.has('algorithms') ? this.algorithms(f.get('algorithms'), `${path}.algorithms`) : undefined;
      const clockSkewMs = this.duration(f.get('clock_skew'), `${path}.clock_skew`, { min: 0, max: MAX_CLOCK_SKEW_MS }) ?? DEFAULT_CLOCK_SKEW_MS;
      const userLifetimeMs = this.duration(f.get('max_token_lifetime'), `${path}.max_token_lifetime`, { min: 1000, max: MAX_TOKEN_LIFETIME_LIMIT_MS });

      let issuer: string | undefined;
      let aliases: string[] | undefined;
      let presetJwksUri: string | undefined;
      let algorithms = userAlgorithms ?? [...ALLOWED_ALGORITHMS];
      let maxTokenLifetimeMs = userLifetimeMs ?? DEFAULT_MAX_TOKEN_LIFETIME_MS;
      let preset: IssuerConfig['preset'];
      let rules: IssuerConfig['rules'];
      if (presetName !== undefined) {
        if (!keysOk) return;
        const params = this.presetParameters(f, path);
        if (params === undefined) return;
        const expanded = expandPreset(presetName, params);
        if (!expanded.ok) {
          for (const problem of expanded.problems) this.error(f.get(problem.key)?.value ?? node, `${path}.${problem.key}`, problem.message);
          return;
        }
        ({ issuer, issuerAliases: aliases, jwksUri: presetJwksUri, preset, rules } = expanded.value);
        algorithms = userAlgorithms ?? expanded.value.algorithms;
        maxTokenLifetimeMs = userLifetimeMs ?? expanded.value.maxTokenLifetimeMs;
      } else if (issuerList !== undefined) {
        issuer = issuerList[0];
        if (issuerList.length > 1) aliases = issuerList;
        const issuerNode = this.resolve(f.get('issuer')!.value);
        issuerList.forEach((iss, i) => {
          const itemNode = isSeq(issuerNode) ? (issuerNode.items[i] as Node) : issuerNode;
          const problem = plainIssuerProblem(iss);
          if (problem) this.error(itemNode, isSeq(issuerNode) ? `${path}.issuer[${i}]` : `${path}.issuer`, problem);
        });
      }
      const discoveryFrom = jwksUri ?? presetJwksUri;
      if (discoveryFrom === undefined && issuer !== undefined && presetName !== 'spiffe') {
        // Without jwks_uri the keys are discovered from the (first) issuer, so it must be a URL we may fetch.
        const problem = httpUrlProblem(issuer, true);
        const issuerNode = this.resolve(f.get('issuer')?.value ?? null);
        const at = isSeq(issuerNode) ? (issuerNode.items[0] as Node) : (issuerNode ?? node);
        if (problem) this.error(at, `${path}.issuer${isSeq(issuerNode) ? '[0]' : ''}`, `${problem} (keys are discovered from the issuer unless jwks_uri is set)`);
      }
      if (name === undefined || issuer === undefined || audience === undefined) return;
      const routes = aliases ?? [issuer];
      const spiffeDomain = preset?.name === 'spiffe' && routes.length === 0 ? `spiffe trust domain ${preset.trustDomain}` : undefined;
      for (const route of spiffeDomain !== undefined ? [spiffeDomain] : routes) {
        const owner = issOwners.get(route);
        if (owner !== undefined && owner !== name) {
          this.error(nameNode, `${path}`, `${route} is already trusted by issuer \`${owner}\`: a token could not tell which entry verifies it`);
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
      this.issuerConfigs.set(name, config);
    });
    return out.filter((i) => i.name !== LOCAL_ISSUER);
  }

  /** The preset parameters present in an issuer entry, type-checked; undefined after an error. */
  private presetParameters(f: Fields, path: string): PresetParameters | undefined {
    const before = this.errors.length;
    const params: PresetParameters = {};
    const org = this.stringOrList(f.get('org'), `${path}.org`);
    if (org !== undefined) params.org = org;
    const issuer = this.stringOrList(f.get('issuer'), `${path}.issuer`);
    if (issuer !== undefined) params.issuer = issuer;
    for (const [key, field] of [
      ['authorization_server', 'authorizationServer'],
      ['tenant', 'tenant'],
      ['enterprise', 'enterprise'],
      ['host', 'host'],
      ['trust_domain', 'trustDomain'],
    ] as const) {
      const value = this.optString(f, key, `${path}.${key}`);
      if (value !== undefined) params[field] = value;
    }
    const versions = f.get('token_versions');
    if (versions) {
      params.tokenVersions = [];
      this.list(versions.value ?? versions.key, `${path}.token_versions`, (node, itemPath) => {
        if (isScalar(node) && (node.value === 1 || node.value === 2)) params.tokenVersions!.push(node.value);
        else this.error(node, itemPath, `must be 1 or 2 (Entra access token versions), got ${isScalar(node) ? String(node.value) : 'a non-number'}`);
      }, { nonEmpty: true });
    }
    return this.errors.length === before ? params : undefined;
  }

  private algorithms(entry: Entry | undefined, path: string): string[] {
    if (!entry) return [...ALLOWED_ALGORITHMS];
    const out = new Set<string>();
    this.list(entry.value ?? entry.key, path, (node, itemPath) => {
      const alg = this.string(node, itemPath);
      if (alg === undefined) return;
      if (alg.toLowerCase() === 'none') this.error(node, itemPath, '`none` is never allowed: it would accept unsigned tokens');
      else if (/^HS\d+$/i.test(alg)) {
        this.error(node, itemPath, `\`${alg}\` is refused: HMAC needs a secret shared with the IdP, and allowing it invites key-confusion attacks with a public JWKS`);
      } else if (!(ALLOWED_ALGORITHMS as readonly string[]).includes(alg)) {
        this.error(node, itemPath, `must be one of ${ALLOWED_ALGORITHMS.join(', ')}${suggest(alg, ALLOWED_ALGORITHMS)}`);
      } else out.add(alg);
    });
    return [...out];
  }

  private serviceAccounts(entry: Entry | undefined): ServiceAccountConfig[] {
    if (!entry) return [];
    const issuerNames = this.issuerNames;
    const out: ServiceAccountConfig[] = [];
    const seenNames = new Map<string, Node | null>();
    const seenIdentities = new Map<string, string>();
    this.list(entry.value ?? entry.key, 'service_accounts', (node, path) => {
      const f = this.fields(node, path, ['name', 'issuer', 'subject', 'claims', 'match', 'roles', 'session_ttl'], ['name', 'issuer', 'roles']);
      if (!f) return;
      const name = this.optString(f, 'name', `${path}.name`);
      const nameNode = f.get('name')?.value ?? node;
      if (name !== undefined) {
        // The name becomes RoleSessionName and SourceIdentity on AssumeRole, so it must fit AWS's pattern.
        if (!/^[\w+=,.@-]{2,64}$/.test(name)) {
          this.error(nameNode, `${path}.name`, `"${name}" is not a valid name (2-64 of letters, digits and _ + = , . @ -; it becomes the AWS RoleSessionName)`);
        } else if (seenNames.has(name)) {
          this.error(nameNode, `${path}.name`, `duplicate service account name \`${name}\` (first at line ${this.lineOf(seenNames.get(name)!)})`);
        } else seenNames.set(name, nameNode);
        this.accountNames.add(name);
      }
      const issuer = this.optString(f, 'issuer', `${path}.issuer`);
      let issuerOk = false;
      if (issuer !== undefined) {
        if (issuer === LOCAL_ISSUER || issuerNames.has(issuer)) issuerOk = true;
        else {
          const known = [...issuerNames, LOCAL_ISSUER];
          this.error(f.get('issuer')!.value, `${path}.issuer`, `unknown issuer \`${issuer}\`${suggest(issuer, known)} (known: ${known.join(', ')})`);
        }
      }
      const matchEntry = f.get('match');
      let match: ClaimCondition[] | undefined;
      if (matchEntry && issuer === LOCAL_ISSUER) {
        this.error(matchEntry.key, `${path}.match`, 'gateway-minted tokens carry only the account name; `match` is for IdP tokens');
      } else if (matchEntry) match = this.match(matchEntry, `${path}.match`);
      let subject = this.optString(f, 'subject', `${path}.subject`);
      if (subject === undefined && !f.has('subject') && !matchEntry && issuer !== undefined && issuer !== LOCAL_ISSUER) {
        this.error(node, `${path}.subject`, 'required (the `sub` claim this account\'s tokens carry), unless a `match` block identifies the tokens');
      }
      if (subject === '') this.error(f.get('subject')!.value, `${path}.subject`, 'must not be empty');
      // Gateway-minted tokens carry the account name as their subject unless one is given.
      if (subject === undefined && issuer === LOCAL_ISSUER && name !== undefined) subject = name;
      if (subject === undefined && !f.has('subject') && matchEntry) subject = '';
      const claims = this.claims(f.get('claims'), `${path}.claims`);
      const roles: string[] = [];
      const rolesEntry = f.get('roles');
      if (rolesEntry) {
        this.list(rolesEntry.value ?? rolesEntry.key, `${path}.roles`, (roleNode, rolePath) => {
          const role = this.string(roleNode, rolePath);
          if (role === undefined) return;
          if (!/^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@/-]+$/.test(role)) {
            this.error(roleNode, rolePath, `"${role}" is not an IAM role ARN (arn:aws:iam::123456789012:role/name)`);
          } else roles.push(role);
        }, { nonEmpty: true });
      }
      const sessionTtlMs = this.duration(f.get('session_ttl'), `${path}.session_ttl`, { min: 1, max: MAX_SESSION_TTL_MS }) ?? DEFAULT_SESSION_TTL_MS;
      if (name === undefined || issuer === undefined || subject === undefined || !issuerOk) return;
      if (matchEntry && match === undefined) return;
      const account: ServiceAccountConfig = { name, issuer, subject, claims, roles, sessionTtlMs };
      if (match !== undefined) account.match = match;
      const conditions = accountConditions(account);
      if (issuer !== LOCAL_ISSUER && conditions.every((c) => c.ifExists || c.test.includes('Not') || (c.test === 'Null' && c.values[0] === true))) {
        this.error(matchEntry?.key ?? node, path, 'no condition identifies the tokens: this account would take any token of its issuer; pin `subject` or add a positive `match` condition');
        return;
      }
      const issuerConfig = this.issuerConfigs.get(issuer);
      if (issuerConfig?.rules?.requirePinnedSubject && !pinsSubject(conditions)) {
        this.error(node, `${path}.subject`, `issuer \`${issuer}\` (preset ${issuerConfig.preset?.name ?? ''}) needs every account to pin \`sub\` exactly: the caller chooses the audience of these tokens, so only the subject says who they are`);
        return;
      }
      const identityKey = JSON.stringify([issuer, conditions.map((c) => [c.operator, c.path, [...c.values].map(String).sort()]).map((c) => JSON.stringify(c)).sort()]);
      const clash = seenIdentities.get(identityKey);
      if (clash !== undefined && clash !== name) {
        this.error(node, path, `same issuer, subject and claims as \`${clash}\`: a token could not tell the two accounts apart`);
      } else seenIdentities.set(identityKey, name);
      out.push(account);
    });
    return out;
  }

  /** A `match:` block: operator → claim → value or list of values (any of them). */
  private match(entry: Entry, path: string): ClaimCondition[] | undefined {
    const node = this.resolve(entry.value);
    if (!isMap(node)) {
      this.error(node ?? entry.key, path, 'must be a mapping of operator to claims, e.g. {StringEquals: {repository: acme/app}}');
      return undefined;
    }
    const before = this.errors.length;
    const out: ClaimCondition[] = [];
    const operators = this.fields(node, path, null, []) ?? new Map<string, Entry>();
    if (operators.size === 0) this.error(node, path, 'must hold at least one operator (StringEquals, StringLike, ForAnyValue:StringEquals, Null, Bool, NumericEquals…)');
    for (const [operator, opEntry] of operators) {
      const opPath = `${path}.${operator}`;
      const parsed = parseOperator(operator);
      if (!parsed.ok) {
        this.error(opEntry.key, opPath, parsed.message);
        continue;
      }
      const claimsNode = this.resolve(opEntry.value);
      if (!isMap(claimsNode)) {
        this.error(claimsNode ?? opEntry.key, opPath, `must be a mapping of claim to value(s), e.g. {${operator}: {environment: production}}`);
        continue;
      }
      const claims = this.fields(claimsNode, opPath, null, []) ?? new Map<string, Entry>();
      if (claims.size === 0) this.error(claimsNode, opPath, 'must name at least one claim');
      const kind = operatorValueKind(parsed.value.test);
      for (const [claim, claimEntry] of claims) {
        const claimPath = `${opPath}.${claim}`;
        const parsedPath = parseClaimPath(claim);
        if (!parsedPath.ok) {
          this.error(claimEntry.key, claimPath, parsedPath.message);
          continue;
        }
        const valueNode = this.resolve(claimEntry.value);
        const items = isSeq(valueNode) ? valueNode.items.map((item, i) => ({ node: this.resolve(item as Node | null), at: `${claimPath}[${i}]` })) : [{ node: valueNode, at: claimPath }];
        if (items.length === 0) {
          this.error(valueNode, claimPath, 'must not be empty');
          continue;
        }
        if (parsed.value.test === 'Null' && items.length !== 1) {
          this.error(valueNode, claimPath, 'Null takes one value: true (the claim must be absent) or false (it must be present)');
          continue;
        }
        const values: (string | number | boolean)[] = [];
        for (const item of items) {
          const value = this.conditionValue(item.node ?? claimEntry.key, item.at, kind, parsed.value.test);
          if (value !== undefined) values.push(value);
        }
        if (values.length !== items.length) continue;
        const condition: ClaimCondition = { operator, test: parsed.value.test, ifExists: parsed.value.ifExists, claim, path: parsedPath.path, values };
        if (parsed.value.qualifier !== undefined) condition.qualifier = parsed.value.qualifier;
        out.push(condition);
      }
    }
    return this.errors.length === before ? out : undefined;
  }

  private conditionValue(raw: Node | Scalar | null, path: string, kind: 'string' | 'number' | 'boolean', test: string): string | number | boolean | undefined {
    const node = this.resolve(raw);
    if (kind === 'string') {
      const s = this.string(node, path, `${test} compares strings; quote it`);
      if (s === '') {
        this.error(node, path, 'must not be empty');
        return undefined;
      }
      return s;
    }
    if (kind === 'number') {
      if (isScalar(node) && typeof node.value === 'number' && Number.isFinite(node.value)) return node.value;
      if (isScalar(node) && typeof node.value === 'string' && /^-?\d+(\.\d+)?$/.test(node.value)) return Number(node.value);
      this.error(node ?? raw, path, `${test} compares numbers; got ${isScalar(node) ? JSON.stringify(node.value) : 'a non-number'}`);
      return undefined;
    }
    if (isScalar(node) && typeof node.value === 'boolean') return node.value;
    const hint = test === 'Null' ? 'true (the claim must be absent) or false (it must be present)' : 'true or false';
    this.error(node ?? raw, path, `${test} takes ${hint}; got ${isScalar(node) ? JSON.stringify(node.value) : 'a non-boolean'}`);
    return undefined;
  }

  private claims(entry: Entry | undefined, path: string): Record<string, string> {
    const out: Record<string, string> = {};
    if (!entry) return out;
    const node = this.resolve(entry.value);
    if (!isMap(node)) {
      this.error(node ?? entry.key, path, 'must be a mapping of claim name to value, e.g. {client_id: reports-mcp}');
      return out;
    }
    const f = this.fields(node, path, null, []);
    for (const [key, value] of f ?? []) {
      const v = this.string(value.value ?? value.key, `${path}.${key}`, 'claim values are compared as strings; quote it');
      if (v !== undefined) out[key] = v;
    }
    return out;
  }

  private rules(entry: Entry | undefined): RuleConfig[] {
    if (!entry) return [];
    const accountNames = [...this.accountNames];
    const out: RuleConfig[] = [];
    const seenIds = new Map<string, Node | null>();
    this.list(entry.value ?? entry.key, 'rules', (node, path) => {
      const f = this.fields(node, path, ['id', 'effect', 'principals', 'actions', 'resources', 'message', 'approval'], ['id', 'effect', 'actions']);
      if (!f) return;
      const id = this.optString(f, 'id', `${path}.id`);
      const idNode = f.get('id')?.value ?? node;
      if (id !== undefined) {
        if (id === RESERVED_RULE_ID) this.error(idNode, `${path}.id`, '`default-deny` is reserved for "no rule matched"');
        else if (!/^[A-Za-z0-9][A-Za-z0-9_.:-]*$/.test(id)) this.error(idNode, `${path}.id`, `"${id}" is not a valid rule id (letters, digits, _ . : -)`);
        else if (seenIds.has(id)) this.error(idNode, `${path}.id`, `duplicate rule id \`${id}\` (first at line ${this.lineOf(seenIds.get(id)!)})`);
        else seenIds.set(id, idNode);
      }
      const effect = this.optString(f, 'effect', `${path}.effect`);
      let effectOk = false;
      if (effect !== undefined) {
        if ((EFFECTS as readonly string[]).includes(effect)) effectOk = true;
        else this.error(f.get('effect')!.value, `${path}.effect`, `must be one of ${EFFECTS.join(', ')} (got "${effect}")`);
      }
      // A literal principal that names no account is a typo: in a deny rule it would silently protect nothing.
      const principals = this.patternList(f, 'principals', `${path}.principals`, (p) => {
        if (/\s/.test(p)) return 'must not contain spaces';
        if (hasGlob(p) || accountNames.includes(p)) return undefined;
        return `\`${p}\` is not a service account${suggest(p, accountNames)}${accountNames.length ? ` (known: ${accountNames.join(', ')})` : ''}`;
      });
      const actions = this.patternList(f, 'actions', `${path}.actions`, actionProblem);
      const resources = this.patternList(f, 'resources', `${path}.resources`, resourceProblem);
      let message: string | undefined;
      if (f.has('message')) {
        message = this.optString(f, 'message', `${path}.message`);
        if (message !== undefined && message.trim() === '') {
          this.error(f.get('message')!.value, `${path}.message`, 'must not be empty');
          message = undefined;
        }
      }
      let approval: ApprovalSettings = DEFAULT_APPROVAL;
      const approvalEntry = f.get('approval');
      if (approvalEntry) {
        if (effectOk && effect !== 'approve') {
          this.error(approvalEntry.key, `${path}.approval`, `only allowed on rules with effect: approve (this rule is ${effect})`);
        } else {
          approval = this.approval(approvalEntry, `${path}.approval`);
        }
      }
      if (id === undefined || !effectOk || !principals || !actions || !resources) return;
      const rule: RuleConfig = { id, effect: effect as Effect, principals, actions, resources, approval };
      if (message !== undefined) rule.message = message;
      out.push(rule);
    });
    return out;
  }

  private approval(entry: Entry, path: string): ApprovalSettings {
    const f = this.fields(entry.value ?? entry.key, path, ['timeout', 'hold'], []);
    if (!f) return DEFAULT_APPROVAL;
    const timeoutMs = this.duration(f.get('timeout'), `${path}.timeout`, { min: 1 });
    const holdMs = this.duration(f.get('hold'), `${path}.hold`, { min: 1 });
    const timeout = timeoutMs ?? DEFAULT_APPROVAL.timeoutMs;
    if (holdMs !== undefined && holdMs > timeout) {
      this.error(f.get('hold')!.value, `${path}.hold`, `must not exceed the timeout (${formatDurationMs(holdMs)} > ${formatDurationMs(timeout)})`);
    }
    // A short timeout without a hold shortens the default hold rather than failing on a value nobody wrote.
    return { timeoutMs: timeout, holdMs: holdMs ?? Math.min(DEFAULT_APPROVAL.holdMs, timeout) };
  }

  private masking(entry: Entry | undefined): MaskingConfig {
    const result: MaskingConfig = {
      fields: [...DEFAULT_MASKING_FIELDS],
      detectors: [...DETECTORS],
      patterns: [],
      maxBodyBytes: DEFAULT_MASKING_MAX_BODY_BYTES,
    };
    if (!entry) return result;
    const f = this.fields(entry.value ?? entry.key, 'masking', ['fields', 'detectors', 'patterns', 'max_body_bytes'], []);
    if (!f) return result;
    const fields = f.get('fields');
    if (fields) {
      result.fields = [];
      this.list(fields.value ?? fields.key, 'masking.fields', (node, path) => {
        const field = this.string(node, path);
        if (field === undefined) return;
        if (field.trim() === '' || /\s/.test(field)) this.error(node, path, 'must be a field name or dotted path without spaces');
        else result.fields.push(field);
      });
    }
    const detectors = f.get('detectors');
    if (detectors) {
      result.detectors = [];
      this.list(detectors.value ?? detectors.key, 'masking.detectors', (node, path) => {
        const name = this.string(node, path);
        if (name === undefined) return;
        if (!(DETECTORS as readonly string[]).includes(name)) this.error(node, path, `unknown detector \`${name}\`${suggest(name, DETECTORS)} (one of ${DETECTORS.join(', ')})`);
        else if (!result.detectors.includes(name as DetectorName)) result.detectors.push(name as DetectorName);
      });
    }
    const patterns = f.get('patterns');
    if (patterns) {
      const names = new Set<string>();
      this.list(patterns.value ?? patterns.key, 'masking.patterns', (node, path) => {
        const p = this.fields(node, path, ['name', 'regex'], ['name', 'regex']);
        if (!p) return;
        const name = this.optString(p, 'name', `${path}.name`);
        const nameNode = p.get('name')?.value ?? node;
        let nameOk = false;
        if (name !== undefined) {
          if (!/^[A-Za-z0-9_][A-Za-z0-9_-]*$/.test(name)) this.error(nameNode, `${path}.name`, `"${name}" is not a valid name (letters, digits, _ -)`);
          else if ((DETECTORS as readonly string[]).includes(name)) this.error(nameNode, `${path}.name`, `\`${name}\` is a built-in detector; list it under masking.detectors instead`);
          else if (names.has(name)) this.error(nameNode, `${path}.name`, `duplicate pattern name \`${name}\``);
          else nameOk = true;
          names.add(name);
        }
        const regex = this.optString(p, 'regex', `${path}.regex`);
        let regexOk = false;
        if (regex !== undefined) {
          const regexNode = p.get('regex')!.value;
          try {
            const re = new RegExp(regex, 'g');
            if (regex === '' || new RegExp(regex).test('')) this.error(regexNode, `${path}.regex`, 'matches the empty string; a masking pattern must match at least one character');
            else regexOk = re instanceof RegExp;
          } catch (error) {
            this.error(regexNode, `${path}.regex`, `not a valid regular expression: ${(error as Error).message.replace(/^Invalid regular expression: \/.*\/[a-z]*: /s, '')}`);
          }
        }
        if (nameOk && regexOk) result.patterns.push({ name: name!, regex: regex! });
      });
    }
    const maxBody = this.integer(f.get('max_body_bytes'), 'masking.max_body_bytes', 1);
    if (maxBody !== undefined) result.maxBodyBytes = maxBody;
    return result;
  }

  private recording(entry: Entry | undefined): RecordingConfig {
    const result: RecordingConfig = { maxBodyBytes: DEFAULT_RECORDING_MAX_BODY_BYTES, durability: 'batch', onFailure: 'deny' };
    if (!entry) return result;
    const f = this.fields(entry.value ?? entry.key, 'recording', ['max_body_bytes', 'durability', 'on_failure'], []);
    if (!f) return result;
    const maxBody = this.integer(f.get('max_body_bytes'), 'recording.max_body_bytes', 0);
    if (maxBody !== undefined) result.maxBodyBytes = maxBody;
    const durability = this.enumValue(f, 'durability', 'recording.durability', ['batch', 'strict'] as const);
    if (durability) result.durability = durability;
    const onFailure = this.enumValue(f, 'on_failure', 'recording.on_failure', ['deny', 'allow'] as const);
    if (onFailure) result.onFailure = onFailure;
    return result;
  }

  private passthrough(entry: Entry | undefined): string[] {
    if (!entry) return [];
    const out: string[] = [];
    this.list(entry.value ?? entry.key, 'passthrough', (node, path) => {
      const host = this.string(node, path);
      if (host === undefined) return;
      if (!/^[A-Za-z0-9*?][A-Za-z0-9*?.-]*$/.test(host)) {
        this.error(node, path, `"${host}" is not a host name or host glob (e.g. api.github.com, *.pypi.org)`);
        return;
      }
      const re = globToRegExp(host, { caseInsensitive: true });
      const aws = AWS_HOST_SAMPLES.find((h) => re.test(h));
      if (aws) this.error(node, path, `\`${host}\` matches AWS hosts (${aws}); AWS calls must go through the policy, never around it`);
      else out.push(host.toLowerCase());
    });
    return out;
  }

  // ---- building blocks ----

  /** Checks a mapping's keys (unknown, duplicate, missing required) and returns its entries. `allowed` null: any keys. */
  private fields(raw: Node | Scalar | null, path: string, allowed: readonly string[] | null, required: readonly string[]): Fields | undefined {
    const node = this.resolve(raw);
    if (!isMap(node)) {
      this.error(node ?? raw, path, 'must be a mapping (key: value)');
      return undefined;
    }
    const out: Fields = new Map();
    for (const pair of node.items) {
      const keyNode = this.resolve(pair.key as Node | null);
      const valueNode = this.resolve(pair.value as Node | null);
      if (!isScalar(keyNode) || typeof keyNode.value !== 'string') {
        // `Null:` (the IAM-style operator) is YAML's null unless quoted.
        const nullKey = isScalar(keyNode) && keyNode.value === null && keyNode.source !== undefined && keyNode.source !== '';
        this.error(keyNode ?? node, path, nullKey ? `keys must be plain strings: an unquoted ${String(keyNode.source)} is YAML's null; write "${String(keyNode.source)}"` : 'keys must be plain strings');
        continue;
      }
      const key = keyNode.value;
      const keyPath = path ? `${path}.${key}` : key;
      if (out.has(key)) {
        this.error(keyNode, keyPath, `duplicate key \`${key}\` (first at line ${this.lineOf(out.get(key)!.key)})`);
        continue;
      }
      if (allowed && !allowed.includes(key)) {
        this.error(keyNode, keyPath, `unknown key \`${key}\`${suggest(key, allowed)}`);
        continue;
      }
      out.set(key, { key: keyNode, value: valueNode });
    }
    for (const key of required) {
      if (!out.has(key)) this.error(node, path ? `${path}.${key}` : key, `required key \`${key}\` is missing`);
    }
    return out;
  }

  private list(raw: Node | Scalar | null, path: string, each: (node: Node | null, path: string) => void, options: { nonEmpty?: boolean } = {}): void {
    const node = this.resolve(raw);
    if (!isSeq(node)) {
      this.error(node ?? raw, path, 'must be a list');
      return;
    }
    if (options.nonEmpty && node.items.length === 0) this.error(node, path, 'must not be empty');
    node.items.forEach((item, i) => each(this.resolve(item as Node | null), `${path}[${i}]`));
  }

  /** A non-empty list of patterns, each checked by `problem`; `["*"]` when the key is absent. */
  private patternList(
    f: Fields,
    key: string,
    path: string,
    problem: (pattern: string) => string | undefined,
  ): string[] | undefined {
    const entry = f.get(key);
    if (!entry) return ['*'];
    const out: string[] = [];
    let ok = true;
    this.list(entry.value ?? entry.key, path, (node, itemPath) => {
      const pattern = this.string(node, itemPath);
      if (pattern === undefined) return void (ok = false);
      const why = pattern === '' ? 'must not be empty' : problem(pattern);
      if (why) {
        this.error(node, itemPath, why);
        ok = false;
      } else out.push(pattern);
    }, { nonEmpty: true });
    return ok && out.length > 0 ? out : undefined;
  }

  private string(raw: Node | Scalar | null, path: string, hint = 'quote it'): string | undefined {
    const node = this.resolve(raw);
    if (isScalar(node) && typeof node.value === 'string') return node.value;
    if (isScalar(node) && node.value !== null && typeof node.value !== 'object') {
      this.error(node, path, `must be a string, got ${typeof node.value} ${String(node.value)} (${hint})`);
    } else if (isScalar(node) && node.value === null) {
      this.error(node, path, 'must be a string, got nothing');
    } else {
      this.error(node ?? raw, path, 'must be a string');
    }
    return undefined;
  }

  private optString(f: Fields, key: string, path: string): string | undefined {
    const entry = f.get(key);
    return entry ? this.string(entry.value ?? entry.key, path) : undefined;
  }

  private stringOrList(entry: Entry | undefined, path: string): string[] | undefined {
    if (!entry) return undefined;
    const node = this.resolve(entry.value);
    if (isSeq(node)) {
      const out: string[] = [];
      let ok = true;
      this.list(node, path, (item, itemPath) => {
        const s = this.string(item, itemPath);
        if (s === undefined) ok = false;
        else if (s === '') {
          this.error(item, itemPath, 'must not be empty');
          ok = false;
        } else out.push(s);
      }, { nonEmpty: true });
      return ok && out.length > 0 ? out : undefined;
    }
    const s = this.string(node ?? entry.key, path);
    if (s === '') {
      this.error(node, path, 'must not be empty');
      return undefined;
    }
    return s === undefined ? undefined : [s];
  }

  private duration(entry: Entry | undefined, path: string, bounds: { min: number; max?: number }): number | undefined {
    if (!entry) return undefined;
    const node = this.resolve(entry.value);
    const text = isScalar(node) && (typeof node.value === 'string' || typeof node.value === 'number') ? String(node.value) : undefined;
    const ms = isScalar(node) && typeof node.value === 'string' ? parseDurationMs(node.value) : undefined;
    if (ms === undefined) {
      const bare = isScalar(node) && typeof node.value === 'number' ? ' (a bare number has no unit)' : '';
      this.error(node ?? entry.key, path, `${text === undefined ? 'must be a duration' : `"${text}" is not a duration`}: use 30s, 10m, 1h or 1d${bare}`);
      return undefined;
    }
    if (ms < bounds.min) {
      this.error(node, path, bounds.min === 0 ? 'must not be negative' : 'must be longer than 0');
      return undefined;
    }
    if (bounds.max !== undefined && ms > bounds.max) {
      this.error(node, path, `must be at most ${formatDurationMs(bounds.max)} (got ${text})`);
      return undefined;
    }
    return ms;
  }

  private integer(entry: Entry | undefined, path: string, min: number): number | undefined {
    if (!entry) return undefined;
    const node = this.resolve(entry.value);
    if (!isScalar(node) || typeof node.value !== 'number' || !Number.isSafeInteger(node.value)) {
      this.error(node ?? entry.key, path, 'must be a whole number of bytes, e.g. 65536');
      return undefined;
    }
    if (node.value < min) {
      this.error(node, path, `must be at least ${min}`);
      return undefined;
    }
    return node.value;
  }

  private enumValue<T extends string>(f: Fields, key: string, path: string, values: readonly T[]): T | undefined {
    const s = this.optString(f, key, path);
    if (s === undefined) return undefined;
    if ((values as readonly string[]).includes(s)) return s as T;
    this.error(f.get(key)!.value, path, `must be one of ${values.join(', ')} (got "${s}")`);
    return undefined;
  }

  // ---- locations ----

  private resolve(node: Node | Scalar | null | undefined): Node | null {
    if (node === null || node === undefined) return null;
    if (isAlias(node)) return (node.resolve(this.doc) as Node | undefined) ?? null;
    return node;
  }

  private offsetOf(node: Node | Scalar | null | undefined): number {
    return node?.range?.[0] ?? 0;
  }

  private lineOf(node: Node | Scalar | null): number {
    return this.lineCounter.linePos(this.offsetOf(node)).line;
  }

  private error(node: Node | Scalar | null | undefined, path: string, message: string): void {
    this.errorAt(this.offsetOf(node), path, message);
  }

  private errorAt(offset: number, path: string, message: string): void {
    const { line, col } = this.lineCounter.linePos(offset);
    this.errors.push({ file: this.file, line, column: col, path, message });
  }

  private sorted(): PolicyErrorItem[] {
    return [...this.errors].sort((a, b) => a.line - b.line || a.column - b.column);
  }
}

/** True when `sub` is pinned to exact values (Google: the audience alone proves nothing). */
function pinsSubject(conditions: readonly ClaimCondition[]): boolean {
  return conditions.some((c) => c.test === 'StringEquals' && c.qualifier === undefined && !c.ifExists && c.path.length === 1 && c.path[0] === 'sub');
}

function actionProblem(action: string): string | undefined {
  if (action === '*') return undefined;
  if (/\s/.test(action)) return 'must not contain spaces';
  const parts = action.split(':');
  if (parts.length !== 2 || parts[0] === '' || parts[1] === '') {
    return `\`${action}\` is not service:Operation (e.g. s3:GetObject, dynamodb:*, or * alone)`;
  }
  const [service, operation] = parts as [string, string];
  if (!/^[A-Za-z0-9*?-]+$/.test(service)) return `\`${service}\` is not a service prefix (e.g. s3, dynamodb, secretsmanager)`;
  if (!/^[A-Za-z0-9*?]+$/.test(operation)) return `\`${operation}\` is not an operation name (e.g. GetObject, Delete*)`;
  if (/^[a-z]/.test(operation)) {
    return `operation names are case-sensitive and start with a capital letter: did you mean \`${service}:${operation[0]!.toUpperCase()}${operation.slice(1)}\`?`;
  }
  const iamOnly = IAM_ONLY_ACTIONS[`${service.toLowerCase()}:${operation}`];
  if (iamOnly) return `\`${action}\` is an IAM permission name, not an API operation; the gateway sees ${iamOnly}`;
  return undefined;
}

function resourceProblem(resource: string): string | undefined {
  if (resource === '*') return undefined;
  if (/\s/.test(resource)) return 'must not contain spaces';
  if (!resource.startsWith('arn:')) return `\`${resource}\` is not an ARN or * (e.g. arn:aws:s3:::reports/*)`;
  if (!hasGlob(resource) && resource.split(':').length < 6) return `\`${resource}\` is not a complete ARN (arn:partition:service:region:account:resource)`;
  return undefined;
}

function httpUrlProblem(text: string, httpsUnlessLoopback: boolean): string | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return `"${text}" is not a URL`;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return `"${text}" must be an http(s) URL`;
  if (url.username || url.password) return 'must not contain credentials';
  if (httpsUnlessLoopback && url.protocol === 'http:' && !['localhost', '127.0.0.1', '[::1]'].includes(url.hostname)) {
    return `"${text}" must use https (http is only accepted for localhost)`;
  }
  return undefined;
}
