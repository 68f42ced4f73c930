// IAM's vocabulary, from iam-actions.generated.json (scripts/generate-iam-table.mjs): which actions exist, their
// access levels, which ARN shapes each service defines. Pure lookups; the table is read once, lazily, with fs
// rather than a JSON import so the type checker never infers a type for the literal data.
import { readFileSync } from 'node:fs';
import { nearest } from '../lib/suggest.js';

export type AccessLevel = 'List' | 'Read' | 'Write' | 'Permissions management' | 'Tagging';
export const ACCESS_LEVELS: readonly AccessLevel[] = ['List', 'Read', 'Write', 'Permissions management', 'Tagging'];

export interface IamActionInfo {
  /** Canonical `prefix:Name`, e.g. `s3:ListBucket`. */
  action: string;
  service: string;
  /** AWS's levels: one, or two for the few actions it lists as e.g. "Tagging, Write". */
  accessLevels: AccessLevel[];
}

interface RawTable {
  _source: string;
  services: Record<string, { name: string; actions: Partial<Record<AccessLevel, string[]>>; arns: string[] }>;
}

interface ArnFormat {
  region: string;
  account: string;
  /** The resource part up to its first `${…}` placeholder (`table/`, `secret:`, `` for S3 buckets). */
  resourcePrefix: string;
  /** As AWS writes it, for messages: `arn:${Partition}:s3:::${BucketName}/${ObjectName}`. */
  text: string;
}

interface IamTable {
  source: string;
  /** lower-cased `prefix:name` → info. */
  actions: Map<string, IamActionInfo>;
  /** lower-cased prefix → canonical action names of that service. */
  byService: Map<string, string[]>;
  /** The service field of ARNs (`s3`, `s3-object-lambda`, `iam`…) → its formats. */
  arnServices: Map<string, ArnFormat[]>;
  /** IAM prefix → the ARN service names its resource types use. */
  arnServicesOf: Map<string, Set<string>>;
}

let table: IamTable | undefined;

function load(): IamTable {
  if (table) return table;
  const raw = JSON.parse(readFileSync(new URL('./iam-actions.generated.json', import.meta.url), 'utf8')) as RawTable;
  const actions = new Map<string, IamActionInfo>();
  const byService = new Map<string, string[]>();
  const arnServices = new Map<string, ArnFormat[]>();
  const arnServicesOf = new Map<string, Set<string>>();
  for (const [prefix, svc] of Object.entries(raw.services)) {
    const names: string[] = [];
    for (const level of ACCESS_LEVELS) {
      for (const name of svc.actions[level] ?? []) {
        const key = `${prefix}:${name}`.toLowerCase();
        const known = actions.get(key);
        if (known) known.accessLevels.push(level);
        else {
          actions.set(key, { action: `${prefix}:${name}`, service: prefix, accessLevels: [level] });
          names.push(name);
        }
      }
    }
    byService.set(prefix, names);
    const own = new Set<string>();
    for (const text of svc.arns) {
      const parts = text.split(':');
      const service = parts[2] ?? '';
      const resource = parts.slice(5).join(':');
      const placeholder = resource.indexOf('${');
      const format: ArnFormat = { region: parts[3] ?? '', account: parts[4] ?? '', resourcePrefix: placeholder < 0 ? resource : resource.slice(0, placeholder), text };
      arnServices.set(service, [...(arnServices.get(service) ?? []), format]);
      own.add(service);
    }
    arnServicesOf.set(prefix, own);
  }
  table = { source: raw._source, actions, byService, arnServices, arnServicesOf };
  return table;
}

/** Where the table came from (package and version). */
export function iamTableSource(): string {
  return load().source;
}

/** Canonical name and access levels of an IAM action, case-insensitively; undefined if AWS defines no such action. */
export function iamActionInfo(name: string): IamActionInfo | undefined {
  return load().actions.get(name.toLowerCase());
}

export function isKnownIamAction(name: string): boolean {
  return load().actions.has(name.toLowerCase());
}

export function isKnownIamService(prefix: string): boolean {
  return load().byService.has(prefix.toLowerCase());
}

/** Every IAM service prefix. */
export function iamServicePrefixes(): string[] {
  return [...load().byService.keys()];
}

/** Canonical action names (`prefix:Name`) of one service; empty for an unknown prefix. */
export function iamActionsOfService(prefix: string): string[] {
  const p = prefix.toLowerCase();
  return (load().byService.get(p) ?? []).map((n) => `${p}:${n}`);
}

