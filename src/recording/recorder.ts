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
//
// The pieces: session-table.ts routes events to sessions, session-batch.ts chains a session's lines,
// session-files.ts writes them; this class owns the queue, the timers and what a disk failure means for callers.

import { join } from 'node:path';
import type { GatewayEvent } from '../events.js';
import { GatewayError } from '../errors.js';
import type { DigestLine, EndReason } from './chain.js';
import { openIndex, type SessionIndex } from './index-db.js';
import { sessionsDir } from './paths.js';
import { resolveRecorderOptions, type RecorderOptions, type ResolvedRecorderOptions } from './recorder-options.js';
import { chainBatch } from './session-batch.js';
import { DiskFailure, SessionFiles } from './session-files.js';
import type { Deferred, Pending, Queued, SessionState } from './session-state.js';
import { SessionTable } from './session-table.js';

const WRITE_CONCURRENCY = 16;

/** Least time between two saves of the session index while calls flow (flush() and close() save at once). */
const INDEX_SAVE_MS = 1_000;

export class Recorder {
  readonly #o: ResolvedRecorderOptions;
  readonly #sessions: SessionTable;
  readonly #files: SessionFiles;

  #queue: Queued[] = [];
  #backlog = 0;
  #index: SessionIndex | undefined;
  #initialised: Promise<void> | undefined;
  #failure: Error | undefined;
  #dropped = 0;
  #closed = false;
  #flushTimer: unknown;
  #retryTimer: unknown;
  #tickTimer: unknown;
  #running: Promise<void> = Promise.resolve();
  #nextFlush: Promise<void> | undefined;
  /** Sessions changed since the index was last saved; saves are at most one per INDEX_SAVE_MS unless flush() asks. */
  #indexDirty = false;
  #indexSavedMs = Number.NEGATIVE_INFINITY;
  #indexTimer: unknown;
  #saveIndexNow = false;

