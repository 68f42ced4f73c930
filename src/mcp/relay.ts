// The MCP relay of `portcullis mcp run`: newline-delimited JSON-RPC between the MCP client (our stdin/stdout) and the
// wrapped server (its stdin/stdout), relayed byte for byte, except where the policy has a say:
//  - `tools/call`: the gateway decides it first (held while a human decides); a denied call never reaches the server
//    and the client gets a JSON-RPC error naming the rule; an allowed one is reported started before it is
//    forwarded (so the AWS calls it causes are attributed to it) and ended when its answer comes back;
//  - `tools/list` answers: tools the policy denies are removed; every tool is fingerprinted and a change reported.
// Lines in each direction keep their order; a tool call waiting for its decision does not hold up other messages.

import type { Readable, Writable } from 'node:stream';
import { ToolFingerprints, type ToolDescription } from './fingerprint.js';
import { errorLine, idKey, LineSplitter, readMessage, TOOL_DENIED_CODE, type JsonRpcId } from './lines.js';
import type { DecideRequest, DecideResponse, ToolCallOutcome, ToolCallReport, ToolDecision } from './protocol.js';

/** How the relay reaches the gateway (signed HTTPS in production). */
export interface ToolGateway {
  decide(request: DecideRequest): Promise<DecideResponse>;
  report(report: ToolCallReport): Promise<void>;
}

export interface RelayOptions {
  /** The server's name in tool resources: `mcp:<server>/tool/<name>`. */
  server: string;
  gateway: ToolGateway;
  /** From the MCP client. */
  clientIn: Readable;
  /** To the MCP client. */
  clientOut: Writable;
  /** To the wrapped server. */
  serverIn: Writable;
  /** From the wrapped server. */
  serverOut: Readable;
  /** One line to stderr (never stdout: that is the MCP channel). */
  log(line: string): void;
  newToolCallId(): string;
  nowMs?: () => number;
  /** Pause between asking again about a tool call held for approval (the gateway holds each ask itself). */
  approvalPollMs?: number;
}

interface OpenCall {
  toolCallId: string;
  tool: string;
  startedAtMs: number;
  forwarded: boolean;
  cancelled: boolean;
}

function toolName(params: unknown): string | undefined {
  const name = (params as { name?: unknown } | undefined)?.name;
  return typeof name === 'string' && name.length > 0 ? name : undefined;
}

function deniedMessage(server: string, tool: string, d: ToolDecision): string {
  return `portcullis: tool ${tool} of ${server} denied by rule ${d.ruleId}${d.message ? `: ${d.message}` : ''}`;
}

export class McpRelay {
  readonly #o: RelayOptions;
  readonly #now: () => number;
  readonly #calls = new Map<string, OpenCall>();
  readonly #listRequests = new Set<string>();
  readonly #fingerprints = new ToolFingerprints();
  /** Server → client lines go out in order; a tools/list answer being filtered holds the ones after it. */
  #toClient: Promise<void> = Promise.resolve();

  constructor(options: RelayOptions) {
    this.#o = options;
    this.#now = options.nowMs ?? Date.now;
  }

