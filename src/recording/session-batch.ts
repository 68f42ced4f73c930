// Chaining one session's pending items into the lines of a single write: each line carries its seq and the hash
// of the line before; checkpoint and final digests are signed over the chain so far.

import { digestPayloadBytes, serializeLine, sha256Hex, type DigestKind, type RecordLine, type Unchained } from './chain.js';
import { DiskFailure } from './session-files.js';
import type { Pending, SessionState } from './session-state.js';

export interface DigestSigner {
  kid: string;
  /** Returns a compact JWS (ES256, with `kid` in the protected header) over the payload. */
  sign(payload: Uint8Array): Promise<string>;
}

export interface ChainContext {
  signer: DigestSigner;
  now: () => Date;
  /** A checkpoint digest after this many event lines. */
  checkpointEvents: number;
  /** strict durability: every write is fsynced. */
  strict: boolean;
}

/** The lines of one write and the session state they leave; nothing is applied to the session here. */
export interface ChainedBatch {
  text: string;
  written: RecordLine[];
  /** Items the write settles once it is on disk. */
  settled: Pending[];
  /** Items after the session's end line, never written. */
  dropped: Pending[];
  seq: number;
  lastHash: string | null;
  sinceDigest: number;
  lastDigestMs: number;
  closed: boolean;
  sync: boolean;
}

/** Chains `items` after the session's last line. Throws DiskFailure when a digest cannot be signed. */
export async function chainBatch(s: SessionState, items: readonly Pending[], ctx: ChainContext): Promise<ChainedBatch> {
  let seq = s.seq;
  let prev = s.lastHash;
  let sinceDigest = s.sinceDigest;
  let lastDigestMs = s.lastDigestMs;
  let closed = false;
  let sync = ctx.strict;
  const texts: string[] = [];
  const written: RecordLine[] = [];
  const settled: Pending[] = [];
  const dropped: Pending[] = [];
  const append = (body: Unchained<RecordLine>): void => {
    const text = serializeLine(body, seq, prev);
    texts.push(text, '\n');
    written.push({ seq, prev, ...body } as RecordLine);
    prev = sha256Hex(text);
    seq += 1;
  };
  const digest = async (kind: DigestKind): Promise<void> => {
    if (prev === null) return;
    const at = ctx.now().toISOString();
    const payload = { sessionId: s.id, lastHash: prev, count: seq, from: s.start, to: at };
    let signature: string;
    try {
      signature = await ctx.signer.sign(digestPayloadBytes(payload));
    } catch (error) {
      // Not this file's fault: retried like a disk failure.
      throw new DiskFailure(`recording: cannot sign a digest: ${(error as Error).message}`);
    }
    append({ type: 'digest', kind, at, lastHash: prev, count: seq, from: s.start, to: at, kid: ctx.signer.kid, signature });
    sinceDigest = 0;
    lastDigestMs = ctx.now().getTime();
  };

  for (const item of items) {
    if (closed) {
      dropped.push(item);
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
        if ('done' in item && item.done) sync = true;
        if (sinceDigest >= ctx.checkpointEvents) await digest('checkpoint');
        break;
      case 'checkpoint':
        if (sinceDigest > 0) await digest('checkpoint');
        break;
      case 'close':
        append({ type: 'end', at: item.at, reason: item.reason });
        await digest('final');
        closed = true;
        sync = true;
        break;
    }
  }
  return { text: texts.join(''), written, settled, dropped, seq, lastHash: prev, sinceDigest, lastDigestMs, closed, sync };
}
