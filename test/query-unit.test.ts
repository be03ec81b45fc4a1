/**
 * Fast, direct tests of the pure query modules (lexer, parser, flags, fields, plan, compile, text,
 * sample, ordered window): no CLI, no DuckDB, only the tiny fixtures' footers and rows for pruning.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, test } from 'node:test'
import { UsageError } from '../src/errors.js'
import { readFooter } from '../src/parquet/footer.js'
import { readBatches } from '../src/parquet/rows.js'
import { fileSource } from '../src/parquet/source.js'
import { compileFilter, compilePredicate, type Batch } from '../src/query/compile.js'
import { fields, messageFunctions } from '../src/query/fields.js'
import { predicateFromFlags, type PredicateFlags } from '../src/query/flags.js'
import { lex, LexError, type Token } from '../src/query/lexer.js'
import { orderedWindow } from '../src/query/orderedWindow.js'
import { and, parseWhere, type Expr } from '../src/query/parse.js'
import { canSkipRowGroup, columnsOf, isLarge, planScan, type RowGroupMeta } from '../src/query/plan.js'
import { sampleKeys, sampleRank } from '../src/query/sample.js'
import { wildcardRegExp } from '../src/query/text.js'
import { OptionValueError } from '../src/values.js'
import { evaluationBatch, evaluationRows, messages, sha } from './support/trajectoryRows.js'

const dir = mkdtempSync(join(tmpdir(), 'coderforge-query-unit-'))
after(() => rmSync(dir, { recursive: true, force: true }))

const cmp = (op: string, field: string, value: string | number): Expr => ({ kind: 'compare', op, field, value } as Expr)

/** The message of the UsageError `run` throws (and that it is one line). */
function usage(run: () => unknown): string {
  try {
    run()
  } catch (error) {
    assert.ok(error instanceof UsageError, `not a UsageError: ${String(error)}`)
    assert.equal(error.exitCode, 2)
    assert.doesNotMatch(error.message, /\n/)
    return error.message
  }
  assert.fail('did not throw')
}
const whereError = (where: string, flag?: string) => usage(() => parseWhere(where, flag))

describe('lexer', () => {
  const kinds = (source: string) => lex(source).map((token) => [token.type, token.text, token.value, token.column])

  test('every token kind with its text, value and 1-based column; an end token after the last', () => {
    assert.deepEqual(lex(`reward>=1`), [
      { type: 'word', text: 'reward', column: 1 },
      { type: 'op', text: '>=', column: 7 },
      { type: 'number', text: '1', value: 1, column: 9 },
      { type: 'end', text: 'end of input', column: 10 },
    ] satisfies Token[])
    assert.deepEqual(kinds(` \t(_a1B, 'x')\n`), [
      ['punct', '(', undefined, 3], ['word', '_a1B', undefined, 4], ['punct', ',', undefined, 8],
      ['string', `'x'`, 'x', 10], ['punct', ')', undefined, 13], ['end', 'end of input', undefined, 15],
    ])
    assert.deepEqual(kinds(''), [['end', 'end of input', undefined, 1]])
    assert.deepEqual(kinds('   '), [['end', 'end of input', undefined, 4]])
  })

  test('operators: longest first', () => {
    for (const op of ['==', '!=', '<>', '<=', '>=', '=', '<', '>', '~']) {
      assert.deepEqual(kinds(`a${op}b`), [['word', 'a', undefined, 1], ['op', op, undefined, 2], ['word', 'b', undefined, 2 + op.length], ['end', 'end of input', undefined, 3 + op.length]], op)
    }
    assert.deepEqual(kinds('<>=').slice(0, 2), [['op', '<>', undefined, 1], ['op', '=', undefined, 3]])
  })

  test('numbers: signs, fractions, exponents', () => {
    const cases: [string, number][] = [['0', 0], ['12', 12], ['-3', -3], ['1.5', 1.5], ['3.', 3], ['.25', 0.25], ['-.5', -0.5],
      ['1e3', 1000], ['2E-2', 0.02], ['4e+1', 40], ['-1.5e2', -150], ['007', 7], ['1e10', 1e10], ['25E-12', 25e-12]]
    for (const [text, value] of cases) assert.deepEqual(kinds(text), [['number', text, value, 1], ['end', 'end of input', undefined, text.length + 1]], text)
    // a letter after a number starts a word; `e` alone is no exponent
    assert.deepEqual(kinds('1e'), [['number', '1', 1, 1], ['word', 'e', undefined, 2], ['end', 'end of input', undefined, 3]])
    assert.deepEqual(kinds('1.2.3').slice(0, 2), [['number', '1.2', 1.2, 1], ['number', '.3', 0.3, 4]])
    assert.deepEqual(kinds('x9_y'), [['word', 'x9_y', undefined, 1], ['end', 'end of input', undefined, 5]])
    assert.deepEqual(kinds('9x'), [['number', '9', 9, 1], ['word', 'x', undefined, 2], ['end', 'end of input', undefined, 3]])
  })

  test('strings: both quotes, doubled quotes, escapes; other backslashes stay', () => {
    const value = (source: string) => {
      const [token, end] = lex(source)
      assert.equal(token!.type, 'string')
      assert.equal(token!.text, source)
      assert.equal(end!.type, 'end')
      return token!.value
    }
    assert.equal(value(`'MIT'`), 'MIT')
    assert.equal(value(`"MIT"`), 'MIT')
    assert.equal(value(`''`), '')
    assert.equal(value(`'it''s'`), `it's`)
    assert.equal(value(`"say ""hi"""`), 'say "hi"')
    assert.equal(value(`"it's"`), `it's`)
    assert.equal(value(`'say "hi"'`), 'say "hi"')
    assert.equal(value(`'a\\'b'`), `a'b`)
    assert.equal(value(`"a\\"b"`), 'a"b')
    assert.equal(value(`'a\\"b'`), 'a"b')
    assert.equal(value(`'a\\\\b'`), 'a\\b')
    assert.equal(value(`'a\\nb\\tc'`), 'a\nb\tc')
    assert.equal(value(`'\\d+\\.x'`), '\\d+\\.x')
    assert.equal(value(`'  spaced  '`), '  spaced  ')
    assert.deepEqual(kinds(`'a' "b"`), [['string', `'a'`, 'a', 1], ['string', '"b"', 'b', 5], ['end', 'end of input', undefined, 8]])
  })

  test('errors carry the column of the offending character', () => {
    const lexError = (source: string) => {
      try {
        lex(source)
      } catch (error) {
        assert.ok(error instanceof LexError)
        return [error.message, error.column]
      }
      assert.fail(`${source} lexed`)
    }
    assert.deepEqual(lexError('a # b'), [`unexpected character '#'`, 3])
    assert.deepEqual(lexError('!'), [`unexpected character '!'`, 1])
    assert.deepEqual(lexError(`x = 'abc`), ['unterminated string', 5])
    assert.deepEqual(lexError(`x = "abc'`), ['unterminated string', 5])
    assert.deepEqual(lexError(`'abc\\`), ['unterminated string', 1])
    assert.deepEqual(lexError(`'abc\\'`), ['unterminated string', 1])
    assert.deepEqual(lexError(`'it''`), ['unterminated string', 1])
  })
})

