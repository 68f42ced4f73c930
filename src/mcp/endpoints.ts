// What the gateway does with the wrapper's requests (`portcullis mcp run`), once the mcp stage has authenticated
// them like any call: decide tool calls against the policy (`mcp:CallTool` on `mcp:<server>/tool/<name>`), hold the
// ones a rule sends to a human through the approval manager, and turn tool-call reports into events of the
// session and into the open-call table that attributes the session's AWS calls.

import { createHash } from 'node:crypto';
import { GatewayError } from '../errors.js';
import type { GatewaySession } from '../identity/credentials.js';
import type { StageContext } from '../pipeline/context.js';
import { DEFAULT_DENY, evaluate, type Decision } from '../policy/evaluate.js';
import { canonicalJson } from './fingerprint.js';
import {
  CALL_CHANGED_TOOL_ACTION,
  CALL_TOOL_ACTION,
  DECIDE_PATH,
  SERVER_NAME,
  TOOL_CALLS_PATH,
  toolResource,
  type DecideRequest,
  type DecideResponse,
  type ToolCallOutcome,
  type ToolCallReport,
  type ToolDecision,
} from './protocol.js';

/**
 * The rule id of a tool call no rule names. Tool calls are not AWS calls: each AWS call a tool makes is decided on
 * its own (and default-denied), so a policy that says nothing about tools lets them run.
 */
export const NO_TOOL_RULE = 'no-tool-rule';

const MAX_NAME = 256;

function bad(message: string): GatewayError {
  return new GatewayError('MALFORMED_REQUEST', `portcullis mcp: ${message}`, { awsCode: 'ValidationException' });
}

function name(value: unknown, what: string): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_NAME) throw bad(`${what} must be a non-empty string of at most ${MAX_NAME} characters`);
  return value;
}

function serverName(value: unknown): string {
  const server = name(value, 'server');
  if (!SERVER_NAME.test(server)) throw bad(`server "${server}" is not a server name (letters, digits, _ . -; at most 64)`);
  return server;
}

function parseJson(body: Buffer | undefined): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse((body ?? Buffer.alloc(0)).toString('utf8'));
  } catch {
    throw bad('the body is not JSON');
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw bad('the body is not a JSON object');
  return value as Record<string, unknown>;
}

/**
 * The policy's answer for one tool, before any approval: `mcp:CallTool` on its resource, and for a tool that changed
 * since first seen also `mcp:CallChangedTool`; deny wins, then approve. An action no rule names does not decide.
 */
export function decideTool(ctx: Pick<StageContext, 'policy'>, serviceAccount: string, server: string, tool: string, changed = false): Decision {
  const resource = toolResource(server, tool);
  const actions = changed ? [CALL_TOOL_ACTION, CALL_CHANGED_TOOL_ACTION] : [CALL_TOOL_ACTION];
  const decided = actions.map((action) => evaluate(ctx.policy.compiled, { principal: serviceAccount, action, resource })).filter((d) => d.ruleId !== DEFAULT_DENY);
  return decided.find((d) => d.effect === 'deny') ?? decided.find((d) => d.effect === 'approve') ?? decided[0] ?? { effect: 'allow', ruleId: NO_TOOL_RULE, matched: [] };
}

function asToolDecision(decision: Decision): ToolDecision {
  return { effect: decision.effect, ruleId: decision.ruleId, ...(decision.message === undefined ? {} : { message: decision.message }) };
}

async function decideCall(ctx: StageContext, session: GatewaySession, server: string, raw: Record<string, unknown>): Promise<ToolDecision> {
  const toolCallId = name(raw.toolCallId, 'call.toolCallId');
  const tool = name(raw.tool, 'call.tool');
  const resource = toolResource(server, tool);
  const masked = raw.arguments === undefined ? undefined : ctx.masker.maskValue(raw.arguments, { service: 'mcp' }).value;
  const decision = decideTool(ctx, session.serviceAccount, server, tool, raw.changed === true);
  let answer: ToolDecision = asToolDecision(decision);
  if (decision.effect === 'approve') {
    const outcome = await ctx.approvals.request({
      sessionId: session.sessionId,
      requestId: toolCallId,
      serviceAccount: session.serviceAccount,
      action: CALL_TOOL_ACTION,
      resource,
      pairs: [`${CALL_TOOL_ACTION} ${resource}`, ...(raw.changed === true ? [`${CALL_CHANGED_TOOL_ACTION} ${resource}`] : [])],
      region: '',
      params: masked,
      ruleId: decision.ruleId,
      message: decision.message,
      // Bound to this one call and its exact arguments: asking again with the same call finds the same approval.
      fingerprint: createHash('sha256').update(canonicalJson(['portcullis-tool-v1', session.serviceAccount, resource, toolCallId, raw.arguments ?? null])).digest('hex'),
      holdMs: decision.rule?.approval.holdMs ?? 20_000,
      timeoutMs: decision.rule?.approval.timeoutMs ?? 600_000,
    });
    if (outcome.outcome === 'pending') return { ...answer, approvalId: outcome.approvalId, expiresAt: outcome.expiresAt.toISOString() };
    answer = outcome.outcome === 'approved'
      ? { effect: 'allow', ruleId: decision.ruleId, message: `approved (${outcome.via === 'duration-grant' ? `grant ${outcome.grantId ?? ''}` : `approval ${outcome.approvalId}`})` }
      : { effect: 'deny', ruleId: decision.ruleId, message: outcome.reason };
  }
  ctx.emit({
    type: 'tool.call.decided',
    sessionId: session.sessionId,
    serviceAccount: session.serviceAccount,
    toolCallId,
    server,
    tool,
    effect: answer.effect,
    ruleId: answer.ruleId,
    message: answer.message,
  });
  return answer;
}

