// Hostile bodies for the masker (the masking owners keep deeper JSON/XML detector properties in
// test/masking/property.test.ts; this adds the gateway-level promises): any bytes with any declared type
// never throw; any JSON / XML in gives a valid document out; a value under a masked field name, or an
// access key id anywhere, never survives — also inside gzip, with escapes, in arrays and attributes.
import { gzipSync, gunzipSync } from 'node:zlib';
import fc from 'fast-check';
import { XMLValidator } from 'fast-xml-parser';
import { describe, expect, test } from 'vitest';
import { compileMasker } from '../../src/masking/masker.js';
import { params, reportCases } from './runs.js';

reportCases('masking');

const masker = compileMasker({ fields: ['SecretString', 'Credentials.SecretAccessKey'], detectors: ['aws_access_key_id', 'private_key', 'jwt'], patterns: [], maxBodyBytes: 1 << 20 });
const secretValue = fc.string({ unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'), minLength: 12, maxLength: 24 }).map((s) => `S3cr3t${s}`);
const awsKey = fc.string({ unit: fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'), minLength: 16, maxLength: 16 }).map((s) => `AKIA${s}`);
const contentType = fc.constantFrom(undefined, 'application/json', 'application/x-amz-json-1.0', 'text/xml', 'application/xml', 'text/plain', 'application/octet-stream', 'application/json; charset=utf-8', '', ';;;');

function plantJson(value: unknown, secret: string, key: string, where: number): unknown {
  if (Array.isArray(value) && value.length > 0 && where % 2 === 0) {
    const copy = [...value];
    const i = where % copy.length;
    copy[i] = plantJson(copy[i], secret, key, Math.floor(where / 2));
    return copy;
  }
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    const entries = Object.keys(value);
    if (entries.length > 0 && where % 3 === 0) {
      const k = entries[where % entries.length]!;
      return { ...value, [k]: plantJson((value as Record<string, unknown>)[k], secret, key, Math.floor(where / 3)) };
    }
    return { ...value, SecretString: secret, note: `key ${key} here` };
  }
  return { wrapped: value, SecretString: secret, note: [`${key}`] };
}

describe('masking hostile bodies', () => {
  test('any bytes with any content type / encoding: no exception, a buffer out', () => {
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 300 }), fc.string({ maxLength: 300 }).map((s) => new TextEncoder().encode(s))), contentType, fc.constantFrom(undefined, 'gzip', 'br', 'deflate', 'zstd', 'identity'), fc.constantFrom(undefined, 'json', 'query', 'rest-xml', 'rest-json'), (bytes, type, encoding, protocol) => {
        const r = masker.maskBody(Buffer.from(bytes), { contentType: type, contentEncoding: encoding, protocol: protocol as never, service: 's3', operation: 'GetObject' });
        expect(Buffer.isBuffer(r.body)).toBe(true);
        // Fail closed: a body that cannot be decoded is never handed back.
        if (r.outcome === 'undecodable') expect(r.body.length).toBe(0);
        if (encoding === 'zstd' && bytes.length > 0) expect(r.outcome).toBe('undecodable');
      }),
      params('bytes', 500),
    );
  });

  test('JSON (plain or gzip): valid out, the SecretString value and the access key never survive', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 4 }), secretValue, awsKey, fc.nat(), fc.boolean(), (doc, secret, key, where, gzip) => {
        const text = JSON.stringify(plantJson(doc, secret, key, where));
        const raw = Buffer.from(text);
        const r = masker.maskBody(gzip ? gzipSync(raw) : raw, { contentType: 'application/x-amz-json-1.1', contentEncoding: gzip ? 'gzip' : undefined });
        // A masked body is sent decoded; one with nothing masked keeps its gzip bytes.
        expect(r.outcome).not.toBe('undecodable');
        const out = (gzip && r.outcome === 'unchanged' ? gunzipSync(r.body) : r.body).toString('utf8');
        expect(() => JSON.parse(out)).not.toThrow();
        expect(out).not.toContain(secret);
        expect(out).not.toContain(key);
      }),
      params('json', 500),
    );
  });

  test('XML: valid out, the SecretString element and an access key in text or attributes never survive', () => {
    const name = fc.stringMatching(/^[a-z][a-zA-Z0-9]{0,6}$/);
    const text = fc.string({ maxLength: 20 }).map((s) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;'));
    fc.assert(
      fc.property(fc.array(fc.tuple(name, text), { maxLength: 6 }), secretValue, awsKey, fc.nat(3), fc.boolean(), (children, secret, key, spot, cdata) => {
        const parts = children.map(([n, t]) => `<${n}>${t}</${n}>`);
        const secretXml = cdata ? `<SecretString><![CDATA[${secret}]]></SecretString>` : `<SecretString>${secret}</SecretString>`;
        const keyXml = spot % 2 === 0 ? `<Note a="${key}">x</Note>` : `<Note>${key}</Note>`;
        parts.splice(spot % (parts.length + 1), 0, secretXml, keyXml);
        const body = `<?xml version="1.0"?>\n<GetSecretValueResponse><Result>${parts.join('')}</Result></GetSecretValueResponse>`;
        expect(XMLValidator.validate(body)).toBe(true);
        const r = masker.maskBody(Buffer.from(body), { contentType: 'text/xml', protocol: 'query' });
        const out = r.body.toString('utf8');
        expect(XMLValidator.validate(out)).toBe(true);
        expect(out).not.toContain(secret);
        expect(out).not.toContain(key);
      }),
      params('xml', 400),
    );
  });
});
