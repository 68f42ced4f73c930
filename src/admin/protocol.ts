// The admin socket's wire protocol, shared by the server and the client: routes, request-body
// validation and the NDJSON event-stream framing. Pure: data in, data out.

import type { DecisionInput } from './types.js';
import type { ErrorEventCode, GatewayEvent, GatewayEventType } from '../events.js';

export const API_PREFIX = '/v1';

/** Request bodies are tiny JSON objects; anything larger is refused. */
export const MAX_BODY_BYTES = 64 * 1024;

/** A slow `events` client may fall this many events behind before it is dropped. */
export const DEFAULT_MAX_QUEUED_EVENTS = 10_000;

export const DEFAULT_HEARTBEAT_MS = 15_000;

/** Written as the last line before the server drops a client that fell behind. */
export const OVERFLOW_CODE = 'EVENT_STREAM_OVERFLOW' satisfies ErrorEventCode;

const MAX_BY_CHARS = 128;
const MAX_REASON_CHARS = 1024;
const MAX_ID_CHARS = 256;

// Exhaustive at compile time: adding a type to GatewayEvent without listing it here fails the build,
// so `?types=` validation never silently drops a new kind of event.
const EVENT_TYPES_RECORD = {
  listening: true,
  'policy.loaded': true,
  'policy.rejected': true,
  'session.started': true,
  'session.refused': true,
  request: true,
  decision: true,
  'approval.proposed': true,
  'approval.decided': true,
  'approval.expired': true,
  'approval.executed': true,
  response: true,
  'session.revoked': true,
  'grant.created': true,
  'grant.used': true,
  'grant.ended': true,
  'session.ended': true,
  'limit.hit': true,
  'limit.escalated': true,
  'tool.call.decided': true,
  'tool.call.started': true,
  'tool.call.ended': true,
  'tool.changed': true,
  error: true,
  stopped: true,
} satisfies Record<GatewayEventType, true>;

export const EVENT_TYPES: readonly GatewayEventType[] = Object.keys(EVENT_TYPES_RECORD) as GatewayEventType[];

export function isEventType(value: string): value is GatewayEventType {
  return Object.hasOwn(EVENT_TYPES_RECORD, value);
}

export type Parsed<T> = { ok: true; value: T } | { ok: false; error: string };

export type Route =
  | { name: 'status' }
  | { name: 'sessions'; active?: boolean }
  | { name: 'pending' }
  | { name: 'approve'; id: string }
  | { name: 'deny'; id: string }
  | { name: 'grants' }
  | { name: 'revokeGrant'; id: string }
  | { name: 'revokeSession'; id: string }
  | { name: 'revokeServiceAccount'; account: string }
  | { name: 'reloadPolicy' }
  | { name: 'events'; filter: EventFilter };

export interface EventFilter {
  session?: string;
  types?: GatewayEventType[];
  /** Send up to this many recent events (that pass the filter) first, each marked `replayed: true`. */
  history?: number;
}

/** Most recent events the admin server keeps for `?history=N` (and the largest N it accepts). */
export const EVENT_HISTORY_CAPACITY = 1000;

/** An event as the stream carries it: history sent on connect is marked so a client does not count it twice. */
export type StreamedEvent = GatewayEvent & { replayed?: true };

export type RouteMatch = { ok: true; route: Route } | { ok: false; status: 400 | 404 | 405; error: string };

function parseId(raw: string, what: string): Parsed<string> {
  let id: string;
  try {
    id = decodeURIComponent(raw);
  } catch {
    return { ok: false, error: `${what}: not a valid URL-encoded value` };
  }
  return validateId(id, what);
}

function validateId(id: string, what: string): Parsed<string> {
  if (id === '') return { ok: false, error: `${what} is empty` };
  if (id.length > MAX_ID_CHARS) return { ok: false, error: `${what} is longer than ${MAX_ID_CHARS} characters` };
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(id)) return { ok: false, error: `${what} contains control characters` };
  return { ok: true, value: id };
}

