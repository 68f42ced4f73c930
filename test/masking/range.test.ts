import { describe, expect, test } from 'vitest';
import { compileMasker } from '../../src/masking/masker.js';
import { parseRange, sliceMaskedRange } from '../../src/masking/range.js';

const masker = compileMasker({ fields: ['password'], detectors: ['aws_access_key_id', 'aws_secret_access_key'], patterns: [], maxBodyBytes: 1 << 16 });
const GET_OBJECT = { protocol: 'rest-xml', service: 's3', operation: 'GetObject', contentType: 'application/json' } as const;

describe('parseRange', () => {
  test.each<[string, ReturnType<typeof parseRange>]>([
    ['bytes=0-9', { kind: 'bounded', first: 0, last: 9 }],
    ['bytes=5-', { kind: 'bounded', first: 5, last: null }],
    ['bytes=-3', { kind: 'suffix', length: 3 }],
    ['BYTES = 1 - 2', { kind: 'bounded', first: 1, last: 2 }],
    ['bytes=0-1,', { kind: 'bounded', first: 0, last: 1 }],
    ['bytes=0-1,5-6', { kind: 'multiple' }],
    ['bytes=0-1, -2', { kind: 'multiple' }],
    ['bytes=0-1, bytes=5-6', { kind: 'multiple' }],
    ['bytes=5-1', { kind: 'malformed' }],
    ['bytes=-', { kind: 'malformed' }],
    ['bytes=a-b', { kind: 'malformed' }],
    ['bytes=1.5-2', { kind: 'malformed' }],
    ['items=0-1', { kind: 'malformed' }],
    ['0-1', { kind: 'malformed' }],
    ['', { kind: 'malformed' }],
  ])('%j', (header, expected) => {
    expect(parseRange(header)).toEqual(expected);
  });
});

describe('sliceMaskedRange', () => {
  const doc = Buffer.from('0123456789');
  test.each<[string, string, string]>([
    ['bytes=0-0', '0', 'bytes 0-0/10'],
    ['bytes=2-4', '234', 'bytes 2-4/10'],
    ['bytes=7-', '789', 'bytes 7-9/10'],
    ['bytes=8-100', '89', 'bytes 8-9/10'],
    ['bytes=-3', '789', 'bytes 7-9/10'],
    ['bytes=-50', '0123456789', 'bytes 0-9/10'],
    ['bytes=0-99999999999999999999', '0123456789', 'bytes 0-9/10'],
  ])('%s → 206 %s', (header, body, contentRange) => {
    const r = sliceMaskedRange(doc, header);
    expect(r).toMatchObject({ kind: 'partial', status: 206, contentRange });
    if (r.kind === 'partial') expect(r.body.toString()).toBe(body);
  });

  test.each([['bytes=10-'], ['bytes=10-20'], ['bytes=-0']])('%s → 416 bytes */10', (header) => {
    expect(sliceMaskedRange(doc, header)).toEqual({ kind: 'unsatisfiable', status: 416, contentRange: 'bytes */10' });
  });

  test('an empty document satisfies no range', () => {
    expect(sliceMaskedRange(Buffer.alloc(0), 'bytes=0-')).toEqual({ kind: 'unsatisfiable', status: 416, contentRange: 'bytes */0' });
    expect(sliceMaskedRange(Buffer.alloc(0), 'bytes=-5')).toEqual({ kind: 'unsatisfiable', status: 416, contentRange: 'bytes */0' });
  });

  test.each<[string, string]>([
    ['bytes=0-1,5-6', 'multiple-ranges'],
    ['bytes=a-', 'malformed'],
    ['lines=1-2', 'malformed'],
  ])('%s is ignored (%s): the whole masked document is served', (header, reason) => {
    expect(sliceMaskedRange(doc, header)).toEqual({ kind: 'ignored', reason });
  });
});

describe('a range never exposes a value its field name would have masked', () => {
  const original = Buffer.from('{"user": "bob", "password": "hunter2-S3-SECRET", "note": "ok"}');
  const start = original.indexOf('hunter2');
  const range = `bytes=${start}-${start + 'hunter2-S3-SECRET'.length - 1}`;

  test('the attack: the same range over the original bytes is the bare secret', () => {
    expect(original.subarray(start, start + 17).toString()).toBe('hunter2-S3-SECRET');
  });

  test('over the masked document, the value position holds only mask characters', () => {
    const masked = masker.maskBody(original, GET_OBJECT);
    expect(masked.outcome).toBe('masked');
    const r = sliceMaskedRange(masked.body, range);
    expect(r.kind).toBe('partial');
    if (r.kind !== 'partial') return;
    expect(r.body.toString()).not.toMatch(/hunter|S3-SEC|SECRET/);
    // the value itself starts where it did, and is all mask
    expect(r.body.subarray(0, 4).toString()).toBe('****');
    expect(r.contentRange).toBe(`bytes ${start}-${start + 16}/${masked.body.length}`);
  });

  test('every range, and so any concatenation of ranges, comes from the masked document', () => {
    const keyDoc = Buffer.from('id=AKIAIOSFODNN7EXAMPLE\n');
    const masked = masker.maskBody(keyDoc, { ...GET_OBJECT, contentType: 'text/plain' }).body;
    expect(masked.toString()).toBe('id=AKIA…MPLE\n');
    let reassembled = '';
    // two ranges that split the key in the original: 3-12 and 13-22
    for (const header of ['bytes=3-12', 'bytes=13-22']) {
      const r = sliceMaskedRange(masked, header);
      if (r.kind === 'partial') reassembled += r.body.toString('latin1');
    }
    expect(reassembled).not.toContain('IOSFODNN7');
    for (let a = 0; a < masked.length; a++) {
      for (let b = a; b < masked.length; b++) {
        const r = sliceMaskedRange(masked, `bytes=${a}-${b}`);
        expect(r.kind === 'partial' && r.body.equals(masked.subarray(a, b + 1))).toBe(true);
      }
    }
  });
});
