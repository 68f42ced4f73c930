import { describe, expect, it } from 'vitest';
import {
  EVENT_TYPES,
  LineSplitter,
  eventMatches,
  eventsQuery,
  matchRoute,
  parseDecisionBody,
  parseEventFilter,
  parseJsonBody,
} from '../../src/admin/protocol.js';
import { decisionEvent } from './fake-control.js';

describe('matchRoute', () => {
  it.each([
    ['GET', '/v1/status', { name: 'status' }],
    ['GET', '/v1/sessions', { name: 'sessions' }],
    ['GET', '/v1/sessions?active=1', { name: 'sessions', active: true }],
    ['GET', '/v1/sessions?active=true', { name: 'sessions', active: true }],
    ['GET', '/v1/sessions?active=0', { name: 'sessions' }],
    ['GET', '/v1/pending', { name: 'pending' }],
    ['POST', '/v1/approvals/k3f9/approve', { name: 'approve', id: 'k3f9' }],
    ['POST', '/v1/approvals/k3f9/deny', { name: 'deny', id: 'k3f9' }],
    ['POST', '/v1/sessions/s-1/revoke', { name: 'revokeSession', id: 's-1' }],
    ['POST', '/v1/service-accounts/ci%20bot/revoke', { name: 'revokeServiceAccount', account: 'ci bot' }],
    ['POST', '/v1/policy/reload', { name: 'reloadPolicy' }],
    ['GET', '/v1/grants', { name: 'grants' }],
    ['POST', '/v1/grants/g-7hxk/revoke', { name: 'revokeGrant', id: 'g-7hxk' }],
    ['GET', '/v1/events', { name: 'events', filter: {} }],
    ['GET', '/v1/events?session=s-1&types=request,response', { name: 'events', filter: { session: 's-1', types: ['request', 'response'] } }],
  ])('%s %s', (method, url, route) => {
    expect(matchRoute(method, url)).toEqual({ ok: true, route });
  });

  it.each([
    ['GET', '/v1/nothing', 404, 'no such admin route: GET /v1/nothing'],
    ['GET', '/v2/status', 404, 'no such admin route: GET /v2/status'],
    ['POST', '/v1/approvals/k3f9/revoke', 404, 'no such admin route'],
    ['POST', '/v1/sessions/s-1/approve', 404, 'no such admin route'],
    ['POST', '/v1/grants/g-7hxk/approve', 404, 'no such admin route'],
    ['POST', '/v1/grants', 405, 'POST /v1/grants: use GET'],
    ['GET', '/v1/grants/g-7hxk/revoke', 405, 'use POST'],
    ['POST', '/v1/grants/g%0A1/revoke', 400, 'grant id contains control characters'],
    ['POST', '/v1/status', 405, 'POST /v1/status: use GET'],
    ['GET', '/v1/approvals/k3f9/approve', 405, 'use POST'],
    ['DELETE', '/v1/policy/reload', 405, 'use POST'],
    ['GET', '/v1/sessions?active=maybe', 400, 'active: "maybe" is not 1, true, 0 or false'],
    ['GET', '/v1/events?types=request,bogus', 400, 'types: unknown event type "bogus"'],
    ['GET', '/v1/events?types=', 400, 'types: empty list'],
    ['GET', '/v1/events?session=', 400, 'session is empty'],
    ['POST', '/v1/approvals/%E0%A4%A/approve', 400, 'approval id: not a valid URL-encoded value'],
    ['POST', '/v1/approvals/a%0Ab/approve', 400, 'approval id contains control characters'],
    ['POST', `/v1/sessions/${'x'.repeat(300)}/revoke`, 400, 'session id is longer than 256 characters'],
  ])('%s %s → %i', (method, url, status, error) => {
    const match = matchRoute(method, url);
    expect(match.ok).toBe(false);
    if (match.ok) return;
    expect(match.status).toBe(status);
    expect(match.error).toContain(error);
  });
});

