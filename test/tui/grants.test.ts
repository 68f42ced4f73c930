// What the approver sees of a held call (every pair, body size and hash, headers, params) in the prompt and the
// session detail, at 80×24 too; live grants in the pending panel and ending one with a confirm. Pure: model, view,
// modals and controller without a terminal.

import { describe, expect, it } from 'vitest';
import type { GatewayEvent } from '../../src/events.js';
import { handleKey, initialUi, type KeyContext } from '../../src/tui/controller.js';
import { approvalModal, confirmModal, detailModal } from '../../src/tui/modals.js';
import { DashboardModel } from '../../src/tui/model.js';
import { loadTheme } from '../../src/tui/theme.js';
import { pendingView, plain } from '../../src/tui/view.js';

const T0 = Date.parse('2025-01-01T10:00:00Z');
const mono = loadTheme('mono');
const iso = (offsetMs: number) => new Date(T0 + offsetMs).toISOString();
const LONG_DST = `arn:aws:s3:::prod-bucket/${'reports/'.repeat(8)}q3-final.csv`;
const PAIRS = [`s3:PutObject ${LONG_DST}`, 's3:GetObject arn:aws:s3:::staging/reports/q3.csv', 's3:PutObjectAcl arn:aws:s3:::prod-bucket/q3.csv'];
const SHA = 'ab12cd34ef56'.padEnd(64, '7');

function copyProposed(extra: Partial<Extract<GatewayEvent, { type: 'approval.proposed' }>> = {}): GatewayEvent {
  return {
    type: 'approval.proposed',
    at: iso(0),
    approvalId: 'c0py',
    sessionId: 's1',
    requestId: 'r1',
    serviceAccount: 'ci-bot',
    action: 's3:CopyObject',
    resource: LONG_DST,
    pairs: PAIRS,
    body: { bytes: 12_595, sha256: SHA },
    headers: { 'x-amz-acl': 'public-read', 'x-amz-copy-source-if-match': '"etag"' },
    params: { Bucket: 'prod-bucket', Key: 'q3.csv', CopySource: 'staging/reports/q3.csv', Metadata: { a: '1', b: '2', c: '3', d: '4' } },
    ruleId: 'prod-writes',
    expiresAt: iso(60_000),
    ...extra,
  };
}

const grantCreated: GatewayEvent = { type: 'grant.created', at: iso(0), grantId: 'g-7hxk', approvalId: 'c0py', sessionId: 's1', serviceAccount: 'ci-bot', pairs: PAIRS.slice(1), by: 'alice', until: iso(600_000) };

function model(...events: GatewayEvent[]): DashboardModel {
  const m = new DashboardModel({ now: () => T0 });
  m.apply({ type: 'session.started', at: iso(0), sessionId: 's1', serviceAccount: 'ci-bot', issuer: 'i', subject: 's', claims: {}, roleArn: 'arn:aws:iam::1:role/r', expiresAt: iso(3_600_000), policySha256: 'x' });
  for (const e of events) m.apply(e);
  return m;
}

const text = (lines: string[]) => lines.map(plain).join('\n');