  constructor(options: RecorderOptions) {
    this.#o = resolveRecorderOptions(options);
    const { stateDir, gatewayVersion, maxBodyBytes, now, fs, maxOpenFiles } = this.#o;
    this.#sessions = new SessionTable({ stateDir, gatewayVersion, maxBodyBytes, now });
    this.#files = new SessionFiles({ fs, maxOpenFiles, report: (error) => this.#report(error) });
    // The first tick comes at once: it resumes and expires sessions left open by an earlier run without waiting
    // for the first event.
    this.#scheduleTick(0);
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
      this.#enqueue({ close: sessionId, reason, at: this.#o.now().toISOString(), done: { resolve, reject } });
      this.#flushSoon();
    });
  }

  /** Writes everything queued so far, and the session index. */
  flush(): Promise<void> {
    this.#saveIndexNow = true;
    return this.#flush();
  }

  #flush(): Promise<void> {
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
    this.#clearTimer(this.#tickTimer);
    this.#clearTimer(this.#flushTimer);
    this.#clearTimer(this.#retryTimer);
    this.#clearTimer(this.#indexTimer);
    await this.flush();
    for (const s of this.#sessions.values()) {
      if (s.status === 'open' && s.sinceDigest > 0) s.pending.push({ kind: 'checkpoint' });
    }
    await this.flush();
    await this.#files.closeAll();
    if (this.#backlog > 0) this.#report(new Error(`recording: ${this.#backlog} events could not be written before close`));
  }

  #accepting(): boolean {
    if (this.#closed) return false;
    if (this.#failure && this.#o.onFailure === 'deny') return false;
    if (this.#backlog >= this.#o.maxQueuedEvents) {
      this.#dropped += 1;
      if (this.#dropped === 1 || this.#dropped % 1000 === 0) {
        this.#report(new Error(`recording: queue full (${this.#o.maxQueuedEvents} events); ${this.#dropped} events dropped`));
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
    this.#flush().catch((error: unknown) => this.#report(error as Error));
  }

  #enqueue(item: Queued): void {
    this.#queue.push(item);
    this.#backlog += 1;
    if (this.#flushTimer === undefined && !this.#nextFlush) {
      this.#flushTimer = this.#o.setTimer(() => {
        this.#flushTimer = undefined;
        this.#flushSoon();
      }, this.#o.flushMs);
    }
  }

  #clearTimer(handle: unknown): void {
    if (handle !== undefined) this.#o.clearTimer(handle);
  }

  #report(error: Error): void {
    try {
      this.#o.onError(error);
    } catch {
      // A reporting hook must not break recording.
    }
  }

  #init(): Promise<void> {
    this.#initialised ??= (async () => {
      this.#index = await openIndex(this.#o.stateDir, this.#o.now);
      this.#sessions.resume(this.#index);
    })();
    return this.#initialised;
  }

  #scheduleTick(delayMs: number): void {
    this.#tickTimer = this.#o.setTimer(() => {
      if (this.#closed) return;
      this.#tick();
      this.#scheduleTick(this.#o.tickMs);
    }, delayMs);
  }

  /** Expiry and timed checkpoints. */
  #tick(): void {
    void this.#init()
      .then(() => (this.#sessions.queueTimed(this.#o.now().getTime(), this.#o.checkpointEvery.ms) ? this.flush() : undefined))
      .catch((error: unknown) => this.#report(error as Error));
  }

  async #flushOnce(): Promise<void> {
    this.#clearTimer(this.#flushTimer);
    this.#flushTimer = undefined;
    try {
      await this.#init();
    } catch (error) {
      this.#initialised = undefined;
      this.#fail(new DiskFailure(`recording: cannot open the index in ${this.#o.stateDir}: ${(error as Error).message}`));
      this.#scheduleRetry();
      return;
    }
    const queue = this.#queue;
    this.#queue = [];
    for (const item of queue) {
      const routed = this.#sessions.route(item);
      if (routed !== 'pending') this.#drop(item.done, routed === 'settled' ? undefined : routed.refused);
    }

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

    if (dirty.length > 0) this.#indexDirty = true;
    await this.#saveIndex();
    if (failed) this.#scheduleRetry();
    else if (this.#failure && (dirty.length > 0 || (await this.#probe()))) this.#recovered();
  }

  /**
   * The index (db.json) is rewritten whole, so it is saved at most once per INDEX_SAVE_MS while calls flow (with ten
   * thousand sessions it is megabytes, and batches flush every 50 ms); flush() and close() save it at once. The
   * recordings are written first and are the record: a crash loses at most the last second of index counts.
   */
  async #saveIndex(): Promise<void> {
    const force = this.#saveIndexNow;
    this.#saveIndexNow = false;
    if (!this.#indexDirty || !this.#index) return;
    const nowMs = this.#o.now().getTime();
    const waitMs = this.#indexSavedMs + INDEX_SAVE_MS - nowMs;
    if (!force && waitMs > 0) {
      this.#indexTimer ??= this.#o.setTimer(() => {
        this.#indexTimer = undefined;
        if (this.#closed) return;
        this.#saveIndexNow = true;
        this.#flushSoon();
      }, waitMs);
      return;
    }
    this.#clearTimer(this.#indexTimer);
    this.#indexTimer = undefined;
    this.#indexDirty = false;
    this.#indexSavedMs = nowMs;
    await this.#index.save().catch((error: unknown) => this.#report(new Error(`recording: index not saved: ${(error as Error).message}`)));
  }

  #scheduleRetry(): void {
    if (this.#retryTimer !== undefined || this.#closed) return;
    this.#retryTimer = this.#o.setTimer(() => {
      this.#retryTimer = undefined;
      this.#flushSoon();
    }, this.#o.retryMs);
  }

  /** With nothing pending, whether the disk accepts writes again. */
  async #probe(): Promise<boolean> {
    const ok = await this.#files.probe(join(sessionsDir(this.#o.stateDir), '.probe'));
    if (!ok) this.#scheduleRetry();
    return ok;
  }

  #recovered(): void {
    this.#report(new Error(`recording: writing works again after: ${this.#failure?.message}`));
    this.#failure = undefined;
  }

  /** An item that will never be written: resolved (it is not a disk failure) and reported when worth saying. */
  #drop(done: Deferred | undefined, message: string | undefined): void {
    this.#backlog -= 1;
    if (message !== undefined) {
      const error = new Error(message);
      this.#report(error);
      if (done && this.#o.onFailure === 'deny') return done.reject(new GatewayError('RECORDING_FAILED', `${message}; call refused`));
    }
    done?.resolve();
  }

  /** Writes a session's pending lines with one write. Returns false when the disk failed (items kept for retry). */
  async #writeSession(s: SessionState): Promise<boolean> {
    const items = s.pending.splice(0);
    this.#files.use(s.file);
    try {
      if (s.status === 'unloaded') await this.#files.load(s);
      if (s.status === 'new' && !(await this.#files.create(s))) {
        // The file already exists (the same session started twice): keep the recording that is there.
        this.#report(new Error(`recording: session ${s.id} started again; keeping its existing file`));
        for (const item of items.filter((i) => i.kind === 'header')) this.#settleDropped(item, s);
        items.splice(0, items.length, ...items.filter((i) => i.kind !== 'header'));
        await this.#files.load(s);
      }
      if (s.status === 'broken' || s.status === 'closed') {
        for (const item of items) this.#settleDropped(item, s);
        if (s.status === 'closed') this.#sessions.delete(s.id);
        return true;
      }

      const { signer, now } = this.#o;
      const batch = await chainBatch(s, items, { signer, now, checkpointEvents: this.#o.checkpointEvery.events, strict: this.#o.durability === 'strict' });
      for (const item of batch.dropped) this.#settleDropped(item, s);
      if (batch.text.length > 0) await this.#files.append(s, Buffer.from(batch.text, 'utf8'), batch.sync);
      s.seq = batch.seq;
      s.lastHash = batch.lastHash;
      s.sinceDigest = batch.sinceDigest;
      s.lastDigestMs = batch.lastDigestMs;
      if (batch.closed) s.status = 'closed';
      for (const line of batch.written) {
        this.#index?.state.applyLine(s.id, s.rel, line);
        if (line.type === 'digest') this.#digested(s.id, line);
      }
      for (const item of batch.settled) {
        if (item.kind !== 'checkpoint' && item.counted) this.#backlog -= 1;
        if ('done' in item) item.done?.resolve();
      }
      if (batch.closed) {
        await this.#files.close(s.file);
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
      this.#files.release(s.file);
    }
  }

  #digested(sessionId: string, line: DigestLine): void {
    try {
      this.#o.onDigest(sessionId, line);
    } catch (error) {
      this.#report(new Error(`recording: digest hook failed: ${(error as Error).message}`));
    }
  }

  #settleDropped(item: Pending, s: SessionState): void {
    if (item.kind === 'checkpoint') return;
    if (item.counted) this.#backlog -= 1;
    const done = 'done' in item ? item.done : undefined;
    if (item.kind === 'close') return done?.resolve();
    const message = `recording: ${item.body.type} for ${s.status} session ${s.id} dropped`;
    this.#report(new Error(message));
    if (done && this.#o.onFailure === 'deny') done.reject(new GatewayError('RECORDING_FAILED', `${message}; call refused`));
    else done?.resolve();
  }

  #fail(error: DiskFailure): void {
    const first = this.#failure === undefined;
    this.#failure = error;
    if (first) {
      const consequence = this.#o.onFailure === 'deny' ? ', calls are refused' : ', calls continue unrecorded';
      this.#report(new Error(`${error.message} (recording.on_failure: ${this.#o.onFailure}${consequence})`));
    }
    // Durable callers waiting on a write that failed: refused in deny mode, let through (loudly) in allow mode.
    const settle = (holder: { done?: Deferred }): void => {
      if (!holder.done) return;
      if (this.#o.onFailure === 'deny') holder.done.reject(new GatewayError('RECORDING_FAILED', `session recording failed (${error.message}); call refused`));
      else holder.done.resolve();
      delete holder.done;
    };
    for (const item of this.#queue) settle(item);
    for (const s of this.#sessions.values()) for (const item of s.pending) if (item.kind !== 'checkpoint') settle(item);
  }
}
