// The recorder: turns gateway events into append-only, hash-chained session files.
//
// record() only queues (the request path never waits for the disk); a flush within flushMs chains the queued
// lines per session and appends them with one write per session. recordDurable() also flushes at once and
// resolves after fsync, for strict durability. Each write holds whole lines and a failed or short write is cut
// back to the last good line, so a file only ever ends at a complete line (a kill -9 cannot interrupt a write).
//
// Sessions outlive the process: close() writes a checkpoint digest and leaves sessions open; a restarted
// recorder resumes them by reading the tail of their file. A session is closed (end line + final signed digest,
// written together) when its credentials expire, when it is revoked, or by closeSession().

import { open as fsOpen, mkdir as fsMkdir, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { GatewayEvent } from '../events.js';
import { GatewayError } from '../errors.js';
import {
  digestPayloadBytes,
  eventSessionId,
  headerFromEvent,
  lineFromEvent,
  serializeLine,
  sha256Hex,
  type DigestKind,
  type EndReason,
  type EventLine,
  type HeaderLine,
  type RecordLine,
  type Unchained,
} from './chain.js';
import type { Durability, OnRecordingFailure } from './config.js';
import { openIndex, type SessionIndex } from './index-db.js';
import { isValidSessionId, sessionFileRelative, sessionsDir } from './paths.js';

export interface DigestSigner {
  kid: string;
  /** Returns a compact JWS (ES256, with `kid` in the protected header) over the payload. */
  sign(payload: Uint8Array): Promise<string>;
}

/** The file operations the recorder uses; injectable so tests can simulate a full or failing disk. */
export interface RecorderFs {
  open(path: string, flags: string, mode?: number): Promise<FileHandle>;
  mkdir(path: string, options: { recursive: true; mode?: number }): Promise<unknown>;
}

export interface RecorderOptions {
  stateDir: string;
  signer: DigestSigner;
  /** batch (default): on disk within flushMs; strict: every write is fsynced. */
  durability?: Durability;
  /** deny (default): record() returns false and recordDurable() rejects while the disk fails. */
  onFailure?: OnRecordingFailure;
  /** Params and body excerpts longer than this are cut (default 16 KiB). */
  maxBodyBytes?: number;
  /** Checkpoint digest after this many events or this long since the last digest (default 1000 events / 5 min). */
  checkpointEvery?: { events: number; ms: number };
  gatewayVersion: string;
  /** Batch flush delay (default 50 ms). */
  flushMs?: number;
  /** How often expiry and timed checkpoints are checked (default 10 s). */
  tickMs?: number;
  /** After a failure, how often writing is retried (default 1 s). */
  retryMs?: number;
  /** Events held in memory before record() refuses more (default 100 000). */
  maxQueuedEvents?: number;
  /** Session files kept open between writes (default 128). */
  maxOpenFiles?: number;
  /** Loud reporting of recording problems (wire it to the event bus as `error` events). */
  onError?: (error: Error) => void;
  now?: () => Date;
  fs?: RecorderFs;
}

interface Deferred {
  resolve: () => void;
  reject: (error: Error) => void;
}

/** `counted`: the item stands for one queued item in the backlog (fan-out copies and timer items do not). */
type Pending =
  | { kind: 'header'; body: Unchained<HeaderLine>; done?: Deferred; counted?: true }
  | { kind: 'line'; body: Unchained<EventLine>; done?: Deferred; counted?: true }
  | { kind: 'checkpoint' }
  | { kind: 'close'; reason: EndReason; at: string; done?: Deferred; counted?: true };

type Queued = { event: GatewayEvent; done?: Deferred } | { close: string; reason: EndReason; at: string; done?: Deferred };

interface SessionState {
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

/** Thrown by the write path: the disk (not one file's content) is failing. */
class DiskFailure extends Error {
  override readonly name = 'DiskFailure';
}

const DEFAULTS = {
  durability: 'batch' as Durability,
  onFailure: 'deny' as OnRecordingFailure,
  maxBodyBytes: 16 * 1024,
  checkpointEvery: { events: 1000, ms: 5 * 60_000 },
  flushMs: 50,
  tickMs: 10_000,
  retryMs: 1000,
  maxQueuedEvents: 100_000,
  maxOpenFiles: 128,
};

const WRITE_CONCURRENCY = 16;
const TAIL_CHUNK_BYTES = 64 * 1024;

export class Recorder {
  readonly #stateDir: string;
  readonly #signer: DigestSigner;
  readonly #durability: Durability;
  readonly #onFailure: OnRecordingFailure;
  readonly #maxBodyBytes: number;
  readonly #checkpointEvery: { events: number; ms: number };
  readonly #gatewayVersion: string;
  readonly #flushMs: number;
  readonly #retryMs: number;
  readonly #maxQueued: number;
  readonly #maxOpenFiles: number;
  readonly #onError: (error: Error) => void;
  readonly #now: () => Date;
  readonly #fs: RecorderFs;

  #queue: Queued[] = [];
  #backlog = 0;
  readonly #sessions = new Map<string, SessionState>();
  readonly #approvalSessions = new Map<string, string>();
  readonly #handles = new Map<string, FileHandle>();
  readonly #handlesInUse = new Set<string>();
  readonly #madeDirs = new Set<string>();
  #index: SessionIndex | undefined;
  #initialised: Promise<void> | undefined;
  #failure: Error | undefined;
  #dropped = 0;
  #closed = false;
  #flushTimer: NodeJS.Timeout | undefined;
  #retryTimer: NodeJS.Timeout | undefined;
  readonly #tickTimer: NodeJS.Timeout;
  #running: Promise<void> = Promise.resolve();
  #nextFlush: Promise<void> | undefined;

  constructor(options: RecorderOptions) {
    this.#stateDir = options.stateDir;
    this.#signer = options.signer;
    this.#durability = options.durability ?? DEFAULTS.durability;
    this.#onFailure = options.onFailure ?? DEFAULTS.onFailure;
    this.#maxBodyBytes = options.maxBodyBytes ?? DEFAULTS.maxBodyBytes;
    this.#checkpointEvery = options.checkpointEvery ?? DEFAULTS.checkpointEvery;
    this.#gatewayVersion = options.gatewayVersion;
    this.#flushMs = options.flushMs ?? DEFAULTS.flushMs;
    this.#retryMs = options.retryMs ?? DEFAULTS.retryMs;
    this.#maxQueued = options.maxQueuedEvents ?? DEFAULTS.maxQueuedEvents;
    this.#maxOpenFiles = options.maxOpenFiles ?? DEFAULTS.maxOpenFiles;
    this.#onError = options.onError ?? (() => undefined);
    this.#now = options.now ?? (() => new Date());
    this.#fs = options.fs ?? { open: fsOpen, mkdir: fsMkdir };
    for (const [name, value] of Object.entries({
      maxBodyBytes: this.#maxBodyBytes,
      'checkpointEvery.events': this.#checkpointEvery.events,
      'checkpointEvery.ms': this.#checkpointEvery.ms,
      flushMs: this.#flushMs,
      maxQueuedEvents: this.#maxQueued,
      maxOpenFiles: this.#maxOpenFiles,
    })) {
      if (!Number.isFinite(value) || value < 1) throw new Error(`recording: ${name} must be a positive number (got ${value})`);
    }
    const tickMs = Math.min(options.tickMs ?? DEFAULTS.tickMs, this.#checkpointEvery.ms);
    this.#tickTimer = setInterval(() => this.#tick(), tickMs).unref();
    // Resume and expire sessions left open by an earlier run without waiting for the first event.
    setImmediate(() => {
      if (!this.#closed) this.#tick();
    }).unref();
  }

  /** The disk failure in force, if any (cleared when writing works again). */
  failure(): Error | undefined {
    return this.#failure;
  }

  healthy(): boolean {
    return this.#failure === undefined && !this.#closed;
  }

  /** Events dropped because the queue was full (onFailure: allow). */
  dropped(): number {
    return this.#dropped;
  }

  /**
   * Queues an event (batch path). Returns false when the event was not accepted: the recorder is closed, the
   * queue is full, or the disk is failing and onFailure is deny — the proxy should then refuse the call.
   */
  record(event: GatewayEvent): boolean {
    if (!this.#accepting()) return false;
    this.#enqueue({ event });
    return true;
  }

  /**
   * Queues an event and resolves once it is fsynced. With onFailure deny it rejects with a RECORDING_FAILED
   * GatewayError when it cannot be written; with allow it resolves anyway (the failure is reported via onError).
   */
  recordDurable(event: GatewayEvent): Promise<void> {
    if (!this.#accepting()) return Promise.reject(this.#refusal());
    return new Promise<void>((resolve, reject) => {
      this.#enqueue({ event, done: { resolve, reject } });
      this.#flushSoon();
    });
  }

  /** Ends a session: end line and final signed digest. Later events for it are dropped. */
  closeSession(sessionId: string, reason: EndReason): Promise<void> {
    if (this.#closed) return Promise.reject(new Error('recorder is closed'));
    return new Promise<void>((resolve, reject) => {
      this.#enqueue({ close: sessionId, reason, at: this.#now().toISOString(), done: { resolve, reject } });
      this.#flushSoon();
    });
  }

  /** Writes everything queued so far. */
  flush(): Promise<void> {
    if (this.#nextFlush) return this.#nextFlush;
    const next = this.#running.then(() => {
      this.#nextFlush = undefined;
      return this.#flushOnce();
    });
    this.#nextFlush = next;
    this.#running = next.catch(() => undefined);
    return next;
  }

  /** Flushes, writes a checkpoint digest for every session with unsigned lines, and releases files. Sessions stay open. */
  async close(): Promise<void> {
    if (this.#closed) return this.#running;
    this.#closed = true;
    clearInterval(this.#tickTimer);
    if (this.#flushTimer) clearTimeout(this.#flushTimer);
    if (this.#retryTimer) clearTimeout(this.#retryTimer);
    await this.flush();
    for (const s of this.#sessions.values()) {
      if (s.status === 'open' && s.sinceDigest > 0) s.pending.push({ kind: 'checkpoint' });
    }
    await this.flush();
    for (const path of [...this.#handles.keys()]) await this.#closeHandle(path);
    if (this.#backlog > 0) this.#report(new Error(`recording: ${this.#backlog} events could not be written before close`));
  }

  #accepting(): boolean {
    if (this.#closed) return false;
    if (this.#failure && this.#onFailure === 'deny') return false;
    if (this.#backlog >= this.#maxQueued) {
      this.#dropped += 1;
      if (this.#dropped === 1 || this.#dropped % 1000 === 0) {
        this.#report(new Error(`recording: queue full (${this.#maxQueued} events); ${this.#dropped} events dropped`));
      }
      return false;
    }
    return true;
  }

  #refusal(): GatewayError {
    const reason = this.#closed ? 'the recorder is closed' : this.#failure ? this.#failure.message : 'the recording queue is full';
    return new GatewayError('RECORDING_FAILED', `session recording unavailable (${reason}); call refused (recording.on_failure: deny)`);
  }

  #flushSoon(): void {
    this.flush().catch((error: unknown) => this.#report(error as Error));
  }

  #enqueue(item: Queued): void {
    this.#queue.push(item);
    this.#backlog += 1;
    if (!this.#flushTimer && !this.#nextFlush) {
      this.#flushTimer = setTimeout(() => {
        this.#flushTimer = undefined;
        this.#flushSoon();
      }, this.#flushMs);
      this.#flushTimer.unref();
    }
  }

  #report(error: Error): void {
    try {
      this.#onError(error);
    } catch {
      // A reporting hook must not break recording.
    }
  }

  #init(): Promise<void> {
    this.#initialised ??= (async () => {
      this.#index = await openIndex(this.#stateDir);
      // Sessions left open by an earlier run: known so policy lines reach them and expiry closes them.
      for (const record of this.#index.state.data.sessions) {
        if (record.end !== undefined || this.#sessions.has(record.id)) continue;
        this.#sessions.set(record.id, this.#state(record.id, join(this.#stateDir, record.file), record.file, record.start, record.expiresAt, 'unloaded'));
      }
    })();
    return this.#initialised;
  }

  #state(id: string, file: string, rel: string, start: string, expiresAt: string, status: SessionState['status']): SessionState {
    return { id, file, rel, start, expiresAtMs: Date.parse(expiresAt), status, seq: 0, lastHash: null, size: 0, sinceDigest: 0, lastDigestMs: this.#now().getTime(), pending: [] };
  }

  #tick(): void {
    if (this.#closed) return;
    void this.#init()
      .then(() => {
        const nowMs = this.#now().getTime();
        let due = false;
        for (const s of this.#sessions.values()) {
          if (s.status === 'closed' || s.status === 'broken') continue;
          if (s.expiresAtMs <= nowMs) {
            s.pending.push({ kind: 'close', reason: 'expired', at: new Date(s.expiresAtMs).toISOString() });
            due = true;
          } else if (s.status === 'open' && s.sinceDigest > 0 && nowMs - s.lastDigestMs >= this.#checkpointEvery.ms) {
            s.pending.push({ kind: 'checkpoint' });
            due = true;
          }
        }
        if (due) return this.flush();
        return undefined;
      })
      .catch((error: unknown) => this.#report(error as Error));
  }

  async #flushOnce(): Promise<void> {
    if (this.#flushTimer) {
      clearTimeout(this.#flushTimer);
      this.#flushTimer = undefined;
    }
    try {
      await this.#init();
    } catch (error) {
      this.#initialised = undefined;
      this.#fail(new DiskFailure(`recording: cannot open the index in ${this.#stateDir}: ${(error as Error).message}`));
      this.#scheduleRetry();
      return;
    }
    const queue = this.#queue;
    this.#queue = [];
    for (const item of queue) await this.#dispatch(item);

    const dirty = [...this.#sessions.values()].filter((s) => s.pending.length > 0);
    let failed = false;
    let cursor = 0;
    const worker = async (): Promise<void> => {
      while (cursor < dirty.length) {
        const session = dirty[cursor++]!;
        if (!(await this.#writeSession(session))) failed = true;
      }
    };
    await Promise.all(Array.from({ length: Math.min(WRITE_CONCURRENCY, dirty.length) }, worker));

    if (dirty.length > 0 && this.#index) {
      await this.#index.save().catch((error: unknown) => this.#report(new Error(`recording: index not saved: ${(error as Error).message}`)));
    }
    if (failed) this.#scheduleRetry();
    else if (this.#failure && (dirty.length > 0 || (await this.#probe()))) this.#recovered();
  }

  #scheduleRetry(): void {
    if (this.#retryTimer || this.#closed) return;
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      this.#flushSoon();
    }, this.#retryMs);
    this.#retryTimer.unref();
  }

  /** With nothing pending, whether the disk accepts writes again. */
  async #probe(): Promise<boolean> {
    const path = join(sessionsDir(this.#stateDir), '.probe');
    try {
      await this.#fs.mkdir(dirname(path), { recursive: true, mode: 0o700 });
      const handle = await this.#fs.open(path, 'w', 0o600);
      try {
        await handle.write(Buffer.from('ok'));
      } finally {
        await handle.close();
      }
      return true;
    } catch {
      this.#scheduleRetry();
      return false;
    }
  }

  #recovered(): void {
    this.#report(new Error(`recording: writing works again after: ${this.#failure?.message}`));
    this.#failure = undefined;
  }

  /** Routes a queued item to its session, resolving sessions that this process has not seen yet. */
  async #dispatch(item: Queued): Promise<void> {
    if ('close' in item) {
      const session = await this.#lookup(item.close);
      if (!session) return this.#drop(item.done, `recording: cannot close unknown session ${item.close}`);
      session.pending.push({ kind: 'close', reason: item.reason, at: item.at, counted: true, ...(item.done ? { done: item.done } : {}) });
      return;
    }
    const { event, done } = item;
    const withDone = done ? { done, counted: true as const } : { counted: true as const };
    switch (event.type) {
      case 'session.started': {
        if (!isValidSessionId(event.sessionId)) return this.#drop(done, `recording: refusing session id ${JSON.stringify(event.sessionId)} (not a safe file name)`);
        if (this.#sessions.has(event.sessionId)) return this.#drop(done, `recording: session ${event.sessionId} started twice`);
        let rel: string;
        try {
          rel = sessionFileRelative(event.sessionId, event.at);
        } catch (error) {
          return this.#drop(done, `recording: session ${event.sessionId}: ${(error as Error).message}`);
        }
        const session = this.#state(event.sessionId, join(this.#stateDir, rel), rel, event.at, event.expiresAt, 'new');
        session.pending.push({ kind: 'header', body: headerFromEvent(event, this.#gatewayVersion), ...withDone });
        this.#sessions.set(session.id, session);
        return;
      }
      case 'policy.loaded':
      case 'policy.rejected': {
        const body = lineFromEvent(event, this.#maxBodyBytes)!;
        const nowMs = this.#now().getTime();
        for (const s of this.#sessions.values()) {
          if (s.status !== 'closed' && s.status !== 'broken' && s.expiresAtMs > nowMs) s.pending.push({ kind: 'line', body });
        }
        this.#backlog -= 1;
        done?.resolve();
        return;
      }
      case 'session.ended': {
        const session = await this.#lookup(event.sessionId);
        if (!session) return this.#drop(done, undefined);
        // Sessions outlive a gateway restart, so a shutdown only seals what was written with a checkpoint.
        if (event.reason === 'shutdown') session.pending.push({ kind: 'checkpoint' });
        else session.pending.push({ kind: 'close', reason: event.reason, at: event.at });
        this.#backlog -= 1;
        done?.resolve();
        return;
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
      if (body) return this.#drop(done, `recording: ${event.type} ${'approvalId' in event ? event.approvalId : ''} has no known session`);
      return this.#drop(done, undefined);
    }
    const session = await this.#lookup(sessionId);
    if (!session) return this.#drop(done, `recording: ${event.type} for unknown session ${sessionId}`);
    session.pending.push({ kind: 'line', body, ...withDone });
    if (event.type === 'session.revoked') session.pending.push({ kind: 'close', reason: 'revoked', at: event.at });
  }

  #rememberApproval(approvalId: string, sessionId: string): void {
    this.#approvalSessions.set(approvalId, sessionId);
    if (this.#approvalSessions.size > 10_000) {
      const oldest = this.#approvalSessions.keys().next().value;
      if (oldest !== undefined) this.#approvalSessions.delete(oldest);
    }
  }

  /** An item that will never be written: resolved (it is not a disk failure) and reported when worth saying. */
  #drop(done: Deferred | undefined, message: string | undefined): void {
    this.#backlog -= 1;
    if (message !== undefined) {
      const error = new Error(message);
      this.#report(error);
      if (done && this.#onFailure === 'deny') return done.reject(new GatewayError('RECORDING_FAILED', `${message}; call refused`));
    }
    done?.resolve();
  }

  async #lookup(sessionId: string): Promise<SessionState | undefined> {
    const known = this.#sessions.get(sessionId);
    if (known) return known;
    if (!isValidSessionId(sessionId)) return undefined;
    const record = this.#index?.state.session(sessionId);
    if (!record) return undefined;
    const status = record.end === undefined ? 'unloaded' : 'closed';
    const session = this.#state(sessionId, join(this.#stateDir, record.file), record.file, record.start, record.expiresAt, status);
    this.#sessions.set(sessionId, session);
    return session;
  }

  /** Writes a session's pending lines with one write. Returns false when the disk failed (items kept for retry). */
  async #writeSession(s: SessionState): Promise<boolean> {
    const items = s.pending.splice(0);
    this.#handlesInUse.add(s.file);
    try {
      if (s.status === 'unloaded') await this.#load(s);
      if (s.status === 'new' && !(await this.#create(s))) {
        // The file already exists (the same session started twice): keep the recording that is there.
        this.#report(new Error(`recording: session ${s.id} started again; keeping its existing file`));
        for (const item of items.filter((i) => i.kind === 'header')) this.#settleDropped(item, s);
        items.splice(0, items.length, ...items.filter((i) => i.kind !== 'header'));
        await this.#load(s);
      }
      if (s.status === 'broken' || s.status === 'closed') {
        for (const item of items) this.#settleDropped(item, s);
        if (s.status === 'closed') this.#sessions.delete(s.id);
        return true;
      }

      let seq = s.seq;
      let prev = s.lastHash;
      let sinceDigest = s.sinceDigest;
      let lastDigestMs = s.lastDigestMs;
      let closed = false;
      let forceSync = this.#durability === 'strict';
      const texts: string[] = [];
      const written: RecordLine[] = [];
      const settled: Pending[] = [];
      const append = (body: Unchained<RecordLine>): void => {
        const text = serializeLine(body, seq, prev);
        texts.push(text, '\n');
        written.push({ seq, prev, ...body } as RecordLine);
        prev = sha256Hex(text);
        seq += 1;
      };
      const digest = async (kind: DigestKind): Promise<void> => {
        if (prev === null) return;
        const at = this.#now().toISOString();
        const payload = { sessionId: s.id, lastHash: prev, count: seq, from: s.start, to: at };
        let signature: string;
        try {
          signature = await this.#signer.sign(digestPayloadBytes(payload));
        } catch (error) {
          // Not this file's fault: retried like a disk failure.
          throw new DiskFailure(`recording: cannot sign a digest: ${(error as Error).message}`);
        }
        append({ type: 'digest', kind, at, lastHash: prev, count: seq, from: s.start, to: at, kid: this.#signer.kid, signature });
        sinceDigest = 0;
        lastDigestMs = this.#now().getTime();
      };

      for (const item of items) {
        if (closed) {
          this.#settleDropped(item, s);
          continue;
        }
        settled.push(item);
        switch (item.kind) {
          case 'header':
            append(item.body);
            break;
          case 'line':
            append(item.body);
            sinceDigest += 1;
            if ('done' in item && item.done) forceSync = true;
            if (sinceDigest >= this.#checkpointEvery.events) await digest('checkpoint');
            break;
          case 'checkpoint':
            if (sinceDigest > 0) await digest('checkpoint');
            break;
          case 'close':
            append({ type: 'end', at: item.at, reason: item.reason });
            await digest('final');
            closed = true;
            forceSync = true;
            break;
        }
      }

      if (texts.length > 0) await this.#append(s, Buffer.from(texts.join(''), 'utf8'), forceSync);
      s.seq = seq;
      s.lastHash = prev;
      s.sinceDigest = sinceDigest;
      s.lastDigestMs = lastDigestMs;
      if (closed) s.status = 'closed';
      for (const line of written) this.#index?.state.applyLine(s.id, s.rel, line);
      for (const item of settled) {
        if (item.kind !== 'checkpoint' && item.counted) this.#backlog -= 1;
        if ('done' in item) item.done?.resolve();
      }
      if (closed) {
        await this.#closeHandle(s.file);
        this.#sessions.delete(s.id);
      }
      return true;
    } catch (error) {
      if (!(error instanceof DiskFailure)) {
        // One file's content is unusable (missing, not a recording): its events are dropped, the disk is fine.
        s.status = 'broken';
        this.#report(new Error(`recording: session ${s.id}: ${(error as Error).message}; its events are dropped`));
        for (const item of items) this.#settleDropped(item, s);
        return true;
      }
      s.pending.unshift(...items);
      this.#fail(error);
      return false;
    } finally {
      this.#handlesInUse.delete(s.file);
    }
  }

  #settleDropped(item: Pending, s: SessionState): void {
    if (item.kind === 'checkpoint') return;
    if (item.counted) this.#backlog -= 1;
    const done = 'done' in item ? item.done : undefined;
    if (item.kind === 'close') return done?.resolve();
    const message = `recording: ${item.body.type} for ${s.status} session ${s.id} dropped`;
    this.#report(new Error(message));
    if (done && this.#onFailure === 'deny') done.reject(new GatewayError('RECORDING_FAILED', `${message}; call refused`));
    else done?.resolve();
  }

  #fail(error: DiskFailure): void {
    const first = this.#failure === undefined;
    this.#failure = error;
    if (first) {
      this.#report(new Error(`${error.message} (recording.on_failure: ${this.#onFailure}${this.#onFailure === 'deny' ? ', calls are refused' : ', calls continue unrecorded'})`));
    }
    // Durable callers waiting on a write that failed: refused in deny mode, let through (loudly) in allow mode.
    const settle = (holder: { done?: Deferred }): void => {
      if (!holder.done) return;
      if (this.#onFailure === 'deny') holder.done.reject(new GatewayError('RECORDING_FAILED', `session recording failed (${error.message}); call refused`));
      else holder.done.resolve();
      delete holder.done;
    };
    for (const item of this.#queue) settle(item);
    for (const s of this.#sessions.values()) for (const item of s.pending) if (item.kind !== 'checkpoint') settle(item);
  }

  /** Opens a new session's file; false when a non-empty file is already there. */
  async #create(s: SessionState): Promise<boolean> {
    const dir = dirname(s.file);
    const handle = await this.#handle(s.file, dir);
    let size: number;
    try {
      size = (await handle.stat()).size;
    } catch (error) {
      throw new DiskFailure(`recording: cannot stat ${s.file}: ${(error as Error).message}`);
    }
    if (size > 0) {
      s.status = 'unloaded';
      return false;
    }
    s.status = 'open';
    s.size = 0;
    return true;
  }

  /** Reads the head (for start/expiry) and the tail (for seq and hash) of an existing file; cuts a torn tail. */
  async #load(s: SessionState): Promise<void> {
    let handle: FileHandle;
    try {
      handle = await this.#fs.open(s.file, 'r+');
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') throw new Error(`its file ${s.rel} is missing`);
      throw new DiskFailure(`recording: cannot open ${s.file}: ${(error as Error).message}`);
    }
    try {
      const { size } = await handle.stat();
      const tail = await readTail(handle, size);
      if (!tail) throw new Error(`${s.rel} holds no complete line`);
      if (tail.end < size) {
        // A line torn by a crash: nothing follows it yet, so cutting it keeps the file verifiable after appends.
        await handle.truncate(tail.end);
        this.#report(new Error(`recording: session ${s.id}: cut a torn last line (${size - tail.end} bytes) left by a crash`));
      }
      let last: RecordLine;
      try {
        last = JSON.parse(tail.line.toString('utf8')) as RecordLine;
      } catch {
        throw new Error(`${s.rel} does not end with a recording line`);
      }
      s.seq = last.seq + 1;
      s.lastHash = sha256Hex(tail.line);
      s.size = tail.end;
      s.status = last.type === 'digest' && last.kind === 'final' ? 'closed' : 'open';
      // Unknown how many lines follow the last digest; 1 makes sure the next checkpoint covers them.
      s.sinceDigest = last.type === 'digest' ? 0 : 1;
    } finally {
      await handle.close();
    }
  }

  async #handle(file: string, dir: string): Promise<FileHandle> {
    const cached = this.#handles.get(file);
    if (cached) {
      this.#handles.delete(file);
      this.#handles.set(file, cached);
      return cached;
    }
    try {
      if (!this.#madeDirs.has(dir)) {
        await this.#fs.mkdir(dir, { recursive: true, mode: 0o700 });
        this.#madeDirs.add(dir);
      }
      const handle = await this.#fs.open(file, 'a', 0o600);
      this.#handles.set(file, handle);
      if (this.#handles.size > this.#maxOpenFiles) {
        for (const path of this.#handles.keys()) {
          if (this.#handles.size <= this.#maxOpenFiles) break;
          if (!this.#handlesInUse.has(path) && path !== file) await this.#closeHandle(path);
        }
      }
      return handle;
    } catch (error) {
      this.#madeDirs.delete(dir);
      throw new DiskFailure(`recording: cannot open ${file} for appending: ${(error as Error).message}`);
    }
  }

  async #closeHandle(file: string): Promise<void> {
    const handle = this.#handles.get(file);
    if (!handle) return;
    this.#handles.delete(file);
    await handle.close().catch(() => undefined);
  }

  async #append(s: SessionState, data: Buffer, sync: boolean): Promise<void> {
    const handle = await this.#handle(s.file, dirname(s.file));
    let written = 0;
    try {
      written = (await handle.write(data, 0, data.length, null)).bytesWritten;
      if (written !== data.length) throw new Error(`short write (${written} of ${data.length} bytes; disk full?)`);
      if (sync) await handle.sync();
    } catch (error) {
      // Cut back to the last good line so a later append cannot follow half a line.
      await handle.truncate(s.size).catch(() => undefined);
      await this.#closeHandle(s.file);
      throw new DiskFailure(`recording: cannot write ${s.file}: ${(error as Error).message}`);
    }
    s.size += data.length;
  }
}

/** The last complete line of a file and where it ends (just after its newline). */
async function readTail(handle: FileHandle, size: number): Promise<{ line: Buffer; end: number } | undefined> {
  let chunks: Buffer[] = [];
  let position = size;
  let end = -1;
  while (position > 0) {
    const length = Math.min(TAIL_CHUNK_BYTES, position);
    position -= length;
    const chunk = Buffer.alloc(length);
    await handle.read(chunk, 0, length, position);
    chunks = [chunk, ...chunks];
    const buffer = Buffer.concat(chunks);
    const base = position;
    if (end === -1) {
      const lastNewline = buffer.lastIndexOf(0x0a);
      if (lastNewline === -1) continue;
      end = base + lastNewline + 1;
    }
    const endInBuffer = end - 1 - base;
    const startNewline = endInBuffer > 0 ? buffer.lastIndexOf(0x0a, endInBuffer - 1) : -1;
    if (startNewline !== -1) return { line: buffer.subarray(startNewline + 1, endInBuffer), end };
    if (position === 0) return { line: buffer.subarray(0, endInBuffer), end };
  }
  return undefined;
}
