import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CompactSign, importJWK } from 'jose';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { digestPayloadBytes, sha256Hex } from '../../src/recording/chain.js';
import { Recorder } from '../../src/recording/recorder.js';
import { assess, verifyBytes, type VerifyFailureReason } from '../../src/recording/verify.js';
import { call, makeKeys, started, T0, tempDir, type TestKeys } from './helpers.js';

let keys: TestKeys;
let otherKeys: TestKeys;
let sameKidOtherKeys: TestKeys;
/** A closed session: header, 4 calls (12 lines), a checkpoint after every 5 events, end, final digest. */
let closedLines: string[];
/** The same session left open (close() only writes a checkpoint). */
let openLines: string[];

async function record(closeIt: boolean): Promise<string[]> {
  const dir = await tempDir();
  const rec = new Recorder({ stateDir: dir, signer: keys.signer, gatewayVersion: 't', now: () => new Date(T0), checkpointEvery: { events: 5, ms: 3_600_000 } });
  rec.record(started('s1'));
  for (let n = 1; n <= 4; n += 1) for (const e of call('s1', n)) rec.record(e);
  if (closeIt) await rec.closeSession('s1', 'revoked');
  await rec.close();
  const text = await readFile(join(dir, 'sessions', '2030-01-02', 's1.jsonl'), 'utf8');
  return text.split('\n').slice(0, -1);
}

const bytes = (lines: string[], tail = '\n'): Buffer => Buffer.from(lines.join('\n') + tail);

beforeAll(async () => {
  keys = await makeKeys('gw-1');
  otherKeys = await makeKeys('attacker');
  sameKidOtherKeys = await makeKeys('gw-1');
  closedLines = await record(true);
  openLines = await record(false);
});

/** Re-signs every digest of a file with another key, fixing up the chain, as a forger holding that key would. */
async function resignAll(lines: string[], signer: TestKeys['signer']): Promise<string[]> {
  const out: string[] = [];
  let prev: string | null = null;
  for (const raw of lines) {
    const line = JSON.parse(raw) as Record<string, unknown>;
    line.prev = prev;
    if (line.type === 'digest') {
      line.lastHash = prev;
      line.kid = signer.kid;
      line.signature = await signer.sign(
        digestPayloadBytes({ sessionId: 's1', lastHash: prev!, count: line.count as number, from: line.from as string, to: line.to as string }),
      );
    }
    const text = JSON.stringify(line);
    out.push(text);
    prev = sha256Hex(text);
  }
  return out;
}

