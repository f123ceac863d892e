// Capability names (`web.fetch`) and the patterns workers advertise (`web.*`, `*`, `{web,llm}.summarize`).
import picomatch from 'picomatch';

const NAME = /^[a-z0-9][a-z0-9_-]*(\.[a-z0-9][a-z0-9_-]*)*$/;
const PATTERN = /^[a-z0-9_.*{},-]+$/;
const cache = new Map<string, (s: string) => boolean>();

/** Null when `name` is a valid capability name, else why not. */
export function validateCapability(name: string): string | null {
  return NAME.test(name) && name.length <= 100
    ? null
    : `"${name}" is not a capability name (lowercase dotted words, e.g. web.fetch)`;
}

/** Null when `pattern` is a valid capability pattern, else why not. */
export function validatePattern(pattern: string): string | null {
  if (!PATTERN.test(pattern) || pattern.length > 200)
    return `"${pattern}" is not a capability pattern (e.g. web.fetch, web.*, *, {web,llm}.summarize)`;
  const open = (pattern.match(/\{/g) ?? []).length;
  if (open !== (pattern.match(/\}/g) ?? []).length) return `"${pattern}" has unbalanced braces`;
  return null;
}

/** Whether a capability is matched by one pattern. `*` matches across dots: `web.*` matches `web.fetch.deep`. */
export function matchesPattern(pattern: string, capability: string): boolean {
  let m = cache.get(pattern);
  if (!m) {
    m = picomatch(pattern, { dot: true, nonegate: true, noextglob: true, nobracket: true });
    cache.set(pattern, m);
  }
  return m(capability);
}

/** Whether any of the patterns matches the capability. */
export function matchesAny(patterns: readonly string[], capability: string): boolean {
  return patterns.some((p) => matchesPattern(p, capability));
}

/** Splits a comma list of patterns, respecting braces: `demo.*,{web,llm}.x` -> two patterns. */
export function parsePatterns(list: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of list) {
    if (ch === '{') depth++;
    if (ch === '}') depth--;
    if (ch === ',' && depth === 0) {
      out.push(cur.trim());
      cur = '';
    } else cur += ch;
  }
  out.push(cur.trim());
  return out.filter(Boolean);
}
