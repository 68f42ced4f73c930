// Each stage alone (with the stages it needs before it), behind a real server on port 0, against a real upstream on
// port 0: what the stage leaves in the Flow, what the client gets, and what reached the upstream.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STAGES } from '../../src/pipeline/stages.js';
import { Revocations } from '../../src/sessions/revocations.js';
import { startStageLab, type StageLab } from './fixture.js';

let lab: StageLab;

beforeAll(async () => {
  lab = await startStageLab();
});

afterAll(async () => {
  await lab?.close();
});

const GET_OBJECT = { method: 'GET', path: '/reports/q1.txt', service: 's3' };
const DELETE_OBJECT = { method: 'DELETE', path: '/reports/q1.txt', service: 's3' };
const GET_SECRET = {
  method: 'POST',
  path: '/',
  service: 'secretsmanager',
  headers: { 'x-amz-target': 'secretsmanager.GetSecretValue', 'content-type': 'application/x-amz-json-1.1' },
  body: JSON.stringify({ SecretId: 'prod/db' }),
};

describe('the ordered list', () => {
  it('reads top to bottom in the documented order, each stage with a doc line', () => {
    expect(STAGES.map((s) => s.name)).toEqual(['sts', 'authenticate', 'mcp', 'identify', 'record', 'vet', 'limit', 'decide', 'escalate', 'approve', 'forward', 'mask']);
    for (const spec of STAGES) expect(spec.doc.length).toBeGreaterThan(20);
  });
});

describe('authenticate', () => {
  it('attaches the session and the verified signature; nothing else runs', async () => {
    const hits = lab.upstream.hits.length;
    const { flow, status } = await lab.send(['authenticate'], GET_OBJECT);
    expect(flow.session?.serviceAccount).toBe('alpha');
    expect(flow.signature?.parsed.service).toBe('s3');
    expect(flow.outcome).toBeUndefined();
    expect(flow.call).toBeUndefined();
    // No stage produced an answer: respond turns that into an internal error rather than hanging the client.
    expect(status).toBe(500);
    expect(lab.upstream.hits.length).toBe(hits);
  });

  it('a revoked session ends the call as refused with InvalidClientTokenId', async () => {
    lab.context.revocations.add({ sessionId: 'ses-alpha', at: new Date().toISOString() });
    try {
      const { flow, status, body } = await lab.send(['authenticate', 'identify'], GET_OBJECT);
      expect(flow.outcome?.kind).toBe('refused');
      expect(flow.call).toBeUndefined();
      expect(status).toBe(403);
      expect(body).toContain('InvalidClientTokenId');
      expect(body).toContain('session ses-alpha was revoked');
    } finally {
      lab.context.revocations = new Revocations();
    }
  });
});

describe('identify', () => {
  it('names the operation and every resource', async () => {
    const { flow } = await lab.send(['authenticate', 'identify'], GET_OBJECT);
    expect(flow.call?.action).toBe('s3:GetObject');
    expect(flow.call?.resources).toEqual(['arn:aws:s3:::reports/q1.txt']);
  });

  it('masks the parameters once, for approvers and recordings', async () => {
    const { flow } = await lab.send(['authenticate', 'identify'], { ...GET_SECRET, body: JSON.stringify({ SecretId: 'AKIAIOSFODNN7EXAMPLE' }) });
    expect(JSON.stringify(flow.maskedParams)).not.toContain('AKIAIOSFODNN7EXAMPLE');
    expect(JSON.stringify(flow.call?.params)).toContain('AKIAIOSFODNN7EXAMPLE');
  });
});

describe('decide', () => {
  it('deny is a value on the Flow: outcome denied, a decision event, a 403 naming the rule, nothing forwarded', async () => {
    const hits = lab.upstream.hits.length;
    const { flow, status, body } = await lab.send(['authenticate', 'identify', 'decide', 'forward', 'mask'], DELETE_OBJECT);
    expect(flow.decision?.effect).toBe('deny');
    expect(flow.outcome?.kind).toBe('denied');
    expect(flow.upstream).toBeUndefined();
    expect(status).toBe(403);
    expect(body).toContain('<Code>AccessDenied</Code>');
    expect(body).toContain('denied by rule no-delete: deletes are blocked');
    expect(lab.upstream.hits.length).toBe(hits);
    expect(lab.events.some((e) => e.type === 'decision' && e.requestId === flow.requestId && e.effect === 'deny' && e.ruleId === 'no-delete')).toBe(true);
  });

  it('allow goes on', async () => {
    const { flow } = await lab.send(['authenticate', 'identify', 'decide'], GET_OBJECT);
    expect(flow.decision?.effect).toBe('allow');
    expect(flow.outcome).toBeUndefined();
  });
});

