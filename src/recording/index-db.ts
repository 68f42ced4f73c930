// The session index: a lowdb JSON file (<state-dir>/db.json) listing sessions with their counts, approvals and
// revocations. The session files are the source of truth; the index is rebuilt from them when it is missing or
// corrupt. One SessionIndex per state dir and process, so concurrent writers in the gateway never clobber each other.

import { mkdir, readdir, readFile, rename, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { Low } from 'lowdb';
import { JSONFile } from 'lowdb/node';
import type { EndReason, RecordLine } from './chain.js';
import { indexPath, sessionsDir } from './paths.js';
import { Revocations, type RevocationRecord } from '../sessions/revocations.js';

export type { RevocationRecord };

export interface SessionCounts {
  calls: number;
  allowed: number;
  denied: number;
  approvals: number;
}

export interface SessionRecord {
  id: string;
  serviceAccount: string;
  roleArn: string;
  start: string;
  expiresAt: string;
  end?: string;
  endReason?: EndReason;
  counts: SessionCounts;
  /** Lines written so far (header and digests included). */
  lines: number;
  /** Relative to the state dir. */
  file: string;
}

export type ApprovalStatus = 'pending' | 'approved' | 'denied' | 'expired' | 'executed';

export interface ApprovalRecord {
  id: string;
  sessionId: string;
  status: ApprovalStatus;
  requestId?: string;
  action?: string;
  resource?: string;
  ruleId?: string;
  proposedAt?: string;
  expiresAt?: string;
  by?: string;
  reason?: string;
  decidedAt?: string;
  executedAt?: string;
}

export interface IndexData {
  version: 1;
  sessions: SessionRecord[];
  approvals: ApprovalRecord[];
  revocations: RevocationRecord[];
}

export function emptyIndex(): IndexData {
  return { version: 1, sessions: [], approvals: [], revocations: [] };
}

function isIndexData(value: unknown): value is IndexData {
  if (typeof value !== 'object' || value === null) return false;
  const data = value as Partial<IndexData>;
  return data.version === 1 && Array.isArray(data.sessions) && Array.isArray(data.approvals) && Array.isArray(data.revocations);
}

/** Pure: is this credential revoked by any of these records? (The one rule lives in sessions/revocations.) */
export function isRevoked(revocations: readonly RevocationRecord[], session: { sessionId: string; serviceAccount: string; issuedAt: string }): boolean {
  return Revocations.fromRecords(revocations).reason({ ...session, issuedAtMs: Date.parse(session.issuedAt) }) !== undefined;
}

/** In-memory index with id lookups; `applyLine` is how both the recorder and a rebuild fill it. */
export class IndexState {
  readonly data: IndexData;
  readonly #sessions = new Map<string, SessionRecord>();
  readonly #approvals = new Map<string, ApprovalRecord>();

  constructor(data: IndexData = emptyIndex()) {
    this.data = data;
    for (const s of data.sessions) this.#sessions.set(s.id, s);
    for (const a of data.approvals) this.#approvals.set(a.id, a);
  }

  session(id: string): SessionRecord | undefined {
    return this.#sessions.get(id);
  }

  /** Folds one written line of a session file into the index. */
  applyLine(sessionId: string, file: string, line: RecordLine): void {
    if (line.type === 'header') {
      const record: SessionRecord = {
        id: sessionId,
        serviceAccount: line.serviceAccount,
        roleArn: line.roleArn,
        start: line.start,
        expiresAt: line.expiresAt,
        counts: { calls: 0, allowed: 0, denied: 0, approvals: 0 },
        lines: 1,
        file,
      };
      const existing = this.#sessions.get(sessionId);
      if (existing) Object.assign(existing, record);
      else {
        this.#sessions.set(sessionId, record);
        this.data.sessions.push(record);
      }
      return;
    }
    const session = this.#sessions.get(sessionId);
    if (!session) return;
    session.lines = Math.max(session.lines, line.seq + 1);
    switch (line.type) {
      case 'request':
        session.counts.calls += 1;
        break;
      case 'decision':
        if (line.effect === 'allow') session.counts.allowed += 1;
        else if (line.effect === 'deny') session.counts.denied += 1;
        else session.counts.approvals += 1;
        break;
      case 'approval':
        this.#applyApproval(sessionId, line);
        break;
      case 'revocation':
        this.addRevocation({ sessionId, by: line.by, at: line.at, ...(line.reason === undefined ? {} : { reason: line.reason }) });
        break;
      case 'end':
        session.end = line.at;
        session.endReason = line.reason;
        break;
      default:
        break;
    }
  }

  #applyApproval(sessionId: string, line: Extract<RecordLine, { type: 'approval' }>): void {
    let record = this.#approvals.get(line.approvalId);
    if (!record) {
      record = { id: line.approvalId, sessionId, status: 'pending' };
      this.#approvals.set(line.approvalId, record);
      this.data.approvals.push(record);
    }
    switch (line.step) {
      case 'proposed':
        Object.assign(record, {
          proposedAt: line.at,
          ...(line.requestId === undefined ? {} : { requestId: line.requestId }),
          ...(line.action === undefined ? {} : { action: line.action }),
          ...(line.resource === undefined ? {} : { resource: line.resource }),
          ...(line.ruleId === undefined ? {} : { ruleId: line.ruleId }),
          ...(line.expiresAt === undefined ? {} : { expiresAt: line.expiresAt }),
        });
        break;
      case 'decided':
        record.status = line.decision ?? 'denied';
        record.decidedAt = line.at;
        if (line.by !== undefined) record.by = line.by;
        if (line.reason !== undefined) record.reason = line.reason;
        break;
      case 'expired':
        record.status = 'expired';
        record.decidedAt = line.at;
        break;
      case 'executed':
        record.status = 'executed';
        record.executedAt = line.at;
        break;
    }
  }

  /** Idempotent: the same session (or account) revoked twice keeps the first record. */
  addRevocation(revocation: RevocationRecord): boolean {
    const duplicate = this.data.revocations.some((r) =>
      revocation.sessionId !== undefined
        ? r.sessionId === revocation.sessionId
        : r.sessionId === undefined && r.serviceAccount === revocation.serviceAccount && r.at === revocation.at,
    );
    if (duplicate) return false;
    this.data.revocations.push(revocation);
    return true;
  }
}

