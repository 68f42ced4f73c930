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

/** The OpenTelemetry packages are optional peers (about 28 MB): a bastion that wants OTLP installs them. */
export const OTLP_PACKAGES = ['@opentelemetry/api@1.9.0', '@opentelemetry/sdk-trace@2.12.1', '@opentelemetry/exporter-trace-otlp-http@0.223.1', '@opentelemetry/resources@2.12.1'];

async function loadOtlp(): Promise<typeof import('./otlp.js')> {
  try {
    return await import('./otlp.js');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ERR_MODULE_NOT_FOUND') throw error;
    throw new Error(`telemetry.otlp needs the OpenTelemetry packages, which are not installed: npm install ${OTLP_PACKAGES.join(' ')}`);
  }
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
  if (config.otlp) sinks.push((await loadOtlp()).otlpSink(config.otlp, sinkOptions));
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
