// The replay timeline: each recorded line with its offset from the session start and one line of text.
// Pure; the CLI does the timing and the terminal.

import { bodySummary, describePair, formatSize } from '../approval/summary.js';
import type { RecordLine, ToolLine } from './chain.js';
import type { ParsedSession } from './export.js';

export interface TimelineStep {
  /** Milliseconds since the session started (never negative, never going back). */
  offsetMs: number;
  line: RecordLine;
  text: string;
}

function timeOf(line: RecordLine): string {
  return line.type === 'header' ? line.start : line.at;
}

export function formatOffset(ms: number): string {
  const totalSeconds = Math.floor(ms / 1000);
  const hours = Math.floor(totalSeconds / 3600);
  const minutes = Math.floor((totalSeconds % 3600) / 60);
  const seconds = totalSeconds % 60;
  const millis = Math.floor(ms % 1000);
  const clock = `${String(minutes).padStart(2, '0')}:${String(seconds).padStart(2, '0')}.${String(millis).padStart(3, '0')}`;
  return `+${hours > 0 ? `${hours}:` : ''}${clock}`;
}

export function describeLine(line: RecordLine): string {
  switch (line.type) {
    case 'header':
      return `session ${line.sessionId} started: ${line.serviceAccount} (${line.subject} via ${line.issuer}) as ${line.roleArn}${line.sourceIp ? ` from ${line.sourceIp}` : ''}; expires ${line.expiresAt}`;
    case 'request':
      return `→ ${line.action} ${line.resource} (${line.region}) [${line.requestId}]${line.params === undefined ? '' : ` ${typeof line.params === 'string' ? line.params : JSON.stringify(line.params)}${line.paramsTruncated ? '…' : ''}`}`;
    case 'decision':
      return `  ${line.effect.toUpperCase()} by rule ${line.ruleId}${line.via === 'grant' ? ' (approved earlier)' : ''}${line.message ? `: ${line.message}` : ''}`;
    case 'approval':
      switch (line.step) {
        case 'proposed':
          return `  ⏸ approval ${line.approvalId} requested (rule ${line.ruleId ?? '?'}, until ${line.expiresAt ?? '?'})${line.pairs ? `; covers ${line.pairs.map(describePair).join(', ')}; body ${bodySummary(line.body)}` : ''}${line.headers && Object.keys(line.headers).length > 0 ? `; headers ${Object.keys(line.headers).sort().join(', ')}` : ''}`;
        case 'decided':
          return `  ${line.decision === 'approved' ? '✔' : '✘'} approval ${line.approvalId} ${line.decision ?? 'decided'} by ${line.by ?? '?'}${line.reason ? `: ${line.reason}` : ''}`;
        case 'expired':
          return `  ⌛ approval ${line.approvalId} expired (denied)`;
        case 'executed':
          return `  ▶ approved call ${line.requestId ?? ''} executed (approval ${line.approvalId})`;
      }
      return '';
    case 'grant':
      switch (line.step) {
        case 'created':
          return `  ⏲ grant ${line.grantId} created by ${line.by ?? '?'} from approval ${line.approvalId}: ${line.serviceAccount ?? '?'} may ${(line.pairs ?? []).map(describePair).join(', ')} until ${line.until ?? '?'}`;
        case 'used':
          return `  ⏲ grant ${line.grantId} let request ${line.requestId ?? '?'} through (approval ${line.approvalId})`;
        case 'ended':
          return `  ⏲ grant ${line.grantId} ended (${line.reason ?? '?'}${line.by ? ` by ${line.by}` : ''}) after ${line.uses ?? '?'} use(s)`;
      }
      return '';
    case 'response':
      return `← ${line.status}${line.errorCode ? ` ${line.errorCode}` : ''} ${formatSize(line.bytes)} in ${line.durationMs} ms [${line.requestId}]`;
    case 'policy':
      return line.step === 'loaded'
        ? `policy loaded: ${line.file} sha256 ${line.sha256?.slice(0, 12) ?? '?'}… (${line.rules ?? '?'} rules)`
        : `policy edit rejected: ${line.file} (${line.errors ?? '?'} errors)${line.keptSha256 ? `; kept ${line.keptSha256.slice(0, 12)}…` : ''}`;
    case 'tool':
      return describeToolLine(line);
    case 'revocation':
      return `session revoked by ${line.by}${line.reason ? `: ${line.reason}` : ''}`;
    case 'end':
      return `session ended (${line.reason})`;
    case 'digest':
      return `# ${line.kind} digest over ${line.count} lines, signed by key ${line.kid}`;
  }
}

function describeToolLine(line: ToolLine): string {
  const what = `${line.server}/${line.tool}${line.toolCallId ? ` [${line.toolCallId}]` : ''}`;
  switch (line.step) {
    case 'decided':
      return `⚒ tool ${what} ${(line.effect ?? '?').toUpperCase()} by rule ${line.ruleId ?? '?'}${line.pendingApproval ? ` (waiting for approval ${line.pendingApproval})` : ''}${line.message ? `: ${line.message}` : ''}`;
    case 'started':
      return `⚒ tool call ${what} started${line.arguments === undefined ? '' : ` ${typeof line.arguments === 'string' ? line.arguments : JSON.stringify(line.arguments)}${line.argumentsTruncated ? '…' : ''}`}`;
    case 'ended':
      return `⚒ tool call ${what} ended: ${line.outcome ?? '?'} in ${line.durationMs ?? '?'} ms${line.error ? `: ${line.error}` : ''}`;
    case 'changed':
      return `⚠ tool ${what} changed since first seen (${(line.fields ?? []).join(', ') || 'fingerprint'}): ${line.before?.slice(0, 12) ?? '?'}… → ${line.after?.slice(0, 12) ?? '?'}…`;
  }
}

/**
 * Lines of an AWS call made while a tool call ran (its request, decision, approval steps and response) are indented
 * under that tool call; a call with several candidate tool calls names them.
 */
function nestUnderToolCalls(lines: readonly RecordLine[], texts: string[]): string[] {
  const byRequest = new Map<string, string>();
  return lines.map((line, i) => {
    const text = texts[i]!;
    if (line.type === 'request') {
      if (line.toolCallId !== undefined) byRequest.set(line.requestId, line.toolCallId);
      else if (line.toolCallCandidates !== undefined) return `${text} (during tool calls ${line.toolCallCandidates.join(', ')})`;
    }
    const requestId = 'requestId' in line ? line.requestId : undefined;
    return requestId !== undefined && byRequest.has(requestId) ? `    ${text}` : text;
  });
}

export function timeline(session: ParsedSession): TimelineStep[] {
  const startMs = Date.parse(session.header.start);
  let last = 0;
  const texts = nestUnderToolCalls(session.lines, session.lines.map(describeLine));
  return session.lines.map((line, i) => {
    const at = Date.parse(timeOf(line));
    // Clock steps backwards (or unparseable times) must not make playback wait negatively.
    last = Number.isNaN(at) ? last : Math.max(last, at - startMs);
    return { offsetMs: last, line, text: texts[i]! };
  });
}
