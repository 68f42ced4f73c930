// Constants the policy validators share (and the rest of the gateway reads: detector names, the local issuer).
import { PRESET_PARAMETERS } from '../../identity/presets.js';
import type { DetectorName, Effect, IssuerPresetName } from '../types.js';

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

export const MAX_SESSION_TTL_MS = 12 * 3_600_000;
export const MAX_CLOCK_SKEW_MS = 5 * 60_000;
export const MAX_TOKEN_LIFETIME_LIMIT_MS = 366 * 86_400_000;
export const ISSUER_KEYS = ['name', 'preset', 'issuer', 'audience', 'jwks_uri', 'algorithms', 'clock_skew', 'max_token_lifetime', ...new Set(Object.values(PRESET_PARAMETERS).flatMap((p) => [...p.required, ...p.optional]))].filter(
  (key, i, all) => all.indexOf(key) === i,
);
/** Preset-only keys → the presets that read them (`issuer` and `jwks_uri` are also plain-issuer keys). */
export const PRESET_KEY_OWNERS = new Map<string, IssuerPresetName[]>();
for (const name of Object.keys(PRESET_PARAMETERS) as IssuerPresetName[]) {
  for (const key of [...PRESET_PARAMETERS[name].required, ...PRESET_PARAMETERS[name].optional]) {
    if (key === 'jwks_uri') continue;
    PRESET_KEY_OWNERS.set(key, [...(PRESET_KEY_OWNERS.get(key) ?? []), name]);
  }
}

// Sample AWS hosts: a passthrough glob matching any of them would let AWS calls skip the policy.
export const AWS_HOST_SAMPLES = [
  'sts.amazonaws.com',
  's3.amazonaws.com',
  'reports.s3.amazonaws.com',
  's3.us-east-1.amazonaws.com',
  'dynamodb.us-east-1.amazonaws.com',
  'secretsmanager.eu-west-1.amazonaws.com',
  'sts.cn-north-1.amazonaws.com.cn',
  'lambda.us-gov-west-1.amazonaws.com',
];
