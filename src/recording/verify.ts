// Proves a recording untouched: the hash chain, the seq order, the digests' signatures. Reports the first bad
// line (1-based, as editors count) and why. verifyBytes is the core; verifyFile only reads the file.

import { readFile } from 'node:fs/promises';
import { compactVerify, decodeProtectedHeader, importJWK, type JWK } from 'jose';
import { digestPayloadBytes, sha256Hex } from './chain.js';

export type VerifyFailureReason = 'edited' | 'removed' | 'reordered' | 'truncated' | 'bad-signature' | 'wrong-key' | 'malformed';

export interface VerifyOk {
  ok: true;
  /** Complete lines verified (a torn final line is not counted). */
  lines: number;
  sessionId: string;
  /** True when the file ends with a final digest. */
  closed: boolean;
  digests: number;
  /** Key id of the last digest, when there is one. */
  kid?: string;
  /** 1-based line number of the last signed digest. */
  lastDigestLine?: number;
  /** Complete lines after the last signed digest: hash-chained only, so anyone who can write the file could rewrite them. */
  unsignedLines: number;
  /** When the session's credentials expire (from the header): by then the recorder writes the final digest. */
  expiresAt?: string;
  /** The hash of each complete line, in order (for checking a witness's checkpoints against the file). */
  lineHashes: string[];
  warnings: string[];
}

export interface VerifyFailure {
  ok: false;
  /** 1-based number of the first bad line. */
  line: number;
  reason: VerifyFailureReason;
  message: string;
}

export type VerifyResult = VerifyOk | VerifyFailure;

export interface VerifyOptions {
  /** The index says the session ended: a missing final digest is then a truncation, not an open session. */
  expectClosed?: boolean;
}

const NEWLINE = 0x0a;

function splitLines(data: Uint8Array): { lines: Buffer[]; torn?: Buffer } {
  const buffer = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const lines: Buffer[] = [];
  let start = 0;
  for (;;) {
    const end = buffer.indexOf(NEWLINE, start);
    if (end === -1) break;
    lines.push(buffer.subarray(start, end));
    start = end + 1;
  }
  return start < buffer.length ? { lines, torn: buffer.subarray(start) } : { lines };
}

type Parsed = Record<string, unknown> & { seq: number; prev: unknown; type: unknown };

function parseLine(bytes: Buffer): Parsed | undefined {
  try {
    const value: unknown = JSON.parse(bytes.toString('utf8'));
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
    const record = value as Record<string, unknown>;
    if (!Number.isSafeInteger(record.seq) || (record.seq as number) < 0) return undefined;
    return record as Parsed;
  } catch {
    return undefined;
  }
}

