// Expands an identified call into every (IAM action, resource) pair AWS would authorize: DeleteObjects is
// s3:DeleteObject on each key, CopyObject reads its source and writes its destination, a DynamoDB batch or
// PartiQL statement needs the item actions on each table, a call that passes a role needs iam:PassRole on it.
// Pure: data in, data out. A resource that cannot be derived is `*`, which only a rule naming `*` allows.
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import type { CallInfo } from './identify.js';
import { OPERATION_ACTIONS, PASSED_ROLE_PARAMS, S3_VERSIONED_ACTIONS } from './operation-actions.js';
import { partitionFor } from './resources.js';

export { iamActionInfo, isKnownIamAction, suggestIamActions } from './iam.js';

export interface AuthorizationPair {
  /** Canonical IAM action, e.g. `s3:DeleteObject`. */
  action: string;
  /** Resource ARN, or `*` when it cannot be derived. */
  resource: string;
}

export interface AuthorizeOptions {
  /** The account of the role the call runs as; bare names (tables, roles) become ARNs in it. Default `*`. */
  accountId?: string;
  /** Request headers: S3 copy calls read `x-amz-copy-source` for a source versionId. */
  headers?: Record<string, string | string[] | undefined>;
}

/** The IAM actions an API operation is authorized as, before looking at its parameters. */
export function iamActionsForOperation(service: string, operation: string): string[] {
  const mapped = OPERATION_ACTIONS[`${service}:${operation}`];
  const actions = mapped ? [...mapped] : [`${service}:${operation}`];
  const roleParams = PASSED_ROLE_PARAMS[`${service}:${operation}`];
  if (roleParams) actions.push('iam:PassRole');
  return actions;
}

/**
 * Whether expansion reads the request body that identification does not buffer (REST calls): S3 DeleteObjects'
 * XML list of keys, Lambda's JSON naming the execution role. Without it those calls expand to resource `*`.
 */
export function bodyNeededForAuthorization(call: Pick<CallInfo, 'service' | 'operation'>): boolean {
  const key = `${call.service}:${call.operation}`;
  return key === 's3:DeleteObjects' || key === 'lambda:CreateFunction' || key === 'lambda:UpdateFunctionConfiguration';
}

export function authorizationPairs(call: CallInfo, body?: Buffer, options: AuthorizeOptions = {}): AuthorizationPair[] {
  const ctx: Context = {
    call,
    params: call.params ?? {},
    partition: partitionFor(call.region),
    account: options.accountId ?? '*',
    headers: options.headers ?? {},
    ...(body !== undefined ? { body } : {}),
  };
  const key = `${call.service}:${call.operation}`;
  const special = EXPANDERS[key];
  const pairs = special ? special(ctx) : generic(ctx);
  const roles = PASSED_ROLE_PARAMS[key];
  if (roles) pairs.push(...passRole(ctx, roles));
  if (call.service === 's3') pairs.push(...s3HeaderActions(ctx));
  return unique(pairs);
}

/** S3 writes whose headers set more than the object: each needs its own action on the written resource. */
const S3_OBJECT_WRITES = new Set(['PutObject', 'CopyObject', 'CreateMultipartUpload']);

function s3HeaderActions(ctx: Context): AuthorizationPair[] {
  const { call, headers } = ctx;
  const names = Object.keys(headers).map((name) => name.toLowerCase());
  const target = call.resources[0] ?? '*';
  const actions: string[] = [];
  if (S3_OBJECT_WRITES.has(call.operation)) {
    if (names.some((n) => n === 'x-amz-acl' || n.startsWith('x-amz-grant-'))) actions.push('s3:PutObjectAcl');
    if (names.includes('x-amz-tagging')) actions.push('s3:PutObjectTagging');
    if (names.includes('x-amz-object-lock-mode') || names.includes('x-amz-object-lock-retain-until-date')) actions.push('s3:PutObjectRetention');
    if (names.includes('x-amz-object-lock-legal-hold')) actions.push('s3:PutObjectLegalHold');
  } else if (call.operation === 'CreateBucket') {
    if (names.some((n) => n === 'x-amz-acl' || n.startsWith('x-amz-grant-'))) actions.push('s3:PutBucketAcl');
    if (names.includes('x-amz-bucket-object-lock-enabled')) actions.push('s3:PutBucketObjectLockConfiguration', 's3:PutBucketVersioning');
  }
  return cross(actions, [target]);
}

interface Context {
  call: CallInfo;
  params: Record<string, unknown>;
  partition: string;
  account: string;
  headers: Record<string, string | string[] | undefined>;
  body?: Buffer;
}

