import { UsageError } from '../errors.js'
import { fields, messageFunctions } from './fields.js'
import { lex, LexError, type Token } from './lexer.js'

/** A literal compared with a field. */
export type Value = string | number

/** Comparison operators (`==` parses as `=`, `<>` as `!=`). */
export type CompareOp = '=' | '!=' | '<' | '<=' | '>' | '>='

/**
 * A parsed row predicate: what `--where` parses to and what the predicate flags build.
 * Evaluation follows SQL's three-valued logic (see compile.ts).
 */
export type Expr =
  | { kind: 'and' | 'or', left: Expr, right: Expr }
  | { kind: 'not', expr: Expr }
  | { kind: 'constant', value: boolean }
  | { kind: 'compare', op: CompareOp, field: string, value: Value }
  | { kind: 'in', field: string, values: Value[] }
  | { kind: 'between', field: string, low: Value, high: Value }
  /** SQL LIKE: `%` any run of characters, `_` one character, case-sensitive, whole value. */
  | { kind: 'like', field: string, pattern: string }
  /** Shell glob: `*` any run of characters, `?` one character, case-sensitive, whole value. */
  | { kind: 'glob', field: string, pattern: string }
  /** A regular expression found anywhere in the value (like DuckDB's regexp_matches). */
  | { kind: 'regex', field: string, pattern: RegExp }
  | { kind: 'is_null', field: string }
  | { kind: 'uses_tool', tool: string }
  | { kind: 'ends_with_finish' }

const keywords = new Set(['and', 'or', 'not', 'in', 'like', 'glob', 'between', 'is', 'null', 'true', 'false'])
const comparisons: Record<string, CompareOp> = { '=': '=', '==': '=', '!=': '!=', '<>': '!=', '<': '<', '<=': '<=', '>': '>', '>=': '>=' }

/** Everything an expression may name, for "did you mean" and the list of valid names. */
const names = [...Object.keys(fields), ...messageFunctions]

class ParseError extends Error {
  constructor(message: string, readonly column: number, readonly hint?: string) {
    super(message)
  }
}

/**
 * Parse a `--where` expression such as `reward >= 1 and license in ('MIT', 'BSD-3-Clause')`.
 *
 * Grammar, loosest first: `or`, `and`, `not`, then predicates — `field op value` (`= == != <> < <= > >=`),
 * `field ~ 'regex'`, `field [not] in (v, …)`, `field [not] like 'p%'`, `field [not] glob 'p*'`,
 * `field [not] between a and b`, `field is [not] null`, `uses_tool('name')`, `ends_with_finish`,
 * `true`, `false` — and parentheses. Keywords and names are case-insensitive. Errors are one-line
 * UsageErrors naming the offending token and its column.
 */
export function parseWhere(source: string, flag = '--where'): Expr {
  try {
    return new Parser(lex(source)).parse()
  } catch (error) {
    if (error instanceof ParseError || error instanceof LexError) {
      const hint = error instanceof ParseError && error.hint ? `; ${error.hint}` : ''
      throw new UsageError(`${flag}: ${error.message} at column ${error.column} in "${source}"${hint}`)
    }
    throw error
  }
}

/** Combine predicates with `and` (none: always true). */
export function and(exprs: Expr[]): Expr {
  return exprs.reduce<Expr | undefined>((left, right) => (left ? { kind: 'and', left, right } : right), undefined) ?? { kind: 'constant', value: true }
}

class Parser {
  private position = 0
  constructor(private readonly tokens: Token[]) {}

  parse(): Expr {
    const expr = this.or()
    const rest = this.peek()
    if (rest.type === 'end') return expr
    if (rest.type === 'punct') throw this.unexpected(rest)
    throw new ParseError(`unexpected ${describe(rest)} (missing 'and' or 'or'?)`, rest.column)
  }

  private or(): Expr {
    let left = this.and()
    while (this.acceptWord('or')) left = { kind: 'or', left, right: this.and() }
    return left
  }

  private and(): Expr {
    let left = this.not()
    while (this.acceptWord('and')) left = { kind: 'and', left, right: this.not() }
    return left
  }

  private not(): Expr {
    return this.acceptWord('not') ? { kind: 'not', expr: this.not() } : this.primary()
  }

  private primary(): Expr {
    const token = this.next()
    if (token.type === 'punct' && token.text === '(') {
      const inner = this.or()
      this.expectPunct(')')
      return inner
    }
    if (token.type !== 'word') throw this.unexpected(token)
    const word = token.text.toLowerCase()
    if (word === 'true' || word === 'false') return { kind: 'constant', value: word === 'true' }
    if (word === 'ends_with_finish') return { kind: 'ends_with_finish' }
    if (word === 'uses_tool') {
      this.expectPunct('(')
      const tool = this.next()
      if (tool.type !== 'string') throw new ParseError(`uses_tool takes a quoted tool name, found ${describe(tool)}`, tool.column)
      this.expectPunct(')')
      return { kind: 'uses_tool', tool: tool.value as string }
    }
    if (keywords.has(word)) throw this.unexpected(token)
    return this.predicate(this.field(token))
  }

