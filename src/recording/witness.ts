// A second witness, off the box: every signed digest is also published as a C2SP signed note
// (c2sp.org/signed-note, body in the spirit of c2sp.org/tlog-checkpoint) to a directory (another mount, ideally
// append-only) or an HTTP endpoint. `verify --witness` then checks the local file against every checkpoint the witness
// holds, which catches a file rewritten and re-signed with the gateway key after the fact: the witness kept the old
// hashes. Notes are only ever added, never replaced (a second note for the same position is kept beside the first).
//
// Note body (lines):  portcullis/session/<sessionId>   <count>   <base64 SHA-256 of line count>   kind …   from …   to …
// Signature line:     — <kid> <base64(4-byte key id ‖ DER ECDSA P-256 signature)>, key id = SHA-256(SPKI DER)[:4].

import { createHash, createPublicKey, sign as cryptoSign, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { JWK } from 'jose';
import { BoundedQueue } from '../lib/bounded-queue.js';
import type { DigestLine } from './chain.js';
import { isValidSessionId } from './paths.js';
import type { VerifyOk } from './verify.js';

const ORIGIN_PREFIX = 'portcullis/session/';
const DASH = '\u2014 ';

export interface Checkpoint {
  sessionId: string;
  /** Lines covered (header included). */
  count: number;
  /** SHA-256 hex of the last covered line (line `count`, 1-based). */
  lastHash: string;
  kind: DigestLine['kind'];
  from: string;
  to: string;
}

function keyIdOf(publicKey: KeyObject): Buffer {
  return createHash('sha256').update(publicKey.export({ type: 'spki', format: 'der' })).digest().subarray(0, 4);
}

export function checkpointBody(c: Checkpoint): string {
  return `${ORIGIN_PREFIX}${c.sessionId}\n${c.count}\n${Buffer.from(c.lastHash, 'hex').toString('base64')}\nkind ${c.kind}\nfrom ${c.from}\nto ${c.to}\n`;
}

/** A signed note for a checkpoint, signed with the gateway's P-256 key. */
export function signCheckpoint(c: Checkpoint, keyName: string, privateKey: KeyObject): string {
  const body = checkpointBody(c);
  const signature = cryptoSign('sha256', Buffer.from(body), { key: privateKey, dsaEncoding: 'der' });
  const publicKey = createPublicKey(privateKey);
  return `${body}\n${DASH}${keyName} ${Buffer.concat([keyIdOf(publicKey), signature]).toString('base64')}\n`;
}

/** Parses a note and checks its signature; undefined when it is not a checkpoint signed by this key. */
export function openCheckpoint(note: string, publicJwk: JWK): Checkpoint | undefined {
  const split = note.lastIndexOf('\n\n');
  if (split === -1) return undefined;
  const body = note.slice(0, split + 1);
  const publicKey = createPublicKey({ key: publicJwk as import('node:crypto').JsonWebKey, format: 'jwk' });
  const keyId = keyIdOf(publicKey);
  const verified = note
    .slice(split + 2)
    .split('\n')
    .filter((line) => line.startsWith(DASH))
    .some((line) => {
      const raw = Buffer.from(line.slice(line.lastIndexOf(' ') + 1), 'base64');
      return raw.length > 4 && raw.subarray(0, 4).equals(keyId) && cryptoVerify('sha256', Buffer.from(body), { key: publicKey, dsaEncoding: 'der' }, raw.subarray(4));
    });
  if (!verified) return undefined;
  const [origin, count, root, ...extensions] = body.slice(0, -1).split('\n');
  if (!origin?.startsWith(ORIGIN_PREFIX) || !/^\d+$/.test(count ?? '') || root === undefined) return undefined;
  const ext = Object.fromEntries(extensions.map((line) => [line.slice(0, line.indexOf(' ')), line.slice(line.indexOf(' ') + 1)]));
  const kind = ext.kind === 'final' ? 'final' : 'checkpoint';
  return { sessionId: origin.slice(ORIGIN_PREFIX.length), count: Number(count), lastHash: Buffer.from(root, 'base64').toString('hex'), kind, from: ext.from ?? '', to: ext.to ?? '' };
}

// ---------- where the witness keeps notes ----------

export interface WitnessStore {
  readonly where: string;
  /** Adds a note; never replaces one. */
  put(sessionId: string, name: string, note: string): Promise<void>;
  /** Every note held for a session. */
  list(sessionId: string): Promise<string[]>;
}

function noteName(c: Checkpoint): string {
  return `${String(c.count).padStart(10, '0')}-${c.lastHash.slice(0, 16)}.note`;
}

/** A directory: <dir>/<sessionId>/<count>-<hash prefix>.note, created exclusively (an existing note is never overwritten). */
export function directoryWitness(dir: string): WitnessStore {
  return {
    where: dir,
    async put(sessionId, name, note) {
      const sessionDir = join(dir, sessionId);
      await mkdir(sessionDir, { recursive: true, mode: 0o700 });
      try {
        await writeFile(join(sessionDir, name), note, { flag: 'wx', mode: 0o400 });
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
    },
    async list(sessionId) {
      let names: string[];
      try {
        names = (await readdir(join(dir, sessionId))).filter((n) => n.endsWith('.note'));
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
        throw error;
      }
      return Promise.all(names.sort().map((n) => readFile(join(dir, sessionId, n), 'utf8')));
    },
  };
}

/**
 * An HTTP endpoint: `PUT <url>/<sessionId>/<name>` with the note as text/plain adds one; `GET <url>/<sessionId>`
 * answers `{"notes": [text, …]}`. The server is expected to refuse replacing an existing name.
 */
export function httpWitness(url: string, timeoutMs = 5000): WitnessStore {
  const base = url.replace(/\/+$/, '');
  return {
    where: base,
    async put(sessionId, name, note) {
      const response = await fetch(`${base}/${encodeURIComponent(sessionId)}/${encodeURIComponent(name)}`, {
        method: 'PUT',
        headers: { 'content-type': 'text/plain; charset=utf-8' },
        body: note,
        signal: AbortSignal.timeout(timeoutMs),
      });
      if (!response.ok && response.status !== 409) throw new Error(`witness ${base} answered ${response.status}`);
    },
    async list(sessionId) {
      const response = await fetch(`${base}/${encodeURIComponent(sessionId)}`, { signal: AbortSignal.timeout(timeoutMs) });
      if (response.status === 404) return [];
      if (!response.ok) throw new Error(`witness ${base} answered ${response.status}`);
      const body = (await response.json()) as { notes?: unknown };
      return Array.isArray(body.notes) ? body.notes.filter((n): n is string => typeof n === 'string') : [];
    },
  };
}

export function witnessStore(where: string): WitnessStore {
  return /^https?:\/\//i.test(where) ? httpWitness(where) : directoryWitness(where);
}

// ---------- publishing ----------

export interface WitnessPublisherOptions {
  store: WitnessStore;
  keyName: string;
  privateKey: KeyObject;
  onError?: (error: Error) => void;
  maxItems?: number;
  retries?: number;
  retryBaseMs?: number;
  flushMs?: number;
}

/** Signs and pushes each digest the recorder writes; bounded, retried, never in the way of recording. */
export class WitnessPublisher {
  readonly #queue: BoundedQueue<{ sessionId: string; name: string; note: string }>;
  readonly #keyName: string;
  readonly #privateKey: KeyObject;

  constructor(options: WitnessPublisherOptions) {
    this.#keyName = options.keyName;
    this.#privateKey = options.privateKey;
    const { store } = options;
    this.#queue = new BoundedQueue({
      send: async (batch) => {
        for (const item of batch) await store.put(item.sessionId, item.name, item.note);
      },
      maxBatch: 20,
      ...(options.maxItems === undefined ? {} : { maxItems: options.maxItems }),
      ...(options.retries === undefined ? {} : { retries: options.retries }),
      ...(options.retryBaseMs === undefined ? {} : { retryBaseMs: options.retryBaseMs }),
      ...(options.flushMs === undefined ? {} : { flushMs: options.flushMs }),
      onError: (error) => options.onError?.(new Error(`witness ${store.where}: ${error.message}`)),
    });
  }

  /** For the recorder's onDigest hook. */
  publish(sessionId: string, digest: DigestLine): void {
    const checkpoint: Checkpoint = { sessionId, count: digest.count, lastHash: digest.lastHash, kind: digest.kind, from: digest.from, to: digest.to };
    this.#queue.push({ sessionId, name: noteName(checkpoint), note: signCheckpoint(checkpoint, this.#keyName, this.#privateKey) });
  }

  dropped(): number {
    return this.#queue.dropped();
  }

  flush(): Promise<void> {
    return this.#queue.flush();
  }

  close(): Promise<void> {
    return this.#queue.close();
  }
}

