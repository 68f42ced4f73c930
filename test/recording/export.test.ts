import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { GatewayEvent } from '../../src/events.js';
import { callsOf, ocsfActivity, parseSession, toHar, toOcsf, toOcsfJsonl, type ParsedSession } from '../../src/recording/export.js';
import { Recorder } from '../../src/recording/recorder.js';
import { formatOffset, timeline } from '../../src/recording/replay.js';
import { call, iso, makeKeys, started, T0, tempDir } from './helpers.js';

let session: ParsedSession;

beforeAll(async () => {
  const keys = await makeKeys('gw-1');
  const dir = await tempDir();
  const rec = new Recorder({ stateDir: dir, signer: keys.signer, gatewayVersion: 't', now: () => new Date(T0) });
  rec.record(started('s1'));
  for (const e of call('s1', 1)) rec.record(e);
  for (const e of call('s1', 2, { effect: 'deny', action: 'secretsmanager:GetSecretValue' })) rec.record(e);
  // An approval: held (429), approved, retried and let through by the grant.
  const base = { sessionId: 's1', serviceAccount: 'billing-job', action: 's3:DeleteObject', resource: 'arn:aws:s3:::bucket/old' };
  const events: GatewayEvent[] = [
    { type: 'request', at: iso(3000), ...base, requestId: 'r3', service: 's3', region: 'eu-west-1' },
    { type: 'decision', at: iso(3000), ...base, requestId: 'r3', effect: 'approve', ruleId: 'hold-deletes' },
    {
      type: 'approval.proposed', at: iso(3001), ...base, requestId: 'r3', approvalId: 'ap1', ruleId: 'hold-deletes', expiresAt: iso(300_000),
      pairs: ['s3:DeleteObject arn:aws:s3:::bucket/old'], body: { bytes: 12_595, sha256: 'ab12cd34'.padEnd(64, '0') }, headers: { 'x-amz-mfa': '[MASKED]' },
    },
    { type: 'response', at: iso(3002), ...base, requestId: 'r3', status: 429, errorCode: 'ThrottlingException', bytes: 80, durationMs: 2, bodyExcerpt: '{"__type":"ThrottlingException"}' },
    { type: 'approval.decided', at: iso(9000), approvalId: 'ap1', decision: 'approved', by: 'alice', forMs: 600_000 },
    { type: 'grant.created', at: iso(9000), grantId: 'g-abcd', approvalId: 'ap1', sessionId: 's1', serviceAccount: 'billing-job', pairs: ['s3:DeleteObject arn:aws:s3:::bucket/old'], by: 'alice', until: iso(609_000) },
    { type: 'request', at: iso(9500), ...base, requestId: 'r4', service: 's3', region: 'eu-west-1' },
    { type: 'decision', at: iso(9500), ...base, requestId: 'r4', effect: 'allow', ruleId: 'hold-deletes', via: 'grant' },
    { type: 'approval.executed', at: iso(9501), approvalId: 'ap1', requestId: 'r4' },
    { type: 'grant.used', at: iso(9501), grantId: 'g-abcd', approvalId: 'ap1', sessionId: 's1', requestId: 'r4' },
    { type: 'grant.ended', at: iso(9600), grantId: 'g-abcd', approvalId: 'ap1', sessionId: 's1', reason: 'revoked', by: 'bob', uses: 1 },
    { type: 'response', at: iso(9540), ...base, requestId: 'r4', status: 204, bytes: 0, durationMs: 40 },
    // A call still in flight when the recording was read.
    { type: 'request', at: iso(10_000), sessionId: 's1', serviceAccount: 'billing-job', requestId: 'r5', service: 'dynamodb', action: 'dynamodb:PutItem', resource: 'arn:aws:dynamodb:eu-west-1:123456789012:table/jobs', region: 'eu-west-1', params: { TableName: 'jobs' } },
  ];
  for (const e of events) rec.record(e);
  await rec.closeSession('s1', 'expired');
  await rec.close();
  session = parseSession(await readFile(join(dir, 'sessions', '2030-01-02', 's1.jsonl'), 'utf8'));
});