describe('approval prompt', () => {
  it('shows every pair in full (wrapped), the body size and short hash, the headers and the params at 120×40', () => {
    const m = model(copyProposed());
    const ui = initialUi();
    const p = m.promptFor()!;
    const modal = approvalModal(p.row, p.index, p.total, ui, m, mono, 120, 40);
    const shown = text(modal.lines);
    expect(modal.scrollMax).toBe(0);
    expect(shown).toMatch(/Covers 3 pairs +s3:PutObject on arn:aws:s3:::prod-bucket\/reports\//);
    // The long destination is wrapped, not cut: joined back, it is whole.
    expect(shown.replace(/\n {17}/g, '')).toContain(`s3:PutObject on ${LONG_DST}`);
    expect(shown).toContain('s3:GetObject on arn:aws:s3:::staging/reports/q3.csv');
    expect(shown).toContain('s3:PutObjectAcl on arn:aws:s3:::prod-bucket/q3.csv');
    expect(shown).toMatch(/Body +12\.3 KiB sha256:ab12cd34…/);
    expect(shown).toMatch(/Headers +x-amz-acl: public-read\n +x-amz-copy-source-if-match: "etag"/);
    expect(shown).toContain('"CopySource": "staging/reports/q3.csv"');
    for (const line of modal.lines) expect(plain(line).length).toBeLessThanOrEqual(76);
  });

  it('at 80×24 fits the screen and scrolls: ↑↓ move the window, clamped at both ends', () => {
    const m = model(copyProposed());
    const ui = initialUi();
    const p = m.promptFor()!;
    let modal = approvalModal(p.row, p.index, p.total, ui, m, mono, 80, 24);
    // 24 rows: 2 for the border leaves 22, and the box may be at most 22 tall.
    expect(modal.lines.length + 2).toBeLessThanOrEqual(22);
    expect(modal.scrollMax).toBeGreaterThan(0);
    const first = text(modal.lines);
    expect(first).toContain('Covers 3 pairs');
    expect(first).toMatch(/↑↓ scroll · 0 lines above · \d+ below/);
    expect(first).toContain('[d] Deny');
    const ctx: KeyContext = { model: m, sessionIds: ['s1'], pendingIds: ['c0py'], logSeqs: [], logPageRows: 1, approvalScrollMax: modal.scrollMax };
    expect(handleKey(ui, 'G', ctx)).toEqual([]);
    expect(ui.approval.scroll).toBe(modal.scrollMax);
    modal = approvalModal(p.row, p.index, p.total, ui, m, mono, 80, 24);
    const last = text(modal.lines);
    expect(last).toMatch(/Body +12\.3 KiB sha256:ab12cd34…/);
    expect(last).toContain('"d": "4"');
    expect(last).toMatch(/· 0 below/);
    handleKey(ui, 'down', ctx);
    expect(ui.approval.scroll).toBe(modal.scrollMax);
    handleKey(ui, 'up', ctx);
    handleKey(ui, 'k', ctx);
    expect(ui.approval.scroll).toBe(modal.scrollMax! - 2);
    handleKey(ui, 'g', ctx);
    expect(ui.approval.scroll).toBe(0);
    // Scrolling never decides anything, and the safe answer stays focused.
    expect(ui.approval.button).toBe('deny');
  });

  it('an event without pairs shows the primary action and resource as the one pair; no body, no headers said so', () => {
    const m = model(copyProposed({ pairs: undefined, body: undefined, headers: undefined, action: 's3:DeleteObject', resource: 'arn:aws:s3:::b/k' }));
    const p = m.promptFor()!;
    const shown = text(approvalModal(p.row, p.index, p.total, initialUi(), m, mono, 120, 40).lines);
    expect(shown).toMatch(/Covers 1 pair +s3:DeleteObject on arn:aws:s3:::b\/k/);
    expect(shown).toMatch(/Body +no body/);
    expect(shown).toMatch(/Headers +none that change the effect/);
  });

  it('snapshots (applyPending) carry the same fields as events', () => {
    const m = new DashboardModel({ now: () => T0 });
    m.applyPending([{ id: 'c0py', sessionId: 's1', requestId: 'r1', serviceAccount: 'ci-bot', action: 's3:CopyObject', resource: LONG_DST, pairs: PAIRS, region: 'eu-west-1', body: { bytes: 5, sha256: SHA }, headers: { 'x-amz-acl': 'private' }, ruleId: 'r', createdAt: iso(0), expiresAt: iso(60_000), held: true }]);
    expect(m.pending.get('c0py')).toMatchObject({ pairs: PAIRS, body: { bytes: 5, sha256: SHA }, headers: { 'x-amz-acl': 'private' } });
  });
});

describe('session detail', () => {
  it('lists the held call with its pairs and body, and the grants approved from the session', () => {
    const m = model(copyProposed(), grantCreated);
    const shown = text(detailModal('s1', m, mono, 120, 40).lines);
    expect(shown).toMatch(/Held +c0py s3:CopyObject \(rule prod-writes\), 3 pairs/);
    expect(shown.replace(/\n {3}/g, '')).toContain(`s3:PutObject on ${LONG_DST}`);
    expect(shown).toContain('   s3:GetObject on arn:aws:s3:::staging/reports/q3.csv');
    expect(shown).toContain('   body 12.3 KiB sha256:ab12cd34…');
    expect(shown).toContain('   header x-amz-copy-source-if-match: "etag"');
    expect(shown).toMatch(/Grant +g-7hxk by alice, 10m00s left, used 0×/);
  });
});

describe('grants in the dashboard', () => {
  it('the model follows grant.created / used / ended and logs creation and end', () => {
    const m = model(grantCreated);
    expect(m.grantList()).toMatchObject([{ id: 'g-7hxk', serviceAccount: 'ci-bot', pairs: PAIRS.slice(1), by: 'alice', uses: 0 }]);
    m.apply({ type: 'grant.used', at: iso(1000), grantId: 'g-7hxk', approvalId: 'c0py', sessionId: 's2', requestId: 'r9' });
    expect(m.grants.get('g-7hxk')!.uses).toBe(1);
    m.apply({ type: 'grant.ended', at: iso(2000), grantId: 'g-7hxk', approvalId: 'c0py', sessionId: 's1', reason: 'revoked', by: 'bob', uses: 1 });
    expect(m.grantList()).toEqual([]);
    const log = m.log.toArray().filter((e) => e.action === 'grant g-7hxk');
    expect(log.map((e) => [e.decision, e.note])).toEqual([
      ['approved', 'by alice for 10m00s'],
      ['info', 'ended: revoked by bob, 1 use'],
    ]);
    m.applyGrants([{ id: 'g-2', approvalId: 'a', sessionId: 's1', serviceAccount: 'etl', pairs: ['s3:GetObject arn:aws:s3:::b/k'], by: 'carol', createdAt: iso(0), until: iso(60_000), uses: 4 }]);
    expect(m.grantList().map((g) => [g.id, g.uses])).toEqual([['g-2', 4]]);
  });

  it('the pending panel lists grants under the held calls, with their pairs and who approved', () => {
    const m = model(copyProposed(), grantCreated);
    const ui = initialUi();
    ui.selectedPending = 'g-7hxk';
    const v = pendingView(m, ui, mono, 78, 6, 0, true);
    expect(v.label).toBe(' Pending[1] Grants[1] ');
    expect(v.ids).toEqual(['c0py', 'g-7hxk']);
    const shown = text(v.lines);
    expect(shown).toMatch(/c0py +ci-bot +s3:CopyObject +3 pairs: s3::…al\.csv +\d+s/);
    expect(shown).toMatch(/GRANT +ACCOUNT +BY +PAIRS +USES +LEFT/);
    expect(shown).toMatch(/g-7hxk +ci-bot +alice +2 pairs: s3:GetObject on arn… +0 10m00s/);
    const empty = pendingView(model(grantCreated), initialUi(), mono, 78, 6, 0, true);
    expect(empty.label).toBe(' Pending[0] Grants[1] ');
    expect(text(empty.lines)).toContain('no calls waiting for approval');
  });

  it('k on a selected grant asks first with Cancel focused; Enter there ends nothing; Tab then Enter ends it', () => {
    const m = model(grantCreated);
    const ui = initialUi();
    ui.focus = 'pending';
    ui.selectedPending = 'g-7hxk';
    const ctx: KeyContext = { model: m, sessionIds: ['s1'], pendingIds: ['g-7hxk'], logSeqs: [], logPageRows: 1 };
    expect(handleKey(ui, 'k', ctx)).toEqual([]);
    expect(ui.overlay).toEqual({ kind: 'confirm-revoke-grant', grantId: 'g-7hxk', focus: 'cancel' });
    const confirm = text(confirmModal(ui.overlay as Extract<typeof ui.overlay, { kind: 'confirm-revoke-grant' }>, m, mono, 80).lines);
    expect(confirm).toContain('End grant g-7hxk (ci-bot, approved by alice)?');
    expect(confirm).toContain('s3:GetObject on arn:aws:s3:::staging/reports/q3.csv');
    expect(handleKey(ui, 'enter', ctx)).toEqual([]);
    expect(ui.overlay.kind).toBe('none');
    handleKey(ui, 'k', ctx);
    expect(handleKey(ui, 'escape', ctx)).toEqual([]);
    handleKey(ui, 'enter', ctx);
    expect(ui.overlay.kind).toBe('confirm-revoke-grant');
    handleKey(ui, 'tab', ctx);
    expect(handleKey(ui, 'enter', ctx)).toEqual([{ type: 'revokeGrant', id: 'g-7hxk' }]);
    // In the sessions panel k still revokes the session (after its own confirm).
    ui.focus = 'sessions';
    handleKey(ui, 'k', ctx);
    expect(ui.overlay).toMatchObject({ kind: 'confirm-revoke', sessionId: 's1' });
  });
});
