/**
 * Lone UTF-16 surrogates (from `\ud83d`-style escapes in the source JSON) are written by
 * JSON.stringify as escapes that pyarrow's JSON reader rejects. Training outputs replace them with
 * U+FFFD and count them.
 */

const anySurrogate = /[\uD800-\uDFFF]/
const loneSurrogate = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g

/** `value` with every lone surrogate in its strings (and keys) replaced by U+FFFD; `counts.replaced` grows by how many. */
export function replaceLoneSurrogates<T>(value: T, counts: { replaced: number }): T {
  return fix(value, counts) as T
}

function fix(value: unknown, counts: { replaced: number }): unknown {
  if (typeof value === 'string') {
    if (!anySurrogate.test(value)) return value
    return value.replace(loneSurrogate, () => {
      counts.replaced++
      return '\uFFFD'
    })
  }
  if (Array.isArray(value)) {
    let changed = false
    const out = value.map((item) => {
      const fixed = fix(item, counts)
      changed ||= fixed !== item
      return fixed
    })
    return changed ? out : value
  }
  if (value && typeof value === 'object') {
    let changed = false
    const out: Record<string, unknown> = {}
    for (const [key, item] of Object.entries(value)) {
      const fixedKey = fix(key, counts) as string
      const fixed = fix(item, counts)
      changed ||= fixed !== item || fixedKey !== key
      out[fixedKey] = fixed
    }
    return changed ? out : value
  }
  return value
}
