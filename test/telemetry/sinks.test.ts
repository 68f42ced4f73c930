// Telemetry sinks against real listeners on port 0: an OTLP/HTTP collector (JSON encoding, decoded here), an HTTP
// OCSF collector, and syslog listeners over UDP and TCP. Events go in through the event bus, as in the gateway.

import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { createServer as createTcpServer, type AddressInfo, type Server as TcpServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventBus, type GatewayEvent } from '../../src/events.js';
import { BoundedQueue } from '../../src/lib/bounded-queue.js';
import { startTelemetry, type Telemetry } from '../../src/telemetry/index.js';
import { DEFAULT_TELEMETRY_QUEUE, type TelemetryConfig } from '../../src/telemetry/config.js';
import { call, iso, started } from '../recording/helpers.js';

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT_SPAN = '00f067aa0ba902b7';

/** One allowed S3 GET continuing the client's trace, and one denied call. */
function traffic(): GatewayEvent[] {
  const [request, decision, response] = call('s1', 1) as [Extract<GatewayEvent, { type: 'request' }>, Extract<GatewayEvent, { type: 'decision' }>, Extract<GatewayEvent, { type: 'response' }>];
  return [
    started('s1'),
    { ...request, http: { method: 'GET', host: 'bucket.s3.eu-west-1.amazonaws.com', path: '/key-1', userAgent: 'aws-cli/2' }, traceparent: `00-${TRACE_ID}-${PARENT_SPAN}-01` },
    { ...decision, pairs: [{ action: 's3:GetObject', resource: 'arn:aws:s3:::bucket/key-1', effect: 'allow', ruleId: 'read-billing' }] },
    { ...response, contentType: 'text/plain', requestBytes: 0 },
    ...call('s1', 2, { effect: 'deny', action: 'secretsmanager:GetSecretValue' }),
  ];
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
    req.on('end', () => resolve(body));
  });
}

async function listen(server: Server | TcpServer): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

const posts: Array<{ path: string; contentType: string | undefined; body: string }> = [];
let http: Server;
let httpPort: number;
let status = 200;

beforeAll(async () => {
  http = createServer((req, res) => {
    void readBody(req).then((body) => {
      posts.push({ path: req.url ?? '', contentType: req.headers['content-type'], body });
      res.writeHead(status, { 'content-type': 'application/json' }).end('{}');
    });
  });
  httpPort = await listen(http);
});
afterAll(() => new Promise<void>((resolve) => http.close(() => resolve())));

async function run(config: Omit<TelemetryConfig, 'queue'> & { queue?: TelemetryConfig['queue'] }, events = traffic()): Promise<{ telemetry: Telemetry; errors: string[] }> {
  const bus = new EventBus();
  const errors: string[] = [];
  const telemetry = (await startTelemetry({ queue: DEFAULT_TELEMETRY_QUEUE, ...config }, { bus, version: '9.9.9', onError: (e) => errors.push(e.message), flushMs: 1, retryBaseMs: 1 }))!;
  for (const event of events) bus.emit(event);
  await telemetry.flush();
  return { telemetry, errors };
}

type OtlpValue = { stringValue?: string; intValue?: string | number; arrayValue?: { values: OtlpValue[] } };
const attr = (span: { attributes: Array<{ key: string; value: OtlpValue }> }, key: string): unknown => {
  const value = span.attributes.find((a) => a.key === key)?.value;
  if (value?.arrayValue) return value.arrayValue.values.map((v) => v.stringValue);
  return value?.stringValue ?? (value?.intValue === undefined ? undefined : Number(value.intValue));
};

describe('OpenTelemetry traces over OTLP/HTTP', () => {
  it('exports one SERVER span per call with decision, rule, account, operation and resources, continuing the client trace', async () => {
    posts.length = 0;
    const { telemetry, errors } = await run({ otlp: { endpoint: `http://127.0.0.1:${httpPort}/v1/traces`, headers: { 'x-team': 'sec' }, serviceName: 'portcullis-test' } });
    await telemetry.close();
    expect(errors).toEqual([]);
    const traces = posts.filter((p) => p.path === '/v1/traces');
    expect(traces.length).toBeGreaterThan(0);
    expect(traces[0]!.contentType).toBe('application/json');
    const spans = traces.flatMap((p) => (JSON.parse(p.body) as { resourceSpans: any[] }).resourceSpans).flatMap((r) => {
      expect(r.resource.attributes).toContainEqual({ key: 'service.name', value: { stringValue: 'portcullis-test' } });
      return r.scopeSpans.flatMap((s: { spans: unknown[] }) => s.spans);
    }) as Array<any>;
    expect(spans).toHaveLength(2);
    const [get, denied] = spans.sort((a, b) => Number(BigInt(a.startTimeUnixNano) - BigInt(b.startTimeUnixNano)));
    expect(get).toMatchObject({ name: 's3.GetObject', kind: 2, traceId: TRACE_ID, parentSpanId: PARENT_SPAN });
    expect(BigInt(get.startTimeUnixNano)).toBe(BigInt(Date.parse(iso(1000))) * 1_000_000n);
    expect(BigInt(get.endTimeUnixNano)).toBe(BigInt(Date.parse(iso(1025))) * 1_000_000n);
    expect(attr(get, 'portcullis.decision')).toBe('allow');
    expect(attr(get, 'portcullis.rule')).toBe('read-billing');
    expect(attr(get, 'portcullis.service_account')).toBe('billing-job');
    expect(attr(get, 'rpc.method')).toBe('GetObject');
    expect(attr(get, 'portcullis.resources')).toEqual(['arn:aws:s3:::bucket/key-1']);
    expect(attr(get, 'http.request.method')).toBe('GET');
    expect(attr(get, 'http.response.status_code')).toBe(200);
    expect(denied.traceId).not.toBe(TRACE_ID);
    expect(denied.parentSpanId ?? '').toBe('');
    expect(attr(denied, 'portcullis.decision')).toBe('deny');
    expect(attr(denied, 'error.type')).toBe('AccessDenied');
  });
});

