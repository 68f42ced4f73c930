import { describe, expect, test } from 'vitest';
import { compileMasker } from '../../src/masking/masker.js';
import type { BodyInfo } from '../../src/masking/masker.js';

const ALL = ['aws_access_key_id', 'aws_secret_access_key', 'private_key', 'jwt', 'email', 'credit_card'] as const;
const masker = compileMasker({
  fields: ['SecretString', 'Credentials.SecretAccessKey', 'Parameter.Value', 'password', 'SecretBinary'],
  detectors: [...ALL],
  patterns: [],
  maxBodyBytes: 1 << 20,
});
const JSON11: BodyInfo = { contentType: 'application/x-amz-json-1.1', protocol: 'json' };
const DDB: BodyInfo = { contentType: 'application/x-amz-json-1.0', protocol: 'json', service: 'dynamodb', operation: 'GetItem' };

function mask(body: string, info: BodyInfo = JSON11) {
  return masker.maskBody(Buffer.from(body), info);
}

describe('JSON field rules', () => {
  test.each([
    // key name
    ['{"SecretString":"s3cr3t","Name":"n"}', '{"SecretString":"****","Name":"n"}', { SecretString: 1 }],
    // dotted path, matched as a suffix of the key path
    [
      '{"Credentials":{"AccessKeyId":"x","SecretAccessKey":"abc","SessionToken":"t"}}',
      '{"Credentials":{"AccessKeyId":"x","SecretAccessKey":"****","SessionToken":"t"}}',
      { 'Credentials.SecretAccessKey': 1 },
    ],
    // the same leaf name under another parent is not matched
    ['{"Other":{"SecretAccessKey":"abc"}}', null, {}],
    ['{"Parameter":{"Name":"/db/pw","Value":"hunter2","Type":"SecureString"}}', '{"Parameter":{"Name":"/db/pw","Value":"****","Type":"SecureString"}}', { 'Parameter.Value': 1 }],
    // arrays are transparent in paths
    [
      '{"Parameters":[{"Value":"a"}],"Parameter":[{"Value":"b"},{"Value":"c"}]}',
      '{"Parameters":[{"Value":"a"}],"Parameter":[{"Value":"****"},{"Value":"****"}]}',
      { 'Parameter.Value': 2 },
    ],
    // a rule that names an object masks every scalar inside, keeping keys and types
    ['{"password":{"old":"a","new":"b","len":12,"set":true}}', '{"password":{"old":"****","new":"****","len":0,"set":true}}', { password: 3 }],
    // numbers named by a rule become 0, empty strings stay empty
    ['{"password":1234,"x":{"password":""}}', '{"password":0,"x":{"password":""}}', { password: 1 }],
    // SecretBinary is base64: the marker is base64 too
    ['{"SecretBinary":"AAECAw=="}', '{"SecretBinary":"KioqKg=="}', { SecretBinary: 1 }],
  ])('%s', (input, expected, fields) => {
    const r = mask(input);
    expect(r.body.toString()).toBe(expected ?? input);
    expect(r.changed).toBe(expected !== null);
    expect(r.report.fields).toEqual(fields);
  });
});

describe('JSON inside a JSON string', () => {
  test('a rule naming the outer field masks every inner value and keeps the inner keys (still valid JSON)', () => {
    const secret = JSON.stringify({ username: 'admin', password: 'hunter2', port: 5432, engine: 'postgres' });
    const r = mask(JSON.stringify({ ARN: 'arn:x', Name: 'db', SecretString: secret }));
    const out = JSON.parse(r.body.toString());
    expect(JSON.parse(out.SecretString)).toEqual({ username: '****', password: '****', port: 0, engine: '****' });
    expect(r.body.toString()).not.toContain('hunter2');
    expect(r.body.toString()).not.toContain('admin');
    expect(r.report.fields).toEqual({ SecretString: 4 });
  });

  test('a plain-string SecretString is masked whole', () => {
    expect(JSON.parse(mask('{"SecretString":"just a password"}').body.toString())).toEqual({ SecretString: '****' });
  });

  test('without a rule on the outer field, inner fields and detectors apply inside and the inner formatting is kept', () => {
    const inner = '{"user": "bob@example.com", "password": "x", "keep": 1.50}';
    const r = mask(JSON.stringify({ Message: inner }));
    expect(JSON.parse(r.body.toString()).Message).toBe('{"user": "b***@example.com", "password": "****", "keep": 1.50}');
    expect(r.report).toEqual({ fields: { password: 1 }, detectors: { email: 1 } });
  });

  test('dotted paths continue into the inner document', () => {
    const m = compileMasker({ fields: ['Body.token'], detectors: [], patterns: [], maxBodyBytes: 1 << 20 });
    const r = m.maskBody(Buffer.from(JSON.stringify({ Body: '{"token":"t1"}', token: 'outer' })), JSON11);
    expect(JSON.parse(r.body.toString())).toEqual({ Body: '{"token":"****"}', token: 'outer' });
  });

  test('a string that starts like JSON but is not JSON is treated as a plain string', () => {
    const r = mask(JSON.stringify({ SecretString: '{not json' }));
    expect(JSON.parse(r.body.toString())).toEqual({ SecretString: '****' });
    const d = mask(JSON.stringify({ note: '[bob@example.com' }));
    expect(JSON.parse(d.body.toString())).toEqual({ note: '[b***@example.com' });
  });
});

