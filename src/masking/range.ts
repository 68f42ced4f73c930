// Byte ranges answered from the masked document. A range applied to the original bytes can start
// after a field name and so return a secret without the name that would have masked it
// (`Range: bytes=25-45` → `hunter2-S3-SECRET`), and two ranges can reassemble what each alone does
// not show. So the gateway fetches the whole body, masks it, and slices the masked bytes: every
// slice of the same object comes from the same masked document.
//
// One range per request, like S3 ("Amazon S3 doesn't support retrieving multiple ranges of data per
// GET request"). A list of ranges, another unit, or bad syntax is ignored as RFC 9110 §14.2 allows:
// the client gets the whole masked document with 200, never a multipart/byteranges reassembly.

export type RangeSlice =
  | { kind: 'partial'; status: 206; body: Buffer; contentRange: string; start: number; end: number }
  | { kind: 'unsatisfiable'; status: 416; contentRange: string }
  /** Serve the whole document with 200. */
  | { kind: 'ignored'; reason: 'multiple-ranges' | 'malformed' };

export type ParsedRange =
  | { kind: 'bounded'; first: number; last: number | null }
  | { kind: 'suffix'; length: number }
  | { kind: 'multiple' }
  | { kind: 'malformed' };

const SPEC = /^\s*(\d+)?\s*-\s*(\d+)?\s*$/;

/** Reads a Range header value (`bytes=0-99`, `bytes=100-`, `bytes=-100`). */
export function parseRange(header: string): ParsedRange {
  const eq = header.indexOf('=');
  if (eq < 0 || header.slice(0, eq).trim().toLowerCase() !== 'bytes') return { kind: 'malformed' };
  const specs = header.slice(eq + 1).split(',');
  if (specs.filter((s) => s.trim() !== '').length > 1) return { kind: 'multiple' };
  const m = SPEC.exec(specs.find((s) => s.trim() !== '') ?? '');
  if (m === null) return { kind: 'malformed' };
  const [, first, last] = m;
  if (first === undefined && last === undefined) return { kind: 'malformed' };
  if (first === undefined) return { kind: 'suffix', length: Number(last) };
  const a = Number(first);
  if (last === undefined) return { kind: 'bounded', first: a, last: null };
  const b = Number(last);
  return b < a ? { kind: 'malformed' } : { kind: 'bounded', first: a, last: b };
}

/** The part of `maskedBody` the Range header asks for. */
export function sliceMaskedRange(maskedBody: Buffer, rangeHeader: string): RangeSlice {
  const total = maskedBody.length;
  const range = parseRange(rangeHeader);
  if (range.kind === 'multiple') return { kind: 'ignored', reason: 'multiple-ranges' };
  if (range.kind === 'malformed') return { kind: 'ignored', reason: 'malformed' };
  let start: number;
  let end: number;
  if (range.kind === 'suffix') {
    if (range.length === 0 || total === 0) return { kind: 'unsatisfiable', status: 416, contentRange: `bytes */${total}` };
    start = Math.max(0, total - range.length);
    end = total - 1;
  } else {
    if (range.first >= total) return { kind: 'unsatisfiable', status: 416, contentRange: `bytes */${total}` };
    start = range.first;
    end = range.last === null ? total - 1 : Math.min(range.last, total - 1);
  }
  return { kind: 'partial', status: 206, body: maskedBody.subarray(start, end + 1), contentRange: `bytes ${start}-${end}/${total}`, start, end };
}