/** The ARN service names a prefix's resources use (`s3` → s3, s3-object-lambda); undefined for an unknown prefix. */
export function arnServicesOfPrefix(prefix: string): ReadonlySet<string> | undefined {
  return load().arnServicesOf.get(prefix.toLowerCase());
}

/** Near misses for a mistyped service prefix, best first. */
export function suggestIamServices(prefix: string, max = 1): string[] {
  return nearest(prefix, load().byService.keys(), max);
}

/** Near misses for a mistyped action (`dynamodb:DeleteTabel` → dynamodb:DeleteTable), best first. */
export function suggestIamActions(name: string, max = 1): string[] {
  const colon = name.indexOf(':');
  if (colon < 0) return [];
  const prefix = name.slice(0, colon).toLowerCase();
  const op = name.slice(colon + 1);
  const services = isKnownIamService(prefix) ? [prefix] : suggestIamServices(prefix, 2);
  const out: string[] = [];
  for (const service of services) {
    const names = load().byService.get(service) ?? [];
    for (const n of nearest(op, names, max)) out.push(`${service}:${n}`);
  }
  return out.slice(0, max);
}

const PARTITIONS = ['aws', 'aws-cn', 'aws-us-gov', 'aws-iso', 'aws-iso-b', 'aws-iso-e', 'aws-iso-f', 'aws-eusc'];

/**
 * What is wrong with a policy's resource ARN pattern, or undefined. Only the parts without globs are checked: a
 * glob may stand for anything. Checks the `arn:partition:service:region:account:resource` shape, that the service
 * defines ARNs, and that some ARN format of that service fits the region, account and resource parts.
 */
export function arnProblem(arn: string): string | undefined {
  const fields = arn.split(':');
  const globAt = fields.findIndex((f) => f.includes('*') || f.includes('?'));
  const literal = (i: number): boolean => globAt < 0 || i < globAt;
  if (fields.length < 6) {
    // A glob that can still stand for the missing `:…` fields is fine (`arn:aws:s3:::*` has all six; `arn:*` too).
    const lastLiteralPart = globAt < 0 ? undefined : fields[globAt]!.split(/[*?]/)[0]!;
    if (globAt < 0 || (globAt < 5 && lastLiteralPart!.includes('/'))) {
      return `\`${arn}\` has too few fields: an ARN is arn:partition:service:region:account:resource (e.g. arn:aws:s3:::reports/*)`;
    }
  }
  const [, partition, service, region, account] = fields as [string, string, string, string | undefined, string | undefined];
  if (literal(1) && !PARTITIONS.includes(partition)) return `\`${partition}\` is not an AWS partition (aws, aws-cn, aws-us-gov…)`;
  if (!literal(2)) return undefined;
  const formats = load().arnServices.get(service);
  if (!formats) {
    const near = nearest(service, load().arnServices.keys());
    return `\`${service}\` is not a service in ARNs${near.length ? ` (did you mean ${near[0]}?)` : ''}`;
  }
  if (literal(3) && region !== undefined && region !== '' && !/^[a-z]{2}(-[a-z]+)+-\d+$/.test(region)) return `\`${region}\` is not a region (e.g. us-east-1, or empty)`;
  if (literal(4) && account !== undefined && account !== '' && !/^(\d{12}|aws)$/.test(account)) return `\`${account}\` is not an account id (12 digits, or empty)`;
  const resource = fields.slice(5).join(':');
  const resourceLiteral = globAt < 0 ? resource : globAt < 5 ? undefined : resource.split(/[*?]/)[0]!;
  const fits = formats.some((f) => {
    if (literal(3) && region !== undefined && (region === '') !== (f.region === '')) return false;
    if (literal(4) && account !== undefined && (account === '') !== (f.account === '')) return false;
    if (resourceLiteral === undefined) return true;
    // Either the literal text runs past the format's fixed prefix, or it stops inside it (before a glob).
    return resourceLiteral.startsWith(f.resourcePrefix) || (globAt >= 0 && f.resourcePrefix.startsWith(resourceLiteral));
  });
  if (fits) return undefined;
  const examples = formats.slice(0, 3).map((f) => f.text.replace('${Partition}', 'aws'));
  const s3Hint = service === 's3' && (region || account) ? ' (S3 bucket and object ARNs have empty region and account: arn:aws:s3:::bucket/key)' : '';
  return `\`${arn}\` does not fit any ${service} ARN format${s3Hint || `, e.g. ${examples.join(', ')}`}`;
}
