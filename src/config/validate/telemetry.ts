// The `telemetry:` section: OTLP traces, OCSF over HTTP, OCSF over syslog, and the sinks' queue.

import { isMap, isScalar } from 'yaml';
import { DEFAULT_SYSLOG_FACILITY, DEFAULT_TELEMETRY_QUEUE, type SyslogConfig, type TelemetryConfig } from '../../telemetry/config.js';
import { httpUrlProblem, type Entry, type Walker } from './walker.js';

function headers(w: Walker, entry: Entry | undefined, path: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (!entry) return out;
  const node = w.resolve(entry.value);
  if (!isMap(node)) {
    w.error(node ?? entry.key, path, 'must be a map of header names to values');
    return out;
  }
  for (const pair of node.items) {
    const key = isScalar(pair.key) ? String(pair.key.value) : '';
    const value = w.resolve(pair.value as never);
    if (!/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/.test(key)) w.error(pair.key as never, `${path}`, `"${key}" is not a header name`);
    else if (!isScalar(value) || typeof value.value !== 'string') w.error((value ?? pair.key) as never, `${path}.${key}`, 'must be a string');
    else out[key] = value.value;
  }
  return out;
}

function url(w: Walker, f: NonNullable<ReturnType<Walker['fields']>>, key: string, path: string): string | undefined {
  const text = w.optString(f, key, path);
  if (text === undefined) return undefined;
  const problem = httpUrlProblem(text, true);
  if (problem) {
    w.error(f.get(key)!.value, path, problem);
    return undefined;
  }
  return text;
}

function syslogAddress(w: Walker, f: NonNullable<ReturnType<Walker['fields']>>): Pick<SyslogConfig, 'transport' | 'host' | 'port'> | undefined {
  const text = w.optString(f, 'address', 'telemetry.syslog.address');
  if (text === undefined) return undefined;
  const match = /^(udp|tcp):\/\/(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(text);
  const port = match ? Number(match[3]) : 0;
  if (!match || port < 1 || port > 65_535) {
    w.error(f.get('address')!.value, 'telemetry.syslog.address', `"${text}" must be udp://HOST:PORT or tcp://HOST:PORT (e.g. udp://127.0.0.1:514)`);
    return undefined;
  }
  return { transport: match[1] as 'udp' | 'tcp', host: match[2]!.replace(/^\[|\]$/g, ''), port };
}

export function telemetry(w: Walker, entry: Entry | undefined): TelemetryConfig | undefined {
  if (!entry) return undefined;
  const f = w.fields(entry.value ?? entry.key, 'telemetry', ['otlp', 'ocsf_http', 'syslog', 'queue'], []);
  if (!f) return undefined;
  const result: TelemetryConfig = { queue: { ...DEFAULT_TELEMETRY_QUEUE } };

  const otlp = f.get('otlp');
  if (otlp) {
    const o = w.fields(otlp.value ?? otlp.key, 'telemetry.otlp', ['endpoint', 'headers', 'service_name'], ['endpoint']);
    const endpoint = o && url(w, o, 'endpoint', 'telemetry.otlp.endpoint');
    if (o && endpoint !== undefined) {
      result.otlp = { endpoint, headers: headers(w, o.get('headers'), 'telemetry.otlp.headers'), serviceName: w.optString(o, 'service_name', 'telemetry.otlp.service_name') ?? 'portcullis' };
    }
  }
  const ocsf = f.get('ocsf_http');
  if (ocsf) {
    const o = w.fields(ocsf.value ?? ocsf.key, 'telemetry.ocsf_http', ['url', 'headers'], ['url']);
    const target = o && url(w, o, 'url', 'telemetry.ocsf_http.url');
    if (o && target !== undefined) result.ocsfHttp = { url: target, headers: headers(w, o.get('headers'), 'telemetry.ocsf_http.headers') };
  }
  const syslog = f.get('syslog');
  if (syslog) {
    const o = w.fields(syslog.value ?? syslog.key, 'telemetry.syslog', ['address', 'app_name', 'facility'], ['address']);
    const address = o && syslogAddress(w, o);
    if (o && address) {
      const facilityEntry = o.get('facility');
      let facility = DEFAULT_SYSLOG_FACILITY;
      if (facilityEntry) {
        const node = w.resolve(facilityEntry.value);
        if (isScalar(node) && Number.isSafeInteger(node.value) && (node.value as number) >= 0 && (node.value as number) <= 23) facility = node.value as number;
        else w.error(node ?? facilityEntry.key, 'telemetry.syslog.facility', `must be a syslog facility number, 0–23 (default ${DEFAULT_SYSLOG_FACILITY}, log audit)`);
      }
      result.syslog = { ...address, appName: w.optString(o, 'app_name', 'telemetry.syslog.app_name') ?? 'portcullis', facility };
    }
  }
  const queue = f.get('queue');
  if (queue) {
    const q = w.fields(queue.value ?? queue.key, 'telemetry.queue', ['max_items', 'retries'], []);
    for (const [key, field, min] of [['max_items', 'maxItems', 1], ['retries', 'retries', 0]] as const) {
      const e = q?.get(key);
      if (!e) continue;
      const node = w.resolve(e.value);
      if (isScalar(node) && Number.isSafeInteger(node.value) && (node.value as number) >= min) result.queue[field] = node.value as number;
      else w.error(node ?? e.key, `telemetry.queue.${key}`, `must be a whole number, at least ${min}`);
    }
  }
  return result;
}
