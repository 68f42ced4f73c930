// Client of the admin socket, used by the CLI and the dashboard. Stateless: every call opens its own
// connection, so a gateway restart needs no reconnect logic beyond retrying a call.

import { request, type IncomingMessage } from 'node:http';
import { userInfo } from 'node:os';
import { dirname } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { adminSocketPath, resolveStateDir } from '../state.js';
import type { GatewayEvent, GatewayEventType } from '../events.js';
import { AdminError, AdminRequestError, AdminUnavailableError } from './errors.js';
import { API_PREFIX, LineSplitter, OVERFLOW_CODE, eventsQuery } from './protocol.js';
import type { ControlResult, GatewayStatus, Grant, PendingApproval, SessionSummary } from './types.js';

export interface AdminClientOptions {
  /** Per-call limit for everything but `events`. Default 10 s. */
  timeoutMs?: number;
  /** Who decides, when a call does not say. Default: the OS user name. */
  user?: string;
}

export interface ApproveInput {
  by?: string;
  reason?: string;
  /** Also grant the same account's calls needing only the approved pairs for this long. */
  forMs?: number;
}

export interface DenyInput {
  by?: string;
  reason?: string;
}

export interface EventsOptions {
  session?: string;
  types?: GatewayEventType[];
  /** Up to this many recent events first (marked `replayed: true`); 0 or absent: live events only. */
  history?: number;
  /** Aborting ends the iteration quietly (no error). */
  signal?: AbortSignal;
}

// Responses are small JSON documents; a huge session list still fits, a runaway peer does not.
const MAX_RESPONSE_BYTES = 32 * 1024 * 1024;

/** The OS user name; containers without a passwd entry fall back to $USER or the uid. */
export function defaultUser(): string {
  try {
    return userInfo().username;
  } catch {
    return process.env.USER ?? `uid:${process.getuid?.() ?? 'unknown'}`;
  }
}

function isOutcomeStatus(status: number | undefined): status is 400 | 404 | 409 {
  return status === 400 || status === 404 || status === 409;
}

export class AdminClient {
  readonly socketPath: string;
  readonly stateDir: string;
  readonly #timeoutMs: number;
  readonly #user: string;

  constructor(socketPath: string, options: AdminClientOptions = {}) {
    this.socketPath = socketPath;
    this.stateDir = dirname(socketPath);
    this.#timeoutMs = options.timeoutMs ?? 10_000;
    this.#user = options.user ?? defaultUser();
  }

  /** A client for the gateway of a state dir. Opens nothing yet: each call connects (and may throw AdminUnavailableError). */
  static connect(stateDir?: string, options: AdminClientOptions = {}): AdminClient {
    return new AdminClient(adminSocketPath(resolveStateDir(stateDir)), options);
  }

  status(): Promise<GatewayStatus> {
    return this.#getJson<GatewayStatus>(`${API_PREFIX}/status`);
  }

  async sessions(filter: { active?: boolean } = {}): Promise<SessionSummary[]> {
    const body = await this.#getJson<{ sessions: SessionSummary[] }>(`${API_PREFIX}/sessions${filter.active ? '?active=1' : ''}`);
    return body.sessions;
  }

