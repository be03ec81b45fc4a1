import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, test } from 'node:test'
import { parquetWriteFile } from 'hyparquet-writer'
import { UsageError } from '../src/errors.js'
import { readFooter } from '../src/parquet/footer.js'
import { readBatches } from '../src/parquet/rows.js'
import { fileSource } from '../src/parquet/source.js'
import { compileFilter, compilePredicate, type Batch } from '../src/query/compile.js'
import { predicateFromFlags } from '../src/query/flags.js'
import { parseWhere, type Expr } from '../src/query/parse.js'
import { canSkipRowGroup, planScan, type RowGroupMeta } from '../src/query/plan.js'
import { sampleKeys, sampleRank } from '../src/query/sample.js'
import { duck, sqlString } from './support/duckdb.js'
import { cellAt } from '../src/parquet/intList.js'
import { evaluationBatch, messages, sha } from './support/trajectoryRows.js'

const dir = mkdtempSync(join(tmpdir(), 'coderforge-query-'))
after(() => rmSync(dir, { recursive: true, force: true }))


/** A realistic `messages` JSON: system, user, assistant turns with (parallel) tool calls, tool results. */
const holds = (where: string, row: Record<string, unknown>) => compilePredicate(parseWhere(where)).matches(row)

const cmp = (op: string, field: string, value: string | number): Expr => ({ kind: 'compare', op, field, value } as Expr)

