// What the dashboard needs from a gateway. `AdminClient` (src/admin/client.ts) satisfies it
// structurally; tests and the bench use scripted stand-ins. Command results are `unknown` because
// the dashboard only reads `{ ok, message | error }` when present and treats a throw as a failure.

import type { GatewayEvent, GatewayEventType } from '../events.js';
import type { DecisionInput, GatewayStatus, Grant, PendingApproval, SessionSummary } from '../admin/types.js';

export interface DashboardSource {
  status(): Promise<GatewayStatus>;
  sessions(filter?: { active?: boolean }): Promise<SessionSummary[]>;
  pending(): Promise<PendingApproval[]>;
  approve(id: string, input: DecisionInput): Promise<unknown>;
  deny(id: string, input: DecisionInput): Promise<unknown>;
  revokeSession(sessionId: string, by: string, reason?: string): Promise<unknown>;
  revokeServiceAccount(name: string, by: string, reason?: string): Promise<unknown>;
  reloadPolicy(): Promise<unknown>;
  /** Live grants; a source without them shows none (older stand-ins). */
  grants?(): Promise<Grant[]>;
  revokeGrant?(id: string, by: string): Promise<unknown>;
  /** `history`: recent events first, marked `replayed: true` (the log is filled; counts come from snapshots). */
  events(options?: { session?: string; types?: GatewayEventType[]; history?: number; signal?: AbortSignal }): AsyncIterable<GatewayEvent & { replayed?: true }>;
}

export type CommandOutcome = { ok: true; message: string } | { ok: false; error: string };

/** Reads a command's result the same way whether the source returned a ControlResult, something else, or threw. */
export async function settle(run: () => Promise<unknown>, fallback: string): Promise<CommandOutcome> {
  try {
    const result = await run();
    if (result && typeof result === 'object' && 'ok' in result) {
      const r = result as { ok: unknown; message?: unknown; error?: unknown };
      if (r.ok === false) return { ok: false, error: typeof r.error === 'string' ? r.error : `${fallback} failed` };
      return { ok: true, message: typeof r.message === 'string' ? r.message : fallback };
    }
    return { ok: true, message: fallback };
  } catch (error) {
    return { ok: false, error: error instanceof Error ? error.message : String(error) };
  }
}