  async pending(): Promise<PendingApproval[]> {
    return (await this.#getJson<{ pending: PendingApproval[] }>(`${API_PREFIX}/pending`)).pending;
  }

  approve(id: string, input: ApproveInput = {}): Promise<ControlResult> {
    return this.#post(`${API_PREFIX}/approvals/${encodeURIComponent(id)}/approve`, {
      by: input.by ?? this.#user,
      ...(input.reason === undefined ? {} : { reason: input.reason }),
      ...(input.forMs === undefined ? {} : { forMs: input.forMs }),
    });
  }

  deny(id: string, input: DenyInput = {}): Promise<ControlResult> {
    return this.#post(`${API_PREFIX}/approvals/${encodeURIComponent(id)}/deny`, {
      by: input.by ?? this.#user,
      ...(input.reason === undefined ? {} : { reason: input.reason }),
    });
  }

  async grants(): Promise<Grant[]> {
    return (await this.#getJson<{ grants: Grant[] }>(`${API_PREFIX}/grants`)).grants;
  }

  revokeGrant(id: string, by?: string): Promise<ControlResult> {
    return this.#post(`${API_PREFIX}/grants/${encodeURIComponent(id)}/revoke`, { by: by ?? this.#user });
  }

  revokeSession(sessionId: string, by?: string, reason?: string): Promise<ControlResult> {
    return this.#post(`${API_PREFIX}/sessions/${encodeURIComponent(sessionId)}/revoke`, {
      by: by ?? this.#user,
      ...(reason === undefined ? {} : { reason }),
    });
  }

  revokeServiceAccount(name: string, by?: string, reason?: string): Promise<ControlResult> {
    return this.#post(`${API_PREFIX}/service-accounts/${encodeURIComponent(name)}/revoke`, {
      by: by ?? this.#user,
      ...(reason === undefined ? {} : { reason }),
    });
  }

  reloadPolicy(): Promise<ControlResult> {
    return this.#post(`${API_PREFIX}/policy/reload`, {});
  }

  /**
   * The live event stream (masked GatewayEvents), filtered by the gateway. Heartbeats are skipped.
   * Ends when the gateway closes the stream (shutdown) or `signal` aborts; throws
   * AdminUnavailableError when no gateway runs and ADMIN_STREAM_OVERFLOW when the gateway dropped
   * this client for falling behind.
   */
  async *events(options: EventsOptions = {}): AsyncGenerator<GatewayEvent, void, undefined> {
    const { signal } = options;
    if (signal?.aborted) return;
    const path = eventsQuery({
      ...(options.session === undefined ? {} : { session: options.session }),
      ...(options.types === undefined ? {} : { types: options.types }),
      ...(options.history === undefined ? {} : { history: options.history }),
    });
    const controller = new AbortController();
    const onAbort = (): void => controller.abort();
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      let res: IncomingMessage;
      try {
        res = await this.#open('GET', path, undefined, { signal: controller.signal });
      } catch (error) {
        if (signal?.aborted) return;
        throw error;
      }
      if (res.statusCode !== 200) {
        const text = await readAll(res, MAX_RESPONSE_BYTES);
        throw new AdminRequestError(res.statusCode ?? 0, errorMessage(text, res.statusCode));
      }
      const decoder = new StringDecoder('utf8');
      const splitter = new LineSplitter();
      try {
        for await (const chunk of res as AsyncIterable<Buffer>) {
          for (const line of splitter.push(decoder.write(chunk))) {
            const event = parseEventLine(line);
            if (event) yield event;
          }
        }
        for (const line of splitter.push(decoder.end()).concat(splitter.end())) {
          const event = parseEventLine(line);
          if (event) yield event;
        }
      } catch (error) {
        if (signal?.aborted) return;
        if (error instanceof AdminError) throw error;
        throw new AdminError('ADMIN_CONNECTION', `event stream from ${this.socketPath} broke: ${(error as Error).message}`, { cause: error });
      }
    } finally {
      signal?.removeEventListener('abort', onAbort);
      controller.abort();
    }
  }

  async #getJson<T>(path: string): Promise<T> {
    const { status, body } = await this.#exchange('GET', path);
    if (status !== 200) throw new AdminRequestError(status, errorMessage(body, status));
    return parseJson<T>(body, this.socketPath);
  }

  /** Decision calls: 400/404/409 are outcomes (returned), anything else unexpected is thrown. */
  async #post(path: string, payload: unknown): Promise<ControlResult> {
    const { status, body } = await this.#exchange('POST', path, JSON.stringify(payload));
    if (status === 200) {
      const parsed = parseJson<{ ok?: unknown; message?: unknown }>(body, this.socketPath);
      return { ok: true, message: typeof parsed.message === 'string' ? parsed.message : 'ok' };
    }
    if (isOutcomeStatus(status)) return { ok: false, status, error: errorMessage(body, status) };
    throw new AdminRequestError(status, errorMessage(body, status));
  }

  async #exchange(method: 'GET' | 'POST', path: string, body?: string): Promise<{ status: number; body: string }> {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), this.#timeoutMs);
    try {
      const res = await this.#open(method, path, body, { signal: controller.signal });
      return { status: res.statusCode ?? 0, body: await readAll(res, MAX_RESPONSE_BYTES) };
    } catch (error) {
      if (controller.signal.aborted) {
        throw new AdminError('ADMIN_TIMEOUT', `the gateway did not answer on ${this.socketPath} within ${this.#timeoutMs} ms`);
      }
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  #open(method: 'GET' | 'POST', path: string, body: string | undefined, options: { signal: AbortSignal }): Promise<IncomingMessage> {
    return new Promise((resolveOpen, reject) => {
      const headers: Record<string, string | number> = { accept: 'application/json' };
      if (body !== undefined) {
        headers['content-type'] = 'application/json';
        headers['content-length'] = Buffer.byteLength(body);
      }
      const req = request({ socketPath: this.socketPath, method, path, headers, agent: false, signal: options.signal });
      req.once('response', resolveOpen);
      req.once('error', (error: NodeJS.ErrnoException) => reject(this.#connectError(error)));
      req.end(body);
    });
  }

  #connectError(error: NodeJS.ErrnoException): Error {
    if (error.code === 'ENOENT' || error.code === 'ECONNREFUSED') return new AdminUnavailableError(this.stateDir, this.socketPath, { cause: error });
    if (error.name === 'AbortError') return error;
    if (error.code === 'EACCES') {
      return new AdminError('ADMIN_CONNECTION', `permission denied on admin socket ${this.socketPath} (the gateway runs as another user)`, { cause: error });
    }
    return new AdminError('ADMIN_CONNECTION', `cannot talk to the gateway on ${this.socketPath}: ${error.message}`, { cause: error });
  }
}