describe('parser', () => {
  test('precedence, associativity, parentheses and case-insensitive keywords', () => {
    const a = cmp('=', 'reward', 1)
    const b = cmp('=', 'license', 'MIT')
    const c = cmp('>', 'turns', 40)
    assert.deepEqual(parseWhere(`reward = 1 or license = 'MIT' and turns > 40`), { kind: 'or', left: a, right: { kind: 'and', left: b, right: c } })
    assert.deepEqual(parseWhere(`reward = 1 and license = 'MIT' or turns > 40`), { kind: 'or', left: { kind: 'and', left: a, right: b }, right: c })
    assert.deepEqual(parseWhere(`(reward = 1 OR license = 'MIT') AnD turns > 40`), { kind: 'and', left: { kind: 'or', left: a, right: b }, right: c })
    assert.deepEqual(parseWhere(`not reward = 1 and license = 'MIT'`), { kind: 'and', left: { kind: 'not', expr: a }, right: b })
    assert.deepEqual(parseWhere(`NOT NOT Reward = 1`), { kind: 'not', expr: { kind: 'not', expr: a } })
    assert.deepEqual(parseWhere(`reward = 1 and license = 'MIT' and turns > 40`), { kind: 'and', left: { kind: 'and', left: a, right: b }, right: c })
    assert.deepEqual(parseWhere(`reward = 1 or license = 'MIT' or turns > 40`), { kind: 'or', left: { kind: 'or', left: a, right: b }, right: c })
    assert.deepEqual(parseWhere(`((reward = 1))`), a)
  })

  test('every operator and predicate form', () => {
    for (const [text, op] of [['=', '='], ['==', '='], ['!=', '!='], ['<>', '!='], ['<', '<'], ['<=', '<='], ['>', '>'], ['>=', '>=']]) {
      assert.deepEqual(parseWhere(`reward ${text} 1`), cmp(op!, 'reward', 1), text)
    }
    assert.deepEqual(parseWhere(`license in ('MIT')`), { kind: 'in', field: 'license', values: ['MIT'] })
    assert.deepEqual(parseWhere(`license IN ('MIT', "ISC",'BSD')`), { kind: 'in', field: 'license', values: ['MIT', 'ISC', 'BSD'] })
    assert.deepEqual(parseWhere(`run not in (1, 2)`), { kind: 'not', expr: { kind: 'in', field: 'run', values: [1, 2] } })
    assert.deepEqual(parseWhere(`image LIKE '%django%'`), { kind: 'like', field: 'image', pattern: '%django%' })
    assert.deepEqual(parseWhere(`image not like 'x_'`), { kind: 'not', expr: { kind: 'like', field: 'image', pattern: 'x_' } })
    assert.deepEqual(parseWhere(`trajectory_id Glob '*_run1'`), { kind: 'glob', field: 'trajectory_id', pattern: '*_run1' })
    assert.deepEqual(parseWhere(`task NOT GLOB 'a?'`), { kind: 'not', expr: { kind: 'glob', field: 'task', pattern: 'a?' } })
    assert.deepEqual(parseWhere(`reward between -1 AND 0.5`), { kind: 'between', field: 'reward', low: -1, high: 0.5 })
    assert.deepEqual(parseWhere(`license between 'A' and 'M'`), { kind: 'between', field: 'license', low: 'A', high: 'M' })
    assert.deepEqual(parseWhere(`reward not between 0 and 1 and run = 2`), {
      kind: 'and', left: { kind: 'not', expr: { kind: 'between', field: 'reward', low: 0, high: 1 } }, right: cmp('=', 'run', 2),
    })
    assert.deepEqual(parseWhere(`license is null`), { kind: 'is_null', field: 'license' })
    assert.deepEqual(parseWhere(`License IS NOT NULL`), { kind: 'not', expr: { kind: 'is_null', field: 'license' } })
    const regex = parseWhere(`trajectory_id ~ '_run[1-4]$'`)
    assert.ok(regex.kind === 'regex')
    assert.equal(regex.field, 'trajectory_id')
    assert.equal(regex.pattern.source, '_run[1-4]$')
    assert.equal(regex.pattern.flags, '')
    assert.deepEqual(parseWhere(`uses_tool('think') and ENDS_WITH_FINISH`), { kind: 'and', left: { kind: 'uses_tool', tool: 'think' }, right: { kind: 'ends_with_finish' } })
    assert.deepEqual(parseWhere(`USES_TOOL ( "execute_bash" )`), { kind: 'uses_tool', tool: 'execute_bash' })
    assert.deepEqual(parseWhere('TRUE or false'), { kind: 'or', left: { kind: 'constant', value: true }, right: { kind: 'constant', value: false } })
    assert.deepEqual(parseWhere('not False'), { kind: 'not', expr: { kind: 'constant', value: false } })
    for (const field of Object.keys(fields)) {
      const value = fields[field]!.type === 'number' ? 3 : `'x'`
      assert.deepEqual(parseWhere(`${field.toUpperCase()} = ${value}`), cmp('=', field, fields[field]!.type === 'number' ? 3 : 'x'), field)
    }
  })

  test('and() of terms: none is true, one is itself, more associate to the left', () => {
    const [a, b, c] = [cmp('=', 'reward', 1), cmp('=', 'run', 2), { kind: 'ends_with_finish' } as Expr]
    assert.deepEqual(and([]), { kind: 'constant', value: true })
    assert.deepEqual(and([a]), a)
    assert.deepEqual(and([a, b]), { kind: 'and', left: a, right: b })
    assert.deepEqual(and([a, b, c]), { kind: 'and', left: { kind: 'and', left: a, right: b }, right: c })
  })

  const validNames = 'valid names: trajectory_id, finish_reason, image, license, reward, messages, tools, chat_template_applied, task, run, repo, turns, tool_calls, messages_count, uses_tool, ends_with_finish'

  test('unknown names: a suggestion within two edits (the closest), and every valid name', () => {
    assert.equal(whereError('rewrd = 1'), `--where: unknown field 'rewrd' (did you mean 'reward'?) at column 1 in "rewrd = 1"; ${validNames}`)
    assert.equal(whereError('xyzzy = 1'), `--where: unknown field 'xyzzy' at column 1 in "xyzzy = 1"; ${validNames}`)
    const suggestion = (name: string) => /did you mean '([a-z_]+)'/.exec(whereError(`${name} = 1`))?.[1]
    assert.equal(suggestion('Rewrd'), 'reward')
    assert.equal(suggestion('rep'), 'repo', 'repo (1 edit) beats run (2 edits), listed before it')
    assert.equal(suggestion('imgae'), 'image', 'two edits still suggest')
    assert.equal(suggestion('imxyz'), undefined, 'three edits do not')
    assert.equal(suggestion('turn'), 'turns')
    assert.equal(suggestion('usestool'), 'uses_tool')
    assert.equal(suggestion('licence'), 'license')
    assert.equal(suggestion('rewards'), 'reward')
    assert.equal(suggestion('tols'), 'tools')
    assert.equal(suggestion('ask'), 'task')
    assert.equal(suggestion('tsak'), 'task')
    assert.equal(suggestion('messages_cnt'), 'messages_count')
    assert.equal(suggestion('ends_with_finis'), 'ends_with_finish')
    assert.equal(suggestion('x'), undefined)
    assert.match(whereError(`reward = 1 and turn > 3`), /unknown field 'turn' \(did you mean 'turns'\?\) at column 16/)
  })

  test('syntax errors name the token and its column, with a hint where one helps', () => {
    const cases: [string, string][] = [
      ['reward >= 1 and )', `unexpected ')' at column 17`],
      ['reward = 1)', `unexpected ')' at column 11`],
      ['reward = 1,', `unexpected ',' at column 11`],
      [`reward = 1 license = 'MIT'`, `unexpected 'license' (missing 'and' or 'or'?) at column 12`],
      [`reward = 1 'MIT'`, `unexpected 'MIT' (missing 'and' or 'or'?) at column 12`],
      [`reward = 1 "MIT"`, `unexpected "MIT" (missing 'and' or 'or'?) at column 12`],
      [`reward = 1 2`, `unexpected '2' (missing 'and' or 'or'?) at column 12`],
      [`reward = 1 =`, `unexpected '=' (missing 'and' or 'or'?) at column 12`],
      ['', 'unexpected end of input at column 1'],
      ['reward = 1 and', 'unexpected end of input at column 15'],
      ['not', 'unexpected end of input at column 4'],
      ['(reward = 1', `expected ')', found end of input at column 12`],
      [`(reward = 1 'x'`, `expected ')', found 'x' at column 13`],
      ['1 = reward', `unexpected '1' at column 1`],
      [`'x' = reward`, `unexpected 'x' at column 1`],
      [`= 1`, `unexpected '=' at column 1`],
      [`)`, `unexpected ')' at column 1`],
      ['and', `unexpected 'and' at column 1`],
      ['or = 1', `unexpected 'or' at column 1`],
      ['in = 1', `unexpected 'in' at column 1`],
      ['LIKE = 1', `unexpected 'LIKE' at column 1`],
      ['glob = 1', `unexpected 'glob' at column 1`],
      ['between = 1', `unexpected 'between' at column 1`],
      ['is = 1', `unexpected 'is' at column 1`],
      ['null = 1', `unexpected 'null' at column 1`],
      [`uses_tool(think)`, `uses_tool takes a quoted tool name, found 'think' at column 11`],
      [`uses_tool()`, `uses_tool takes a quoted tool name, found ')' at column 11`],
      [`uses_tool(3)`, `uses_tool takes a quoted tool name, found '3' at column 11`],
      [`uses_tool "x"`, `expected '(', found "x" at column 11`],
      [`uses_tool('x'`, `expected ')', found end of input at column 14`],
      [`uses_tool('x', 'y')`, `expected ')', found ',' at column 14`],
      [`reward`, `expected an operator after 'reward', found end of input at column 7`],
      [`reward 1`, `expected an operator after 'reward', found '1' at column 8`],
      [`license 'MIT'`, `expected an operator after 'license', found 'MIT' at column 9`],
      [`reward (`, `expected an operator after 'reward', found '(' at column 8`],
      [`reward and`, `expected an operator after 'reward', found 'and' at column 8`],
      [`reward not 1`, `expected 'in', 'like', 'glob' or 'between' after 'not', found '1' at column 12`],
      [`reward not null`, `expected 'in', 'like', 'glob' or 'between' after 'not', found 'null' at column 12`],
      [`reward not`, `expected 'in', 'like', 'glob' or 'between' after 'not', found end of input at column 11`],
      [`license is 'MIT'`, `expected 'null' after 'is', found 'MIT' at column 12`],
      [`license is not 'MIT'`, `expected 'null' after 'is', found 'MIT' at column 16`],
      [`license is`, `expected 'null' after 'is', found end of input at column 11`],
      [`license is true`, `expected 'null' after 'is', found 'true' at column 12`],
      [`license in 'MIT'`, `expected '(', found 'MIT' at column 12`],
      [`license in ('MIT'`, `expected ')', found end of input at column 18`],
      [`license in ('MIT' 'ISC')`, `expected ')', found 'ISC' at column 19`],
      [`license in ()`, `unexpected ')' at column 13`],
      [`license in ('MIT',)`, `unexpected ')' at column 19`],
      [`reward between 1 or 2`, `expected 'and' in between, found 'or' at column 18`],
      [`reward between 1`, `expected 'and' in between, found end of input at column 17`],
      [`reward between 1 and`, `unexpected end of input at column 21`],
      [`reward = 'one'`, `reward is a number, got 'one' at column 10`],
      [`reward in (1, 'two')`, `reward is a number, got 'two' at column 15`],
      [`license = 3`, `license is a string, got 3 at column 11`],
      [`license between 'A' and 3`, `license is a string, got 3 at column 25`],
      [`license = MIT`, `unexpected 'MIT' (quote strings: 'MIT') at column 11`],
      [`license = true`, `unexpected 'true' (quote strings: 'true') at column 11`],
      [`reward = )`, `unexpected ')' at column 10`],
      [`reward = =`, `unexpected '=' at column 10`],
      [`reward =`, `unexpected end of input at column 9`],
      [`reward like '1%'`, `'like' needs a text field, reward is a number at column 8`],
      [`run GLOB '1*'`, `'GLOB' needs a text field, run is a number at column 5`],
      [`turns ~ '1'`, `'~' needs a text field, turns is a number at column 7`],
      [`license like MIT`, `'like' takes a quoted pattern, found 'MIT' at column 14`],
      [`license glob 3`, `'glob' takes a quoted pattern, found '3' at column 14`],
      [`license ~ 3`, `'~' takes a quoted pattern, found '3' at column 11`],
      [`license ~`, `'~' takes a quoted pattern, found end of input at column 10`],
      [`trajectory_id ~ '('`, `invalid regular expression '(' (Unterminated group) at column 17`],
      [`trajectory_id ~ "a["`, `invalid regular expression "a[" (Unterminated character class) at column 17`],
      [`reward # 1`, `unexpected character '#' at column 8`],
      [`license = 'MIT`, `unterminated string at column 11`],
    ]
    for (const [where, message] of cases) assert.equal(whereError(where), `--where: ${message} in "${where}"`, where)
    assert.equal(whereError(`license = null`), `--where: comparisons with null are never true at column 11 in "license = null"; use 'license is null' or 'license is not null'`)
    assert.equal(whereError(`run in (1, NULL)`), `--where: comparisons with null are never true at column 12 in "run in (1, NULL)"; use 'run is null' or 'run is not null'`)
    assert.equal(whereError('and', '--filter'), `--filter: unexpected 'and' at column 1 in "and"`)
    assert.equal(whereError('rewrd = 1', '--x').startsWith(`--x: unknown field 'rewrd'`), true)
  })
})

