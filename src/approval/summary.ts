// How what an approval is bound to reads for a human: every (IAM action, resource) pair, the body as
// size and short hash, the effect-changing headers. One wording for the prompt, `pending`, `grants` and replay.

/** `512 B`, `12.3 KiB`, `4.0 MiB`, `1.2 GiB`. */
export function formatSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 ** 2) return `${(bytes / 1024).toFixed(1)} KiB`;
  if (bytes < 1024 ** 3) return `${(bytes / 1024 ** 2).toFixed(1)} MiB`;
  return `${(bytes / 1024 ** 3).toFixed(1)} GiB`;
}

/** `12.3 KiB sha256:ab12cd34…`; `no body` for an empty or absent one. */
export function bodySummary(body: { bytes: number; sha256: string } | undefined): string {
  if (!body || body.bytes === 0) return 'no body';
  return `${formatSize(body.bytes)} sha256:${body.sha256.slice(0, 8)}…`;
}

/** A pair key `action resource` as its two halves (the resource may itself contain spaces). */
export function splitPair(pair: string): { action: string; resource: string } {
  const space = pair.indexOf(' ');
  return space === -1 ? { action: pair, resource: '*' } : { action: pair.slice(0, space), resource: pair.slice(space + 1) };
}

/** `s3:GetObject on arn:aws:s3:::bucket/key`. */
export function describePair(pair: string): string {
  const { action, resource } = splitPair(pair);
  return `${action} on ${resource}`;
}

/** `name: value`, sorted by name. */
export function headerLines(headers: Record<string, string> | undefined): string[] {
  if (!headers) return [];
  return Object.keys(headers)
    .sort()
    .map((name) => `${name}: ${headers[name]}`);
}

/** The pairs of a call, falling back to its primary action and resource when it lists none (older events). */
export function pairsOf(call: { pairs?: readonly string[]; action: string; resource: string }): string[] {
  return call.pairs && call.pairs.length > 0 ? [...call.pairs] : [`${call.action} ${call.resource}`];
}
