// What the recorder knows about each session it writes, and the items waiting to be chained into its file.

import type { GatewayEvent } from '../events.js';
import type { EndReason, EventLine, HeaderLine, Unchained } from './chain.js';

/** A caller waiting for its item to be on disk (recordDurable, closeSession). */
export interface Deferred {
  resolve: () => void;
  reject: (error: Error) => void;
}

/** `counted`: the item stands for one queued item in the backlog (fan-out copies and timer items do not). */
export type Pending =
  | { kind: 'header'; body: Unchained<HeaderLine>; done?: Deferred; counted?: true }
  | { kind: 'line'; body: Unchained<EventLine>; done?: Deferred; counted?: true }
  | { kind: 'checkpoint' }
  | { kind: 'close'; reason: EndReason; at: string; done?: Deferred; counted?: true };

/** An item as record(), recordDurable() and closeSession() queue it, before it is routed to a session. */
export type Queued = { event: GatewayEvent; done?: Deferred } | { close: string; reason: EndReason; at: string; done?: Deferred };

export interface SessionState {
  id: string;
  file: string;
  rel: string;
  start: string;
  expiresAtMs: number;
  /** new: no file yet; unloaded: file exists, tail not read; broken: file unusable, events dropped. */
  status: 'new' | 'unloaded' | 'open' | 'closed' | 'broken';
  seq: number;
  /** Hash of the last line written; null before the header. */
  lastHash: string | null;
  size: number;
  sinceDigest: number;
  lastDigestMs: number;
  pending: Pending[];
}

/** The state of a session not yet written to by this process (its file, if any, is read on first write). */
export function newSessionState(
  fields: { id: string; file: string; rel: string; start: string; expiresAt: string; status: SessionState['status'] },
  nowMs: number,
): SessionState {
  const { id, file, rel, start, expiresAt, status } = fields;
  return { id, file, rel, start, expiresAtMs: Date.parse(expiresAt), status, seq: 0, lastHash: null, size: 0, sinceDigest: 0, lastDigestMs: nowMs, pending: [] };
}