describe('DynamoDB typed attributes', () => {
  test('GetItem: attribute names are matched, type wrappers kept, N stays a number, B stays base64', () => {
    const item = {
      Item: {
        id: { S: 'u1' },
        password: { S: 'hunter2' },
        pin: { N: '1234' },
        card: { N: '4111111111111111' },
        blob: { B: 'AAEC' },
        profile: { M: { email: { S: 'bob@example.com' }, password: { N: '99' } } },
        history: { L: [{ S: 'AKIAIOSFODNN7EXAMPLE' }, { M: { password: { SS: ['a', 'b'] } } }] },
        flags: { BOOL: true },
        none: { NULL: true },
      },
    };
    const m = compileMasker({ fields: ['password', 'pin', 'blob'], detectors: [...ALL], patterns: [], maxBodyBytes: 1 << 20 });
    const r = m.maskBody(Buffer.from(JSON.stringify(item)), DDB);
    expect(JSON.parse(r.body.toString())).toEqual({
      Item: {
        id: { S: 'u1' },
        password: { S: '****' },
        pin: { N: '0' },
        card: { N: '0' },
        blob: { B: 'KioqKg==' },
        profile: { M: { email: { S: 'b***@example.com' }, password: { N: '0' } } },
        history: { L: [{ S: 'AKIA…MPLE' }, { M: { password: { SS: ['****', '****'] } } }] },
        flags: { BOOL: true },
        none: { NULL: true },
      },
    });
    expect(r.report).toEqual({ fields: { password: 4, pin: 1, blob: 1 }, detectors: { credit_card: 1, email: 1, aws_access_key_id: 1 } });
  });

  test('Query Items, BatchGetItem Responses, dotted paths skip the type tags', () => {
    const m = compileMasker({ fields: ['Items.secret', 'Responses.users.token', 'profile.ssn'], detectors: [], patterns: [], maxBodyBytes: 1 << 20 });
    const query = { Items: [{ secret: { S: 'a' } }, { secret: { S: 'b' }, profile: { M: { ssn: { S: '123' } } } }], Count: 2 };
    expect(JSON.parse(m.maskBody(Buffer.from(JSON.stringify(query)), DDB).body.toString())).toEqual({
      Items: [{ secret: { S: '****' } }, { secret: { S: '****' }, profile: { M: { ssn: { S: '****' } } } }],
      Count: 2,
    });
    const batch = { Responses: { users: [{ token: { S: 't' } }] }, UnprocessedKeys: {} };
    expect(JSON.parse(m.maskBody(Buffer.from(JSON.stringify(batch)), DDB).body.toString())).toEqual({
      Responses: { users: [{ token: { S: '****' } }] },
      UnprocessedKeys: {},
    });
  });

  test('an attribute literally named S is an attribute, not a type tag', () => {
    const m = compileMasker({ fields: ['S'], detectors: [], patterns: [], maxBodyBytes: 1 << 20 });
    const body = { Item: { S: { S: 'secret' }, x: { M: { S: { N: '5' } } } } };
    expect(JSON.parse(m.maskBody(Buffer.from(JSON.stringify(body)), DDB).body.toString())).toEqual({ Item: { S: { S: '****' }, x: { M: { S: { N: '0' } } } } });
  });

  test('outside DynamoDB, S/N keys are ordinary keys', () => {
    const m = compileMasker({ fields: ['Item.password'], detectors: [], patterns: [], maxBodyBytes: 1 << 20 });
    const body = '{"Item":{"password":{"S":"x"}}}';
    // without typed-value reading, password is an object and the rule masks everything inside it
    expect(m.maskBody(Buffer.from(body), JSON11).body.toString()).toBe('{"Item":{"password":{"S":"****"}}}');
    // a dotted path through the tag does not match in DynamoDB mode
    const strict = compileMasker({ fields: ['password.S'], detectors: [], patterns: [], maxBodyBytes: 1 << 20 });
    expect(strict.maskBody(Buffer.from(body), DDB).changed).toBe(false);
    expect(strict.maskBody(Buffer.from(body), JSON11).changed).toBe(true);
  });
});

