// `portcullis verify | replay | export` run as real processes against a state dir recorded in-process.

import { execFile } from 'node:child_process';
import { appendFile, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { forgetIndex } from '../../src/recording/index-db.js';
import { createPrivateKey } from 'node:crypto';
import { digestPayloadBytes, sha256Hex } from '../../src/recording/chain.js';
import { Recorder } from '../../src/recording/recorder.js';
import { directoryWitness, WitnessPublisher } from '../../src/recording/witness.js';
import { ensureBuilt, ROOT } from '../recording/build.js';
import { call, iso, makeKeys, started, T0, tempDir, type TestKeys } from '../recording/helpers.js';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function portcullis(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [join(ROOT, 'bin', 'portcullis.js'), ...args], { env: { ...process.env, ...env }, cwd: ROOT }, (error, stdout, stderr) => {
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

let keys: TestKeys;
let stateDir: string;
const fileOf = (id: string): string => join(stateDir, 'sessions', '2030-01-02', `${id}.jsonl`);

beforeAll(async () => {
  ensureBuilt();
  keys = await makeKeys('gw-cli');
  stateDir = await tempDir('portcullis-cli-');
  await mkdir(join(stateDir, 'keys'), { recursive: true });
  await writeFile(join(stateDir, 'keys', 'signing-key.pub.json'), JSON.stringify({ ...keys.publicJwk, alg: 'ES256' }));
  const rec = new Recorder({ stateDir, signer: keys.signer, gatewayVersion: 't', now: () => new Date(T0) });
  rec.record(started('closed', iso(0)));
  rec.record(started('open', iso(60_000), iso(9_000_000)));
  rec.record(started('later', iso(7_200_000), iso(9_000_000)));
  for (let n = 1; n <= 3; n += 1) for (const e of call('closed', n)) rec.record(e);
  for (const e of call('open', 4, { effect: 'deny' })) rec.record(e);
  for (const e of call('later', 5, { offsetMs: 7_201_000 })) rec.record(e);
  await rec.closeSession('closed', 'revoked');
  await rec.close();
  forgetIndex(stateDir);
}, 120_000);

describe('portcullis verify', () => {
  it('exits 0 for an intact closed session named by id', async () => {
    const run = await portcullis(['verify', 'closed', '--state-dir', stateDir]);
    expect(run).toMatchObject({ code: 0, stderr: '' });
    expect(run.stdout).toBe(`ok: ${fileOf('closed')}: 12 lines, closed, every line covered by the final digest signed by gw-cli\n`);
  });

  it('exits 3 for an open session, 0 with --allow-open; takes a file path and $PORTCULLIS_STATE_DIR', async () => {
    const run = await portcullis(['verify', fileOf('open')], { PORTCULLIS_STATE_DIR: stateDir });
    expect(run).toMatchObject({ code: 3, stdout: '' });
    expect(run.stderr).toBe(`portcullis: ${fileOf('open')}: open: open session: lines 1–5 proven (signed by gw-cli); it ends at a signed checkpoint, but without a final digest nothing shows it was not cut there\n`);
    const allowed = await portcullis(['verify', fileOf('open'), '--allow-open'], { PORTCULLIS_STATE_DIR: stateDir });
    expect(allowed).toMatchObject({ code: 0, stderr: '' });
    expect(allowed.stdout).toMatch(/^ok \(--allow-open\): .*open\.jsonl: open session: lines 1–5 proven/);
  });

  it('exits 4 for a truncated copy of a closed session (the index knows it ended)', async () => {
    const dir = await tempDir();
    const cut = join(dir, 'cut.jsonl');
    await writeFile(cut, (await readFile(fileOf('closed'), 'utf8')).split('\n').slice(0, 5).join('\n') + '\n');
    const run = await portcullis(['verify', cut, '--allow-open', '--state-dir', stateDir]);
    expect(run.code).toBe(4);
    expect(run.stderr).toBe(`portcullis: ${cut}: truncated: line 6: truncated: the session was closed but the file ends before its final digest\n`);
  });

  it('verifies an exported JSONL file of several sessions as it verifies each by id', async () => {
    const dir = await tempDir();
    const out = join(dir, 'all.jsonl');
    expect((await portcullis(['export', '--all', '-o', out, '--state-dir', stateDir])).code).toBe(0);
    const run = await portcullis(['verify', out, '--state-dir', stateDir]);
    expect(run.code).toBe(3);
    expect(run.stdout).toMatch(/^ok: .*all\.jsonl \[closed\]: 12 lines, closed/m);
    expect(run.stderr).toMatch(/^open: .*all\.jsonl \[open\]: open session/m);
    expect(run.stderr).toMatch(/2 of 3 recordings fail verification \(worst: open\)\n$/);
    expect((await portcullis(['verify', out, '--allow-open', '--state-dir', stateDir])).code).toBe(0);
  });

  it('exits 5 naming the first bad line and why', async () => {
    const dir = await tempDir();
    const text = await readFile(fileOf('closed'), 'utf8');
    const tampered = join(dir, 'tampered.jsonl');
    await writeFile(tampered, text.replace('"status":200', '"status":500'));
    const run = await portcullis(['verify', tampered, '--state-dir', stateDir]);
    expect(run.code).toBe(5);
    expect(run.stdout).toBe('');
    expect(run.stderr).toBe(`portcullis: ${tampered}: tampered: line 4: edited: line 4 was changed after it was written (line 5 holds a different hash of it)\n`);
  });

  it('prints the result as JSON with --json', async () => {
    const run = await portcullis(['verify', 'closed', '--json', '--state-dir', stateDir]);
    expect(JSON.parse(run.stdout)).toMatchObject({ file: fileOf('closed'), verdict: 'closed', exitCode: 0, sessions: [{ sessionId: 'closed', verdict: 'closed', ok: true, lines: 12, closed: true, kid: 'gw-cli' }] });
  });

  it('with --allow-open, exits 0 with a warning when the only defect is a torn last line', async () => {
    const dir = await tempDir();
    const torn = join(dir, 'torn.jsonl');
    await writeFile(torn, await readFile(fileOf('open')));
    await appendFile(torn, '{"seq":5,"prev":"0f');
    const run = await portcullis(['verify', torn, '--allow-open', '--state-dir', stateDir]);
    expect(run.code).toBe(0);
    expect(run.stderr).toBe('warning: line 6: last line truncated (crash?); verified up to line 5\n');
  });

  it('prints the public key as JWK and PEM with --key', async () => {
    const run = await portcullis(['verify', '--key', '--state-dir', stateDir]);
    expect(run.code).toBe(0);
    const [json, pem] = run.stdout.split('}\n');
    expect(JSON.parse(`${json}}`)).toMatchObject({ kty: 'EC', crv: 'P-256', kid: 'gw-cli' });
    expect(pem).toMatch(/^-----BEGIN PUBLIC KEY-----\n[\s\S]+\n-----END PUBLIC KEY-----\n$/);
  });

  it.each([
    [['verify', 'nope'], 1, /unknown session "nope" \(no such file, and no recording with that id in /],
    [['verify', './missing.jsonl'], 1, /\.\/missing\.jsonl: no such file/],
    [['verify'], 2, /verify: name a session id or a recording file/],
  ])('%j exits %i with one line', async (args, code, message) => {
    const run = await portcullis([...args, '--state-dir', stateDir]);
    expect(run.code).toBe(code);
    expect(run.stderr).toMatch(message);
    expect(run.stderr.trimEnd().split('\n')).toHaveLength(1);
  });

  it('--witness: exits 5 for a file rewritten and re-signed with the gateway key, 0 when the witness agrees', async () => {
    const witnessDir = await tempDir('portcullis-witness-');
    const dir = await tempDir('portcullis-cli-w-');
    await mkdir(join(dir, 'keys'), { recursive: true });
    await writeFile(join(dir, 'keys', 'signing-key.pub.json'), JSON.stringify(keys.publicJwk));
    const privateKey = createPrivateKey({ key: keys.privateJwk as import('node:crypto').JsonWebKey, format: 'jwk' });
    const publisher = new WitnessPublisher({ store: directoryWitness(witnessDir), keyName: 'gw-cli', privateKey, flushMs: 1 });
    const rec = new Recorder({ stateDir: dir, signer: keys.signer, gatewayVersion: 't', now: () => new Date(T0), onDigest: (id, d) => publisher.publish(id, d) });
    rec.record(started('w', iso(0)));
    for (const e of call('w', 1)) rec.record(e);
    await rec.closeSession('w', 'revoked');
    await rec.close();
    await publisher.flush();
    const file = join(dir, 'sessions', '2030-01-02', 'w.jsonl');
    expect((await portcullis(['verify', file, '--witness', witnessDir, '--state-dir', dir])).stdout).toMatch(/closed, every line covered by the final digest signed by gw-cli; the witness .* confirms lines 1–5\n$/);
    // Rewrite the response and re-sign, as an intruder holding the key on the box would.
    const lines = (await readFile(file, 'utf8')).split('\n').slice(0, -1);
    let prev: string | null = null;
    const forged: string[] = [];
    for (const [i, raw] of lines.entries()) {
      const line = JSON.parse(i === 3 ? raw.replace('"status":200', '"status":500') : raw) as Record<string, unknown>;
      line.prev = prev;
      if (line.type === 'digest') {
        line.lastHash = prev;
        line.signature = await keys.signer.sign(digestPayloadBytes({ sessionId: 'w', lastHash: prev!, count: line.count as number, from: line.from as string, to: line.to as string }));
      }
      forged.push(JSON.stringify(line));
      prev = sha256Hex(forged.at(-1)!);
    }
    await writeFile(file, `${forged.join('\n')}\n`);
    expect((await portcullis(['verify', file, '--state-dir', dir])).code).toBe(0);
    const run = await portcullis(['verify', file, '--witness', witnessDir, '--state-dir', dir]);
    expect(run.code).toBe(5);
    expect(run.stderr).toMatch(/: tampered: lines 1–5 differ from what the witness .* received at .*: the file was rewritten \(and re-signed\) after the fact\n$/);
  });

  it('documents its exit codes in --help', async () => {
    const run = await portcullis(['verify', '--help']);
    expect(run.code).toBe(0);
    for (const code of ['0  intact and closed', '1  could not check', '3  intact but open', '4  truncated', '5  tampered']) expect(run.stdout).toContain(code);
  });

  it('exits 1 when the state dir has no public key', async () => {
    const run = await portcullis(['verify', fileOf('closed'), '--state-dir', await tempDir()]);
    expect(run).toMatchObject({ code: 1 });
    expect(run.stderr).toMatch(/no gateway public key at .*signing-key\.pub\.json/);
  });
});

describe('portcullis replay', () => {
  it('prints the timeline as plain text when stdout is not a TTY', async () => {
    const run = await portcullis(['replay', 'closed', '--state-dir', stateDir]);
    expect(run.code).toBe(0);
    const lines = run.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(12);
    expect(lines[0]).toMatch(/^\+00:00\.000  session closed started: billing-job/);
    expect(lines[1]).toBe('+00:01.000  → s3:GetObject arn:aws:s3:::bucket/key-1 (eu-west-1) [closed-r1] {"Bucket":"bucket","Key":"key-1"}');
    expect(lines[3]).toBe('+00:01.025  ← 200 42 B in 25 ms [closed-r1]');
    expect(lines[10]).toBe('+00:03.025  session ended (revoked)');
  });

  it.each([['0'], ['-1'], ['fast']])('refuses --speed %s', async (speed) => {
    const run = await portcullis(['replay', 'closed', '--speed', speed, '--state-dir', stateDir]);
    expect(run.code).toBe(2);
    expect(run.stderr).toBe(`portcullis: --speed: "${speed}" is not a positive number\n`);
  });
});

describe('portcullis export', () => {
  it('writes JSONL exactly as stored', async () => {
    const run = await portcullis(['export', 'closed', '--state-dir', stateDir]);
    expect(run.code).toBe(0);
    expect(run.stdout).toBe(await readFile(fileOf('closed'), 'utf8'));
  });

  it('writes HAR to a private file with -o', async () => {
    const out = join(await tempDir(), 'closed.har');
    const run = await portcullis(['export', 'closed', '--format', 'har', '-o', out, '--state-dir', stateDir]);
    expect(run.code).toBe(0);
    expect(run.stdout).toBe(`exported 1 session as har to ${out}\n`);
    expect((await stat(out)).mode & 0o777).toBe(0o600);
    const har = JSON.parse(await readFile(out, 'utf8')) as { log: { version: string; entries: unknown[] } };
    expect(har.log.version).toBe('1.2');
    expect(har.log.entries).toHaveLength(3);
  });

  it('exports every session as OCSF, or those started since a time', async () => {
    const all = await portcullis(['export', '--all', '--format', 'ocsf', '--state-dir', stateDir]);
    expect(all.code).toBe(0);
    const events = all.stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as { class_uid: number; actor: { session: { uid: string } } });
    expect(events.map((e) => e.actor.session.uid)).toEqual(['closed', 'closed', 'closed', 'open', 'later']);
    expect(events.every((e) => e.class_uid === 6003)).toBe(true);

    const since = await portcullis(['export', '--all', '--since', iso(30_000), '--format', 'ocsf', '--state-dir', stateDir]);
    expect(since.stdout.trimEnd().split('\n').map((l) => (JSON.parse(l) as { actor: { session: { uid: string } } }).actor.session.uid)).toEqual(['open', 'later']);

    // A duration counts back from now; the fixtures start in 2030, so all of them are within "the last 24 hours".
    const recent = await portcullis(['export', '--all', '--since', '24h', '--format', 'jsonl', '--state-dir', stateDir]);
    expect(recent.code).toBe(0);
    const stored = await Promise.all(['closed', 'open', 'later'].map((id) => readFile(fileOf(id), 'utf8')));
    expect(recent.stdout).toBe(stored.join(''));
  });

  it.each([
    [['export', '--format', 'jsonl'], 2, 'portcullis: export: name a session (id or file) or use --all\n'],
    [['export', 'closed', '--all'], 2, 'portcullis: export: give a session or --all, not both\n'],
    [['export', 'closed', '--since', '1h'], 2, 'portcullis: export: --since only goes with --all\n'],
    [['export', '--all', '--since', 'yesterday'], 2, 'portcullis: --since: "yesterday" is not a time (ISO 8601, e.g. 2030-01-02T03:04:05Z) or a duration (30m, 24h, 7d)\n'],
    [['export', 'ghost'], 1, /^portcullis: unknown session "ghost"/],
  ] as const)('%j exits %i with one line', async (args, code, message) => {
    const run = await portcullis([...args, '--state-dir', stateDir]);
    expect(run.code).toBe(code);
    if (typeof message === 'string') expect(run.stderr).toBe(message);
    else expect(run.stderr).toMatch(message);
  });
});