// ---------- checking a file against the witness ----------

export interface WitnessCheck {
  where: string;
  /** Valid checkpoints the witness holds for the session. */
  checked: number;
  /** Lines the witness vouches for (its latest checkpoint that matches the file). */
  confirmedLines: number;
  /** Notes that are not checkpoints signed by the gateway key (ignored). */
  ignored: number;
  /** Set when the witness contradicts the file. */
  verdict?: 'truncated' | 'tampered';
  message: string;
}

export async function openWitness(where: string): Promise<WitnessStore> {
  return witnessStore(where);
}

/** Checks a verified file against every checkpoint the witness holds for its session. */
export async function checkAgainstWitness(store: WitnessStore, result: VerifyOk, publicJwk: JWK): Promise<WitnessCheck> {
  if (!isValidSessionId(result.sessionId)) return { where: store.where, checked: 0, confirmedLines: 0, ignored: 0, verdict: 'tampered', message: 'the session id is not a safe name' };
  let notes: string[];
  try {
    notes = await store.list(result.sessionId);
  } catch (error) {
    throw new Error(`cannot read the witness ${store.where}: ${(error as Error).message}`);
  }
  const checkpoints: Checkpoint[] = [];
  let ignored = 0;
  for (const note of notes) {
    const c = openCheckpoint(note, publicJwk);
    if (c && c.sessionId === result.sessionId) checkpoints.push(c);
    else ignored += 1;
  }
  checkpoints.sort((a, b) => a.count - b.count);
  const base = { where: store.where, checked: checkpoints.length, ignored };
  let confirmedLines = 0;
  for (const c of checkpoints) {
    if (c.count > result.lines) {
      return { ...base, confirmedLines, verdict: 'truncated', message: `the witness ${store.where} holds a ${c.kind} digest over ${c.count} lines (signed ${c.to}); the file has only ${result.lines}` };
    }
    if (result.lineHashes[c.count - 1] !== c.lastHash) {
      return { ...base, confirmedLines, verdict: 'tampered', message: `lines 1–${c.count} differ from what the witness ${store.where} received at ${c.to}: the file was rewritten (and re-signed) after the fact` };
    }
    confirmedLines = c.count;
    if (c.kind === 'final' && !result.closed) {
      return { ...base, confirmedLines, verdict: 'truncated', message: `the witness ${store.where} holds the final digest (signed ${c.to}); the file ends before it` };
    }
  }
  const message = checkpoints.length === 0 ? `the witness ${store.where} holds no checkpoint for this session` : `the witness ${store.where} confirms lines 1–${confirmedLines}`;
  return { ...base, confirmedLines, message };
}
