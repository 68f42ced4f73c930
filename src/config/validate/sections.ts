// The small top-level sections: version, upstream, masking, recording, approval, passthrough.

import { isMap, isScalar, isSeq, type Node, type Scalar } from 'yaml';
import { DEFAULT_APPROVAL_MAX_BODY_BYTES, DEFAULT_MASKING_MAX_BODY_BYTES, DEFAULT_RECORDING_MAX_BODY_BYTES, DEFAULT_REGION, type DetectorName, type MaskingConfig, type PolicyConfig, type RecordingConfig } from '../types.js';
import { DETECTORS, DEFAULT_MASKING_FIELDS, AWS_HOST_SAMPLES } from './constants.js';
import { Walker, type Entry, type Fields, httpUrlProblem } from './walker.js';
import { formatBytes, parseByteSize } from '../../lib/bytes.js';
import { DEFAULT_CHECKPOINT_EVENTS, DEFAULT_CHECKPOINT_INTERVAL_MS } from '../../recording/config.js';
import { suggest } from '../../lib/suggest.js';
import { globToRegExp, hasGlob } from '../../policy/glob.js';

export function version(w: Walker, top: Fields): void {
  const entry = top.get('version');
  if (!entry) return;
  const node = w.resolve(entry.value);
  if (isScalar(node) && node.value === 1) return;
  if (isScalar(node) && typeof node.value === 'number') {
    w.error(node, 'version', `unsupported version ${node.value} (this gateway reads version 1)`);
  } else {
    w.error(node ?? entry.key, 'version', 'must be 1');
  }
}

export function upstream(w: Walker, entry: Entry | undefined): PolicyConfig['upstream'] {
  const result: PolicyConfig['upstream'] = { region: DEFAULT_REGION };
  if (!entry) return result;
  const f = w.fields(entry.value ?? entry.key, 'upstream', ['endpoint', 'region'], []);
  if (!f) return result;
  const endpoint = w.optString(f, 'endpoint', 'upstream.endpoint');
  if (endpoint !== undefined) {
    const problem = httpUrlProblem(endpoint, false);
    if (problem) w.error(f.get('endpoint')!.value, 'upstream.endpoint', problem);
    else result.endpoint = endpoint;
  }
  const region = w.optString(f, 'region', 'upstream.region');
  if (region !== undefined) {
    if (!/^[a-z0-9][a-z0-9-]*$/.test(region)) w.error(f.get('region')!.value, 'upstream.region', `"${region}" is not a region name (e.g. us-east-1)`);
    else result.region = region;
  }
  return result;
}

export function masking(w: Walker, entry: Entry | undefined): MaskingConfig {
  const result: MaskingConfig = {
    fields: [...DEFAULT_MASKING_FIELDS],
    detectors: [...DETECTORS],
    patterns: [],
    maxBodyBytes: DEFAULT_MASKING_MAX_BODY_BYTES,
  };
  if (!entry) return result;
  const f = w.fields(entry.value ?? entry.key, 'masking', ['fields', 'detectors', 'patterns', 'max_body_bytes'], []);
  if (!f) return result;
  const fields = f.get('fields');
  if (fields) {
    result.fields = [];
    w.list(fields.value ?? fields.key, 'masking.fields', (node, path) => {
      const field = w.string(node, path);
      if (field === undefined) return;
      if (field.trim() === '' || /\s/.test(field)) w.error(node, path, 'must be a field name or dotted path without spaces');
      else result.fields.push(field);
    });
  }
  const detectors = f.get('detectors');
  if (detectors) {
    result.detectors = [];
    w.list(detectors.value ?? detectors.key, 'masking.detectors', (node, path) => {
      const name = w.string(node, path);
      if (name === undefined) return;
      if (!(DETECTORS as readonly string[]).includes(name)) w.error(node, path, `unknown detector \`${name}\`${suggest(name, DETECTORS)} (one of ${DETECTORS.join(', ')})`);
      else if (!result.detectors.includes(name as DetectorName)) result.detectors.push(name as DetectorName);
    });
  }
  const patterns = f.get('patterns');
  if (patterns) {
    const names = new Set<string>();
    w.list(patterns.value ?? patterns.key, 'masking.patterns', (node, path) => {
      const p = w.fields(node, path, ['name', 'regex'], ['name', 'regex']);
      if (!p) return;
      const name = w.optString(p, 'name', `${path}.name`);
      const nameNode = p.get('name')?.value ?? node;
      let nameOk = false;
      if (name !== undefined) {
        if (!/^[A-Za-z0-9_][A-Za-z0-9_-]*$/.test(name)) w.error(nameNode, `${path}.name`, `"${name}" is not a valid name (letters, digits, _ -)`);
        else if ((DETECTORS as readonly string[]).includes(name)) w.error(nameNode, `${path}.name`, `\`${name}\` is a built-in detector; list it under masking.detectors instead`);
        else if (names.has(name)) w.error(nameNode, `${path}.name`, `duplicate pattern name \`${name}\``);
        else nameOk = true;
        names.add(name);
      }
      const regex = w.optString(p, 'regex', `${path}.regex`);
      let regexOk = false;
      if (regex !== undefined) {
        const regexNode = p.get('regex')!.value;
        try {
          const re = new RegExp(regex, 'g');
          if (regex === '' || new RegExp(regex).test('')) w.error(regexNode, `${path}.regex`, 'matches the empty string; a masking pattern must match at least one character');
          else regexOk = re instanceof RegExp;
        } catch (error) {
          w.error(regexNode, `${path}.regex`, `not a valid regular expression: ${(error as Error).message.replace(/^Invalid regular expression: \/.*\/[a-z]*: /s, '')}`);
        }
      }
      if (nameOk && regexOk) result.patterns.push({ name: name!, regex: regex! });
    });
  }
  const maxBody = w.integer(f.get('max_body_bytes'), 'masking.max_body_bytes', 1);
  if (maxBody !== undefined) result.maxBodyBytes = maxBody;
  return result;
}

