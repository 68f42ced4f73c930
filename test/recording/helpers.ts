// Shared fixtures for the recording tests: an ES256 key pair made with jose, and gateway events.

import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CompactSign, exportJWK, generateKeyPair, type JWK } from 'jose';
import type { GatewayEvent } from '../../src/events.js';
import type { DigestSigner } from '../../src/recording/session-batch.js';

export interface TestKeys {
  signer: DigestSigner;
  publicJwk: JWK;
  privateJwk: JWK;
}

export async function makeKeys(kid = 'test-key-1'): Promise<TestKeys> {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg: 'ES256' };
  const privateJwk = { ...(await exportJWK(privateKey)), kid, alg: 'ES256' };
  return {
    publicJwk,
    privateJwk,
    signer: { kid, sign: (payload) => new CompactSign(payload).setProtectedHeader({ alg: 'ES256', kid }).sign(privateKey) },
  };
}

export function tempDir(prefix = 'portcullis-rec-'): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

export const T0 = Date.parse('2030-01-02T03:04:05.000Z');
export const iso = (offsetMs: number): string => new Date(T0 + offsetMs).toISOString();

export function started(sessionId: string, at = iso(0), expiresAt = iso(3_600_000)): GatewayEvent {
  return {
    type: 'session.started',
    at,
    sessionId,
    serviceAccount: 'billing-job',
    issuer: 'https://idp.example',
    subject: 'system:serviceaccount:billing',
    claims: { aud: 'portcullis', email: '[masked]' },
    roleArn: 'arn:aws:iam::123456789012:role/billing',
    sourceIp: '10.0.0.7',
    userAgent: 'aws-sdk-js/3',
    expiresAt,
    policySha256: 'a'.repeat(64),
  };
}

/** request, decision and response events of one call. */
export function call(sessionId: string, n: number, options: { offsetMs?: number; effect?: 'allow' | 'deny'; action?: string } = {}): GatewayEvent[] {
  const at = iso(options.offsetMs ?? n * 1000);
  const effect = options.effect ?? 'allow';
  const action = options.action ?? 's3:GetObject';
  const [service] = action.split(':') as [string];
  const requestId = `${sessionId}-r${n}`;
  const resource = `arn:aws:s3:::bucket/key-${n}`;
  const base = { sessionId, requestId, serviceAccount: 'billing-job', action, resource };
  return [
    { type: 'request', at, ...base, service, region: 'eu-west-1', params: { Bucket: 'bucket', Key: `key-${n}` }, sourceIp: '10.0.0.7' },
    { type: 'decision', at, ...base, effect, ruleId: effect === 'allow' ? 'read-billing' : 'default-deny' },
    {
      type: 'response',
      at: iso((options.offsetMs ?? n * 1000) + 25),
      ...base,
      status: effect === 'allow' ? 200 : 403,
      ...(effect === 'allow' ? {} : { errorCode: 'AccessDenied' }),
      bytes: 42,
      durationMs: 25,
      bodyExcerpt: effect === 'allow' ? 'hello' : '<Error><Code>AccessDenied</Code></Error>',
    },
  ];
}
