// Glob patterns as policies use them: `*` matches any run of characters (including `:` and `/`), `?`
// exactly one; everything else is literal. Compiled once into a predicate so evaluation does no parsing.

export type Matcher = (value: string) => boolean;

export function hasGlob(pattern: string): boolean {
  return pattern.includes('*') || pattern.includes('?');
}

export function globSource(pattern: string): string {
  let source = '';
  for (const ch of pattern) {
    if (ch === '*') source += '[\\s\\S]*';
    else if (ch === '?') source += '[\\s\\S]';
    else source += ch.replace(/[\\^$.|+()[\]{}*?/-]/g, '\\$&');
  }
  return source;
}

export function globToRegExp(pattern: string, options: { caseInsensitive?: boolean } = {}): RegExp {
  return new RegExp(`^(?:${globSource(pattern)})$`, options.caseInsensitive ? 'i' : '');
}

const always: Matcher = () => true;

/** A predicate that is true when the value matches any of the patterns. */
export function compileMatcher(patterns: readonly string[], options: { caseInsensitive?: boolean } = {}): Matcher {
  const fold = options.caseInsensitive ? (s: string) => s.toLowerCase() : (s: string) => s;
  if (patterns.includes('*')) return always;
  const literals = new Set(patterns.filter((p) => !hasGlob(p)).map(fold));
  const globs = patterns.filter(hasGlob);
  if (globs.length === 0) {
    if (literals.size === 1) {
      const only = [...literals][0];
      return options.caseInsensitive ? (v) => v.toLowerCase() === only : (v) => v === only;
    }
    return (v) => literals.has(fold(v));
  }
  const re = new RegExp(`^(?:${globs.map(globSource).join('|')})$`, options.caseInsensitive ? 'i' : '');
  if (literals.size === 0) return (v) => re.test(v);
  return (v) => literals.has(fold(v)) || re.test(v);
}