describe('parser', () => {
  test('precedence: not over and over or; parentheses; case-insensitive keywords and names', () => {
    const a = cmp('=', 'reward', 1)
    const b = cmp('=', 'license', 'MIT')
    const c = cmp('>', 'turns', 40)
    assert.deepEqual(parseWhere(`reward = 1 or license = 'MIT' and turns > 40`), { kind: 'or', left: a, right: { kind: 'and', left: b, right: c } })
    assert.deepEqual(parseWhere(`(reward = 1 OR license = 'MIT') AnD turns > 40`), { kind: 'and', left: { kind: 'or', left: a, right: b }, right: c })
    assert.deepEqual(parseWhere(`not reward = 1 and license = 'MIT'`), { kind: 'and', left: { kind: 'not', expr: a }, right: b })
    assert.deepEqual(parseWhere(`NOT NOT Reward = 1`), { kind: 'not', expr: { kind: 'not', expr: a } })
    assert.deepEqual(parseWhere(`not (finish_reason = 'stop') or turns > 40`), { kind: 'or', left: { kind: 'not', expr: cmp('=', 'finish_reason', 'stop') }, right: c })
    // and/or chains associate to the left
    assert.deepEqual(parseWhere('reward = 1 or reward = 2 or reward = 3'), { kind: 'or', left: { kind: 'or', left: a, right: cmp('=', 'reward', 2) }, right: cmp('=', 'reward', 3) })
  })

  test('every operator and predicate form', () => {
    for (const [text, op] of [['=', '='], ['==', '='], ['!=', '!='], ['<>', '!='], ['<', '<'], ['<=', '<='], ['>', '>'], ['>=', '>=']]) {
      assert.deepEqual(parseWhere(`reward ${text} 1`), cmp(op!, 'reward', 1), text)
      assert.deepEqual(parseWhere(`reward${text}1`), cmp(op!, 'reward', 1), `${text} without spaces`)
    }
    assert.deepEqual(parseWhere(`license in ('MIT','BSD-3-Clause')`), { kind: 'in', field: 'license', values: ['MIT', 'BSD-3-Clause'] })
    assert.deepEqual(parseWhere(`run NOT IN (1, 2)`), { kind: 'not', expr: { kind: 'in', field: 'run', values: [1, 2] } })
    assert.deepEqual(parseWhere(`image like '%django%'`), { kind: 'like', field: 'image', pattern: '%django%' })
    assert.deepEqual(parseWhere(`image not like 'x_'`), { kind: 'not', expr: { kind: 'like', field: 'image', pattern: 'x_' } })
    assert.deepEqual(parseWhere(`trajectory_id glob '*_run1'`), { kind: 'glob', field: 'trajectory_id', pattern: '*_run1' })
    assert.deepEqual(parseWhere(`reward between 0 and 1`), { kind: 'between', field: 'reward', low: 0, high: 1 })
    assert.deepEqual(parseWhere(`reward not between -1 and 0.5 and run = 2`), {
      kind: 'and', left: { kind: 'not', expr: { kind: 'between', field: 'reward', low: -1, high: 0.5 } }, right: cmp('=', 'run', 2),
    })
    assert.deepEqual(parseWhere(`license is null`), { kind: 'is_null', field: 'license' })
    assert.deepEqual(parseWhere(`license IS NOT NULL`), { kind: 'not', expr: { kind: 'is_null', field: 'license' } })
    const regex = parseWhere(`trajectory_id ~ '_run[1-4]$'`)
    assert.equal(regex.kind === 'regex' && regex.pattern.source, '_run[1-4]$')
    assert.deepEqual(parseWhere(`uses_tool('think') and ends_with_finish`), { kind: 'and', left: { kind: 'uses_tool', tool: 'think' }, right: { kind: 'ends_with_finish' } })
    assert.deepEqual(parseWhere('true or FALSE'), { kind: 'or', left: { kind: 'constant', value: true }, right: { kind: 'constant', value: false } })
    for (const field of ['task', 'repo', 'messages', 'tools', 'chat_template_applied']) assert.equal(parseWhere(`${field} = 'x'`).kind, 'compare')
    for (const field of ['run', 'turns', 'tool_calls', 'messages_count']) assert.equal(parseWhere(`${field} >= 3`).kind, 'compare')
  })

  test('numbers and quoting', () => {
    for (const [text, value] of [['-1', -1], ['0.5', 0.5], ['-0.25', -0.25], ['.5', 0.5], ['1e2', 100], ['3.', 3]] as const) {
      assert.deepEqual(parseWhere(`reward >= ${text}`), cmp('>=', 'reward', value), text)
    }
    assert.deepEqual(parseWhere(`reward>-1`), cmp('>', 'reward', -1))
    const string = (where: string) => (parseWhere(where) as { value: string }).value
    assert.equal(string(`license = "MIT"`), 'MIT')
    assert.equal(string(`license = 'it''s'`), 'it\'s')
    assert.equal(string(`license = "say ""hi"""`), 'say "hi"')
    assert.equal(string(`license = 'it\\'s'`), 'it\'s')
    assert.equal(string(`license = "a\\"b"`), 'a"b')
    assert.equal(string(`license = 'a\\\\b\\nc\\td'`), 'a\\b\nc\td')
    assert.equal(string(`license = 'MIT AND Apache-2.0'`), 'MIT AND Apache-2.0')
    const regex = parseWhere(`trajectory_id ~ '\\d+_run\\d$'`)
    assert.ok(regex.kind === 'regex' && regex.pattern.test('abc_123_run4') && !regex.pattern.test('abc_run4'), 'backslashes of a regex survive')
  })

  test('errors are one-line usage errors naming the token and its column', () => {
    const error = (where: string, flag?: string) => {
      try {
        parseWhere(where, flag)
      } catch (caught) {
        assert.ok(caught instanceof UsageError, String(caught))
        assert.doesNotMatch(caught.message, /\n/)
        return caught.message
      }
      assert.fail(`${where} parsed`)
    }
    assert.equal(error('reward >= 1 and )'), '--where: unexpected \')\' at column 17 in "reward >= 1 and )"')
    assert.equal(error('rewrd = 1'), '--where: unknown field \'rewrd\' (did you mean \'reward\'?) at column 1 in "rewrd = 1"; ' +
      'valid names: trajectory_id, finish_reason, image, license, reward, messages, tools, chat_template_applied, task, run, repo, turns, tool_calls, messages_count, uses_tool, ends_with_finish')
    assert.match(error(`usestool('x')`), /unknown field 'usestool' \(did you mean 'uses_tool'\?\) at column 1/)
    assert.match(error(`reward = 1 and turn > 3`), /unknown field 'turn' \(did you mean 'turns'\?\) at column 16/)
    assert.equal(error(`license = 'MIT`), '--where: unterminated string at column 11 in "license = \'MIT"')
    assert.equal(error('reward # 1'), '--where: unexpected character \'#\' at column 8 in "reward # 1"')
    assert.equal(error(`reward = 'one'`), '--where: reward is a number, got \'one\' at column 10 in "reward = \'one\'"')
    assert.equal(error(`license = 3`), '--where: license is a string, got 3 at column 11 in "license = 3"')
    assert.equal(error(`license = MIT`), '--where: unexpected \'MIT\' (quote strings: \'MIT\') at column 11 in "license = MIT"')
    assert.equal(error(`license = null`), '--where: comparisons with null are never true at column 11 in "license = null"; use \'license is null\' or \'license is not null\'')
    assert.equal(error(`reward = 1 license = 'MIT'`), '--where: unexpected \'license\' (missing \'and\' or \'or\'?) at column 12 in "reward = 1 license = \'MIT\'"')
    assert.equal(error(`reward 1`), '--where: expected an operator after \'reward\', found \'1\' at column 8 in "reward 1"')
    assert.equal(error(`license in ('MIT'`), '--where: expected \')\', found end of input at column 18 in "license in (\'MIT\'"')
    assert.equal(error(`reward between 1 or 2`), '--where: expected \'and\' in between, found \'or\' at column 18 in "reward between 1 or 2"')
    assert.equal(error(`reward like '1%'`), '--where: \'like\' needs a text field, reward is a number at column 8 in "reward like \'1%\'"')
    assert.equal(error(`trajectory_id ~ '('`), '--where: invalid regular expression \'(\' (Unterminated group) at column 17 in "trajectory_id ~ \'(\'"')
    assert.equal(error(`uses_tool(think)`), '--where: uses_tool takes a quoted tool name, found \'think\' at column 11 in "uses_tool(think)"')
    assert.equal(error(`license is 'MIT'`), '--where: expected \'null\' after \'is\', found \'MIT\' at column 12 in "license is \'MIT\'"')
    assert.equal(error(''), '--where: unexpected end of input at column 1 in ""')
    assert.equal(error('and', '--filter'), '--filter: unexpected \'and\' at column 1 in "and"')
  })
})