  private field(token: Token): string {
    const name = token.text.toLowerCase()
    if (name in fields) return name
    const suggestion = names.map((known) => ({ known, distance: editDistance(known, name) }))
      .filter(({ distance }) => distance <= 2).sort((a, b) => a.distance - b.distance)[0]?.known
    throw new ParseError(`unknown field '${token.text}'${suggestion ? ` (did you mean '${suggestion}'?)` : ''}`, token.column, `valid names: ${names.join(', ')}`)
  }

  private predicate(field: string): Expr {
    const operator = this.next()
    if (operator.type === 'op') {
      if (operator.text === '~') {
        const pattern = this.patternString(field, operator)
        try {
          return { kind: 'regex', field, pattern: new RegExp(pattern.value as string) }
        } catch (error) {
          const reason = (error as Error).message.split(': ').at(-1)
          throw new ParseError(`invalid regular expression ${pattern.text} (${reason})`, pattern.column)
        }
      }
      return { kind: 'compare', op: comparisons[operator.text]!, field, value: this.value(field) }
    }
    const word = operator.type === 'word' ? operator.text.toLowerCase() : ''
    if (word === 'is') {
      const negated = this.acceptWord('not')
      const token = this.next()
      if (!isWord(token, 'null')) throw new ParseError(`expected 'null' after 'is', found ${describe(token)}`, token.column)
      const test: Expr = { kind: 'is_null', field }
      return negated ? { kind: 'not', expr: test } : test
    }
    const negated = word === 'not'
    const keyword = negated ? this.next() : operator
    const test = this.negatable(field, keyword)
    if (!test) {
      const expected = negated ? `'in', 'like', 'glob' or 'between' after 'not'` : `an operator after '${field}'`
      throw new ParseError(`expected ${expected}, found ${describe(keyword)}`, keyword.column)
    }
    return negated ? { kind: 'not', expr: test } : test
  }

  /** The predicates that take a `not` before their keyword. */
  private negatable(field: string, keyword: Token): Expr | undefined {
    const word = keyword.type === 'word' ? keyword.text.toLowerCase() : ''
    if (word === 'in') {
      this.expectPunct('(')
      const values = [this.value(field)]
      while (this.acceptPunct(',')) values.push(this.value(field))
      this.expectPunct(')')
      return { kind: 'in', field, values }
    }
    if (word === 'like' || word === 'glob') return { kind: word, field, pattern: this.patternString(field, keyword).value as string }
    if (word === 'between') {
      const low = this.value(field)
      const and = this.next()
      if (!isWord(and, 'and')) throw new ParseError(`expected 'and' in between, found ${describe(and)}`, and.column)
      return { kind: 'between', field, low, high: this.value(field) }
    }
    return undefined
  }

  /** A literal of the field's type. */
  private value(field: string): Value {
    const token = this.next()
    const type = fields[field]!.type
    if (isWord(token, 'null')) throw new ParseError(`comparisons with null are never true`, token.column, `use '${field} is null' or '${field} is not null'`)
    if (token.type === 'word') throw new ParseError(`unexpected '${token.text}' (quote strings: '${token.text}')`, token.column)
    if (token.type !== 'string' && token.type !== 'number') throw this.unexpected(token)
    if (token.type !== type) throw new ParseError(`${field} is a ${type}, got ${token.text}`, token.column)
    return token.value!
  }

  private patternString(field: string, operator: Token): Token {
    if (fields[field]!.type !== 'string') throw new ParseError(`'${operator.text}' needs a text field, ${field} is a number`, operator.column)
    const token = this.next()
    if (token.type !== 'string') throw new ParseError(`'${operator.text}' takes a quoted pattern, found ${describe(token)}`, token.column)
    return token
  }

  private peek(): Token {
    return this.tokens[this.position]!
  }

  private next(): Token {
    const token = this.tokens[this.position]!
    if (token.type !== 'end') this.position++
    return token
  }

  private acceptWord(word: string): boolean {
    if (!isWord(this.peek(), word)) return false
    this.position++
    return true
  }

  private acceptPunct(text: string): boolean {
    const token = this.peek()
    if (token.type !== 'punct' || token.text !== text) return false
    this.position++
    return true
  }

  private expectPunct(text: string): void {
    const token = this.next()
    if (token.type !== 'punct' || token.text !== text) throw new ParseError(`expected '${text}', found ${describe(token)}`, token.column)
  }

  private unexpected(token: Token): ParseError {
    return new ParseError(`unexpected ${describe(token)}`, token.column)
  }
}

function isWord(token: Token, word: string): boolean {
  return token.type === 'word' && token.text.toLowerCase() === word
}

function describe(token: Token): string {
  if (token.type === 'end') return 'end of input'
  return token.type === 'string' ? token.text : `'${token.text}'`
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0]!
    row[0] = i
    for (let j = 1; j <= b.length; j++) {
      const above = row[j]!
      row[j] = Math.min(above + 1, row[j - 1]! + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1))
      diagonal = above
    }
  }
  return row[b.length]!
}
