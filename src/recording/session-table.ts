// The sessions the recorder writes, by id: new ones from session.started, ones left open by an earlier run (from the
// index), and closed ones looked up when a late event names them. Routes each queued item to its session.

import { join } from 'node:path';
import { eventSessionId, headerFromEvent, lineFromEvent } from './chain.js';
import type { SessionIndex } from './index-db.js';
import { isValidSessionId, sessionFileRelative } from './paths.js';
import { newSessionState, type Queued, type SessionState } from './session-state.js';

/**
 * pending: waiting in its session for the next write; settled: nothing more to write (the caller resolves it);
 * refused: never written, for the reason given.
 */
export type Routed = 'pending' | 'settled' | { refused: string };

/** Approval ids remembered to find the session of later approval steps (oldest forgotten first). */
const MAX_APPROVALS = 10_000;

export class SessionTable {
  readonly #stateDir: string;
  readonly #gatewayVersion: string;
  readonly #maxBodyBytes: number;
  readonly #now: () => Date;
  readonly #sessions = new Map<string, SessionState>();
  readonly #approvalSessions = new Map<string, string>();
  #index: SessionIndex | undefined;

  constructor(options: { stateDir: string; gatewayVersion: string; maxBodyBytes: number; now: () => Date }) {
    this.#stateDir = options.stateDir;
    this.#gatewayVersion = options.gatewayVersion;
    this.#maxBodyBytes = options.maxBodyBytes;
    this.#now = options.now;
  }

  /** Takes in the sessions an earlier run left open, so policy lines reach them and expiry closes them. */
  resume(index: SessionIndex): void {
    this.#index = index;
    for (const record of index.state.data.sessions) {
      if (record.end !== undefined || this.#sessions.has(record.id)) continue;
      this.#sessions.set(record.id, this.#state(record.id, record.file, record.start, record.expiresAt, 'unloaded'));
    }
  }

  values(): IterableIterator<SessionState> {
    return this.#sessions.values();
  }

  delete(sessionId: string): void {
    this.#sessions.delete(sessionId);
  }

  /** Queues a close for every expired session and a checkpoint where one is due; true when anything was queued. */
  queueTimed(nowMs: number, checkpointMs: number): boolean {
    let due = false;
    for (const s of this.#sessions.values()) {
      if (s.status === 'closed' || s.status === 'broken') continue;
      if (s.expiresAtMs <= nowMs) {
        s.pending.push({ kind: 'close', reason: 'expired', at: new Date(s.expiresAtMs).toISOString() });
        due = true;
      } else if (s.status === 'open' && s.sinceDigest > 0 && nowMs - s.lastDigestMs >= checkpointMs) {
        s.pending.push({ kind: 'checkpoint' });
        due = true;
      }
    }
    return due;
  }

  /** Routes a queued item to its session, resolving sessions that this process has not seen yet. */
  route(item: Queued): Routed {
    if ('close' in item) {
      const session = this.#lookup(item.close);
      if (!session) return { refused: `recording: cannot close unknown session ${item.close}` };
      session.pending.push({ kind: 'close', reason: item.reason, at: item.at, counted: true, ...(item.done ? { done: item.done } : {}) });
      return 'pending';
    }
    const { event, done } = item;
    const withDone = done ? { done, counted: true as const } : { counted: true as const };
    switch (event.type) {
      case 'session.started': {
        if (!isValidSessionId(event.sessionId)) return { refused: `recording: refusing session id ${JSON.stringify(event.sessionId)} (not a safe file name)` };
        if (this.#sessions.has(event.sessionId)) return { refused: `recording: session ${event.sessionId} started twice` };
        let rel: string;
        try {
          rel = sessionFileRelative(event.sessionId, event.at);
        } catch (error) {
          return { refused: `recording: session ${event.sessionId}: ${(error as Error).message}` };
        }
        const session = this.#state(event.sessionId, rel, event.at, event.expiresAt, 'new');
        session.pending.push({ kind: 'header', body: headerFromEvent(event, this.#gatewayVersion), ...withDone });
        this.#sessions.set(session.id, session);
        return 'pending';
      }
      case 'policy.loaded':
      case 'policy.rejected': {
        const body = lineFromEvent(event, this.#maxBodyBytes)!;
        const nowMs = this.#now().getTime();
        for (const s of this.#sessions.values()) {
          if (s.status !== 'closed' && s.status !== 'broken' && s.expiresAtMs > nowMs) s.pending.push({ kind: 'line', body });
        }
        return 'settled';
      }
      case 'session.ended': {
        const session = this.#lookup(event.sessionId);
        if (!session) return 'settled';
        session.pending.push({ kind: 'close', reason: event.reason, at: event.at });
        return 'settled';
      }
      default:
        break;
    }
    const body = lineFromEvent(event, this.#maxBodyBytes);
    let sessionId = eventSessionId(event);
    if ('approvalId' in event) {
      if (event.type === 'approval.proposed') this.#rememberApproval(event.approvalId, event.sessionId);
      sessionId ??= this.#approvalSessions.get(event.approvalId);
    }
    if (!body || sessionId === undefined) {
      // Not part of a session (listening, refusals, errors), or an approval step whose session is unknown.
      if (body) return { refused: `recording: ${event.type} ${'approvalId' in event ? event.approvalId : ''} has no known session` };
      return 'settled';
    }
    const session = this.#lookup(sessionId);
    if (!session) return { refused: `recording: ${event.type} for unknown session ${sessionId}` };
    session.pending.push({ kind: 'line', body, ...withDone });
    if (event.type === 'session.revoked') session.pending.push({ kind: 'close', reason: 'revoked', at: event.at });
    return 'pending';
  }

  #rememberApproval(approvalId: string, sessionId: string): void {
    this.#approvalSessions.set(approvalId, sessionId);
    if (this.#approvalSessions.size > MAX_APPROVALS) {
      const oldest = this.#approvalSessions.keys().next().value;
      if (oldest !== undefined) this.#approvalSessions.delete(oldest);
    }
  }

  #lookup(sessionId: string): SessionState | undefined {
    const known = this.#sessions.get(sessionId);
    if (known) return known;
    if (!isValidSessionId(sessionId)) return undefined;
    const record = this.#index?.state.session(sessionId);
    if (!record) return undefined;
    const session = this.#state(sessionId, record.file, record.start, record.expiresAt, record.end === undefined ? 'unloaded' : 'closed');
    this.#sessions.set(sessionId, session);
    return session;
  }

  #state(id: string, rel: string, start: string, expiresAt: string, status: SessionState['status']): SessionState {
    return newSessionState({ id, file: join(this.#stateDir, rel), rel, start, expiresAt, status }, this.#now().getTime());
  }
}
