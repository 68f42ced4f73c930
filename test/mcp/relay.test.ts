// The relay over in-memory streams. The gateway is a stand-in here (a ToolGateway answering from a table): the
// real one over signed HTTPS is exercised end to end in test/integration/mcp-wrapper.test.ts.

import { PassThrough } from 'node:stream';
import { describe, expect, test } from 'vitest';
import type { DecideRequest, DecideResponse, ToolCallReport, ToolDecision } from '../../src/mcp/protocol.js';
import { McpRelay, type ToolGateway } from '../../src/mcp/relay.js';

interface Harness {
  toServer: string[];
  toClient: string[];
  log: string[];
  asked: DecideRequest[];
  reports: ToolCallReport[];
  client(line: string): void;
  server(line: string): void;
  settle(): Promise<void>;
  relay: McpRelay;
}

function harness(decisions: (request: DecideRequest, asked: number) => ToolDecision | 'fail', options: { events?: string[] } = {}): Harness {
  const clientIn = new PassThrough();
  const clientOut = new PassThrough();
  const serverIn = new PassThrough();
  const serverOut = new PassThrough();
  const h = { toServer: [] as string[], toClient: [] as string[], log: [] as string[], asked: [] as DecideRequest[], reports: [] as ToolCallReport[] };
  const events = options.events ?? [];
  serverIn.on('data', (c: Buffer) => {
    h.toServer.push(c.toString());
    events.push(`server got ${c.toString().trim()}`);
  });
  clientOut.on('data', (c: Buffer) => h.toClient.push(c.toString()));
  const gateway: ToolGateway = {
    async decide(request): Promise<DecideResponse> {
      h.asked.push(request);
      if (request.tools) return { tools: Object.fromEntries(request.tools.map((t) => [t, decisions({ server: request.server, call: { toolCallId: '-', tool: t } }, 0) as ToolDecision])) };
      const d = decisions(request, h.asked.length);
      if (d === 'fail') throw new Error('connect ECONNREFUSED');
      return { call: d };
    },
    async report(report) {
      h.reports.push(report);
      events.push(`reported ${report.phase}`);
    },
  };
  let n = 0;
  const relay = new McpRelay({ server: 'srv', gateway, clientIn, clientOut, serverIn, serverOut, log: (l) => h.log.push(l), newToolCallId: () => `tc-${(n += 1)}`, approvalPollMs: 1 });
  relay.start();
  return {
    ...h,
    relay,
    client: (line) => void clientIn.write(`${line}\n`),
    server: (line) => void serverOut.write(`${line}\n`),
    settle: () => new Promise((resolve) => setTimeout(resolve, 20)),
  };
}

const allow: ToolDecision = { effect: 'allow', ruleId: 'r-allow' };
const deny: ToolDecision = { effect: 'deny', ruleId: 'no-drop', message: 'not tables' };

