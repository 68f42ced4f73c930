// Identifies an AWS call from its HTTP request: service, operation, protocol, region and resource ARN(s).
// Pure: data in, data out. Operation tables are generated from botocore's service models (see models.ts). A service
// is read in every protocol its model lists (CloudWatch: query, JSON 1.0 and CBOR), whichever the client chose.
//
// Dispatch, in order (what the upstream service itself would dispatch on — never on client hints such as `x-id`):
//   1. `X-Amz-Target: Prefix.Operation`         → JSON protocols (DynamoDB, Secrets Manager, KMS, SSM, SQS…)
//   2. `smithy-protocol: rpc-v2-cbor` + `/service/X/operation/Op` → Smithy RPC v2 CBOR (X is the target prefix)
//   3. `Action=` in a form body or the query     → query/ec2 protocols (STS, SNS, IAM, EC2; SQS's legacy form)
//   4. method + requestUri template               → REST protocols (S3, Lambda…); most specific template wins
// The candidate services are those whose signing name equals the credential scope's service: a request signed
// for `dynamodb` can never be identified as a KMS call. A request that carries more than one of these readings is
// refused by dispatch.ts (requestAmbiguity) rather than read here by the first that fits.
import { parseCborObject } from './cbor.js';
import { loadServiceIndex, speaks, type ModelProtocol, type ServiceIndex, type ServiceModel } from './models.js';
import { deriveResources, partitionFor } from './resources.js';
import { hostServes, hostWithoutPort, matchRest, virtualHostBucket } from './rest-match.js';
import { parseCopySource, readsCopySource } from './s3-wire.js';
import { RPC_V2_PATH, header, isForm, parseQuery, type HeaderInput, type ParsedQuery } from './wire.js';
import type { ErrorProtocol } from '../errors.js';

export { virtualHostBucket };

/** The protocol a call arrived in: one of those its service's model lists. */
export type CallProtocol = ModelProtocol;

export interface IdentifyInput {
  method: string;
  host: string;
  /** Path + query as received (still percent-encoded). */
  rawPath: string;
  headers: HeaderInput;
  /** From the SigV4 credential scope. */
  signingService: string;
  region: string;
  /** Present for JSON, CBOR and query protocols: the caller buffers those bodies (bounded). */
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
  /**
   * Parsed JSON or CBOR body (CBOR blobs as base64, as JSON carries them), query form params, or REST uri labels +
   * query params; for recording and grant fingerprints.
   */
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
    // Timestream's query and write APIs share a signing name and a target prefix: the host tells them apart.
    const host = hostWithoutPort(input.host);
    const svc = withPrefix.find((s) => s.operations.has(opName) && hostServes(s, host)) ?? withPrefix.find((s) => s.operations.has(opName));
    const params = parseJsonObject(input.body);
    const base = { protocol: 'json' as const, ...(params ? { params } : {}) };
    if (svc) return { svc, operation: opName, ...base };
    return { ...(withPrefix[0] ?? primary ? { svc: withPrefix[0] ?? primary } : {}), operation: 'Unknown', ...base };
  }

  // 2. Smithy RPC v2 CBOR: the path names the service (its target prefix) and the operation.
  const rpc = RPC_V2_PATH.exec(rawPathOnly);
  if (rpc && (header(input.headers, 'smithy-protocol') ?? '').toLowerCase() === 'rpc-v2-cbor') {
    const serviceName = rpc[1] as string;
    const opName = rpc[2] as string;
    const speakers = candidates.filter((s) => speaks(s, 'rpc-v2-cbor') && s.targetPrefix === serviceName);
    const svc = speakers.find((s) => s.operations.has(opName));
    const params = parseCborObject(input.body);
    const base = { protocol: 'rpc-v2-cbor' as const, ...(params ? { params } : {}) };
    if (svc) return { svc, operation: opName, ...base };
    return { ...(speakers[0] ?? primary ? { svc: speakers[0] ?? primary } : {}), operation: 'Unknown', ...base };
  }

  // 3. Query protocols (and the query form of JSON services that still accept it, e.g. SQS)
  const queryCapable = candidates.filter((s) => speaks(s, 'query', 'ec2'));
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
    const protocol: CallProtocol = speaks(chosen, 'ec2') ? 'ec2' : 'query';
    if (svc && !conflicting) return { svc, operation: opName, protocol, params };
    return { svc: chosen, operation: 'Unknown', protocol, params };
  }

  // 4. REST protocols
  const restCandidates = candidates.filter((s) => speaks(s, 'rest-xml', 'rest-json'));
  if (restCandidates.length > 0) {
    const host = hostWithoutPort(input.host);
    const hasS3 = restCandidates.some((s) => s.id === 's3');
    const vBucket = hasS3 ? virtualHostBucket(input.host, input.gatewayHosts) : undefined;
    let path = rawPathOnly === '' ? '/' : rawPathOnly;
    if (vBucket !== undefined) path = path === '/' ? `/${encodeURIComponent(vBucket)}` : `/${encodeURIComponent(vBucket)}${path}`;
    const match = matchRest(restCandidates, method, path, q, input.headers, host);
    if (!match) {
      const svc = restCandidates[0] as ServiceModel;
      return { svc, operation: 'Unknown', protocol: svc.protocol, params: queryParams(q) };
    }
    const params: Record<string, unknown> = { ...queryParams(q) };
    for (const member of match.template.op.members) {
      if (member.location === 'uri' && match.labels[member.name] !== undefined) params[member.member] = match.labels[member.name];
    }
    const out: Identified = {
      svc: match.svc,
      operation: match.template.op.name,
      protocol: match.svc.protocol,
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
  const rest = candidates.filter((s) => speaks(s, 'rest-xml', 'rest-json'));
  // All-REST signing names (s3, lambda): never buffer object uploads, whatever Content-Type they carry.
  if (rest.length === candidates.length) {
    return request !== undefined && rest.some((s) => s.id === 's3') && isS3DeleteObjects(request.method, request.rawPath);
  }
  if (rest.length === 0) return true;
  // Mixed (sagemaker, bedrock, ses…): the JSON/CBOR/query forms announce themselves.
  if (header(headers, 'x-amz-target') !== undefined || header(headers, 'smithy-protocol') !== undefined) return true;
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
 * (SQS JSON vs its legacy query form; a `smithy-protocol: rpc-v2-cbor` client gets CBOR errors).
 */
export function errorProtocolFor(
  signingService: string,
  headers?: Headers,
  index: ServiceIndex = loadServiceIndex(),
): ErrorProtocol {
  if (headers) {
    if ((header(headers, 'smithy-protocol') ?? '').toLowerCase() === 'rpc-v2-cbor') return 'rpc-v2-cbor';
    if (header(headers, 'x-amz-target') !== undefined) return 'json';
    if (isForm(headers) && signingService !== 's3') {
      const candidates = index.bySigningName.get(signingService) ?? [];
      if (candidates.some((s) => speaks(s, 'query', 'ec2'))) return 'query';
    }
  }
  const primary = index.bySigningName.get(signingService)?.[0];
  if (!primary) return signingService === 's3' ? 'rest-xml' : 'json';
  return errorProtocolOf(primary);
}

/** The error format for an identified call (`ec2` errors are query-shaped; CBOR RPC errors are CBOR). */
export function errorProtocolOf(call: Pick<CallInfo, 'protocol'>): ErrorProtocol {
  switch (call.protocol) {
    case 'ec2':
      return 'query';
    default:
      return call.protocol;
  }
}