function parseActive(value: string | null): Parsed<boolean | undefined> {
  if (value === null || value === '' || value === '0' || value === 'false') return { ok: true, value: undefined };
  if (value === '1' || value === 'true') return { ok: true, value: true };
  return { ok: false, error: `active: "${value}" is not 1, true, 0 or false` };
}

export function parseEventFilter(query: URLSearchParams): Parsed<EventFilter> {
  const filter: EventFilter = {};
  const session = query.get('session');
  if (session !== null) {
    const id = validateId(session, 'session');
    if (!id.ok) return id;
    filter.session = id.value;
  }
  const types = query.get('types');
  if (types !== null) {
    const list = types.split(',').map((t) => t.trim()).filter((t) => t !== '');
    if (list.length === 0) return { ok: false, error: 'types: empty list' };
    const unknown = list.filter((t) => !isEventType(t));
    if (unknown.length > 0) return { ok: false, error: `types: unknown event type "${unknown[0]}" (known: ${EVENT_TYPES.join(', ')})` };
    filter.types = [...new Set(list)] as GatewayEventType[];
  }
  const history = query.get('history');
  if (history !== null) {
    const n = Number(history);
    if (!/^\d+$/.test(history) || n > EVENT_HISTORY_CAPACITY) return { ok: false, error: `history: expected a whole number from 0 to ${EVENT_HISTORY_CAPACITY}` };
    filter.history = n;
  }
  return { ok: true, value: filter };
}

/** Maps method + URL to a route; unknown paths are 404, known paths with another method 405. */
export function matchRoute(method: string, rawUrl: string): RouteMatch {
  let url: URL;
  try {
    url = new URL(rawUrl, 'http://admin.invalid');
  } catch {
    return { ok: false, status: 400, error: `bad request URL ${JSON.stringify(rawUrl)}` };
  }
  const path = url.pathname;
  const wrongMethod = (allowed: string): RouteMatch => ({ ok: false, status: 405, error: `${method} ${path}: use ${allowed}` });
  const get = (route: Route): RouteMatch => (method === 'GET' ? { ok: true, route } : wrongMethod('GET'));
  const post = (route: Route): RouteMatch => (method === 'POST' ? { ok: true, route } : wrongMethod('POST'));

  if (path === `${API_PREFIX}/status`) return get({ name: 'status' });
  if (path === `${API_PREFIX}/pending`) return get({ name: 'pending' });
  if (path === `${API_PREFIX}/grants`) return get({ name: 'grants' });
  if (path === `${API_PREFIX}/policy/reload`) return post({ name: 'reloadPolicy' });
  if (path === `${API_PREFIX}/sessions`) {
    const active = parseActive(url.searchParams.get('active'));
    if (!active.ok) return { ok: false, status: 400, error: active.error };
    return get(active.value ? { name: 'sessions', active: true } : { name: 'sessions' });
  }
  if (path === `${API_PREFIX}/events`) {
    const filter = parseEventFilter(url.searchParams);
    if (!filter.ok) return { ok: false, status: 400, error: filter.error };
    return get({ name: 'events', filter: filter.value });
  }
  const m = /^\/v1\/(approvals|sessions|service-accounts|grants)\/([^/]+)\/(approve|deny|revoke)$/.exec(path);
  if (m) {
    const [, collection, rawId, verb] = m as unknown as [string, string, string, string];
    const what = collection === 'approvals' ? 'approval id' : collection === 'sessions' ? 'session id' : collection === 'grants' ? 'grant id' : 'service account';
    const id = parseId(rawId, what);
    if (collection === 'approvals' && (verb === 'approve' || verb === 'deny')) {
      if (!id.ok) return { ok: false, status: 400, error: id.error };
      return post({ name: verb, id: id.value });
    }
    if (collection === 'sessions' && verb === 'revoke') {
      if (!id.ok) return { ok: false, status: 400, error: id.error };
      return post({ name: 'revokeSession', id: id.value });
    }
    if (collection === 'service-accounts' && verb === 'revoke') {
      if (!id.ok) return { ok: false, status: 400, error: id.error };
      return post({ name: 'revokeServiceAccount', account: id.value });
    }
    if (collection === 'grants' && verb === 'revoke') {
      if (!id.ok) return { ok: false, status: 400, error: id.error };
      return post({ name: 'revokeGrant', id: id.value });
    }
  }
  return { ok: false, status: 404, error: `no such admin route: ${method} ${path}` };
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Validates a decision/revocation body. Unknown fields are refused so a typo (`for` instead of
 * `forMs`) is an error rather than a silently ignored wish.
 */
export function parseDecisionBody(value: unknown, options: { allowForMs: boolean; allowReason?: boolean }): Parsed<DecisionInput> {
  if (!isPlainObject(value)) return { ok: false, error: 'body: expected a JSON object' };
  const allowed = ['by', ...(options.allowReason === false ? [] : ['reason']), ...(options.allowForMs ? ['forMs'] : [])];
  const unknown = Object.keys(value).find((k) => !allowed.includes(k));
  if (unknown !== undefined) return { ok: false, error: `body: unknown field "${unknown}" (allowed: ${allowed.join(', ')})` };
  const { by, reason, forMs } = value;
  if (typeof by !== 'string' || by.trim() === '') return { ok: false, error: 'body.by: required, the name of the person deciding' };
  if (by.length > MAX_BY_CHARS) return { ok: false, error: `body.by: longer than ${MAX_BY_CHARS} characters` };
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(by)) return { ok: false, error: 'body.by: contains control characters' };
  const input: DecisionInput = { by };
  if (reason !== undefined) {
    if (typeof reason !== 'string') return { ok: false, error: 'body.reason: expected a string' };
    if (reason.length > MAX_REASON_CHARS) return { ok: false, error: `body.reason: longer than ${MAX_REASON_CHARS} characters` };
    input.reason = reason;
  }
  if (forMs !== undefined) {
    if (typeof forMs !== 'number' || !Number.isSafeInteger(forMs) || forMs <= 0) {
      return { ok: false, error: 'body.forMs: expected a positive whole number of milliseconds' };
    }
    input.forMs = forMs;
  }
  return { ok: true, value: input };
}

