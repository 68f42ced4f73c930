// Loader and types for operations.generated.json (written by scripts/gen-operations.mjs from botocore's models).
// The table is read once, lazily, with fs rather than a JSON import so the type checker never infers a type for
// a megabyte of literal data.
import { readFileSync } from 'node:fs';

/** The wire protocols AWS services speak; `rpc-v2-cbor` is Smithy RPC v2 CBOR. */
export type ModelProtocol = 'json' | 'query' | 'ec2' | 'rest-xml' | 'rest-json' | 'rpc-v2-cbor';

/**
 * REST: [method, requestUri, locations?] — the members in `locations` (uri labels, required query and header
 * inputs) are the operation's required inputs. RPC protocols: `0`, or [0, 0, requiredArnMembers] when the operation
 * has required inputs named *Arn (the only required members resources.ts reads for those).
 */
export type RawOperation = 0 | [0, 0, string[]] | [string, string] | [string, string, Record<string, string>];

export interface RawService {
  endpointPrefix: string;
  signingName: string;
  iamPrefix: string;
  /** Every protocol the model lists, preferred first. A client may send any of them. */
  protocols: ModelProtocol[];
  jsonVersion?: string;
  targetPrefix?: string;
  globalEndpoint?: string;
  /** JSON-protocol service that still accepts the older query form (SQS). */
  queryCompatible?: boolean;
  ops: Record<string, RawOperation>;
}

export interface OperationTable {
  source: string;
  services: Record<string, RawService>;
}

export type MemberLocation = 'uri' | 'querystring' | 'header';

export interface RestMember {
  member: string;
  location: MemberLocation;
  /** URI label, query key, or lower-cased header name. */
  name: string;
}

export interface OperationModel {
  name: string;
  method?: string;
  requestUri?: string;
  required: string[];
  /** REST only: uri labels, querystring members, required headers. */
  members: RestMember[];
}

export interface ServiceModel {
  /** Key in the generated table (the SDK's service id, e.g. `s3`, `dynamodbstreams`). */
  id: string;
  endpointPrefix: string;
  signingName: string;
  iamPrefix: string;
  /** The model's preferred protocol (the first of `protocols`): the error shape when nothing else tells. */
  protocol: ModelProtocol;
  /** Every protocol the service accepts: the model's list, plus `query` for query-compatible JSON services. */
  protocols: ModelProtocol[];
  jsonVersion?: string;
  targetPrefix?: string;
  globalEndpoint?: string;
  queryCompatible: boolean;
  operations: Map<string, OperationModel>;
}

const LOCATION_BY_TAG: Record<string, MemberLocation> = { u: 'uri', q: 'querystring', h: 'header' };

function toOperation(name: string, raw: RawOperation): OperationModel {
  if (raw === 0) return { name, required: [], members: [] };
  if (raw[0] === 0) return { name, required: raw[2] as string[], members: [] };
  const [method, requestUri, locations = {}] = raw as [string, string, Record<string, string>?];
  const members: RestMember[] = [];
  for (const [member, spec] of Object.entries(locations)) {
    const location = LOCATION_BY_TAG[spec.slice(0, 1)];
    if (!location) throw new Error(`operation table: ${name}.${member} has unknown location ${JSON.stringify(spec)}`);
    const locName = spec.slice(2);
    members.push({ member, location, name: location === 'header' ? locName.toLowerCase() : locName });
  }
  return { name, method, requestUri, required: Object.keys(locations), members };
}

export interface ServiceIndex {
  source: string;
  services: ServiceModel[];
  bySigningName: Map<string, ServiceModel[]>;
  byId: Map<string, ServiceModel>;
}

/** Builds the index from a table (tests pass small tables; production uses loadServiceIndex()). */
export function buildServiceIndex(table: OperationTable): ServiceIndex {
  const services: ServiceModel[] = [];
  const bySigningName = new Map<string, ServiceModel[]>();
  const byId = new Map<string, ServiceModel>();
  for (const [id, raw] of Object.entries(table.services)) {
    const operations = new Map<string, OperationModel>();
    for (const [name, op] of Object.entries(raw.ops)) operations.set(name, toOperation(name, op));
    const svc: ServiceModel = {
      id,
      endpointPrefix: raw.endpointPrefix,
      signingName: raw.signingName,
      iamPrefix: raw.iamPrefix,
      protocol: raw.protocols[0] ?? 'json',
      protocols: raw.queryCompatible === true && !raw.protocols.includes('query') ? [...raw.protocols, 'query'] : raw.protocols,
      queryCompatible: raw.queryCompatible === true,
      operations,
    };
    if (raw.jsonVersion !== undefined) svc.jsonVersion = raw.jsonVersion;
    if (raw.targetPrefix !== undefined) svc.targetPrefix = raw.targetPrefix;
    if (raw.globalEndpoint !== undefined) svc.globalEndpoint = raw.globalEndpoint;
    services.push(svc);
    byId.set(id, svc);
    const list = bySigningName.get(raw.signingName) ?? [];
    list.push(svc);
    bySigningName.set(raw.signingName, list);
  }
  // The service whose endpoint prefix equals its signing name is the primary one (dynamodb before
  // dynamodbstreams, s3 before s3control): it wins ties.
  for (const list of bySigningName.values()) {
    list.sort((a, b) => Number(b.endpointPrefix === b.signingName) - Number(a.endpointPrefix === a.signingName));
  }
  return { source: table.source, services, bySigningName, byId };
}

/** Whether the service accepts any of these protocols. */
export function speaks(svc: ServiceModel, ...protocols: ModelProtocol[]): boolean {
  return protocols.some((p) => svc.protocols.includes(p));
}

let cached: ServiceIndex | undefined;

/** The generated table, parsed once. Works from src/ (tests) and dist/ (tsc copies the JSON next to this file). */
export function loadServiceIndex(): ServiceIndex {
  if (!cached) {
    const text = readFileSync(new URL('./operations.generated.json', import.meta.url), 'utf8');
    cached = buildServiceIndex(JSON.parse(text) as OperationTable);
  }
  return cached;
}
