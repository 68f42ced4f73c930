// SQS queue URLs stay on the gateway (issue #20): the JS SDK sends later calls to the host inside QueueUrl, so the
// URLs in answers point at the gateway and go back upstream as the upstream's own. Against moto with auth on.

import { CreateQueueCommand, DeleteQueueCommand, GetQueueUrlCommand, ListQueuesCommand, ReceiveMessageCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { rewriteQueueUrlForm, rewriteQueueUrls } from '../../src/aws/sqs-urls.js';
import { EnforcementKit, outcome } from './enforcement-kit.js';
import { startStack, type Stack } from './harness.js';

const POLICY = `rules:
  - id: keep-queues
    effect: deny
    actions: ["sqs:DeleteQueue"]
  - id: work
    effect: allow
    actions: ["sqs:*"]
`;

let stack: Stack;
let kit: EnforcementKit;

beforeAll(async () => {
  stack = await startStack({ policyBody: POLICY });
  kit = await EnforcementKit.start(stack);
}, 120_000);

afterAll(async () => {
  await stack?.close();
});

describe('queue URLs in answers and requests', () => {
  test('rewrites only QueueUrl fields, in JSON, XML and forms', () => {
    const json = '{"QueueUrl":"http://127.0.0.1:5000/123456789012/orders","Body":"see http://127.0.0.1:5000/123456789012/orders"}';
    expect(rewriteQueueUrls(json, 'https://gw:8443')).toBe('{"QueueUrl":"https://gw:8443/123456789012/orders","Body":"see http://127.0.0.1:5000/123456789012/orders"}');
    expect(rewriteQueueUrls('{"QueueUrls":["https://sqs.us-east-1.amazonaws.com/123456789012/a","https://sqs.us-east-1.amazonaws.com/123456789012/b"]}', 'https://gw')).toBe(
      '{"QueueUrls":["https://gw/123456789012/a","https://gw/123456789012/b"]}',
    );
    expect(rewriteQueueUrls('<QueueUrl>https://sqs.us-east-1.amazonaws.com/123456789012/a</QueueUrl>', 'https://gw')).toBe('<QueueUrl>https://gw/123456789012/a</QueueUrl>');
    expect(rewriteQueueUrlForm('Action=SendMessage&QueueUrl=https%3A%2F%2Fgw%2F123456789012%2Fa&MessageBody=x', 'http://up:1')).toBe(
      'Action=SendMessage&QueueUrl=http%3A%2F%2Fup%3A1%2F123456789012%2Fa&MessageBody=x',
    );
  });

  test('the JS SDK (QueueUrl as endpoint) stays on the gateway: every call is decided and recorded', async () => {
    const sqs = new SQSClient(kit.viaGateway());
    const created = await sqs.send(new CreateQueueCommand({ QueueName: 'orders' }));
    expect(created.QueueUrl?.startsWith(stack.gateway.url)).toBe(true);
    const { QueueUrl } = await sqs.send(new GetQueueUrlCommand({ QueueName: 'orders' }));
    expect(QueueUrl?.startsWith(stack.gateway.url)).toBe(true);
    const listed = await sqs.send(new ListQueuesCommand({}));
    expect(listed.QueueUrls?.every((u) => u.startsWith(stack.gateway.url))).toBe(true);
    const before = stack.events.filter((e) => e.type === 'request' && e.action === 'sqs:SendMessage').length;
    await sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: 'hello' }));
    expect(stack.events.filter((e) => e.type === 'request' && e.action === 'sqs:SendMessage').length).toBe(before + 1);
    const received = await sqs.send(new ReceiveMessageCommand({ QueueUrl, WaitTimeSeconds: 0 }));
    expect(received.Messages?.[0]?.Body).toBe('hello');
    // A denied call through the rewritten URL is decided like any other; the queue is still there.
    expect(await outcome(sqs.send(new DeleteQueueCommand({ QueueUrl })))).toMatch(/^AccessDenied/);
    expect((await sqs.send(new ListQueuesCommand({}))).QueueUrls?.some((u) => u.endsWith('/orders'))).toBe(true);
  });
});
