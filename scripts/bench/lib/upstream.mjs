// A minimal S3-like upstream for benches. It does NOT check signatures or credentials (it is the far end of
// the gateway, not a test of it) and answers as fast as node:http allows:
//   POST /  Action=AssumeRole          → an AssumeRoleResponse with static credentials valid one hour
//   GET  /<bucket>/gen/<bytes>[...]     → <bytes> of generated data, streamed with backpressure (large objects)
//   GET  /<bucket>/json/...             → a fixed ~3 KiB application/json document with secret-looking values
//   GET  /<bucket>/<anything else>      → a fixed 1 KiB binary object
//   PUT  /<bucket>/<key>                → the body is read and discarded; 200 with an ETag
//   HEAD                                → the headers of the matching GET

import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';

export const SMALL_OBJECT = randomBytes(1024);
const CHUNK = Buffer.alloc(1024 * 1024, 'portcullis bench data ');

/** ~3 KiB of JSON a masking policy has work to do on: named secret fields plus values the detectors match. */
export const JSON_OBJECT = Buffer.from(
  JSON.stringify({
    SecretString: 'db-password-123456',
    Items: Array.from({ length: 24 }, (_, i) => ({
      id: `item-${i}`,
      owner: `owner${i}@example.com`,
      note: i % 4 === 0 ? `rotated key AKIAIOSFODNN7EXAMPL${String.fromCharCode(65 + i)}` : `plain text value number ${i} with nothing secret in it`,
      total: i * 42,
    })),
  }),
);

function assumeRoleXml(now = new Date()) {
  const expiration = new Date(now.getTime() + 3_600_000).toISOString();
  return `<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleResult>
    <Credentials>
      <AccessKeyId>ASIABENCHUPSTREAM001</AccessKeyId>
      <SecretAccessKey>bench-upstream-secret-access-key-0000000</SecretAccessKey>
      <SessionToken>bench-upstream-session-token</SessionToken>
      <Expiration>${expiration}</Expiration>
    </Credentials>
    <AssumedRoleUser>
      <AssumedRoleId>AROABENCH:portcullis-bench</AssumedRoleId>
      <Arn>arn:aws:sts::123456789012:assumed-role/bench/portcullis-bench</Arn>
    </AssumedRoleUser>
  </AssumeRoleResult>
  <ResponseMetadata><RequestId>bench</RequestId></ResponseMetadata>
</AssumeRoleResponse>`;
}

function objectFor(path) {
  const key = path.split('?')[0].split('/').slice(2).join('/');
  const gen = /^gen\/(\d+)/.exec(key);
  if (gen) return { size: Number(gen[1]), type: 'application/octet-stream', generated: true };
  if (key.startsWith('json/')) return { size: JSON_OBJECT.length, type: 'application/json', body: JSON_OBJECT };
  return { size: SMALL_OBJECT.length, type: 'application/octet-stream', body: SMALL_OBJECT };
}

function writeGenerated(res, size) {
  let left = size;
  const pump = () => {
    while (left > 0) {
      const n = Math.min(left, CHUNK.length);
      left -= n;
      const more = res.write(n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n));
      if (!more) {
        res.once('drain', pump);
        return;
      }
    }
    res.end();
  };
  pump();
}

/** Starts the upstream on 127.0.0.1:port (0 = any); resolves with its URL and a close(). */
export async function startUpstream({ port = 0 } = {}) {
  const stats = { putBytes: 0, requests: 0 };
  const server = createServer((req, res) => {
    stats.requests += 1;
    const path = req.url ?? '/';
    if (req.method === 'POST' && (path === '/' || path.startsWith('/?'))) {
      const chunks = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => {
        const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
        if (form.get('Action') !== 'AssumeRole') {
          res.writeHead(400, { 'content-type': 'text/xml' });
          res.end('<ErrorResponse><Error><Code>InvalidAction</Code><Message>the bench upstream only answers AssumeRole</Message></Error></ErrorResponse>');
          return;
        }
        const body = assumeRoleXml();
        res.writeHead(200, { 'content-type': 'text/xml', 'content-length': Buffer.byteLength(body) });
        res.end(body);
      });
      return;
    }
    if (req.method === 'PUT' || req.method === 'POST') {
      req.on('data', (c) => {
        stats.putBytes += c.length;
      });
      req.on('end', () => {
        res.writeHead(200, { etag: '"bench"', 'content-length': 0 });
        res.end();
      });
      return;
    }
    if (req.method === 'GET' || req.method === 'HEAD') {
      req.resume();
      const object = objectFor(path);
      res.writeHead(200, { 'content-type': object.type, 'content-length': object.size, etag: '"bench"' });
      if (req.method === 'HEAD') res.end();
      else if (object.generated) writeGenerated(res, object.size);
      else res.end(object.body);
      return;
    }
    req.resume();
    res.writeHead(405, { 'content-length': 0 });
    res.end();
  });
  server.keepAliveTimeout = 60_000;
  await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
  const { port: bound } = server.address();
  return {
    url: `http://127.0.0.1:${bound}`,
    stats,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
