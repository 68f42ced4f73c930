// The witness off the box: checkpoints published as C2SP signed notes to a directory or an HTTP endpoint, and a file
// checked against them — catching a rewrite re-signed with the gateway's own key, and a cut.

import { createHash, createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { digestPayloadBytes, sha256Hex } from '../../src/recording/chain.js';
import { Recorder } from '../../src/recording/recorder.js';
import { verifyBytes, type VerifyOk } from '../../src/recording/verify.js';
import { checkAgainstWitness, directoryWitness, httpWitness, openCheckpoint, signCheckpoint, WitnessPublisher, type WitnessStore } from '../../src/recording/witness.js';
import { call, makeKeys, started, T0, tempDir, type TestKeys } from './helpers.js';

let keys: TestKeys;
let privateKey: KeyObject;

async function recordWith(store: WitnessStore): Promise<{ lines: string[]; publisher: WitnessPublisher }> {
  const dir = await tempDir();
  const publisher = new WitnessPublisher({ store, keyName: keys.signer.kid, privateKey, flushMs: 1, retryBaseMs: 1 });
  const rec = new Recorder({
    stateDir: dir, signer: keys.signer, gatewayVersion: 't', now: () => new Date(T0), checkpointEvery: { events: 5, ms: 3_600_000 },
    onDigest: (id, digest) => publisher.publish(id, digest),
  });
  rec.record(started('s1'));
  for (let n = 1; n <= 4; n += 1) for (const e of call('s1', n)) rec.record(e);
  await rec.closeSession('s1', 'revoked');
  await rec.close();
  await publisher.flush();
  const text = await readFile(join(dir, 'sessions', '2030-01-02', 's1.jsonl'), 'utf8');
  return { lines: text.split('\n').slice(0, -1), publisher };
}

const bytes = (lines: string[]): Buffer => Buffer.from(`${lines.join('\n')}\n`);

async function verified(lines: string[]): Promise<VerifyOk> {
  const result = await verifyBytes(bytes(lines), keys.publicJwk);
  if (!result.ok) throw new Error(`fixture does not verify: ${result.message}`);
  return result;
}

/** What an intruder holding the gateway key does: edit a line, re-chain, re-sign every digest after it. */
async function rewrite(lines: string[], index: number, from: string, to: string): Promise<string[]> {
  const out: string[] = [];
  let prev: string | null = null;
  for (const [i, raw] of lines.entries()) {
    const line = JSON.parse(i === index ? raw.replace(from, to) : raw) as Record<string, unknown>;
    line.prev = prev;
    if (line.type === 'digest') {
      line.lastHash = prev;
      line.signature = await keys.signer.sign(digestPayloadBytes({ sessionId: 's1', lastHash: prev!, count: line.count as number, from: line.from as string, to: line.to as string }));
    }
    const text = JSON.stringify(line);
    out.push(text);
    prev = sha256Hex(text);
  }
  return out;
}

beforeAll(async () => {
  keys = await makeKeys('gw-1');
  privateKey = createPrivateKey({ key: keys.privateJwk as import('node:crypto').JsonWebKey, format: 'jwk' });
});

describe('checkpoint notes (C2SP signed-note)', () => {
  it('writes body, blank line, and an em-dash signature line whose key id is SHA-256(SPKI)[:4]', () => {
    const note = signCheckpoint({ sessionId: 's1', count: 7, lastHash: 'ab'.repeat(32), kind: 'checkpoint', from: 'a', to: 'b' }, 'gw-1', privateKey);
    const [body, signatures] = note.split('\n\n');
    expect(body).toBe(`portcullis/session/s1\n7\n${Buffer.from('ab'.repeat(32), 'hex').toString('base64')}\nkind checkpoint\nfrom a\nto b`);
    expect(signatures).toMatch(/^\u2014 gw-1 [A-Za-z0-9+/=]+\n$/);
    const raw = Buffer.from(signatures!.trim().split(' ')[2]!, 'base64');
    const spki = createPublicKey(privateKey).export({ type: 'spki', format: 'der' });
    expect(raw.subarray(0, 4)).toEqual(createHash('sha256').update(spki).digest().subarray(0, 4));
    expect(openCheckpoint(note, keys.publicJwk)).toEqual({ sessionId: 's1', count: 7, lastHash: 'ab'.repeat(32), kind: 'checkpoint', from: 'a', to: 'b' });
  });

  it('refuses a note whose body was changed or that another key signed', async () => {
    const note = signCheckpoint({ sessionId: 's1', count: 7, lastHash: 'ab'.repeat(32), kind: 'checkpoint', from: 'a', to: 'b' }, 'gw-1', privateKey);
    expect(openCheckpoint(note.replace('\n7\n', '\n8\n'), keys.publicJwk)).toBeUndefined();
    expect(openCheckpoint(note, (await makeKeys('gw-1')).publicJwk)).toBeUndefined();
  });
});

describe('a directory witness', () => {
  let dir: string;
  let lines: string[];
  beforeAll(async () => {
    dir = await tempDir('portcullis-witness-');
    ({ lines } = await recordWith(directoryWitness(dir)));
  });

  it('holds one note per signed digest', async () => {
    const digests = lines.filter((l) => (JSON.parse(l) as { type: string }).type === 'digest');
    expect((await readdir(join(dir, 's1'))).length).toBe(digests.length);
  });

  it('confirms an intact file', async () => {
    const check = await checkAgainstWitness(directoryWitness(dir), await verified(lines), keys.publicJwk);
    expect(check).toMatchObject({ checked: 3, confirmedLines: 16, ignored: 0, message: `the witness ${dir} confirms lines 1–16` });
    expect(check.verdict).toBeUndefined();
  });

  it('catches a rewrite re-signed with the gateway key (which verify alone accepts)', async () => {
    const forged = await rewrite(lines, 2, '"effect":"allow"', '"effect":"deny"');
    const result = await verified(forged);
    expect(result.closed).toBe(true);
    expect(await checkAgainstWitness(directoryWitness(dir), result, keys.publicJwk)).toMatchObject({
      verdict: 'tampered',
      message: expect.stringMatching(/^lines 1–6 differ from what the witness .* received at .*: the file was rewritten \(and re-signed\) after the fact$/),
    });
  });

  it('catches a cut at a checkpoint: the witness holds a later digest', async () => {
    const cut = lines.slice(0, 7);
    expect(await checkAgainstWitness(directoryWitness(dir), await verified(cut), keys.publicJwk)).toMatchObject({
      verdict: 'truncated', confirmedLines: 6, message: expect.stringMatching(/holds a checkpoint digest over 12 lines .*; the file has only 7$/),
    });
  });

  it('never replaces a note already there', async () => {
    const store = directoryWitness(dir);
    const [name] = await readdir(join(dir, 's1'));
    await store.put('s1', name!, 'forged');
    expect(await readFile(join(dir, 's1', name!), 'utf8')).not.toBe('forged');
  });
});

describe('an HTTP witness', () => {
  let server: Server;
  let url: string;
  const held = new Map<string, Map<string, string>>();
  beforeAll(async () => {
    server = createServer((req, res) => {
      const parts = (req.url ?? '').split('/').filter(Boolean).map(decodeURIComponent).slice(1);
      if (req.method === 'PUT' && parts.length === 2) {
        let body = '';
        req.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
        req.on('end', () => {
          const notes = held.get(parts[0]!) ?? new Map<string, string>();
          held.set(parts[0]!, notes);
          if (notes.has(parts[1]!)) return res.writeHead(409).end();
          notes.set(parts[1]!, body);
          res.writeHead(201).end();
        });
        return;
      }
      if (req.method === 'GET' && parts.length === 1) {
        const notes = held.get(parts[0]!);
        if (!notes) return res.writeHead(404).end();
        return res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ notes: [...notes.values()] }));
      }
      res.writeHead(400).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/witness`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('receives every checkpoint and confirms the file, or catches the rewrite', async () => {
    const { lines } = await recordWith(httpWitness(url));
    expect(held.get('s1')?.size).toBe(3);
    expect(await checkAgainstWitness(httpWitness(url), await verified(lines), keys.publicJwk)).toMatchObject({ checked: 3, confirmedLines: 16 });
    const forged = await rewrite(lines, 10, '"status":200', '"status":404');
    expect(await checkAgainstWitness(httpWitness(url), await verified(forged), keys.publicJwk)).toMatchObject({ verdict: 'tampered' });
  });

  it('an unreachable witness drops and counts checkpoints; recording goes on', async () => {
    const errors: string[] = [];
    const publisher = new WitnessPublisher({ store: httpWitness('http://127.0.0.1:1/x', 200), keyName: 'gw-1', privateKey, retries: 1, retryBaseMs: 1, flushMs: 1, onError: (e) => errors.push(e.message) });
    const { lines } = await recordWith(directoryWitness(await tempDir()));
    const digest = JSON.parse(lines.at(-1)!) as Parameters<WitnessPublisher['publish']>[1];
    publisher.publish('s1', digest);
    await publisher.flush();
    expect(publisher.dropped()).toBe(1);
    expect(errors[0]).toMatch(/^witness http:\/\/127\.0\.0\.1:1\/x: 1 item dropped \(1 in all\): sending failed 2 times/);
  });
});