describe('approve', () => {
  it('nobody answers within the hold: outcome pending, a retryable ThrottlingException, nothing forwarded', async () => {
    const hits = lab.upstream.hits.length;
    const { flow, status, body } = await lab.send(['authenticate', 'identify', 'decide', 'approve', 'forward', 'mask'], GET_SECRET);
    expect(flow.outcome?.kind).toBe('pending');
    expect(status).toBe(429);
    expect(JSON.parse(body).__type).toBe('ThrottlingException');
    expect(lab.upstream.hits.length).toBe(hits);
    const pending = lab.context.approvals.pending();
    expect(pending).toHaveLength(1);

    // Approved: the same call (the SDK's retry) passes once and is forwarded; the secret comes back masked.
    lab.context.approvals.approve(pending[0]!.id, { by: 'tester' });
    const retry = await lab.send(['authenticate', 'identify', 'decide', 'approve', 'forward', 'mask'], GET_SECRET);
    expect(retry.flow.approval).toEqual({ id: pending[0]!.id, via: 'approval' });
    expect(retry.status).toBe(200);
    expect(retry.body).not.toContain('hunter2-secret');
    expect(lab.upstream.hits.length).toBe(hits + 1);
    expect(lab.events.some((e) => e.type === 'approval.executed' && e.approvalId === pending[0]!.id)).toBe(true);
  });
});

describe('forward and mask', () => {
  it('re-signs with the upstream credentials (never the client’s) and masks the answer', async () => {
    const { flow, status, body } = await lab.send(['authenticate', 'identify', 'decide', 'forward', 'mask'], GET_OBJECT);
    expect(status).toBe(200);
    const hit = lab.upstream.hits.at(-1)!;
    expect(hit.url).toBe('/reports/q1.txt');
    expect(String(hit.headers.authorization)).toContain('Credential=ASIAUPSTREAM00000000/');
    expect(hit.headers['x-amz-security-token']).toBe('upstream-token');
    expect(String(hit.headers.authorization)).not.toContain(lab.credentials.accessKeyId);
    expect(body).not.toContain('AKIAIOSFODNN7EXAMPLE');
    expect(flow.response?.masking?.detectors).toMatchObject({ aws_access_key_id: 1 });
    expect(lab.events.some((e) => e.type === 'response' && e.requestId === flow.requestId && e.status === 200)).toBe(true);
  });

  it('a small PutObject body is read whole and forwarded byte for byte with its length', async () => {
    const body = 'small body '.repeat(1000);
    const { flow, status } = await lab.send(['authenticate', 'identify', 'decide', 'forward', 'mask'], { method: 'PUT', path: '/reports/small.txt', service: 's3', body });
    expect(status).toBe(200);
    expect(flow.body?.toString('utf8')).toBe(body); // buffered before forwarding
    const hit = lab.upstream.hits.at(-1)!;
    expect(hit.method).toBe('PUT');
    expect(hit.body.toString('utf8')).toBe(body);
    expect(hit.headers['content-length']).toBe(String(Buffer.byteLength(body)));
  });

  it('a PutObject body over 64 KiB streams through unbuffered and arrives byte for byte', async () => {
    const body = 'large body '.repeat(10_000);
    const { flow, status } = await lab.send(['authenticate', 'identify', 'decide', 'forward', 'mask'], { method: 'PUT', path: '/reports/large.txt', service: 's3', body });
    expect(status).toBe(200);
    expect(flow.body).toBeUndefined();
    const hit = lab.upstream.hits.at(-1)!;
    expect(hit.body.toString('utf8')).toBe(body);
    expect(hit.headers['content-length']).toBe(String(Buffer.byteLength(body)));
  });

  it('an unreachable upstream ends the call as failed with a 503 in the client’s protocol', async () => {
    const policy = lab.context.policy;
    const saved = lab.context.upstreamEndpoint;
    lab.context.upstreamEndpoint = 'http://127.0.0.1:1';
    try {
      const { flow, status, body } = await lab.send(['authenticate', 'identify', 'decide', 'forward', 'mask'], GET_OBJECT);
      expect(flow.outcome?.kind).toBe('failed');
      expect(status).toBe(503);
      expect(body).toContain('<Code>ServiceUnavailable</Code>');
    } finally {
      lab.context.upstreamEndpoint = saved;
      expect(lab.context.policy).toBe(policy);
    }
  });
});

describe('record', () => {
  it('writes the request record before deciding, and publishes it', async () => {
    const { flow } = await lab.send(['authenticate', 'identify', 'record'], GET_OBJECT);
    expect(lab.events.some((e) => e.type === 'request' && e.requestId === flow.requestId && e.action === 's3:GetObject')).toBe(true);
  });

  it('a recorder that cannot write ends the call as failed (on_failure: deny), nothing forwarded', async () => {
    const recorder = lab.context.recorder;
    const hits = lab.upstream.hits.length;
    lab.context.recorder = { record: () => false, failure: () => new Error('disk full') } as unknown as typeof recorder;
    try {
      const { flow, status, body } = await lab.send(['authenticate', 'identify', 'record', 'decide', 'forward', 'mask'], GET_OBJECT);
      expect(flow.outcome?.kind).toBe('failed');
      expect(status).toBe(503);
      expect(body).toContain('disk full');
      expect(lab.upstream.hits.length).toBe(hits);
    } finally {
      lab.context.recorder = recorder;
    }
  });
});
