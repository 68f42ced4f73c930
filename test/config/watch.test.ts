// Integration: a real directory watcher (fs.watch) on a temp directory, edited the way editors save files.
import { createHash } from 'node:crypto';
import { mkdtempSync, renameSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { EventBus, type GatewayEvent } from '../../src/events.js';
import { PolicyLoadError, PolicyWatcher } from '../../src/config/watch.js';
import { evaluate } from '../../src/policy/evaluate.js';

const policy = (effect: 'allow' | 'deny', extra = '') => `version: 1
rules:
  - id: reads
    effect: ${effect}
    actions: ["s3:GetObject"]
${extra}`;
const A = policy('allow');
const B = policy('deny');
const C = policy('allow', '  - id: second\n    effect: allow\n    actions: ["sts:GetCallerIdentity"]\n');
const INVALID = 'version: 1\nrules:\n  - id: reads\n    efect: allow\n    actions: ["s3:GetObject"]\n';
const sha = (text: string) => createHash('sha256').update(text).digest('hex');
const FROZEN = new Date('2030-01-02T03:04:05.000Z');

type Loaded = Extract<GatewayEvent, { type: 'policy.loaded' }>;
type Rejected = Extract<GatewayEvent, { type: 'policy.rejected' }>;

let cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const fn of cleanup.reverse()) await fn();
  cleanup = [];
});