  start(): void {
    const fromClient = new LineSplitter();
    this.#o.clientIn.on('data', (chunk: Buffer) => {
      for (const piece of fromClient.push(chunk)) this.#fromClient(piece.bytes, piece.complete);
    });
    this.#o.clientIn.on('end', () => {
      const rest = fromClient.end();
      if (rest) this.#fromClient(rest, true);
      this.#o.serverIn.end();
    });
    const fromServer = new LineSplitter();
    this.#o.serverOut.on('data', (chunk: Buffer) => {
      for (const piece of fromServer.push(chunk)) this.#queueToClient(piece.bytes, piece.complete);
    });
    this.#o.serverOut.on('end', () => {
      const rest = fromServer.end();
      if (rest) this.#queueToClient(rest, true);
    });
  }

  /** The wrapped server is gone: every call it had is lost. Resolves when the last lines and reports are out. */
  async serverExited(): Promise<void> {
    await this.#toClient;
    const lost = [...this.#calls.entries()].filter(([, c]) => c.forwarded);
    await Promise.all(lost.map(([key, call]) => this.#end(key, call, 'lost', 'the MCP server exited before answering')));
  }

  #writeServer(bytes: Buffer, complete: boolean): void {
    this.#o.serverIn.write(complete ? Buffer.concat([bytes, Buffer.from('\n')]) : bytes);
  }

  #writeClient(bytes: Buffer, complete = true): void {
    this.#o.clientOut.write(complete ? Buffer.concat([bytes, Buffer.from('\n')]) : bytes);
  }

  #fromClient(line: Buffer, complete: boolean): void {
    if (!complete) return this.#writeServer(line, false);
    const message = readMessage(line);
    if (message.kind === 'request' && message.method === 'tools/call') {
      const tool = toolName(message.params);
      if (tool !== undefined) {
        void this.#toolCall(message.id, tool, (message.params as { arguments?: unknown }).arguments, line);
        return;
      }
    }
    if (message.kind === 'request' && message.method === 'tools/list') this.#listRequests.add(idKey(message.id));
    if (message.kind === 'notification' && message.method === 'notifications/cancelled') {
      const requestId = (message.params as { requestId?: unknown } | undefined)?.requestId;
      const callKey = typeof requestId === 'string' || typeof requestId === 'number' ? idKey(requestId) : undefined;
      const call = callKey === undefined ? undefined : this.#calls.get(callKey);
      if (call) {
        call.cancelled = true;
        // A cancelled request gets no answer (MCP): it ends here.
        if (call.forwarded) void this.#end(callKey!, call, 'cancelled');
      }
    }
    this.#writeServer(line, true);
  }

  async #toolCall(id: JsonRpcId, tool: string, args: unknown, line: Buffer): Promise<void> {
    const key = idKey(id);
    const call: OpenCall = { toolCallId: this.#o.newToolCallId(), tool, startedAtMs: this.#now(), forwarded: false, cancelled: false };
    this.#calls.set(key, call);
    const server = this.#o.server;
    let decision: ToolDecision | undefined;
    try {
      for (;;) {
        const changed = this.#fingerprints.isChanged(tool);
        decision = (await this.#o.gateway.decide({ server, call: { toolCallId: call.toolCallId, tool, arguments: args, ...(changed ? { changed } : {}) } })).call;
        if (decision === undefined) throw new Error('the gateway gave no decision');
        if (decision.effect !== 'approve' || call.cancelled) break;
        this.#o.log(`tool ${tool} waits for approval ${decision.approvalId ?? '?'} (rule ${decision.ruleId}); asking again`);
        await new Promise((resolve) => setTimeout(resolve, this.#o.approvalPollMs ?? 1000));
      }
      if (call.cancelled) {
        this.#calls.delete(key);
        return;
      }
      if (decision.effect === 'deny') {
        this.#calls.delete(key);
        this.#queueLine(errorLine(id, TOOL_DENIED_CODE, deniedMessage(server, tool, decision), { ruleId: decision.ruleId, ...(decision.message ? { message: decision.message } : {}) }));
        return;
      }
      // Reported before it is forwarded: the server's first AWS call must find it open.
      await this.#o.gateway.report({ phase: 'started', server, toolCallId: call.toolCallId, tool, arguments: args });
    } catch (error) {
      // Fail closed: a call the gateway could not decide or record does not run.
      this.#calls.delete(key);
      const why = `portcullis: tool ${tool} was not run: the gateway could not ${decision === undefined ? 'decide' : 'record'} it (${(error as Error).message})`;
      this.#o.log(why);
      this.#queueLine(errorLine(id, TOOL_DENIED_CODE, why));
      return;
    }
    call.forwarded = true;
    this.#writeServer(line, true);
  }

  /** A line of our own to the client, in order with the server's. */
  #queueLine(bytes: Buffer): void {
    this.#toClient = this.#toClient.then(() => void this.#o.clientOut.write(bytes));
  }

  #queueToClient(line: Buffer, complete: boolean): void {
    this.#toClient = this.#toClient.then(() => this.#toClientNow(line, complete)).catch((error: unknown) => {
      this.#o.log(`relaying a line to the client failed: ${(error as Error).message}`);
    });
  }

  async #toClientNow(line: Buffer, complete: boolean): Promise<void> {
    if (!complete) return this.#writeClient(line, false);
    const message = readMessage(line);
    if (message.kind === 'result' || message.kind === 'error') {
      const key = message.id === null ? undefined : idKey(message.id);
      const call = key === undefined ? undefined : this.#calls.get(key);
      if (call && call.forwarded) {
        const outcome: ToolCallOutcome = message.kind === 'error' ? 'rpc-error' : (message.result as { isError?: unknown })?.isError === true ? 'tool-error' : 'ok';
        const error = message.kind === 'error' ? String((message.error as { message?: unknown })?.message ?? '') : undefined;
        this.#writeClient(line);
        void this.#end(key!, call, call.cancelled ? 'cancelled' : outcome, error);
        return;
      }
      if (message.kind === 'result' && key !== undefined && this.#listRequests.delete(key)) {
        return this.#writeClient(await this.#filterToolList(line, message.id, message.result));
      }
    }
    this.#writeClient(line);
  }

  async #end(key: string, call: OpenCall, outcome: ToolCallOutcome, error?: string): Promise<void> {
    if (this.#calls.get(key) !== call) return;
    this.#calls.delete(key);
    try {
      await this.#o.gateway.report({ phase: 'ended', server: this.#o.server, toolCallId: call.toolCallId, tool: call.tool, outcome, durationMs: this.#now() - call.startedAtMs, ...(error ? { error } : {}) });
    } catch (err) {
      this.#o.log(`could not report the end of tool call ${call.toolCallId} (${call.tool}): ${(err as Error).message}`);
    }
  }

  /** Removes denied tools from a tools/list answer; reports tools whose description changed. */
  async #filterToolList(line: Buffer, id: JsonRpcId, result: unknown): Promise<Buffer> {
    const tools = (result as { tools?: unknown } | undefined)?.tools;
    if (!Array.isArray(tools)) return line;
    const described = tools.filter((t): t is ToolDescription => typeof (t as ToolDescription | null)?.name === 'string');
    const server = this.#o.server;
    for (const change of this.#fingerprints.observe(described)) {
      this.#o.log(`tool ${change.tool} changed since first seen (${change.fields.join(', ')})`);
      await this.#o.gateway.report({ phase: 'changed', server, ...change }).catch((error: unknown) => {
        this.#o.log(`could not report the change of tool ${change.tool}: ${(error as Error).message}`);
      });
    }
    let decisions: Record<string, ToolDecision>;
    try {
      const changedTools = described.map((t) => t.name).filter((n) => this.#fingerprints.isChanged(n));
      decisions = (await this.#o.gateway.decide({ server, tools: described.map((t) => t.name), ...(changedTools.length > 0 ? { changedTools } : {}) })).tools ?? {};
    } catch (error) {
      // Fail closed: without the gateway's answer the client would see tools it may be denied.
      const why = `portcullis: the tool list of ${server} was withheld: the gateway could not decide its tools (${(error as Error).message})`;
      this.#o.log(why);
      return errorLine(id, TOOL_DENIED_CODE, why).subarray(0, -1);
    }
    const kept = tools.filter((t) => decisions[(t as ToolDescription).name]?.effect !== 'deny');
    if (kept.length === tools.length) return line;
    const parsed = JSON.parse(line.toString('utf8')) as { result: { tools: unknown[] } };
    parsed.result.tools = kept;
    return Buffer.from(JSON.stringify(parsed));
  }
}