export function recording(w: Walker, entry: Entry | undefined): RecordingConfig {
  const result: RecordingConfig = {
    maxBodyBytes: DEFAULT_RECORDING_MAX_BODY_BYTES,
    durability: 'batch',
    onFailure: 'deny',
    checkpointEvents: DEFAULT_CHECKPOINT_EVENTS,
    checkpointIntervalMs: DEFAULT_CHECKPOINT_INTERVAL_MS,
  };
  if (!entry) return result;
  const f = w.fields(entry.value ?? entry.key, 'recording', ['max_body_bytes', 'durability', 'on_failure', 'checkpoint', 'witness'], []);
  if (!f) return result;
  const maxBody = w.integer(f.get('max_body_bytes'), 'recording.max_body_bytes', 0);
  if (maxBody !== undefined) result.maxBodyBytes = maxBody;
  const durability = w.enumValue(f, 'durability', 'recording.durability', ['batch', 'strict'] as const);
  if (durability) result.durability = durability;
  const onFailure = w.enumValue(f, 'on_failure', 'recording.on_failure', ['deny', 'allow'] as const);
  if (onFailure) result.onFailure = onFailure;
  const checkpoint = f.get('checkpoint');
  if (checkpoint) {
    const c = w.fields(checkpoint.value ?? checkpoint.key, 'recording.checkpoint', ['events', 'interval'], []);
    const events = c?.get('events');
    if (events) {
      const node = w.resolve(events.value);
      if (!isScalar(node) || typeof node.value !== 'number' || !Number.isSafeInteger(node.value) || node.value < 1) {
        w.error(node ?? events.key, 'recording.checkpoint.events', `must be a whole number of events, at least 1 (default ${DEFAULT_CHECKPOINT_EVENTS})`);
      } else result.checkpointEvents = node.value;
    }
    const interval = c ? w.duration(c.get('interval'), 'recording.checkpoint.interval', { min: 1000, max: 3_600_000 }) : undefined;
    if (interval !== undefined) result.checkpointIntervalMs = interval;
  }
  const witness = w.optString(f, 'witness', 'recording.witness');
  if (witness !== undefined) {
    const node = f.get('witness')!.value;
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(witness)) {
      const problem = httpUrlProblem(witness, true);
      if (problem) w.error(node, 'recording.witness', problem);
      else result.witness = witness;
    } else if (!witness.startsWith('/')) {
      w.error(node, 'recording.witness', `"${witness}" must be an absolute directory (another mount) or an https URL`);
    } else result.witness = witness;
  }
  return result;
}

/** `approval: {max_body: 64MiB}` — the largest body an approval can bind (spooled and hashed before deciding). */
export function approval(w: Walker, entry: Entry | undefined): PolicyConfig['approval'] {
  const result = { maxBodyBytes: DEFAULT_APPROVAL_MAX_BODY_BYTES };
  if (!entry) return result;
  const f = w.fields(entry.value ?? entry.key, 'approval', ['max_body'], []);
  const maxBody = f?.get('max_body');
  if (!maxBody) return result;
  const node = w.resolve(maxBody.value);
  const raw = isScalar(node) && (typeof node.value === 'number' || typeof node.value === 'string') ? node.value : undefined;
  const bytes = raw === undefined ? undefined : parseByteSize(raw);
  if (bytes === undefined || bytes < 1) {
    w.error(node ?? maxBody.key, 'approval.max_body', `must be a size such as 64MiB, 512KiB or a number of bytes (default ${formatBytes(DEFAULT_APPROVAL_MAX_BODY_BYTES)})`);
    return result;
  }
  return { maxBodyBytes: bytes };
}

export function passthrough(w: Walker, entry: Entry | undefined): string[] {
  if (!entry) return [];
  const out: string[] = [];
  w.list(entry.value ?? entry.key, 'passthrough', (node, path) => {
    const host = w.string(node, path);
    if (host === undefined) return;
    if (!/^[A-Za-z0-9*?][A-Za-z0-9*?.-]*$/.test(host)) {
      w.error(node, path, `"${host}" is not a host name or host glob (e.g. api.github.com, *.pypi.org)`);
      return;
    }
    const re = globToRegExp(host, { caseInsensitive: true });
    const aws = AWS_HOST_SAMPLES.find((h) => re.test(h));
    if (aws) w.error(node, path, `\`${host}\` matches AWS hosts (${aws}); AWS calls must go through the policy, never around it`);
    else out.push(host.toLowerCase());
  });
  return out;
}