describe('predicate flags', () => {
  test('reward values and comparisons, id forms, run lists; no flags selects everything', () => {
    const reward = (text: string) => predicateFromFlags({ reward: text })
    assert.deepEqual(reward('1'), cmp('=', 'reward', 1))
    assert.deepEqual(reward('>=1'), cmp('>=', 'reward', 1))
    assert.deepEqual(reward('< 0'), cmp('<', 'reward', 0))
    assert.deepEqual(reward('!=0'), cmp('!=', 'reward', 0))
    assert.deepEqual(reward('<>0'), cmp('!=', 'reward', 0))
    assert.deepEqual(reward('==-1'), cmp('=', 'reward', -1))
    assert.deepEqual(reward('0.5'), cmp('=', 'reward', 0.5))
    assert.deepEqual(predicateFromFlags({ id: 'x__y-1_run2' }), cmp('=', 'trajectory_id', 'x__y-1_run2'))
    assert.deepEqual(predicateFromFlags({ id: 'x__y-1_run?' }), { kind: 'glob', field: 'trajectory_id', pattern: 'x__y-1_run?' })
    assert.deepEqual(predicateFromFlags({ image: 'qingyangwu/sweb*' }), { kind: 'glob', field: 'image', pattern: 'qingyangwu/sweb*' })
    assert.deepEqual(predicateFromFlags({ run: '2' }), { kind: 'in', field: 'run', values: [2] })
    assert.deepEqual(predicateFromFlags({ run: '5-8' }), { kind: 'between', field: 'run', low: 5, high: 8 })
    assert.deepEqual(predicateFromFlags({}), { kind: 'constant', value: true })
  })

  test('bad values are usage errors naming the flag', () => {
    const bad: [Parameters<typeof predicateFromFlags>[0], RegExp][] = [
      [{ reward: 'one' }, /^invalid --reward 'one': use a value \(1\) or a comparison/],
      [{ reward: '>= ' }, /invalid --reward/],
      [{ run: 'x' }, /^invalid --run 'x': use numbers and ranges such as 1,3-4$/],
      [{ run: ',' }, /^invalid --run ',': use numbers and ranges/],
      [{ run: '4-2' }, /^invalid --run '4-2': the range 4-2 ends before it starts; write 2-4$/],
      [{ minTurns: '-1' }, /^invalid --min-turns '-1': use a whole number/],
      [{ maxTurns: '2.5' }, /^invalid --max-turns '2.5': use a whole number/],
      [{ license: ' , ' }, /^--license takes one or more comma-separated values/],
      [{ id: `@${join(dir, 'missing.txt')}` }, /^cannot read the id file .*missing\.txt/],
      [{ where: 'reward >' }, /^--where: unexpected end of input at column 9/],
    ]
    for (const [flags, message] of bad) assert.throws(() => predicateFromFlags(flags), (error: Error) => error instanceof UsageError && message.test(error.message), JSON.stringify(flags))
    const empty = join(dir, 'empty.txt')
    writeFileSync(empty, '\n\n')
    assert.throws(() => predicateFromFlags({ id: `@${empty}` }), /lists no trajectory_id/)
  })

  test('flags select what they say on rows', () => {
    const row = {
      trajectory_id: 'HIPS__autograd_ac044f0d_pr_672_run4', image: 'qingyangwu/swesmith.x86_64.hips_1776_autograd.ac044f0d',
      license: 'MIT', reward: 1, finish_reason: 'tool_calls', messages: messages(6, { finish: true }),
    }
    const matches = (flags: Parameters<typeof predicateFromFlags>[0]) => compilePredicate(predicateFromFlags(flags)).matches(row)
    assert.equal(matches({ image: 'swesmith' }), true)
    assert.equal(matches({ image: '*autograd.ac044f0d' }), true)
    assert.equal(matches({ image: 'autograd' + '.ac044f0d.' }), false)
    assert.ok(!matches({ image: 'swesmith*' }), 'a glob matches the whole value')
    assert.equal(matches({ sourceRepo: 'HIPS/autograd' }), true)
    assert.equal(matches({ sourceRepo: 'autograd' }), true)
    assert.equal(matches({ sourceRepo: 'hips' + '/autograd2' }), false)
    assert.equal(matches({ id: 'HIPS__autograd_*_run4' }), true)
    assert.equal(matches({ run: '1,3-4', reward: '>0.5', license: 'BSD,MIT', finishReason: 'tool_calls' }), true)
    assert.equal(matches({ run: '1-3' }), false)
    assert.equal(matches({ minTurns: '7', maxTurns: '7', usesTool: ['think', 'finish'], endsWithFinish: true }), true)
    assert.equal(matches({ minTurns: '8' }), false)
    assert.equal(matches({ usesTool: ['grep'] }), false)
  })
})

