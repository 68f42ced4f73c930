#!/usr/bin/env node
// Generates src/aws/operations.generated.json from botocore's service models (`botocore/data/<service>/<version>/
// service-2.json[.gz]`), so that operation identification is data, not hand-kept lists. botocore's models are the
// current ones (aws-sdk v2's, used before, are frozen: they still call CloudWatch a query service).
//
// Regenerate (the machine's Python has botocore; any newer botocore works the same):
//   node scripts/gen-operations.mjs > src/aws/operations.generated.json
//   node scripts/gen-operations.mjs /path/to/botocore/data > src/aws/operations.generated.json
//
// Output (compact, see src/aws/models.ts for the types):
//   { source: "botocore@<version>", services: { <botocore service name>: { endpointPrefix, signingName, iamPrefix,
//       protocols, jsonVersion?, targetPrefix?, globalEndpoint?, queryCompatible?, ops: { <Operation>: <entry> } } } }
//   - protocols: every protocol the model lists (`metadata.protocols`, else `[metadata.protocol]`), in its order of
//     preference, `smithy-rpc-v2-cbor` written `rpc-v2-cbor`. A client may send any of them (CloudWatch: query from
//     the aws CLI v1, JSON 1.0 from botocore and JS v3, CBOR from newer SDKs).
//   - entry for RPC protocols (json, query, ec2, rpc-v2-cbor): `0`, or `[0, 0, required]` when the operation has
//     required inputs named *Arn/*ARN (the only required members resource derivation reads, see resources.ts
//     genericArns).
//   - entry for REST protocols: `[method, requestUri, locations?]`, locations `{ member: "u:label" | "q:name" |
//     "h:name" }` for uri labels and REQUIRED querystring and header members (optional ones never decide the
//     operation; params are read from the raw query anyway). The operation's required inputs that matter (REST
//     bodies are not parsed for identification) are exactly these members: uri labels are always required.
// Operations with exactly the same REST match key within one service (deprecated aliases such as
// GetBucketLifecycle vs GetBucketLifecycleConfiguration) are reduced to one: non-deprecated first, then one not
// marked for the S3 Express control endpoint, then alphabetical. Dropped names are reported on stderr.
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync, existsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { gunzipSync } from 'node:zlib';

// IAM action prefixes that differ from the SigV4 signing name.
const IAM_PREFIX_BY_SIGNING_NAME = {
  monitoring: 'cloudwatch',
  tagging: 'tag',
  iotdata: 'iot',
  'iot-jobs-data': 'iotjobsdata',
  ioteventsdata: 'iotevents',
  IoTSecuredTunneling: 'iot',
  awsssoportal: 'sso',
};

const PROTOCOL_NAMES = {
  json: 'json',
  query: 'query',
  ec2: 'ec2',
  'rest-xml': 'rest-xml',
  'rest-json': 'rest-json',
  'smithy-rpc-v2-cbor': 'rpc-v2-cbor',
};
const REST = new Set(['rest-xml', 'rest-json']);
const ARN_MEMBER = /(Arn|ARN)$/;

function botocoreDataDir() {
  const out = execFileSync('python3', ['-c', 'import botocore, os; print(os.path.dirname(botocore.__file__))'], {
    encoding: 'utf8',
  });
  return join(out.trim(), 'data');
}

const dataDir = process.argv[2] ?? botocoreDataDir();
let botocoreVersion = 'unknown';
try {
  const init = readFileSync(join(dirname(dataDir), '__init__.py'), 'utf8');
  botocoreVersion = /^__version__ = ['"]([^'"]+)['"]/m.exec(init)?.[1] ?? 'unknown';
} catch {
  // data directory copied elsewhere: the version is informational only
}

function readModel(dir) {
  for (const name of ['service-2.json', 'service-2.json.gz']) {
    const file = join(dir, name);
    if (!existsSync(file)) continue;
    const bytes = readFileSync(file);
    return JSON.parse((name.endsWith('.gz') ? gunzipSync(bytes) : bytes).toString('utf8'));
  }
  return undefined;
}