type Expander = (ctx: Context) => AuthorizationPair[];

const EXPANDERS: Record<string, Expander> = {
  's3:DeleteObjects': s3DeleteObjects,
  's3:CopyObject': s3Copy,
  's3:UploadPartCopy': s3Copy,
  'dynamodb:BatchWriteItem': (ctx) => [...tablePairs(ctx, ['dynamodb:BatchWriteItem']), ...dynamoBatchWrite(ctx)],
  'dynamodb:BatchGetItem': (ctx) => [...tablePairs(ctx, ['dynamodb:BatchGetItem']), ...dynamoPerTable(ctx, 'RequestItems', 'dynamodb:GetItem')],
  'dynamodb:TransactWriteItems': dynamoTransact,
  'dynamodb:TransactGetItems': dynamoTransact,
  'dynamodb:ExecuteStatement': (ctx) => partiql(ctx, [str(ctx.params['Statement'])]),
  'dynamodb:BatchExecuteStatement': (ctx) => partiql(ctx, statements(ctx.params['Statements'])),
  'dynamodb:ExecuteTransaction': (ctx) => partiql(ctx, statements(ctx.params['TransactStatements'])),
  'secretsmanager:BatchGetSecretValue': secretsBatchGet,
};

/** The mapped actions on each of the call's resources; S3 object actions become their *Version form with a versionId. */
function generic(ctx: Context): AuthorizationPair[] {
  const { call } = ctx;
  const mapped = OPERATION_ACTIONS[`${call.service}:${call.operation}`];
  let actions = mapped ? [...mapped] : [call.action];
  if (call.service === 's3' && str(ctx.params['versionId']) !== undefined) actions = actions.map((a) => S3_VERSIONED_ACTIONS[a] ?? a);
  return cross(actions, call.resources);
}

// --- S3 ---------------------------------------------------------------------------------------------------------

const xml = new XMLParser({ isArray: (name) => name === 'Object', parseTagValue: false, trimValues: false, ignoreAttributes: true, htmlEntities: false });

function s3DeleteObjects(ctx: Context): AuthorizationPair[] {
  const bucket = ctx.call.bucket;
  const objects = bucket !== undefined && ctx.body !== undefined ? deleteList(ctx.body) : undefined;
  // Without the list, any key (and any version) may be deleted.
  if (!objects || objects.length === 0) return cross(['s3:DeleteObject', 's3:DeleteObjectVersion'], ['*']);
  return objects.map((o) => ({
    action: o.versionId !== undefined ? 's3:DeleteObjectVersion' : 's3:DeleteObject',
    resource: `arn:${ctx.partition}:s3:::${bucket}/${o.key}`,
  }));
}

function deleteList(body: Buffer): { key: string; versionId?: string }[] | undefined {
  const text = body.toString('utf8');
  // The parser is lenient with truncated documents; a list we cannot read in full names no keys.
  if (XMLValidator.validate(text) !== true) return undefined;
  let doc: unknown;
  try {
    doc = xml.parse(text);
  } catch {
    return undefined;
  }
  const list = record(record(doc)?.['Delete'])?.['Object'];
  if (!Array.isArray(list)) return undefined;
  const out: { key: string; versionId?: string }[] = [];
  for (const item of list) {
    const key = record(item)?.['Key'];
    if (typeof key !== 'string' || key === '') return undefined;
    const versionId = str(record(item)?.['VersionId']);
    out.push(versionId !== undefined ? { key, versionId } : { key });
  }
  return out;
}

function s3Copy(ctx: Context): AuthorizationPair[] {
  const [destination = '*', source = '*'] = ctx.call.resources;
  const copySource = header(ctx.headers, 'x-amz-copy-source') ?? '';
  const versioned = /[?&]versionId=[^&]/.test(copySource);
  return [
    { action: versioned ? 's3:GetObjectVersion' : 's3:GetObject', resource: source },
    { action: 's3:PutObject', resource: destination },
  ];
}

// --- DynamoDB ---------------------------------------------------------------------------------------------------

function tableArn(ctx: Context, name: string): string {
  return name.startsWith('arn:') ? name : `arn:${ctx.partition}:dynamodb:${ctx.call.region}:${ctx.account}:table/${name}`;
}

/** `actions` on each of the call's resources (the tables identification found). */
function tablePairs(ctx: Context, actions: string[]): AuthorizationPair[] {
  return cross(actions, ctx.call.resources);
}

