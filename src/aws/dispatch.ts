// One reading of each request. Pure. identify.ts picks ONE way to read an operation (X-Amz-Target, then the CBOR
// RPC path, then Action, then the REST template); an upstream may pick another (moto dispatches a JSON-protocol
// call on a query `Action`). A request that carries two readings — or names its resource in a way the gateway and
// the upstream could read differently — is refused before anything is recorded, decided or forwarded.
import { GatewayError } from '../errors.js';
import { identifyRequest, type CallInfo, type IdentifyInput } from './identify.js';
import { loadServiceIndex, speaks, type ServiceIndex } from './models.js';
import { isS3BucketName, parseCopySource, pathAmbiguity, readsCopySource } from './s3-wire.js';
import { RPC_V2_PATH, headerValues, isForm, parseQuery, splitRawPath, type ParsedQuery } from './wire.js';


function distinct(values: string[]): string[] {
  return [...new Set(values.map((v) => v.trim()))];
}

/** Values of every key spelled `action` in any case; `other` lists spellings that are not exactly `Action`. */
function actionsOf(q: ParsedQuery): { values: string[]; oddSpellings: string[] } {
  const values: string[] = [];
  const oddSpellings: string[] = [];
  for (const [key, list] of q.values) {
    if (key.toLowerCase() !== 'action') continue;
    values.push(...list);
    if (key !== 'Action') oddSpellings.push(key);
  }
  return { values, oddSpellings };
}

const discriminatingHeaders = new WeakMap<ServiceIndex, Map<string, Set<string>>>();

/**
 * Header names that some REST operation of this signing name requires (S3: x-amz-copy-source makes CopyObject,
 * x-amz-object-attributes GetObjectAttributes; S3 Control: x-amz-account-id). S3 also reads x-amz-* headers from the
 * query string of presigned requests (the JS presigner "hoists" them there); identify reads them only as headers.
 */
function discriminatingHeadersOf(index: ServiceIndex, signingService: string): Set<string> {
  let bySigning = discriminatingHeaders.get(index);
  if (!bySigning) {
    bySigning = new Map();
    discriminatingHeaders.set(index, bySigning);
  }
  let names = bySigning.get(signingService);
  if (!names) {
    names = new Set();
    for (const svc of index.bySigningName.get(signingService) ?? []) {
      for (const op of svc.operations.values()) {
        for (const m of op.members) if (m.location === 'header' && op.required.includes(m.member)) names.add(m.name);
      }
    }
    bySigning.set(signingService, names);
  }
  return names;
}

/** Honoured by some web frameworks an S3-compatible upstream may run on; never sent by AWS clients. */
const METHOD_OVERRIDES = ['x-http-method-override', 'x-http-method', 'x-method-override'];

/** Headers whose repetition would let two readers pick different values. */
const SINGLE_VALUED = ['x-amz-target', 'content-type', 'smithy-protocol', 'x-amz-copy-source'];

function headerConflict(input: IdentifyInput): string | undefined {
  for (const name of SINGLE_VALUED) {
    const values = distinct(headerValues(input.headers, name));
    // Node joins repeated unknown headers with ", " in req.headers: a comma in a target is a repetition too.
    if (values.length > 1 || (name === 'x-amz-target' && values.some((v) => v.includes(',')))) {
      return `the ${name} header is sent more than once (${values.join(' | ')})`;
    }
  }
  for (const name of METHOD_OVERRIDES) {
    if (headerValues(input.headers, name).length > 0) {
      return `the ${name} header names a method other readers may honour instead of ${input.method.toUpperCase()}`;
    }
  }
  return undefined;
}

function queryConflict(signingService: string, q: ParsedQuery, index: ServiceIndex): string | undefined {
  if (signingService === 's3') {
    // S3 takes no list-valued query parameters: a repeated key is read as its first value by some and last by others.
    for (const [key, values] of q.values) {
      const different = distinct(values);
      if (different.length > 1) return `the query parameter ${key} is given more than once with different values (${different.join(', ')})`;
    }
  }
  const discriminating = discriminatingHeadersOf(index, signingService);
  for (const key of q.values.keys()) {
    if (discriminating.has(key.toLowerCase())) {
      return `${key} is given as a query parameter, which the upstream reads as the header that names the operation and the gateway does not`;
    }
  }
  return undefined;
}

/**
 * Why the request's operation could be read two ways, naming both readings; undefined when there is one. Cases:
 * X-Amz-Target together with an Action (query or form) or a CBOR RPC path; an X-Amz-Target or Action on a path
 * that reads as a REST operation (S3: `DELETE /bkt/k` with a target); Action in both the query and the form body, repeated
 * with different values, or spelled other than `Action`; Action on a service without a query protocol; a header
 * that names the operation or its input format sent twice with different values; a header that selects a REST
 * operation (x-amz-copy-source) given as a query parameter, as presigned S3 URLs may; an S3 query key repeated with
 * different values; a method-override header; an unparsable query or form body.
 */
