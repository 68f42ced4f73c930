// The gateway's own MCP endpoints, shared by the wrapper (`portcullis mcp run`) and the gateway's mcp stage. The
// wrapper reaches them the way the wrapped server reaches AWS: HTTPS to the gateway, SigV4-signed with the same
// gateway-issued credentials, for the pseudo-service `portcullis`. So a report lands in the session whose AWS calls
// it explains, and it works from any host that can reach the gateway.

import type { ToolCallOutcome } from '../events.js';

export type { ToolCallOutcome };

/** The signing name of the gateway's own endpoints. */
export const PORTCULLIS_SERVICE = 'portcullis';
export const MCP_PATH_PREFIX = '/portcullis/mcp/';
export const DECIDE_PATH = '/portcullis/mcp/decide';
export const TOOL_CALLS_PATH = '/portcullis/mcp/tool-calls';

/** The IAM-style action a tool call is decided as. */
export const CALL_TOOL_ACTION = 'mcp:CallTool';
/** Calling a tool whose description or input schema changed since the wrapper first saw it (rug-pull guard). */
export const CALL_CHANGED_TOOL_ACTION = 'mcp:CallChangedTool';
/** The actions of the `mcp` service, as rules may name them. */
export const MCP_ACTIONS: readonly string[] = ['CallTool', 'CallChangedTool'];

/** `mcp:<server>/tool/<name>`: the resource a tool call is decided on. */
export function toolResource(server: string, tool: string): string {
  return `mcp:${server}/tool/${tool}`;
}

/** Server names and tool names as they may appear in a tool resource. */
export const SERVER_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/** What is wrong with a rule's `mcp:` resource pattern, or undefined. */
export function toolResourceProblem(resource: string): string | undefined {
  const m = /^mcp:([^/]+)\/tool\/(.+)$/.exec(resource);
  if (!m) return `\`${resource}\` is not an MCP tool resource: mcp:<server>/tool/<name> (globs allowed, e.g. mcp:aws-api/tool/*)`;
  if (!/^[A-Za-z0-9_.*?-]+$/.test(m[1]!)) return `\`${m[1]}\` is not an MCP server name (letters, digits, _ . -, globs)`;
  return undefined;
}

/** POST /portcullis/mcp/decide: may this tool run (one tool), or which of these may (a tools/list). */
export interface DecideRequest {
  server: string;
  /** One tool call: decided, and held for approval when a rule says so. */
  call?: { toolCallId: string; tool: string; arguments?: unknown; changed?: boolean };
  /** A tools/list answer: each decided without holding anything. */
  tools?: string[];
  /** Those of `tools` whose description or schema changed since first seen: also decided as mcp:CallChangedTool. */
  changedTools?: string[];
}

export type ToolEffect = 'allow' | 'deny' | 'approve';

export interface ToolDecision {
  effect: ToolEffect;
  ruleId: string;
  message?: string;
  /** For `approve`: still waiting for a human; ask again with the same call. */
  approvalId?: string;
  expiresAt?: string;
}

export interface DecideResponse {
  call?: ToolDecision;
  tools?: Record<string, ToolDecision>;
}


/** POST /portcullis/mcp/tool-calls: what the wrapper saw. */
export type ToolCallReport =
  | { phase: 'started'; server: string; toolCallId: string; tool: string; arguments?: unknown }
  | { phase: 'ended'; server: string; toolCallId: string; tool: string; outcome: ToolCallOutcome; durationMs: number; error?: string }
  | { phase: 'changed'; server: string; tool: string; before: string; after: string; fields: string[] };