describe('JSON documents stay valid and untouched parts stay byte-identical', () => {
  test('formatting, number forms and huge integers survive', () => {
    const input = '{\n  "Big": 12345678901234567890123,\n  "f": 1.0,\n  "e": 1E+2,\n  "password" : "x" ,\n  "u": "\\u00e9\\n"\n}';
    const r = mask(input);
    expect(r.body.toString()).toBe(input.replace('"x"', '"****"'));
  });

  test('keys are detector-scanned too (maps keyed by email)', () => {
    const r = mask('{"bob@example.com":{"role":"admin"}}');
    expect(r.body.toString()).toBe('{"b***@example.com":{"role":"admin"}}');
  });

  test('escaped content is decoded before detection and re-escaped after', () => {
    const pem = '-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----';
    const r = mask(JSON.stringify({ key: pem, quote: '"bob@example.com"' }));
    expect(JSON.parse(r.body.toString())).toEqual({ key: '-----BEGIN PRIVATE KEY-----****-----END PRIVATE KEY-----', quote: '"b***@example.com"' });
  });

  test('card numbers sent as JSON numbers become 0; other long numbers stay', () => {
    expect(mask('{"pan":4111111111111111,"ts":1700000000004,"n":4111111111111112}').body.toString()).toBe('{"pan":0,"ts":1700000000004,"n":4111111111111112}');
  });

  test('unchanged documents return the very same buffer', () => {
    const body = Buffer.from('{"TableNames":["a","b"]}');
    const r = masker.maskBody(body, JSON11);
    expect(r.changed).toBe(false);
    expect(r.body).toBe(body);
    expect(r.report).toEqual({ fields: {}, detectors: {} });
  });
});

describe('invalid JSON falls back to text masking', () => {
  test.each([
    ['{"SecretString": "abc", broken', '{"SecretString": "****", broken', { SecretString: 1 }, {}],
    ['{"SecretString":"{\\"password\\":\\"pw\\"}"', '{"SecretString":"****"', { SecretString: 1 }, {}],
    ['{"a": "AKIAIOSFODNN7EXAMPLE"', '{"a": "AKIA…MPLE"', {}, { aws_access_key_id: 1 }],
    ["{'password': 'single quotes'}", "{'password': '****'}", { password: 1 }, {}],
    ['{"Parameter":{"Value":"v"}} trailing', '{"Parameter":{"Value":"****"}} trailing', { 'Parameter.Value': 1 }, {}],
    ['{"Body":"{\\"password\\":\\"p\\"}",', '{"Body":"{\\"password\\":\\"****\\"}",', { password: 1 }, {}],
    ['<Credentials><SecretAccessKey>abc</SecretAccessKey>', '<Credentials><SecretAccessKey>****</SecretAccessKey>', { 'Credentials.SecretAccessKey': 1 }, {}],
  ])('%s', (input, expected, fields, detectors) => {
    const r = mask(input);
    expect(r.body.toString()).toBe(expected);
    expect(r.format).toBe('text');
    expect(r.report).toEqual({ fields, detectors });
  });

  test('a document nested deeper than the scanner allows is masked as text, not crashed on', () => {
    const deep = '['.repeat(5000) + '"AKIAIOSFODNN7EXAMPLE"' + ']'.repeat(5000);
    const r = mask(deep);
    expect(r.format).toBe('text');
    expect(r.body.toString()).not.toContain('AKIAIOSFODNN7EXAMPLE');
  });
});
