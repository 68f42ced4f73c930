import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  addRevocation,
  forgetIndex,
  isRevoked,
  listRevocations,
  listSessions,
  rebuildIndex,
  type IndexData,
  type RevocationRecord,
} from '../../src/recording/index-db.js';
import { Recorder } from '../../src/recording/recorder.js';
import { resolveStateDir } from '../../src/recording/paths.js';
import { call, iso, makeKeys, started, T0, tempDir } from './helpers.js';

async function recordThree(dir: string): Promise<void> {
  const { signer } = await makeKeys();
  const rec = new Recorder({ stateDir: dir, signer, gatewayVersion: 't', now: () => new Date(T0) });
  rec.record(started('closed-1', iso(0)));
  rec.record(started('open-1', iso(1000), iso(7_200_000)));
  rec.record(started('short-1', iso(2000), iso(60_000)));
  for (const e of call('closed-1', 1)) rec.record(e);
  for (const e of call('open-1', 2, { effect: 'deny' })) rec.record(e);
  for (const e of call('open-1', 3)) rec.record(e);
  rec.record({ type: 'session.revoked', at: iso(5000), sessionId: 'closed-1', by: 'alice' });
  await rec.close();
  forgetIndex(dir);
}

describe('session index', () => {
  it('lists sessions newest first with counts, and only live ones with active', async () => {
    const dir = await tempDir();
    await recordThree(dir);
    const all = await listSessions(dir, { now: new Date(T0 + 120_000) });
    expect(all.map((s) => [s.id, s.active, s.revoked, s.counts])).toEqual([
      ['short-1', false, false, { calls: 0, allowed: 0, denied: 0, approvals: 0 }],
      ['open-1', true, false, { calls: 2, allowed: 1, denied: 1, approvals: 0 }],
      ['closed-1', false, true, { calls: 1, allowed: 1, denied: 0, approvals: 0 }],
    ]);
    expect(all[1]).toMatchObject({ file: join('sessions', '2030-01-02', 'open-1.jsonl'), start: iso(1000), expiresAt: iso(7_200_000), serviceAccount: 'billing-job' });
    expect(all[2]).toMatchObject({ end: expect.any(String), endReason: 'revoked' });
    expect((await listSessions(dir, { active: true, now: new Date(T0 + 120_000) })).map((s) => s.id)).toEqual(['open-1']);
  });

  it('is rebuilt from the session files when db.json is missing', async () => {
    const dir = await tempDir();
    await recordThree(dir);
    const before = JSON.parse(await readFile(join(dir, 'db.json'), 'utf8')) as IndexData;
    await rm(join(dir, 'db.json'));
    expect(await listSessions(dir, { now: new Date(T0) })).toHaveLength(3);
    const after = JSON.parse(await readFile(join(dir, 'db.json'), 'utf8')) as IndexData;
    const byId = (d: IndexData) => [...d.sessions].sort((a, b) => a.id.localeCompare(b.id));
    expect(byId(after)).toEqual(byId(before));
    expect(after.revocations).toEqual(before.revocations);
  });

  it.each([
    ['not JSON', '{"version":1,"sessions":['],
    ['the wrong shape', '{"hello":"world"}'],
  ])('is rebuilt when db.json is %s, keeping the corrupt file aside', async (_, content) => {
    const dir = await tempDir();
    await recordThree(dir);
    await writeFile(join(dir, 'db.json'), content);
    expect((await listSessions(dir, { now: new Date(T0) })).map((s) => s.id).sort()).toEqual(['closed-1', 'open-1', 'short-1']);
    const names = await readdir(dir);
    const aside = names.find((n) => n.startsWith('db.json.corrupt-'));
    expect(aside).toBeDefined();
    expect(await readFile(join(dir, aside!), 'utf8')).toBe(content);
  });

  it('rebuildIndex recovers revocations from the recordings', async () => {
    const dir = await tempDir();
    await recordThree(dir);
    const data = await rebuildIndex(dir);
    expect(data.revocations).toEqual([{ sessionId: 'closed-1', by: 'alice', at: iso(5000) }]);
  });

  it('persists revocations once each, across restarts', async () => {
    const dir = await tempDir();
    await addRevocation(dir, { sessionId: 'abc', by: 'bob', reason: 'leaked', at: iso(0) });
    await addRevocation(dir, { sessionId: 'abc', by: 'bob', at: iso(10) });
    await addRevocation(dir, { serviceAccount: 'ci', by: 'bob', at: iso(20) });
    forgetIndex(dir);
    expect(await listRevocations(dir)).toEqual([
      { sessionId: 'abc', by: 'bob', reason: 'leaked', at: iso(0) },
      { serviceAccount: 'ci', by: 'bob', at: iso(20) },
    ]);
    await expect(addRevocation(dir, { by: 'bob', at: iso(0) })).rejects.toThrow(/names a sessionId or a serviceAccount/);
  });

  const revocations: RevocationRecord[] = [
    { sessionId: 's1', by: 'a', at: iso(0) },
    { serviceAccount: 'ci', by: 'a', at: iso(5000) },
  ];
  it.each([
    ['the revoked session', { sessionId: 's1', serviceAccount: 'x', issuedAt: iso(99_999) }, true],
    ['another session', { sessionId: 's2', serviceAccount: 'x', issuedAt: iso(0) }, false],
    ['an account session issued before the account revocation', { sessionId: 's3', serviceAccount: 'ci', issuedAt: iso(4000) }, true],
    ['an account session issued after it', { sessionId: 's4', serviceAccount: 'ci', issuedAt: iso(6000) }, false],
  ])('isRevoked: %s → %s', (_, session, expected) => {
    expect(isRevoked(revocations, session)).toBe(expected);
  });
});

describe('resolveStateDir', () => {
  it.each([
    ['--state-dir wins', '/tmp/a', { PORTCULLIS_STATE_DIR: '/tmp/b' }, '/tmp/a'],
    ['then $PORTCULLIS_STATE_DIR', undefined, { PORTCULLIS_STATE_DIR: '/tmp/b' }, '/tmp/b'],
    ['relative paths become absolute', 'rel', {}, join(process.cwd(), 'rel')],
  ] as const)('%s', (_, opt, env, expected) => {
    expect(resolveStateDir(opt, env)).toBe(expected);
  });
  it('defaults to ~/.portcullis', () => {
    expect(resolveStateDir(undefined, {})).toMatch(/\/\.portcullis$/);
  });
});