describe('text patterns', () => {
  test('LIKE: % any run, _ one character, the rest literal, whole value', () => {
    const like = (pattern: string) => wildcardRegExp(pattern, 'like')
    assert.ok(like('a%').test('abc') && like('a%').test('a') && !like('a%').test('ba'))
    assert.ok(like('%c').test('abc') && !like('%c').test('abcd'))
    assert.ok(like('a_c').test('abc') && !like('a_c').test('ac') && !like('a_c').test('abbc'))
    assert.ok(like('%').test('') && like('%').test('line\nbreak'), '% spans newlines')
    assert.ok(like('a_b').test('a\nb'), '_ matches a newline')
    assert.ok(like('_').test('🐛') && like('x_y').test('x中y'), '_ is one code point')
    assert.ok(!like('__').test('🐛'))
    assert.ok(like('a*b').test('a*b') && !like('a*b').test('aXb'), '* is literal in LIKE')
    assert.ok(like('a?').test('a?') && !like('a?').test('ab'), '? is literal in LIKE')
    assert.ok(!like('abc').test('xabcx'))
  })

  test('glob: * any run, ? one character; % and _ literal', () => {
    const glob = (pattern: string) => wildcardRegExp(pattern, 'glob')
    assert.ok(glob('a*').test('abc') && !glob('a*').test('ba'))
    assert.ok(glob('a?c').test('abc') && !glob('a?c').test('ac'))
    assert.ok(glob('*').test('multi\nline'))
    assert.ok(glob('?').test('🐛'))
    assert.ok(glob('a%').test('a%') && !glob('a%').test('ab'))
    assert.ok(glob('a_').test('a_') && !glob('a_').test('ab'))
  })

  test('regular-expression characters are literal', () => {
    for (const syntax of ['like', 'glob'] as const) {
      for (const special of ['.', '+', '^', '$', '{', '}', '(', ')', '|', '[', ']', '\\', '/']) {
        const pattern = wildcardRegExp(`a${special}b`, syntax)
        assert.ok(pattern.test(`a${special}b`), `${syntax} ${special}`)
        assert.ok(!pattern.test('axb') && !pattern.test('ab') && !pattern.test('b'), `${syntax} ${special} is literal`)
      }
      assert.ok(wildcardRegExp('a{2}', syntax).test('a{2}') && !wildcardRegExp('a{2}', syntax).test('aa'))
      assert.ok(wildcardRegExp('[ab]', syntax).test('[ab]') && !wildcardRegExp('[ab]', syntax).test('a'))
      assert.ok(wildcardRegExp('a|b', syntax).test('a|b') && !wildcardRegExp('a|b', syntax).test('a'))
      assert.ok(wildcardRegExp('x.y', syntax).test('x.y') && !wildcardRegExp('x.y', syntax).test('xzy'))
    }
    assert.ok(wildcardRegExp('*', 'like').test('*') && !wildcardRegExp('*', 'like').test('**'))
    assert.ok(wildcardRegExp('a+', 'glob').test('a+') && !wildcardRegExp('a+', 'glob').test('aa'))
    assert.ok(wildcardRegExp('?', 'like').test('?') && !wildcardRegExp('?', 'like').test(''))
  })
})

describe('fields', () => {
  test('types, physical columns and sizes', () => {
    const table = Object.fromEntries(Object.entries(fields).map(([name, field]) => [name, `${field.type} ${field.columns.join('+')} ${field.large ? 'large' : 'small'}`]))
    assert.deepEqual(table, {
      trajectory_id: 'string trajectory_id small',
      finish_reason: 'string finish_reason small',
      image: 'string image small',
      license: 'string license small',
      reward: 'number reward small',
      messages: 'string messages large',
      tools: 'string tools large',
      chat_template_applied: 'string chat_template_applied large',
      task: 'string trajectory_id small',
      run: 'number trajectory_id small',
      repo: 'string trajectory_id+image small',
      turns: 'number messages large',
      tool_calls: 'number messages large',
      messages_count: 'number messages large',
    })
    assert.deepEqual([...messageFunctions], ['uses_tool', 'ends_with_finish'])
  })
})

