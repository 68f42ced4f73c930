// Reading recordings back, and turning them into other formats: JSONL as stored, HAR 1.2 (browser devtools,
// HAR viewers) and OCSF API Activity events (class_uid 6003) for a SIEM. The converters are pure.

import { STATUS_CODES } from 'node:http';
import { readFile } from 'node:fs/promises';
import type { ApprovalLine, DecisionLine, HeaderLine, RecordLine, RequestLine, ResponseLine } from './chain.js';

export interface ParsedSession {
  header: HeaderLine;
  lines: RecordLine[];
  /** The file ends with a partial line (a crash); it is left out. */
  torn: boolean;
}

/** Parses a recording's complete lines. Throws with the line number when a line is not JSON or the header is missing. */
export function parseSession(text: string, name = 'recording'): ParsedSession {
  const parts = text.split('\n');
  const torn = parts.at(-1) !== '';
  const complete = parts.slice(0, -1);
  const lines = complete.map((raw, i) => {
    try {
      return JSON.parse(raw) as RecordLine;
    } catch {
      throw new Error(`${name}: line ${i + 1} is not JSON`);
    }
  });
  const header = lines[0];
  if (!header || header.type !== 'header') throw new Error(`${name}: line 1 is not a session header`);
  return { header, lines, torn };
}

export async function readSession(path: string): Promise<ParsedSession> {
  return parseSession(await readFile(path, 'utf8'), path);
}

/** One AWS call as recorded: its request and whatever followed it. */
export interface RecordedCall {
  request: RequestLine;
  decisions: DecisionLine[];
  approvals: ApprovalLine[];
  response?: ResponseLine;
}

export function callsOf(session: ParsedSession): RecordedCall[] {
  const calls = new Map<string, RecordedCall>();
  const approvalRequest = new Map<string, string>();
  for (const line of session.lines) {
    switch (line.type) {
      case 'request':
        calls.set(line.requestId, { request: line, decisions: [], approvals: [] });
        break;
      case 'decision':
        calls.get(line.requestId)?.decisions.push(line);
        break;
      case 'response': {
        const found = calls.get(line.requestId);
        if (found) found.response = line;
        break;
      }
      case 'approval': {
        if (line.requestId !== undefined && line.step === 'proposed') approvalRequest.set(line.approvalId, line.requestId);
        // Proposal and decision belong to the held call; `executed` to the retry that the grant let through.
        const requestId = line.step === 'proposed' || line.step === 'executed' ? line.requestId : approvalRequest.get(line.approvalId);
        if (requestId !== undefined) calls.get(requestId)?.approvals.push(line);
        break;
      }
      default:
        break;
    }
  }
  return [...calls.values()];
}

/** The MCP tool call that caused an AWS call (or the candidates), as exports carry it. */
function toolCallLink(request: RequestLine): Record<string, unknown> {
  if (request.toolCallId !== undefined) return { toolCallId: request.toolCallId };
  return request.toolCallCandidates !== undefined ? { toolCallCandidates: request.toolCallCandidates } : {};
}

function operationOf(action: string): string {
  const colon = action.indexOf(':');
  return colon === -1 ? action : action.slice(colon + 1);
}

function mimeTypeOf(text: string | undefined): string {
  const start = text?.trimStart()[0];
  if (start === '<') return 'application/xml';
  if (start === '{' || start === '[') return 'application/json';
  return 'text/plain';
}

/** The call's outcome at the gateway: the last decision, a grant counting as allow. */
function effectOf(call: RecordedCall): 'allow' | 'deny' | 'approve' | undefined {
  return call.decisions.at(-1)?.effect;
}

// ---------- HAR 1.2 ----------

export interface HarNameValue {
  name: string;
  value: string;
}

export interface HarEntry {
  pageref: string;
  startedDateTime: string;
  time: number;
  request: {
    method: string;
    url: string;
    httpVersion: string;
    headers: HarNameValue[];
    queryString: HarNameValue[];
    cookies: HarNameValue[];
    headersSize: number;
    bodySize: number;
    postData?: { mimeType: string; text: string; params?: HarNameValue[] };
  };
  response: {
    status: number;
    statusText: string;
    httpVersion: string;
    headers: HarNameValue[];
    cookies: HarNameValue[];
    content: { size: number; mimeType: string; text?: string };
    redirectURL: string;
    headersSize: number;
    bodySize: number;
  };
  cache: Record<string, never>;
  timings: { send: number; wait: number; receive: number };
  _portcullis: Record<string, unknown>;
}

export interface Har {
  log: {
    version: '1.2';
    creator: { name: string; version: string };
    pages: Array<{ startedDateTime: string; id: string; title: string; pageTimings: { onContentLoad: number; onLoad: number } }>;
    entries: HarEntry[];
  };
}