describe('verifyBytes', () => {
  it('accepts an untouched closed session', async () => {
    expect(closedLines.map((l) => (JSON.parse(l) as { type: string }).type)).toEqual([
      'header', 'request', 'decision', 'response', 'request', 'decision', 'digest', 'response', 'request', 'decision', 'response',
      'request', 'digest', 'decision', 'response', 'end', 'digest',
    ]);
    const result = await verifyBytes(bytes(closedLines), keys.publicJwk);
    expect(result).toMatchObject({
      ok: true, lines: 17, sessionId: 's1', closed: true, digests: 3, kid: 'gw-1', lastDigestLine: 17, unsignedLines: 0, expiresAt: '2030-01-02T04:04:05.000Z', warnings: [],
    });
    expect(result.ok && result.lineHashes).toEqual(closedLines.map((l) => sha256Hex(l)));
  });

  it('accepts an untouched open session and counts the lines no digest covers yet', async () => {
    expect(await verifyBytes(bytes(openLines), keys.publicJwk)).toMatchObject({ ok: true, closed: false, unsignedLines: 0, warnings: [] });
    expect(await verifyBytes(bytes(openLines.slice(0, -1)), keys.publicJwk)).toMatchObject({ ok: true, closed: false, lastDigestLine: 13, unsignedLines: 2 });
  });

  it('accepts a torn last line after a crash with a warning', async () => {
    const torn = Buffer.concat([bytes(openLines), Buffer.from('{"seq":16,"prev":"12ab')]);
    expect(await verifyBytes(torn, keys.publicJwk)).toMatchObject({
      ok: true,
      lines: openLines.length,
      warnings: [`line ${openLines.length + 1}: last line truncated (crash?); verified up to line ${openLines.length}`],
    });
  });

  const edit = (lines: string[], index: number, from: string | RegExp, to: string): string[] =>
    lines.map((l, i) => (i === index ? l.replace(from, to) : l));
  const cases: Array<{ name: string; make: () => Promise<Buffer> | Buffer; line: number; reason: VerifyFailureReason; message: RegExp; expectClosed?: boolean }> = [
    { name: 'a request line edited', make: () => bytes(edit(closedLines, 2, '"effect":"allow"', '"effect":"deny"')), line: 3, reason: 'edited', message: /line 3 was changed/ },
    { name: 'the header edited', make: () => bytes(edit(closedLines, 0, 'billing-job', 'other-job')), line: 1, reason: 'edited', message: /line 1 was changed/ },
    { name: 'a line removed', make: () => bytes(closedLines.filter((_, i) => i !== 3)), line: 4, reason: 'removed', message: /1 line missing before this one \(seq 3\)/ },
    { name: 'two lines removed', make: () => bytes(closedLines.filter((_, i) => i !== 3 && i !== 4)), line: 4, reason: 'removed', message: /2 lines missing .*seq 3–4/ },
    {
      name: 'two lines swapped',
      make: () => bytes(closedLines.map((l, i) => (i === 2 ? closedLines[3]! : i === 3 ? closedLines[2]! : l))),
      line: 3,
      reason: 'reordered',
      message: /seq 3 comes before seq 2/,
    },
    { name: 'a line duplicated', make: () => bytes([...closedLines.slice(0, 3), closedLines[2]!, ...closedLines.slice(3)]), line: 4, reason: 'reordered', message: /seq 2 appears again/ },
    { name: 'the header moved', make: () => bytes([closedLines[1]!, closedLines[0]!, ...closedLines.slice(2)]), line: 1, reason: 'reordered', message: /header is on line 2/ },
    { name: 'the final digest cut off', make: () => bytes(closedLines.slice(0, -1)), line: 17, reason: 'truncated', message: /ends on line 16 but its final digest is missing/ },
    { name: 'the final digest line cut in half', make: () => bytes([...closedLines.slice(0, -1), closedLines.at(-1)!.slice(0, 40)], ''), line: 17, reason: 'truncated', message: /final digest is missing/ },
    { name: 'end and final digest cut off a session the index says is closed', make: () => bytes(closedLines.slice(0, -2)), line: 16, reason: 'truncated', message: /closed but the file ends before its final digest/, expectClosed: true },
    {
      name: 'a digest signature altered',
      make: () => bytes(closedLines.map((l, i) => (i === 6 ? l.replace(/(.)([^"]{20}"\}$)/, (_, c: string, rest: string) => (c === 'A' ? 'B' : 'A') + rest) : l))),
      line: 7,
      reason: 'bad-signature',
      message: /does not verify/,
    },
    {
      name: 'a digest signature taken from another digest',
      make: () => {
        const sig = (JSON.parse(closedLines[12]!) as { signature: string }).signature;
        return bytes(edit(closedLines, 6, /"signature":"[^"]*"/, `"signature":"${sig}"`));
      },
      line: 7,
      reason: 'bad-signature',
      message: /covers different content/,
    },
    { name: 'the final digest count edited', make: () => bytes(edit(closedLines, 16, '"count":16', '"count":15')), line: 17, reason: 'edited', message: /do not match the chain/ },
    { name: 'the final digest key id field edited', make: () => bytes(edit(closedLines, 16, '"kid":"gw-1"', '"kid":"gw-2"')), line: 17, reason: 'edited', message: /names key "gw-2"/ },
    { name: 'digests re-signed by another key', make: async () => bytes(await resignAll(closedLines, otherKeys.signer)), line: 7, reason: 'wrong-key', message: /signed by key "attacker", not by "gw-1"/ },
    { name: 'digests re-signed by another key using our key id', make: async () => bytes(await resignAll(closedLines, sameKidOtherKeys.signer)), line: 7, reason: 'bad-signature', message: /does not verify/ },
    { name: 'a line that is not JSON', make: () => bytes([...closedLines.slice(0, 2), 'hello', ...closedLines.slice(2)]), line: 3, reason: 'malformed', message: /not a JSON object/ },
    { name: 'a line appended after the final digest', make: () => bytes([...closedLines, closedLines[1]!]), line: 18, reason: 'malformed', message: /nothing may follow the final digest/ },
    { name: 'a torn line after the final digest', make: () => bytes(closedLines, '\n{"seq":17'), line: 18, reason: 'malformed', message: /nothing may follow the final digest/ },
    { name: 'an empty file', make: () => Buffer.alloc(0), line: 1, reason: 'malformed', message: /empty/ },
    { name: 'a torn header', make: () => Buffer.from(closedLines[0]!.slice(0, 30)), line: 1, reason: 'truncated', message: /header line is incomplete/ },
    { name: 'a first line that is not a header', make: () => bytes(closedLines.slice(1)), line: 1, reason: 'malformed', message: /not the header/ },
    { name: 'an unknown line type', make: () => bytes(edit(closedLines, 1, '"type":"request"', '"type":"note"')), line: 2, reason: 'malformed', message: /unknown line type "note"/ },
    {
      name: 'an unknown line type, chained properly',
      make: () => bytes([...openLines, JSON.stringify({ seq: openLines.length, prev: sha256Hex(openLines.at(-1)!), type: 'note', at: 'x' })]),
      line: 17,
      reason: 'malformed',
      message: /unknown line type "note"/,
    },
  ];

  it.each(cases)('detects $name (line $line, $reason)', async ({ make, line, reason, message, expectClosed }) => {
    const result = await verifyBytes(await make(), keys.publicJwk, expectClosed ? { expectClosed } : {});
    expect(result).toMatchObject({ ok: false, line, reason });
    expect(result.ok ? '' : result.message).toMatch(message);
  });

  it('reports a wrong key when checked with another gateway key', async () => {
    expect(await verifyBytes(bytes(closedLines), otherKeys.publicJwk)).toMatchObject({ ok: false, line: 7, reason: 'wrong-key' });
  });

  it('detects any single changed byte in a closed session', async () => {
    const original = bytes(closedLines);
    await fc.assert(
      fc.asyncProperty(fc.nat({ max: original.length - 2 }), fc.integer({ min: 1, max: 255 }), async (position, delta) => {
        const tampered = Buffer.from(original);
        tampered[position] = (tampered[position]! + delta) % 256;
        const result = await verifyBytes(tampered, keys.publicJwk);
        expect(result.ok).toBe(false);
      }),
      { numRuns: 300, examples: [[6121, 1]] },
    );
  });

  it('fails with an error for a key that is not an EC public key', async () => {
    await expect(verifyBytes(bytes(closedLines), { kty: 'oct', k: 'AAAA' })).rejects.toThrow(/not an EC P-256 public key/);
  });

  it('uses a real ES256 signature (sanity check of the fixture signer)', async () => {
    const jws = await keys.signer.sign(new TextEncoder().encode('x'));
    expect(jws.split('.')).toHaveLength(3);
    await expect(new CompactSign(new Uint8Array()).setProtectedHeader({ alg: 'ES256' }).sign(await importJWK(keys.privateJwk, 'ES256'))).resolves.toBeTypeOf('string');
  });
});

/** Re-chains lines from `from` on after an edit, as anyone who can write an open session's file could. */
function rechain(lines: string[], from: number): string[] {
  const out = lines.slice(0, from);
  let prev = sha256Hex(out.at(-1)!);
  for (const raw of lines.slice(from)) {
    const line = JSON.parse(raw) as Record<string, unknown>;
    line.prev = prev;
    const text = JSON.stringify(line);
    out.push(text);
    prev = sha256Hex(text);
  }
  return out;
}

describe('assess: what a file proves, and the exit code', () => {
  const during = { now: new Date(T0 + 60_000) };
  const afterExpiry = { now: new Date(T0 + 3_600_000 + 61_000) };

  it('closed: every line under the final digest (exit 0)', async () => {
    expect(assess(await verifyBytes(bytes(closedLines), keys.publicJwk), afterExpiry)).toEqual({
      verdict: 'closed', exitCode: 0, message: '17 lines, closed, every line covered by the final digest signed by gw-1',
    });
  });

  it('a truncated copy of a closed session is not ok: open (3) while it could be live, truncated (4) once expired', async () => {
    const cut = await verifyBytes(bytes(closedLines.slice(0, 5)), keys.publicJwk);
    expect(assess(cut, during)).toEqual({
      verdict: 'open', exitCode: 3,
      message: 'open session: no signed digest yet, so none of its 5 lines is proven (a hash chain alone can be recomputed by anyone who can write the file)',
    });
    expect(assess(cut, afterExpiry)).toMatchObject({ verdict: 'truncated', exitCode: 4, message: expect.stringMatching(/^the session expired at 2030-01-02T04:04:05.000Z but the file has no final digest/) });
    // --allow-open accepts a live session, never an expired one without its final digest.
    expect(assess(cut, { ...during, allowOpen: true })).toMatchObject({ verdict: 'open', exitCode: 0 });
    expect(assess(cut, { ...afterExpiry, allowOpen: true })).toMatchObject({ verdict: 'truncated', exitCode: 4 });
  });

  it('a cut right after a checkpoint is still open (3): nothing shows the session ended there', async () => {
    const cut = await verifyBytes(bytes(closedLines.slice(0, 7)), keys.publicJwk);
    expect(assess(cut, during)).toEqual({
      verdict: 'open', exitCode: 3,
      message: 'open session: lines 1–7 proven (signed by gw-1); it ends at a signed checkpoint, but without a final digest nothing shows it was not cut there',
    });
  });

  it('a deny turned into an allow after the last checkpoint, chain recomputed: the chain checks, but the tail is unproven (3)', async () => {
    const forged = rechain(openLines.slice(0, -1).map((l, i) => (i === 13 ? l.replace('"status":200', '"status":500') : l)), 13);
    const result = await verifyBytes(bytes(forged), keys.publicJwk);
    expect(result).toMatchObject({ ok: true, unsignedLines: 2 });
    expect(assess(result, during)).toEqual({
      verdict: 'open', exitCode: 3,
      message: 'open session: lines 1–13 proven (signed by gw-1); lines 14–15 come after the last signed digest and are unproven (a hash chain alone can be recomputed by anyone who can write the file)',
    });
  });

  it('the same edit before a signed checkpoint is tampered (5); a missing final digest is truncated (4)', async () => {
    const forged = rechain(closedLines.map((l, i) => (i === 3 ? l.replace('"status":200', '"status":500') : l)), 3);
    expect(assess(await verifyBytes(bytes(forged), keys.publicJwk), during)).toMatchObject({ verdict: 'tampered', exitCode: 5, message: 'line 7: edited: digest fields do not match the chain it covers' });
    expect(assess(await verifyBytes(bytes(closedLines.slice(0, -1)), keys.publicJwk), during)).toMatchObject({ verdict: 'truncated', exitCode: 4 });
    expect(assess(await verifyBytes(bytes(closedLines), keys.publicJwk, { expectClosed: true }), during)).toMatchObject({ verdict: 'closed' });
    expect(assess(await verifyBytes(bytes(openLines), keys.publicJwk, { expectClosed: true }), during)).toMatchObject({ verdict: 'truncated', exitCode: 4 });
  });
});
