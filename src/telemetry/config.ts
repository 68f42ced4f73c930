// The telemetry section of a policy, as validated. Telemetry owns these types; config/validate/telemetry.ts builds them.
// Telemetry is read at start (like recording): changing it needs a restart.

export interface OtlpConfig {
  /** OTLP/HTTP traces endpoint, e.g. https://collector:4318/v1/traces (JSON encoding). */
  endpoint: string;
  headers: Record<string, string>;
  serviceName: string;
}

export interface OcsfHttpConfig {
  /** Receives OCSF API Activity events as JSON lines (POST, application/x-ndjson). */
  url: string;
  headers: Record<string, string>;
}

export interface SyslogConfig {
  transport: 'udp' | 'tcp';
  host: string;
  port: number;
  appName: string;
  /** RFC 5424 facility (default 13, log audit). */
  facility: number;
}

export interface TelemetryQueueConfig {
  /** Items each sink holds before it drops new ones (default 10 000). */
  maxItems: number;
  /** Further attempts after a failed send (default 3). */
  retries: number;
}

export interface TelemetryConfig {
  otlp?: OtlpConfig;
  ocsfHttp?: OcsfHttpConfig;
  syslog?: SyslogConfig;
  queue: TelemetryQueueConfig;
}

export const DEFAULT_TELEMETRY_QUEUE: TelemetryQueueConfig = { maxItems: 10_000, retries: 3 };
export const DEFAULT_SYSLOG_FACILITY = 13;
