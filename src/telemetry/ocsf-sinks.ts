// OCSF API Activity events (the same mapping as `portcullis export --format ocsf`) streamed to a SIEM: as JSON lines
// POSTed to an HTTP collector, and as RFC 5424 syslog messages over UDP or TCP (RFC 6587 octet counting).

import { createSocket } from 'node:dgram';
import { hostname } from 'node:os';
import { connect, type Socket } from 'node:net';
import { BoundedQueue } from '../lib/bounded-queue.js';
import { ocsfEvent, type OcsfApiActivity } from '../recording/export.js';
import type { FinishedCall } from './calls.js';
import type { OcsfHttpConfig, SyslogConfig, TelemetryQueueConfig } from './config.js';

export interface Sink {
  readonly name: string;
  accept(call: FinishedCall): void;
  dropped(): number;
  flush(): Promise<void>;
  close(): Promise<void>;
}

export interface SinkOptions {
  queue: TelemetryQueueConfig;
  version: string;
  onError: (error: Error) => void;
  /** Delay before a batch goes out (default 200 ms); tests shorten it. */
  flushMs?: number;
  retryBaseMs?: number;
}

function ocsfOf(call: FinishedCall, version: string): OcsfApiActivity {
  return ocsfEvent({ header: call.header, lines: [], torn: false }, call, version);
}

function queueOf<T>(name: string, options: SinkOptions, send: (batch: T[]) => Promise<void>): BoundedQueue<T> {
  return new BoundedQueue<T>({
    send,
    maxItems: options.queue.maxItems,
    retries: options.queue.retries,
    ...(options.flushMs === undefined ? {} : { flushMs: options.flushMs }),
    ...(options.retryBaseMs === undefined ? {} : { retryBaseMs: options.retryBaseMs }),
    onError: (error) => options.onError(new Error(`telemetry ${name}: ${error.message}`)),
  });
}

class QueueSink<T> implements Sink {
  constructor(
    readonly name: string,
    readonly queue: BoundedQueue<T>,
    readonly map: (call: FinishedCall) => T,
    readonly onClose: () => Promise<void> = async () => undefined,
  ) {}

  accept(call: FinishedCall): void {
    this.queue.push(this.map(call));
  }

  dropped(): number {
    return this.queue.dropped();
  }

  flush(): Promise<void> {
    return this.queue.flush();
  }

  async close(): Promise<void> {
    await this.queue.close();
    await this.onClose();
  }
}

export function ocsfHttpSink(config: OcsfHttpConfig, options: SinkOptions): Sink {
  const queue = queueOf<OcsfApiActivity>('ocsf_http', options, async (batch) => {
    const response = await fetch(config.url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-ndjson', ...config.headers },
      body: batch.map((e) => `${JSON.stringify(e)}\n`).join(''),
      signal: AbortSignal.timeout(10_000),
    });
    await response.arrayBuffer().catch(() => undefined);
    if (!response.ok) throw new Error(`${config.url} answered ${response.status}`);
  });
  return new QueueSink('ocsf_http', queue, (call) => ocsfOf(call, options.version));
}

// ---------- syslog (RFC 5424) ----------

/** Blocked calls are warnings (4), the rest informational (6). */
function syslogSeverity(event: OcsfApiActivity): number {
  return event.disposition_id === 2 ? 4 : 6;
}

/** One RFC 5424 message: <PRI>1 TIMESTAMP HOST APP PROCID MSGID - MSG, the OCSF event as the MSG. */
export function syslogMessage(event: OcsfApiActivity, config: Pick<SyslogConfig, 'appName' | 'facility'>, host = hostname()): string {
  const pri = config.facility * 8 + syslogSeverity(event);
  const field = (text: string, max: number): string => (text.replace(/[^\x21-\x7e]/g, '') || '-').slice(0, max);
  return `<${pri}>1 ${new Date(event.time).toISOString()} ${field(host, 255)} ${field(config.appName, 48)} ${process.pid} ocsf-6003 - ${JSON.stringify(event)}`;
}

export function syslogSink(config: SyslogConfig, options: SinkOptions): Sink {
  let socket: Socket | undefined;
  const udp = config.transport === 'udp' ? createSocket(config.host.includes(':') ? 'udp6' : 'udp4') : undefined;
  udp?.unref();
  udp?.on('error', () => undefined);

  const tcpSocket = (): Promise<Socket> => {
    if (socket && !socket.destroyed) return Promise.resolve(socket);
    return new Promise((resolve, reject) => {
      const s = connect({ host: config.host, port: config.port });
      s.setTimeout(10_000, () => s.destroy(new Error('timed out')));
      s.once('connect', () => {
        s.setTimeout(0);
        s.unref();
        socket = s;
        resolve(s);
      });
      s.once('error', reject);
      s.on('error', () => undefined);
    });
  };

  const queue = queueOf<string>('syslog', options, async (batch) => {
    if (udp) {
      for (const message of batch) {
        await new Promise<void>((resolve, reject) => udp.send(Buffer.from(message), config.port, config.host, (error) => (error ? reject(error) : resolve())));
      }
      return;
    }
    const s = await tcpSocket();
    // RFC 6587 octet counting: the length in bytes, a space, the message.
    const framed = batch.map((m) => `${Buffer.byteLength(m)} ${m}`).join('');
    await new Promise<void>((resolve, reject) =>
      s.write(framed, (error) => {
        if (error) {
          s.destroy();
          reject(error);
        } else resolve();
      }),
    );
  });
  return new QueueSink('syslog', queue, (call) => syslogMessage(ocsfOf(call, options.version), config), async () => {
    udp?.close();
    socket?.end();
  });
}
