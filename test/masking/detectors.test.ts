import { describe, expect, test } from 'vitest';
import type { DetectorName } from '../../src/config/types.js';
import { compileMasker } from '../../src/masking/masker.js';
import { isCardNumber, luhnValid } from '../../src/masking/detectors.js';

const KEY_ID = 'AKIAIOSFODNN7EXAMPLE';
const SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
const SHA1 = '3f786850e387550fdab836ed7e6dc881de23001b';
const JWT_HEADER = Buffer.from(JSON.stringify({ alg: 'RS256', typ: 'JWT' })).toString('base64url');
const JWT = `${JWT_HEADER}.${Buffer.from('{"sub":"svc","exp":1}').toString('base64url')}.c2lnbmF0dXJlLWJ5dGVz`;
const NO_ALG_HEADER = Buffer.from(JSON.stringify({ typ: 'JWT' })).toString('base64url');
const PEM = '-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA7\nabc+/=\n-----END RSA PRIVATE KEY-----';

function only(detector: DetectorName) {
  return compileMasker({ fields: [], detectors: [detector], patterns: [], maxBodyBytes: 1 << 20 });
}

type Row = [input: string, expected: string];

const TABLE: Record<DetectorName, { positives: Row[]; negatives: string[] }> = {
  aws_access_key_id: {
    positives: [
      [KEY_ID, 'AKIA…MPLE'],
      ['ASIAY34FZKBOKMUTVV7A', 'ASIA…VV7A'],
      [`key=${KEY_ID};`, 'key=AKIA…MPLE;'],
      [`"${KEY_ID}" and "ASIAY34FZKBOKMUTVV7A"`, '"AKIA…MPLE" and "ASIA…VV7A"'],
    ],
    negatives: [
      'AKIAIOSFODNN7EXAMPL', // 19 characters
      'AKIAIOSFODNN7EXAMPLE1', // 21: part of a longer token
      'XAKIAIOSFODNN7EXAMPLE',
      'AKIAiosfodnn7example', // lower case
      'AKIA0OSFODNN1EXAMPLE', // 0 and 1 are not base32
      'AIDAIOSFODNN7EXAMPLE', // user id, not a key id
    ],
  },
  aws_secret_access_key: {
    positives: [
      [`aws_secret_access_key = ${SECRET}`, 'aws_secret_access_key = ****'],
      [`AWS_SECRET_ACCESS_KEY=${SECRET}`, 'AWS_SECRET_ACCESS_KEY=****'],
      [`"SecretAccessKey": "${SECRET}"`, '"SecretAccessKey": "****"'],
      [`<SecretAccessKey>${SECRET}</SecretAccessKey>`, '<SecretAccessKey>****</SecretAccessKey>'],
      [`secret_key: '${SECRET}'`, "secret_key: '****'"],
      [`id ${KEY_ID} key ${SECRET}`, `id ${KEY_ID} key ****`],
    ],
    negatives: [
      SECRET, // no context
      `commit ${SHA1}`,
      `${KEY_ID} ${SHA1}`, // hex digest near a key id: no upper case, not a secret key
      `${KEY_ID} ${'A1B2C3D4E5F6G7H8I9J0'.repeat(2)}`, // upper-case id near a key id
      `aws_secret_access_key = ${SECRET}X`, // 41 characters
      `token=${'a'.repeat(40)}`,
    ],
  },
  private_key: {
    positives: [
      [PEM, '-----BEGIN RSA PRIVATE KEY-----****-----END RSA PRIVATE KEY-----'],
      [`key:\n${PEM}\nafter`, 'key:\n-----BEGIN RSA PRIVATE KEY-----****-----END RSA PRIVATE KEY-----\nafter'],
      ['-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----', '-----BEGIN PRIVATE KEY-----****-----END PRIVATE KEY-----'],
      ['-----BEGIN OPENSSH PRIVATE KEY-----\nb3Bl\n-----END OPENSSH PRIVATE KEY-----', '-----BEGIN OPENSSH PRIVATE KEY-----****-----END OPENSSH PRIVATE KEY-----'],
      ['-----BEGIN ENCRYPTED PRIVATE KEY-----\nMII\n-----END ENCRYPTED PRIVATE KEY-----', '-----BEGIN ENCRYPTED PRIVATE KEY-----****-----END ENCRYPTED PRIVATE KEY-----'],
      ['-----BEGIN PGP PRIVATE KEY BLOCK-----\nlQ\n-----END PGP PRIVATE KEY BLOCK-----', '-----BEGIN PGP PRIVATE KEY BLOCK-----****-----END PGP PRIVATE KEY BLOCK-----'],
      // truncated block: masked to the end, fail closed
      ['x -----BEGIN EC PRIVATE KEY-----\nMHcCAQEEI', 'x -----BEGIN EC PRIVATE KEY-----****-----END EC PRIVATE KEY-----'],
    ],
    negatives: [
      '-----BEGIN PUBLIC KEY-----\nMIIBIjAN\n-----END PUBLIC KEY-----',
      '-----BEGIN CERTIFICATE-----\nMIIC\n-----END CERTIFICATE-----',
      'the private key is stored in KMS',
    ],
  },
  jwt: {
    positives: [
      [JWT, `${JWT_HEADER}.****.****`],
      [`Authorization: Bearer ${JWT}`, `Authorization: Bearer ${JWT_HEADER}.****.****`],
      [`${JWT_HEADER}.e30.`, `${JWT_HEADER}.****.****`], // unsigned (alg none style) token
    ],
    negatives: [
      `${NO_ALG_HEADER}.e30.c2ln`, // header without alg
      'eyJhbGciOi.e30.c2ln', // header is not decodable JSON
      'eyJhbGciOiJIUzI1NiJ9', // one segment
      'version 1.2.3',
    ],
  },
  email: {
    positives: [
      ['bob@example.com', 'b***@example.com'],
      ['Contact: first.last+tag@mail.example.co.uk.', 'Contact: f***@mail.example.co.uk.'],
      ['<a@b.io>', '<a***@b.io>'],
      ['x@ex-ample.org, y@z.net', 'x***@ex-ample.org, y***@z.net'],
    ],
    negatives: ['user@localhost', '@example.com', 'a@b', 'foo@bar.c1', 'no at sign here', `${'a'.repeat(5000)}@`],
  },
  credit_card: {
    positives: [
      ['4111111111111111', '****1111'],
      ['card 4111 1111 1111 1111 exp', 'card ****1111 exp'],
      ['5500-0000-0000-0004', '****0004'],
      ['340000000000009', '****0009'], // Amex, 15 digits
      ['6011000000000004', '****0004'],
      ['2223000048400011', '****0011'], // Mastercard 2-series
    ],
    negatives: [
      '4111111111111112', // Luhn fails
      '1700000000004', // Luhn-valid millisecond timestamp (starts with 1)
      '41111111111111111111111', // 23-digit run
      '411111111111', // 12 digits
      'order 12345678901234567',
      '4111--1111-1111-1111', // two separators in a row
    ],
  },
};

