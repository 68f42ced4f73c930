import fc from 'fast-check';
import { XMLValidator } from 'fast-xml-parser';
import { describe, expect, test } from 'vitest';
import { compileMasker } from '../../src/masking/masker.js';

const masker = compileMasker({
  fields: ['SecretString', 'password', 'Credentials.SecretAccessKey', 'a.b'],
  detectors: ['aws_access_key_id', 'aws_secret_access_key', 'private_key', 'jwt', 'email', 'credit_card'],
  patterns: [{ name: 'ticket', regex: 'TCK-[0-9]{4}' }],
  maxBodyBytes: 1 << 22,
});

const JWT_HEADER = Buffer.from('{"alg":"ES256"}').toString('base64url');

/** A planted secret and the part of it that must never reach the output. */
interface Planted {
  text: string;
  sensitive: string[];
}

const base32 = fc.string({ unit: fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'), minLength: 16, maxLength: 16 });
const b64 = fc.string({ unit: fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'), minLength: 8, maxLength: 200 });
const b64url = fc.string({ unit: fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'), minLength: 4, maxLength: 80 });

const planted: fc.Arbitrary<Planted> = fc.oneof(
  fc.tuple(fc.constantFrom('AKIA', 'ASIA'), base32).map(([p, rest]) => ({ text: p + rest, sensitive: [p + rest] })),
  fc.tuple(fc.constantFrom('RSA ', 'EC ', '', 'OPENSSH ', 'ENCRYPTED '), b64).map(([kind, body]) => ({
    text: `-----BEGIN ${kind}PRIVATE KEY-----\n${body}\n-----END ${kind}PRIVATE KEY-----`,
    sensitive: [body],
  })),
  fc.tuple(b64url, b64url).map(([payload, sig]) => ({ text: `${JWT_HEADER}.${payload}.${sig}`, sensitive: [`.${payload}.${sig}`] })),
);

/** Plants the secret somewhere inside an arbitrary JSON value: as a value, inside a longer string, or as a key. */
function plant(value: unknown, secret: string, where: number, prefix: string): unknown {
  const wrapped = `${prefix} ${secret} `;
  if (Array.isArray(value)) {
    const copy = [...value];
    copy.splice(where % (copy.length + 1), 0, where % 2 === 0 ? secret : wrapped);
    return copy;
  }
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value);
    if (entries.length > 0 && where % 3 === 0) {
      const [k, v] = entries[where % entries.length];
      return { ...value, [k]: plant(v, secret, Math.floor(where / 3), prefix) };
    }
    return where % 3 === 1 ? { ...value, [wrapped]: 1 } : { ...value, planted: wrapped };
  }
  return [value, wrapped];
}

describe('JSON properties', () => {
  test('any JSON in → valid JSON out, with the same shape when nothing is planted', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.constantFrom(undefined, 'dynamodb'), (value, service) => {
        const body = Buffer.from(JSON.stringify(value));
        const r = masker.maskBody(body, { contentType: 'application/json', service });
        expect(r.format).toBe('json');
        const out: unknown = JSON.parse(r.body.toString());
        if (!r.changed) expect(r.body).toBe(body);
        expect(typeof out).toBe(value === null ? 'object' : typeof value);
      }),
      { numRuns: 300 },
    );
  });

  test('a planted secret (key id, PEM, JWT) never survives anywhere in a JSON document', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 4 }), planted, fc.nat(), fc.string({ maxLength: 20 }), (value, secret, where, prefix) => {
        const doc = plant(value, secret.text, where, prefix);
        const r = masker.maskBody(Buffer.from(JSON.stringify(doc)), { contentType: 'application/x-amz-json-1.1' });
        const text = r.body.toString();
        // the secret may sit in the output JSON-escaped (\n inside a PEM): check the decoded strings too
        const strings = deepStrings(JSON.parse(text));
        for (const part of secret.sensitive) {
          expect(text).not.toContain(part);
          expect(strings.some((s) => s.includes(part))).toBe(false);
        }
      }),
      { numRuns: 300 },
    );
  });

  test('a planted secret survives neither a JSON string inside a JSON string', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string({ maxLength: 8 }), fc.string({ maxLength: 20 })), planted, (inner, secret) => {
        const doc = { Name: 'x', SecretBlob: JSON.stringify({ ...inner, deep: secret.text }) };
        const r = masker.maskBody(Buffer.from(JSON.stringify(doc)), { contentType: 'application/json' });
        const out = JSON.parse(r.body.toString()) as { SecretBlob: string };
        const innerOut = JSON.parse(out.SecretBlob) as Record<string, string>;
        for (const part of secret.sensitive) expect(innerOut.deep).not.toContain(part);
      }),
    );
  });

  test('a field-named value never survives, whatever it holds', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 3 }), fc.string({ minLength: 1, maxLength: 30 }), (value, secret) => {
        const doc = { wrap: value, Credentials: { SecretAccessKey: `zz${secret}zz` } };
        const r = masker.maskBody(Buffer.from(JSON.stringify(doc)), { contentType: 'application/json' });
        expect((JSON.parse(r.body.toString()) as typeof doc).Credentials.SecretAccessKey).toBe('****');
      }),
    );
  });
});

