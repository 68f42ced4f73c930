#!/usr/bin/env node
// Generates src/aws/operations.generated.json from AWS's published service models (the ones shipped in the
// npm `aws-sdk` v2 package, `apis/*.min.json`), so that operation identification is data, not hand-kept lists.
//
// Regenerate:
//   npm install --prefix /tmp/awssdk2 aws-sdk@2
//   node scripts/gen-operations.mjs /tmp/awssdk2/node_modules/aws-sdk/apis > src/aws/operations.generated.json
//
// Output (compact, see src/aws/models.ts for the types):
//   { source, services: { <modelId>: { endpointPrefix, signingName, iamPrefix, protocol, jsonVersion?, targetPrefix?,
//       globalEndpoint?, queryCompatible?, ops: { <Operation>: [method, requestUri, required, locations] } } } }
//   - method/requestUri only for REST protocols (rest-xml, rest-json); 0 elsewhere.
//   - required: top-level required input member names (JSON/query: all, for resource derivation; REST: only those
//     in the URI, query or headers, as REST bodies are not parsed).
//   - locations (REST only): { member: "u:label" | "q:name" | "h:name" } for uri labels and REQUIRED querystring
//     and header members (optional ones never decide the operation; params are read from the raw query anyway, and
//     keeping them would triple the size).
// Operations with exactly the same REST match key within one service (deprecated aliases such as
// GetBucketLifecycle vs GetBucketLifecycleConfiguration) are reduced to one: non-deprecated first, then one not
// marked for the S3 Express control endpoint, then alphabetical. Dropped names are reported on stderr.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

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

const dir = process.argv[2];
if (!dir) {
  process.stderr.write('usage: node scripts/gen-operations.mjs <aws-sdk/apis directory>\n');
  process.exit(2);
}

const readJson = (name) => JSON.parse(readFileSync(join(dir, name), 'utf8'));
const metadata = readJson('metadata.json');
const files = readdirSync(dir).filter((f) => f.endsWith('.min.json'));
let sdkVersion = 'unknown';
try {
  sdkVersion = JSON.parse(readFileSync(join(dir, '..', 'package.json'), 'utf8')).version;
} catch {
  // apis directory copied elsewhere: the version is informational only
}

function newestModelFile(prefix) {
  const re = new RegExp(`^${prefix.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}-(\\d{4}-\\d\\d-\\d\\d)\\.min\\.json$`);
  const matches = files.filter((f) => re.test(f)).sort();
  return matches.at(-1);
}

function resolveShape(model, ref) {
  let shape = ref;
  while (shape && shape.shape) shape = model.shapes[shape.shape];
  return shape;
}

const REST = new Set(['rest-xml', 'rest-json']);
const services = {};
let opCount = 0;

for (const id of Object.keys(metadata).sort()) {
  const prefix = metadata[id].prefix ?? id;
  const file = newestModelFile(prefix);
  if (!file) {
    process.stderr.write(`skip ${id}: no model file for prefix ${prefix}\n`);
    continue;
  }
  const model = readJson(file);
  const m = model.metadata;
  const signingName = m.signingName ?? m.endpointPrefix;
  const protocol = m.protocol;
  const rest = REST.has(protocol);
  const svc = {
    endpointPrefix: m.endpointPrefix,
    signingName,
    iamPrefix: IAM_PREFIX_BY_SIGNING_NAME[signingName] ?? signingName,
    protocol,
  };
  if (m.jsonVersion && protocol === 'json') svc.jsonVersion = m.jsonVersion;
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
      ops[name] = [0, 0, required];
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
    // REST bodies are never parsed for identification: only required inputs that live in the URI, query or
    // headers are useful.
    const entry = [method, uri, required.filter((r) => members[r].location)];
    if (Object.keys(locations).length > 0) entry.push(locations);
    ops[name] = entry;
  }
  svc.ops = ops;
  opCount += Object.keys(ops).length;
  services[id] = svc;
}

process.stdout.write(JSON.stringify({ source: `aws-sdk@${sdkVersion}`, services }));
process.stdout.write('\n');
process.stderr.write(`${Object.keys(services).length} services, ${opCount} operations\n`);
