// Identifies an AWS call from its HTTP request: service, operation, protocol, region and resource ARN(s).
// Pure: data in, data out. Operation tables are generated from AWS's service models (see models.ts).
//
// Dispatch, in order (what the upstream service itself would dispatch on — never on client hints such as `x-id`):
//   1. `X-Amz-Target: Prefix.Operation`         → JSON protocols (DynamoDB, Secrets Manager, KMS, SSM, SQS…)
//   2. `smithy-protocol: rpc-v2-cbor` + `/service/X/operation/Op` → CBOR RPC (CloudWatch from recent botocore)
//   3. `Action=` in a form body or the query     → query/ec2 protocols (STS, SNS, IAM, EC2; SQS's legacy form)
//   4. method + requestUri template               → REST protocols (S3, Lambda…); most specific template wins
// The candidate services are those whose signing name equals the credential scope's service: a request signed
// for `dynamodb` can never be identified as a KMS call. A request that carries more than one of these readings is
// refused by dispatch.ts (requestAmbiguity) rather than read here by the first that fits.
import { loadServiceIndex, type OperationModel, type ServiceIndex, type ServiceModel } from './models.js';
import { deriveResources, partitionFor } from './resources.js';
import { parseCopySource, readsCopySource } from './s3-wire.js';
import { RPC_V2_PATH, header, isForm, parseQuery, type HeaderInput, type ParsedQuery } from './wire.js';

export type CallProtocol = 'json' | 'query' | 'ec2' | 'rest-xml' | 'rest-json' | 'rpc-v2-cbor';

export interface IdentifyInput {
  method: string;
  host: string;
  /** Path + query as received (still percent-encoded). */
  rawPath: string;
  headers: HeaderInput;
  /** From the SigV4 credential scope. */
  signingService: string;
  region: string;
  /** Present for JSON/query protocols: the caller buffers those bodies (bounded). */
  body?: Buffer;
  /** From the service account's role ARN. */
  accountId?: string;
  /**
   * Host names the gateway answers on (lower case, no port). A request to `<bucket>.<one of these>` is an S3
   * virtual-host request (JS v3 with a custom endpoint and no forcePathStyle).
   */
  gatewayHosts?: string[];
}

export interface CallInfo {
  /** IAM prefix: s3, dynamodb, secretsmanager, sts… */
  service: string;
  /** API operation name (CloudTrail eventName), or `Unknown`. */
  operation: string;
  /** `${service}:${operation}` */
  action: string;
  protocol: CallProtocol;
  region: string;
  /** The primary resource ARN (first of `resources`), or `*`. */
  resource: string;
  /**
   * Every resource the call touches (BatchWriteItem's tables, CopyObject's source and destination…), or `['*']`.
   * Policy matching must allow EVERY entry for the call to be allowed.
   */
  resources: string[];
  /** Parsed JSON body, query form params, or REST uri labels + query params; for recording and grant fingerprints. */
  params?: Record<string, unknown>;
  bucket?: string;
  key?: string;
  /** Generated-table service id (`s3`, `dynamodbstreams`…); absent when the signing service is unknown. */
  serviceId?: string;
  /** Endpoint prefix of the identified service, for upstream resolution (`bedrock-runtime`, `streams.dynamodb`). */
  endpointPrefix?: string;
  /** S3 only: true when the bucket came from the path (`/bkt/key`), false for virtual-host requests. */
  pathStyle?: boolean;
  /**
   * CopyObject / UploadPartCopy: the object read, from a readable `x-amz-copy-source` (see parseCopySource). The
   * caller authorises s3:GetObject on `arn` (s3:GetObjectVersion when `versionId` is set). Absent when the header
   * is unreadable: `resources` then holds `*` for it and `requestAmbiguity` refuses the request.
   */
  copySource?: { arn: string; versionId?: string };
}

type Headers = IdentifyInput['headers'];

/** Query parameters that are SigV4 presigning or SDK hints, never operation input. */
const IGNORED_QUERY = new Set([
  'x-amz-algorithm',
  'x-amz-credential',
  'x-amz-date',
  'x-amz-expires',
  'x-amz-signedheaders',
  'x-amz-signature',
  'x-amz-security-token',
  'x-amz-content-sha256',
  'x-amz-user-agent',
  'x-id',
]);

function firstValue(q: ParsedQuery, key: string): string | undefined {
  return q.values.get(key)?.[0];
}

