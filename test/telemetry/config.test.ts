// The `telemetry:` policy section: what it builds, and where its errors point.

import { describe, expect, it } from 'vitest';
import { parsePolicy } from '../../src/config/load.js';
import { BASE_POLICY } from '../fixtures/policy-text.js';

const BASE = BASE_POLICY;

describe('telemetry policy section', () => {
  it('is absent unless configured', () => {
    const result = parsePolicy(BASE, 'p.yaml');
    expect(result.ok && result.policy.config.telemetry).toBeUndefined();
  });

  it('builds every sink with defaults', () => {
    const result = parsePolicy(
      `${BASE}telemetry:
  otlp: {endpoint: "https://otel.example:4318/v1/traces", headers: {x-api-key: k}}
  ocsf_http: {url: "https://siem.example/ingest"}
  syslog: {address: "udp://127.0.0.1:514"}
  queue: {max_items: 500, retries: 1}
`,
      'p.yaml',
    );
    if (!result.ok) throw new Error(JSON.stringify(result.errors));
    expect(result.policy.config.telemetry).toEqual({
      otlp: { endpoint: 'https://otel.example:4318/v1/traces', headers: { 'x-api-key': 'k' }, serviceName: 'portcullis' },
      ocsfHttp: { url: 'https://siem.example/ingest', headers: {} },
      syslog: { transport: 'udp', host: '127.0.0.1', port: 514, appName: 'portcullis', facility: 13 },
      queue: { maxItems: 500, retries: 1 },
    });
  });

  it.each([
    ['telemetry: {otlp: {endpoint: "http://otel.example/v1/traces"}}', 'telemetry.otlp.endpoint', /must use https/],
    ['telemetry: {syslog: {address: "127.0.0.1:514"}}', 'telemetry.syslog.address', /must be udp:\/\/HOST:PORT or tcp:\/\/HOST:PORT/],
    ['telemetry: {syslog: {address: "tcp://localhost:514", facility: 30}}', 'telemetry.syslog.facility', /0–23/],
    ['telemetry: {queue: {max_items: 0}}', 'telemetry.queue.max_items', /at least 1/],
    ['telemetry: {kafka: {}}', 'telemetry', /kafka/],
  ])('%s → error at %s', (section, path, message) => {
    const result = parsePolicy(`${BASE}${section}\n`, 'p.yaml');
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.errors.find((e) => e.path.startsWith(path))?.message).toMatch(message);
  });
});
