// SigV4 verification throughput with and without the signing-key cache.
// Run: npx tsc -p . && node scripts/bench/sigv4.mjs
import { createHash } from 'node:crypto';
import { parseSigV4, signOutgoing, verifySigV4 } from '../../dist/aws/sigv4.js';
import { SigningKeyCache } from '../../dist/aws/sigv4-keycache.js';
import { deriveSigningKey, hmac } from '../../dist/aws/canonical.js';

const now = new Date('2026-01-01T12:00:00Z');
const secret = 'gateway-issued/secret+0123456789abcdefghijklmnop';
const body = JSON.stringify({ TableName: 'orders', Key: { id: { S: '42' } } });
const payloadHash = createHash('sha256').update(body).digest('hex');
const rawPath = '/bkt/some%20key%C3%BC.txt?x-id=GetObject&versionId=abc';
const headers = signOutgoing({
  method: 'GET',
  url: new URL(`https://gw.example:8443${rawPath}`),
  rawPath,
  headers: { 'content-type': 'application/x-amz-json-1.0', 'x-amz-target': 'DynamoDB_20120810.GetItem', 'x-amz-meta-a': 'x' },
  region: 'eu-west-3',
  service: 's3',
  credentials: { accessKeyId: 'ASIAGATEWAY', secretAccessKey: secret, sessionToken: 'token' },
  payloadHash,
  now,
});
const req = { method: 'GET', rawPath, headers };

function bench(label, keyCache, durationMs = 1500) {
  // Warm up, then count whole verifications (parse + verify) in a fixed wall-clock window.
  for (let i = 0; i < 2000; i++) verifySigV4(parseSigV4(req), req, { secretAccessKey: secret, payloadHash, now, keyCache });
  let ops = 0;
  const start = process.hrtime.bigint();
  const end = start + BigInt(durationMs) * 1_000_000n;
  while (process.hrtime.bigint() < end) {
    for (let i = 0; i < 200; i++) verifySigV4(parseSigV4(req), req, { secretAccessKey: secret, payloadHash, now, keyCache });
    ops += 200;
  }
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const rate = ops / seconds;
  console.log(`${label.padEnd(34)} ${Math.round(rate).toLocaleString('en-US').padStart(10)} verifications/s  (${(1e6 / rate).toFixed(2)} µs each)`);
  return rate;
}

const cached = bench('cached signing key (LRU 1,000)', new SigningKeyCache());
const uncached = bench('uncached (key derived every time)', new SigningKeyCache({ maxEntries: 0 }));
console.log(`ratio cached/uncached: ${(cached / uncached).toFixed(2)}x`);

// The parts: key derivation (4 HMACs) against the final signature HMAC.
function perOp(fn, n = 20000) {
  for (let i = 0; i < 2000; i++) fn();
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) fn();
  return Number(process.hrtime.bigint() - start) / n / 1000;
}
const key = deriveSigningKey(secret, '20260101', 'eu-west-3', 's3');
const deriveUs = perOp(() => deriveSigningKey(secret, '20260101', 'eu-west-3', 's3'));
const finalUs = perOp(() => hmac(key, 'AWS4-HMAC-SHA256\n20260101T120000Z\n20260101/eu-west-3/s3/aws4_request\n' + payloadHash));
console.log(`key derivation ${deriveUs.toFixed(2)} µs, final HMAC ${finalUs.toFixed(2)} µs (derivation/final ${(deriveUs / finalUs).toFixed(2)}x)`);
console.log(`load average while measuring: ${(await import('node:os')).loadavg().map((l) => l.toFixed(2)).join(' ')}`);