/** Parses a request body (UTF-8 JSON); an empty body is `{}`. */
export function parseJsonBody(text: string): Parsed<unknown> {
  if (text.trim() === '') return { ok: true, value: {} };
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch (error) {
    return { ok: false, error: `body: not valid JSON (${(error as Error).message})` };
  }
}

/** Does this event pass an `events` filter? Events that carry no session never match a session filter. */
export function eventMatches(event: GatewayEvent, filter: EventFilter): boolean {
  if (filter.types && !filter.types.includes(event.type)) return false;
  if (filter.session !== undefined) {
    const sessionId = (event as { sessionId?: unknown }).sessionId;
    if (sessionId !== filter.session) return false;
  }
  return true;
}

export function eventsQuery(filter: EventFilter): string {
  const query = new URLSearchParams();
  if (filter.session !== undefined) query.set('session', filter.session);
  if (filter.types && filter.types.length > 0) query.set('types', filter.types.join(','));
  if (filter.history !== undefined && filter.history > 0) query.set('history', String(filter.history));
  const text = query.toString();
  return `${API_PREFIX}/events${text ? `?${text}` : ''}`;
}

/**
 * Splits an NDJSON byte stream into lines. Keeps the unfinished tail between chunks; a line longer
 * than `maxLineChars` is an error rather than unbounded buffering.
 */
export class LineSplitter {
  #buffer = '';
  readonly #maxLineChars: number;

  constructor(maxLineChars = 4 * 1024 * 1024) {
    this.#maxLineChars = maxLineChars;
  }

  push(chunk: string): string[] {
    const text = this.#buffer + chunk;
    const parts = text.split('\n');
    this.#buffer = parts.pop() ?? '';
    if (this.#buffer.length > this.#maxLineChars) throw new Error(`event stream line longer than ${this.#maxLineChars} characters`);
    return parts.filter((line) => line.trim() !== '');
  }

  /** The unterminated remainder at end of stream, if any. */
  end(): string[] {
    const rest = this.#buffer;
    this.#buffer = '';
    return rest.trim() === '' ? [] : [rest];
  }
}