describe.each(Object.keys(TABLE) as DetectorName[])('detector %s', (name) => {
  const masker = only(name);
  test.each(TABLE[name].positives)('masks %j', (input, expected) => {
    expect(masker.maskText(input)).toBe(expected);
  });
  test.each(TABLE[name].negatives.map((n) => [n]))('leaves %j alone', (input) => {
    expect(masker.maskText(input)).toBe(input);
  });
  test('masking is idempotent on its own markers', () => {
    for (const [input] of TABLE[name].positives) {
      const once = masker.maskText(input);
      expect(masker.maskText(once)).toBe(once);
    }
  });
});

describe('detector context in documents', () => {
  const masker = compileMasker({ fields: [], detectors: ['aws_secret_access_key'], patterns: [], maxBodyBytes: 1 << 20 });
  const json = (o: unknown) => masker.maskBody(Buffer.from(JSON.stringify(o)), { contentType: 'application/json' });
  test.each([
    [{ SecretAccessKey: SECRET }, { SecretAccessKey: '****' }],
    [{ secret_key: SHA1 }, { secret_key: '****' }], // a whole 40-char value under a key-like name
    [{ aws_credentials: `${SECRET}` }, { aws_credentials: '****' }],
  ])('masks a 40-character value under a key-like name: %j', (input, expected) => {
    expect(JSON.parse(json(input).body.toString())).toEqual(expected);
  });
  test.each([[{ ETag: SHA1 }], [{ commit: SHA1, AccessKeyId: KEY_ID }], [{ RequestId: SECRET }], [{ Token: 'x'.repeat(40) }]])(
    'leaves %j alone',
    (input) => {
      const r = json(input);
      expect(r.changed).toBe(false);
    },
  );
});

describe('custom patterns', () => {
  test('a capture group masks only the group; no group masks the match', () => {
    const masker = compileMasker({
      fields: [],
      detectors: [],
      patterns: [
        { name: 'password_kv', regex: 'password=(\\S+)' },
        { name: 'ticket', regex: 'TCK-\\d{6}' },
      ],
      maxBodyBytes: 1 << 20,
    });
    expect(masker.maskText('login password=hunter2 ok TCK-123456')).toBe('login password=**** ok ****');
    const r = masker.maskBody(Buffer.from('{"note":"password=x TCK-000001 TCK-000002"}'), { contentType: 'application/json' });
    expect(r.body.toString()).toBe('{"note":"password=**** **** ****"}');
    expect(r.report.detectors).toEqual({ password_kv: 1, ticket: 2 });
  });

  test.each([
    [{ name: 'bad', regex: '(' }, /masking\.patterns\[0\] \(bad\): invalid regex/],
    [{ name: 'empty', regex: 'x*' }, /masking\.patterns\[0\] \(empty\): regex matches the empty string/],
    [{ name: '', regex: 'x' }, /masking\.patterns\[0\]: name is required/],
  ])('rejects %j', (pattern, message) => {
    expect(() => compileMasker({ fields: [], detectors: [], patterns: [pattern], maxBodyBytes: 1 })).toThrow(message);
  });
});

describe('config validation', () => {
  test.each([
    [{ fields: ['a..b'] }, /masking\.fields\[0\]: "a\.\.b" is not a field name or dotted path/],
    [{ fields: [''] }, /masking\.fields\[0\]/],
    [{ detectors: ['ssn'] }, /masking\.detectors\[0\]: unknown detector "ssn"/],
    [{ maxBodyBytes: -1 }, /masking\.maxBodyBytes: must be a non-negative number/],
    [{ maxBodyBytes: Number.NaN }, /masking\.maxBodyBytes/],
  ])('rejects %j', (partial, message) => {
    const config = { fields: [], detectors: [], patterns: [], maxBodyBytes: 1, ...partial } as never;
    expect(() => compileMasker(config)).toThrow(message);
  });
});

describe('card number checks', () => {
  test.each([
    ['4111111111111111', true],
    ['4111111111111112', false],
    ['79927398713', true],
  ])('luhnValid(%s) = %s', (digits, valid) => expect(luhnValid(digits)).toBe(valid));
  test.each([
    ['4111 1111 1111 1111', true],
    ['0000000000000', false], // one repeated digit
    ['411111111111', false], // too short
    ['41111111111111111111', false], // too long
  ])('isCardNumber(%s) = %s', (candidate, valid) => expect(isCardNumber(candidate)).toBe(valid));
});