function readAll(res: IncomingMessage, maxBytes: number): Promise<string> {
  return new Promise((resolveRead, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    res.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) {
        res.destroy(new AdminError('ADMIN_PROTOCOL', `admin response larger than ${maxBytes} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    res.once('end', () => resolveRead(Buffer.concat(chunks).toString('utf8')));
    res.once('error', reject);
    res.once('aborted', () => reject(new AdminError('ADMIN_CONNECTION', 'the gateway closed the connection mid-answer')));
  });
}

function parseJson<T>(text: string, socketPath: string): T {
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new AdminError('ADMIN_PROTOCOL', `the admin socket ${socketPath} answered something that is not JSON`);
  }
}

function errorMessage(text: string, status: number | undefined): string {
  try {
    const parsed = JSON.parse(text) as { error?: unknown };
    if (typeof parsed.error === 'string') return parsed.error;
  } catch {
    // fall through
  }
  return `the gateway answered HTTP ${status ?? '?'}`;
}

function parseEventLine(line: string): GatewayEvent | undefined {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    throw new AdminError('ADMIN_PROTOCOL', `event stream: a line is not JSON: ${line.slice(0, 80)}`);
  }
  if (typeof value !== 'object' || value === null || typeof (value as { type?: unknown }).type !== 'string') {
    throw new AdminError('ADMIN_PROTOCOL', `event stream: a line is not an event: ${line.slice(0, 80)}`);
  }
  const event = value as GatewayEvent | { type: 'heartbeat' };
  if (event.type === 'heartbeat') return undefined;
  if (event.type === 'error' && (event as { code?: string }).code === OVERFLOW_CODE) {
    throw new AdminError('ADMIN_STREAM_OVERFLOW', 'the gateway dropped this event stream because the client fell behind (event stream overflow)');
  }
  return event as GatewayEvent;
}