function deepStrings(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.flatMap(deepStrings);
  if (value !== null && typeof value === 'object') return Object.entries(value).flatMap(([k, v]) => [k, ...deepStrings(v)]);
  return [];
}

// --- XML -------------------------------------------------------------------------------------

const xmlName = fc.stringMatching(/^[a-z][a-z0-9]{0,6}$/);
const xmlText = fc.string({ maxLength: 30 });
const escape = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

interface XmlNode {
  name: string;
  attrs: [string, string][];
  children: (XmlNode | string)[];
}

const xmlNode: fc.Arbitrary<XmlNode> = fc.letrec<{ node: XmlNode }>((tie) => ({
  node: fc.record({
    name: xmlName,
    attrs: fc.uniqueArray(fc.tuple(xmlName, xmlText), { maxLength: 2, selector: ([n]) => n }),
    children: fc.array(fc.oneof({ depthSize: 'small' }, xmlText, tie('node')), { maxLength: 4 }),
  }),
})).node;

function render(node: XmlNode, cdata: boolean): string {
  const attrs = node.attrs.map(([n, v]) => ` ${n}="${escape(v)}"`).join('');
  const children = node.children.map((c) => (typeof c === 'string' ? (cdata && !c.includes(']]>') ? `<![CDATA[${c}]]>` : escape(c)) : render(c, cdata))).join('');
  return `<${node.name}${attrs}>${children}</${node.name}>`;
}

function plantXml(node: XmlNode, secret: string, where: number): XmlNode {
  const mode = where % 3;
  if (mode === 0) return { ...node, attrs: [...node.attrs.filter(([n]) => n !== 'planted'), ['planted', ` ${secret} `]] };
  const child = node.children.findIndex((c) => typeof c !== 'string');
  if (mode === 1 && child !== -1) {
    const children = [...node.children];
    children[child] = plantXml(children[child] as XmlNode, secret, Math.floor(where / 3));
    return { ...node, children };
  }
  return { ...node, children: [...node.children, ` ${secret}\n`] };
}

describe('XML properties', () => {
  test('any well-formed XML in → well-formed XML out', () => {
    fc.assert(
      fc.property(xmlNode, fc.boolean(), (node, cdata) => {
        const body = `<?xml version="1.0"?>\n${render(node, cdata)}`;
        expect(XMLValidator.validate(body)).toBe(true);
        const r = masker.maskBody(Buffer.from(body), { contentType: 'text/xml' });
        expect(r.format).toBe('xml');
        expect(XMLValidator.validate(r.body.toString())).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  test('a planted secret never survives in text nodes, CDATA or attributes', () => {
    fc.assert(
      fc.property(xmlNode, planted, fc.nat(), fc.boolean(), (node, secret, where, cdata) => {
        const body = render(plantXml(node, secret.text, where), cdata);
        const r = masker.maskBody(Buffer.from(body), { contentType: 'application/xml' });
        const out = r.body.toString();
        expect(XMLValidator.validate(out)).toBe(true);
        for (const part of secret.sensitive) expect(out).not.toContain(escape(part).replace(/\n/g, ''));
        for (const part of secret.sensitive) expect(out).not.toContain(part);
      }),
      { numRuns: 300 },
    );
  });
});

describe('text properties', () => {
  test('a planted secret never survives in free text', () => {
    fc.assert(
      fc.property(fc.string(), planted, fc.string(), (before, secret, after) => {
        const out = masker.maskText(`${before} ${secret.text} ${after}`);
        for (const part of secret.sensitive) expect(out).not.toContain(part);
      }),
      { numRuns: 300 },
    );
  });
});