describe('evaluation', () => {
  const batchOf = evaluationBatch
  const select = (where: string, bytes = false) => compileFilter(parseWhere(where))(batchOf(bytes))

  test('strings and UTF-8 bytes give the same rows; bigint rewards compare as numbers', () => {
    const expected: [string, number[]][] = [
      [`license = 'MIT'`, [0, 4]],
      [`reward >= 0 and reward < 1`, [1, 4]],
      [`reward = 0`, [1]],
      [`reward between -1 and 0`, [1, 2]],
      [`license in ('MIT', 'BSD-3-Clause') and reward >= 0.5`, [0, 4]],
      [`image like '%x86_64%'`, [0, 4]],
      [`image like 'qingyangwu/_andas%'`, [2]],
      [`image glob '*1776_ü*'`, [4]],
      [`trajectory_id ~ '_run[1-3]$'`, [0, 2, 3]],
      [`trajectory_id > 'qingyangwu'`, [2, 4]],
      [`trajectory_id < 'HIPS'`, [0, 3]],
      [`image ~ 'ü'`, [4]],
      [`finish_reason != 'tool_calls'`, [1]],
      [`true`, [0, 1, 2, 3, 4]],
      [`false or reward = 1`, [0]],
    ]
    for (const [where, indexes] of expected) {
      assert.deepEqual(select(where), indexes, where)
      assert.deepEqual(select(where, true), indexes, `${where} (bytes)`)
    }
  })

  test('SQL null semantics: tests on nulls are unknown, a row needs true', () => {
    const expected: [string, number[]][] = [
      [`license != 'MIT'`, [2, 3]],
      [`not (license = 'MIT')`, [2, 3]],
      [`license is null`, [1]],
      [`license is not null`, [0, 2, 3, 4]],
      [`not (reward > 0)`, [1, 2]],
      [`reward > 0 or license = 'Apache-2.0'`, [0, 3, 4]],
      [`not (reward > 0 or license = 'Apache-2.0')`, [2]],
      [`not (reward > 0 and finish_reason = 'stop')`, [0, 1, 2, 4]],
      [`finish_reason not in ('stop')`, [0, 2, 4]],
      [`reward not between 0 and 0.9`, [0, 2]],
      [`turns >= 0`, [0, 1, 4]],
      [`not (turns >= 0)`, []],
      [`turns is null`, [2, 3]],
      [`not uses_tool('think')`, []],
      [`not ends_with_finish`, [1, 4]],
      [`run is null`, []],
    ]
    for (const [where, indexes] of expected) assert.deepEqual(select(where), indexes, where)
  })

  test('derived fields on realistic ids: task, run, repo', () => {
    const derived: [number, string, number, string | null][] = [
      [0, '0b01001001__spectree-64', 3, '0b01001001/spectree'],
      [1, 'HIPS__autograd_ac044f0d_pr_672', 4, 'hips/autograd'],
      [2, `qingyangwu_pandas_final_${sha}`, 2, 'pandas'],
      [3, '0b01001001__spectree-64', 1, '0b01001001/spectree'],
      [4, 'zeta__ünïcödé-1', 8, 'zeta/ünïcödé'],
    ]
    for (const bytes of [false, true]) {
      for (const [index, task, run, repo] of derived) {
        assert.deepEqual(select(`task = ${JSON.stringify(task)}`, bytes), index === 0 || index === 3 ? [0, 3] : [index], task)
        assert.ok(select(`run = ${run}`, bytes).includes(index), `${task} run ${run}`)
        assert.ok(select(`repo = '${repo}'`, bytes).includes(index), `${task} repo ${repo}`)
      }
    }
    assert.equal(holds(`repo = 'hips/autograd'`, { trajectory_id: 'HIPS__autograd_ac044f0d_func_pm_ctrl_shuffle__abcd1234_run1', image: 'qingyangwu/swesmith.x86_64.hips_1776_autograd.ac044f0d' }), true)
    assert.equal(holds(`run is null and task = 'odd-id' and repo is null`, { trajectory_id: 'odd-id' }), true)
    assert.equal(holds(`run is null and task is null and repo is null`, { trajectory_id: null }), true)
  })

  test('message features: turns, tool calls, messages count, tools used, finishing', () => {
    const row = { messages: messages(4, { finish: true }) }
    // 4 steps + the finish turn; step 0 makes two parallel calls
    assert.equal(holds('turns = 5 and tool_calls = 6 and messages_count = 12', row), true)
    assert.equal(holds(`uses_tool('think') and uses_tool('execute_bash') and uses_tool('str_replace_editor') and uses_tool('finish') and ends_with_finish`, row), true)
    assert.equal(holds(`uses_tool('grep')`, row), false)
    const unfinished = { messages: messages(2) }
    assert.equal(holds(`turns = 2 and tool_calls = 3 and messages_count = 7 and not ends_with_finish and not uses_tool('finish')`, unfinished), true)
    const toolLast = JSON.parse(messages(2, { finish: true })) as unknown[]
    toolLast.push({ content: 'late', role: 'tool' })
    assert.ok(holds('ends_with_finish', { messages: JSON.stringify(toolLast) }), 'the last assistant message counts, not the last message')
    const argumentsAsString = JSON.stringify([{ role: 'assistant', content: null, tool_calls: [{ function: { name: 'finish', arguments: '{"message":"x"}' } }] }])
    assert.equal(holds('turns = 1 and ends_with_finish', { messages: argumentsAsString }), true)
    assert.equal(holds('turns is null and tool_calls is null and messages_count is null', { messages: '{"not": "a list"}' }), true)
  })

  test('phase 1 keeps the rows that may match; phase 2 decides; only needed values are read', () => {
    const small = batchOf(false)
    delete small.columns.messages
    const either = compilePredicate(parseWhere(`reward = 1 or turns > 2`))
    assert.deepEqual(either.filterSmall(small), [0, 1, 2, 3, 4], 'reward 1 decides row 0; the others wait for turns')
    assert.deepEqual(either.filterLarge(batchOf(true), [0, 1, 2, 3, 4]), [0, 4], 'turns unknown (unparseable or null messages) stays unselected')
    const both = compilePredicate(parseWhere(`reward >= 0 and uses_tool('think')`))
    assert.deepEqual(both.filterSmall(small), [0, 1, 3, 4], 'reward -1 rules row 2 out without messages')
    assert.deepEqual(both.filterLarge(batchOf(false), [0, 1, 3, 4]), [0, 1, 4])
    assert.deepEqual(both.filterLarge(batchOf(false), [1]), [1], 'only the candidate rows')
    const smallOnly = compilePredicate(parseWhere(`license = 'MIT'`))
    assert.deepEqual(smallOnly.filterSmall(small), [0, 4])
    assert.deepEqual(smallOnly.filterLarge(small, [0, 4]), [0, 4])
    assert.deepEqual(compileFilter(parseWhere(`license = 'MIT'`))(small, [1, 4]), [4])

    // a column whose values throw when read proves they are not read
    const trap = new Proxy([], { get: () => { throw new Error('messages read') } })
    const guarded: Batch = { numRows: small.numRows, columns: { ...small.columns, messages: trap } }
    assert.deepEqual(compileFilter(parseWhere(`reward = 5 and turns > 1`))(guarded, [0, 1, 2, 4]), [])
    assert.deepEqual(compileFilter(parseWhere(`reward >= -1 or turns > 1`))(guarded, [0, 1, 2]), [0, 1, 2])
  })

  test('a batch of 100k rows filters quickly', () => {
    const n = 100_000
    const batch: Batch = {
      numRows: n,
      columns: {
        trajectory_id: Array.from({ length: n }, (_, i) => new TextEncoder().encode(`owner__repo-${i % 997}_run${i % 8 + 1}`)),
        license: Array.from({ length: n }, (_, i) => (i % 3 ? 'MIT' : 'Apache-2.0')),
        reward: Float64Array.from({ length: n }, (_, i) => (i % 5 ? 1 : 0)),
      },
    }
    const started = performance.now()
    const rows = compileFilter(parseWhere(`reward = 1 and license = 'MIT' and run <= 2 and task like 'owner__repo-1%'`))(batch)
    assert.notEqual(rows.length, 0)
    assert.ok(performance.now() - started < 2000, `${performance.now() - started} ms`)
  })
})

