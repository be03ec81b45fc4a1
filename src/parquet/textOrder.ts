/** The order of strings in Parquet statistics (and DuckDB): by code point, as their UTF-8 bytes. */

/**
 * Compare strings by Unicode code point — the order of their UTF-8 bytes, which Parquet statistics and
 * DuckDB use. JavaScript's `<` compares UTF-16 units instead, which puts characters above U+FFFF
 * (surrogate pairs) before U+E000–U+FFFF.
 */
export function compareText(a: string, b: string): number {
  const length = Math.min(a.length, b.length)
  for (let i = 0; i < length; i++) {
    const x = a.charCodeAt(i)
    const y = b.charCodeAt(i)
    if (x !== y) return x >= 0xd800 && y >= 0xd800 ? codePointRank(x) - codePointRank(y) : x - y
  }
  return a.length - b.length
}

/** Surrogates (code points above U+FFFF) rank after U+E000–U+FFFF. */
function codePointRank(unit: number): number {
  return unit >= 0xe000 ? unit - 0x800 : unit + 0x2000
}
