/** Tokens of the `--where` language. */

/** One token; `column` is 1-based, for error messages. */
export interface Token {
  type: 'word' | 'string' | 'number' | 'op' | 'punct' | 'end'
  /** The token as written (quotes included). */
  text: string
  /** Strings unquoted and unescaped; numbers parsed. */
  value?: string | number
  column: number
}

/** Raised with the column of the offending character; the parser turns it into a UsageError. */
export class LexError extends Error {
  constructor(message: string, readonly column: number) {
    super(message)
  }
}

const numberPattern = /-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?/y
const wordPattern = /[A-Za-z_][A-Za-z0-9_]*/y
const operatorPattern = /==|!=|<>|<=|>=|=|<|>|~/y
const escapes: Record<string, string> = { '\\': '\\', '\'': '\'', '"': '"', n: '\n', t: '\t' }

/**
 * Split an expression into tokens, ending with an `end` token. Strings take single or double quotes;
 * a doubled quote or a backslash escapes the quote, `\\`, `\n` and `\t` are unescaped and any other
 * backslash stays as written, so regular expressions such as `'\d+'` need no doubling.
 */
export function lex(source: string): Token[] {
  const tokens: Token[] = []
  let i = 0
  const match = (pattern: RegExp): string | undefined => {
    pattern.lastIndex = i
    return pattern.exec(source)?.[0]
  }
  while (i < source.length) {
    const c = source[i]!
    const column = i + 1
    if (/\s/.test(c)) {
      i++
      continue
    }
    if (c === '\'' || c === '"') {
      const [value, end] = readString(source, i)
      tokens.push({ type: 'string', text: source.slice(i, end), value, column })
      i = end
      continue
    }
    const number = match(numberPattern)
    if (number) {
      tokens.push({ type: 'number', text: number, value: Number(number), column })
      i += number.length
      continue
    }
    const word = match(wordPattern) ?? match(operatorPattern)
    if (word) {
      tokens.push({ type: /^[A-Za-z_]/.test(word) ? 'word' : 'op', text: word, column })
      i += word.length
      continue
    }
    if (c === '(' || c === ')' || c === ',') {
      tokens.push({ type: 'punct', text: c, column })
      i++
      continue
    }
    throw new LexError(`unexpected character '${c}'`, column)
  }
  tokens.push({ type: 'end', text: 'end of input', column: source.length + 1 })
  return tokens
}

/** The unescaped string starting at the quote at `start`, and the index after its closing quote. */
function readString(source: string, start: number): [string, number] {
  const quote = source[start]!
  let value = ''
  let i = start + 1
  while (i < source.length) {
    const c = source[i]!
    if (c === quote) {
      if (source[i + 1] !== quote) return [value, i + 1]
      value += quote
      i += 2
    } else if (c === '\\' && i + 1 < source.length) {
      const next = source[i + 1]!
      value += escapes[next] ?? `\\${next}`
      i += 2
    } else {
      value += c
      i++
    }
  }
  throw new LexError('unterminated string', start + 1)
}