describe('plan and row-group pruning', () => {
  test('columns per phase', () => {
    assert.deepEqual(planScan(parseWhere(`reward = 1 and license = 'MIT'`)), { phase1Columns: ['reward', 'license'], phase2Columns: [], needsMessages: false })
    assert.deepEqual(planScan(parseWhere(`repo = 'a/b' or run = 2`)), { phase1Columns: ['trajectory_id', 'image'], phase2Columns: [], needsMessages: false })
    assert.deepEqual(planScan(parseWhere(`reward = 1 and (turns > 4 or finish_reason = 'stop')`)), {
      phase1Columns: ['reward', 'finish_reason'], phase2Columns: ['reward', 'messages', 'finish_reason'], needsMessages: true,
    })
    assert.deepEqual(planScan(parseWhere(`uses_tool('think')`)), { phase1Columns: [], phase2Columns: ['messages'], needsMessages: true })
    assert.deepEqual(planScan(parseWhere(`chat_template_applied like '%<think>%'`)), { phase1Columns: [], phase2Columns: ['chat_template_applied'], needsMessages: false })
    assert.deepEqual(planScan(parseWhere('true')), { phase1Columns: [], phase2Columns: [], needsMessages: false })
  })

  /** A row group of `numRows` rows with these statistics per column. */
  const group = (numRows: number, stats: Record<string, Record<string, unknown>>): RowGroupMeta => ({
    num_rows: BigInt(numRows),
    columns: Object.entries(stats).map(([name, statistics]) => ({ meta_data: { path_in_schema: [name], statistics } })),
  })
  const skips = (where: string, rowGroup: RowGroupMeta) => canSkipRowGroup(parseWhere(where), rowGroup)

  test('numeric bounds, null counts, empty groups, logic', () => {
    const g = group(100, { reward: { min_value: 0, max_value: 1, null_count: 0n }, license: { null_count: 0n }, image: { null_count: 100n } })
    const skipped = [`reward > 1`, `reward < 0`, `reward = 2`, `reward = -0.5`, `reward in (2, 3)`, `reward between 1.5 and 3`, `reward between -3 and -2`,
      `reward between 1 and 0`, `reward > 5 and license = 'MIT'`, `reward > 5 or reward < -5`, `license is null`, `image is not null`,
      `image = 'x'`, `not (image = 'x')`, `image like 'q%' or reward > 1`, `false`, `not true`, `not (license is not null)`]
    const kept = [`reward >= 1`, `reward <= 0`, `reward = 1`, `reward = 0.5`, `reward in (2, 1)`, `reward between 1 and 3`, `reward != 1`,
      `not (reward > 5)`, `not (reward between 0 and 1)`, `reward > 5 or license = 'MIT'`, `license is not null`, `image is null`,
      `turns > 5`, `uses_tool('x')`, `run = 1`, `true`, `finish_reason = 'stop'`]
    for (const where of skipped) assert.ok(skips(where, g), `skips ${where}`)
    for (const where of kept) assert.ok(!skips(where, g), `keeps ${where}`)
    assert.ok(skips('reward = 1', group(0, {})), 'a group without rows')
    const ids = group(10, { trajectory_id: { null_count: 0n } })
    assert.deepEqual(['trajectory_id is null', 'task is null', 'run is null', 'repo is null'].map((where) => skips(where, ids)), [true, true, false, false], 'run and repo can be null for a non-null id')
    assert.ok(skips('reward > 1', group(5, { reward: { min: 0, max: 0.5 } })), 'deprecated min/max serve numbers')
    assert.ok(!skips('reward >= 1', group(5, { reward: { min_value: 0n, max_value: 1n, null_count: 2n } })), 'bigint bounds')
    assert.ok(skips('reward >= 2', group(5, { reward: { min_value: 0n, max_value: 1n, null_count: 2n } })), 'bigint bounds')
    assert.ok(!skips('reward >= 2', group(5, { reward: { min_value: Number.NaN, max_value: Number.NaN } })), 'NaN bounds say nothing')
  })

  test('string bounds: ranges, prefixes, truncation, decoding damage', () => {
    const licenses = group(10, { license: { min_value: 'Apache-2.0', max_value: 'MIT', null_count: 0n } })
    for (const where of [`license = 'Zlib'`, `license = 'AAA'`, `license in ('AAA', 'Zlib')`, `license like 'Z%'`, `license glob 'PSF*'`, `license < 'Apache'`, `license between 'N' and 'Z'`]) {
      assert.ok(skips(where, licenses), `skips ${where}`)
    }
    for (const where of [`license = 'ISC'`, `license = 'BSD'`, `license = 'MIT'`, `license glob 'A*'`, `license like '%Z'`, `license > 'MIT'`, `license > 'MIT '`, `license != 'MIT'`, `license ~ '^Z'`]) {
      assert.ok(!skips(where, licenses), `keeps ${where}`)
    }
    // the max may be a truncated prefix of the true max: values that start with it may exist
    const ids = group(10, { trajectory_id: { min_value: 'abc', max_value: 'abd' } })
    for (const where of [`trajectory_id = 'abdz'`, `trajectory_id >= 'abda'`, `trajectory_id > 'abd'`, `trajectory_id like 'abdq%'`, `trajectory_id = 'abc'`, `trajectory_id like 'ab%'`]) {
      assert.ok(!skips(where, ids), `keeps ${where}`)
    }
    for (const where of [`trajectory_id = 'abe'`, `trajectory_id = 'ab'`, `trajectory_id < 'abc'`, `trajectory_id like 'abf%'`, `trajectory_id like 'aa%'`, `trajectory_id in ('a', 'b')`]) {
      assert.ok(skips(where, ids), `skips ${where}`)
    }
    // a bound cut inside a multi-byte character decodes to U+FFFD, which sorts above the real character
    assert.equal(skips(`trajectory_id = 'ab中'`, group(10, { trajectory_id: { min_value: 'ab\uFFFD', max_value: 'zz' } })), false)
    assert.equal(skips(`trajectory_id = 'ab中'`, group(10, { trajectory_id: { min_value: 'a', max_value: 'ab\uFFFD' } })), false)
    // code point order, as Parquet's byte order: U+1F41B sorts after U+FFFD
    assert.equal(skips(`trajectory_id = 'a🐛'`, group(10, { trajectory_id: { min_value: 'a\uFFFE', max_value: 'a🐛' } })), false)
    assert.equal(skips(`trajectory_id = 'a\uFFFE'`, group(10, { trajectory_id: { min_value: 'a\uE000', max_value: 'a🐛' } })), false)
    assert.equal(skips(`trajectory_id = 'a🐛'`, group(10, { trajectory_id: { min_value: 'a\uE000', max_value: 'a\uFFFE' } })), true)
    // deprecated min/max of strings used a signed byte order: ignored
    assert.equal(skips(`license = 'MIT'`, group(10, { license: { min: 'zzz', max: 'zzz' } })), false)
    // task is a prefix of the id
    const runs = group(8, { trajectory_id: { min_value: 'a__x-1_run1', max_value: 'a__x-1_run8' } })
    assert.equal(skips(`task = 'a__x-1'`, runs), false)
    assert.equal(skips(`task = 'b__y-2'`, runs), true)
    assert.equal(skips(`task in ('0__z', 'b__y-2')`, runs), true)
    assert.equal(skips(`task in ('0__z', 'a__x-1')`, runs), false)
  })

  test('on a real file: pruning is sound, and prunes what it can', async () => {
    const path = join(dir, 'pruning.parquet')
    const n = 60
    const ids = Array.from({ length: n }, (_, i) => `${['alpha', 'bravo', 'charlie', 'delta', 'echo'][Math.floor(i / 12)]}__repo-${i % 12}_run${i % 4 + 1}`)
    const rewards = Array.from({ length: n }, (_, i) => (i < 24 ? 1 : i < 48 ? [0, 1][i % 2]! : -1))
    const licenses = Array.from({ length: n }, (_, i) => (i < 12 ? null : ['MIT', 'ISC', 'BSD-3-Clause'][Math.floor(i / 12) % 3]!))
    await parquetWriteFile({
      filename: path, rowGroupSize: 12,
      columnData: [
        { name: 'trajectory_id', data: ids, type: 'STRING' },
        { name: 'reward', data: rewards, type: 'DOUBLE' },
        { name: 'license', data: licenses, type: 'STRING' },
      ],
    })
    const source = await fileSource(path)
    const metadata = await readFooter(source)
    const batches: Batch[] = []
    for await (const batch of readBatches(source, metadata)) batches.push(batch)
    await source.close()
    const exprs = [`reward = 1`, `reward < 0`, `reward = 0`, `license = 'ISC'`, `license is null`, `license is not null`, `license in ('MIT', 'Zlib')`,
      `trajectory_id = 'charlie__repo-3_run4'`, `task = 'delta__repo-0'`, `trajectory_id like 'echo%'`, `trajectory_id glob 'b*'`, `not (reward = 1)`,
      `reward = 1 and license = 'BSD-3-Clause'`, `reward < 0 or license is null`, `trajectory_id >= 'delta'`, `reward between -1 and 0 and trajectory_id < 'c'`]
    const skippedGroups: Record<string, number[]> = {}
    for (const where of exprs) {
      const expr = parseWhere(where)
      const exact = compileFilter(expr)
      skippedGroups[where] = []
      metadata.row_groups.forEach((rowGroup, index) => {
        if (!canSkipRowGroup(expr, rowGroup)) return
        skippedGroups[where]!.push(index)
        assert.deepEqual(exact(batches[index]!), [], `${where}: skipped group ${index} has no match`)
      })
    }
    assert.deepEqual(skippedGroups[`reward = 1`], [4])
    assert.deepEqual(skippedGroups[`reward < 0`], [0, 1, 2, 3])
    assert.deepEqual(skippedGroups[`license is null`], [1, 2, 3, 4])
    assert.deepEqual(skippedGroups[`license is not null`], [0])
    assert.deepEqual(skippedGroups[`license = 'ISC'`], [0, 2, 3])
    assert.deepEqual(skippedGroups[`trajectory_id like 'echo%'`], [0, 1, 2, 3])
    assert.deepEqual(skippedGroups[`task = 'delta__repo-0'`], [0, 1, 2, 4])
    assert.deepEqual(skippedGroups[`reward < 0 or license is null`], [1, 2, 3])
  })
})

