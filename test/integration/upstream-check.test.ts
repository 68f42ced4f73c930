// Fail at start, not at the first call: the gateway checks its own AWS credentials against the upstream
// (sts:GetCallerIdentity) before it reports `listening`, and says what is wrong. Against moto with auth on.

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { EventBus, type GatewayEvent } from '../../src/events.js';
import { Gateway } from '../../src/gateway.js';
import { startMoto, type Moto } from '../fixtures/moto.js';

let moto: Moto;
let dir: string;

beforeAll(async () => {
  moto = await startMoto();
  dir = await mkdtemp(join(tmpdir(), 'portcullis-upstream-check-'));
}, 60_000);

afterAll(async () => {
  await moto?.close();
  await rm(dir, { recursive: true, force: true });
});

async function listeningWith(name: string, endpoint: string, baseCredentials: () => Promise<{ accessKeyId: string; secretAccessKey: string }>) {
  const policyFile = join(dir, `${name}.yaml`);
  await writeFile(policyFile, `version: 1\nupstream:\n  endpoint: ${endpoint}\n  region: us-east-1\nservice_accounts:\n  - name: checker\n    issuer: local\n    roles: ["${moto.roleArn('portcullis-test')}"]\nrules:\n  - id: r\n    effect: allow\n    actions: ["s3:GetObject"]\n`);
  const bus = new EventBus();
  const events: GatewayEvent[] = [];
  bus.subscribe((e) => events.push(e));
  const gateway = await Gateway.start({ policyFile, stateDir: join(dir, name), host: '127.0.0.1', port: 0, bus, version: 'test', baseCredentials, drainMs: 500 });
  await gateway.close();
  return events.find((e) => e.type === 'listening') as Extract<GatewayEvent, { type: 'listening' }>;
}

describe('the upstream check at start', () => {
  test('working credentials: the listening event names who the gateway is upstream', async () => {
    const listening = await listeningWith('ok', moto.endpoint, async () => ({ accessKeyId: moto.accessKeyId, secretAccessKey: moto.secretAccessKey }));
    expect(listening.upstream).toMatchObject({ sts: moto.endpoint, identity: expect.stringContaining(':user/portcullis-gateway') });
    expect(listening.upstream?.problem).toBeUndefined();
  });

  test('credentials the upstream refuses: the problem is in the listening event', async () => {
    const listening = await listeningWith('bad-keys', moto.endpoint, async () => ({ accessKeyId: 'AKIANOTAREALKEY00000', secretAccessKey: 'nope' }));
    expect(listening.upstream?.identity).toBeUndefined();
    expect(listening.upstream?.problem).toMatch(/GetCallerIdentity with the gateway's own credentials failed: \w+/);
  });

  test('no credentials at all: said at start', async () => {
    const listening = await listeningWith('no-creds', moto.endpoint, async () => {
      throw new Error('Could not load credentials from any providers');
    });
    expect(listening.upstream?.problem).toContain('the gateway has no AWS credentials of its own');
  });

  test('an upstream that does not answer: said at start, within the bound', async () => {
    const started = Date.now();
    const listening = await listeningWith('down', 'http://127.0.0.1:1', async () => ({ accessKeyId: moto.accessKeyId, secretAccessKey: moto.secretAccessKey }));
    expect(listening.upstream?.problem).toMatch(/GetCallerIdentity at http:\/\/127\.0\.0\.1:1 failed|no answer/);
    expect(Date.now() - started).toBeLessThan(10_000);
  });
});