const JSON_TYPES = /^application\/(x-amz-json-[\d.]+|json|[\w.+-]*\+json)\b/i;
const FORM_TYPE = /^application\/x-www-form-urlencoded\b/i;

/** Flat string params, as a query-protocol form body held them. */
function formParams(params: unknown): HarNameValue[] | undefined {
  if (typeof params !== 'object' || params === null || Array.isArray(params)) return undefined;
  const entries = Object.entries(params as Record<string, unknown>);
  if (!entries.every(([, v]) => typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean')) return undefined;
  return entries.map(([name, value]) => ({ name, value: String(value) }));
}

/**
 * The request body as HAR postData: only for bodies the recording holds (JSON and form protocols, as masked params);
 * a binary upload (an S3 PUT) has its size in bodySize and no text.
 */
function postDataOf(request: RequestLine): HarEntry['request']['postData'] {
  if (request.params === undefined) return undefined;
  const contentType = request.http?.contentType;
  const text = typeof request.params === 'string' ? request.params : JSON.stringify(request.params);
  if (request.http === undefined) return { mimeType: 'application/json', text };
  if (contentType === undefined) return undefined;
  if (FORM_TYPE.test(contentType)) {
    const params = request.paramsTruncated ? undefined : formParams(request.params);
    if (params) return { mimeType: contentType, text: new URLSearchParams(params.map((p) => [p.name, p.value])).toString(), params };
    return { mimeType: contentType, text };
  }
  if (JSON_TYPES.test(contentType)) return { mimeType: contentType, text };
  return undefined;
}

function urlOf(request: RequestLine): string {
  const http = request.http;
  // Recordings made before the wire form was kept: the service endpoint and operation.
  if (!http) return `https://${request.service}.${request.region}.amazonaws.com/?Action=${encodeURIComponent(operationOf(request.action))}`;
  const host = http.host ?? `${request.service}.${request.region}.amazonaws.com`;
  const query = (http.query ?? []).map((p) => `${encodeURIComponent(p.name)}${p.value === '' ? '' : `=${encodeURIComponent(p.value)}`}`).join('&');
  const path = (http.path.startsWith('/') ? http.path : `/${http.path}`).split('/').map(encodeURIComponent).join('/');
  return `https://${host}${path}${query === '' ? '' : `?${query}`}`;
}

function harEntry(session: ParsedSession, call: RecordedCall): HarEntry {
  const { request, response } = call;
  const http = request.http;
  const decision = call.decisions.at(-1);
  const postData = postDataOf(request);
  const requestHeaders: HarNameValue[] = [];
  if (http?.host) requestHeaders.push({ name: 'Host', value: http.host });
  if (http?.userAgent) requestHeaders.push({ name: 'User-Agent', value: http.userAgent });
  if (http?.contentType) requestHeaders.push({ name: 'Content-Type', value: http.contentType });
  const requestBodyBytes = response?.requestBytes ?? (postData ? (request.paramsTruncated?.bytes ?? Buffer.byteLength(postData.text)) : 0);
  if (http && requestBodyBytes > 0) requestHeaders.push({ name: 'Content-Length', value: String(requestBodyBytes) });
  const responseMime = response?.contentType ?? mimeTypeOf(response?.bodyExcerpt);
  const responseHeaders: HarNameValue[] = response ? [{ name: 'Content-Type', value: responseMime }, { name: 'Content-Length', value: String(response.bytes) }] : [];
  const durationMs = response?.durationMs ?? 0;
  const status = response?.status ?? 0;
  return {
    pageref: session.header.sessionId,
    startedDateTime: request.at,
    time: durationMs,
    request: {
      method: http?.method ?? 'POST',
      url: urlOf(request),
      httpVersion: 'HTTP/1.1',
      headers: requestHeaders,
      queryString: http ? (http.query ?? []) : [{ name: 'Action', value: operationOf(request.action) }],
      cookies: [],
      headersSize: -1,
      bodySize: requestBodyBytes,
      ...(postData ? { postData } : {}),
    },
    response: {
      status,
      statusText: response ? (STATUS_CODES[status] ?? '') : '',
      httpVersion: 'HTTP/1.1',
      headers: responseHeaders,
      cookies: [],
      content: {
        size: response?.bytes ?? 0,
        mimeType: responseMime,
        ...(response?.bodyExcerpt === undefined ? {} : { text: response.bodyExcerpt }),
      },
      redirectURL: '',
      headersSize: -1,
      bodySize: response?.bytes ?? -1,
    },
    cache: {},
    timings: { send: 0, wait: durationMs, receive: 0 },
    _portcullis: {
      sessionId: session.header.sessionId,
      serviceAccount: session.header.serviceAccount,
      requestId: request.requestId,
      action: request.action,
      resource: request.resource,
      region: request.region,
      ...(request.params === undefined ? {} : { params: request.params }),
      ...(request.paramsTruncated ? { paramsTruncated: request.paramsTruncated } : {}),
      ...(request.traceparent ? { traceparent: request.traceparent } : {}),
      ...(response?.errorCode ? { errorCode: response.errorCode } : {}),
      ...(decision ? { effect: decision.effect, ruleId: decision.ruleId, ...(decision.via ? { via: decision.via } : {}) } : {}),
      ...(call.approvals.length > 0 ? { approvals: call.approvals.map((a) => ({ step: a.step, at: a.at, ...(a.by ? { by: a.by } : {}), ...(a.decision ? { decision: a.decision } : {}) })) } : {}),
      ...(response?.masking ? { masking: response.masking } : {}),
      ...toolCallLink(request),
      ...(response === undefined ? { incomplete: 'no response recorded' } : {}),
    },
  };
}

export function toHar(sessions: ParsedSession[], creatorVersion: string): Har {
  const entries = sessions.flatMap((s) => callsOf(s).map((c) => harEntry(s, c)));
  entries.sort((a, b) => a.startedDateTime.localeCompare(b.startedDateTime));
  return {
    log: {
      version: '1.2',
      creator: { name: 'portcullis', version: creatorVersion },
      pages: sessions.map((s) => ({
        startedDateTime: s.header.start,
        id: s.header.sessionId,
        title: `${s.header.serviceAccount} — session ${s.header.sessionId}`,
        pageTimings: { onContentLoad: -1, onLoad: -1 },
      })),
      entries,
    },
  };
}

// ---------- OCSF API Activity (1.3.0) ----------

export type OcsfActivityId = 1 | 2 | 3 | 4 | 99;

const ACTIVITY_NAMES: Record<OcsfActivityId, string> = { 1: 'Create', 2: 'Read', 3: 'Update', 4: 'Delete', 99: 'Other' };

// Verb prefixes of AWS operation names (as in CloudTrail eventName), checked in this order.
const VERBS: Array<[OcsfActivityId, RegExp]> = [
  [4, /^(Delete|Remove|Terminate|Detach|Disassociate|Deregister|Purge|Revoke|Release|Cancel|Abort|Deactivate)/],
  [1, /^(Create|Put|Post|Add|Upload|Copy|Run|Send|Publish|Import|Register|Allocate|Issue|Request|Generate|Invoke|Execute|Batch(Write|Put))/],
  [3, /^(Update|Modify|Set|Change|Attach|Associate|Tag|Untag|Enable|Disable|Restore|Reset|Rotate|Start|Stop|Reboot|Replace|Edit|Apply|Transact|Assume|Encrypt|Decrypt|ReEncrypt|Sign)/],
  [2, /^(Get|List|Describe|Head|Query|Scan|Select|Search|Lookup|BatchGet|Read|Retrieve|Download|Verify|Check|Test|Estimate|Preview|Receive|Fetch|Poll)/],
];

/** OCSF activity for an AWS operation name, from its verb. */
export function ocsfActivity(operation: string): OcsfActivityId {
  for (const [id, pattern] of VERBS) if (pattern.test(operation)) return id;
  return 99;
}

export interface OcsfApiActivity {
  activity_id: OcsfActivityId;
  activity_name: string;
  category_uid: 6;
  category_name: 'Application Activity';
  class_uid: 6003;
  class_name: 'API Activity';
  type_uid: number;
  type_name: string;
  time: number;
  severity_id: number;
  severity: string;
  status_id: 1 | 2 | 0;
  status: 'Success' | 'Failure' | 'Unknown';
  status_code?: string;
  status_detail?: string;
  disposition_id: 1 | 2 | 0;
  disposition: 'Allowed' | 'Blocked' | 'Unknown';
  message: string;
  actor: {
    user: { name: string; uid: string; type_id: 3; type: 'System'; uid_alt: string };
    session: { uid: string; issuer: string; created_time: number; expiration_time: number };
  };
  api: {
    operation: string;
    service: { name: string };
    request: { uid: string };
    response?: { code: number; error?: string };
  };
  src_endpoint: { ip?: string };
  http_request?: { http_method: string; url: { hostname?: string; path: string; query_string?: string; url_string: string }; user_agent?: string; length?: number };
  resources: Array<{ uid: string; type?: string }>;
  cloud: { provider: 'AWS'; region: string };
  duration?: number;
  metadata: {
    version: '1.3.0';
    uid: string;
    original_time: string;
    log_name: string;
    product: { name: 'portcullis'; vendor_name: string; version: string };
  };
  unmapped: Record<string, unknown>;
}

export function ocsfEvent(session: ParsedSession, call: RecordedCall, productVersion: string): OcsfApiActivity {
  const { header } = session;
  const { request, response } = call;
  const operation = operationOf(request.action);
  const activityId = ocsfActivity(operation);
  const effect = effectOf(call);
  const decision = call.decisions.at(-1);
  const blocked = effect === 'deny' || (effect === 'approve' && (response === undefined || response.status >= 400));
  const allowed = effect === 'allow' || (effect === 'approve' && !blocked);
  const succeeded = response !== undefined && response.status < 400;
  const resourceType = request.resource === '*' ? undefined : request.resource.split(':')[2];
  return {
    activity_id: activityId,
    activity_name: ACTIVITY_NAMES[activityId],
    category_uid: 6,
    category_name: 'Application Activity',
    class_uid: 6003,
    class_name: 'API Activity',
    type_uid: 600300 + activityId,
    type_name: `API Activity: ${ACTIVITY_NAMES[activityId]}`,
    time: Date.parse(request.at),
    // Informational unless the gateway blocked the call.
    severity_id: blocked ? 3 : 1,
    severity: blocked ? 'Medium' : 'Informational',
    status_id: response === undefined ? 0 : succeeded ? 1 : 2,
    status: response === undefined ? 'Unknown' : succeeded ? 'Success' : 'Failure',
    ...(response ? { status_code: String(response.status) } : {}),
    ...(response?.errorCode ? { status_detail: response.errorCode } : {}),
    disposition_id: blocked ? 2 : allowed ? 1 : 0,
    disposition: blocked ? 'Blocked' : allowed ? 'Allowed' : 'Unknown',
    message: `${header.serviceAccount} ${request.action} ${request.resource}: ${effect ?? 'undecided'}${decision ? ` by rule ${decision.ruleId}` : ''}`,
    actor: {
      user: { name: header.serviceAccount, uid: header.serviceAccount, type_id: 3, type: 'System', uid_alt: `${header.issuer}#${header.subject}` },
      session: { uid: header.sessionId, issuer: header.issuer, created_time: Date.parse(header.start), expiration_time: Date.parse(header.expiresAt) },
    },
    api: {
      operation,
      service: { name: request.service },
      request: { uid: request.requestId },
      ...(response ? { response: { code: response.status, ...(response.errorCode ? { error: response.errorCode } : {}) } } : {}),
    },
    src_endpoint: (request.sourceIp ?? header.sourceIp) === undefined ? {} : { ip: (request.sourceIp ?? header.sourceIp)! },
    ...(request.http ? { http_request: httpRequestOf(request, response) } : {}),
    resources: [{ uid: request.resource, ...(resourceType ? { type: resourceType } : {}) }],
    cloud: { provider: 'AWS', region: request.region },
    ...(response ? { duration: response.durationMs } : {}),
    metadata: {
      version: '1.3.0',
      uid: `${header.sessionId}/${request.requestId}`,
      original_time: request.at,
      log_name: 'portcullis-sessions',
      product: { name: 'portcullis', vendor_name: 'portcullis', version: productVersion },
    },
    unmapped: {
      role_arn: header.roleArn,
      ...toolCallLink(request),
      ...(decision ? { effect: decision.effect, rule: decision.ruleId, ...(decision.via ? { via: decision.via } : {}) } : {}),
      ...(call.approvals.length > 0 ? { approvals: call.approvals.map((a) => ({ step: a.step, at: a.at, ...(a.by ? { by: a.by } : {}), ...(a.decision ? { decision: a.decision } : {}) })) } : {}),
    },
  };
}

function httpRequestOf(request: RequestLine, response: ResponseLine | undefined): NonNullable<OcsfApiActivity['http_request']> {
  const http = request.http!;
  const url = new URL(urlOf(request));
  return {
    http_method: http.method,
    url: { ...(http.host ? { hostname: http.host } : {}), path: http.path, ...(url.search ? { query_string: url.search.slice(1) } : {}), url_string: url.href },
    ...(http.userAgent ? { user_agent: http.userAgent } : {}),
    ...(response?.requestBytes === undefined ? {} : { length: response.requestBytes }),
  };
}

export function toOcsf(sessions: ParsedSession[], productVersion: string): OcsfApiActivity[] {
  return sessions.flatMap((s) => callsOf(s).map((c) => ocsfEvent(s, c, productVersion)));
}

/** OCSF events as newline-delimited JSON, the form SIEM collectors ingest. */
export function toOcsfJsonl(sessions: ParsedSession[], productVersion: string): string {
  return toOcsf(sessions, productVersion)
    .map((e) => `${JSON.stringify(e)}\n`)
    .join('');
}
