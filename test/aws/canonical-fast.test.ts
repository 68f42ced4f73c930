// The data path's shortcuts in SigV4 canonicalisation give the same answers as the plain forms they replace:
// HMAC from kept key blocks, trimAll without the regex when there is nothing to trim, canonical headers read
// straight from a lower-case bag.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { createHmac } from 'node:crypto';
import { canonicalHeaders, hmac, hmacWithKey, trimAll } from '../../src/aws/canonical.js';
import { markLowerCaseHeaders } from '../../src/lib/headers.js';

const plainTrimAll = (value: string): string => value.trim().replace(/\s+/g, ' ');

describe('hmacWithKey', () => {
  it('equals HMAC-SHA-256 for keys up to a block and beyond, and any text', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 100 }), fc.string({ unit: 'binary' }), (keyBytes, data) => {
        const key = Buffer.from(keyBytes);
        const expected = createHmac('sha256', key).update(data, 'utf8').digest('hex');
        // Twice: the first call keeps the key blocks, the second uses them.
        expect(hmacWithKey(key, data).toString('hex')).toBe(expected);
        expect(hmacWithKey(key, data).toString('hex')).toBe(expected);
        expect(hmac(key, data).toString('hex')).toBe(expected);
      }),
      { numRuns: 300 },
    );
  });

  it('keeps a key\'s blocks apart from another key\'s', () => {
    const a = Buffer.alloc(32, 1);
    const b = Buffer.alloc(32, 2);
    expect(hmacWithKey(a, 'x').equals(hmacWithKey(b, 'x'))).toBe(false);
    expect(hmacWithKey(a, 'x').toString('hex')).toBe(createHmac('sha256', a).update('x').digest('hex'));
    expect(hmacWithKey(b, 'x').toString('hex')).toBe(createHmac('sha256', b).update('x').digest('hex'));
  });
});

describe('trimAll', () => {
  it('equals trim-and-collapse on values with and without blanks of every kind', () => {
    const blanks = [' ', '\t', '\n', '\r', '\v', '\f', '\u00a0', '\u2028', '\u2029', '\ufeff', '\u3000', '\u1680', 'a', 'b', '-'];
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...blanks), { maxLength: 12 }), (parts) => {
        const value = parts.join('');
        expect(trimAll(value)).toBe(plainTrimAll(value));
      }),
      { numRuns: 2000 },
    );
    for (const value of ['', ' ', 'a b', ' a', 'a ', 'a  b', 'a\tb', 'a\u00a0b', 'AWS4-HMAC-SHA256', 'text/plain; charset=utf-8']) {
      expect(trimAll(value)).toBe(plainTrimAll(value));
    }
  });
});

describe('canonicalHeaders from a lower-case bag', () => {
  it('reads the same block as from a bag it must scan', () => {
    const values = fc.oneof(fc.string(), fc.array(fc.string(), { minLength: 1, maxLength: 3 }), fc.integer());
    fc.assert(
      fc.property(fc.dictionary(fc.constantFrom('host', 'x-amz-date', 'x-amz-meta-a', 'content-type', 'range'), values, { minKeys: 1 }), (bag) => {
        const names = Object.keys(bag).sort();
        const scanned = canonicalHeaders({ ...bag }, names);
        const marked = { ...bag };
        markLowerCaseHeaders(marked);
        expect(canonicalHeaders(marked, names)).toBe(scanned);
      }),
      { numRuns: 500 },
    );
  });

  it('still refuses a signed header the request does not carry', () => {
    const marked = { host: 'example.com' };
    markLowerCaseHeaders(marked);
    expect(() => canonicalHeaders(marked, ['host', 'x-amz-date'])).toThrow(/x-amz-date/);
  });
});