function queryParams(q: ParsedQuery): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of q.values) {
    if (IGNORED_QUERY.has(k.toLowerCase())) continue;
    out[k] = v.length === 1 ? v[0] : v;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// REST template matching

interface CompiledTemplate {
  op: OperationModel;
  method: string;
  pathRe: RegExp;
  labels: string[];
  /** Template query: key (and value when the template fixes one). */
  query: { key: string; value?: string }[];
  /** Required querystring/header inputs: they discriminate UploadPart from PutObject, CopyObject from PutObject. */
  requiredQuery: string[];
  requiredHeaders: string[];
  literalChars: number;
  greedy: boolean;
}

/** Per service: templates grouped by HTTP method (S3 has ~100 operations; a request only tries its method's). */
const compiledByService = new WeakMap<ServiceModel, Map<string, CompiledTemplate[]>>();

function escapeRe(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function compileTemplate(op: OperationModel): CompiledTemplate | undefined {
  if (!op.method || !op.requestUri) return undefined;
  const [pathPart, queryPart = ''] = op.requestUri.split('?', 2) as [string, string?];
  const labels: string[] = [];
  let re = '';
  let literalChars = 0;
  let greedy = false;
  let last = 0;
  const labelRe = /\{([^}]+)\}/g;
  for (let m = labelRe.exec(pathPart); m; m = labelRe.exec(pathPart)) {
    const literal = pathPart.slice(last, m.index);
    re += escapeRe(literal);
    literalChars += literal.length;
    const name = m[1] as string;
    if (name.endsWith('+')) {
      greedy = true;
      labels.push(name.slice(0, -1));
      re += '(.+)';
    } else {
      labels.push(name);
      re += '([^/]+)';
    }
    last = m.index + m[0].length;
  }
  const tail = pathPart.slice(last);
  literalChars += tail.length;
  re += escapeRe(tail);
  // A trailing slash is optional on the wire (`/bkt` and `/bkt/` are the same bucket).
  if (!re.endsWith('/')) re += '/?';
  const query = queryPart
    .split('&')
    .filter((p) => p !== '')
    .map((p) => {
      const eq = p.indexOf('=');
      return eq === -1 ? { key: p } : { key: p.slice(0, eq), value: p.slice(eq + 1) };
    });
  const requiredQuery: string[] = [];
  const requiredHeaders: string[] = [];
  for (const member of op.members) {
    if (!op.required.includes(member.member)) continue;
    if (member.location === 'querystring') requiredQuery.push(member.name);
    else if (member.location === 'header') requiredHeaders.push(member.name);
  }
  return {
    op,
    method: op.method.toUpperCase(),
    pathRe: new RegExp(`^${re}$`),
    labels,
    query,
    requiredQuery,
    requiredHeaders,
    literalChars,
    greedy,
  };
}

const NO_TEMPLATES: CompiledTemplate[] = [];

function compiledFor(svc: ServiceModel, method: string): CompiledTemplate[] {
  let byMethod = compiledByService.get(svc);
  if (!byMethod) {
    byMethod = new Map();
    for (const op of svc.operations.values()) {
      const t = compileTemplate(op);
      if (!t) continue;
      const list = byMethod.get(t.method) ?? [];
      list.push(t);
      byMethod.set(t.method, list);
    }
    compiledByService.set(svc, byMethod);
  }
  return byMethod.get(method) ?? NO_TEMPLATES;
}

interface RestMatch {
  svc: ServiceModel;
  template: CompiledTemplate;
  labels: Record<string, string>;
  score: number[];
}

function safeDecodePath(text: string): string | undefined {
  try {
    return decodeURIComponent(text);
  } catch {
    return undefined;
  }
}

function matchTemplate(
  t: CompiledTemplate,
  method: string,
  path: string,
  q: ParsedQuery,
  headers: Headers,
): { labels: Record<string, string>; score: number[] } | undefined {
  if (t.method !== method) return undefined;
  const m = t.pathRe.exec(path);
  if (!m) return undefined;
  for (const tq of t.query) {
    const values = q.values.get(tq.key);
    if (!values) return undefined;
    if (tq.value !== undefined && !values.includes(tq.value)) return undefined;
  }
  let discriminators = 0;
  for (const key of t.requiredQuery) {
    if (!q.values.has(key)) return undefined;
    discriminators++;
  }
  for (const name of t.requiredHeaders) {
    if (header(headers, name) === undefined) return undefined;
    discriminators++;
  }
  const labels: Record<string, string> = {};
  for (let i = 0; i < t.labels.length; i++) {
    const decoded = safeDecodePath(m[i + 1] as string);
    if (decoded === undefined) return undefined;
    labels[t.labels[i] as string] = decoded;
  }
  return { labels, score: [t.literalChars, t.query.length, discriminators, t.greedy ? 0 : 1] };
}

function compareScores(a: number[], b: number[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

function hostServes(svc: ServiceModel, host: string): boolean {
  const prefix = svc.endpointPrefix.toLowerCase();
  return host.startsWith(`${prefix}.`) || host.includes(`.${prefix}.`);
}

// S3 virtual-host names: bkt.s3.amazonaws.com, bkt.s3.us-east-1.amazonaws.com, bkt.s3-us-west-2.amazonaws.com,
// bkt.s3.dualstack.eu-west-1.amazonaws.com, bkt.s3-accelerate.amazonaws.com, bkt.s3.cn-north-1.amazonaws.com.cn.
const S3_VIRTUAL_HOST = /^(.+)\.s3(?:[.-][a-z0-9-]+)*\.amazonaws\.com(?:\.cn)?$/;

function hostWithoutPort(host: string): string {
  const h = host.trim().toLowerCase();
  if (h.startsWith('[')) return h.slice(0, h.indexOf(']') + 1);
  const colon = h.lastIndexOf(':');
  return colon === -1 ? h : h.slice(0, colon);
}

/** The bucket named by a virtual-host style Host header, if any. */
export function virtualHostBucket(host: string, gatewayHosts: readonly string[] = []): string | undefined {
  const h = hostWithoutPort(host);
  const m = S3_VIRTUAL_HOST.exec(h);
  // `{account}.s3-control.{region}…` and Outposts hosts carry an account id, not a bucket.
  if (m && !/\.s3-(control|outposts)[.-]/.test(h)) {
    const bucket = m[1] as string;
    // `s3.amazonaws.com` style hosts with a service label, not a bucket
    if (bucket === 's3' || bucket.startsWith('s3.') || bucket.startsWith('s3-')) return undefined;
    return bucket;
  }
  for (const gw of gatewayHosts) {
    const g = gw.toLowerCase();
    if (h.length > g.length + 1 && h.endsWith(`.${g}`)) return h.slice(0, h.length - g.length - 1);
  }
  return undefined;
}

function matchRest(
  candidates: ServiceModel[],
  method: string,
  path: string,
  q: ParsedQuery,
  headers: Headers,
  host: string,
): RestMatch | undefined {
  const served = candidates.filter((svc) => hostServes(svc, host));
  const pools = served.length > 0 && served.length < candidates.length ? [served, candidates] : [candidates];
  for (const pool of pools) {
    // Required query/header inputs must be present: a request lacking them is not that operation (and if nothing
    // else fits, it is Unknown rather than a guess).
    let best: RestMatch | undefined;
    for (const svc of pool) {
      for (const t of compiledFor(svc, method)) {
        const m = matchTemplate(t, method, path, q, headers);
        if (m && (!best || compareScores(m.score, best.score) > 0)) best = { svc, template: t, ...m };
      }
    }
    if (best) return best;
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------------------------

function parseJsonObject(body: Buffer | undefined): Record<string, unknown> | undefined {
  if (!body || body.length === 0) return body ? {} : undefined;
  try {
    const value: unknown = JSON.parse(body.toString('utf8'));
    return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}


interface Identified {
  svc?: ServiceModel;
  operation: string;
  protocol: CallProtocol;
  params?: Record<string, unknown>;
  labels?: Record<string, string>;
  bucket?: string;
  key?: string;
  pathStyle?: boolean;
}

function identifyWith(index: ServiceIndex, input: IdentifyInput): Identified {
  const candidates = index.bySigningName.get(input.signingService) ?? [];
  const method = input.method.toUpperCase();
  const qIndex = input.rawPath.indexOf('?');
  const rawPathOnly = qIndex === -1 ? input.rawPath : input.rawPath.slice(0, qIndex);
  const q = parseQuery(qIndex === -1 ? '' : input.rawPath.slice(qIndex + 1)) ?? { values: new Map<string, string[]>() };
  const primary = candidates[0];

  // 1. JSON protocols
  const target = header(input.headers, 'x-amz-target');
  if (target !== undefined) {
    const dot = target.lastIndexOf('.');
    const prefix = dot === -1 ? '' : target.slice(0, dot);
    const opName = dot === -1 ? target : target.slice(dot + 1);
    const withPrefix = candidates.filter((s) => s.targetPrefix === prefix);
    const svc = withPrefix.find((s) => s.operations.has(opName));
    const params = parseJsonObject(input.body);
    const base = { protocol: 'json' as const, ...(params ? { params } : {}) };
    if (svc) return { svc, operation: opName, ...base };
    return { ...(withPrefix[0] ?? primary ? { svc: withPrefix[0] ?? primary } : {}), operation: 'Unknown', ...base };
  }

  // 2. Smithy RPC v2 CBOR: the body is CBOR, so only the operation is known.
  const rpc = RPC_V2_PATH.exec(rawPathOnly);
  if (rpc && (header(input.headers, 'smithy-protocol') ?? '').toLowerCase() === 'rpc-v2-cbor') {
    const opName = rpc[2] as string;
    const svc = candidates.find((s) => s.operations.has(opName));
    return { ...(svc ?? primary ? { svc: svc ?? primary } : {}), operation: svc ? opName : 'Unknown', protocol: 'rpc-v2-cbor' };
  }

  // 3. Query protocols (and the query form of JSON services that still accept it, e.g. SQS)
  const queryCapable = candidates.filter((s) => s.protocol === 'query' || s.protocol === 'ec2' || s.queryCompatible);
  const form = method === 'POST' && isForm(input.headers) && input.body ? parseQuery(input.body.toString('utf8')) : undefined;
  const formAction = form ? firstValue(form, 'Action') : undefined;
  const queryAction = firstValue(q, 'Action');
  if (queryCapable.length > 0 && (formAction !== undefined || queryAction !== undefined)) {
    const params = { ...queryParams(q), ...(form ? queryParams(form) : {}) };
    // Both present and different: which one upstream honours is not ours to guess.
    const conflicting = formAction !== undefined && queryAction !== undefined && formAction !== queryAction;
    const opName = formAction ?? queryAction ?? '';
    const svc = queryCapable.find((s) => s.operations.has(opName));
    const chosen = svc ?? queryCapable[0] as ServiceModel;
    const protocol: CallProtocol = chosen.protocol === 'ec2' ? 'ec2' : 'query';
    if (svc && !conflicting) return { svc, operation: opName, protocol, params };
    return { svc: chosen, operation: 'Unknown', protocol, params };
  }

  // 4. REST protocols
  const restCandidates = candidates.filter((s) => s.protocol === 'rest-xml' || s.protocol === 'rest-json');
  if (restCandidates.length > 0) {
    const host = hostWithoutPort(input.host);
    const hasS3 = restCandidates.some((s) => s.id === 's3');
    const vBucket = hasS3 ? virtualHostBucket(input.host, input.gatewayHosts) : undefined;
    let path = rawPathOnly === '' ? '/' : rawPathOnly;
    if (vBucket !== undefined) path = path === '/' ? `/${encodeURIComponent(vBucket)}` : `/${encodeURIComponent(vBucket)}${path}`;
    const match = matchRest(restCandidates, method, path, q, input.headers, host);
    const restProtocol = (primaryRest: ServiceModel): CallProtocol => primaryRest.protocol;
    if (!match) {
      const svc = restCandidates[0] as ServiceModel;
      return { svc, operation: 'Unknown', protocol: restProtocol(svc), params: queryParams(q) };
    }
    const params: Record<string, unknown> = { ...queryParams(q) };
    for (const member of match.template.op.members) {
      if (member.location === 'uri' && match.labels[member.name] !== undefined) params[member.member] = match.labels[member.name];
    }
    const out: Identified = {
      svc: match.svc,
      operation: match.template.op.name,
      protocol: restProtocol(match.svc),
      params,
      labels: match.labels,
    };
    if (match.svc.id === 's3') {
      const bucket = match.labels['Bucket'];
      const key = match.labels['Key'];
      if (bucket !== undefined) out.bucket = bucket;
      if (key !== undefined) out.key = key;
      if (bucket !== undefined) out.pathStyle = vBucket === undefined;
    }
    return out;
  }

  // Nothing fits: guess the protocol from the request so the error is shaped for the client.
  const guessed: CallProtocol = formAction !== undefined || queryAction !== undefined ? 'query' : primary?.protocol ?? 'rest-xml';
  return { ...(primary ? { svc: primary } : {}), operation: 'Unknown', protocol: guessed };
}

/** Identifies the call. Never throws for unknown services or operations: they come back as operation `Unknown`. */
export function identifyRequest(input: IdentifyInput, index: ServiceIndex = loadServiceIndex()): CallInfo {
  const found = identifyWith(index, input);
  const service = found.svc?.iamPrefix ?? input.signingService;
  const resources =
    found.svc && found.operation !== 'Unknown'
      ? deriveResources({
          serviceId: found.svc.id,
          iamPrefix: service,
          operation: found.operation,
          region: input.region,
          ...(input.accountId !== undefined ? { accountId: input.accountId } : {}),
          params: found.params ?? {},
          labels: found.labels ?? {},
          headers: input.headers,
          required: found.svc.operations.get(found.operation)?.required ?? [],
          ...(found.bucket !== undefined ? { bucket: found.bucket } : {}),
          ...(found.key !== undefined ? { key: found.key } : {}),
        })
      : [];
  const list = resources.length > 0 ? resources : ['*'];
  const info: CallInfo = {
    service,
    operation: found.operation,
    action: `${service}:${found.operation}`,
    protocol: found.protocol,
    region: input.region,
    resource: list[0] as string,
    resources: list,
  };
  if (found.params !== undefined) info.params = found.params;
  if (found.bucket !== undefined) info.bucket = found.bucket;
  if (found.key !== undefined) info.key = found.key;
  if (found.svc) {
    info.serviceId = found.svc.id;
    info.endpointPrefix = found.svc.endpointPrefix;
  }
  if (found.pathStyle !== undefined) info.pathStyle = found.pathStyle;
  if (service === 's3' && readsCopySource(found.operation)) {
    const value = header(input.headers, 'x-amz-copy-source');
    const reading = value === undefined ? undefined : parseCopySource(value, partitionFor(input.region));
    if (reading?.ok === true) {
      const { arn, versionId } = reading.source;
      info.copySource = versionId === undefined ? { arn } : { arn, versionId };
    }
  }
  return info;
}

/**
 * Whether identification needs the request body: true for JSON and query protocols (small bodies the caller
 * buffers, bounded), false for S3 and other REST services whose bodies stream — except S3 DeleteObjects
 * (`POST /bkt?delete`), whose XML key list names the objects deleted. Pass `request` (method and raw path as
 * received) so that case is seen; without it S3 is never buffered.
 */
export function bodyNeededForIdentify(
  signingService: string,
  headers: Headers,
  index: ServiceIndex = loadServiceIndex(),
  request?: { method: string; rawPath: string },
): boolean {
  const candidates = index.bySigningName.get(signingService) ?? [];
  if (candidates.length === 0) return false;
  const rest = candidates.filter((s) => s.protocol === 'rest-xml' || s.protocol === 'rest-json');
  // All-REST signing names (s3, lambda): never buffer object uploads, whatever Content-Type they carry.
  if (rest.length === candidates.length) {
    return request !== undefined && rest.some((s) => s.id === 's3') && isS3DeleteObjects(request.method, request.rawPath);
  }
  if (rest.length === 0) return true;
  // Mixed (sagemaker, bedrock, ses…): the JSON/query forms announce themselves.
  if (header(headers, 'x-amz-target') !== undefined) return true;
  const contentType = (header(headers, 'content-type') ?? '').toLowerCase();
  return contentType.startsWith('application/x-www-form-urlencoded') || contentType.startsWith('application/x-amz-json');
}

/** `POST /bkt?delete` (or `POST /?delete` on a virtual host): the query names the operation, whatever the path. */
function isS3DeleteObjects(method: string, rawPath: string): boolean {
  if (method.toUpperCase() !== 'POST') return false;
  const q = rawPath.indexOf('?');
  if (q === -1) return false;
  return parseQuery(rawPath.slice(q + 1))?.values.has('delete') === true;
}

/**
 * The error format a client of this signing service expects, before the call is identified (e.g. a bad
 * signature). After identification prefer `CallInfo.protocol`. `headers` refines services that speak two forms
 * (SQS JSON vs its legacy query form). CBOR RPC clients get JSON: the closest shape we produce.
 */
export function errorProtocolFor(
  signingService: string,
  headers?: Headers,
  index: ServiceIndex = loadServiceIndex(),
): 'json' | 'query' | 'rest-xml' | 'rest-json' {
  if (headers) {
    if (header(headers, 'x-amz-target') !== undefined) return 'json';
    if (isForm(headers) && signingService !== 's3') {
      const candidates = index.bySigningName.get(signingService) ?? [];
      if (candidates.some((s) => s.protocol === 'query' || s.protocol === 'ec2' || s.queryCompatible)) return 'query';
    }
  }
  const primary = index.bySigningName.get(signingService)?.[0];
  if (!primary) return signingService === 's3' ? 'rest-xml' : 'json';
  return primary.protocol === 'ec2' ? 'query' : primary.protocol;
}

/** The error format for an identified call (`ec2` errors are query-shaped; CBOR RPC gets JSON, see errorProtocolFor). */
export function errorProtocolOf(call: Pick<CallInfo, 'protocol'>): 'json' | 'query' | 'rest-xml' | 'rest-json' {
  switch (call.protocol) {
    case 'ec2':
      return 'query';
    case 'rpc-v2-cbor':
      return 'json';
    default:
      return call.protocol;
  }
}