describe('OCSF over HTTP', () => {
  it('posts API Activity events as JSON lines', async () => {
    posts.length = 0;
    const { telemetry } = await run({ ocsfHttp: { url: `http://127.0.0.1:${httpPort}/ingest`, headers: { authorization: 'Splunk t' } } });
    await telemetry.close();
    const lines = posts.filter((p) => p.path === '/ingest').flatMap((p) => p.body.trimEnd().split('\n'));
    expect(posts[0]!.contentType).toBe('application/x-ndjson');
    const events = lines.map((l) => JSON.parse(l) as Record<string, any>);
    expect(events.map((e) => [e.class_uid, e.type_uid, e.api.operation, e.disposition])).toEqual([
      [6003, 600302, 'GetObject', 'Allowed'],
      [6003, 600302, 'GetSecretValue', 'Blocked'],
    ]);
    expect(events[0]!.actor.user.name).toBe('billing-job');
    expect(events[0]!.http_request).toMatchObject({ http_method: 'GET', url: { hostname: 'bucket.s3.eu-west-1.amazonaws.com', path: '/key-1' } });
  });

  it('retries, then drops and counts; emitting never waits for the sink', async () => {
    posts.length = 0;
    status = 503;
    try {
      const bus = new EventBus();
      const errors: string[] = [];
      const telemetry = (await startTelemetry(
        { ocsfHttp: { url: `http://127.0.0.1:${httpPort}/ingest`, headers: {} }, queue: { maxItems: 10, retries: 2 } },
        { bus, version: '1', onError: (e) => errors.push(e.message), flushMs: 1, retryBaseMs: 1 },
      ))!;
      const started = performance.now();
      for (const event of traffic()) bus.emit(event);
      expect(performance.now() - started).toBeLessThan(50);
      await telemetry.flush();
      expect(posts).toHaveLength(3);
      expect(telemetry.dropped()).toEqual({ ocsf_http: 2 });
      expect(errors[0]).toMatch(/^telemetry ocsf_http: 2 items dropped \(2 in all\): sending failed 3 times: .* answered 503$/);
      await telemetry.close();
    } finally {
      status = 200;
    }
  });
});

describe('OCSF over syslog (RFC 5424)', () => {
  const RFC5424 = /^<(\d{1,3})>1 (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) (\S+) portcullis (\d+) ocsf-6003 - (\{.*\})$/;

  it('sends one datagram per call over UDP', async () => {
    const udp: UdpSocket = createSocket('udp4');
    const received: string[] = [];
    udp.on('message', (msg) => received.push(msg.toString('utf8')));
    await new Promise<void>((resolve) => udp.bind(0, '127.0.0.1', resolve));
    const port = udp.address().port;
    const { telemetry } = await run({ syslog: { transport: 'udp', host: '127.0.0.1', port, appName: 'portcullis', facility: 13 } });
    await telemetry.close();
    await new Promise((resolve) => setTimeout(resolve, 50));
    udp.close();
    expect(received).toHaveLength(2);
    const [allowed, blocked] = received.map((m) => RFC5424.exec(m)!);
    expect(allowed![1]).toBe(String(13 * 8 + 6));
    expect(blocked![1]).toBe(String(13 * 8 + 4));
    expect(allowed![2]).toBe(iso(1000));
    expect(JSON.parse(allowed![5]!)).toMatchObject({ class_uid: 6003, api: { operation: 'GetObject' } });
  });

  it('frames messages with octet counting over TCP', async () => {
    let data = '';
    const server = createTcpServer((socket) => socket.on('data', (chunk) => (data += chunk.toString('utf8'))));
    const port = await listen(server);
    const { telemetry } = await run({ syslog: { transport: 'tcp', host: '127.0.0.1', port, appName: 'portcullis', facility: 10 } });
    await telemetry.close();
    await new Promise((resolve) => setTimeout(resolve, 50));
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const messages: string[] = [];
    let rest = Buffer.from(data);
    while (rest.length > 0) {
      const space = rest.indexOf(0x20);
      const length = Number(rest.subarray(0, space).toString());
      messages.push(rest.subarray(space + 1, space + 1 + length).toString('utf8'));
      rest = rest.subarray(space + 1 + length);
    }
    expect(messages).toHaveLength(2);
    expect(messages.every((m) => RFC5424.test(m))).toBe(true);
    expect(RFC5424.exec(messages[0]!)![1]).toBe(String(10 * 8 + 6));
  });
});

describe('BoundedQueue', () => {
  it('drops the newest item when full and counts it', async () => {
    const sent: number[][] = [];
    const queue = new BoundedQueue<number>({ send: async (batch) => void sent.push(batch), maxItems: 2, flushMs: 1 });
    expect([queue.push(1), queue.push(2), queue.push(3)]).toEqual([true, true, false]);
    await queue.flush();
    expect(sent).toEqual([[1, 2]]);
    expect([queue.dropped(), queue.sent()]).toEqual([1, 2]);
  });
});