async function setup(initial = A) {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-watch-'));
  const file = join(dir, 'policy.yaml');
  writeFileSync(file, initial);
  const bus = new EventBus();
  const events: GatewayEvent[] = [];
  bus.subscribe((e) => events.push(e));
  const watcher = new PolicyWatcher({ file, bus, debounceMs: 50, now: () => FROZEN });
  cleanup.push(async () => {
    await watcher.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { dir, file, bus, events, watcher };
}

/** Resolves with the first event (after index `from`) satisfying the predicate; fails after a generous wait. */
async function nextEvent<T extends GatewayEvent>(events: GatewayEvent[], from: number, test: (e: GatewayEvent) => e is T, label: string): Promise<T> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const found = events.slice(from).find(test);
    if (found) return found;
    if (Date.now() > deadline) throw new Error(`no ${label} event; got ${JSON.stringify(events.slice(from).map((e) => e.type))}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
const loadedWith = (hash: string) => (e: GatewayEvent): e is Loaded => e.type === 'policy.loaded' && e.sha256 === hash;
const rejected = (e: GatewayEvent): e is Rejected => e.type === 'policy.rejected';

const decide = (watcher: PolicyWatcher) => evaluate(watcher.current().compiled, { principal: 'x', action: 's3:GetObject', resource: '*' }).effect;

describe('PolicyWatcher', () => {
  it('start() loads the policy and emits policy.loaded with its sha256', async () => {
    const { file, events, watcher } = await setup();
    const loaded = await watcher.start();
    expect(loaded.sha256).toBe(sha(A));
    expect(events).toEqual([{ type: 'policy.loaded', at: FROZEN.toISOString(), file, sha256: sha(A), rules: 1, serviceAccounts: 0 }]);
    expect(decide(watcher)).toBe('allow');
  });

  it('start() throws a PolicyLoadError listing every error when the file is invalid', async () => {
    const { watcher } = await setup(INVALID);
    const error = await watcher.start().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PolicyLoadError);
    expect((error as PolicyLoadError).errors.map((e) => e.path)).toEqual(['rules[0].effect', 'rules[0].efect']);
    expect((error as Error).message).toMatch(/policy\.yaml:4:5: rules\[0\]\.efect: unknown key `efect` \(did you mean `effect`\?\)/);
  });

  it('start() throws when the file does not exist', async () => {
    const { file, watcher } = await setup();
    unlinkSync(file);
    await expect(watcher.start()).rejects.toThrow(/ENOENT/);
  });

  it('picks up a write in place', async () => {
    const { file, events, watcher } = await setup();
    await watcher.start();
    const from = events.length;
    writeFileSync(file, B);
    const event = await nextEvent(events, from, loadedWith(sha(B)), 'policy.loaded');
    expect(event).toMatchObject({ file, rules: 1, at: FROZEN.toISOString() });
    expect(watcher.current().sha256).toBe(sha(B));
    expect(decide(watcher)).toBe('deny');
    expect(events.slice(from).filter(rejected)).toEqual([]);
  });

  it('picks up write-to-temp-then-rename', async () => {
    const { dir, file, events, watcher } = await setup();
    await watcher.start();
    const from = events.length;
    writeFileSync(join(dir, '.policy.yaml.tmp-123'), B);
    renameSync(join(dir, '.policy.yaml.tmp-123'), file);
    await nextEvent(events, from, loadedWith(sha(B)), 'policy.loaded');
    expect(decide(watcher)).toBe('deny');
  });

  it('picks up a vim-style save (swap file, original renamed to backup, new file written)', async () => {
    const { dir, file, events, watcher } = await setup();
    await watcher.start();
    const from = events.length;
    const swap = join(dir, '.policy.yaml.swp');
    writeFileSync(swap, 'vim swap bytes');
    renameSync(file, `${file}~`); // backupcopy=no: the original becomes the backup
    writeFileSync(file, B);
    unlinkSync(`${file}~`);
    unlinkSync(swap);
    await nextEvent(events, from, loadedWith(sha(B)), 'policy.loaded');
    expect(decide(watcher)).toBe('deny');
    // The moment without a file must not be reported as a deletion.
    expect(events.slice(from).filter(rejected)).toEqual([]);
  });

  it('keeps the last good policy when the file is deleted, and loads it again when re-created', async () => {
    const { file, events, watcher } = await setup();
    await watcher.start();
    let from = events.length;
    unlinkSync(file);
    const gone = await nextEvent(events, from, rejected, 'policy.rejected');
    expect(gone.keptSha256).toBe(sha(A));
    expect(gone.errors).toHaveLength(1);
    expect(gone.errors[0]).toMatchObject({ file, line: 0, message: expect.stringMatching(/ENOENT/) });
    expect(watcher.current().sha256).toBe(sha(A));
    expect(decide(watcher)).toBe('allow');

    from = events.length;
    writeFileSync(file, B);
    await nextEvent(events, from, loadedWith(sha(B)), 'policy.loaded');
    expect(decide(watcher)).toBe('deny');
  });

  it('rejects an invalid edit with every error, keeps the last good policy, then loads the fix', async () => {
    const { file, events, watcher } = await setup();
    await watcher.start();
    let from = events.length;
    writeFileSync(file, INVALID);
    const bad = await nextEvent(events, from, rejected, 'policy.rejected');
    expect(bad).toMatchObject({ file, keptSha256: sha(A), at: FROZEN.toISOString() });
    expect(bad.errors.map((e) => [e.line, e.column, e.path])).toEqual([
      [3, 5, 'rules[0].effect'],
      [4, 5, 'rules[0].efect'],
    ]);
    expect(watcher.current().sha256).toBe(sha(A));
    expect(decide(watcher)).toBe('allow');

    from = events.length;
    writeFileSync(file, C);
    const fixed = await nextEvent(events, from, loadedWith(sha(C)), 'policy.loaded');
    expect(fixed.rules).toBe(2);
    expect(watcher.current().config.rules.map((r) => r.id)).toEqual(['reads', 'second']);
  });

  it('reports a return to the same good content after a rejected edit', async () => {
    const { file, events, watcher } = await setup();
    await watcher.start();
    let from = events.length;
    writeFileSync(file, INVALID);
    await nextEvent(events, from, rejected, 'policy.rejected');
    from = events.length;
    writeFileSync(file, A);
    // Same bytes as the policy in force, but the dashboard is showing an error: it must hear that all is well.
    await nextEvent(events, from, loadedWith(sha(A)), 'policy.loaded');
  });

  it('does not re-announce a save that changes nothing', async () => {
    const { file, events, watcher } = await setup();
    await watcher.start();
    const from = events.length;
    writeFileSync(file, A);
    await new Promise((r) => setTimeout(r, 300));
    writeFileSync(file, B);
    await nextEvent(events, from, loadedWith(sha(B)), 'policy.loaded');
    expect(events.slice(from).map((e) => e.type === 'policy.loaded' && e.sha256)).toEqual([sha(B)]);
  });

  it('reload() reloads on demand and returns the result', async () => {
    const { file, events, watcher } = await setup();
    await watcher.start();
    await watcher.close(); // no file-system events: only the manual reload acts
    writeFileSync(file, B);
    const from = events.length;
    const result = await watcher.reload();
    expect(result.ok && result.policy.sha256).toBe(sha(B));
    expect(events.slice(from)).toEqual([{ type: 'policy.loaded', at: FROZEN.toISOString(), file, sha256: sha(B), rules: 1, serviceAccounts: 0 }]);

    writeFileSync(file, INVALID);
    const bad = await watcher.reload();
    expect(bad.ok).toBe(false);
    expect(events.at(-1)).toMatchObject({ type: 'policy.rejected', keptSha256: sha(B) });
    expect(watcher.current().sha256).toBe(sha(B));
  });

  it('current() before start() is an error; a negative debounce is refused', () => {
    const w = new PolicyWatcher({ file: 'x.yaml', bus: new EventBus() });
    expect(() => w.current()).toThrow(/not started/);
    expect(() => new PolicyWatcher({ file: 'x.yaml', bus: new EventBus(), debounceMs: -1 })).toThrow(RangeError);
  });
});