describe('sampling', () => {
  const keys = Array.from({ length: 400 }, (_, i) => `task${Math.floor(i / 4)}_run${i % 4 + 1}`)

  test('exactly n keys, the n of smallest seeded rank, in stream order', () => {
    const picked = sampleKeys(keys, 25, 7)
    assert.equal(picked.length, 25)
    assert.deepEqual(picked, [...picked].sort((a, b) => a - b))
    const bruteForce = keys.map((key, position) => ({ position, rank: sampleRank(7, key) }))
      .sort((a, b) => a.rank - b.rank || a.position - b.position).slice(0, 25).map((entry) => entry.position).sort((a, b) => a - b)
    assert.deepEqual(picked, bruteForce)
    assert.deepEqual(sampleKeys(keys, 25, 7), picked, 'deterministic')
    assert.deepEqual(sampleKeys(new Set(keys), 25, 7), picked, 'any iterable')
    assert.notDeepEqual(sampleKeys(keys, 25, 8), picked, 'another seed, another sample')
    assert.notDeepEqual(sampleKeys(keys, 25, 7 + 2 ** 32), picked, 'seeds above 32 bits count')
  })

  test('the sample depends on the keys and the seed, not on their order', () => {
    const reversed = [...keys].reverse()
    const chosen = new Set(sampleKeys(keys, 30, 3).map((i) => keys[i]))
    assert.deepEqual(new Set(sampleKeys(reversed, 30, 3).map((i) => reversed[i])), chosen)
    const prefix = keys.slice(0, 200)
    const fromPrefix = new Set(sampleKeys(prefix, 30, 3).map((i) => prefix[i]))
    for (const key of chosen) if (prefix.includes(key!)) assert.ok(fromPrefix.has(key), `${key} stays sampled in a shorter stream`)
  })

  test('edge cases and balance across runs', () => {
    assert.deepEqual(sampleKeys(keys.slice(0, 3), 10, 1), [0, 1, 2])
    assert.deepEqual(sampleKeys(keys, 0, 1), [])
    assert.deepEqual(sampleKeys([], 5, 1), [])
    assert.deepEqual(sampleKeys(['same', 'same', 'same'], 2, 1), [0, 1], 'equal keys: the earlier ones')
    const runs = [0, 0, 0, 0]
    for (let seed = 0; seed < 20; seed++) for (const i of sampleKeys(keys, 40, seed)) runs[i % 4]!++
    for (const count of runs) assert.ok(count > 140 && count < 260, `runs sampled evenly: ${runs}`)
    const rank = sampleRank(1, 'x')
    assert.ok(Number.isSafeInteger(rank) && rank >= 0, `rank ${rank}`)
  })
})

