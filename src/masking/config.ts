// The masking section of the policy, as the masker reads it after validation. Masking owns these
// types; config/ imports them (never the reverse).

export type DetectorName =
  | 'aws_access_key_id'
  | 'aws_secret_access_key'
  | 'private_key'
  | 'jwt'
  | 'email'
  | 'credit_card';

export interface MaskingConfig {
  /** Field names or dotted paths (`SecretString`, `Credentials.SecretAccessKey`). */
  fields: string[];
  detectors: DetectorName[];
  patterns: { name: string; regex: string }[];
  /** Bodies longer than this (after decoding) are not inspected. */
  maxBodyBytes: number;
}