describe('predicate flags', () => {
  const terms = (expr: Expr): Expr[] => (expr.kind === 'and' ? [...terms(expr.left), ...terms(expr.right)] : [expr])

  test('each flag is one term of an and, small-column terms first, in a fixed order', () => {
    const idFile = join(dir, 'ids.txt')
    writeFileSync(idFile, 'a_run1\r\nb_run2\n\n  c_run3  \na_run1\n')
    const expr = predicateFromFlags({
      where: `license != 'ISC'`, endsWithFinish: true, usesTool: ['think', 'execute_bash, finish'], maxTurns: '60', minTurns: '5', run: '1,3-4',
      id: `@${idFile}`, sourceRepo: 'HIPS/*', image: 'django', license: 'MIT, MIT AND Apache-2.0', finishReason: 'tool_calls,stop', reward: '>=1',
    })
    assert.deepEqual(terms(expr), [
      cmp('>=', 'reward', 1),
      { kind: 'in', field: 'finish_reason', values: ['tool_calls', 'stop'] },
      { kind: 'in', field: 'license', values: ['MIT', 'MIT AND Apache-2.0'] },
      { kind: 'glob', field: 'image', pattern: '*django*' },
      { kind: 'glob', field: 'repo', pattern: 'hips/*' },
      { kind: 'in', field: 'trajectory_id', values: ['a_run1', 'b_run2', 'c_run3'] },
      { kind: 'or', left: { kind: 'in', field: 'run', values: [1] }, right: { kind: 'between', field: 'run', low: 3, high: 4 } },
      cmp('>=', 'turns', 5),
      cmp('<=', 'turns', 60),
      { kind: 'uses_tool', tool: 'think' },
      { kind: 'uses_tool', tool: 'execute_bash' },
      { kind: 'uses_tool', tool: 'finish' },
      { kind: 'ends_with_finish' },
      cmp('!=', 'license', 'ISC'),
    ])
    assert.equal(expr.kind, 'and')
  })

  test('single flags', () => {
    const reward = (text: string) => predicateFromFlags({ reward: text })
    const rewards: [string, string, number][] = [['1', '=', 1], ['=1', '=', 1], ['==-1', '=', -1], ['!=0', '!=', 0], ['<>0', '!=', 0],
      ['<0', '<', 0], ['<=0.5', '<=', 0.5], ['>.5', '>', 0.5], ['>=1', '>=', 1], [' >= 1 ', '>=', 1], ['< 0', '<', 0], ['1.', '=', 1], ['-0.25', '=', -0.25], ['10', '=', 10], ['>=-12.75', '>=', -12.75], ['<.125', '<', 0.125]]
    for (const [text, op, value] of rewards) assert.deepEqual(reward(text), cmp(op, 'reward', value), text)
    assert.deepEqual(predicateFromFlags({}), { kind: 'constant', value: true })
    assert.deepEqual(predicateFromFlags({ endsWithFinish: false, usesTool: [] }), { kind: 'constant', value: true })
    assert.deepEqual(predicateFromFlags({ endsWithFinish: true }), { kind: 'ends_with_finish' })
    assert.deepEqual(predicateFromFlags({ finishReason: 'stop' }), { kind: 'in', field: 'finish_reason', values: ['stop'] })
    assert.deepEqual(predicateFromFlags({ image: 'sweb*' }), { kind: 'glob', field: 'image', pattern: 'sweb*' })
    assert.deepEqual(predicateFromFlags({ image: 'a?c' }), { kind: 'glob', field: 'image', pattern: 'a?c' })
    assert.deepEqual(predicateFromFlags({ image: ' x ' }), { kind: 'glob', field: 'image', pattern: '* x *' })
    assert.deepEqual(predicateFromFlags({ sourceRepo: 'Pandas' }), { kind: 'glob', field: 'repo', pattern: '*pandas*' })
    assert.deepEqual(predicateFromFlags({ id: 'x__y-1_run2' }), cmp('=', 'trajectory_id', 'x__y-1_run2'))
    assert.deepEqual(predicateFromFlags({ id: 'x__y-1_run?' }), { kind: 'glob', field: 'trajectory_id', pattern: 'x__y-1_run?' })
    assert.deepEqual(predicateFromFlags({ id: 'x__*' }), { kind: 'glob', field: 'trajectory_id', pattern: 'x__*' })
    assert.deepEqual(predicateFromFlags({ run: '2' }), { kind: 'in', field: 'run', values: [2] })
    assert.deepEqual(predicateFromFlags({ run: '2,5' }), { kind: 'in', field: 'run', values: [2, 5] })
    assert.deepEqual(predicateFromFlags({ run: '5-8' }), { kind: 'between', field: 'run', low: 5, high: 8 })
    assert.deepEqual(predicateFromFlags({ run: '5-8,1-2,3' }), {
      kind: 'or',
      left: { kind: 'or', left: { kind: 'in', field: 'run', values: [3] }, right: { kind: 'between', field: 'run', low: 5, high: 8 } },
      right: { kind: 'between', field: 'run', low: 1, high: 2 },
    })
    assert.deepEqual(predicateFromFlags({ minTurns: '0' }), cmp('>=', 'turns', 0))
    assert.deepEqual(predicateFromFlags({ maxTurns: '3' }), cmp('<=', 'turns', 3))
    assert.deepEqual(predicateFromFlags({ usesTool: ['a,,b', ' c '] }), and([{ kind: 'uses_tool', tool: 'a' }, { kind: 'uses_tool', tool: 'b' }, { kind: 'uses_tool', tool: 'c' }]))
    assert.deepEqual(predicateFromFlags({ where: 'run = 1' }), cmp('=', 'run', 1))
    const idFile = join(dir, 'one-id.txt')
    writeFileSync(idFile, 'only_run1')
    assert.deepEqual(predicateFromFlags({ id: `@${idFile}` }), { kind: 'in', field: 'trajectory_id', values: ['only_run1'] })
  })

  test('bad values are usage errors naming the flag and the fix', () => {
    const error = (flags: PredicateFlags) => usage(() => predicateFromFlags(flags))
    const hint = `give a value (leave the option out to select everything)`
    assert.equal(error({ reward: 'one' }), `invalid --reward 'one': use a value (1) or a comparison (>=1, <0, !=0)`)
    assert.equal(error({ reward: '>= ' }), `invalid --reward '>= ': use a value (1) or a comparison (>=1, <0, !=0)`)
    assert.equal(error({ reward: '1x' }), `invalid --reward '1x': use a value (1) or a comparison (>=1, <0, !=0)`)
    assert.equal(error({ reward: 'x1' }), `invalid --reward 'x1': use a value (1) or a comparison (>=1, <0, !=0)`)
    assert.equal(error({ reward: '=>1' }), `invalid --reward '=>1': use a value (1) or a comparison (>=1, <0, !=0)`)
    assert.equal(error({ reward: '1e3' }), `invalid --reward '1e3': use a value (1) or a comparison (>=1, <0, !=0)`)
    assert.equal(error({ finishReason: ',' }), `--finish-reason takes one or more comma-separated values, got ','`)
    assert.equal(error({ license: ' , ' }), `--license takes one or more comma-separated values, got ' , '`)
    assert.equal(error({ image: '  ' }), `invalid --image '  ': ${hint}`)
    assert.equal(error({ sourceRepo: '' }), `invalid --source-repo '': ${hint}`)
    assert.equal(error({ id: ' ' }), `invalid --id ' ': ${hint}`)
    assert.equal(error({ where: ' ' }), `invalid --where ' ': ${hint}`)
    assert.equal(error({ where: 'reward >' }), `--where: unexpected end of input at column 9 in "reward >"`)
    assert.equal(error({ run: 'x' }), `invalid --run 'x': use numbers and ranges such as 1,3-4`)
    assert.equal(error({ run: '3-' }), `invalid --run '3-': use numbers and ranges such as 1,3-4`)
    assert.equal(error({ minTurns: '-1' }), `invalid --min-turns '-1': use a whole number such as 0 or 12`)
    assert.equal(error({ maxTurns: '2.5' }), `invalid --max-turns '2.5': use a whole number such as 0 or 12`)
    assert.equal(error({ usesTool: [' , '] }), `invalid --uses-tool ' , ': give a tool name such as think`)
    assert.equal(error({ usesTool: ['', ','] }), `invalid --uses-tool ',,': give a tool name such as think`)
    assert.ok((() => { try { predicateFromFlags({ usesTool: [','] }) } catch (e) { return e instanceof OptionValueError && e.option === '--uses-tool' } })())
    const missing = join(dir, 'missing.txt')
    assert.equal(error({ id: `@${missing}` }), `cannot read the id file ${missing} (--id @FILE takes a file with one trajectory_id per line)`)
    const empty = join(dir, 'empty.txt')
    writeFileSync(empty, '\n \r\n\n')
    assert.equal(error({ id: `@${empty}` }), `the id file ${empty} lists no trajectory_id (one per line)`)
  })
})

