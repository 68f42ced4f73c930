// What stages are built from. `GatewayServices` live as long as the gateway; a `PolicyRuntime` is built once per
// policy load (token verifier, masker, compiled rules, upstream credentials), so no stage looks anything up by
// policy hash on the request path. A request keeps the pipeline it started with, even across a reload.

import type { ApprovalManager } from '../approval/manager.js';
import type { UpstreamCredentials } from '../aws/upstream.js';
import type { LoadedPolicy } from '../config/load.js';
import type { GatewayEvent, UnstampedEvent } from '../events.js';
import type { Flow } from '../flow.js';
import type { TokenVerifier } from '../identity/jwt.js';
import type { GatewayKeys } from '../identity/keys.js';
import type { VerifiedSessions } from '../identity/session-cache.js';
import type { Clock } from '../lib/clock.js';
import type { Limiter } from '../limits/limiter.js';
import type { UploadRateSettings } from '../limits/types.js';
import type { Masker } from '../masking/masker.js';
import type { OpenToolCalls } from '../mcp/attribution.js';
import type { UpstreamClient } from '../proxy/forward.js';
import type { Recorder } from '../recording/recorder.js';
import type { Revocations } from '../sessions/revocations.js';

export interface DataPathLimits {
  /** Largest request body buffered (JSON/query protocols). */
  maxBufferedBodyBytes: number;
  /** A buffered body must arrive within this. */
  bodyTimeoutMs: number;
  /** Time allowed without any upstream socket activity. */
  upstreamTimeoutMs: number;
}

export interface GatewayServices {
  version: string;
  /** Where spooled bodies go (a `spool/` folder inside it). */
  stateDir: string;
  limits: DataPathLimits;
  /** `--upstream-endpoint`, which wins over the policy's `upstream.endpoint`. */
  upstreamEndpoint?: string;
  /** Names the gateway answers on: `<bucket>.<one of these>` is a virtual-host S3 request. */
  gatewayHosts: string[];
  keys: GatewayKeys;
  now: Clock;
  /** Stamps `at` and publishes on the bus. */
  emit(event: UnstampedEvent): void;
  /** Publishes an event that already has its time. */
  publish(event: GatewayEvent): void;
  recorder: Recorder;
  /** `recording.durability` as read at start (recording settings are not hot-reloaded). */
  recordingDurability: 'batch' | 'strict';
  approvals: ApprovalManager;
  revocations: Revocations;
  verifiedSessions: VerifiedSessions;
  upstreamClient: UpstreamClient;
  /** Concurrency slots, rate windows, escalation counts and the buffer budget; kept across policy reloads. */
  limiter: Limiter;
  /** Streamed uploads slower than this are cut. */
  uploadRate: UploadRateSettings;
  newSessionId(): string;
  /** The MCP tool calls each session has open (reported by `portcullis mcp run`), for attributing its AWS calls. */
  toolCalls: OpenToolCalls;
}

export interface PolicyRuntime {
  policy: LoadedPolicy;
  /** Service account → the roles it may use: the policy is the membership list. */
  members: ReadonlyMap<string, ReadonlySet<string>>;
  verifier: TokenVerifier;
  masker: Masker;
  upstreamCredentials: UpstreamCredentials;
}

export interface StageContext extends GatewayServices, PolicyRuntime {}

/** A stage: a plain function over the Flow. It ends the call by setting `flow.outcome`; it throws only on faults. */
export type Stage = (flow: Flow) => void | Promise<void>;

export type StageFactory = (context: StageContext) => Stage;
