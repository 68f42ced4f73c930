// S3 names read exactly as S3 reads them, or refused. Pure. The gateway decides on the bucket and key it derives
// here and forwards the raw bytes they came from; wherever S3 (or a server or proxy in front of it) could read those
// bytes as another bucket or key, the request is refused instead of guessed at.

/** A readable `x-amz-copy-source`: the object the copy reads. */
export interface CopySource {
  /** The IAM resource of the source object: `arn:aws:s3:::bkt/key`, or the access point's object ARN. */
  arn: string;
  /** Decoded key. */
  key: string;
  /** Bucket form only. */
  bucket?: string;
  /** Access-point form only: the access point's ARN (`…:accesspoint/NAME`, `…:outpost/ID/accesspoint/NAME`). */
  accessPoint?: string;
  /** `?versionId=` (then IAM wants s3:GetObjectVersion on the source rather than s3:GetObject). */
  versionId?: string;
}

export type CopySourceReading = { ok: true; source: CopySource } | { ok: false; reason: string };

// RFC 3986 pchar (unreserved, sub-delims, `:`, `@`) plus `/`, or a %XX escape. Anything else raw (space, `+`, `\`,
// `#`, `"`, non-ASCII…) is read differently by different HTTP stacks: `+` as a space by form decoders, `\` as `/` by
// URL parsers. botocore sends `quote(key, safe='/~')`; the JS SDK sends what the caller wrote.
const RAW_PATH = /^(?:[A-Za-z0-9\-._~!$&'()*,;=:@/]|%[0-9A-Fa-f]{2})*$/;
// Version ids are opaque; `+` and `/` appear in old-style ones and botocore sends them unquoted.
const RAW_VERSION_ID = /^(?:[A-Za-z0-9\-._~+/=]|%[0-9A-Fa-f]{2})+$/;

const BUCKET_DNS = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
// Buckets created in us-east-1 before 2018 may use upper case and `_`, up to 255 characters.
const BUCKET_LEGACY = /^[A-Za-z0-9._-]{3,255}$/;
const ACCESS_POINT_NAME = /^[a-z0-9](?:[a-z0-9-]{1,48}[a-z0-9])$/;
// Multi-Region Access Points are addressed by alias (`mfzwi23gnjvgw.mrap`) with an empty region.
const MRAP_ALIAS = /^[a-z0-9]+\.mrap$/;
const OUTPOST_ID = /^op-[0-9a-f]{17}$/;
const PARTITION = /^aws(?:-[a-z]+)*$/;
const REGION = /^(?:[a-z]{2}(?:-[a-z]+)+-\d+)?$/;
const ACCOUNT = /^\d{12}$/;
const MAX_KEY_BYTES = 1024;

/** A bucket name S3 can resolve (current rules, or the legacy us-east-1 ones). Never contains `/` or `%`. */
export function isS3BucketName(name: string): boolean {
  if (!BUCKET_DNS.test(name) && !BUCKET_LEGACY.test(name)) return false;
  return !/^\.+$/.test(name);
}

function decode(raw: string): string | undefined {
  try {
    return decodeURIComponent(raw);
  } catch {
    return undefined;
  }
}

function refuse(value: string, why: string): CopySourceReading {
  return { ok: false, reason: `x-amz-copy-source ${JSON.stringify(value)}: ${why}` };
}

function checkKey(key: string | undefined): string | undefined {
  if (key === undefined) return 'bad percent-encoding';
  if (key === '') return 'the key is empty';
  if (Buffer.byteLength(key) > MAX_KEY_BYTES) return `the key is longer than ${MAX_KEY_BYTES} bytes`;
  return undefined;
}

/**
 * Reads `x-amz-copy-source` (CopyObject, UploadPartCopy) the way S3 does: an optional single leading `/`, then
 * `bucket/key` percent-decoded once, or an access point object ARN (`arn:aws:s3:REGION:ACCOUNT:accesspoint/NAME/
 * object/KEY`; S3 on Outposts `arn:aws:s3-outposts:…:outpost/ID[/accesspoint/NAME]/object/KEY`), then an optional
 * `?versionId=ID` and nothing else. Every other spelling is refused with the reason (`///private/x`, an empty or
 * invalid bucket, a `%2F` inside the bucket, bad percent-encoding, raw `+` or space, other query parameters).
 * Keys are kept literally: S3 keys may contain `..`, `//` and `./`.
 */
export function parseCopySource(value: string, partition = 'aws'): CopySourceReading {
  if (value === '') return refuse(value, 'empty');
  const q = value.indexOf('?');
  const rawPath = q === -1 ? value : value.slice(0, q);
  let versionId: string | undefined;
  if (q !== -1) {
    const query = value.slice(q + 1);
    if (!query.startsWith('versionId=') || query.includes('&')) {
      return refuse(value, 'the only query parameter S3 reads here is a single versionId=');
    }
    const rawVersion = query.slice('versionId='.length);
    if (!RAW_VERSION_ID.test(rawVersion)) return refuse(value, 'the versionId is empty or has characters that must be percent-encoded');
    versionId = decode(rawVersion);
    if (versionId === undefined || versionId === '') return refuse(value, 'the versionId has bad percent-encoding');
  }
  if (!RAW_PATH.test(rawPath)) {
    return refuse(value, 'characters that must be percent-encoded (space, +, \\, non-ASCII…) or a bad % escape');
  }
  const body = rawPath.startsWith('/') ? rawPath.slice(1) : rawPath;
  const segments = body.split('/');
  const first = decode(segments[0] as string);
  if (first === undefined) return refuse(value, 'bad percent-encoding');
  const withVersion = (source: CopySource): CopySourceReading => ({
    ok: true,
    source: versionId === undefined ? source : { ...source, versionId },
  });

  if (first.startsWith('arn:')) {
    const parts = segments.map(decode);
    if (parts.some((p) => p === undefined)) return refuse(value, 'bad percent-encoding');
    const [head, ...rest] = parts as string[];
    const fields = (head as string).split(':');
    if (fields.length !== 6) return refuse(value, 'not an access point object ARN');
    const [, arnPartition, service, region, account, resourceType] = fields as [string, string, string, string, string, string];
    if (!PARTITION.test(arnPartition) || !REGION.test(region) || !ACCOUNT.test(account)) {
      return refuse(value, 'the ARN has an invalid partition, region or account');
    }
    const prefix = `arn:${arnPartition}:${service}:${region}:${account}:`;
    let accessPoint: string;
    let keyRaw: string[];
    if (service === 's3' && resourceType === 'accesspoint') {
      const [name, object] = rest;
      const validName = name !== undefined && (region === '' ? MRAP_ALIAS.test(name) : ACCESS_POINT_NAME.test(name));
      if (!validName || object !== 'object') return refuse(value, 'expected accesspoint/NAME/object/KEY');
      accessPoint = `${prefix}accesspoint/${name}`;
      keyRaw = segments.slice(3);
    } else if (service === 's3-outposts' && resourceType === 'outpost' && region !== '') {
      const [outpost, kind, name, object] = rest;
      if (outpost === undefined || !OUTPOST_ID.test(outpost)) return refuse(value, 'expected outpost/op-…');
      if (kind === 'accesspoint' && name !== undefined && ACCESS_POINT_NAME.test(name) && object === 'object') {
        accessPoint = `${prefix}outpost/${outpost}/accesspoint/${name}`;
        keyRaw = segments.slice(5);
      } else if (kind === 'object') {
        accessPoint = `${prefix}outpost/${outpost}`;
        keyRaw = segments.slice(3);
      } else {
        return refuse(value, 'expected outpost/ID/accesspoint/NAME/object/KEY');
      }
    } else {
      return refuse(value, 'only S3 access point (and S3 on Outposts) object ARNs name a copy source');
    }
    const key = decode(keyRaw.join('/'));
    const bad = checkKey(key);
    if (bad !== undefined) return refuse(value, bad);
    return withVersion({ arn: `${accessPoint}/object/${key as string}`, key: key as string, accessPoint });
  }

  if (segments.length < 2) return refuse(value, 'expected bucket/key');
  if (first === '') return refuse(value, 'the bucket is empty (S3 strips one leading slash, no more)');
  if (!isS3BucketName(first)) return refuse(value, `${JSON.stringify(first)} is not a valid bucket name`);
  const key = decode(segments.slice(1).join('/'));
  const bad = checkKey(key);
  if (bad !== undefined) return refuse(value, bad);
  return withVersion({ arn: `arn:${partition}:s3:::${first}/${key as string}`, bucket: first, key: key as string });
}

/** Operations whose `x-amz-copy-source` names an object they read. */
export function readsCopySource(operation: string): boolean {
  return operation === 'CopyObject' || operation === 'UploadPartCopy';
}

// A path segment that some URL normaliser would collapse: `.`/`..`, also percent-encoded (servers that decode
// before normalising), and a raw `\`, which WHATWG URL parsers read as `/` (`%5C` is a literal key character).
const DOT_SEGMENT = /(?:^|\/)(?:\.|%2e){1,2}(?=\/|$)/i;

/**
 * Why the raw path (no query) could be read as another resource upstream, or undefined. S3 itself takes keys
 * literally (`a/../b` is a key), but a proxy or S3-compatible server in front may normalise dot segments or read
 * `\` as `/`; raw bytes outside printable ASCII are read as Latin-1 by Node and as UTF-8 by others; and S3 reads
 * a raw `+` in the PATH as a space (a long-standing S3 quirk; every SDK sends `%2B` / `%20`) where the gateway and
 * S3-compatible servers read `+`. The gateway decides on the literal key, so such paths are refused.
 */
export function pathAmbiguity(rawPathOnly: string, options: { s3?: boolean } = {}): string | undefined {
  const shown = JSON.stringify(rawPathOnly);
  if (/[^\x21-\x7e]/.test(rawPathOnly)) return `the path ${shown} has raw bytes outside printable ASCII (percent-encode them)`;
  if (rawPathOnly.includes('\\')) return `the path ${shown} has a backslash, which URL parsers read as "/"`;
  if (DOT_SEGMENT.test(rawPathOnly)) return `the path ${shown} has a "." or ".." segment, which servers and proxies may collapse`;
  if (options.s3 === true && rawPathOnly.includes('+')) {
    return `the path ${shown} has a raw "+", which S3 reads as a space and other servers as "+" (send %2B or %20)`;
  }
  return undefined;
}
