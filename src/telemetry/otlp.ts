// OpenTelemetry traces over OTLP/HTTP (JSON): one SERVER span per call, from the request to the response, carrying
// the decision, rule, service account, operation and every resource decided. A client that sent a W3C `traceparent`
// gets its trace continued: the span is a child of the client's span. Spans go through the same bounded queue,
// retries and drop counter as every sink, so a slow collector never holds a call up.
//
// Loaded only when `telemetry.otlp` is configured (the OpenTelemetry packages are not needed otherwise).

import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Attributes } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { TracerProvider, type ReadableSpan, type SpanProcessor } from '@opentelemetry/sdk-trace';
import { BoundedQueue } from '../lib/bounded-queue.js';
import type { FinishedCall } from './calls.js';
import type { OtlpConfig } from './config.js';
import type { Sink, SinkOptions } from './ocsf-sinks.js';

function operationOf(action: string): string {
  const colon = action.indexOf(':');
  return colon === -1 ? action : action.slice(colon + 1);
}

/** Parent context from a validated version-00 traceparent (the record stage only keeps valid ones). */
function parentOf(traceparent: string | undefined): typeof ROOT_CONTEXT {
  if (traceparent === undefined) return ROOT_CONTEXT;
  const [, traceId, spanId, flags] = traceparent.split('-');
  return trace.setSpanContext(ROOT_CONTEXT, { traceId: traceId!, spanId: spanId!, traceFlags: Number.parseInt(flags!, 16) & 1, isRemote: true });
}

export function spanAttributes(call: FinishedCall): Attributes {
  const { header, request, response } = call;
  const decision = call.decisions.at(-1);
  const http = request.http;
  const attributes: Attributes = {
    'rpc.system': 'aws-api',
    'rpc.service': request.service,
    'rpc.method': operationOf(request.action),
    'cloud.provider': 'aws',
    'cloud.region': request.region,
    'portcullis.session_id': header.sessionId,
    'portcullis.service_account': header.serviceAccount,
    'portcullis.request_id': request.requestId,
    'portcullis.action': request.action,
    'portcullis.resource': request.resource,
    'portcullis.resources': [...new Set(call.pairs.map((p) => p.resource))],
    'portcullis.actions': [...new Set(call.pairs.map((p) => p.action))],
    'http.response.status_code': response.status,
    'http.response.body.size': response.bytes,
  };
  if (decision) {
    attributes['portcullis.decision'] = decision.effect;
    attributes['portcullis.rule'] = decision.ruleId;
    if (decision.via) attributes['portcullis.via'] = decision.via;
  }
  if (response.errorCode) attributes['error.type'] = response.errorCode;
  if (response.requestBytes !== undefined) attributes['http.request.body.size'] = response.requestBytes;
  if (http) {
    attributes['http.request.method'] = http.method;
    attributes['url.path'] = http.path;
    if (http.host) attributes['server.address'] = http.host;
    if (http.userAgent) attributes['user_agent.original'] = http.userAgent;
  }
  if (request.sourceIp) attributes['client.address'] = request.sourceIp;
  return attributes;
}

export function otlpSink(config: OtlpConfig, options: SinkOptions): Sink {
  const exporter = new OTLPTraceExporter({ url: config.endpoint, headers: config.headers, timeoutMillis: 10_000 });
  const queue = new BoundedQueue<ReadableSpan>({
    send: (batch) =>
      new Promise<void>((resolve, reject) =>
        exporter.export(batch, (result) => (result.code === 0 ? resolve() : reject(result.error ?? new Error('export failed')))),
      ),
    maxItems: options.queue.maxItems,
    retries: options.queue.retries,
    maxBatch: 256,
    ...(options.flushMs === undefined ? {} : { flushMs: options.flushMs }),
    ...(options.retryBaseMs === undefined ? {} : { retryBaseMs: options.retryBaseMs }),
    onError: (error) => options.onError(new Error(`telemetry otlp: ${error.message}`)),
  });
  const processor: SpanProcessor = {
    onStart: () => undefined,
    onEnd: (span) => void queue.push(span),
    forceFlush: () => queue.flush(),
    shutdown: () => queue.close(),
  };
  const provider = new TracerProvider({
    resource: resourceFromAttributes({ 'service.name': config.serviceName, 'service.version': options.version }),
    spanProcessors: [processor],
  });
  const tracer = provider.getTracer('portcullis', options.version);

  return {
    name: 'otlp',
    accept(call) {
      const { request, response } = call;
      const span = tracer.startSpan(
        `${request.service}.${operationOf(request.action)}`,
        { kind: SpanKind.SERVER, startTime: new Date(request.at), attributes: spanAttributes(call) },
        parentOf(request.traceparent),
      );
      const effect = call.decisions.at(-1)?.effect;
      if (response.status >= 500) span.setStatus({ code: SpanStatusCode.ERROR, message: response.errorCode ?? String(response.status) });
      else if (effect === 'deny') span.setStatus({ code: SpanStatusCode.UNSET, message: 'denied by policy' });
      span.end(new Date(Math.max(Date.parse(response.at), Date.parse(request.at))));
    },
    dropped: () => queue.dropped(),
    flush: () => queue.flush(),
    async close() {
      await provider.shutdown().catch(() => undefined);
      await exporter.shutdown().catch(() => undefined);
    },
  };
}
