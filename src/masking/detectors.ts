// Detectors find secrets inside one string and say what to put in their place.
// Each detector is a plain function over the string (no I/O, no state) that returns spans;
// the caller merges spans from all detectors and rewrites the string once.
// Scanners that could backtrack badly on hostile input (email) are written by hand.

import type { DetectorName } from './config.js';

export interface Span {
  start: number;
  end: number;
  replacement: string;
  /** Detector, custom pattern or field rule that produced the span (counted in the report). */
  name: string;
  /** `field` spans count under report.fields, the rest under report.detectors. */
  kind: 'field' | 'detector';
}

export interface DetectContext {
  /** Name of the JSON key / XML element / attribute holding the string, if any. */
  keyName?: string;
}

export type Detector = (text: string, context: DetectContext) => Span[];

/** Whole-value marker: fixed width so the original length does not leak. */
export const MASK = '****';

// --- aws_access_key_id -------------------------------------------------------------------------

const ACCESS_KEY_ID = /(?<![A-Za-z0-9])(?:AKIA|ASIA)[A-Z2-7]{16}(?![A-Za-z0-9])/g;

/** `AKIAIOSFODNN7EXAMPLE` → `AKIA…MPLE`: the prefix tells long-term from temporary, the tail identifies the key. */
export function maskAccessKeyId(keyId: string): string {
  return `${keyId.slice(0, 4)}…${keyId.slice(-4)}`;
}

function detectAccessKeyId(text: string): Span[] {
  if (!text.includes('AKIA') && !text.includes('ASIA')) return [];
  const spans: Span[] = [];
  ACCESS_KEY_ID.lastIndex = 0;
  for (let m = ACCESS_KEY_ID.exec(text); m !== null; m = ACCESS_KEY_ID.exec(text)) {
    spans.push({ start: m.index, end: m.index + m[0].length, replacement: maskAccessKeyId(m[0]), name: 'aws_access_key_id', kind: 'detector' });
  }
  return spans;
}

// --- aws_secret_access_key ---------------------------------------------------------------------
// A secret access key is 40 characters of base64 alphabet, which also describes SHA-1 hex digests,
// git hashes and many ids. So a candidate only counts with context: the value sits under a key-like
// name, a key-like name precedes it in text, or an access key id is nearby; without a key-like name
// it must also mix upper and lower case (hex digests and most ids do not).

