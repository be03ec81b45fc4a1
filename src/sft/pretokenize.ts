/**
 * The Qwen2 / Qwen3 pre-tokenizer split, by hand for ASCII text: the regex below, one piece at a
 * time, without a match object or a string per piece. Whatever needs a non-ASCII character to decide
 * is left to the regex itself (see {@link asciiPieceEnd}), so the split is always the regex's.
 */

/** The pre-tokenizer pattern of Qwen2 / Qwen3 tokenizer.json files (Oniguruma syntax), which {@link asciiPieceEnd} implements. */
export const qwen2Pattern = String.raw`(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`

const letter = 1
const digit = 2
const space = 3
const other = 4
/** Class of each ASCII code: letter, digit, White_Space (\t \n \v \f \r and space), or anything else. */
const classes = new Uint8Array(128).map((_, code) =>
  (code >= 65 && code <= 90) || (code >= 97 && code <= 122) ? letter
    : code >= 48 && code <= 57 ? digit
      : (code >= 9 && code <= 13) || code === 32 ? space
        : other)

/** Class of the character at `i`: 0 past the end, -1 for a non-ASCII one (undecided here). */
function classAt(text: string, i: number): number {
  if (i >= text.length) return 0
  const code = text.charCodeAt(i)
  return code < 128 ? classes[code]! : -1
}

/** End of the run of characters of class `kind` from `i`, or -1 when a non-ASCII character ends it (it might belong). */
function runEnd(text: string, i: number, kind: number): number {
  let j = i
  for (;;) {
    const c = classAt(text, j)
    if (c === kind) j++
    else return c === -1 ? -1 : j
  }
}

/** Whether the characters from `i` are `'` and a contraction the pattern names (case-insensitive s, t, re, ve, m, ll, d). */
function contractionEnd(text: string, i: number): number {
  const a = text.charCodeAt(i + 1) | 32
  if (a === 115 || a === 116 || a === 109 || a === 100) return i + 2 // s t m d
  const b = text.charCodeAt(i + 2) | 32
  if ((a === 114 && b === 101) || (a === 118 && b === 101) || (a === 108 && b === 108)) return i + 3 // re ve ll
  return -1
}

/**
 * End of the pre-tokenizer piece that starts at `i` (< text.length) of `text`, as the pattern's
 * leftmost alternative that matches gives it; -1 when deciding it needs a non-ASCII character
 * (then the caller runs the regex at `i`). `text` ends where the pattern's input ends.
 */
export function asciiPieceEnd(text: string, i: number): number {
  const c = classAt(text, i)
  if (c === -1) return -1
  const code = text.charCodeAt(i)
  // 'll and friends
  if (code === 39) {
    const end = contractionEnd(text, i)
    if (end !== -1) return end
  }
  // [^\r\n\p{L}\p{N}]?\p{L}+
  if (c === letter) return runEnd(text, i, letter)
  const next = classAt(text, i + 1)
  if (c !== digit && code !== 10 && code !== 13) {
    if (next === -1) return -1
    if (next === letter) return runEnd(text, i + 1, letter)
  }
  // \p{N}
  if (c === digit) return i + 1
  // " ?[^\s\p{L}\p{N}]+[\r\n]*"
  const punctuationStart = c === other ? i : code === 32 && next === other ? i + 1 : -1
  if (punctuationStart !== -1) {
    const end = runEnd(text, punctuationStart, other)
    if (end === -1) return -1
    let j = end
    while (j < text.length && (text.charCodeAt(j) === 10 || text.charCodeAt(j) === 13)) j++
    return j
  }
  // c is White_Space here: \s*[\r\n]+ ends after the run's last line break; \s+(?!\S) leaves the run's last character to what follows it
  const end = runEnd(text, i, space)
  if (end === -1) return -1
  for (let j = end - 1; j >= i; j--) {
    const k = text.charCodeAt(j)
    if (k === 10 || k === 13) return j + 1
  }
  if (end === text.length || end - i === 1) return end
  return end - 1
}