describe('evaluation', () => {
  const rows = evaluationRows
  const batchOf = evaluationBatch
  const select = (where: string, bytes = false) => compileFilter(parseWhere(where))(batchOf(bytes))
  const holds = (where: string, row: Record<string, unknown>) => compilePredicate(parseWhere(where)).matches(row)

  test('every operator on numbers and strings (JS strings and UTF-8 bytes alike)', () => {
    const expected: [string, number[]][] = [
      [`reward = 1`, [0]], [`reward = 0`, [1]], [`reward != 1`, [1, 2, 4]], [`reward != 0`, [0, 2, 4]], [`license != 'BSD-3-Clause'`, [0, 3, 4]], [`reward < 0.5`, [1, 2]], [`reward <= 0.5`, [1, 2, 4]],
      [`reward > 0.5`, [0]], [`reward >= 0.5`, [0, 4]], [`reward > -1`, [0, 1, 4]], [`reward >= -1`, [0, 1, 2, 4]], [`reward < -1`, []],
      [`reward in (0.5, -1)`, [2, 4]], [`reward between -1 and 0`, [1, 2]], [`reward between 0 and 0.5`, [1, 4]], [`reward between 1 and 0`, []],
      [`license = 'MIT'`, [0, 4]], [`license != 'MIT'`, [2, 3]], [`license < 'BSD-3-Clause'`, [3]], [`license <= 'BSD-3-Clause'`, [2, 3]],
      [`license > 'BSD-3-Clause'`, [0, 4]], [`license >= 'BSD-3-Clause'`, [0, 2, 4]], [`license between 'Apache-2.0' and 'BSD-3-Clause'`, [2, 3]],
      [`license in ('MIT', 'BSD-3-Clause') and reward >= 0.5`, [0, 4]],
      [`image like '%x86_64%'`, [0, 4]], [`image like 'qingyangwu/_andas%'`, [2]], [`image like 'qingyangwu/*'`, []], [`image glob 'qingyangwu/*'`, [0, 2, 4]],
      [`image glob '*1776_ü*'`, [4]], [`image glob 'HIPS__autograd?ac044f0d?pr_672'`, [1]], [`image like 'HIPS\\_\\_%'`, []],
      [`trajectory_id ~ '_run[1-3]$'`, [0, 2, 3]], [`trajectory_id ~ 'run'`, [0, 1, 2, 3, 4]], [`image ~ 'ü'`, [4]], [`trajectory_id ~ '^HIPS'`, [1]],
      [`trajectory_id > 'qingyangwu'`, [2, 4]], [`trajectory_id < 'HIPS'`, [0, 3]],
      [`finish_reason != 'tool_calls'`, [1]], [`true`, [0, 1, 2, 3, 4]], [`false`, []], [`false or reward = 1`, [0]],
    ]
    for (const [where, indexes] of expected) {
      assert.deepEqual(select(where), indexes, where)
      assert.deepEqual(select(where, true), indexes, `${where} (bytes)`)
    }
  })

  test('SQL three-valued logic: the truth tables of not, and, or', () => {
    // a: license = 'MIT', b: finish_reason = 'stop', each true, false or null
    const truths = [true, false, null] as const
    const valueOf = { license: ['MIT', 'ISC', null], finish_reason: ['stop', 'length', null] }
    const pairs = truths.flatMap((a, i) => truths.map((b, j) => ({ a, b, license: valueOf.license[i], finish_reason: valueOf.finish_reason[j] })))
    const batch: Batch = { numRows: pairs.length, columns: { license: pairs.map((p) => p.license), finish_reason: pairs.map((p) => p.finish_reason) } }
    const not = (x: boolean | null) => (x === null ? null : !x)
    const and3 = (x: boolean | null, y: boolean | null) => (x === false || y === false ? false : x === null || y === null ? null : true)
    const or3 = (x: boolean | null, y: boolean | null) => (x === true || y === true ? true : x === null || y === null ? null : false)
    const cases: [string, (x: boolean | null, y: boolean | null) => boolean | null][] = [
      [`license = 'MIT' and finish_reason = 'stop'`, and3],
      [`license = 'MIT' or finish_reason = 'stop'`, or3],
      [`not (license = 'MIT' and finish_reason = 'stop')`, (x, y) => not(and3(x, y))],
      [`not (license = 'MIT' or finish_reason = 'stop')`, (x, y) => not(or3(x, y))],
      [`not license = 'MIT' and not finish_reason = 'stop'`, (x, y) => and3(not(x), not(y))],
      [`not (not license = 'MIT')`, (x) => x],
      [`license = 'MIT' and true`, (x) => and3(x, true)],
      [`license = 'MIT' or false`, (x) => or3(x, false)],
    ]
    for (const [where, truth] of cases) {
      const want = pairs.flatMap((p, row) => (truth(p.a, p.b) === true ? [row] : []))
      const maybe = pairs.flatMap((p, row) => (truth(p.a, p.b) !== false ? [row] : []))
      assert.deepEqual(compileFilter(parseWhere(where))(batch), want, where)
      // large-column deferral keeps whatever is not false; with no large column that is the null rows too
      assert.deepEqual(compileFilter(parseWhere(where), { deferLarge: true })(batch), maybe, `${where} (deferLarge)`)
    }
    assert.deepEqual(compileFilter(parseWhere(`license is null`))(batch), [6, 7, 8])
    assert.deepEqual(compileFilter(parseWhere(`not (license is null)`))(batch), [0, 1, 2, 3, 4, 5])
    assert.deepEqual(compileFilter(parseWhere(`license is not null and finish_reason is null`))(batch), [2, 5])
  })

  test('nulls: a test on a null value is unknown, missing columns read as null', () => {
    const expected: [string, number[]][] = [
      [`license != 'MIT'`, [2, 3]], [`not (license = 'MIT')`, [2, 3]], [`license is null`, [1]], [`license is not null`, [0, 2, 3, 4]],
      [`not (reward > 0)`, [1, 2]], [`reward is null`, [3]], [`finish_reason not in ('stop')`, [0, 2, 4]], [`reward not between 0 and 0.9`, [0, 2]],
      [`license not like 'M%'`, [2, 3]], [`license not glob 'M*'`, [2, 3]], [`not (license ~ 'I')`, [2, 3]],
      [`image is null`, [3]], [`image like '%'`, [0, 1, 2, 4]], [`tools is null`, [0, 1, 2, 3, 4]], [`tools = 'x' or true`, [0, 1, 2, 3, 4]],
      [`not (tools = 'x')`, []], [`chat_template_applied is not null`, []],
    ]
    for (const [where, indexes] of expected) assert.deepEqual(select(where), indexes, where)
  })

  test('derived fields: task, run, repo', () => {
    const expected: [string, number[]][] = [
      [`task = '0b01001001__spectree-64'`, [0, 3]], [`task = 'HIPS__autograd_ac044f0d_pr_672'`, [1]], [`task = 'qingyangwu_pandas_final_${sha}'`, [2]],
      [`task = 'zeta__ünïcödé-1'`, [4]], [`task like '%run%'`, []],
      [`run = 3`, [0]], [`run = 4`, [1]], [`run in (1, 2)`, [2, 3]], [`run between 2 and 4`, [0, 1, 2]], [`run > 4`, [4]], [`run is null`, []],
      [`repo = '0b01001001/spectree'`, [0, 3]], [`repo = 'hips/autograd'`, [1]], [`repo = 'pandas'`, [2]], [`repo = 'zeta/ünïcödé'`, [4]], [`repo is null`, []],
    ]
    for (const bytes of [false, true]) for (const [where, indexes] of expected) assert.deepEqual(select(where, bytes), indexes, `${where}${bytes ? ' (bytes)' : ''}`)
    assert.equal(holds(`run is null and task = 'odd-id' and repo is null`, { trajectory_id: 'odd-id' }), true)
    assert.equal(holds(`run is null and task is null and repo is null`, { trajectory_id: null }), true)
    assert.equal(holds(`run is not null`, { trajectory_id: 'x_run7' }), true)
    assert.equal(holds(`repo = 'hips/autograd'`, { trajectory_id: 'x', image: 'qingyangwu/swesmith.x86_64.hips_1776_autograd.ac044f0d' }), true)
    assert.equal(holds(`repo = 'owner/name'`, { trajectory_id: 'owner__name-12_run1', image: null }), true)
    assert.equal(holds(`repo is null`, { trajectory_id: null, image: 'qingyangwu/swesmith.x86_64.hips_1776_autograd.ac044f0d' }), true)
  })

  test('message features: turns, tool calls, messages count, tools used, finishing; null when messages are not a list', () => {
    const expected: [string, number[]][] = [
      [`turns = 4`, [0]], [`turns = 1`, [1]], [`turns >= 0`, [0, 1, 4]], [`not (turns >= 0)`, []], [`turns is null`, [2, 3]],
      [`tool_calls = 5`, [0]], [`tool_calls = 2`, [1]], [`tool_calls = 6`, [4]], [`messages_count = 10`, [0]], [`messages_count = 5`, [1]], [`messages_count = 13`, [4]], [`turns = 5`, [4]],
      [`uses_tool('think')`, [0, 1, 4]], [`uses_tool('finish')`, [0]], [`uses_tool('grep')`, []], [`not uses_tool('grep')`, [0, 1, 4]],
      [`not uses_tool('think')`, []], [`uses_tool('str_replace_editor')`, [0, 4]],
      [`ends_with_finish`, [0]], [`not ends_with_finish`, [1, 4]], [`messages like '%"finish"%'`, [0]], [`messages like '%finish%'`, [0, 1, 4]], [`messages is null`, [3]],
    ]
    for (const bytes of [false, true]) for (const [where, indexes] of expected) assert.deepEqual(select(where, bytes), indexes, `${where}${bytes ? ' (bytes)' : ''}`)
    assert.equal(holds('ends_with_finish or not ends_with_finish', { messages: '{"not": "a list"}' }), false)
    assert.equal(holds(`uses_tool('think') or not uses_tool('think')`, { messages: '[1' }), false)
    assert.equal(holds('turns is null and tool_calls is null and messages_count is null', { messages: '{"not": "a list"}' }), true)
    assert.equal(holds('turns = 0 and tool_calls = 0 and messages_count = 0 and not ends_with_finish', { messages: '[]' }), true)
  })

  test('numbers: bigints compare as numbers; NaN fails every ordering; strings in code-point order', () => {
    const batch: Batch = { numRows: 4, columns: { reward: [Number.NaN, 2n, 1, undefined], license: ['🐛', '\uFFFD', 5, undefined] } }
    const run = (where: string) => compileFilter(parseWhere(where))(batch)
    assert.deepEqual(run('reward >= 0'), [1, 2])
    assert.deepEqual(run('reward < 5'), [1, 2])
    assert.deepEqual(run('reward between 0 and 5'), [1, 2])
    assert.deepEqual(run('reward = 2'), [1])
    assert.deepEqual(run('reward is null'), [3])
    assert.deepEqual(run(`license > '\uFFFD'`), [0], 'U+1F41B sorts after U+FFFD')
    assert.deepEqual(run(`license < '🐛'`), [1, 2])
    assert.deepEqual(run(`license = '5'`), [2], 'other values read as text')
    assert.deepEqual(run(`license is null`), [3])
  })

  test('regular expressions keep their flags but no state between rows', () => {
    const batch: Batch = { numRows: 3, columns: { license: ['MIT', 'mit', 'ISC'] } }
    const regex = (pattern: RegExp) => compileFilter({ kind: 'regex', field: 'license', pattern })(batch)
    assert.deepEqual(regex(/mit/gi), [0, 1])
    assert.deepEqual(regex(/mit/y), [1])
    assert.deepEqual(regex(/^[MI]/g), [0, 2])
    assert.deepEqual(regex(/IT|SC/), [0, 2])
  })

  test('rows to consider, in the order given; phase 1 keeps what may match, phase 2 decides', () => {
    const small = batchOf(false)
    delete small.columns.messages
    assert.deepEqual(compileFilter(parseWhere(`license = 'MIT'`))(small, [1, 4]), [4])
    assert.deepEqual(compileFilter(parseWhere(`reward >= 0`))(small, Uint32Array.of(4, 0, 2)), [4, 0])
    assert.deepEqual(compileFilter(parseWhere(`true`))(small, []), [])
    assert.deepEqual(compileFilter(parseWhere(`true`))({ numRows: 0, columns: {} }), [])

    const either = compilePredicate(parseWhere(`reward = 1 or turns > 2`))
    assert.deepEqual(either.filterSmall(small), [0, 1, 2, 3, 4], 'reward 1 decides row 0; the others wait for turns')
    assert.deepEqual(either.filterLarge(batchOf(true), [0, 1, 2, 3, 4]), [0, 4])
    assert.deepEqual(either.filterLarge(batchOf(true), [1, 4]), [4])
    const both = compilePredicate(parseWhere(`reward >= 0 and uses_tool('think')`))
    assert.deepEqual(both.filterSmall(small), [0, 1, 3, 4], 'reward -1 rules row 2 out without messages; a null reward is not false')
    assert.deepEqual(both.filterLarge(batchOf(false), [0, 1, 3, 4]), [0, 1, 4])
    assert.deepEqual(compileFilter(parseWhere(`not ends_with_finish and license = 'MIT'`), { deferLarge: true })(small), [0, 1, 4])
    assert.deepEqual(compileFilter(parseWhere(`turns > 1 or license is null`), { deferLarge: true })(small), [0, 1, 2, 3, 4])
    assert.deepEqual(compileFilter(parseWhere(`messages = 'x' and license is null`), { deferLarge: true })(small), [1])
    assert.deepEqual(compileFilter(parseWhere(`tool_calls > 1 and reward > 0`), { deferLarge: true })(small), [0, 3, 4])
    assert.deepEqual(compileFilter(parseWhere(`messages_count > 1 and reward < 0`), { deferLarge: true })(small), [2, 3])
    assert.deepEqual(compileFilter(parseWhere(`not (uses_tool('x') or chat_template_applied = 'y') and reward = 1`), { deferLarge: true })(small), [0, 3])

    // a predicate of small columns decides in phase 1: nulls are not candidates, and phase 2 passes the rows through
    const smallOnly = compilePredicate(parseWhere(`license = 'MIT'`))
    assert.deepEqual(smallOnly.filterSmall(small), [0, 4])
    assert.deepEqual(smallOnly.filterLarge(small, [0, 1, 2]), [0, 1, 2])
    assert.deepEqual(smallOnly.phase2Columns, [])
    assert.deepEqual(compilePredicate(parseWhere(`license = 'MIT' or license is null`)).filterSmall(small), [0, 1, 4])
  })

  test('values are read only as far as the predicate needs', () => {
    const small = batchOf(false)
    const trap = new Proxy([], { get: () => { throw new Error('messages read') } })
    const guarded: Batch = { numRows: small.numRows, columns: { ...small.columns, messages: trap } }
    assert.deepEqual(compileFilter(parseWhere(`reward = 5 and turns > 1`))(guarded, [0, 1, 2, 4]), [])
    assert.deepEqual(compileFilter(parseWhere(`reward = 5 and uses_tool('x')`))(guarded, [4, 2, 1, 0]), [])
    assert.deepEqual(compileFilter(parseWhere(`reward >= -1 or turns > 1`))(guarded, [0, 1, 2]), [0, 1, 2])
    assert.deepEqual(compileFilter(parseWhere(`reward >= -1 or ends_with_finish`))(guarded, [0, 1, 2, 4]), [0, 1, 2, 4])
    assert.throws(() => compileFilter(parseWhere(`turns > 1`))(guarded), /messages read/)
    // deferred large tests are never evaluated
    assert.deepEqual(compileFilter(parseWhere(`turns > 1 and uses_tool('x') and not ends_with_finish`), { deferLarge: true })(guarded), [0, 1, 2, 3, 4])

    // one parse per row, shared by every message test of that row
    let parses = 0
    const counted = rows.map((row) => row.messages)
    const column = new Proxy(counted, { get: (target, key) => { if (key !== 'length' && typeof key === 'string' && /^\d+$/.test(key)) parses++; return Reflect.get(target, key) } })
    const filter = compileFilter(parseWhere(`turns > 0 and tool_calls > 0 and messages_count > 0 and uses_tool('think') and ends_with_finish`))
    assert.deepEqual(filter({ numRows: 5, columns: { messages: column } }), [0])
    assert.equal(parses, 5, 'each row read once')
  })

  test('any row may come first: nothing is taken as already read', () => {
    const batch = batchOf(false)
    for (const [where, row] of [[`reward = 0`, 1], [`turns = 1`, 1], [`license = 'Apache-2.0'`, 3], [`tool_calls = 6`, 4], [`task = 'zeta__ünïcödé-1'`, 4]] as const) {
      assert.deepEqual(compileFilter(parseWhere(where))(batch, [row]), [row], where)
      assert.deepEqual(compileFilter(parseWhere(where))(batch, [row, 0]), [row], `${where}, then row 0`)
    }
  })

  test('each column value is read once per row, however many tests use it', () => {
    let reads = 0
    const counting = (values: unknown[]) => new Proxy(values, { get: (target, key) => { if (typeof key === 'string' && /^\d+$/.test(key)) reads++; return Reflect.get(target, key) } })
    const batch: Batch = { numRows: 3, columns: { license: counting(['MIT', 'ISC', null]), trajectory_id: counting(['a__b-1_run1', 'x', 'c__d-2_run2']) } }
    assert.deepEqual(compileFilter(parseWhere(`license = 'ISC' or license = 'BSD' or license is null or license like 'M%'`))(batch), [0, 1, 2])
    assert.equal(reads, 3)
    reads = 0
    assert.deepEqual(compileFilter(parseWhere(`run = 7 or task = 'x' or repo = 'c/d' or trajectory_id = 'q'`))(batch), [1, 2])
    assert.equal(reads, 3, 'task, run and repo share the id reader')
  })

  test('matches() takes one row as an object; canSkip() delegates to the statistics', () => {
    const predicate = compilePredicate(parseWhere(`license = 'MIT' and turns >= 1`))
    assert.equal(predicate.matches({ license: 'MIT', messages: messages(1) }), true)
    assert.equal(predicate.matches({ license: 'MIT', messages: '[]' }), false)
    assert.equal(predicate.matches({ license: 'ISC', messages: messages(1) }), false)
    assert.equal(predicate.matches({ messages: messages(1) }), false)
    assert.deepEqual({ ...predicate, filterSmall: undefined, filterLarge: undefined, matches: undefined, canSkip: undefined }, {
      expr: parseWhere(`license = 'MIT' and turns >= 1`), phase1Columns: ['license'], phase2Columns: ['license', 'messages'], needsMessages: true,
      filterSmall: undefined, filterLarge: undefined, matches: undefined, canSkip: undefined,
    })
    const stats = (min: string, max: string): RowGroupMeta => ({ num_rows: 3, columns: [{ meta_data: { path_in_schema: ['license'], statistics: { min_value: min, max_value: max, null_count: 0n } } }] })
    assert.equal(predicate.canSkip(stats('ISC', 'ISC')), true)
    assert.equal(predicate.canSkip(stats('ISC', 'MIT')), false)
    assert.equal(compilePredicate(parseWhere('true')).canSkip({ num_rows: 0n, columns: [] }), true)
  })
})

