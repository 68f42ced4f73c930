// REST protocols (S3, Lambda…): matching a request's method, path, query and headers against the model's
// requestUri templates. Pure. The most specific template wins (see matchTemplate's score).
import type { OperationModel, ServiceModel } from './models.js';
import { header, type HeaderInput, type ParsedQuery } from './wire.js';

type Headers = HeaderInput;

export interface CompiledTemplate {
  op: OperationModel;
  method: string;
  pathRe: RegExp;
  /** The literal start of the path (before the first label): a path that does not begin with it cannot match. */
  pathPrefix: string;
  labels: string[];
  /** Template query: key (and value when the template fixes one). */
  query: { key: string; value?: string }[];
  /** Required querystring/header inputs: they discriminate UploadPart from PutObject, CopyObject from PutObject. */
  requiredQuery: string[];
  requiredHeaders: string[];
  literalChars: number;
  /** Whether the template's path ends with `/` (ignoring a bare `/`). */
  trailingSlash: boolean;
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
  let pathPrefix: string | undefined;
  const labelRe = /\{([^}]+)\}/g;
  for (let m = labelRe.exec(pathPart); m; m = labelRe.exec(pathPart)) {
    const literal = pathPart.slice(last, m.index);
    pathPrefix ??= literal;
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
  // A trailing slash is optional on the wire, either way: `/bkt` and `/bkt/` are the same bucket, and SDKs send
  // Lambda's `/2015-03-31/functions/` template without its slash. A request whose slash agrees with the template's
  // ranks first when two templates differ only in that slash.
  let tail = pathPart.slice(last);
  const trailingSlash = tail.endsWith('/') && (tail.length > 1 || labels.length > 0);
  if (trailingSlash) tail = tail.slice(0, -1);
  literalChars += tail.length;
  pathPrefix ??= tail;
  re += escapeRe(tail);
  if (re !== '/') re += '/?';
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
    pathPrefix,
    labels,
    query,
    requiredQuery,
    requiredHeaders,
    literalChars,
    trailingSlash,
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

export interface RestMatch {
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
  if (t.method !== method || !path.startsWith(t.pathPrefix)) return undefined;
  // The query lookups first: most templates of a busy service (S3's ?acl, ?tagging, …) fail there, before a regex.
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
  const m = t.pathRe.exec(path);
  if (!m) return undefined;
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
  const slashAgrees = (path.length > 1 && path.endsWith('/')) === t.trailingSlash ? 1 : 0;
  return { labels, score: [t.literalChars, slashAgrees, t.query.length, discriminators, t.greedy ? 0 : 1] };
}

function compareScores(a: number[], b: number[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/** Whether the host name (no port) is one of the service's own (`<endpointPrefix>.…` or `….<endpointPrefix>.…`). */
export function hostServes(svc: ServiceModel, host: string): boolean {
  const prefix = svc.endpointPrefix.toLowerCase();
  return host.startsWith(`${prefix}.`) || host.includes(`.${prefix}.`);
}

// S3 virtual-host names: bkt.s3.amazonaws.com, bkt.s3.us-east-1.amazonaws.com, bkt.s3-us-west-2.amazonaws.com,
// bkt.s3.dualstack.eu-west-1.amazonaws.com, bkt.s3-accelerate.amazonaws.com, bkt.s3.cn-north-1.amazonaws.com.cn.
const S3_VIRTUAL_HOST = /^(.+)\.s3(?:[.-][a-z0-9-]+)*\.amazonaws\.com(?:\.cn)?$/;

export function hostWithoutPort(host: string): string {
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

export function matchRest(
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
