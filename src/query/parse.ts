import { UsageError } from '../errors.js'

/** A literal value in an expression. */
export type Literal = string | number | boolean | null

/** A parsed row predicate. */
export type Expr =
  | { kind: 'and' | 'or', left: Expr, right: Expr }
  | { kind: 'not', expr: Expr }
  | { kind: 'compare', op: '=' | '!=' | '<' | '<=' | '>' | '>=', field: string, value: Literal }
  | { kind: 'in', field: string, values: Literal[] }
  | { kind: 'like', field: string, pattern: string }
  | { kind: 'regex', field: string, pattern: RegExp }
  | { kind: 'between', field: string, low: Literal, high: Literal }
  | { kind: 'null', field: string }
  | { kind: 'uses_tool', tool: string }
  | { kind: 'ends_with_finish' }
  | { kind: 'id_set', ids: Set<string> }
  | { kind: 'true' }

/** Fields an expression may name, with their type. */
export const fields: Record<string, 'string' | 'number'> = {
  trajectory_id: 'string',
  finish_reason: 'string',
  image: 'string',
  license: 'string',
  reward: 'number',
  task: 'string',
  run: 'number',
  repo: 'string',
  turns: 'number',
  tool_calls: 'number',
  messages_count: 'number',
}

interface Token {
  type: 'word' | 'string' | 'number' | 'op' | 'punct' | 'end'
  text: string
  value?: string | number
  column: number
}

const keywords = new Set(['and', 'or', 'not', 'in', 'like', 'between', 'is', 'null', 'true', 'false'])

function lex(source: string, fail: (message: string, column: number) => never): Token[] {
  const tokens: Token[] = []
  let i = 0
  while (i < source.length) {
    const c = source[i]!
    const column = i + 1
    if (/\s/.test(c)) { i++; continue }
    if (c === '\'' || c === '"') {
      let text = ''
      let j = i + 1
      for (; j < source.length && source[j] !== c; j++) {
        if (source[j] === '\\' && j + 1 < source.length) text += source[++j]
        else text += source[j]
      }
      if (j >= source.length) fail(`unterminated string starting`, column)
      tokens.push({ type: 'string', text: source.slice(i, j + 1), value: text, column })
      i = j + 1
      continue
    }
    const number = /^-?\d+(\.\d+)?([eE][-+]?\d+)?/.exec(source.slice(i))
    if (number && (c !== '-' || !['number', 'string', 'word'].includes(tokens.at(-1)?.type ?? '') || tokens.at(-1)?.type === 'word' && keywords.has(tokens.at(-1)!.text.toLowerCase()))) {
      tokens.push({ type: 'number', text: number[0], value: Number(number[0]), column })
      i += number[0].length
      continue
    }
    const word = /^[A-Za-z_][A-Za-z0-9_]*/.exec(source.slice(i))
    if (word) {
      tokens.push({ type: 'word', text: word[0], column })
      i += word[0].length
      continue
    }
    const op = /^(==|!=|<>|<=|>=|=|<|>|~)/.exec(source.slice(i))
    if (op) {
      tokens.push({ type: 'op', text: op[0], column })
      i += op[0].length
      continue
    }
    if ('(),'.includes(c)) {
      tokens.push({ type: 'punct', text: c, column })
      i++
      continue
    }
    fail(`unexpected character '${c}'`, column)
  }
  tokens.push({ type: 'end', text: 'end of input', column: source.length + 1 })
  return tokens
}

/**
 * Parse a `--where` expression, e.g. `reward >= 1 and license in ('MIT', 'BSD-3-Clause')`.
 * Errors name the offending token and its column.
 */
