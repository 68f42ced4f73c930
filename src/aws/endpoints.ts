// Upstream endpoint resolution: where the gateway forwards an identified call. Pure.
//
// - No override: the service's regional AWS endpoint `https://{endpointPrefix}.{region}.{dnsSuffix}`; global
//   services (IAM, Route 53, CloudFront…) go to their global host and are signed for the partition's home region.
//   S3 uses `s3.{region}.amazonaws.com`, virtual-host style (`bkt.s3.{region}…`) when the bucket name is DNS-safe.
// - Override (`upstream.endpoint`: moto, LocalStack, MinIO, s3rver): every service goes to that origin, and S3 is
//   always path style there (those servers do not resolve `bkt.localhost`), so a virtual-host request from the
//   client is rewritten to `/bkt/key` (see s3UpstreamPath).
import { loadServiceIndex, type ServiceIndex } from './models.js';
import { partitionFor } from './resources.js';
import { BoundedMemo } from '../lib/memo.js';

export interface UpstreamTarget {
  endpointPrefix: string;
  signingName?: string;
  globalEndpoint?: string;
}

export interface UpstreamOrigin {
  /** `https://host[:port]` */
  origin: string;
  /** `host[:port]`, as the Host header to sign and send. */
  host: string;
  /** S3 only: whether the upstream request uses path style (`/bkt/key`) rather than `bkt.` in the host. */
  pathStyle?: boolean;
  /** Region to sign the upstream request for (the partition's home region for global endpoints). */
  signingRegion: string;
}

export interface UpstreamOptions {
  /** S3: the bucket of the call, to choose virtual-host style against real AWS. */
  bucket?: string;
}

const DNS_SUFFIX: Record<string, string> = {
  aws: 'amazonaws.com',
  'aws-cn': 'amazonaws.com.cn',
  'aws-us-gov': 'amazonaws.com',
  'aws-iso': 'c2s.ic.gov',
  'aws-iso-b': 'sc2s.sgov.gov',
};

// Global services: host and signing region per partition (botocore's endpoints.json partitionEndpoint entries).
const GLOBAL: Record<string, Partial<Record<string, { host: string; region: string }>>> = {
  iam: {
    aws: { host: 'iam.amazonaws.com', region: 'us-east-1' },
    'aws-cn': { host: 'iam.cn-north-1.amazonaws.com.cn', region: 'cn-north-1' },
    'aws-us-gov': { host: 'iam.us-gov.amazonaws.com', region: 'us-gov-west-1' },
  },
  route53: {
    aws: { host: 'route53.amazonaws.com', region: 'us-east-1' },
    'aws-cn': { host: 'route53.amazonaws.com.cn', region: 'cn-northwest-1' },
    'aws-us-gov': { host: 'route53.us-gov.amazonaws.com', region: 'us-gov-west-1' },
  },
  cloudfront: {
    aws: { host: 'cloudfront.amazonaws.com', region: 'us-east-1' },
    'aws-cn': { host: 'cloudfront.cn-northwest-1.amazonaws.com.cn', region: 'cn-northwest-1' },
  },
  importexport: { aws: { host: 'importexport.amazonaws.com', region: 'us-east-1' } },
  savingsplans: { aws: { host: 'savingsplans.amazonaws.com', region: 'us-east-1' } },
  organizations: {
    aws: { host: 'organizations.us-east-1.amazonaws.com', region: 'us-east-1' },
    'aws-cn': { host: 'organizations.cn-northwest-1.amazonaws.com.cn', region: 'cn-northwest-1' },
    'aws-us-gov': { host: 'organizations.us-gov-west-1.amazonaws.com', region: 'us-gov-west-1' },
  },
};

const REGION_RE = /^[a-z]{2}(-[a-z]+)+-\d+$/;

/** DNS-safe bucket names can be addressed as `bkt.s3.region.amazonaws.com` (dots break the TLS wildcard). */
export function isVirtualHostableBucket(bucket: string): boolean {
  return /^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/.test(bucket) && !bucket.includes('--');
}

/** Parsed overrides: the same one or two endpoint strings arrive on every call. Small; a bad one is never kept. */
const parsedOverrides = new BoundedMemo(64, parseOverrideUrl);
const parseOverride = (override: string): { origin: string; host: string } => parsedOverrides.get(override);