describe('agrees with DuckDB', () => {
  test('--where row sets equal DuckDB\'s on the same Parquet file (strings and raw bytes)', async () => {
    const path = join(dir, 'duck.parquet')
    let state = 42
    const random = () => ((state = (Math.imul(state, 1103515245) + 12345) >>> 0) / 2 ** 32)
    const pick = <T>(items: T[]) => items[Math.floor(random() * items.length)]!
    const rows = Array.from({ length: 48 }, (_, i) => {
      const run = i % 4 + 1
      const kind = Math.floor(i / 4) % 3
      const task = kind === 0 ? `owner${i % 5}__repo-${i % 7}` : kind === 1 ? `Owner${i % 3}__lib_ac044f0d_pr_${i}` : `qingyangwu_${pick(['pandas', 'numpy'])}_final_${sha}`
      const id = `${task}${i % 11 === 0 ? '_incomplete_20250811_134501' : ''}_run${run}`
      const image = kind === 0 ? `qingyangwu/sweb.eval.x86_64.owner${i % 5}_1776_repo-${i % 7}` : kind === 1 ? (i % 2 ? `${task}.x` : 'qingyangwu/swesmith.x86_64.django_1776_django.ac044f0d') : `qingyangwu/pandas_final:${sha}`
      return {
        trajectory_id: id,
        finish_reason: i % 13 === 0 ? null : i % 9 === 0 ? 'stop' : 'tool_calls',
        image: i % 17 === 0 ? null : image,
        messages: i % 10 === 0 ? null : messages(1 + (i * 7) % 6, { finish: i % 3 !== 0, compact: i % 2 === 0 }),
        reward: i % 19 === 0 ? null : pick([1, 1, 0, 0, -1, 0.5]),
        license: i % 7 === 0 ? null : pick(['MIT', 'Apache-2.0', 'BSD-3-Clause', 'ISC', 'MIT AND Apache-2.0']),
      }
    })
    const names = Object.keys(rows[0]!) as (keyof typeof rows[number])[]
    await parquetWriteFile({
      filename: path, rowGroupSize: 16,
      columnData: names.map((name) => ({ name, data: rows.map((row) => row[name]), type: name === 'reward' ? 'DOUBLE' : 'STRING' })),
    })

    const turns = `len(list_filter(json_extract_string(messages, '$[*].role'), lambda r: r = 'assistant'))`
    const toolCalls = `len(json_extract_string(messages, '$[*].tool_calls[*].function.name'))`
    const usesTool = (name: string) => `list_contains(json_extract_string(messages, '$[*].tool_calls[*].function.name'), '${name}')`
    const run = `TRY_CAST(regexp_extract(trajectory_id, '_run(\\d+)$', 1) AS INTEGER)`
    const task = `regexp_replace(trajectory_id, '(_incomplete_\\d{8}_\\d{6})?_run\\d+$', '')`
    const cases: [string, string][] = [
      [`reward >= 1 and license in ('MIT','BSD-3-Clause')`, `reward >= 1 AND license IN ('MIT', 'BSD-3-Clause')`],
      [`not (license = 'MIT')`, `NOT (license = 'MIT')`],
      [`license != 'MIT' or reward <> 1`, `license != 'MIT' OR reward <> 1`],
      [`not (finish_reason = 'stop') or turns > 3`, `NOT (finish_reason = 'stop') OR ${turns} > 3`],
      [`image like '%django%'`, `image LIKE '%django%'`],
      [`image not like 'qingyangwu/_andas%' and reward between 0 and 1`, `image NOT LIKE 'qingyangwu/_andas%' AND reward BETWEEN 0 AND 1`],
      [`trajectory_id ~ '_run[1-2]$'`, `regexp_matches(trajectory_id, '_run[1-2]$')`],
      [`trajectory_id glob 'Owner?__*_run3'`, `trajectory_id GLOB 'Owner?__*_run3'`],
      [`run <= 2 and license is not null`, `${run} <= 2 AND license IS NOT NULL`],
      [`task = 'owner1__repo-1' or task like 'qingyangwu_numpy%'`, `${task} = 'owner1__repo-1' OR ${task} LIKE 'qingyangwu_numpy%'`],
      [`license is null or reward < 0`, `license IS NULL OR reward < 0`],
      [`reward not in (0, 1) and finish_reason not in ('stop')`, `reward NOT IN (0, 1) AND finish_reason NOT IN ('stop')`],
      [`uses_tool('think') and not uses_tool('finish')`, `${usesTool('think')} AND NOT ${usesTool('finish')}`],
      [`tool_calls >= 4 and turns < 5 or messages_count is null`, `${toolCalls} >= 4 AND ${turns} < 5 OR messages IS NULL`],
      [`trajectory_id >= 'Owner1' and trajectory_id < 'owner3'`, `trajectory_id >= 'Owner1' AND trajectory_id < 'owner3'`],
      [`(reward = 1 or reward = -1) and not (image is null or run = 4)`, `(reward = 1 OR reward = -1) AND NOT (image IS NULL OR ${run} = 4)`],
    ]

    const source = await fileSource(path)
    const metadata = await readFooter(source)
    const batches: Record<string, Batch[]> = { strings: [], bytes: [] }
    for await (const batch of readBatches(source, metadata)) batches.strings!.push(batch)
    for await (const batch of readBatches(source, metadata, { rawStrings: true })) batches.bytes!.push(batch)
    await source.close()
    assert.ok(cellAt(batches.bytes![0]!.columns.trajectory_id, 0) instanceof Uint8Array, 'raw bytes mode')

    for (const [where, sql] of cases) {
      const expected = (await duck(`SELECT trajectory_id FROM read_parquet(${sqlString(path)}, file_row_number = true) WHERE ${sql} ORDER BY file_row_number`)).map((row) => row.trajectory_id)
      assert.ok(expected.length > 0 && expected.length < rows.length, `${where} selects some rows (${expected.length})`)
      const predicate = compilePredicate(parseWhere(where))
      for (const [mode, list] of Object.entries(batches)) {
        const got: string[] = []
        for (const [index, batch] of list.entries()) {
          const offset = index * 16
          // the two phases, as a scan runs them, and the exact filter in one go
          const candidates = predicate.canSkip(metadata.row_groups[index]!) ? [] : predicate.filterSmall(batch)
          const twoPhase = predicate.filterLarge(batch, candidates)
          assert.deepEqual(twoPhase, compileFilter(predicate.expr)(batch), `${where} (${mode}): two phases agree with one`)
          got.push(...twoPhase.map((row) => rows[offset + row]!.trajectory_id))
        }
        assert.deepEqual(got, expected, `${where} (${mode})`)
      }
    }
  })
})

describe('ordered window', () => {
  test('results come out in push order while at most `capacity` are in the window; several producers may wait at once', async () => {
    const { orderedWindow } = await import('../src/query/orderedWindow.js')
    const consumed: string[] = []
    let inWindow = 0
    let most = 0
    const window = orderedWindow<string>(2, async (value) => {
      consumed.push(value)
      inWindow--
    })
    const later = (value: string, ms: number) => new Promise<string>((resolve) => setTimeout(() => resolve(value), ms))
    // three producers, each pushing four results that finish out of order
    await Promise.all(['a', 'b', 'c'].map(async (producer, p) => {
      for (let i = 0; i < 4; i++) {
        await window.push(later(`${producer}${i}`, ((p + i) % 3) * 5), true)
        most = Math.max(most, ++inWindow)
      }
    }))
    await window.end()
    assert.equal(consumed.length, 12, 'every producer got through: none was left waiting')
    for (const producer of ['a', 'b', 'c']) assert.deepEqual(consumed.filter((v) => v[0] === producer), [0, 1, 2, 3].map((i) => `${producer}${i}`))
    assert.ok(most <= 2, `${most} results in the window at once (capacity 2)`)
  })
})
