/** Wildcard patterns with the semantics of SQL LIKE and of globs. */

/** A whole-value matcher for a SQL LIKE pattern (`%`, `_`) or a glob (`*`, `?`); the rest is literal. */
export function wildcardRegExp(pattern: string, syntax: 'like' | 'glob'): RegExp {
  const [any, one] = syntax === 'like' ? ['%', '_'] : ['*', '?']
  let body = ''
  for (const c of pattern) body += c === any ? '.*' : c === one ? '.' : c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')
  return new RegExp(`^${body}$`, 'su')
}
