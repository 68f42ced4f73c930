// Walks every operation of every modelled service through identifyRequest, once per protocol the service's model
// lists, from a synthetic request built the way an SDK builds it from the model: method + requestUri with its labels
// filled (and required query/header inputs set) for REST, X-Amz-Target for JSON, the RPC v2 path for CBOR, Action=
// for query. Each must come back as itself.
import { describe, expect, it } from 'vitest';
import { identifyRequest, type IdentifyInput } from '../../src/aws/identify.js';
import { loadServiceIndex, type ModelProtocol, type OperationModel, type ServiceModel } from '../../src/aws/models.js';

/**
 * Genuine exceptions, `service:Operation@protocol` → why the synthetic request reads as another operation. Keep it
 * short and explained: everything else must identify as itself.
 */
const EXCEPTIONS = new Map<string, string>([]);

function restRequest(svc: ServiceModel, op: OperationModel): Omit<IdentifyInput, 'signingService' | 'region'> {
  const [pathTemplate, queryTemplate = ''] = (op.requestUri as string).split('?', 2) as [string, string?];
  const path = pathTemplate.replace(/\{([^}]+)\}/g, (_m, name: string) => (name.endsWith('+') ? 'lbl/greedy' : 'lbl'));
  const query = queryTemplate === '' ? [] : queryTemplate.split('&');
  const headers: Record<string, string> = {};
  for (const m of op.members) {
    if (m.location === 'querystring') query.push(`${encodeURIComponent(m.name)}=q`);
    else if (m.location === 'header') headers[m.name] = 'h';
  }
  return {
    method: op.method as string,
    host: `${svc.endpointPrefix}.us-east-1.amazonaws.com`,
    rawPath: query.length > 0 ? `${path}?${query.join('&')}` : path,
    headers,
  };
}

function request(svc: ServiceModel, op: OperationModel, protocol: ModelProtocol): IdentifyInput {
  const base = { signingService: svc.signingName, region: 'us-east-1', accountId: '111122223333' };
  const host = `${svc.endpointPrefix}.us-east-1.amazonaws.com`;
  switch (protocol) {
    case 'rest-xml':
    case 'rest-json':
      return { ...base, ...restRequest(svc, op) };
    case 'json':
      return {
        ...base,
        method: 'POST',
        host,
        rawPath: '/',
        headers: { 'content-type': `application/x-amz-json-${svc.jsonVersion ?? '1.1'}`, 'x-amz-target': `${svc.targetPrefix}.${op.name}` },
        body: Buffer.from('{}'),
      };
    case 'rpc-v2-cbor':
      return {
        ...base,
        method: 'POST',
        host,
        rawPath: `/service/${svc.targetPrefix}/operation/${op.name}`,
        headers: { 'smithy-protocol': 'rpc-v2-cbor', 'content-type': 'application/cbor' },
        body: Buffer.from([0xa0]), // {}
      };
    case 'query':
    case 'ec2':
      return {
        ...base,
        method: 'POST',
        host,
        rawPath: '/',
        headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' },
        body: Buffer.from(`Action=${op.name}&Version=2020-01-01`),
      };
  }
}

describe('generated operation table', () => {
  const index = loadServiceIndex();

  it('every operation of every service, in every protocol its model lists, identifies as itself', () => {
    const wrong: string[] = [];
    let checked = 0;
    for (const svc of index.services) {
      for (const op of svc.operations.values()) {
        for (const protocol of svc.protocols) {
          const key = `${svc.id}:${op.name}@${protocol}`;
          const call = identifyRequest(request(svc, op, protocol), index);
          checked++;
          // Services that share a signing name and an endpoint (rds/docdb/neptune, elb/elbv2) serve the same wire
          // request: what must agree is the IAM action, the endpoint and the protocol, not the model's name.
          const ok = call.action === `${svc.iamPrefix}:${op.name}` && call.endpointPrefix === svc.endpointPrefix && call.protocol === protocol;
          if (ok === EXCEPTIONS.has(key)) wrong.push(`${key} → ${call.serviceId}:${call.operation}@${call.protocol}`);
        }
      }
    }
    expect(wrong).toEqual([]);
    expect(checked).toBeGreaterThan(18_000);
  });

  it('every JSON and CBOR service names its target prefix', () => {
    const missing = index.services.filter((s) => (s.protocols.includes('json') || s.protocols.includes('rpc-v2-cbor')) && !s.targetPrefix);
    expect(missing.map((s) => s.id)).toEqual([]);
  });
});
