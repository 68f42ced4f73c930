// Telemetry: optional sinks that stream each finished call where teams already look — OpenTelemetry traces (OTLP/HTTP),
// OCSF events to an HTTP collector and to syslog. Sinks subscribe to the event bus and only observe: each has a
// bounded queue, retries and a drop counter, and nothing on the data path waits for them.

import type { EventBus } from '../events.js';
import { CallAssembler } from './calls.js';
import type { TelemetryConfig } from './config.js';
import { ocsfHttpSink, syslogSink, type Sink, type SinkOptions } from './ocsf-sinks.js';

export interface Telemetry {
  /** Items each sink has dropped (queue full or delivery failed after retries). */
  dropped(): Record<string, number>;
  flush(): Promise<void>;
  /** Unsubscribes, sends what is queued, and closes connections. */
  close(): Promise<void>;
}

export interface TelemetryOptions {
  bus: EventBus;
  version: string;
  onError: (error: Error) => void;
  flushMs?: number;
  retryBaseMs?: number;
}

/** Starts the configured sinks; undefined when none is configured. */
export async function startTelemetry(config: TelemetryConfig | undefined, options: TelemetryOptions): Promise<Telemetry | undefined> {
  if (!config || (!config.otlp && !config.ocsfHttp && !config.syslog)) return undefined;
  const sinkOptions: SinkOptions = {
    queue: config.queue,
    version: options.version,
    onError: options.onError,
    ...(options.flushMs === undefined ? {} : { flushMs: options.flushMs }),
    ...(options.retryBaseMs === undefined ? {} : { retryBaseMs: options.retryBaseMs }),
  };
  const sinks: Sink[] = [];
  // The OpenTelemetry SDK is loaded only when traces are wanted.
  if (config.otlp) sinks.push((await import('./otlp.js')).otlpSink(config.otlp, sinkOptions));
  if (config.ocsfHttp) sinks.push(ocsfHttpSink(config.ocsfHttp, sinkOptions));
  if (config.syslog) sinks.push(syslogSink(config.syslog, sinkOptions));

  const assembler = new CallAssembler({
    gatewayVersion: options.version,
    onCall: (call) => {
      for (const sink of sinks) {
        try {
          sink.accept(call);
        } catch (error) {
          options.onError(new Error(`telemetry ${sink.name}: ${(error as Error).message}`));
        }
      }
    },
  });
  const unsubscribe = options.bus.subscribe((event) => assembler.observe(event));
  return {
    dropped: () => Object.fromEntries(sinks.map((s) => [s.name, s.dropped()])),
    flush: async () => {
      await Promise.all(sinks.map((s) => s.flush()));
    },
    close: async () => {
      unsubscribe();
      await Promise.all(sinks.map((s) => s.close().catch(() => undefined)));
    },
  };
}