async function decide(ctx: StageContext, session: GatewaySession, body: Record<string, unknown>): Promise<DecideResponse> {
  const server = serverName(body.server);
  const out: DecideResponse = {};
  if (body.tools !== undefined) {
    if (!Array.isArray(body.tools) || body.tools.length > 1000) throw bad('tools must be a list of at most 1000 tool names');
    const changed = new Set(Array.isArray(body.changedTools) ? (body.changedTools as unknown[]) : []);
    out.tools = {};
    for (const tool of body.tools as unknown[]) {
      const toolName = name(tool, 'tools[]');
      out.tools[toolName] = asToolDecision(decideTool(ctx, session.serviceAccount, server, toolName, changed.has(toolName)));
    }
  }
  if (body.call !== undefined) {
    if (body.call === null || typeof body.call !== 'object') throw bad('call must be an object');
    out.call = await decideCall(ctx, session, server, body.call as Record<string, unknown>);
  }
  return out;
}

const OUTCOMES = new Set(['ok', 'tool-error', 'rpc-error', 'denied', 'cancelled', 'lost']);

function report(ctx: StageContext, session: GatewaySession, body: Record<string, unknown>): void {
  const r = body as Partial<ToolCallReport> & Record<string, unknown>;
  const server = serverName(r.server);
  const tool = name(r.tool, 'tool');
  const base = { sessionId: session.sessionId, serviceAccount: session.serviceAccount, server, tool };
  const nowMs = ctx.now().getTime();
  switch (r.phase) {
    case 'started': {
      const toolCallId = name(r.toolCallId, 'toolCallId');
      const masked = r.arguments === undefined ? undefined : ctx.masker.maskValue(r.arguments, { service: 'mcp' }).value;
      ctx.toolCalls.start(session.sessionId, toolCallId, nowMs);
      ctx.emit({ type: 'tool.call.started', ...base, toolCallId, arguments: masked });
      return;
    }
    case 'ended': {
      const toolCallId = name(r.toolCallId, 'toolCallId');
      if (typeof r.outcome !== 'string' || !OUTCOMES.has(r.outcome)) throw bad(`outcome must be one of ${[...OUTCOMES].join(', ')}`);
      const durationMs = typeof r.durationMs === 'number' && Number.isFinite(r.durationMs) && r.durationMs >= 0 ? Math.round(r.durationMs) : 0;
      const error = typeof r.error === 'string' ? (ctx.masker.maskValue(r.error.slice(0, 2000), { service: 'mcp' }).value as string) : undefined;
      ctx.toolCalls.end(session.sessionId, toolCallId);
      ctx.emit({ type: 'tool.call.ended', ...base, toolCallId, outcome: r.outcome as ToolCallOutcome, durationMs, error });
      return;
    }
    case 'changed': {
      const before = name(r.before, 'before');
      const after = name(r.after, 'after');
      const fields = Array.isArray(r.fields) ? (r.fields as unknown[]).filter((f): f is string => typeof f === 'string').slice(0, 8) : [];
      ctx.emit({ type: 'tool.changed', ...base, before, after, fields });
      return;
    }
    default:
      throw bad('phase must be started, ended or changed');
  }
}

/** Answers one wrapper request (already authenticated as `session`); the JSON to send back. */
export async function handleMcpEndpoint(ctx: StageContext, session: GatewaySession, method: string, path: string, body: Buffer | undefined): Promise<unknown> {
  if (method !== 'POST') throw new GatewayError('MALFORMED_REQUEST', `portcullis mcp: ${path} takes POST`, { status: 405, awsCode: 'MethodNotAllowed' });
  const parsed = parseJson(body);
  if (path === DECIDE_PATH) return decide(ctx, session, parsed);
  if (path === TOOL_CALLS_PATH) {
    report(ctx, session, parsed);
    return { ok: true };
  }
  throw new GatewayError('MALFORMED_REQUEST', `portcullis mcp: no endpoint ${path} (known: ${DECIDE_PATH}, ${TOOL_CALLS_PATH})`, { status: 404, awsCode: 'UnknownOperationException' });
}