describe('plan', () => {
  test('columns per phase, in first-use order', () => {
    const plan = (where: string) => planScan(parseWhere(where))
    assert.deepEqual(plan(`reward = 1 and license = 'MIT'`), { phase1Columns: ['reward', 'license'], phase2Columns: [], needsMessages: false })
    assert.deepEqual(plan(`repo = 'a/b' or run = 2 or task = 'x'`), { phase1Columns: ['trajectory_id', 'image'], phase2Columns: [], needsMessages: false })
    assert.deepEqual(plan(`reward = 1 and (turns > 4 or finish_reason = 'stop')`), {
      phase1Columns: ['reward', 'finish_reason'], phase2Columns: ['reward', 'messages', 'finish_reason'], needsMessages: true,
    })
    assert.deepEqual(plan(`uses_tool('think')`), { phase1Columns: [], phase2Columns: ['messages'], needsMessages: true })
    assert.deepEqual(plan(`not ends_with_finish`), { phase1Columns: [], phase2Columns: ['messages'], needsMessages: true })
    assert.deepEqual(plan(`chat_template_applied like '%<think>%'`), { phase1Columns: [], phase2Columns: ['chat_template_applied'], needsMessages: false })
    assert.deepEqual(plan(`tools is null or image = 'x'`), { phase1Columns: ['image'], phase2Columns: ['tools', 'image'], needsMessages: false })
    assert.deepEqual(plan(`messages is null`), { phase1Columns: [], phase2Columns: ['messages'], needsMessages: true })
    assert.deepEqual(plan('true'), { phase1Columns: [], phase2Columns: [], needsMessages: false })
    assert.deepEqual(columnsOf(parseWhere(`not (image = 'x') and repo = 'y' and tool_calls > 1 and ends_with_finish`)), ['image', 'trajectory_id', 'messages'])
    assert.deepEqual(columnsOf(parseWhere(`false or true`)), [])
  })

  test('isLarge: any part on messages, tools or chat_template_applied', () => {
    const large = (where: string) => isLarge(parseWhere(where))
    assert.deepEqual([`turns > 1`, `tool_calls > 1`, `messages_count > 1`, `tools = 'x'`, `messages = 'x'`, `chat_template_applied = 'x'`, `uses_tool('x')`, `ends_with_finish`,
      `reward = 1 and turns > 1`, `turns > 1 and reward = 1`, `reward = 1 or ends_with_finish`, `ends_with_finish or reward = 1`, `not (turns > 1)`].map(large), Array(13).fill(true))
    assert.deepEqual([`reward = 1`, `repo = 'x'`, `run = 1`, `task = 'x'`, `true`, `not false`, `reward = 1 and license = 'x'`, `image is null or trajectory_id = 'x'`].map(large), Array(8).fill(false))
  })

  /** A row group of `numRows` rows with these statistics per column. */
  const group = (numRows: number | bigint, stats: Record<string, Record<string, unknown>>): RowGroupMeta => ({
    num_rows: numRows,
    columns: Object.entries(stats).map(([name, statistics]) => ({ meta_data: { path_in_schema: [name], statistics } })),
  })
  const skips = (where: string, rowGroup: RowGroupMeta) => canSkipRowGroup(parseWhere(where), rowGroup)
  const check = (rowGroup: RowGroupMeta, skipped: string[], kept: string[]) => {
    for (const where of skipped) assert.equal(skips(where, rowGroup), true, `skips ${where}`)
    for (const where of kept) assert.equal(skips(where, rowGroup), false, `keeps ${where}`)
  }

  test('numeric bounds: each operator at and around the bounds', () => {
    const g = group(100n, { reward: { min_value: 0, max_value: 1, null_count: 0n } })
    check(g,
      [`reward > 1`, `reward >= 1.5`, `reward < 0`, `reward <= -0.5`, `reward = 2`, `reward = -0.5`, `reward in (2, 3)`, `reward in (-1, 2)`,
        `reward between 1.5 and 3`, `reward between -3 and -2`, `reward between 1 and 0`, `reward > 5 and reward < 10`, `reward > 5 or reward < -5`],
      [`reward >= 1`, `reward > 0.5`, `reward <= 0`, `reward < 0.5`, `reward = 1`, `reward = 0`, `reward = 0.5`, `reward in (2, 1)`, `reward in (0, 3)`,
        `reward between 1 and 3`, `reward between -1 and 0`, `reward between 0.2 and 0.3`, `reward between 0 and 0`, `reward != 1`, `reward != 7`,
        `not (reward > 5)`, `not (reward between 0 and 1)`, `reward > 5 or reward < 0.5`, `reward > 0.5 and reward < 1`])
    check(group(5, { reward: { min: 0, max: 0.5 } }), [`reward > 0.5`], [`reward >= 0.5`, `reward is null`])
    check(group(5, { reward: { min_value: 0n, max_value: 1n, null_count: 2n } }), [`reward >= 2`, `reward < 0`], [`reward >= 1`, `reward <= 0`, `reward is null`, `reward is not null`])
    check(group(5, { reward: { min_value: Number.NaN, max_value: Number.NaN } }), [], [`reward >= 2`, `reward < -1`, `reward = 5`])
    check(group(5, { reward: { min_value: 0, null_count: 0n } }), [`reward is null`], [`reward > 1`, `reward < -1`], )
    check(group(5, { reward: { max_value: 0 } }), [], [`reward > 1`, `reward is null`, `reward is not null`])
    check(group(5, { reward: { min_value: 2, max_value: 'x' } }), [], [`reward < 1`])
    // statistics of another type than the field's prove nothing, even where the values would compare
    check(group(5, { reward: { min_value: '0', max_value: '1', null_count: 0n } }), [],
      [`reward = 5`, `reward = -5`, `reward in (5)`, `reward in (-5)`, `reward between 3 and 4`, `reward between -4 and -3`, `reward > 5`, `reward >= 5`, `reward < -5`])
    // without bounds nothing is decided from them
    check(group(5, { reward: { null_count: 0n } }), [], [`reward between 1 and 0`, `reward = 1`, `reward < 0`])
    // != never proves a group empty, not even at a bound
    check(group(5, { reward: { min_value: 0, max_value: 0, null_count: 0n } }), [`reward != 0 and reward > 0`], [`reward != 0`, `reward != -1`, `reward != 1`])
  })

  test('null counts, empty groups, missing statistics and logic', () => {
    const g = group(100, { reward: { min_value: 0, max_value: 1, null_count: 0n }, license: { null_count: 0n }, image: { null_count: 100n } })
    check(g,
      [`license is null`, `image is not null`, `image = 'x'`, `image != 'x'`, `not (image = 'x')`, `image like 'q%' or reward > 1`, `false`, `not true`,
        `not (license is not null)`, `not (image is null)`, `not (image is null or reward > 5)`, `not (reward > 5 or image is null)`,
        `not (image is null and image = 'x')`, `reward > 5 and license = 'MIT'`, `license = 'MIT' and reward > 5`, `not not false`],
      [`license is not null`, `image is null`, `turns > 5`, `uses_tool('x')`, `ends_with_finish`, `not uses_tool('x')`, `run = 1`, `true`, `not false`,
        `finish_reason = 'stop'`, `finish_reason is null`, `license = 'MIT'`, `not (image is null and license is null)`, `not (license is null or reward > 5)`,
        `not (reward > 5)`, `reward > 5 or license = 'MIT'`, `license = 'MIT' or reward > 5`, `messages is null`, `tools is not null`, `repo = 'x'`, `repo is null`])
    check(group(0, {}), [`reward = 1`, `true`, `uses_tool('x')`], [])
    check(group(0n, {}), [`license is not null`], [])
    check(group(3, { messages: { null_count: 3n, min_value: 'a', max_value: 'b' } }), [], [`messages is not null`, `messages = 'z'`, `turns > 3`])
    // ids: task is null exactly when trajectory_id is; run and repo can be null for any id
    const ids = group(10, { trajectory_id: { null_count: 0n } })
    check(ids, [`trajectory_id is null`, `task is null`], [`run is null`, `repo is null`, `trajectory_id is not null`, `task is not null`, `run is not null`, `task = 'x'`, `run = 1`])
    const noIds = group(10, { trajectory_id: { null_count: 10n, min_value: 'a', max_value: 'b' } })
    check(noIds, [`trajectory_id is not null`, `task is not null`, `run is not null`, `task = 'x'`, `not (task = 'x')`, `run = 1`, `trajectory_id = 'a'`, `not (trajectory_id = 'a')`],
      [`trajectory_id is null`, `task is null`, `run is null`, `repo is null`])
    const unknownNulls = group(10, { license: { min_value: 'MIT', max_value: 'MIT' } })
    check(unknownNulls, [`license = 'ISC'`], [`license is null`, `license is not null`, `license = 'MIT'`])
    // statistics that are not there, or not of a top-level column
    const malformed: RowGroupMeta = { num_rows: 4, columns: [{}, { meta_data: { path_in_schema: ['license'] } }, { meta_data: { path_in_schema: ['reward', 'x'], statistics: { min_value: 5, max_value: 6, null_count: 4n } } }] }
    for (const where of [`license is null`, `reward = 1`, `reward is not null`, `license = 'x'`]) assert.equal(skips(where, malformed), false, where)
  })

  test('string bounds: ranges, prefixes, truncated maxima and decoding damage', () => {
    const licenses = group(10, { license: { min_value: 'Apache-2.0', max_value: 'MIT', null_count: 0n } })
    check(licenses,
      [`license = 'Zlib'`, `license = 'AAA'`, `license = 'Apache'`, `license in ('AAA', 'Zlib')`, `license like 'Z%'`, `license like 'Z_'`, `license like '0%'`,
        `license like 'A*'`, `license glob 'PSF*'`, `license glob 'Z?'`, `license glob 'Ab*'`, `license < 'Apache-2.0'`, `license <= 'Apache'`, `license between 'N' and 'Z'`,
        `license between 'A' and 'Ab'`, `license between 'Z' and 'A'`, `license > 'N'`, `license >= 'N'`, `license like 'N%' or license < 'A'`],
      [`license = 'ISC'`, `license = 'BSD'`, `license = 'MIT'`, `license = 'Apache-2.0'`, `license in ('AAA', 'MIT')`, `license glob 'A*'`, `license like 'Apache-2%'`,
        `license like 'Apache-2.0x%'`, `license like 'MITZ%'`, `license glob 'M*'`, `license like '%Z'`, `license like '_Z'`, `license glob '?Z'`, `license glob '*'`,
        `license > 'MIT'`, `license >= 'MIT'`, `license > 'MIT '`, `license >= 'MITA'`, `license <= 'Apache-2.0'`, `license < 'B'`, `license != 'MIT'`,
        `license ~ '^Z'`, `license between 'MIT' and 'Z'`, `license between 'A' and 'Apache-2.0'`, `license between 'MITA' and 'MITZ'`])
    // the max may be a truncated prefix of the true max: values that start with it may exist
    const ids = group(10, { trajectory_id: { min_value: 'abc', max_value: 'abd' } })
    check(ids,
      [`trajectory_id = 'abe'`, `trajectory_id = 'ab'`, `trajectory_id < 'abc'`, `trajectory_id like 'abf%'`, `trajectory_id like 'aa%'`, `trajectory_id in ('a', 'b')`, `trajectory_id > 'b'`],
      [`trajectory_id = 'abdz'`, `trajectory_id >= 'abda'`, `trajectory_id > 'abd'`, `trajectory_id like 'abdq%'`, `trajectory_id = 'abc'`, `trajectory_id like 'ab%'`, `trajectory_id in ('a', 'abdd')`])
    // a bound cut inside a multi-byte character decodes to U+FFFD, which sorts above the real character
    assert.equal(skips(`trajectory_id = 'ab中'`, group(10, { trajectory_id: { min_value: 'ab\uFFFD', max_value: 'zz' } })), false)
    assert.equal(skips(`trajectory_id = 'ab中'`, group(10, { trajectory_id: { min_value: 'a', max_value: 'ab\uFFFD' } })), false)
    assert.equal(skips(`trajectory_id = 'ac'`, group(10, { trajectory_id: { min_value: 'a', max_value: 'ab\uFFFDzz' } })), true)
    assert.equal(skips(`trajectory_id = 'a'`, group(10, { trajectory_id: { min_value: 'ab\uFFFD', max_value: 'zz' } })), true)
    // code point order, as Parquet's byte order: U+1F41B sorts after U+FFFD
    assert.equal(skips(`trajectory_id = 'a🐛'`, group(10, { trajectory_id: { min_value: 'a\uFFFE', max_value: 'a🐛' } })), false)
    assert.equal(skips(`trajectory_id = 'a🐛'`, group(10, { trajectory_id: { min_value: 'a\uE000', max_value: 'a\uFFFE' } })), true)
    assert.equal(skips(`trajectory_id like 'a🐛%'`, group(10, { trajectory_id: { min_value: 'a\uE000', max_value: 'a\uFFFE' } })), true)
    // deprecated min/max of strings used a signed byte order: ignored
    check(group(10, { license: { min: 'zzz', max: 'zzz' } }), [], [`license = 'MIT'`])
    // numeric statistics of a text column prove nothing about text
    check(group(10, { license: { min_value: 1, max_value: 2 } }), [], [`license = 'MIT'`, `license in ('a')`, `license between 'a' and 'b'`, `license like 'x%'`])
    check(group(10, { license: { min_value: 'a' } }), [], [`license = 'z'`, `license like 'z%'`])
    // task is a prefix of the id
    const runs = group(8, { trajectory_id: { min_value: 'a__x-1_run1', max_value: 'a__x-1_run8' } })
    check(runs, [`task = 'b__y-2'`, `task = '0'`, `task in ('0__z', 'b__y-2')`],
      [`task = 'a__x-1'`, `task = 'a__x'`, `task in ('0__z', 'a__x-1')`, `task != 'b'`, `task > 'z'`, `task like 'b%'`, `not (task = 'b__y-2')`, `run = 99`, `run < 0`, `run in (0)`,
        `run between 5 and 1`, `run > 100`]) // run has no statistics of its own
    check(group(8, { trajectory_id: { null_count: 0n } }), [], [`task = 'b'`, `task in ('b')`])
  })

  test('on the tiny fixtures: pruning decisions from real statistics, and sound', async () => {
    const path = 'fixtures/data/tiny/repo/trajectories/SWE_Smith-00001-of-00003.parquet'
    const source = await fileSource(path)
    try {
      const metadata = await readFooter(source)
      assert.equal(metadata.row_groups.length, 3)
      const rowsByGroup: Batch[] = metadata.row_groups.map(() => ({ numRows: 0, columns: {} }))
      for await (const batch of readBatches(source, metadata, { columns: ['trajectory_id', 'reward', 'license', 'image', 'finish_reason'] })) {
        const into = rowsByGroup[batch.rowGroup]!
        for (const [name, column] of Object.entries(batch.columns)) into.columns[name] = [...((into.columns[name] as unknown[] | undefined) ?? []), ...Array.from(column as ArrayLike<unknown>)]
        into.numRows += batch.numRows
      }
      const expected: [string, number[]][] = [
        [`license = 'MIT'`, [0]], [`license = 'ISC'`, [2]], [`license = 'Apache-2.0'`, [0, 1, 2]], [`license in ('ISC', 'MIT')`, []],
        [`reward = 0`, [2]], [`reward < 0`, [0, 1, 2]], [`reward >= 1`, []], [`reward = 1 and license = 'ISC'`, [2]],
        [`trajectory_id like 'pygments%'`, [0]], [`trajectory_id glob 'pydata*'`, [2]], [`task = 'pydata__xarray_c267cfbe_func_pm_remove_assign__35b621b4'`, [2]],
        [`image like '%pygments%'`, []], [`image glob 'qingyangwu/swesmith.x86_64.pyg*'`, [0]], [`finish_reason = 'stop'`, [0, 1, 2]],
        [`license is null`, [0, 1, 2]], [`license is not null`, []], [`reward = 0 or license = 'ISC'`, [2]], [`turns > 1`, []],
      ]
      for (const [where, skipped] of expected) {
        const predicate = compilePredicate(parseWhere(where))
        const decided = metadata.row_groups.flatMap((rowGroup, index) => (predicate.canSkip(rowGroup) ? [index] : []))
        assert.deepEqual(decided, skipped, where)
        if (predicate.phase2Columns.length) continue
        for (const index of decided) assert.deepEqual(compileFilter(predicate.expr)(rowsByGroup[index]!), [], `${where}: skipped group ${index} holds no match`)
      }
      assert.deepEqual(rowsByGroup.map((batch) => batch.numRows), [3, 3, 2])
      assert.deepEqual(compileFilter(parseWhere(`license = 'MIT'`))(rowsByGroup[1]!).length > 0, true)
    } finally {
      await source.close()
    }
  })
})