const SECRET_CANDIDATE = /(?<![A-Za-z0-9/+])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])/g;
/** Key names whose 40-character value is treated as a secret key. */
export const KEY_LIKE_NAME = /secret|aws_?key|access_?key|credential/i;
/** In free text: a key-like name followed by `=`, `:`, `":"`, `>` etc. right before the candidate. */
const KEY_LIKE_BEFORE = /(?:aws_?secret_?access_?key|secret_?access_?key|secret_?key|aws_?secret|secret)["']?\s*(?:=>|[:=>])\s*["']?$/i;
const NEARBY_CHARS = 200;

function mixedCase(s: string): boolean {
  return /[A-Z]/.test(s) && /[a-z]/.test(s);
}

function detectSecretAccessKey(text: string, context: DetectContext): Span[] {
  if (text.length < 40) return [];
  const keyLike = context.keyName !== undefined && KEY_LIKE_NAME.test(context.keyName);
  const keyIds: number[] = [];
  if (text.includes('AKIA') || text.includes('ASIA')) {
    ACCESS_KEY_ID.lastIndex = 0;
    for (let m = ACCESS_KEY_ID.exec(text); m !== null; m = ACCESS_KEY_ID.exec(text)) keyIds.push(m.index);
  }
  const spans: Span[] = [];
  SECRET_CANDIDATE.lastIndex = 0;
  for (let m = SECRET_CANDIDATE.exec(text); m !== null; m = SECRET_CANDIDATE.exec(text)) {
    const start = m.index;
    const end = start + 40;
    const namedBefore = KEY_LIKE_BEFORE.test(text.slice(Math.max(0, start - 40), start));
    const nearKeyId = keyIds.some((at) => Math.abs(at - start) <= NEARBY_CHARS) && mixedCase(m[0]);
    const underKeyName = keyLike && (mixedCase(m[0]) || text.length === 40);
    if (namedBefore || nearKeyId || underKeyName) {
      spans.push({ start, end, replacement: MASK, name: 'aws_secret_access_key', kind: 'detector' });
    }
  }
  return spans;
}

// --- private_key -------------------------------------------------------------------------------

const PEM_BEGIN = /-----BEGIN ((?:[A-Z0-9]+ )*)PRIVATE KEY( BLOCK)?-----/g;

function detectPrivateKey(text: string): Span[] {
  if (!text.includes('PRIVATE KEY')) return [];
  const spans: Span[] = [];
  PEM_BEGIN.lastIndex = 0;
  for (let m = PEM_BEGIN.exec(text); m !== null; m = PEM_BEGIN.exec(text)) {
    const label = `${m[1]}PRIVATE KEY${m[2] ?? ''}`;
    const endMarker = `-----END ${label}-----`;
    const endAt = text.indexOf(endMarker, m.index + m[0].length);
    // No END line: everything after BEGIN may be key material, so mask to the end (fail closed).
    const end = endAt === -1 ? text.length : endAt + endMarker.length;
    spans.push({ start: m.index, end, replacement: `-----BEGIN ${label}-----${MASK}-----END ${label}-----`, name: 'private_key', kind: 'detector' });
    PEM_BEGIN.lastIndex = end;
  }
  return spans;
}

// --- jwt ---------------------------------------------------------------------------------------

const JWT = /(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*(?![A-Za-z0-9_-])/g;

function jwtHeaderHasAlg(segment: string): boolean {
  try {
    const header: unknown = JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));
    return typeof header === 'object' && header !== null && typeof (header as { alg?: unknown }).alg === 'string';
  } catch {
    return false;
  }
}

function detectJwt(text: string): Span[] {
  if (!text.includes('eyJ')) return [];
  const spans: Span[] = [];
  JWT.lastIndex = 0;
  for (let m = JWT.exec(text); m !== null; m = JWT.exec(text)) {
    const header = m[0].slice(0, m[0].indexOf('.'));
    if (!jwtHeaderHasAlg(header)) continue;
    // The header only names the algorithm; payload and signature are what identify and authorise.
    spans.push({ start: m.index, end: m.index + m[0].length, replacement: `${header}.${MASK}.${MASK}`, name: 'jwt', kind: 'detector' });
  }
  return spans;
}

// --- email -------------------------------------------------------------------------------------

function isLocalChar(c: number): boolean {
  // A-Z a-z 0-9 . _ % + -
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 46 || c === 95 || c === 37 || c === 43 || c === 45;
}

function isDomainChar(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 46 || c === 45;
}

/** Linear scan from each `@` outwards; a regex with a greedy local part is quadratic on long letter runs. */
function detectEmail(text: string): Span[] {
  const spans: Span[] = [];
  let from = 0;
  let lastEnd = 0;
  for (let at = text.indexOf('@', from); at !== -1; at = text.indexOf('@', from)) {
    from = at + 1;
    let start = at;
    while (start > lastEnd && isLocalChar(text.charCodeAt(start - 1))) start--;
    while (start < at && text.charCodeAt(start) === 46) start++; // no leading dot
    let end = at + 1;
    while (end < text.length && isDomainChar(text.charCodeAt(end))) end++;
    while (end > at + 1 && (text.charCodeAt(end - 1) === 46 || text.charCodeAt(end - 1) === 45)) end--; // trailing dot/dash is punctuation
    if (start === at) continue;
    const domain = text.slice(at + 1, end);
    const lastDot = domain.lastIndexOf('.');
    if (lastDot <= 0 || !/^[A-Za-z]{2,}$/.test(domain.slice(lastDot + 1))) continue;
    spans.push({ start, end, replacement: `${text[start]}***@${domain}`, name: 'email', kind: 'detector' });
    lastEnd = end;
    from = end;
  }
  return spans;
}