export function dispatchConflict(input: IdentifyInput, index: ServiceIndex = loadServiceIndex()): string | undefined {
  const headerProblem = headerConflict(input);
  if (headerProblem !== undefined) return headerProblem;
  const { path, query } = splitRawPath(input.rawPath);
  const q = parseQuery(query);
  if (q === undefined) return 'the query string has bad percent-encoding';
  const method = input.method.toUpperCase();
  let form: ParsedQuery | undefined;
  if (method === 'POST' && isForm(input.headers) && input.body !== undefined) {
    form = parseQuery(input.body.toString('utf8'));
    if (form === undefined) return 'the form body has bad percent-encoding';
  }
  const queryProblem = queryConflict(input.signingService, q, index);
  if (queryProblem !== undefined) return queryProblem;

  const queryActions = actionsOf(q);
  const formActions = form ? actionsOf(form) : { values: [], oddSpellings: [] };
  const odd = [...queryActions.oddSpellings, ...formActions.oddSpellings];
  if (odd.length > 0) return `the parameter ${JSON.stringify(odd[0])} is not spelled "Action"; upstreams differ on whether it names the operation`;
  const actions = distinct([...queryActions.values, ...formActions.values]);
  if (actions.length > 1) return `Action is given more than once with different values (${actions.join(', ')})`;
  if (queryActions.values.length > 0 && formActions.values.length > 0) {
    return `Action is in both the query string (${queryActions.values[0]}) and the form body (${formActions.values[0]})`;
  }
  const action = actions[0];
  const target = headerValues(input.headers, 'x-amz-target')[0]?.trim();
  const rpcPath = RPC_V2_PATH.test(path);
  const where = queryActions.values.length > 0 ? 'query string' : 'form body';

  if (target !== undefined && action !== undefined) return `X-Amz-Target names ${target} but the ${where} names Action=${action}`;
  if (rpcPath && target !== undefined) return `the CBOR RPC path ${path} and X-Amz-Target ${target} both name an operation`;
  if (rpcPath && action !== undefined) return `the CBOR RPC path ${path} and the ${where}'s Action=${action} both name an operation`;

  const candidates = index.bySigningName.get(input.signingService) ?? [];
  if (candidates.length === 0) return undefined;
  if (action !== undefined && !candidates.some((s) => speaks(s, 'query', 'ec2'))) {
    return `the ${where} names Action=${action}, but ${input.signingService} has no query protocol`;
  }
  if (target !== undefined || action !== undefined) {
    // What the request would be without its target/Action: if that is a REST operation, it has two readings. (A lone
    // target on a service without a JSON protocol is one reading: Unknown.)
    const rest = restReading(input, q, index);
    if (rest !== undefined) {
      return `${target !== undefined ? `X-Amz-Target names ${target}` : `the ${where} names Action=${action}`} but ${method} ${path} reads as ${rest}`;
    }
  }
  return undefined;
}

function restReading(input: IdentifyInput, q: ParsedQuery, index: ServiceIndex): string | undefined {
  const headers: IdentifyInput['headers'] = {};
  for (const [k, v] of Object.entries(input.headers)) {
    const lower = k.toLowerCase();
    if (lower !== 'x-amz-target' && lower !== 'smithy-protocol') headers[k] = v;
  }
  const rest: string[] = [];
  for (const [key, values] of q.values) {
    if (key.toLowerCase() === 'action') continue;
    for (const v of values) rest.push(`${encodeURIComponent(key)}=${encodeURIComponent(v)}`);
  }
  const { path } = splitRawPath(input.rawPath);
  const { body: _body, ...withoutBody } = input;
  const call = identifyRequest({ ...withoutBody, headers, rawPath: rest.length > 0 ? `${path}?${rest.join('&')}` : path }, index);
  if ((call.protocol === 'rest-xml' || call.protocol === 'rest-json') && call.operation !== 'Unknown') return call.action;
  return undefined;
}

/**
 * The refusal for a request the gateway and the upstream could read differently, or undefined. Call it after
 * identification (it needs the call's bucket and operation) and before recording or deciding:
 *   AMBIGUOUS_REQUEST (400 InvalidRequest): two operation readings (dispatchConflict), a path with `.`/`..`
 *     segments, a raw backslash or non-ASCII byte, a raw `+` in an S3 path, an S3 bucket that is not a bucket
 *     name (awsCode InvalidBucketName; e.g. `%2F` inside it);
 *   MALFORMED_REQUEST (400 InvalidArgument): CopyObject/UploadPartCopy with an unreadable x-amz-copy-source.
 */
export function requestAmbiguity(input: IdentifyInput, call: CallInfo, index: ServiceIndex = loadServiceIndex()): GatewayError | undefined {
  const conflict = dispatchConflict(input, index);
  if (conflict !== undefined) return new GatewayError('AMBIGUOUS_REQUEST', `The request can be read as two different calls: ${conflict}`);
  const { path } = splitRawPath(input.rawPath);
  const pathProblem = pathAmbiguity(path, { s3: call.service === 's3' });
  if (pathProblem !== undefined) return new GatewayError('AMBIGUOUS_REQUEST', `The request path is ambiguous: ${pathProblem}`);
  if (call.service !== 's3') return undefined;
  if (call.bucket !== undefined && !isS3BucketName(call.bucket)) {
    return new GatewayError('AMBIGUOUS_REQUEST', `The bucket ${JSON.stringify(call.bucket)} is not a valid bucket name`, {
      awsCode: 'InvalidBucketName',
    });
  }
  if (readsCopySource(call.operation)) {
    const value = headerValues(input.headers, 'x-amz-copy-source')[0];
    const reading = value === undefined ? { ok: false as const, reason: 'x-amz-copy-source is missing' } : parseCopySource(value);
    if (!reading.ok) return new GatewayError('MALFORMED_REQUEST', reading.reason, { awsCode: 'InvalidArgument' });
  }
  return undefined;
}
