// The local admin API: HTTP+JSON over a Unix socket `<state-dir>/admin.sock` (mode 0600 in a 0700
// directory). It is the only way to approve, deny or revoke; there is deliberately no TCP listener,
// so a machine holding gateway credentials has no network path to approve its own calls.
// A thin adapter: every decision is the GatewayControl's; this module only moves JSON.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect } from 'node:net';
import { chmod, lstat, mkdir, stat, unlink } from 'node:fs/promises';
import { resolve } from 'node:path';
import { adminSocketPath } from '../state.js';
import { eventJson, type GatewayEvent } from '../events.js';
import { AdminError } from './errors.js';
import {
  DEFAULT_HEARTBEAT_MS,
  DEFAULT_MAX_QUEUED_EVENTS,
  EVENT_HISTORY_CAPACITY,
  MAX_BODY_BYTES,
  OVERFLOW_CODE,
  eventMatches,
  matchRoute,
  parseDecisionBody,
  parseJsonBody,
  type EventFilter,
  type Route,
} from './protocol.js';
import type { ControlResult, GatewayControl } from './types.js';

export interface AdminServerOptions {
  stateDir: string;
  /** Largest accepted request body. Default 64 KiB. */
  maxBodyBytes?: number;
  /** Events an `events` client may fall behind by before it is dropped. Default 10,000. */
  maxQueuedEvents?: number;
  /** Interval of `{"type":"heartbeat"}` lines on event streams. Default 15 s. */
  heartbeatMs?: number;
  /** After an overflow, how long the final line may take to drain before the connection is cut. Default 5 s. */
  overflowGraceMs?: number;
  /** On close, how long in-flight requests may finish before their connections are cut. Default 2 s. */
  closeGraceMs?: number;
  /** Recent events kept for `events?history=N` (an attaching dashboard fills its log), at most 1000. Default 0: none. */
  historyEvents?: number;
  now?: () => Date;
}

export interface AdminServer {
  /** The socket path. */
  path: string;
  close(): Promise<void>;
}

// sun_path is 108 bytes on Linux and 104 on macOS, NUL included.
const MAX_SOCKET_PATH_BYTES = process.platform === 'darwin' ? 103 : 107;

type HttpStatus = 200 | 400 | 404 | 405 | 409 | 413 | 500;

function sendJson(res: ServerResponse, status: HttpStatus, value: unknown): void {
  const body = `${JSON.stringify(value)}\n`;
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
  });
  res.end(body);
}

function sendError(res: ServerResponse, status: HttpStatus, error: string): void {
  sendJson(res, status, { error });
}

function sendResult(res: ServerResponse, result: ControlResult): void {
  if (result.ok) sendJson(res, 200, { ok: true, message: result.message });
  else sendError(res, result.status, result.error);
}

type BodyResult = { ok: true; text: string } | { ok: false; status: 400 | 413; error: string };

