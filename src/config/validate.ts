// Validates a parsed policy document (schema v1) node by node, so every error carries the line and column
// of the offending key or value and a path such as `rules[2].effect`. Collects every error instead of
// stopping at the first; returns a PolicyConfig with defaults filled in only when there are none. Each
// section has its own validator in validate/; they share one Walker (the YAML reads and the error list).

import type { Document, LineCounter, Node } from 'yaml';
import { isMap, isPair, isScalar, isSeq, visit } from 'yaml';
import type { PolicyErrorItem } from '../events.js';
import { suggest } from '../lib/suggest.js';
import { serviceAccounts } from './validate/accounts.js';
import { issuers } from './validate/issuers.js';
import { rules } from './validate/rules.js';
import { approval, masking, passthrough, recording, upstream, version } from './validate/sections.js';
import { telemetry } from './validate/telemetry.js';
import { Walker } from './validate/walker.js';

export { ALLOWED_ALGORITHMS, DEFAULT_MASKING_FIELDS, DETECTORS, EFFECTS, LOCAL_ISSUER, RESERVED_RULE_ID } from './validate/constants.js';
export { suggest };

export interface ValidationResult {
  config?: import('./types.js').PolicyConfig;
  errors: PolicyErrorItem[];
  /** Rules that can never take effect and the like: reported by `policy check`, never stop a load. */
  warnings: PolicyErrorItem[];
}

/** What `portcullis init` writes where only the operator knows the value (issuer tenant, org, audience…). */
export const PLACEHOLDER = 'EDIT-ME';

/**
 * A policy written by `init` trusts nobody until edited: every value still holding the placeholder is an error at
 * its line and column, so `policy check` lists exactly what to edit and `start` refuses to run it.
 */
function placeholders(w: Walker, doc: Document): void {
  const marked = new Set<string>();
  visit(doc, {
    Scalar(_key, node, ancestors) {
      if (typeof node.value !== 'string' || !node.value.includes(PLACEHOLDER)) return;
      let path = '';
      for (let i = 0; i < ancestors.length; i += 1) {
        const a = ancestors[i];
        const next = ancestors[i + 1] ?? node;
        if (isPair(a) && isScalar(a.key) && a.value === next) path += `${path ? '.' : ''}${String(a.key.value)}`;
        else if (isSeq(a)) path += `[${a.items.indexOf(next as never)}]`;
        else if (isMap(a)) continue;
      }
      marked.add(path);
      w.error(node, path, `placeholder \`${PLACEHOLDER}\` written by \`portcullis init\`: replace it with your own value (the comment beside it says which)`);
    },
  });
  // The placeholder is the one thing to say about such a value (not also "is not a tenant id").
  const keep = w.errors.filter((e) => !marked.has(e.path) || e.message.startsWith('placeholder'));
  w.errors.splice(0, w.errors.length, ...keep);
}

export function validatePolicyDocument(doc: Document, lineCounter: LineCounter, file: string): ValidationResult {
  const w = new Walker(doc, lineCounter, file);
  const root = w.resolve(doc.contents as Node | null);
  if (root === null || (isScalar(root) && root.value === null)) {
    w.errorAt(0, '', 'the policy file is empty (start with `version: 1`)');
    return { errors: w.errors, warnings: [] };
  }
  const top = w.fields(root, '', ['version', 'upstream', 'identity', 'service_accounts', 'rules', 'masking', 'recording', 'approval', 'passthrough', 'telemetry'], ['version']);
  if (!top) return { errors: w.errors, warnings: [] };

  version(w, top);
  const up = upstream(w, top.get('upstream'));
  const iss = issuers(w, top.get('identity'));
  const accounts = serviceAccounts(w, top.get('service_accounts'));
  const ruleList = rules(w, top.get('rules'));
  const mask = masking(w, top.get('masking'));
  const rec = recording(w, top.get('recording'));
  const pass = passthrough(w, top.get('passthrough'));
  const approvals = approval(w, top.get('approval'));
  const tele = telemetry(w, top.get('telemetry'));
  placeholders(w, doc);

  if (w.errors.length > 0) return { errors: w.sorted(), warnings: w.sorted(w.warnings) };
  return {
    config: { version: 1, upstream: up, issuers: iss, serviceAccounts: accounts, rules: ruleList, masking: mask, recording: rec, approval: approvals, passthrough: pass, ...(tele ? { telemetry: tele } : {}) },
    errors: [],
    warnings: w.sorted(w.warnings),
  };
}