describe('McpRelay', () => {
  test('other lines pass through byte for byte, both ways', async () => {
    const h = harness(() => allow);
    const odd = '{"jsonrpc":"2.0", "id":1,"method":"initialize","params":{"x":"é"}}';
    h.client(odd);
    h.client('garbage that is not json');
    h.server('{"jsonrpc":"2.0","method":"notifications/message","params":{}}');
    await h.settle();
    expect(h.toServer.join('')).toBe(`${odd}\ngarbage that is not json\n`);
    expect(h.toClient.join('')).toBe('{"jsonrpc":"2.0","method":"notifications/message","params":{}}\n');
    expect(h.asked).toEqual([]);
  });

  test('an allowed call is reported started before the server sees it, and ended with its outcome', async () => {
    const events: string[] = [];
    const h = harness(() => allow, { events });
    const call = '{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"list","arguments":{"b":"r"}}}';
    h.client(call);
    await h.settle();
    expect(events).toEqual(['reported started', `server got ${call}`]);
    expect(h.asked[0]).toEqual({ server: 'srv', call: { toolCallId: 'tc-1', tool: 'list', arguments: { b: 'r' } } });
    h.server('{"jsonrpc":"2.0","id":5,"result":{"isError":true,"content":[]}}');
    await h.settle();
    expect(h.toClient.join('')).toBe('{"jsonrpc":"2.0","id":5,"result":{"isError":true,"content":[]}}\n');
    expect(h.reports.map((r) => [r.phase, 'outcome' in r ? r.outcome : undefined, 'toolCallId' in r ? r.toolCallId : undefined])).toEqual([
      ['started', undefined, 'tc-1'],
      ['ended', 'tool-error', 'tc-1'],
    ]);
  });

  test('a denied call never reaches the server; the client gets a JSON-RPC error naming the rule', async () => {
    const h = harness(() => deny);
    h.client('{"jsonrpc":"2.0","id":"d","method":"tools/call","params":{"name":"drop","arguments":{}}}');
    await h.settle();
    expect(h.toServer).toEqual([]);
    expect(h.reports).toEqual([]);
    expect(JSON.parse(h.toClient.join(''))).toEqual({
      jsonrpc: '2.0',
      id: 'd',
      error: { code: -32001, message: 'portcullis: tool drop of srv denied by rule no-drop: not tables', data: { ruleId: 'no-drop', message: 'not tables' } },
    });
  });

  test('a call held for approval is asked about again until decided', async () => {
    const h = harness((_r, asked) => (asked < 3 ? { effect: 'approve', ruleId: 'hold', approvalId: 'ab12' } : allow));
    h.client('{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t"}}');
    await h.settle();
    expect(h.asked.length).toBe(3);
    expect(h.toServer.length).toBe(1);
    expect(h.log[0]).toContain('waits for approval ab12');
  });

  test('fails closed when the gateway cannot be asked', async () => {
    const h = harness(() => 'fail');
    h.client('{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t"}}');
    await h.settle();
    expect(h.toServer).toEqual([]);
    expect(JSON.parse(h.toClient.join('')).error.message).toBe('portcullis: tool t was not run: the gateway could not decide it (connect ECONNREFUSED)');
  });

  test('tools/list: denied tools are removed; an unchanged list keeps its bytes; a changed tool is reported', async () => {
    const h = harness((r) => (r.call!.tool === 'drop' ? deny : allow));
    h.client('{"jsonrpc":"2.0","id":1,"method":"tools/list"}');
    h.server('{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"list","description":"a"},{"name":"drop"}]}}');
    await h.settle();
    expect(JSON.parse(h.toClient.shift()!)).toEqual({ jsonrpc: '2.0', id: 1, result: { tools: [{ name: 'list', description: 'a' }] } });
    const h2 = harness(() => allow);
    const list = '{"jsonrpc":"2.0","id":2,"result":{"tools":[{"name":"list",  "description":"a"}]}}';
    h2.client('{"jsonrpc":"2.0","id":2,"method":"tools/list"}');
    h2.server(list);
    h2.client('{"jsonrpc":"2.0","id":3,"method":"tools/list"}');
    h2.server('{"jsonrpc":"2.0","id":3,"result":{"tools":[{"name":"list","description":"b"}]}}');
    await h2.settle();
    expect(h2.toClient[0]).toBe(`${list}\n`);
    expect(h2.reports).toEqual([{ phase: 'changed', server: 'srv', tool: 'list', before: expect.any(String), after: expect.any(String), fields: ['description'] }]);
    // The gateway is told which tools changed, for the list and for later calls of them.
    expect(h2.asked.at(-1)).toEqual({ server: 'srv', tools: ['list'], changedTools: ['list'] });
    h2.client('{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"list"}}');
    await h2.settle();
    expect(h2.asked.at(-1)!.call).toEqual({ toolCallId: 'tc-1', tool: 'list', arguments: undefined, changed: true });
  });

  test('a server that exits with calls in flight: they end as lost', async () => {
    const h = harness(() => allow);
    h.client('{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"slow"}}');
    await h.settle();
    await h.relay.serverExited();
    expect(h.reports.at(-1)).toMatchObject({ phase: 'ended', outcome: 'lost', tool: 'slow' });
  });
});
