// Cause and effect: the tool calls a session has open, from the wrapper's reports, and which of them an AWS call of
// that session belongs to. One open → that one; several → every candidate, never a guess; none → nothing. Pure
// (the clock is passed in); a call whose end never arrives is dropped after `maxOpenMs`.

export interface Attribution {
  toolCallId?: string;
  toolCallCandidates?: string[];
}

export interface OpenToolCallsOptions {
  /** A tool call reported started and never ended stops counting after this (default 15 min). */
  maxOpenMs?: number;
  /** Open calls kept per session; the oldest is dropped past it (default 64). */
  maxPerSession?: number;
  /** Sessions tracked; the one touched longest ago is dropped past it (default 10 000). */
  maxSessions?: number;
}

export class OpenToolCalls {
  readonly #maxOpenMs: number;
  readonly #maxPerSession: number;
  readonly #maxSessions: number;
  /** sessionId → toolCallId → opened at (ms); Map order is insertion order, oldest first. */
  readonly #open = new Map<string, Map<string, number>>();

  constructor(options: OpenToolCallsOptions = {}) {
    this.#maxOpenMs = options.maxOpenMs ?? 15 * 60_000;
    this.#maxPerSession = options.maxPerSession ?? 64;
    this.#maxSessions = options.maxSessions ?? 10_000;
  }

  start(sessionId: string, toolCallId: string, nowMs: number): void {
    let calls = this.#open.get(sessionId);
    if (calls) this.#open.delete(sessionId);
    else calls = new Map();
    this.#open.set(sessionId, calls);
    calls.set(toolCallId, nowMs);
    if (calls.size > this.#maxPerSession) calls.delete(calls.keys().next().value!);
    if (this.#open.size > this.#maxSessions) this.#open.delete(this.#open.keys().next().value!);
  }

  end(sessionId: string, toolCallId: string): void {
    const calls = this.#open.get(sessionId);
    if (!calls) return;
    calls.delete(toolCallId);
    if (calls.size === 0) this.#open.delete(sessionId);
  }

  /** The tool calls open in this session now, oldest first. */
  openIn(sessionId: string, nowMs: number): string[] {
    const calls = this.#open.get(sessionId);
    if (!calls) return [];
    for (const [id, at] of calls) if (nowMs - at > this.#maxOpenMs) calls.delete(id);
    if (calls.size === 0) this.#open.delete(sessionId);
    return [...calls.keys()];
  }

  attribute(sessionId: string, nowMs: number): Attribution {
    const open = this.openIn(sessionId, nowMs);
    if (open.length === 1) return { toolCallId: open[0]! };
    if (open.length > 1) return { toolCallCandidates: open };
    return {};
  }
}
