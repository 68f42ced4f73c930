// Handlers for `portcullis verify`, `replay` and `export`: read recordings from the state dir and print for humans.

import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { exportSPKI, importJWK, type JWK } from 'jose';
import { parseSession, toHar, toOcsfJsonl, type ParsedSession } from '../recording/export.js';
import { listSessionFiles, openIndex } from '../recording/index-db.js';
import { isValidSessionId, publicKeyPath, resolveStateDir } from '../recording/paths.js';
import { formatOffset, timeline, type TimelineStep } from '../recording/replay.js';
import { assess, verifyBytes, VERIFY_EXIT_CODES, type Assessment, type VerifyResult } from '../recording/verify.js';
import { checkAgainstWitness, openWitness, type WitnessCheck } from '../recording/witness.js';
import { VERSION } from '../version.js';
import { parseDurationMs } from '../lib/duration.js';
import { CliError, printJson, printLine, type ExitCode } from './output.js';

type Opts = Record<string, unknown>;

function stateDirOf(opts: Opts): string {
  return resolveStateDir(typeof opts.stateDir === 'string' ? opts.stateDir : undefined);
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

/** A file path, or a session id looked up in the index (then among the session files). */
async function resolveTarget(target: string, stateDir: string): Promise<{ path: string }> {
  if (await isFile(target)) return { path: target };
  if (!isValidSessionId(target) || target.endsWith('.jsonl')) throw new CliError(`${target}: no such file`);
  try {
    const record = (await openIndex(stateDir)).state.session(target);
    if (record) {
      const path = join(stateDir, record.file);
      if (await isFile(path)) return { path };
    }
  } catch {
    // An unreadable index is not fatal here: the session files are searched directly.
  }
  const found = (await listSessionFiles(stateDir)).find((p) => p.endsWith(`/${target}.jsonl`));
  if (found) return { path: found };
  throw new CliError(`unknown session "${target}" (no such file, and no recording with that id in ${stateDir})`);
}

async function readTarget(path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (error) {
    throw new CliError(`cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}

function parse(data: Buffer, path: string): ParsedSession {
  try {
    return parseSession(data.toString('utf8'), path);
  } catch (error) {
    throw new CliError(`${(error as Error).message} (run portcullis verify ${path})`);
  }
}

async function loadPublicKey(stateDir: string): Promise<JWK> {
  const path = publicKeyPath(stateDir);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    throw new CliError(`no gateway public key at ${path} (run portcullis init, or pass --state-dir)`);
  }
  try {
    const jwk = JSON.parse(text) as JWK;
    if (jwk.kty !== 'EC' || jwk.crv !== 'P-256' || typeof jwk.x !== 'string' || typeof jwk.y !== 'string' || jwk.d !== undefined) throw new Error('not an EC P-256 public JWK');
    return jwk;
  } catch (error) {
    throw new CliError(`${path}: ${(error as Error).message}`);
  }
}

// ---------- verify ----------

/** Splits an exported JSONL file (one or more recordings back to back) at each header line. */
export function splitRecordings(data: Buffer): Buffer[] {
  const marker = Buffer.from('\n{"seq":0,"prev":null,"type":"header"');
  const parts: Buffer[] = [];
  let start = 0;
  for (;;) {
    const at = data.indexOf(marker, start);
    if (at === -1) break;
    parts.push(data.subarray(start, at + 1));
    start = at + 1;
  }
  parts.push(data.subarray(start));
  return parts;
}

/** Whether the index of this state dir says the session ended (then a missing final digest is a cut). */
async function indexSaysClosed(stateDir: string, sessionId: string): Promise<boolean> {
  try {
    return (await openIndex(stateDir)).state.session(sessionId)?.end !== undefined;
  } catch {
    return false;
  }
}

function headerSessionId(segment: Buffer): string | undefined {
  const match = /^\{"seq":0,"prev":null,"type":"header","sessionId":"([^"\\]+)"/.exec(segment.subarray(0, 300).toString('utf8'));
  return match?.[1];
}

export async function verify(target: string | undefined, opts: Opts): Promise<void> {
  const stateDir = stateDirOf(opts);
  const jwk = await loadPublicKey(stateDir);
  if (opts.key) {
    if (opts.json) return printJson(jwk);
    printJson(jwk);
    printLine((await exportSPKI((await importJWK(jwk, 'ES256')) as CryptoKey)).trimEnd());
    return;
  }
  if (target === undefined) throw new CliError('verify: name a session id or a recording file (or --key to print the public key)', 2);
  const { path } = await resolveTarget(target, stateDir);
  const segments = splitRecordings(await readTarget(path));
  const witness = typeof opts.witness === 'string' ? await openWitness(opts.witness) : undefined;
  const now = new Date();
  const results: Array<{ sessionId?: string; assessment: Assessment; result: VerifyResult; witness?: WitnessCheck }> = [];
  for (const segment of segments) {
    const sessionId = headerSessionId(segment);
    const expectClosed = sessionId !== undefined && (await indexSaysClosed(stateDir, sessionId));
    const result = await verifyBytes(segment, jwk, { expectClosed });
    let assessment = assess(result, { now, allowOpen: opts.allowOpen === true });
    let witnessed: WitnessCheck | undefined;
    if (witness && result.ok) {
      witnessed = await checkAgainstWitness(witness, result, jwk);
      if (witnessed.verdict !== undefined) assessment = { verdict: witnessed.verdict, exitCode: VERIFY_EXIT_CODES[witnessed.verdict], message: witnessed.message };
    }
    results.push({ ...(sessionId === undefined ? {} : { sessionId }), assessment, result, ...(witnessed ? { witness: witnessed } : {}) });
  }
  const worst = results.reduce((a, b) => (severity(b.assessment) > severity(a.assessment) ? b : a));
  if (opts.json) {
    printJson({
      file: path,
      verdict: worst.assessment.verdict,
      exitCode: worst.assessment.exitCode,
      sessions: results.map((r) => ({ sessionId: r.sessionId, ...r.assessment, ...(r.witness ? { witness: r.witness } : {}), ...withoutHashes(r.result) })),
    });
  } else {
    for (const r of results) {
      if (r.result.ok) for (const warning of r.result.warnings) process.stderr.write(`warning: ${warning}\n`);
    }
  }
  const label = (r: (typeof results)[number]): string => (results.length > 1 ? `${path} [${r.sessionId ?? 'no header'}]` : path);
  if (results.length === 1 && worst.assessment.exitCode !== 0) throw new CliError(`${label(worst)}: ${worst.assessment.verdict}: ${worst.assessment.message}`, worst.assessment.exitCode as ExitCode);
  if (!opts.json) {
    for (const r of results) {
      const text = `${r.assessment.exitCode === 0 ? (r.assessment.verdict === 'closed' ? 'ok' : 'ok (--allow-open)') : r.assessment.verdict}: ${label(r)}: ${r.assessment.message}${r.witness?.checked ? `; ${r.witness.message}` : ''}`;
      if (r.assessment.exitCode === 0) printLine(text);
      else process.stderr.write(`${text}\n`);
    }
  }
  if (worst.assessment.exitCode !== 0) {
    const failing = results.filter((r) => r.assessment.exitCode !== 0).length;
    throw new CliError(`${path}: ${failing} of ${results.length} recordings fail verification (worst: ${worst.assessment.verdict})`, worst.assessment.exitCode as ExitCode);
  }
}

function severity(a: Assessment): number {
  return a.exitCode === 0 ? 0 : a.exitCode === 1 ? 1 : a.exitCode;
}

function withoutHashes(result: VerifyResult): Omit<VerifyResult, 'lineHashes'> {
  if (!result.ok) return result;
  const { lineHashes: _hashes, ...rest } = result;
  return rest;
}

// ---------- replay ----------

/** Longest pause played back in real time; longer idle gaps are announced instead of waited out. */
const MAX_GAP_MS = 5000;

const COLOURS: Partial<Record<string, string>> = { ALLOW: '\u001b[32m', DENY: '\u001b[31m', APPROVE: '\u001b[33m' };

function colour(step: TimelineStep): string {
  if (step.line.type === 'decision') return `${COLOURS[step.line.effect.toUpperCase()] ?? ''}${step.text}\u001b[0m`;
  if (step.line.type === 'digest' || step.line.type === 'header') return `\u001b[2m${step.text}\u001b[0m`;
  return step.text;
}

export async function replay(session: string, opts: Opts): Promise<void> {
  const speed = Number(opts.speed ?? '1');
  if (!Number.isFinite(speed) || speed <= 0) throw new CliError(`--speed: "${String(opts.speed)}" is not a positive number`, 2);
  const { path } = await resolveTarget(session, stateDirOf(opts));
  const parsed = parse(await readTarget(path), path);
  const steps = timeline(parsed);
  const tty = process.stdout.isTTY === true && process.stdin.isTTY === true;
  if (!tty) {
    // Plain text for pipes and files: the timeline at once, offsets show the real timing.
    for (const step of steps) printLine(`${formatOffset(step.offsetMs)}  ${step.text}`);
    if (parsed.torn) printLine('(the file ends with a truncated line)');
    return;
  }
  await playInTerminal(steps, speed);
}

async function playInTerminal(steps: TimelineStep[], speed: number): Promise<void> {
  const stdin = process.stdin;
  let wake: (() => void) | undefined;
  let quit = false;
  const onKey = (data: Buffer): void => {
    const key = data.toString('utf8');
    if (key === 'q' || key === '\u0003' || key === '\u001b') quit = true;
    if (quit || key === ' ' || key === '\r' || key === '\n') wake?.();
  };
  stdin.setRawMode(true);
  stdin.resume();
  stdin.on('data', onKey);
  try {
    printLine(`\u001b[2mreplaying ${steps.length} lines at ${speed}x — Enter/space: next line now, q: quit\u001b[0m`);
    let previous = 0;
    for (const step of steps) {
      if (quit) break;
      const gap = step.offsetMs - previous;
      previous = step.offsetMs;
      const waitMs = Math.min(gap / speed, MAX_GAP_MS);
      if (gap / speed > MAX_GAP_MS) printLine(`\u001b[2m… ${formatOffset(gap).slice(1)} idle\u001b[0m`);
      if (waitMs > 0) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, waitMs);
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        wake = undefined;
      }
      if (quit) break;
      printLine(`${formatOffset(step.offsetMs)}  ${colour(step)}`);
    }
  } finally {
    stdin.off('data', onKey);
    stdin.setRawMode(false);
    stdin.pause();
  }
}

// ---------- export ----------

/** `--since`: an ISO 8601 time, or a duration back from now (30m, 24h, 7d). */
export function parseSince(text: string, now: Date): Date {
  const ms = parseDurationMs(text);
  if (ms !== undefined) return new Date(now.getTime() - ms);
  if (/^\d{4}-\d{2}-\d{2}/.test(text)) {
    const date = new Date(text);
    if (!Number.isNaN(date.getTime())) return date;
  }
  throw new CliError(`--since: "${text}" is not a time (ISO 8601, e.g. 2030-01-02T03:04:05Z) or a duration (30m, 24h, 7d)`, 2);
}

/** The complete lines of a recording, as stored (a torn tail left by a crash is not exported). */
function completeLines(data: Buffer): Buffer {
  const end = data.lastIndexOf(0x0a);
  return end === -1 ? Buffer.alloc(0) : data.subarray(0, end + 1);
}

export async function exportSessions(session: string | undefined, opts: Opts): Promise<void> {
  const stateDir = stateDirOf(opts);
  const all = opts.all === true;
  if (all && session !== undefined) throw new CliError('export: give a session or --all, not both', 2);
  if (!all && session === undefined) throw new CliError('export: name a session (id or file) or use --all', 2);
  if (opts.since !== undefined && !all) throw new CliError('export: --since only goes with --all', 2);
  const since = typeof opts.since === 'string' ? parseSince(opts.since, new Date()) : undefined;
  const format = (opts.format ?? 'jsonl') as 'jsonl' | 'har' | 'ocsf';

  const paths = all ? await listSessionFiles(stateDir) : [(await resolveTarget(session!, stateDir)).path];
  const recordings: Array<{ data: Buffer; parsed: ParsedSession }> = [];
  for (const path of paths) {
    const data = await readTarget(path);
    const parsed = parse(data, path);
    if (since && Date.parse(parsed.header.start) < since.getTime()) continue;
    recordings.push({ data, parsed });
  }
  recordings.sort((a, b) => a.parsed.header.start.localeCompare(b.parsed.header.start));
  const sessions = recordings.map((r) => r.parsed);

  let output: string | Buffer;
  if (format === 'jsonl') output = Buffer.concat(recordings.map((r) => completeLines(r.data)));
  else if (format === 'har') output = `${JSON.stringify(toHar(sessions, VERSION), null, 2)}\n`;
  else output = toOcsfJsonl(sessions, VERSION);

  const file = typeof opts.output === 'string' ? opts.output : undefined;
  if (file === undefined) {
    process.stdout.write(output);
    return;
  }
  try {
    // Recordings are masked but still describe who did what: keep exports private by default.
    await writeFile(file, output, { mode: 0o600 });
  } catch (error) {
    throw new CliError(`cannot write ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  printLine(`exported ${sessions.length} session${sessions.length === 1 ? '' : 's'} as ${format} to ${file}`);
}