describe('sampling', () => {
  const keys = Array.from({ length: 300 }, (_, i) => `task${Math.floor(i / 4)}_run${i % 4 + 1}`)
  const bruteForce = (list: string[], n: number, seed: number) => list.map((key, position) => ({ position, rank: sampleRank(seed, key) }))
    .sort((a, b) => a.rank - b.rank || a.position - b.position).slice(0, n).map((entry) => entry.position).sort((a, b) => a - b)

  test('ranks are fixed 53-bit values of the seed and the key', () => {
    const ranks = [sampleRank(0, ''), sampleRank(1, ''), sampleRank(0, 'a'), sampleRank(7, 'task0_run1'), sampleRank(2 ** 32 + 7, 'task0_run1'), sampleRank(-1, 'x'), sampleRank(42, 'ünï🐛')]
    assert.deepEqual(ranks, RANKS)
    for (const rank of ranks) assert.ok(Number.isSafeInteger(rank) && rank >= 0 && rank < 2 ** 53, String(rank))
    assert.notEqual(sampleRank(7, 'ab'), sampleRank(7, 'ba'))
    assert.notEqual(sampleRank(7, 'a'), sampleRank(7, 'a\0'))
  })

  test('the n keys of smallest rank, in stream order, for any n and seed', () => {
    for (const seed of [0, 1, 7, 123456789, 2 ** 40 + 3]) {
      for (const n of [1, 2, 3, 5, 17, 64, 299, 300, 301]) {
        const picked = sampleKeys(keys, n, seed)
        assert.deepEqual(picked, bruteForce(keys, n, seed), `n ${n} seed ${seed}`)
      }
    }
    assert.deepEqual(sampleKeys(keys, 10, 7), SAMPLE, 'the same sample across versions')
    assert.deepEqual(sampleKeys(new Set(keys), 10, 7), SAMPLE, 'any iterable')
    assert.notDeepEqual(sampleKeys(keys, 10, 8), SAMPLE)
    assert.notDeepEqual(sampleKeys(keys, 10, 7 + 2 ** 32), SAMPLE, 'seeds above 32 bits count')
  })

  test('ties go to the earlier key; edge cases', () => {
    assert.deepEqual(sampleKeys(['same', 'same', 'same'], 2, 1), [0, 1])
    assert.deepEqual(sampleKeys(['b', 'same', 'same', 'a', 'same', 'same'], 3, 5), bruteForce(['b', 'same', 'same', 'a', 'same', 'same'], 3, 5))
    const dupes = Array.from({ length: 40 }, (_, i) => `k${i % 5}`)
    for (const n of [1, 3, 7, 12]) assert.deepEqual(sampleKeys(dupes, n, 3), bruteForce(dupes, n, 3), `dupes n ${n}`)
    assert.deepEqual(sampleKeys(keys.slice(0, 3), 10, 1), [0, 1, 2])
    assert.deepEqual(sampleKeys(keys, 0, 1), [])
    assert.deepEqual(sampleKeys([], 5, 1), [])
  })
})

