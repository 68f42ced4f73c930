// Policy file: read → parse YAML (with positions) → validate → compile, once per load. Either the whole
// policy loads or nothing does; a result with errors lists every one with file:line:column and path.

import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { LineCounter, parseDocument } from 'yaml';
import type { PolicyErrorItem } from '../events.js';
import { compilePolicy, type CompiledPolicy } from '../policy/compile.js';
import type { PolicyConfig } from './types.js';
import { validatePolicyDocument } from './validate.js';

export interface LoadedPolicy {
  file: string;
  /** SHA-256 (hex) of the file's bytes. */
  sha256: string;
  config: PolicyConfig;
  compiled: CompiledPolicy;
  /** Problems that do not stop the load (a rule that can never take effect); `policy check` prints them. */
  warnings: PolicyErrorItem[];
}

export type PolicyLoadResult = { ok: true; policy: LoadedPolicy } | { ok: false; errors: PolicyErrorItem[] };

export function parsePolicy(text: string, file: string): PolicyLoadResult {
  return parseBytes(Buffer.from(text, 'utf8'), text, file);
}

export async function loadPolicyFile(file: string): Promise<PolicyLoadResult> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (error) {
    return { ok: false, errors: [{ file, line: 0, column: 0, path: '', message: `cannot read ${file}: ${osReason(error)}` }] };
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return { ok: false, errors: [{ file, line: 0, column: 0, path: '', message: `${file} is not UTF-8 text` }] };
  }
  return parseBytes(bytes, text, file);
}

/** `file:line:column: path: message`, the one-line form used by `policy check` and the logs. */
export function formatPolicyError(error: PolicyErrorItem): string {
  const where = error.line > 0 ? `${error.file}:${error.line}:${error.column}` : error.file;
  return error.path ? `${where}: ${error.path}: ${error.message}` : `${where}: ${error.message}`;
}

function parseBytes(bytes: Buffer, text: string, file: string): PolicyLoadResult {
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  const lineCounter = new LineCounter();
  // uniqueKeys off: the validator reports duplicate keys itself, with their path.
  const doc = parseDocument(text.replace(/^\uFEFF/, ''), { lineCounter, prettyErrors: false, uniqueKeys: false, strict: true });
  const yamlProblems = [...doc.errors, ...doc.warnings];
  if (yamlProblems.length > 0) {
    // The tree is unreliable after a syntax error; report only what the parser found.
    const errors = yamlProblems.map((e): PolicyErrorItem => {
      const { line, col } = lineCounter.linePos(e.pos[0]);
      return { file, line, column: col, path: '', message: yamlMessage(e.code, e.message) };
    });
    return { ok: false, errors: errors.sort((a, b) => a.line - b.line || a.column - b.column) };
  }
  const { config, errors, warnings } = validatePolicyDocument(doc, lineCounter, file);
  if (!config) return { ok: false, errors };
  return { ok: true, policy: { file, sha256, config, compiled: compilePolicy(config), warnings } };
}

function yamlMessage(code: string, message: string): string {
  const first = message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
  if (code === 'MULTIPLE_DOCS') return 'YAML: the policy must be a single document (remove the extra ---)';
  if (code === 'TAG_RESOLVE_FAILED') return `YAML: ${first} (custom tags are not allowed)`;
  return `YAML: ${first}`;
}

function osReason(error: unknown): string {
  const e = error as NodeJS.ErrnoException;
  const reasons: Record<string, string> = {
    ENOENT: 'no such file',
    EACCES: 'permission denied',
    EISDIR: 'is a directory',
    ENOTDIR: 'a parent is not a directory',
  };
  return e.code && reasons[e.code] ? `${reasons[e.code]} (${e.code})` : (e.message ?? String(error));
}
