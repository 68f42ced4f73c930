// An approval covers exactly what the approver saw (issue #18), against moto with SigV4 + IAM on: a retry that swaps
// the body or the copy source is a new call needing its own approval, and a duration grant covers only the pairs of
// the approved call. The effect upstream is checked directly.

import { BatchWriteItemCommand, CreateTableCommand, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { PendingApproval } from '../../src/approval/manager.js';
import { EnforcementKit, outcome } from './enforcement-kit.js';
import { startStack, type Stack } from './harness.js';

const POLICY = `rules:
  - id: review-uploads
    effect: approve
    actions: ["s3:PutObject"]
    resources: ["arn:aws:s3:::vault/reviewed/*", "arn:aws:s3:::vault/copies/*"]
    approval: {hold: 200ms, timeout: 2m}
  - id: review-batches
    effect: approve
    actions: ["dynamodb:PutItem", "dynamodb:BatchWriteItem"]
    approval: {hold: 200ms, timeout: 2m}
  - id: work
    effect: allow
    actions: ["s3:*", "dynamodb:*"]
approval:
  max_body: 1KiB
`;

let stack: Stack;
let kit: EnforcementKit;
let admin: Awaited<ReturnType<EnforcementKit['admin']>>;

async function objectBody(key: string): Promise<string | undefined> {
  try {
    return await (await admin.s3.send(new GetObjectCommand({ Bucket: 'vault', Key: key }))).Body!.transformToString();
  } catch {
    return undefined;
  }
}

function newestPending(): PendingApproval {
  const pending = stack.gateway.pending();
  expect(pending.length).toBeGreaterThan(0);
  return pending.sort((a, b) => a.createdAt.localeCompare(b.createdAt)).at(-1)!;
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

beforeAll(async () => {
  stack = await startStack({ policyBody: POLICY });
  kit = await EnforcementKit.start(stack);
  admin = await kit.admin();
  await admin.s3.send(new CreateBucketCommand({ Bucket: 'vault' }));
  await admin.s3.send(new PutObjectCommand({ Bucket: 'vault', Key: 'public/readme.txt', Body: 'public readme' }));
  await admin.s3.send(new PutObjectCommand({ Bucket: 'vault', Key: 'internal/payroll.txt', Body: 'salaries' }));
  for (const table of ['ledger', 'audit']) {
    await admin.ddb.send(
      new CreateTableCommand({ TableName: table, BillingMode: 'PAY_PER_REQUEST', KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }], AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }] }),
    );
  }
}, 120_000);

afterAll(async () => {
  await stack?.close();
});

const unsignedPut = (key: string, body: string) => kit.raw({ method: 'PUT', path: `/vault/${key}`, service: 's3', body, payloadHash: 'UNSIGNED-PAYLOAD' });

describe('the fingerprint is the call', () => {
  test('UNSIGNED-PAYLOAD: the body is hashed before the decision; a retry with another body is a new call', async () => {
    const first = await unsignedPut('reviewed/doc.txt', 'v1-reviewed');
    expect(first.status).toBe(429);
    const held = newestPending();
    expect(held.body).toEqual({ bytes: 11, sha256: sha256('v1-reviewed') });
    expect(held.pairs).toEqual(['s3:PutObject arn:aws:s3:::vault/reviewed/doc.txt']);
    expect(stack.gateway.approve(held.id, { by: 'alice' })).toMatchObject({ ok: true });

    const swapped = await unsignedPut('reviewed/doc.txt', 'v2-EVIL-swapped');
    expect(swapped.status).toBe(429);
    expect(await objectBody('reviewed/doc.txt')).toBeUndefined();
    const second = newestPending();
    expect(second.id).not.toBe(held.id);
    expect(second.body?.sha256).toBe(sha256('v2-EVIL-swapped'));

    const retry = await unsignedPut('reviewed/doc.txt', 'v1-reviewed');
    expect(retry.status).toBe(200);
    expect(await objectBody('reviewed/doc.txt')).toBe('v1-reviewed');
    stack.gateway.deny(second.id, { by: 'alice', reason: 'swapped body' });
  });

  test('a body over approval.max_body is refused with an error naming the setting; nothing stored', async () => {
    const result = await unsignedPut('reviewed/big.txt', 'x'.repeat(2048));
    expect(result.status).toBe(413);
    expect(result.body).toContain('approval.max_body');
    expect(await objectBody('reviewed/big.txt')).toBeUndefined();
  });

  test('CopyObject: the approver sees the source; a retry with another source is a new call', async () => {
    const copy = (source: string) => kit.raw({ method: 'PUT', path: '/vault/copies/out.txt', service: 's3', headers: { 'x-amz-copy-source': source } });
    expect((await copy('vault/public/readme.txt')).status).toBe(429);
    const held = newestPending();
    expect(held.pairs).toEqual(expect.arrayContaining(['s3:GetObject arn:aws:s3:::vault/public/readme.txt', 's3:PutObject arn:aws:s3:::vault/copies/out.txt']));
    expect(held.headers?.['x-amz-copy-source']).toBe('vault/public/readme.txt');
    stack.gateway.approve(held.id, { by: 'alice' });

    expect((await copy('vault/internal/payroll.txt')).status).toBe(429);
    expect(await objectBody('copies/out.txt')).toBeUndefined();
    expect((await copy('vault/public/readme.txt')).status).toBe(200);
    expect(await objectBody('copies/out.txt')).toBe('public readme');
  });
});

describe('grants are no wider than the approved call', () => {
  test('approve --for on a BatchWriteItem to ledger covers ledger again, not ledger + audit', async () => {
    const ddb = kit.ddb();
    const batch = (tables: string[], pk: string) =>
      outcome(ddb.send(new BatchWriteItemCommand({ RequestItems: Object.fromEntries(tables.map((t) => [t, [{ PutRequest: { Item: { pk: { S: pk } } } }]])) })));
    expect(await batch(['ledger'], 'r-1')).toBe('ThrottlingException');
    const held = newestPending();
    stack.gateway.approve(held.id, { by: 'alice', forMs: 10 * 60_000 });
    expect(await batch(['ledger'], 'r-1')).toBe('ok');
    // Another batch to ledger alone needs the same pairs: the grant covers it.
    expect(await batch(['ledger'], 'r-2')).toBe('ok');
    const grant = stack.gateway.approvals.grants.list().find((g) => g.approvalId === held.id)!;
    expect(grant.uses).toBeGreaterThanOrEqual(1);
    expect(grant.pairs.every((p) => p.includes('table/ledger'))).toBe(true);
    // Widened to audit: held again, and nothing reached audit.
    expect(await batch(['ledger', 'audit'], 'r-3')).toBe('ThrottlingException');
    const audit = await admin.ddb.send(new GetItemCommand({ TableName: 'audit', Key: { pk: { S: 'r-3' } } }));
    expect(audit.Item).toBeUndefined();
    // Ending the grant early: the next ledger batch is held again.
    expect(stack.gateway.approvals.grants.revoke(grant.id, 'alice')).toMatchObject({ ok: true });
    expect(await batch(['ledger'], 'r-4')).toBe('ThrottlingException');
    expect(stack.events.some((e) => e.type === 'grant.ended' && e.grantId === grant.id && e.reason === 'revoked')).toBe(true);
  });
});
