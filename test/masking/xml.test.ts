import { describe, expect, test } from 'vitest';
import { XMLValidator } from 'fast-xml-parser';
import { compileMasker } from '../../src/masking/masker.js';
import type { BodyInfo } from '../../src/masking/masker.js';

const masker = compileMasker({
  fields: ['Credentials.SecretAccessKey', 'SessionToken', 'password', 'Secret'],
  detectors: ['aws_access_key_id', 'aws_secret_access_key', 'private_key', 'jwt', 'email', 'credit_card'],
  patterns: [],
  maxBodyBytes: 1 << 20,
});
const XML: BodyInfo = { contentType: 'text/xml', protocol: 'query', service: 'sts', operation: 'AssumeRole' };
const mask = (body: string, info: BodyInfo = XML) => masker.maskBody(Buffer.from(body), info);

const STS = `<?xml version="1.0" encoding="UTF-8"?>
<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleResult>
    <Credentials>
      <AccessKeyId>ASIAY34FZKBOKMUTVV7A</AccessKeyId>
      <SecretAccessKey>wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY</SecretAccessKey>
      <SessionToken>FwoGZXIvYXdzEBYaDH+token&amp;more</SessionToken>
      <Expiration>2026-01-01T00:00:00Z</Expiration>
    </Credentials>
  </AssumeRoleResult>
  <!-- request for bob@example.com -->
</AssumeRoleResponse>`;

describe('XML masking', () => {
  test('STS credentials: element paths and names masked, the rest byte-identical', () => {
    const r = mask(STS);
    const expected = STS.replace('ASIAY34FZKBOKMUTVV7A', 'ASIA…VV7A')
      .replace('wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY', '****')
      .replace('FwoGZXIvYXdzEBYaDH+token&amp;more', '****')
      .replace('bob@example.com', 'b***@example.com');
    expect(r.body.toString()).toBe(expected);
    expect(r.format).toBe('xml');
    expect(r.report).toEqual({
      fields: { 'Credentials.SecretAccessKey': 1, SessionToken: 1 },
      detectors: { aws_access_key_id: 1, email: 1 },
    });
    expect(XMLValidator.validate(r.body.toString())).toBe(true);
  });

  test.each([
    // namespace prefixes: matched by local name
    ['<a:Root xmlns:a="u"><a:password>x</a:password></a:Root>', '<a:Root xmlns:a="u"><a:password>****</a:password></a:Root>'],
    // CDATA content is masked inside the section
    ['<R><password><![CDATA[p<w>&d]]></password></R>', '<R><password><![CDATA[****]]></password></R>'],
    ['<R><n><![CDATA[mail bob@example.com]]></n></R>', '<R><n><![CDATA[mail b***@example.com]]></n></R>'],
    // entities are decoded for detection and the result re-escaped
    ['<R><n>&lt;bob@example.com&gt; &amp; more</n></R>', '<R><n>&lt;b***@example.com&gt; &amp; more</n></R>'],
    ['<R><n>&#98;ob@example.com</n></R>', '<R><n>b***@example.com</n></R>'],
    // an unknown (DTD) entity: the raw text is masked and the entity left as it was
    ['<R><n>&nbsp;bob@example.com</n></R>', '<R><n>&nbsp;b***@example.com</n></R>'],
    // a rule on an element with children masks every text node below it, keeping the structure
    ['<R><Secret>\n  <a>1</a>\n  <b>two</b>\n</Secret><c>3</c></R>', '<R><Secret>\n  <a>****</a>\n  <b>****</b>\n</Secret><c>3</c></R>'],
    // attributes: by name, and detectors on values, re-escaped for their quote
    ['<R><User password="p&quot;w" id=\'bob@example.com\'/></R>', '<R><User password="****" id=\'b***@example.com\'/></R>'],
    // self-closing and empty elements
    ['<R><password/><password></password></R>', null],
    // a PEM key in a comment cannot leave `--` inside the comment
    ['<R><!-- -----BEGIN PRIVATE KEY-----\nAA\n-----END PRIVATE KEY----- --></R>', '<R><!-- **** --></R>'],
    // JSON held in a text node (SQS message bodies) is masked inside
    ['<R><Body>{"password":"p","to":"bob@example.com"}</Body></R>', '<R><Body>{"password":"****","to":"b***@example.com"}</Body></R>'],
    ['<?xml version="1.0"?><!DOCTYPE R [<!ENTITY x "y">]><R><password>p</password></R>', '<?xml version="1.0"?><!DOCTYPE R [<!ENTITY x "y">]><R><password>****</password></R>'],
  ])('%s', (input, expected) => {
    const r = mask(input);
    expect(r.body.toString()).toBe(expected ?? input);
    expect(r.format).toBe('xml');
    expect(XMLValidator.validate(r.body.toString())).toBe(true);
  });

  test('S3 ListObjectsV2 with nothing to mask passes through as the same buffer', () => {
    const body = Buffer.from('<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name><Contents><Key>a.txt</Key><ETag>&quot;3f786850e387550fdab836ed7e6dc881&quot;</ETag></Contents></ListBucketResult>');
    const r = masker.maskBody(body, { contentType: 'application/xml', protocol: 'rest-xml', service: 's3', operation: 'ListObjectsV2' });
    expect(r.changed).toBe(false);
    expect(r.body).toBe(body);
  });

  test.each([
    ['<R><password>p</R>'], // mismatched close
    ['<R><password>p</password>'], // unclosed root
    ['<R><password attr="x>p</password></R>'], // broken attribute
    ['<R><!-- unterminated comment <password>p</password></R>'],
    ['no markup at all password=p'],
  ])('malformed XML falls back to text masking: %s', (input) => {
    const r = mask(input);
    expect(r.format).toBe('text');
    expect(r.body.toString()).not.toMatch(/>p<|=p\b/);
    expect(r.report.fields.password).toBeGreaterThanOrEqual(1);
  });
});