describe('parseDecisionBody', () => {
  it.each([
    [{ by: 'alice' }, true, { by: 'alice' }],
    [{ by: 'alice', reason: 'ok' }, false, { by: 'alice', reason: 'ok' }],
    [{ by: 'alice', forMs: 600000 }, true, { by: 'alice', forMs: 600000 }],
  ])('accepts %j', (body, allowForMs, expected) => {
    expect(parseDecisionBody(body, { allowForMs })).toEqual({ ok: true, value: expected });
  });

  it('a grant revocation takes only `by`', () => {
    expect(parseDecisionBody({ by: 'alice' }, { allowForMs: false, allowReason: false })).toEqual({ ok: true, value: { by: 'alice' } });
    const parsed = parseDecisionBody({ by: 'alice', reason: 'x' }, { allowForMs: false, allowReason: false });
    expect(parsed).toEqual({ ok: false, error: 'body: unknown field "reason" (allowed: by)' });
  });

  it.each([
    [null, true, 'body: expected a JSON object'],
    [[], true, 'body: expected a JSON object'],
    ['alice', true, 'body: expected a JSON object'],
    [{}, true, 'body.by: required'],
    [{ by: '  ' }, true, 'body.by: required'],
    [{ by: 7 }, true, 'body.by: required'],
    [{ by: 'x'.repeat(129) }, true, 'body.by: longer than 128 characters'],
    [{ by: 'a\u001b[31m' }, true, 'body.by: contains control characters'],
    [{ by: 'alice', reason: 5 }, true, 'body.reason: expected a string'],
    [{ by: 'alice', reason: 'r'.repeat(1025) }, true, 'body.reason: longer than 1024 characters'],
    [{ by: 'alice', forMs: 0 }, true, 'body.forMs: expected a positive whole number'],
    [{ by: 'alice', forMs: -5 }, true, 'body.forMs: expected a positive whole number'],
    [{ by: 'alice', forMs: 1.5 }, true, 'body.forMs: expected a positive whole number'],
    [{ by: 'alice', forMs: '10m' }, true, 'body.forMs: expected a positive whole number'],
    [{ by: 'alice', forMs: 1000 }, false, 'body: unknown field "forMs" (allowed: by, reason)'],
    [{ by: 'alice', for: '10m' }, true, 'body: unknown field "for"'],
  ])('refuses %j', (body, allowForMs, error) => {
    const parsed = parseDecisionBody(body, { allowForMs });
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.error).toContain(error);
  });
});

describe('parseJsonBody', () => {
  it('treats an empty body as {}', () => {
    expect(parseJsonBody('')).toEqual({ ok: true, value: {} });
    expect(parseJsonBody(' \n')).toEqual({ ok: true, value: {} });
  });
  it('refuses malformed JSON with a one-line reason', () => {
    const parsed = parseJsonBody('{"by":');
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.error).toMatch(/^body: not valid JSON \(/);
  });
});

describe('event filters', () => {
  it('dedupes types and keeps the session', () => {
    expect(parseEventFilter(new URLSearchParams('types=request,request, response&session=s1'))).toEqual({
      ok: true,
      value: { session: 's1', types: ['request', 'response'] },
    });
  });

  it('matches by type and by session; sessionless events never match a session filter', () => {
    const decision = decisionEvent('s1', 'r1');
    const policy = { type: 'policy.loaded', at: 'x', file: 'p', sha256: 'h', rules: 1, serviceAccounts: 1 } as const;
    expect(eventMatches(decision, {})).toBe(true);
    expect(eventMatches(decision, { session: 's1' })).toBe(true);
    expect(eventMatches(decision, { session: 's2' })).toBe(false);
    expect(eventMatches(decision, { types: ['decision'] })).toBe(true);
    expect(eventMatches(decision, { types: ['response'] })).toBe(false);
    expect(eventMatches(policy, { session: 's1' })).toBe(false);
    expect(eventMatches(policy, { types: ['policy.loaded'] })).toBe(true);
  });

  it('round-trips through the query string', () => {
    const path = eventsQuery({ session: 's 1', types: ['request', 'approval.proposed'] });
    const match = matchRoute('GET', path);
    expect(match).toEqual({ ok: true, route: { name: 'events', filter: { session: 's 1', types: ['request', 'approval.proposed'] } } });
    expect(eventsQuery({})).toBe('/v1/events');
  });

  it('knows every event type', () => {
    expect(EVENT_TYPES).toContain('approval.decided');
    expect(EVENT_TYPES).toContain('session.ended');
    expect(new Set(EVENT_TYPES).size).toBe(EVENT_TYPES.length);
  });
});

describe('LineSplitter', () => {
  it('joins lines split across chunks and skips blank lines', () => {
    const s = new LineSplitter();
    expect(s.push('{"a":1}\n{"b"')).toEqual(['{"a":1}']);
    expect(s.push(':2}\n\n{"c":3}')).toEqual(['{"b":2}']);
    expect(s.end()).toEqual(['{"c":3}']);
    expect(s.end()).toEqual([]);
  });

  it('refuses an unbounded line', () => {
    const s = new LineSplitter(10);
    expect(() => s.push('x'.repeat(11))).toThrow('event stream line longer than 10 characters');
  });
});
