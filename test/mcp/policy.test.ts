// Per-tool policy: rules name MCP tools as `mcp:CallTool` on `mcp:<server>/tool/<name>`, validated like IAM actions
// and ARNs; a tool no rule names runs (its AWS calls are decided one by one), deny and approve rules apply as usual.

import { describe, expect, test } from 'vitest';
import { formatPolicyError, parsePolicy } from '../../src/config/load.js';
import { decideTool, NO_TOOL_RULE } from '../../src/mcp/endpoints.js';
import { POLICY_HEAD } from '../fixtures/policy-text.js';

const BASE = POLICY_HEAD;

function load(rules: string) {
  const result = parsePolicy(`${BASE}${rules}`, 'p.yaml');
  return result.ok ? { ok: true as const, policy: result.policy } : { ok: false as const, errors: result.errors.map(formatPolicyError) };
}

describe('mcp rules in the policy file', () => {
  test('mcp:CallTool on tool resources (globs too) loads', () => {
    const loaded = load(`  - id: no-shell
    effect: deny
    actions: ["mcp:CallTool"]
    resources: ["mcp:aws-api/tool/call_aws", "mcp:*/tool/run_*"]
    message: no shell for the model
  - id: hold-writes
    effect: approve
    actions: ["mcp:*"]
    resources: ["mcp:aws-api/tool/suggest_*"]
  - id: reads
    effect: allow
    actions: ["s3:GetObject"]
`);
    expect(loaded.ok).toBe(true);
  });

  test.each([
    ['actions: ["mcp:CallTol"]', 'resources: ["mcp:a/tool/b"]', /unknown MCP action mcp:CallTol \(the mcp service has mcp:CallTool, mcp:CallChangedTool\)/],
    ['actions: ["mcp:CallTool"]', 'resources: ["mcp:a/b"]', /is not an MCP tool resource: mcp:<server>\/tool\/<name>/],
    ['actions: ["mcp:CallTool"]', 'resources: ["aws-api/tool/x"]', /is not an ARN or \*/],
  ])('%s %s is refused with a reason', (actions, resources, message) => {
    const loaded = load(`  - id: r
    effect: deny
    ${actions}
    ${resources}
`);
    expect(loaded.ok).toBe(false);
    expect(loaded.ok ? '' : loaded.errors.join('\n')).toMatch(message);
  });
});

describe('decideTool', () => {
  const policy = load(`  - id: no-drop
    effect: deny
    actions: ["mcp:CallTool"]
    resources: ["mcp:fixture/tool/delete_*"]
    message: not tables
  - id: hold-secrets
    effect: approve
    principals: [reports-mcp]
    actions: ["mcp:CallTool"]
    resources: ["mcp:fixture/tool/get_secret"]
  - id: everything-else
    effect: deny
    access: [Write]
`);
  if (!policy.ok) throw new Error(policy.errors.join('\n'));

  test.each([
    ['delete_table', 'deny', 'no-drop'],
    ['get_secret', 'approve', 'hold-secrets'],
    // No rule names it (and an access-level rule cannot: tools have no IAM access level).
    ['list_bucket', 'allow', NO_TOOL_RULE],
  ])('%s → %s by %s', (tool, effect, ruleId) => {
    const d = decideTool({ policy: policy.policy }, 'reports-mcp', 'fixture', tool);
    expect([d.effect, d.ruleId]).toEqual([effect, ruleId]);
  });

  test('rug-pull guard: a changed tool is also decided as mcp:CallChangedTool', () => {
    const guarded = load(`  - id: no-changed-tools
    effect: deny
    actions: ["mcp:CallChangedTool"]
    resources: ["mcp:*/tool/*"]
    message: this tool changed since it was first seen
`);
    if (!guarded.ok) throw new Error(guarded.errors.join('\n'));
    expect(decideTool({ policy: guarded.policy }, 'reports-mcp', 'fixture', 'list_bucket', false).effect).toBe('allow');
    expect(decideTool({ policy: guarded.policy }, 'reports-mcp', 'fixture', 'list_bucket', true)).toMatchObject({ effect: 'deny', ruleId: 'no-changed-tools' });
    // Without a rule about changes, a changed tool is decided as before.
    expect(decideTool({ policy: policy.policy }, 'reports-mcp', 'fixture', 'list_bucket', true).ruleId).toBe(NO_TOOL_RULE);
  });

  test('another server\'s tool of the same name is another resource', () => {
    expect(decideTool({ policy: policy.policy }, 'reports-mcp', 'other', 'delete_table').effect).toBe('allow');
  });
});