/** HAR 1.2 (http://www.softwareishard.com/blog/har-12-spec/): the members each object must have, and their types. */
function expectHarEntry(entry: Record<string, any>): void {
  expect(typeof entry.startedDateTime).toBe('string');
  expect(new Date(entry.startedDateTime).toISOString()).toBe(entry.startedDateTime);
  expect(entry.time).toBeTypeOf('number');
  const { request, response, timings } = entry;
  for (const key of ['method', 'url', 'httpVersion']) expect(request[key]).toBeTypeOf('string');
  expect(() => new URL(request.url)).not.toThrow();
  for (const key of ['headers', 'queryString', 'cookies']) expect(Array.isArray(request[key])).toBe(true);
  for (const nv of [...request.headers, ...request.queryString]) expect(Object.keys(nv).sort()).toEqual(['name', 'value']);
  expect(request.headersSize).toBeTypeOf('number');
  expect(request.bodySize).toBeTypeOf('number');
  if (request.postData) {
    expect(request.postData.mimeType).toBeTypeOf('string');
    expect(request.postData.text).toBeTypeOf('string');
  }
  expect(response.status).toBeTypeOf('number');
  for (const key of ['statusText', 'httpVersion', 'redirectURL']) expect(response[key]).toBeTypeOf('string');
  for (const key of ['headers', 'cookies']) expect(Array.isArray(response[key])).toBe(true);
  expect(response.content.size).toBeTypeOf('number');
  expect(response.content.mimeType).toBeTypeOf('string');
  expect(response.headersSize).toBeTypeOf('number');
  expect(response.bodySize).toBeTypeOf('number');
  expect(entry.cache).toEqual({});
  for (const key of ['send', 'wait', 'receive']) {
    expect(timings[key]).toBeTypeOf('number');
    expect(timings[key]).toBeGreaterThanOrEqual(-1);
  }
  // Custom members must start with an underscore.
  for (const key of Object.keys(entry)) expect(['pageref', 'startedDateTime', 'time', 'request', 'response', 'cache', 'timings'].includes(key) || key.startsWith('_')).toBe(true);
}

describe('HAR 1.2 export', () => {
  it('has the log structure devtools import, one entry per call, grouped by session page', () => {
    const har = JSON.parse(JSON.stringify(toHar([session], '9.9.9'))) as { log: Record<string, any> };
    expect(har.log.version).toBe('1.2');
    expect(har.log.creator).toEqual({ name: 'portcullis', version: '9.9.9' });
    expect(har.log.pages).toEqual([{ startedDateTime: iso(0), id: 's1', title: 'billing-job — session s1', pageTimings: { onContentLoad: -1, onLoad: -1 } }]);
    expect(har.log.entries).toHaveLength(5);
    for (const entry of har.log.entries) {
      expectHarEntry(entry);
      expect(entry.pageref).toBe('s1');
    }
  });

  it('maps requests, responses, decisions and approvals', () => {
    const [ok, denied, held, granted, inFlight] = toHar([session], '1').log.entries;
    expect(ok!.request).toMatchObject({ method: 'POST', url: 'https://s3.eu-west-1.amazonaws.com/?Action=GetObject', postData: { mimeType: 'application/json', text: '{"Bucket":"bucket","Key":"key-1"}' } });
    expect(ok!.response).toMatchObject({ status: 200, statusText: 'OK', content: { size: 42, mimeType: 'text/plain', text: 'hello' } });
    expect(ok!.timings).toEqual({ send: 0, wait: 25, receive: 0 });
    expect(denied!.response).toMatchObject({ status: 403, statusText: 'Forbidden', content: { mimeType: 'application/xml' } });
    expect(denied!._portcullis).toMatchObject({ effect: 'deny', ruleId: 'default-deny', errorCode: 'AccessDenied' });
    expect(held!._portcullis).toMatchObject({ effect: 'approve', approvals: [{ step: 'proposed' }, { step: 'decided', by: 'alice', decision: 'approved' }] });
    expect(granted!._portcullis).toMatchObject({ effect: 'allow', via: 'grant', approvals: [{ step: 'executed' }] });
    expect(granted!.response).toMatchObject({ status: 204, statusText: 'No Content' });
    expect(inFlight!.response).toMatchObject({ status: 0, statusText: '', bodySize: -1 });
    expect(inFlight!._portcullis).toMatchObject({ incomplete: 'no response recorded' });
  });
});