function dynamoBatchWrite(ctx: Context): AuthorizationPair[] {
  const items = record(ctx.params['RequestItems']);
  if (!items) return cross(['dynamodb:PutItem', 'dynamodb:DeleteItem'], ['*']);
  const out: AuthorizationPair[] = [];
  for (const [table, requests] of Object.entries(items)) {
    const resource = tableArn(ctx, table);
    const list = Array.isArray(requests) ? requests : [];
    const kinds = new Set(list.flatMap((r) => Object.keys(record(r) ?? {})));
    if (kinds.has('PutRequest')) out.push({ action: 'dynamodb:PutItem', resource });
    if (kinds.has('DeleteRequest')) out.push({ action: 'dynamodb:DeleteItem', resource });
    // A request of a kind we cannot read is checked as both.
    if ([...kinds].some((k) => k !== 'PutRequest' && k !== 'DeleteRequest') || list.length === 0) {
      out.push({ action: 'dynamodb:PutItem', resource }, { action: 'dynamodb:DeleteItem', resource });
    }
  }
  return out;
}

function dynamoPerTable(ctx: Context, member: string, action: string): AuthorizationPair[] {
  const items = record(ctx.params[member]);
  if (!items) return [{ action, resource: '*' }];
  return Object.keys(items).map((table) => ({ action, resource: tableArn(ctx, table) }));
}

const TRANSACT_ACTIONS: Record<string, string> = {
  Put: 'dynamodb:PutItem',
  Update: 'dynamodb:UpdateItem',
  Delete: 'dynamodb:DeleteItem',
  ConditionCheck: 'dynamodb:ConditionCheckItem',
  Get: 'dynamodb:GetItem',
};

function dynamoTransact(ctx: Context): AuthorizationPair[] {
  const items = ctx.params['TransactItems'];
  const reading = ctx.call.operation === 'TransactGetItems';
  if (!Array.isArray(items)) return reading ? [{ action: 'dynamodb:GetItem', resource: '*' }] : cross(['dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem', 'dynamodb:ConditionCheckItem'], ['*']);
  const out: AuthorizationPair[] = [];
  for (const item of items) {
    for (const [kind, spec] of Object.entries(record(item) ?? {})) {
      const table = str(record(spec)?.['TableName']);
      out.push({ action: TRANSACT_ACTIONS[kind] ?? (reading ? 'dynamodb:GetItem' : 'dynamodb:PutItem'), resource: table !== undefined ? tableArn(ctx, table) : '*' });
    }
  }
  return out;
}

const PARTIQL_ACTIONS = ['dynamodb:PartiQLSelect', 'dynamodb:PartiQLInsert', 'dynamodb:PartiQLUpdate', 'dynamodb:PartiQLDelete'];
const PARTIQL_VERB: Record<string, string> = {
  SELECT: 'dynamodb:PartiQLSelect',
  EXISTS: 'dynamodb:PartiQLSelect',
  INSERT: 'dynamodb:PartiQLInsert',
  UPDATE: 'dynamodb:PartiQLUpdate',
  DELETE: 'dynamodb:PartiQLDelete',
};
// A table name: "double-quoted" (quotes doubled inside) or a bare identifier; optionally `.index` the same way.
const NAME = String.raw`(?:"((?:[^"]|"")+)"|([A-Za-z_][\w.-]*?))`;
const TARGET = new RegExp(String.raw`^\s*(?:SELECT\b[\s\S]*?\bFROM|INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+${NAME}(?:\s*\.\s*${NAME})?(?=\s|$|;|\()`, 'i');

function statements(list: unknown): (string | undefined)[] {
  if (!Array.isArray(list)) return [undefined];
  return list.map((s) => str(record(s)?.['Statement']));
}

function partiql(ctx: Context, list: (string | undefined)[]): AuthorizationPair[] {
  const out: AuthorizationPair[] = [];
  for (const statement of list.length > 0 ? list : [undefined]) {
    const verb = statement?.trim().match(/^[A-Za-z]+/)?.[0].toUpperCase();
    const action = verb !== undefined ? PARTIQL_VERB[verb] : undefined;
    const target = statement !== undefined ? TARGET.exec(statement) : null;
    let resource = '*';
    if (target) {
      const table = (target[1]?.replace(/""/g, '"') ?? target[2])!;
      const index = target[3]?.replace(/""/g, '"') ?? target[4];
      resource = index !== undefined ? `${tableArn(ctx, table)}/index/${index}` : tableArn(ctx, table);
    }
    if (action) out.push({ action, resource });
    else out.push(...cross(PARTIQL_ACTIONS, [resource]));
  }
  return out;
}

// --- Secrets Manager --------------------------------------------------------------------------------------------