function parseOverrideUrl(override: string): { origin: string; host: string } {
  let url: URL;
  try {
    url = new URL(override);
  } catch {
    throw new Error(`upstream endpoint ${JSON.stringify(override)} is not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new Error(`upstream endpoint ${JSON.stringify(override)} must be http:// or https://`);
  }
  if ((url.pathname !== '/' && url.pathname !== '') || url.search !== '' || url.username !== '' || url.password !== '') {
    throw new Error(`upstream endpoint ${JSON.stringify(override)} must be an origin only (no path, query or credentials)`);
  }
  return { origin: url.origin, host: url.host };
}

function resolveTarget(target: UpstreamTarget | string, index: () => ServiceIndex): UpstreamTarget {
  if (typeof target !== 'string') return target;
  const svc = index().bySigningName.get(target)?.[0];
  if (!svc) return { endpointPrefix: target, signingName: target };
  return svc.globalEndpoint !== undefined
    ? { endpointPrefix: svc.endpointPrefix, signingName: svc.signingName, globalEndpoint: svc.globalEndpoint }
    : { endpointPrefix: svc.endpointPrefix, signingName: svc.signingName };
}

/**
 * Where to send a call. `target` is the identified service (`CallInfo.endpointPrefix` via the model) or a signing
 * name. Throws (a configuration error) for a malformed override or region.
 */
export function upstreamOrigin(
  target: UpstreamTarget | string,
  region: string,
  override?: string,
  options: UpstreamOptions = {},
  index?: ServiceIndex,
): UpstreamOrigin {
  const t = resolveTarget(target, () => index ?? loadServiceIndex());
  const isS3 = t.endpointPrefix === 's3';
  if (override !== undefined && override !== '') {
    const { origin, host } = parseOverride(override);
    return isS3 ? { origin, host, pathStyle: true, signingRegion: region } : { origin, host, signingRegion: region };
  }
  if (!REGION_RE.test(region)) throw new Error(`region ${JSON.stringify(region)} is not a valid AWS region name`);
  const partition = partitionFor(region);
  const suffix = DNS_SUFFIX[partition] ?? 'amazonaws.com';
  const global = GLOBAL[t.endpointPrefix]?.[partition];
  if (global) return { origin: `https://${global.host}`, host: global.host, signingRegion: global.region };
  if (isS3) {
    const base = `s3.${region}.${suffix}`;
    if (options.bucket !== undefined && isVirtualHostableBucket(options.bucket)) {
      const host = `${options.bucket}.${base}`;
      return { origin: `https://${host}`, host, pathStyle: false, signingRegion: region };
    }
    return { origin: `https://${base}`, host: base, pathStyle: true, signingRegion: region };
  }
  const host = `${t.endpointPrefix}.${region}.${suffix}`;
  return { origin: `https://${host}`, host, signingRegion: region };
}

/**
 * The upstream path+query for an S3 request, converting between the client's style and the upstream's.
 * `rawPath` is as received (percent-encoding kept; the bucket is re-encoded only when added).
 */
export function s3UpstreamPath(input: {
  rawPath: string;
  bucket: string;
  /** How the client addressed the bucket (CallInfo.pathStyle). */
  clientPathStyle: boolean;
  /** UpstreamOrigin.pathStyle. */
  upstreamPathStyle: boolean;
}): string {
  const { rawPath, bucket, clientPathStyle, upstreamPathStyle } = input;
  if (clientPathStyle === upstreamPathStyle) return rawPath;
  const q = rawPath.indexOf('?');
  const path = q === -1 ? rawPath : rawPath.slice(0, q);
  const query = q === -1 ? '' : rawPath.slice(q);
  if (upstreamPathStyle) {
    const encoded = `/${encodeURIComponent(bucket)}`;
    return `${path === '/' || path === '' ? encoded : `${encoded}${path}`}${query}`;
  }
  // Path style → virtual host: drop the leading `/bucket` segment.
  const segEnd = path.indexOf('/', 1);
  const rest = segEnd === -1 ? '/' : path.slice(segEnd);
  return `${rest}${query}`;
}