// --- credit_card -------------------------------------------------------------------------------

const CARD_CANDIDATE = /(?<![0-9])[2-6](?:[ -]?[0-9]){12,18}(?![0-9])/g;

export function luhnValid(digits: string): boolean {
  let sum = 0;
  let double = false;
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = digits.charCodeAt(i) - 48;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return sum % 10 === 0;
}

/**
 * 13–19 digits, optionally grouped by spaces or dashes, starting with a card-network digit (2–6, so
 * millisecond/microsecond timestamps starting with 1 are not cards), Luhn-valid, not one repeated digit.
 */
export function isCardNumber(candidate: string): boolean {
  const digits = candidate.replace(/[ -]/g, '');
  if (digits.length < 13 || digits.length > 19) return false;
  if (/^(\d)\1*$/.test(digits)) return false;
  return luhnValid(digits);
}

function detectCreditCard(text: string): Span[] {
  if (text.length < 13) return [];
  const spans: Span[] = [];
  CARD_CANDIDATE.lastIndex = 0;
  for (let m = CARD_CANDIDATE.exec(text); m !== null; m = CARD_CANDIDATE.exec(text)) {
    if (!isCardNumber(m[0])) continue;
    const digits = m[0].replace(/[ -]/g, '');
    spans.push({ start: m.index, end: m.index + m[0].length, replacement: `${MASK}${digits.slice(-4)}`, name: 'credit_card', kind: 'detector' });
  }
  return spans;
}

export const DETECTORS: Record<DetectorName, Detector> = {
  aws_access_key_id: detectAccessKeyId,
  aws_secret_access_key: detectSecretAccessKey,
  private_key: detectPrivateKey,
  jwt: detectJwt,
  email: detectEmail,
  credit_card: detectCreditCard,
};

export const DETECTOR_NAMES = Object.keys(DETECTORS) as DetectorName[];

// --- custom patterns ---------------------------------------------------------------------------

/**
 * A user pattern. With a capture group, only the first group is replaced (so `password=(\S+)` keeps
 * `password=`); without one, the whole match is.
 */
export function compilePattern(name: string, source: string, index: number): Detector {
  let regex: RegExp;
  try {
    regex = new RegExp(source, 'gd');
  } catch (error) {
    throw new Error(`masking.patterns[${index}] (${name}): invalid regex: ${(error as Error).message}`);
  }
  if (regex.test('')) throw new Error(`masking.patterns[${index}] (${name}): regex matches the empty string`);
  // Match indices (the `d` flag) make every exec slower: a plain test first skips most strings.
  const quick = new RegExp(source);
  return (text: string): Span[] => {
    if (!quick.test(text)) return [];
    const spans: Span[] = [];
    regex.lastIndex = 0;
    for (let m = regex.exec(text); m !== null; m = regex.exec(text)) {
      if (m[0].length === 0) {
        regex.lastIndex++;
        continue;
      }
      const group = m.indices?.[1];
      const [start, end] = group ?? [m.index, m.index + m[0].length];
      if (end > start) spans.push({ start, end, replacement: MASK, name, kind: 'detector' });
    }
    return spans;
  };
}

// --- applying spans ----------------------------------------------------------------------------

/** Keep non-overlapping spans: earliest start first, the longer one on a tie. */
export function resolveSpans(spans: Span[]): Span[] {
  if (spans.length <= 1) return spans;
  spans.sort((a, b) => a.start - b.start || b.end - a.end);
  const kept: Span[] = [];
  let lastEnd = -1;
  for (const span of spans) {
    if (span.start >= lastEnd) {
      kept.push(span);
      lastEnd = span.end;
    }
  }
  return kept;
}

export function applySpans(text: string, spans: Span[]): string {
  let out = '';
  let at = 0;
  for (const span of spans) {
    out += text.slice(at, span.start) + span.replacement;
    at = span.end;
  }
  return out + text.slice(at);
}