/** botocore's loader takes the newest API version directory that holds a service model. */
function newestModel(service) {
  const dir = join(dataDir, service);
  const versions = readdirSync(dir)
    .filter((v) => statSync(join(dir, v)).isDirectory())
    .sort()
    .reverse();
  for (const v of versions) {
    const model = readModel(join(dir, v));
    if (model) return model;
  }
  return undefined;
}

function resolveShape(model, ref) {
  let shape = ref;
  while (shape && shape.shape) shape = model.shapes[shape.shape];
  return shape;
}

const services = {};
let opCount = 0;

for (const id of readdirSync(dataDir).sort()) {
  if (!statSync(join(dataDir, id)).isDirectory()) continue;
  const model = newestModel(id);
  if (!model) continue;
  const m = model.metadata;
  const protocols = (m.protocols ?? [m.protocol]).map((p) => {
    const name = PROTOCOL_NAMES[p];
    if (!name) throw new Error(`${id}: unknown protocol ${p}`);
    return name;
  });
  const signingName = m.signingName ?? m.endpointPrefix;
  const restProtocols = protocols.filter((p) => REST.has(p));
  if (restProtocols.length > 0 && restProtocols.length !== protocols.length) {
    throw new Error(`${id}: mixes REST and RPC protocols (${protocols.join(', ')}); the table format has no room for that`);
  }
  const rest = restProtocols.length > 0;
  const svc = {
    endpointPrefix: m.endpointPrefix,
    signingName,
    iamPrefix: IAM_PREFIX_BY_SIGNING_NAME[signingName] ?? signingName,
    protocols,
  };
  if (m.jsonVersion && protocols.includes('json')) svc.jsonVersion = m.jsonVersion;
  if (m.targetPrefix) svc.targetPrefix = m.targetPrefix;
  if (m.globalEndpoint) svc.globalEndpoint = m.globalEndpoint;
  if (m.awsQueryCompatible) svc.queryCompatible = true;

  const ops = {};
  const byKey = new Map();
  for (const name of Object.keys(model.operations).sort()) {
    const op = model.operations[name];
    const input = resolveShape(model, op.input) ?? { members: {} };
    const members = input.members ?? {};
    const required = (input.required ?? []).filter((r) => members[r]);
    if (!rest) {
      const arns = required.filter((r) => ARN_MEMBER.test(r));
      ops[name] = arns.length > 0 ? [0, 0, arns] : 0;
      continue;
    }
    const method = op.http?.method ?? 'POST';
    const uri = op.http?.requestUri ?? '/';
    const locations = {};
    for (const [member, spec] of Object.entries(members)) {
      if (spec.location === 'uri') locations[member] = `u:${spec.locationName ?? member}`;
      else if (spec.location === 'querystring' && required.includes(member)) locations[member] = `q:${spec.locationName ?? member}`;
      else if (spec.location === 'header' && required.includes(member)) locations[member] = `h:${spec.locationName ?? member}`;
    }
    const discriminators = required
      .filter((r) => members[r].location === 'querystring' || members[r].location === 'header')
      .map((r) => locations[r].toLowerCase())
      .sort();
    const key = `${method} ${uri} ${discriminators.join(',')}`;
    const rank = (op.deprecated ? 2 : 0) + (op.staticContextParams?.UseS3ExpressControlEndpoint ? 1 : 0);
    const previous = byKey.get(key);
    if (previous) {
      if (previous.rank <= rank) {
        process.stderr.write(`${id}: ${name} shadowed by ${previous.name} (${key})\n`);
        continue;
      }
      process.stderr.write(`${id}: ${previous.name} shadowed by ${name} (${key})\n`);
      delete ops[previous.name];
    }
    byKey.set(key, { name, rank });
    const located = required.filter((r) => members[r].location).sort();
    if (JSON.stringify(located) !== JSON.stringify(Object.keys(locations).sort())) {
      throw new Error(`${id}.${name}: a uri label is not required; the table format assumes it is`);
    }
    ops[name] = Object.keys(locations).length > 0 ? [method, uri, locations] : [method, uri];
  }
  svc.ops = ops;
  opCount += Object.keys(ops).length;
  services[id] = svc;
}

process.stdout.write(JSON.stringify({ source: `botocore@${botocoreVersion}`, services }));
process.stdout.write('\n');
process.stderr.write(`${Object.keys(services).length} services, ${opCount} operations (botocore ${botocoreVersion})\n`);