export class SessionIndex {
  readonly stateDir: string;
  readonly state: IndexState;
  readonly #db: Low<IndexData>;

  private constructor(stateDir: string, db: Low<IndexData>) {
    this.stateDir = stateDir;
    this.#db = db;
    this.state = new IndexState(db.data);
  }

  /** Loads db.json; rebuilds it from the session files when it is missing or corrupt (a corrupt one is kept aside). */
  static async load(stateDir: string, now: () => Date = () => new Date()): Promise<SessionIndex> {
    const file = indexPath(stateDir);
    const db = new Low<IndexData>(new JSONFile<IndexData>(file), emptyIndex());
    let usable = false;
    try {
      await db.read();
      usable = isIndexData(db.data) && (await fileExists(file));
    } catch (error) {
      if (!(error instanceof SyntaxError)) throw error;
    }
    if (!usable) {
      if (await fileExists(file)) await rename(file, `${file}.corrupt-${now().toISOString().replace(/[:.]/g, '-')}`);
      db.data = await scanSessionFiles(stateDir);
      await mkdir(stateDir, { recursive: true, mode: 0o700 });
      await db.write();
    }
    return new SessionIndex(stateDir, db);
  }

  async save(): Promise<void> {
    await this.#db.write();
  }
}

async function fileExists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

const DAY_DIR = /^\d{4}-\d{2}-\d{2}$/;

