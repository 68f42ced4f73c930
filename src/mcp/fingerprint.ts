// The rug-pull guard's memory: a fingerprint of each tool's name, description and input schema on first sight, and
// what changed when a later tools/list describes the same tool differently. Pure.

import { createHash } from 'node:crypto';

export interface ToolDescription {
  name: string;
  description?: unknown;
  inputSchema?: unknown;
}

/** JSON with object keys sorted, so the same schema written in another key order has the same fingerprint. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

export interface ToolFingerprint {
  /** Over name, description and input schema together. */
  sha256: string;
  description: string;
  inputSchema: string;
}

export function fingerprintTool(tool: ToolDescription): ToolFingerprint {
  const description = sha256(canonicalJson(tool.description ?? null));
  const inputSchema = sha256(canonicalJson(tool.inputSchema ?? null));
  return { sha256: sha256(canonicalJson([tool.name, description, inputSchema])), description, inputSchema };
}

export interface ToolChange {
  tool: string;
  before: string;
  after: string;
  /** Which parts differ: `description`, `inputSchema`. */
  fields: string[];
}

/** Tools seen by one wrapper; `observe` answers which of a tools/list's tools changed since first seen. */
export class ToolFingerprints {
  readonly #seen = new Map<string, ToolFingerprint>();
  readonly #changed = new Set<string>();

  observe(tools: readonly ToolDescription[]): ToolChange[] {
    const changes: ToolChange[] = [];
    for (const tool of tools) {
      if (typeof tool?.name !== 'string') continue;
      const now = fingerprintTool(tool);
      const first = this.#seen.get(tool.name);
      if (!first) {
        this.#seen.set(tool.name, now);
        continue;
      }
      if (first.sha256 === now.sha256) {
        this.#changed.delete(tool.name);
        continue;
      }
      this.#changed.add(tool.name);
      const fields = (['description', 'inputSchema'] as const).filter((f) => first[f] !== now[f]);
      changes.push({ tool: tool.name, before: first.sha256, after: now.sha256, fields });
    }
    return changes;
  }

  /** Whether the tool's last description differs from its first (a change stays a change until it is undone). */
  isChanged(name: string): boolean {
    return this.#changed.has(name);
  }

  /** The fingerprint first seen for a tool (the one a change is measured against). */
  first(name: string): ToolFingerprint | undefined {
    return this.#seen.get(name);
  }
}