function secretsBatchGet(ctx: Context): AuthorizationPair[] {
  // AWS checks BatchGetSecretValue itself on `*`, then GetSecretValue on every secret returned.
  const out: AuthorizationPair[] = [{ action: 'secretsmanager:BatchGetSecretValue', resource: '*' }];
  const ids = ctx.params['SecretIdList'];
  if (ctx.params['Filters'] !== undefined || !Array.isArray(ids) || ids.length === 0) {
    out.push({ action: 'secretsmanager:GetSecretValue', resource: '*' });
    return out;
  }
  for (const id of ids) {
    const name = str(id);
    const resource = name === undefined ? '*' : name.startsWith('arn:') ? name : `arn:${ctx.partition}:secretsmanager:${ctx.call.region}:${ctx.account}:secret:${name}`;
    out.push({ action: 'secretsmanager:GetSecretValue', resource });
  }
  return out;
}

// --- iam:PassRole -----------------------------------------------------------------------------------------------

function passRole(ctx: Context, paths: readonly string[]): AuthorizationPair[] {
  let params = ctx.params;
  if (ctx.call.protocol === 'rest-json') {
    // REST-JSON bodies (Lambda) are not part of the identified params: read the buffered body, or assume any role.
    const parsed = ctx.body !== undefined ? parseJson(ctx.body) : undefined;
    if (!parsed) return [{ action: 'iam:PassRole', resource: '*' }];
    params = { ...parsed, ...params };
  }
  const out: AuthorizationPair[] = [];
  for (const path of paths) {
    for (const value of valuesAt(params, path)) {
      out.push({ action: 'iam:PassRole', resource: roleArn(ctx, value) });
    }
  }
  return out;
}

/** A role ARN as given, or built from a bare name; an instance profile or anything else names no role: `*`. */
function roleArn(ctx: Context, value: unknown): string {
  const v = str(value);
  if (v === undefined) return '*';
  if (v.startsWith('arn:')) return /^arn:[\w-]+:iam::[^:]*:role\//.test(v) ? v : '*';
  if (/^[\w+=,.@/-]+$/.test(v)) return `arn:${ctx.partition}:iam::${ctx.account}:role/${v}`;
  return '*';
}

/**
 * Values at a dotted path (`JobUpdate.Role`, `Targets[].RoleArn`). Query-protocol params arrive flattened
 * (`IamInstanceProfile.Arn`, `Targets.member.1.RoleArn`): any key with the path's first segment as prefix counts,
 * and a structure (EC2's IamInstanceProfile) yields itself, which names no role.
 */
function valuesAt(params: Record<string, unknown>, path: string): unknown[] {
  const segments = path.split('.');
  let current: unknown[] = [params];
  for (const segment of segments) {
    const list = segment.endsWith('[]');
    const name = list ? segment.slice(0, -2) : segment;
    const next: unknown[] = [];
    for (const c of current) {
      const v = record(c)?.[name];
      if (v === undefined) continue;
      if (list && Array.isArray(v)) next.push(...v);
      else next.push(v);
    }
    current = next;
  }
  const first = segments[0]!.replace(/\[\]$/, '');
  const flattened = Object.keys(params).filter((k) => k.startsWith(`${first}.`));
  if (current.length === 0 && flattened.length > 0) {
    const exact = Object.keys(params).filter((k) => k.replace(/\.member\.\d+/g, '').replace(/\.\d+/g, '') === path.replace(/\[\]/g, ''));
    return exact.length > 0 ? exact.map((k) => params[k]) : [{}];
  }
  return current;
}

// --- helpers ----------------------------------------------------------------------------------------------------

function cross(actions: readonly string[], resources: readonly string[]): AuthorizationPair[] {
  const out: AuthorizationPair[] = [];
  for (const action of actions) for (const resource of resources.length > 0 ? resources : ['*']) out.push({ action, resource });
  return out;
}

function unique(pairs: AuthorizationPair[]): AuthorizationPair[] {
  const seen = new Set<string>();
  return pairs.filter((p) => {
    const key = `${p.action}\u0000${p.resource}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

function record(value: unknown): Record<string, unknown> | undefined {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function header(headers: AuthorizeOptions['headers'] & object, name: string): string | undefined {
  for (const [k, v] of Object.entries(headers)) if (k.toLowerCase() === name) return Array.isArray(v) ? v[0] : v;
  return undefined;
}

function parseJson(body: Buffer): Record<string, unknown> | undefined {
  try {
    return record(JSON.parse(body.toString('utf8')));
  } catch {
    return undefined;
  }
}