/** Every session file under the state dir, oldest day first. */
export async function listSessionFiles(stateDir: string): Promise<string[]> {
  const root = sessionsDir(stateDir);
  let days: string[];
  try {
    days = (await readdir(root)).filter((d) => DAY_DIR.test(d)).sort();
  } catch {
    return [];
  }
  const files: string[] = [];
  for (const day of days) {
    let names: string[];
    try {
      names = await readdir(join(root, day));
    } catch {
      continue;
    }
    for (const name of names.filter((n) => n.endsWith('.jsonl')).sort()) files.push(join(root, day, name));
  }
  return files;
}

/** Rebuilds index data from the session files; unparseable lines are skipped (verify is the strict check). */
export async function scanSessionFiles(stateDir: string): Promise<IndexData> {
  const state = new IndexState();
  for (const path of await listSessionFiles(stateDir)) {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch {
      continue;
    }
    const file = relative(stateDir, path);
    let sessionId: string | undefined;
    for (const raw of text.split('\n')) {
      if (raw === '') continue;
      let line: RecordLine;
      try {
        line = JSON.parse(raw) as RecordLine;
      } catch {
        continue;
      }
      if (line.type === 'header') sessionId = line.sessionId;
      if (sessionId !== undefined) state.applyLine(sessionId, file, line);
    }
  }
  return state.data;
}

const open = new Map<string, Promise<SessionIndex>>();

/** The process-wide index of a state dir (loaded, or rebuilt, once). */
export function openIndex(stateDir: string, now: () => Date = () => new Date()): Promise<SessionIndex> {
  let index = open.get(stateDir);
  if (!index) {
    index = SessionIndex.load(stateDir, now);
    open.set(stateDir, index);
    index.catch(() => open.delete(stateDir));
  }
  return index;
}

/** Drops the cached index so the next call reads db.json again. */
export function forgetIndex(stateDir: string): void {
  open.delete(stateDir);
}

/** Discards db.json and rebuilds it from the session files. */
export async function rebuildIndex(stateDir: string): Promise<IndexData> {
  forgetIndex(stateDir);
  const data = await scanSessionFiles(stateDir);
  const db = new Low<IndexData>(new JSONFile<IndexData>(indexPath(stateDir)), data);
  await mkdir(stateDir, { recursive: true, mode: 0o700 });
  await db.write();
  return data;
}

export interface SessionSummary extends SessionRecord {
  active: boolean;
  revoked: boolean;
}

/** Sessions for `portcullis sessions`; active = not ended, not expired, not revoked. Newest first. */
export async function listSessions(stateDir: string, options: { active?: boolean; now?: Date } = {}): Promise<SessionSummary[]> {
  const index = await openIndex(stateDir);
  const nowMs = (options.now ?? new Date()).getTime();
  const { revocations } = index.state.data;
  const summaries = index.state.data.sessions.map((s): SessionSummary => {
    const revoked = isRevoked(revocations, { sessionId: s.id, serviceAccount: s.serviceAccount, issuedAt: s.start });
    return { ...s, counts: { ...s.counts }, revoked, active: s.end === undefined && !revoked && Date.parse(s.expiresAt) > nowMs };
  });
  return summaries.filter((s) => !options.active || s.active).sort((a, b) => b.start.localeCompare(a.start));
}

/** Persists a revocation (the gateway refuses the credentials after a restart too). */
export async function addRevocation(stateDir: string, revocation: RevocationRecord): Promise<void> {
  if (revocation.sessionId === undefined && revocation.serviceAccount === undefined) {
    throw new Error('a revocation names a sessionId or a serviceAccount');
  }
  const index = await openIndex(stateDir);
  if (index.state.addRevocation(revocation)) await index.save();
}

export async function listRevocations(stateDir: string): Promise<RevocationRecord[]> {
  return [...(await openIndex(stateDir)).state.data.revocations];
}

export async function listApprovals(stateDir: string): Promise<ApprovalRecord[]> {
  return [...(await openIndex(stateDir)).state.data.approvals];
}
