// Resource ARNs derived from an identified call. Pure. An empty list means "not derivable" (the caller uses `*`).
// When a call names several resources (BatchWriteItem, CopyObject…) all are returned and a policy must allow every
// one of them: a deny or a missing allow on any entry decides the call.

import { parseCopySource, readsCopySource } from './s3-wire.js';
import { header, type HeaderInput } from './wire.js';

export interface ResourceContext {
  /** Generated-table service id (`s3`, `dynamodb`, `secretsmanager`…). */
  serviceId: string;
  iamPrefix: string;
  operation: string;
  region: string;
  accountId?: string;
  /** Parsed JSON body / query form params / REST uri labels + query params. */
  params: Record<string, unknown>;
  /** REST uri labels, decoded, by label name. */
  labels: Record<string, string>;
  headers: HeaderInput;
  /** Required top-level input members of the operation (from the model). */
  required: string[];
  bucket?: string;
  key?: string;
}

/** `aws`, `aws-cn`, `aws-us-gov`, `aws-iso`, `aws-iso-b` from the region name. */
export function partitionFor(region: string): string {
  if (region.startsWith('cn-')) return 'aws-cn';
  if (region.startsWith('us-gov-')) return 'aws-us-gov';
  if (region.startsWith('us-isob-')) return 'aws-iso-b';
  if (region.startsWith('us-iso-')) return 'aws-iso';
  return 'aws';
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function isArn(value: string): boolean {
  return value.startsWith('arn:');
}

/** Query-protocol lists arrive flattened: `Names.member.1`, `Names.member.2`… */
function listParam(params: Record<string, unknown>, name: string): string[] {
  const direct = params[name];
  if (Array.isArray(direct)) return direct.filter((v): v is string => typeof v === 'string' && v !== '');
  const out: string[] = [];
  for (let i = 1; ; i++) {
    const v = str(params[`${name}.member.${i}`]);
    if (v === undefined) break;
    out.push(v);
  }
  return out;
}

function unique(list: string[]): string[] {
  return [...new Set(list)];
}

export function deriveResources(ctx: ResourceContext): string[] {
  const partition = partitionFor(ctx.region);
  const account = ctx.accountId ?? '*';
  const arn = (service: string, resource: string, region = ctx.region, acct = account): string =>
    `arn:${partition}:${service}:${region}:${acct}:${resource}`;
  const p = ctx.params;

  switch (ctx.serviceId) {
    case 's3':
      return s3Resources(ctx, partition);
    case 'dynamodb':
      return unique(dynamodbTables(ctx.operation, p).map((t) => (isArn(t) ? t : arn('dynamodb', t))));
    case 'secretsmanager': {
      const ids = [str(p['SecretId']), str(p['Name']), ...listParam(p, 'SecretIdList')].filter((v): v is string => !!v);
      return unique(ids.map((id) => (isArn(id) ? id : arn('secretsmanager', `secret:${id}`))));
    }
    case 'ssm': {
      const names = [str(p['Name']), ...listParam(p, 'Names')].filter((v): v is string => !!v);
      const path = str(p['Path']);
      if (path !== undefined) names.push(path);
      if (names.length > 0) return unique(names.map((n) => ssmParameterArn(n, arn)));
      break;
    }
    case 'kms': {
      const ids = [str(p['KeyId']), str(p['AliasName']), str(p['TargetKeyId']), str(p['SourceKeyId']), str(p['DestinationKeyId'])];
      const list = ids.filter((v): v is string => !!v).map((id) => kmsKeyArn(id, arn));
      if (list.length > 0) return unique(list);
      break;
    }
    case 'lambda': {
      const name = ctx.labels['FunctionName'] ?? str(p['FunctionName']);
      if (name !== undefined) return [lambdaFunctionArn(name, str(p['Qualifier']), ctx.region, partition, account)];
      break;
    }
    case 'sqs': {
      const url = str(p['QueueUrl']);
      if (url !== undefined) {
        const fromUrl = sqsQueueArnFromUrl(url, ctx.region, partition);
        return fromUrl ? [fromUrl] : [];
      }
      const name = str(p['QueueName']);
      if (name !== undefined) return [arn('sqs', name, ctx.region, str(p['QueueOwnerAWSAccountId']) ?? account)];
      break;
    }
    case 'sns': {
      const list = [str(p['TopicArn']), str(p['TargetArn'])].filter((v): v is string => !!v && isArn(v));
      if (list.length > 0) return unique(list);
      const name = str(p['Name']);
      if (ctx.operation === 'CreateTopic' && name !== undefined) return [arn('sns', name)];
      break;
    }
    default:
      break;
  }
  return genericArns(ctx);
}

// Required top-level inputs or uri labels named *Arn/*ARN that carry an ARN (sts:AssumeRole's RoleArn,
// TagResource's ResourceArn…). Only required ones: an optional ARN is rarely the resource acted on.
function genericArns(ctx: ResourceContext): string[] {
  const out: string[] = [];
  for (const member of ctx.required) {
    if (!/(Arn|ARN)$/.test(member)) continue;
    const v = str(ctx.params[member]) ?? ctx.labels[member];
    if (v !== undefined && isArn(v)) out.push(v);
  }
  return unique(out);
}

// --- S3 ---------------------------------------------------------------------------------------------------------

function s3Resources(ctx: ResourceContext, partition: string): string[] {
  if (ctx.bucket === undefined) return [];
  const target = ctx.key !== undefined ? `arn:${partition}:s3:::${ctx.bucket}/${ctx.key}` : `arn:${partition}:s3:::${ctx.bucket}`;
  const out = [target];
  if (readsCopySource(ctx.operation)) {
    // Destination first, source second. An unreadable source becomes `*`, which only a rule for every resource
    // allows; the pipeline refuses such requests before deciding anyway (requestAmbiguity).
    const value = header(ctx.headers, 'x-amz-copy-source');
    const reading = value === undefined ? undefined : parseCopySource(value, partition);
    out.push(reading?.ok === true ? reading.source.arn : '*');
  }
  return unique(out);
}

// --- DynamoDB ---------------------------------------------------------------------------------------------------

function dynamodbTables(operation: string, p: Record<string, unknown>): string[] {
  const tables: string[] = [];
  const name = str(p['TableName']);
  if (name !== undefined) {
    const index = str(p['IndexName']);
    // IAM authorises Query/Scan on an index against the index ARN.
    tables.push(index !== undefined && (operation === 'Query' || operation === 'Scan') ? `${tableResource(name)}/index/${index}` : name);
  }
  const requestItems = p['RequestItems'];
  if (requestItems !== null && typeof requestItems === 'object' && !Array.isArray(requestItems)) {
    tables.push(...Object.keys(requestItems));
  }
  const items = p['TransactItems'];
  if (Array.isArray(items)) {
    for (const item of items) {
      if (item === null || typeof item !== 'object') continue;
      for (const action of Object.values(item as Record<string, unknown>)) {
        if (action !== null && typeof action === 'object') {
          const t = str((action as Record<string, unknown>)['TableName']);
          if (t !== undefined) tables.push(t);
        }
      }
    }
  }
  const arnKeys = ['ResourceArn', 'StreamArn', 'BackupArn', 'TableArn', 'ExportArn'];
  for (const k of arnKeys) {
    const v = str(p[k]);
    if (v !== undefined && isArn(v)) tables.push(v);
  }
  return tables.map(tableResource);
}

function tableResource(name: string): string {
  return isArn(name) || name.startsWith('table/') ? name : `table/${name}`;
}

// --- SSM --------------------------------------------------------------------------------------------------------

// `/app/db:3` and `app/db:label` select a version; IAM authorises the parameter itself.
function ssmParameterArn(name: string, arn: (s: string, r: string) => string): string {
  if (isArn(name)) {
    const i = name.indexOf(':parameter/');
    if (i === -1) return name;
    const rest = name.slice(i + ':parameter/'.length);
    const colon = rest.indexOf(':');
    return colon === -1 ? name : name.slice(0, i + ':parameter/'.length + colon);
  }
  const colon = name.indexOf(':');
  const bare = colon === -1 ? name : name.slice(0, colon);
  return arn('ssm', `parameter/${bare.replace(/^\/+/, '')}`);
}

// --- KMS --------------------------------------------------------------------------------------------------------

function kmsKeyArn(id: string, arn: (s: string, r: string) => string): string {
  if (isArn(id)) return id;
  if (id.startsWith('alias/')) return arn('kms', id);
  return arn('kms', `key/${id}`);
}

// --- Lambda -----------------------------------------------------------------------------------------------------

/**
 * FunctionName may be `name`, `name:qualifier`, `account:function:name[:qualifier]` or a full ARN; a `Qualifier`
 * query parameter adds the version/alias.
 */
export function lambdaFunctionArn(
  functionName: string,
  qualifier: string | undefined,
  region: string,
  partition: string,
  account: string,
): string {
  let base: string;
  if (isArn(functionName)) base = functionName;
  else {
    const parts = functionName.split(':');
    if (parts.length >= 3 && parts[1] === 'function') {
      base = `arn:${partition}:lambda:${region}:${parts[0]}:function:${parts.slice(2).join(':')}`;
    } else {
      base = `arn:${partition}:lambda:${region}:${account}:function:${functionName}`;
    }
  }
  // A qualifier already in the name (function:name:qual) wins over the query parameter, as Lambda requires them equal.
  const fnPart = base.slice(base.indexOf(':function:') + ':function:'.length);
  if (qualifier !== undefined && !fnPart.includes(':')) base = `${base}:${qualifier}`;
  return base;
}

// --- SQS --------------------------------------------------------------------------------------------------------

/** `https://sqs.us-east-1.amazonaws.com/123456789012/orders` (or a local `http://host:port/000000000000/q`). */
export function sqsQueueArnFromUrl(url: string, region: string, partition: string): string | undefined {
  let path: string;
  try {
    path = new URL(url).pathname;
  } catch {
    return undefined;
  }
  const parts = path.split('/').filter((s) => s !== '');
  if (parts.length < 2) return undefined;
  const account = parts[parts.length - 2] as string;
  const name = parts[parts.length - 1] as string;
  return `arn:${partition}:sqs:${region}:${account}:${name}`;
}