describe('the real call in the record', () => {
  let wire: ParsedSession;
  beforeAll(async () => {
    const keys = await makeKeys('gw-1');
    const dir = await tempDir();
    const rec = new Recorder({ stateDir: dir, signer: keys.signer, gatewayVersion: 't', now: () => new Date(T0) });
    rec.record(started('w1'));
    const base = { sessionId: 'w1', serviceAccount: 'billing-job' };
    const events: GatewayEvent[] = [
      {
        type: 'request', at: iso(1000), ...base, requestId: 'g1', service: 's3', region: 'us-east-1', action: 's3:GetObject', resource: 'arn:aws:s3:::reports/q1.txt',
        params: { Bucket: 'reports', Key: 'q1.txt' },
        http: { method: 'GET', host: 'reports.s3.us-east-1.amazonaws.com', path: '/q1.txt', query: [{ name: 'versionId', value: 'v 1' }], userAgent: 'aws-cli/2.15 md/arch#x86_64' },
        traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
      },
      { type: 'decision', at: iso(1000), ...base, requestId: 'g1', action: 's3:GetObject', resource: 'arn:aws:s3:::reports/q1.txt', effect: 'allow', ruleId: 'read-reports' },
      { type: 'response', at: iso(1030), ...base, requestId: 'g1', action: 's3:GetObject', resource: 'arn:aws:s3:::reports/q1.txt', status: 200, bytes: 11, durationMs: 30, bodyExcerpt: 'q1 figures\n', contentType: 'text/plain', requestBytes: 0 },
      {
        type: 'request', at: iso(2000), ...base, requestId: 'f1', service: 'sqs', region: 'us-east-1', action: 'sqs:SendMessage', resource: 'arn:aws:sqs:us-east-1:123456789012:jobs',
        params: { Action: 'SendMessage', QueueUrl: 'https://sqs.us-east-1.amazonaws.com/123456789012/jobs', MessageBody: 'hi there' },
        http: { method: 'POST', host: 'sqs.us-east-1.amazonaws.com', path: '/', userAgent: 'boto3/1.34', contentType: 'application/x-www-form-urlencoded; charset=utf-8' },
      },
      { type: 'decision', at: iso(2000), ...base, requestId: 'f1', action: 'sqs:SendMessage', resource: 'arn:aws:sqs:us-east-1:123456789012:jobs', effect: 'deny', ruleId: 'no-sqs' },
      { type: 'response', at: iso(2002), ...base, requestId: 'f1', action: 'sqs:SendMessage', resource: 'arn:aws:sqs:us-east-1:123456789012:jobs', status: 403, errorCode: 'AccessDenied', bytes: 0, durationMs: 2, bodyExcerpt: 'denied', contentType: 'text/xml', requestBytes: 120 },
    ];
    for (const e of events) rec.record(e);
    await rec.closeSession('w1', 'revoked');
    await rec.close();
    wire = parseSession(await readFile(join(dir, 'sessions', '2030-01-02', 'w1.jsonl'), 'utf8'));
  });

  it('HAR shows the real method, URL, status, headers and MIME types', () => {
    const har = JSON.parse(JSON.stringify(toHar([wire], '1'))) as { log: { entries: Array<Record<string, any>> } };
    const [get, form] = har.log.entries;
    for (const entry of har.log.entries) expectHarEntry(entry);
    expect(get!.request).toMatchObject({
      method: 'GET',
      url: 'https://reports.s3.us-east-1.amazonaws.com/q1.txt?versionId=v%201',
      queryString: [{ name: 'versionId', value: 'v 1' }],
      bodySize: 0,
    });
    expect(get!.request.postData).toBeUndefined();
    expect(get!.request.headers).toEqual([{ name: 'Host', value: 'reports.s3.us-east-1.amazonaws.com' }, { name: 'User-Agent', value: 'aws-cli/2.15 md/arch#x86_64' }]);
    expect(get!.response).toMatchObject({ status: 200, statusText: 'OK', content: { size: 11, mimeType: 'text/plain', text: 'q1 figures\n' } });
    expect(get!._portcullis).toMatchObject({ action: 's3:GetObject', effect: 'allow', ruleId: 'read-reports', traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' });
    expect(form!.request).toMatchObject({ method: 'POST', url: 'https://sqs.us-east-1.amazonaws.com/', bodySize: 120 });
    expect(form!.request.postData.mimeType).toBe('application/x-www-form-urlencoded; charset=utf-8');
    expect(new URLSearchParams(form!.request.postData.text).get('MessageBody')).toBe('hi there');
    expect(form!.request.postData.params).toContainEqual({ name: 'Action', value: 'SendMessage' });
    expect(form!.response).toMatchObject({ status: 403, content: { mimeType: 'text/xml' } });
  });

  it('encodes reserved characters of an S3 key in the HAR URL', () => {
    const request = wire.lines.find((l) => l.type === 'request')!;
    const odd = { ...wire, lines: wire.lines.map((l) => (l === request ? { ...request, http: { method: 'GET', host: 'b.s3.amazonaws.com', path: '/dir/a b?#%.txt' } } : l)) } as ParsedSession;
    expect(toHar([odd], '1').log.entries[0]!.request.url).toBe('https://b.s3.amazonaws.com/dir/a%20b%3F%23%25.txt');
  });

  it('OCSF carries the HTTP request', () => {
    const [get] = toOcsf([wire], '1');
    expect(get!.http_request).toEqual({
      http_method: 'GET',
      url: { hostname: 'reports.s3.us-east-1.amazonaws.com', path: '/q1.txt', query_string: 'versionId=v%201', url_string: 'https://reports.s3.us-east-1.amazonaws.com/q1.txt?versionId=v%201' },
      user_agent: 'aws-cli/2.15 md/arch#x86_64',
      length: 0,
    });
    expectOcsfApiActivity(get as unknown as Record<string, any>);
  });
});

/** OCSF 1.3 API Activity (class 6003): the attributes the schema marks required, and how they relate. */
function expectOcsfApiActivity(e: Record<string, any>): void {
  for (const key of ['activity_id', 'category_uid', 'class_uid', 'type_uid', 'time', 'severity_id']) expect(Number.isInteger(e[key])).toBe(true);
  expect(e.class_uid).toBe(6003);
  expect(e.category_uid).toBe(6);
  expect(e.type_uid).toBe(e.class_uid * 100 + e.activity_id);
  expect(e.metadata.version).toMatch(/^1\.\d+\.\d+$/);
  expect(e.metadata.product.vendor_name).toBeTypeOf('string');
  expect(e.actor).toBeTypeOf('object');
  expect(e.api.operation).toBeTypeOf('string');
  expect(e.src_endpoint).toBeTypeOf('object');
  expect(e.cloud.provider).toBeTypeOf('string');
}

describe('OCSF API Activity export', () => {
  it('carries the required attributes of class 6003 on every event', () => {
    const events = toOcsf([session], '9.9.9');
    expect(events).toHaveLength(5);
    for (const e of events) {
      expectOcsfApiActivity(e as unknown as Record<string, any>);
      expect(e.class_uid).toBe(6003);
      expect(e.category_uid).toBe(6);
      expect([1, 2, 3, 4, 99]).toContain(e.activity_id);
      expect(e.type_uid).toBe(600300 + e.activity_id);
      expect(Number.isInteger(e.time)).toBe(true);
      expect(Number.isInteger(e.severity_id)).toBe(true);
      expect([0, 1, 2]).toContain(e.status_id);
      expect(e.metadata).toMatchObject({ version: '1.3.0', product: { name: 'portcullis', vendor_name: 'portcullis', version: '9.9.9' } });
      expect(e.actor.user).toMatchObject({ name: 'billing-job', uid: 'billing-job' });
      expect(e.actor.session.uid).toBe('s1');
      expect(e.api.operation).toMatch(/^[A-Z]/);
      expect(e.api.service.name).toMatch(/^[a-z]/);
      expect(e.api.request.uid).toBeTypeOf('string');
      expect(e.src_endpoint.ip).toBe('10.0.0.7');
      expect(e.resources[0]!.uid).toMatch(/^arn:aws:/);
      expect(e.cloud).toEqual({ provider: 'AWS', region: 'eu-west-1' });
    }
  });

  it('maps outcome to status, severity and disposition', () => {
    const [ok, denied, held, granted, inFlight] = toOcsf([session], '1');
    expect(ok).toMatchObject({ activity_id: 2, activity_name: 'Read', type_uid: 600302, time: T0 + 1000, status_id: 1, status: 'Success', disposition_id: 1, disposition: 'Allowed', severity_id: 1 });
    expect(ok!.api).toEqual({ operation: 'GetObject', service: { name: 's3' }, request: { uid: 's1-r1' }, response: { code: 200 } });
    expect(denied).toMatchObject({ status_id: 2, status: 'Failure', status_detail: 'AccessDenied', disposition_id: 2, disposition: 'Blocked', severity_id: 3, unmapped: { rule: 'default-deny' } });
    expect(held).toMatchObject({ activity_id: 4, type_uid: 600304, disposition: 'Blocked', status_code: '429' });
    expect(granted).toMatchObject({ activity_id: 4, disposition: 'Allowed', status: 'Success', unmapped: { via: 'grant' } });
    expect(inFlight).toMatchObject({ activity_id: 1, status_id: 0, status: 'Unknown' });
  });

  it('writes one JSON event per line', () => {
    const text = toOcsfJsonl([session], '1');
    const lines = text.trimEnd().split('\n');
    expect(lines).toHaveLength(5);
    expect(lines.map((l) => (JSON.parse(l) as { class_uid: number }).class_uid)).toEqual([6003, 6003, 6003, 6003, 6003]);
  });

  it.each([
    ['CreateBucket', 1], ['PutObject', 1], ['SendMessage', 1], ['Invoke', 1],
    ['GetObject', 2], ['ListBuckets', 2], ['DescribeTable', 2], ['Query', 2], ['Scan', 2], ['HeadObject', 2], ['BatchGetItem', 2],
    ['UpdateItem', 3], ['TagResource', 3], ['RotateSecret', 3], ['Decrypt', 3],
    ['DeleteObject', 4], ['RemovePermission', 4], ['TerminateInstances', 4],
    ['AssumeRoleWithWebIdentity', 3], ['Foo', 99], ['', 99],
  ] as const)('%s is activity %i', (operation, id) => {
    expect(ocsfActivity(operation)).toBe(id);
  });
});

describe('reading recordings back', () => {
  it('groups lines into calls by request id', () => {
    const calls = callsOf(session);
    expect(calls.map((c) => [c.request.requestId, c.decisions.length, c.approvals.length, c.response?.status])).toEqual([
      ['s1-r1', 1, 0, 200], ['s1-r2', 1, 0, 403], ['r3', 1, 2, 429], ['r4', 1, 1, 204], ['r5', 0, 0, undefined],
    ]);
  });

  it('leaves out a torn last line and names a line that is not JSON', () => {
    expect(parseSession('{"seq":0,"prev":null,"type":"header","sessionId":"x","start":"2030-01-01T00:00:00Z"}\n{"seq":1,').torn).toBe(true);
    expect(() => parseSession('{"seq":0,"prev":null,"type":"header"}\nnope\n', 'f.jsonl')).toThrow('f.jsonl: line 2 is not JSON');
    expect(() => parseSession('{"seq":0,"type":"request"}\n', 'f.jsonl')).toThrow('f.jsonl: line 1 is not a session header');
  });

  it('builds a replay timeline with offsets from the session start', () => {
    const steps = timeline(session);
    expect(steps[0]!.text).toMatch(/^session s1 started: billing-job/);
    expect(steps.map((s) => s.offsetMs).slice(0, 4)).toEqual([0, 1000, 1000, 1025]);
    expect(steps.every((s, i) => i === 0 || s.offsetMs >= steps[i - 1]!.offsetMs)).toBe(true);
    const texts = steps.map((s) => s.text);
    expect(texts).toContain('  DENY by rule default-deny');
    expect(texts).toContain('  ✔ approval ap1 approved by alice');
    expect(texts).toContain(`  ⏸ approval ap1 requested (rule hold-deletes, until ${iso(300_000)}); covers s3:DeleteObject on arn:aws:s3:::bucket/old; body 12.3 KiB sha256:ab12cd34…; headers x-amz-mfa`);
    expect(texts).toContain(`  ⏲ grant g-abcd created by alice from approval ap1: billing-job may s3:DeleteObject on arn:aws:s3:::bucket/old until ${iso(609_000)}`);
    expect(texts).toContain('  ⏲ grant g-abcd let request r4 through (approval ap1)');
    expect(texts).toContain('  ⏲ grant g-abcd ended (revoked by bob) after 1 use(s)');
    expect(texts).toContain('← 403 AccessDenied 42 B in 25 ms [s1-r2]');
    expect(texts.at(-2)).toBe('session ended (expired)');
    expect(texts.at(-1)).toMatch(/^# final digest over \d+ lines, signed by key gw-1$/);
  });

  it.each([
    [0, '+00:00.000'], [1234, '+00:01.234'], [61_005, '+01:01.005'], [3_723_004, '+1:02:03.004'],
  ] as const)('formats offset %i as %s', (ms, text) => {
    expect(formatOffset(ms)).toBe(text);
  });
});