export function parseWhere(source: string, flag = '--where'): Expr {
  const fail = (message: string, column: number): never => {
    throw new UsageError(`${flag}: ${message} at column ${column} in "${source}"`)
  }
  const tokens = lex(source, fail)
  let position = 0
  const peek = () => tokens[position]!
  const next = () => tokens[position++]!
  const isWord = (token: Token, word: string) => token.type === 'word' && token.text.toLowerCase() === word
  const unexpected = (token: Token): never => fail(`unexpected ${token.type === 'end' ? 'end of input' : `'${token.text}'`}`, token.column)
  const expectPunct = (text: string) => {
    const token = next()
    if (token.type !== 'punct' || token.text !== text) fail(`expected '${text}' but found ${token.type === 'end' ? 'end of input' : `'${token.text}'`}`, token.column)
  }

  function literal(): Literal {
    const token = next()
    if (token.type === 'string' || token.type === 'number') return token.value!
    if (isWord(token, 'null')) return null
    if (isWord(token, 'true')) return true
    if (isWord(token, 'false')) return false
    return unexpected(token)
  }

  function field(): string {
    const token = next()
    if (token.type !== 'word' || keywords.has(token.text.toLowerCase())) return unexpected(token)
    const name = token.text.toLowerCase()
    if (!(name in fields)) {
      const suggestion = Object.keys(fields).find((known) => editDistance(known, name) <= 2)
      fail(`unknown field '${token.text}'${suggestion ? ` (did you mean '${suggestion}'?)` : ''}; fields: ${Object.keys(fields).join(', ')}`, token.column)
    }
    return name
  }

  function primary(): Expr {
    const token = peek()
    if (token.type === 'punct' && token.text === '(') {
      next()
      const inner = orExpr()
      expectPunct(')')
      return inner
    }
    if (isWord(token, 'not')) {
      next()
      return { kind: 'not', expr: primary() }
    }
    if (isWord(token, 'uses_tool')) {
      next()
      expectPunct('(')
      const tool = next()
      if (tool.type !== 'string') fail('uses_tool takes a quoted tool name', tool.column)
      expectPunct(')')
      return { kind: 'uses_tool', tool: String(tool.value) }
    }
    if (isWord(token, 'ends_with_finish')) {
      next()
      return { kind: 'ends_with_finish' }
    }
    if (isWord(token, 'true')) {
      next()
      return { kind: 'true' }
    }
    const name = field()
    const operator = next()
    if (operator.type === 'op') {
      if (operator.text === '~') {
        const pattern = next()
        if (pattern.type !== 'string') fail('~ takes a quoted regular expression', pattern.column)
        try {
          return { kind: 'regex', field: name, pattern: new RegExp(String(pattern.value)) }
        } catch (error) {
          return fail(`invalid regular expression (${(error as Error).message})`, pattern.column)
        }
      }
      const op = operator.text === '==' ? '=' : operator.text === '<>' ? '!=' : operator.text as '=' | '!=' | '<' | '<=' | '>' | '>='
      const valueToken = peek()
      const value = literal()
      checkType(name, value, valueToken)
      if (value === null) return op === '=' ? { kind: 'null', field: name } : { kind: 'not', expr: { kind: 'null', field: name } }
      return { kind: 'compare', op, field: name, value }
    }
    const negated = isWord(operator, 'not')
    const keyword = negated ? next() : operator
    let result: Expr
    if (isWord(keyword, 'in')) {
      expectPunct('(')
      const values: Literal[] = []
      for (;;) {
        const valueToken = peek()
        const value = literal()
        checkType(name, value, valueToken)
        values.push(value)
        const separator = next()
        if (separator.type === 'punct' && separator.text === ')') break
        if (separator.type !== 'punct' || separator.text !== ',') unexpected(separator)
      }
      result = { kind: 'in', field: name, values }
    } else if (isWord(keyword, 'like')) {
      const pattern = next()
      if (pattern.type !== 'string') fail('like takes a quoted pattern', pattern.column)
      result = { kind: 'like', field: name, pattern: String(pattern.value) }
    } else if (isWord(keyword, 'between')) {
      const lowToken = peek()
      const low = literal()
      checkType(name, low, lowToken)
      const and = next()
      if (!isWord(and, 'and')) unexpected(and)
      const highToken = peek()
      const high = literal()
      checkType(name, high, highToken)
      result = { kind: 'between', field: name, low, high }
    } else if (!negated && isWord(keyword, 'is')) {
      const not = isWord(peek(), 'not')
      if (not) next()
      const nullToken = next()
      if (!isWord(nullToken, 'null')) unexpected(nullToken)
      result = { kind: 'null', field: name }
      return not ? { kind: 'not', expr: result } : result
    } else {
      return unexpected(keyword)
    }
    return negated ? { kind: 'not', expr: result } : result
  }

  function checkType(name: string, value: Literal, token: Token): void {
    if (value === null) return
    const expected = fields[name]
    if (expected === 'number' && typeof value !== 'number') fail(`${name} is a number, got ${token.text}`, token.column)
    if (expected === 'string' && typeof value !== 'string') fail(`${name} is a string, got ${token.text} (quote it)`, token.column)
  }

  function andExpr(): Expr {
    let left = primary()
    while (isWord(peek(), 'and')) {
      next()
      left = { kind: 'and', left, right: primary() }
    }
    return left
  }

  function orExpr(): Expr {
    let left = andExpr()
    while (isWord(peek(), 'or')) {
      next()
      left = { kind: 'or', left, right: andExpr() }
    }
    return left
  }

  const expr = orExpr()
  if (peek().type !== 'end') unexpected(peek())
  return expr
}

/** Combine predicates with `and` (none = always true). */
export function and(exprs: Expr[]): Expr {
  return exprs.reduce<Expr | undefined>((left, right) => (left ? { kind: 'and', left, right } : right), undefined) ?? { kind: 'true' }
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0]!
    row[0] = i
    for (let j = 1; j <= b.length; j++) {
      const current = row[j]!
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1))
      previous = current
    }
  }
  return row[b.length]!
}