function readBody(req: IncomingMessage, maxBytes: number): Promise<BodyResult> {
  return new Promise((resolveBody) => {
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > maxBytes) {
      req.resume();
      resolveBody({ ok: false, status: 413, error: `request body exceeds ${maxBytes} bytes` });
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    req.on('data', (chunk: Buffer) => {
      if (done) return;
      size += chunk.length;
      if (size > maxBytes) {
        done = true;
        chunks.length = 0;
        resolveBody({ ok: false, status: 413, error: `request body exceeds ${maxBytes} bytes` });
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (done) return;
      done = true;
      resolveBody({ ok: true, text: Buffer.concat(chunks).toString('utf8') });
    });
    req.on('error', (error) => {
      if (done) return;
      done = true;
      resolveBody({ ok: false, status: 400, error: `request body: ${error.message}` });
    });
  });
}

interface EventStream {
  end(): void;
}

interface StreamOptions {
  maxQueuedEvents: number;
  heartbeatMs: number;
  overflowGraceMs: number;
  now: () => Date;
}

/**
 * One NDJSON subscriber. Lines go straight to the socket while it keeps up; once the socket pushes
 * back, they wait in a bounded queue, and a client that falls further behind is dropped with a final
 * overflow line, so a stalled reader costs at most `maxQueuedEvents` lines of memory.
 */
/** The last `capacity` events, oldest first (trimmed in batches so a push stays O(1) amortised). */
class RecentEvents {
  readonly #events: GatewayEvent[] = [];
  constructor(readonly capacity: number) {}
  push(event: GatewayEvent): void {
    if (this.capacity <= 0) return;
    this.#events.push(event);
    if (this.#events.length >= this.capacity * 2) this.#events.splice(0, this.#events.length - this.capacity);
  }
  /** Up to `n` of the most recent events that pass `filter`, oldest first. */
  last(n: number, filter: EventFilter): GatewayEvent[] {
    const out: GatewayEvent[] = [];
    const floor = Math.max(0, this.#events.length - this.capacity);
    for (let i = this.#events.length - 1; i >= floor && out.length < n; i -= 1) {
      const event = this.#events[i]!;
      if (eventMatches(event, filter)) out.push(event);
    }
    return out.reverse();
  }
}

function openEventStream(
  res: ServerResponse,
  control: GatewayControl,
  filter: EventFilter,
  options: StreamOptions,
  onClosed: () => void,
  history: GatewayEvent[] = [],
): EventStream {
  res.writeHead(200, {
    'content-type': 'application/x-ndjson; charset=utf-8',
    'cache-control': 'no-store',
  });
  const queue: string[] = [];
  let queueHead = 0;
  let blocked = false;
  let finished = false;

  const flushQueue = (): void => {
    while (queueHead < queue.length && !blocked) {
      const line = queue[queueHead]!;
      queueHead += 1;
      blocked = !res.write(line);
    }
    if (queueHead === queue.length) {
      queue.length = 0;
      queueHead = 0;
    }
  };

  const finish = (lastLine?: string, graceMs?: number): void => {
    if (finished) return;
    finished = true;
    unsubscribe();
    clearInterval(heartbeat);
    queue.length = 0;
    queueHead = 0;
    res.end(lastLine);
    if (graceMs !== undefined && !res.writableFinished) {
      const cut = setTimeout(() => res.destroy(), graceMs);
      cut.unref();
      res.once('close', () => clearTimeout(cut));
    }
  };

  const write = (line: string): void => {
    if (finished) return;
    if (!blocked) {
      blocked = !res.write(line);
      return;
    }
    if (queue.length - queueHead >= options.maxQueuedEvents) {
      const overflow = { type: 'error', at: options.now().toISOString(), message: 'event stream overflow', code: OVERFLOW_CODE };
      finish(`${JSON.stringify(overflow)}\n`, options.overflowGraceMs);
      return;
    }
    queue.push(line);
  };

  res.on('drain', () => {
    blocked = false;
    flushQueue();
  });
  res.once('close', () => {
    finished = true;
    unsubscribe();
    clearInterval(heartbeat);
    queue.length = 0;
    onClosed();
  });

  // History first, then live events: both in the same turn, so nothing falls between them.
  for (const event of history) write(`${JSON.stringify({ ...event, replayed: true })}\n`);
  const unsubscribe = control.bus.subscribe((event: GatewayEvent) => {
    if (eventMatches(event, filter)) write(`${eventJson(event)}\n`);
  });
  const heartbeat = setInterval(() => write('{"type":"heartbeat"}\n'), options.heartbeatMs);
  heartbeat.unref();
  // Headers go out now so the client knows it is subscribed before the first event.
  res.flushHeaders();
  return { end: () => finish() };
}

async function isSocketLive(path: string): Promise<'live' | 'stale' | 'gone'> {
  return new Promise((resolveProbe, reject) => {
    const socket = connect(path);
    socket.once('connect', () => {
      socket.destroy();
      resolveProbe('live');
    });
    socket.once('error', (error: NodeJS.ErrnoException) => {
      socket.destroy();
      if (error.code === 'ECONNREFUSED') resolveProbe('stale');
      else if (error.code === 'ENOENT') resolveProbe('gone');
      // A full backlog means a listener is there.
      else if (error.code === 'EAGAIN') resolveProbe('live');
      else reject(new AdminError('ADMIN_SOCKET_PATH', `cannot check admin socket ${path}: ${error.message}`, { cause: error }));
    });
  });
}

/** Removes a socket file left by a gateway that died; refuses when another gateway still answers on it. */
async function clearStaleSocket(path: string, stateDir: string): Promise<void> {
  let info;
  try {
    info = await lstat(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  if (!info.isSocket()) throw new AdminError('ADMIN_SOCKET_PATH', `${path} exists and is not a socket; move it away`);
  const state = await isSocketLive(path);
  if (state === 'live') throw inUse(stateDir, path);
  if (state === 'stale') await unlink(path).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'ENOENT') throw error;
  });
}

function inUse(stateDir: string, path: string): AdminError {
  return new AdminError('ADMIN_SOCKET_IN_USE', `another gateway is running with state dir ${stateDir} (its admin socket ${path} answers)`);
}

function listen(server: Server, path: string, stateDir: string): Promise<void> {
  return new Promise((resolveListen, reject) => {
    const onError = (error: NodeJS.ErrnoException): void => {
      server.off('listening', onListening);
      if (error.code === 'EADDRINUSE') reject(inUse(stateDir, path));
      else reject(new AdminError('ADMIN_SOCKET_PATH', `cannot listen on admin socket ${path}: ${error.message}`, { cause: error }));
    };
    const onListening = (): void => {
      server.off('error', onError);
      resolveListen();
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen(path);
  });
}

async function prepareStateDir(stateDir: string): Promise<void> {
  try {
    await mkdir(stateDir, { recursive: true, mode: 0o700 });
    // mkdir leaves an existing directory's mode alone; the socket's safety rests on this one.
    await chmod(stateDir, 0o700);
  } catch (error) {
    throw new AdminError('ADMIN_SOCKET_PATH', `cannot prepare state dir ${stateDir}: ${(error as Error).message}`, { cause: error });
  }
}

export async function startAdminServer(control: GatewayControl, options: AdminServerOptions): Promise<AdminServer> {
  const stateDir = resolve(options.stateDir);
  const path = adminSocketPath(stateDir);
  const pathBytes = Buffer.byteLength(path);
  if (pathBytes > MAX_SOCKET_PATH_BYTES) {
    throw new AdminError(
      'ADMIN_SOCKET_PATH',
      `admin socket path ${path} is ${pathBytes} bytes, longer than the ${MAX_SOCKET_PATH_BYTES} a Unix socket allows; use a shorter --state-dir`,
    );
  }
  const maxBodyBytes = options.maxBodyBytes ?? MAX_BODY_BYTES;
  const streamOptions: StreamOptions = {
    maxQueuedEvents: options.maxQueuedEvents ?? DEFAULT_MAX_QUEUED_EVENTS,
    heartbeatMs: options.heartbeatMs ?? DEFAULT_HEARTBEAT_MS,
    overflowGraceMs: options.overflowGraceMs ?? 5_000,
    now: options.now ?? (() => new Date()),
  };
  const closeGraceMs = options.closeGraceMs ?? 2_000;

  await prepareStateDir(stateDir);
  await clearStaleSocket(path, stateDir);

  const streams = new Set<EventStream>();
  let closing = false;
  const recent = new RecentEvents(Math.min(EVENT_HISTORY_CAPACITY, options.historyEvents ?? 0));
  const stopRecording = recent.capacity > 0 ? control.bus.subscribe((event) => recent.push(event)) : () => undefined;

  const dispatch = async (route: Route, req: IncomingMessage, res: ServerResponse): Promise<void> => {
    switch (route.name) {
      case 'status':
        sendJson(res, 200, control.status());
        return;
      case 'sessions':
        sendJson(res, 200, { sessions: control.sessions(route.active ? { active: true } : {}) });
        return;
      case 'pending':
        sendJson(res, 200, { pending: control.pending() });
        return;
      case 'grants':
        sendJson(res, 200, { grants: control.grants() });
        return;
      case 'events': {
        if (closing) {
          sendError(res, 409, 'the gateway is shutting down');
          return;
        }
        const history = route.filter.history ? recent.last(route.filter.history, route.filter) : [];
        const stream = openEventStream(res, control, route.filter, streamOptions, () => streams.delete(stream), history);
        streams.add(stream);
        return;
      }
      default:
        break;
    }
    const body = await readBody(req, maxBodyBytes);
    if (!body.ok) {
      sendError(res, body.status, body.error);
      return;
    }
    const json = parseJsonBody(body.text);
    if (!json.ok) {
      sendError(res, 400, json.error);
      return;
    }
    if (route.name === 'reloadPolicy') {
      sendResult(res, await control.reloadPolicy());
      return;
    }
    const input = parseDecisionBody(json.value, { allowForMs: route.name === 'approve', allowReason: route.name !== 'revokeGrant' });
    if (!input.ok) {
      sendError(res, 400, input.error);
      return;
    }
    const { by, reason } = input.value;
    switch (route.name) {
      case 'approve':
        sendResult(res, control.approve(route.id, input.value));
        return;
      case 'deny':
        sendResult(res, control.deny(route.id, input.value));
        return;
      case 'revokeSession':
        sendResult(res, await control.revokeSession(route.id, by, reason));
        return;
      case 'revokeServiceAccount':
        sendResult(res, await control.revokeServiceAccount(route.account, by, reason));
        return;
      case 'revokeGrant':
        sendResult(res, control.revokeGrant(route.id, by));
        return;
    }
  };

  const server = createServer((req, res) => {
    // One request per connection: clients are short CLI calls and long event streams, and it lets
    // close() finish without waiting on idle keep-alive sockets.
    res.setHeader('connection', 'close');
    const match = matchRoute(req.method ?? 'GET', req.url ?? '/');
    if (!match.ok) {
      req.resume();
      sendError(res, match.status, match.error);
      return;
    }
    dispatch(match.route, req, res).catch((error: unknown) => {
      if (res.headersSent) res.destroy();
      else sendError(res, 500, `internal error: ${(error as Error)?.message ?? String(error)}`);
    });
  });

  await listen(server, path, stateDir);
  let socketIno: number;
  try {
    await chmod(path, 0o600);
    socketIno = (await stat(path)).ino;
  } catch (error) {
    server.close();
    throw new AdminError('ADMIN_SOCKET_PATH', `cannot secure admin socket ${path}: ${(error as Error).message}`, { cause: error });
  }

  let closed: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closed ??= (async () => {
      closing = true;
      stopRecording();
      for (const stream of streams) stream.end();
      await new Promise<void>((resolveClose) => {
        const cut = setTimeout(() => server.closeAllConnections(), closeGraceMs);
        cut.unref();
        server.close(() => {
          clearTimeout(cut);
          resolveClose();
        });
        server.closeIdleConnections();
      });
      // Only remove the file if it is still ours (never another gateway's fresh socket).
      try {
        if ((await lstat(path)).ino === socketIno) await unlink(path);
      } catch {
        // already gone
      }
    })();
    return closed;
  };

  return { path, close };
}
