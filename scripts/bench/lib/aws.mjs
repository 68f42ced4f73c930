// AWS-side helpers for the benches, built on the gateway's own code in dist/: obtain gateway credentials with
// AssumeRoleWithWebIdentity (a gateway-minted local token) and pre-sign S3 requests with SigV4.

import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { signOutgoingRequest } from '../../../dist/aws/sigv4.js';
import { mintLocalToken } from '../../../dist/identity/local-token.js';

export const UNSIGNED_PAYLOAD = 'UNSIGNED-PAYLOAD';
export const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

/** One HTTP(S) exchange with the whole body buffered (small answers only). */
export function fetchBuffer(url, { method = 'GET', headers = {}, body, ca, agent = false } = {}) {
  const target = new URL(url);
  const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send(target, { method, headers, ca, agent }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Gateway credentials for `serviceAccount` (an `issuer: local` account) via an unsigned STS form POST. */
export async function gatewayCredentials({ gatewayUrl, keys, serviceAccount, roleArn, ca, agent }) {
  const token = mintLocalToken(keys, { serviceAccount, ttlMs: 3_600_000, now: new Date() });
  const form = new URLSearchParams({
    Action: 'AssumeRoleWithWebIdentity',
    Version: '2011-06-15',
    RoleArn: roleArn,
    RoleSessionName: 'bench',
    WebIdentityToken: token,
  }).toString();
  const res = await fetchBuffer(`${gatewayUrl}/`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8', 'content-length': Buffer.byteLength(form) },
    body: form,
    ca,
    agent,
  });
  const text = res.body.toString('utf8');
  const field = (name) => new RegExp(`<${name}>([^<]+)</${name}>`).exec(text)?.[1];
  if (res.status !== 200 || !field('AccessKeyId')) throw new Error(`AssumeRoleWithWebIdentity at the gateway answered ${res.status}: ${text.slice(0, 300)}`);
  return { accessKeyId: field('AccessKeyId'), secretAccessKey: field('SecretAccessKey'), sessionToken: field('SessionToken') };
}

/**
 * A SigV4-signed S3 request (path style) for `baseUrl`, as autocannon wants it: { method, path, headers, body }.
 * Signed now: x-amz-date must stay within the gateway's 15-minute skew window, so sign just before a run.
 */
export function signS3({ baseUrl, method, path, credentials, body, payloadHash = UNSIGNED_PAYLOAD, headers = {}, region = 'us-east-1', now = new Date() }) {
  const signed = signOutgoingRequest({
    method,
    url: new URL(path, baseUrl),
    rawPath: path,
    headers,
    region,
    service: 's3',
    credentials,
    payloadHash,
    now,
  });
  return body === undefined ? { method, path, headers: signed.headers } : { method, path, headers: signed.headers, body };
}