describe('ordered window', () => {
  const deferred = <T>() => {
    let resolve!: (value: T) => void
    let reject!: (error: unknown) => void
    const promise = new Promise<T>((yes, no) => { resolve = yes; reject = no })
    return { promise, resolve, reject }
  }
  const tick = () => new Promise((resolve) => setImmediate(resolve))

  test('consumed in push order, each as soon as it and those before are ready', async () => {
    const consumed: string[] = []
    const window = orderedWindow<string>(3, async (value) => { consumed.push(value) })
    const [a, b, c] = [deferred<string>(), deferred<string>(), deferred<string>()]
    await window.push(a.promise, true)
    await window.push(b.promise, true)
    await window.push(c.promise, true)
    c.resolve('c')
    b.resolve('b')
    await tick()
    assert.deepEqual(consumed, [])
    a.resolve('a')
    await tick()
    assert.deepEqual(consumed, ['a', 'b', 'c'])
    await window.push(Promise.resolve('d'), false)
    await window.end()
    assert.deepEqual(consumed, ['a', 'b', 'c', 'd'])
  })

  test('a counted push waits while the window is full; an uncounted one never does', async () => {
    const consumed: number[] = []
    const window = orderedWindow<number>(2, async (value) => { consumed.push(value) })
    const first = deferred<number>()
    await window.push(first.promise, true)
    await window.push(Promise.resolve(2), true)
    let third = false
    const pushing = window.push(Promise.resolve(3), true).then(() => { third = true })
    await window.push(Promise.resolve(0), false)
    await tick()
    assert.equal(third, false, 'two counted results hold both places')
    first.resolve(1)
    await pushing
    assert.equal(third, true)
    await window.end()
    assert.deepEqual(consumed, [1, 2, 0, 3])
  })

  test('what the consumer throws, or a result that rejects, surfaces from push and end', async () => {
    const boom = new Error('consumer failed')
    const seen: string[] = []
    const window = orderedWindow<string>(1, async (value) => {
      seen.push(value)
      if (value === 'bad') throw boom
    })
    const bad = deferred<string>()
    await window.push(bad.promise, false)
    await window.push(deferred<string>().promise, true)
    const waiting = window.push(Promise.resolve('c'), true)
    await tick()
    bad.resolve('bad')
    await assert.rejects(waiting, boom, 'a waiting producer is woken with the failure')
    await assert.rejects(window.push(Promise.resolve('d'), false), boom)
    await assert.rejects(window.push(Promise.resolve('e'), true), boom)
    await assert.rejects(window.end(), boom)
    assert.deepEqual(seen, ['bad'])

    const read: number[] = []
    const rejected = orderedWindow<number>(4, async (value) => { read.push(value) })
    const gate = deferred<number>()
    await rejected.push(gate.promise, true)
    await rejected.push(Promise.reject(new Error('read failed')), true)
    await rejected.push(Promise.resolve(30), true)
    await tick()
    gate.resolve(10)
    await assert.rejects(rejected.end(), /read failed/)
    assert.deepEqual(read, [10])
  })

  test('abort drops what is queued and waits for the result being consumed', async () => {
    const consumed: number[] = []
    const busy = deferred<void>()
    const window = orderedWindow<number>(5, async (value) => {
      consumed.push(value)
      if (value === 1) await busy.promise
    })
    await window.push(Promise.resolve(1), true)
    await window.push(Promise.resolve(2), true)
    await window.push(Promise.resolve(3), false)
    await tick()
    let aborted = false
    const aborting = window.abort().then(() => { aborted = true })
    await tick()
    assert.equal(aborted, false, 'waits for the value being consumed')
    busy.resolve()
    await aborting
    assert.deepEqual(consumed, [1])

    const failing = orderedWindow<number>(1, async () => { throw new Error('x') })
    await failing.push(Promise.resolve(1), true)
    await failing.abort()
    await orderedWindow<number>(1, async () => {}).abort() // an idle consumer is woken to stop
    const drained = orderedWindow<number>(1, async () => {})
    await drained.push(Promise.resolve(1), true)
    await tick()
    await drained.abort()
    const idle = orderedWindow<number>(1, async () => {})
    await idle.end()
    await idle.abort()
  })
})

const RANKS = [5989913530213141, 5392252615452707, 8752576777681883, 4237894734505292, 4896003383729287, 5967519714604759, 6976963610113534]
const SAMPLE = [26, 41, 48, 50, 60, 67, 68, 69, 117, 206]