/** Tolerant look at a later line's seq, to tell a reordering from a removal. */
function seqOf(bytes: Buffer): number | undefined {
  const match = /^\{"seq":(\d+)/.exec(bytes.subarray(0, 32).toString('latin1'));
  return match ? Number(match[1]) : undefined;
}

const fail = (line: number, reason: VerifyFailureReason, message: string): VerifyFailure => ({ ok: false, line, reason, message });

export async function verifyBytes(data: Uint8Array, publicJwk: JWK, options: VerifyOptions = {}): Promise<VerifyResult> {
  if (publicJwk.kty !== 'EC' || publicJwk.crv !== 'P-256' || publicJwk.d !== undefined) {
    throw new Error('the verification key is not an EC P-256 public key (ES256)');
  }
  const key = await importJWK(publicJwk, 'ES256');
  const { lines, torn } = splitLines(data);
  const warnings: string[] = [];

  if (lines.length === 0) {
    return torn ? fail(1, 'truncated', 'the header line is incomplete') : fail(1, 'malformed', 'the file is empty');
  }

  const header = parseLine(lines[0]!);
  if (!header || header.type !== 'header') {
    const laterHeader = lines.findIndex((bytes, i) => i > 0 && parseLine(bytes)?.type === 'header');
    if (laterHeader > 0) return fail(1, 'reordered', `the header is on line ${laterHeader + 1}, not line 1`);
    return fail(1, 'malformed', header ? `first line is a "${String(header.type)}" line, not the header` : 'not a JSON object with a seq');
  }
  if (header.seq !== 0 || header.prev !== null) return fail(1, 'edited', 'the header must have seq 0 and prev null');
  if (typeof header.sessionId !== 'string' || typeof header.start !== 'string') {
    return fail(1, 'malformed', 'the header lacks sessionId or start');
  }
  const sessionId = header.sessionId;
  const start = header.start;

  let closed = false;
  let digests = 0;
  let kid: string | undefined;
  let lastDigestLine: number | undefined;

  for (let i = 1; i < lines.length; i += 1) {
    const lineNo = i + 1;
    if (closed) return fail(lineNo, 'malformed', `nothing may follow the final digest on line ${i}`);
    const line = parseLine(lines[i]!);
    if (!line) return fail(lineNo, 'malformed', 'not a JSON object with a seq');

    if (line.seq !== i) {
      if (line.seq < i) return fail(lineNo, 'reordered', `seq ${line.seq} appears again after seq ${i - 1}`);
      const expectedLater = lines.findIndex((bytes, j) => j > i && seqOf(bytes) === i);
      if (expectedLater !== -1) return fail(lineNo, 'reordered', `seq ${line.seq} comes before seq ${i} (on line ${expectedLater + 1})`);
      const missing = line.seq - i;
      return fail(lineNo, 'removed', `${missing} line${missing === 1 ? '' : 's'} missing before this one (seq ${i}${missing > 1 ? `–${line.seq - 1}` : ''})`);
    }
    if (line.prev !== sha256Hex(lines[i - 1]!)) {
      return fail(i, 'edited', `line ${i} was changed after it was written (line ${lineNo} holds a different hash of it)`);
    }

    switch (line.type) {
      case 'digest': {
        if (line.kind !== 'checkpoint' && line.kind !== 'final') return fail(lineNo, 'malformed', 'digest kind is neither checkpoint nor final');
        if (line.lastHash !== line.prev || line.count !== line.seq || line.from !== start || typeof line.to !== 'string') {
          return fail(lineNo, 'edited', 'digest fields do not match the chain it covers');
        }
        if (typeof line.signature !== 'string') return fail(lineNo, 'malformed', 'digest has no signature');
        // A digest may be the last line, which no later hash protects: its bytes must be exactly what the recorder writes.
        const canonical = JSON.stringify({
          seq: line.seq, prev: line.prev, type: 'digest', kind: line.kind, at: line.to, lastHash: line.lastHash,
          count: line.count, from: line.from, to: line.to, kid: line.kid, signature: line.signature,
        });
        if (canonical !== lines[i]!.toString('utf8')) return fail(lineNo, 'edited', 'digest line differs from the form the recorder writes');
        // Base64url has spare bits in a last character; only the canonical spelling is accepted, so no byte is free.
        if (!line.signature.split('.').every((part) => Buffer.from(part, 'base64url').toString('base64url') === part)) {
          return fail(lineNo, 'bad-signature', 'digest signature is not canonical base64url');
        }
        let protectedKid: string | undefined;
        try {
          const protectedHeader = decodeProtectedHeader(line.signature);
          if (protectedHeader.alg !== 'ES256') return fail(lineNo, 'bad-signature', `digest signed with ${String(protectedHeader.alg)}, expected ES256`);
          protectedKid = protectedHeader.kid;
        } catch {
          return fail(lineNo, 'bad-signature', 'digest signature is not a compact JWS');
        }
        if (publicJwk.kid !== undefined && protectedKid !== undefined && protectedKid !== publicJwk.kid) {
          return fail(lineNo, 'wrong-key', `digest signed by key "${protectedKid}", not by "${publicJwk.kid}"`);
        }
        let payload: Uint8Array;
        try {
          payload = (await compactVerify(line.signature, key, { algorithms: ['ES256'] })).payload;
        } catch {
          return fail(lineNo, 'bad-signature', 'digest signature does not verify with the gateway key');
        }
        const expected = digestPayloadBytes({ sessionId, lastHash: line.lastHash as string, count: line.count as number, from: start, to: line.to as string });
        if (Buffer.compare(Buffer.from(payload), Buffer.from(expected)) !== 0) {
          return fail(lineNo, 'bad-signature', 'digest signature covers different content');
        }
        if (protectedKid !== undefined && line.kid !== protectedKid) return fail(lineNo, 'edited', `digest names key "${String(line.kid)}" but was signed by "${protectedKid}"`);
        digests += 1;
        kid = protectedKid ?? publicJwk.kid;
        lastDigestLine = lineNo;
        if (line.kind === 'final') closed = true;
        break;
      }
      case 'end':
        // The recorder writes the end line and the final digest in one write, so one without the other is a cut.
        if (i === lines.length - 1) return fail(lineNo + 1, 'truncated', `the session ends on line ${lineNo} but its final digest is missing`);
        break;
      case 'request':
      case 'decision':
      case 'approval':
      case 'grant':
      case 'response':
      case 'policy':
      case 'revocation':
      case 'tool':
        break;
      case 'header':
        return fail(lineNo, 'malformed', 'a second header');
      default:
        return fail(lineNo, 'malformed', `unknown line type "${String(line.type)}"`);
    }
  }

  if (!closed && options.expectClosed) {
    return fail(lines.length + 1, 'truncated', 'the session was closed but the file ends before its final digest');
  }
  if (closed && torn) return fail(lines.length + 1, 'malformed', `nothing may follow the final digest on line ${lines.length}`);
  if (torn) warnings.push(`line ${lines.length + 1}: last line truncated (crash?); verified up to line ${lines.length}`);
  const unsignedLines = lines.length - (lastDigestLine ?? 0);
  const expiresAt = typeof header.expiresAt === 'string' ? header.expiresAt : undefined;
  return {
    ok: true,
    lines: lines.length,
    sessionId,
    closed,
    digests,
    ...(kid === undefined ? {} : { kid }),
    ...(lastDigestLine === undefined ? {} : { lastDigestLine }),
    unsignedLines,
    ...(expiresAt === undefined ? {} : { expiresAt }),
    lineHashes: lines.map((line) => sha256Hex(line)),
    warnings,
  };
}

// ---------- what a result proves ----------

/**
 * closed: every line is covered by the final signed digest. open: the file ends without a final digest and the
 * session may still be live; lines after the last signed digest are unproven. truncated: the file ends before what
 * is known to exist (the index or a witness says more, or the session expired without a final digest).
 * tampered: a line, the order, or a signature does not check.
 */
export type VerifyVerdict = 'closed' | 'open' | 'truncated' | 'tampered';

/** `portcullis verify` exit codes (1 is "could not check", 2 a usage error). */
export const VERIFY_EXIT_CODES: Readonly<Record<VerifyVerdict, number>> = { closed: 0, open: 3, truncated: 4, tampered: 5 };

export interface Assessment {
  verdict: VerifyVerdict;
  exitCode: number;
  /** One line saying what the file proves, or why it proves less. */
  message: string;
}

export interface AssessOptions {
  now: Date;
  /** Accept an open session (exit 0) — its unsigned tail is still reported as unproven. */
  allowOpen?: boolean;
  /** How late after expiry the recorder may write the final digest before a missing one is a cut (default 60 s). */
  expiryGraceMs?: number;
}

const DEFAULT_EXPIRY_GRACE_MS = 60_000;

/** Turns a verification result into a verdict and an exit code. Pure: the clock is passed in. */
export function assess(result: VerifyResult, options: AssessOptions): Assessment {
  if (!result.ok) {
    const verdict: VerifyVerdict = result.reason === 'truncated' ? 'truncated' : 'tampered';
    return { verdict, exitCode: VERIFY_EXIT_CODES[verdict], message: `line ${result.line}: ${result.reason}: ${result.message}` };
  }
  const signed = result.kid === undefined ? 'no signed digest' : `signed by ${result.kid}`;
  if (result.closed) {
    return { verdict: 'closed', exitCode: 0, message: `${result.lines} lines, closed, every line covered by the final digest ${signed}` };
  }
  const expiresMs = result.expiresAt === undefined ? Number.NaN : Date.parse(result.expiresAt);
  if (Number.isFinite(expiresMs) && options.now.getTime() > expiresMs + (options.expiryGraceMs ?? DEFAULT_EXPIRY_GRACE_MS)) {
    return {
      verdict: 'truncated',
      exitCode: VERIFY_EXIT_CODES.truncated,
      message: `the session expired at ${result.expiresAt} but the file has no final digest: it was cut (or the gateway has not run since; start it to close the session)`,
    };
  }
  const proven = result.lines - result.unsignedLines;
  const why = 'a hash chain alone can be recomputed by anyone who can write the file';
  const message =
    proven === 0
      ? `open session: no signed digest yet, so none of its ${result.lines} lines is proven (${why})`
      : result.unsignedLines === 0
        ? `open session: lines 1–${proven} proven (${signed}); it ends at a signed checkpoint, but without a final digest nothing shows it was not cut there`
        : `open session: lines 1–${proven} proven (${signed}); lines ${proven + 1}–${result.lines} come after the last signed digest and are unproven (${why})`;
  return { verdict: 'open', exitCode: options.allowOpen ? 0 : VERIFY_EXIT_CODES.open, message };
}

export async function verifyFile(path: string, publicJwk: JWK, options: VerifyOptions = {}): Promise<VerifyResult> {
  return verifyBytes(await readFile(path), publicJwk, options);
}
