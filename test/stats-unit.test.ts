import assert from 'node:assert/strict'
import { readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, describe, test } from 'node:test'
import { Chalk } from 'chalk'
import { repoDir } from '../fixtures/index.js'
import { memoryBudget } from '../src/fetch/budget.js'
import { fileSource, withHeldBytes } from '../src/parquet/source.js'
import type { IntListColumn } from '../src/parquet/intList.js'
import type { SourceRef } from '../src/sources.js'
import { statsAccumulator, type RowStats, type StatsBatch } from '../src/stats/accumulate.js'
import { computeStats, type ShardStats } from '../src/stats/compute.js'
import { renderMarkdown, renderStats, sparkline } from '../src/stats/render.js'
import { repoOf, summarizeCell, taskOf, type TrajectorySummary } from '../src/trajectory/messages.js'
import { duck, sqlString } from './support/duckdb.js'
import { tempDir } from './support/cli.js'

// The statistics layer on hand-built rows, so every figure is known in advance: what each column adds,
// what a missing column leaves out, tasks and pass@k, the deep summaries, token lists, and the two
// renderings. Fast enough to run once per mutant (see scripts/mutate.ts).
const helpers = { taskOf, repoOf, summarizeCell }
const scratch = await tempDir()
after(() => scratch.cleanup())
const bytes = (text: string) => new TextEncoder().encode(text)
const near = (actual: number | null | undefined, expected: number) => assert.ok(actual !== null && actual !== undefined && Math.abs(actual - expected) < 1e-12, `${actual} ≉ ${expected}`)

function accumulate(batches: StatsBatch[], options: { deep?: boolean } = {}, using: Parameters<typeof statsAccumulator>[0] = helpers): RowStats {
  const accumulator = statsAccumulator(using, options)
  for (const batch of batches) accumulator.add(batch)
  return accumulator.result()
}

/** A list<int> column from plain rows (null: a null row). */
function intList(rows: (number[] | null)[], wide = false): IntListColumn {
  const offsets = new Uint32Array(rows.length + 1)
  rows.forEach((row, i) => { offsets[i + 1] = offsets[i]! + (row?.length ?? 0) })
  const flat = rows.flatMap((row) => row ?? [])
  const values = wide ? BigInt64Array.from(flat, (v) => BigInt(v)) : Int32Array.from(flat)
  const nulls = rows.some((row) => row === null) ? Uint8Array.from(rows, (row) => (row === null ? 1 : 0)) : undefined
  return { kind: 'intList', type: wide ? 'INT64' : 'INT32', offsets, values, ...(nulls ? { nulls } : {}) }
}

const image = (repo: string) => `docker.io/swebench/sweb.eval.x86_64.${repo}`

describe('statsAccumulator: small columns', () => {
  // runs of four tasks; one id twice (counted once), a null id, one id no repo can be read from
  const first: StatsBatch = {
    numRows: 6,
    columns: {
      trajectory_id: ['owner__repo-1_run1', 'owner__repo-1_run2', 'owner__repo-1_run1', 'other__lib-7_run1', null, 'weird_run1'],
      reward: [1, 0, 1, null, -1, 0.5],
      finish_reason: [bytes('stop'), 'tool_calls', 'stop', null, 'stop', 'length'],
      license: ['MIT', 'MIT', 'Apache-2.0', 'MIT', null, 'MIT'],
      image: [image('owner_1776_repo-1'), image('owner_1776_repo-1'), image('owner_1776_repo-1'), null, null, null],
    },
  }
  // eight runs of one task (three pass), each with an image of its own: more images and repos than the top ten
  const second: StatsBatch = {
    numRows: 8,
    columns: {
      trajectory_id: Array.from({ length: 8 }, (_, i) => `big__task-3_run${i + 1}`),
      reward: [1, 0, 0, 1, 0, 0, 1, 0],
      image: Array.from({ length: 8 }, (_, i) => image(`org${i}_1776_proj${i}`)),
    },
  }
  const extra: StatsBatch = {
    numRows: 4,
    columns: { trajectory_id: ['x1__a_run1', 'x2__b_run1', 'x3__c_run1', 'x4__d_run1'], image: [image('m1_1776_a'), image('m2_1776_b'), image('m3_1776_c'), image('m4_1776_d')] },
  }
  const stats = accumulate([first, second, extra])

  test('rows, and reward counts by value (integers as N.0, null as "null"), most frequent first, ties by name', () => {
    assert.equal(stats.rows, 18)
    assert.deepEqual(Object.entries(stats.reward!.counts), [['0.0', 6], ['1.0', 5], ['-1.0', 1], ['0.5', 1], ['null', 1]])
    // the mean is over numeric rewards only: 5 − 1 + 0.5 over 13
    near(stats.reward!.mean, 4.5 / 13)
  })

  test('finish reasons and licenses, bytes read as text, null counted as "null"', () => {
    assert.deepEqual(Object.entries(stats.finish_reason!), [['stop', 3], ['length', 1], ['null', 1], ['tool_calls', 1]])
    assert.deepEqual(Object.entries(stats.license!), [['MIT', 4], ['Apache-2.0', 1], ['null', 1]])
  })

  test('top images and repos: ten at most, by count then name; null images and unknown repos left out', () => {
    assert.equal(stats.top_images!.length, 10)
    assert.deepEqual(stats.top_images![0], { value: image('owner_1776_repo-1'), count: 3 })
    assert.ok(!stats.top_images!.some((entry) => entry.value === 'null'))
    assert.deepEqual(stats.top_repos!.slice(0, 3), [{ value: 'owner/repo', count: 3 }, { value: 'm1/a', count: 1 }, { value: 'm2/b', count: 1 }])
    assert.equal(stats.top_repos!.length, 10)
    assert.ok(!stats.top_repos!.some((entry) => entry.value === 'undefined' || entry.value === 'weird'))
  })

  test('tasks: runs per task with duplicate ids once, pass@1 as the mean pass rate, pass@k over tasks with k runs', () => {
    const tasks = stats.tasks!
    // big__task-3 (8 runs, 3 pass), other__lib-7 (1, 0), owner__repo-1 (2, 1), weird (1, 0, reward 0.5), x1…x4 (1, 0)
    assert.equal(tasks.count, 8)
    assert.deepEqual(tasks.runs_per_task, { count: 8, min: 1, p50: 1, p90: 8, p99: 8, max: 8, mean: 2, sum: 16 })
    near(tasks.pass_at_1, (3 / 8 + 1 / 2) / 8)
    assert.deepEqual(Object.keys(tasks.pass_at_k), ['pass@2', 'pass@4', 'pass@8'])
    assert.equal(tasks.pass_at_k['pass@2']!.tasks, 2)
    near(tasks.pass_at_k['pass@2']!.value, (1 + (1 - 10 / 28)) / 2)
    assert.equal(tasks.pass_at_k['pass@4']!.tasks, 1)
    near(tasks.pass_at_k['pass@4']!.value, 1 - 5 / 70)
    assert.deepEqual(tasks.pass_at_k['pass@8'], { tasks: 1, value: 1 })
    assert.equal(tasks.solved, 2)
  })

  test('a figure whose column is absent is left out, not counted as nulls', () => {
    const only = accumulate([{ numRows: 2, columns: { trajectory_id: ['a__b_run1', 'a__b_run2'] } }], { deep: true })
    assert.deepEqual(Object.keys(only), ['rows', 'top_repos', 'tasks'])
    assert.deepEqual(Object.keys(only.tasks!.pass_at_k), ['pass@2'])
    assert.deepEqual(accumulate([{ numRows: 3, columns: {} }]), { rows: 3 })
  })
})

describe('statsAccumulator: messages (--deep)', () => {
  const call = (id: string, name: string) => ({ id, type: 'function', function: { name, arguments: '{}' } })
  const withTools = JSON.stringify([
    { role: 'system', content: 'sys' },
    { role: 'user', content: 'fix it' },
    { role: 'assistant', content: 'ok', tool_calls: [call('c1', 'execute_bash')] },
    { role: 'tool', content: 'a b', tool_call_id: 'c1' },
    { role: 'assistant', content: '', tool_calls: [call('c2', 'finish')] },
  ])
  const chat = JSON.stringify([{ role: 'user', content: 'hello' }, { role: 'assistant', content: 'done' }])
  // tools and roles first met in the second trajectory, absent from the third: zero for both others
  const messages = [chat, bytes(withTools), 'not json', null, chat]

  function check(deep: RowStats['deep']) {
    assert.ok(deep)
    assert.deepEqual([deep.messages.count, deep.messages.min, deep.messages.max, deep.messages.sum], [3, 2, 5, 9])
    assert.deepEqual(deep.messages.histogram!.counts, [2, 0, 0, 0, 0, 0, 0, 0, 0, 1])
    assert.deepEqual([deep.assistant_turns.p50, deep.assistant_turns.max, deep.assistant_turns.sum], [1, 2, 4])
    assert.deepEqual([deep.tool_calls.min, deep.tool_calls.max, deep.tool_calls.sum], [0, 2, 2])
    assert.deepEqual(Object.keys(deep.tool_calls_by_tool), ['execute_bash', 'finish'])
    assert.equal(deep.tool_calls_by_tool.finish!.total, 1)
    assert.deepEqual(deep.tool_calls_by_tool.execute_bash!.per_trajectory, { count: 3, min: 0, p50: 0, p90: 1, p99: 1, max: 1, mean: 1 / 3, sum: 1 })
    assert.deepEqual(deep.ends_with_finish, { count: 1, share: 1 / 3 })
    assert.deepEqual(Object.keys(deep.chars_by_role), ['assistant', 'system', 'tool', 'user'])
    assert.deepEqual(Object.fromEntries(Object.entries(deep.chars_by_role).map(([role, d]) => [role, [d.count, d.min, d.max, d.sum]])),
      { assistant: [3, 2, 4, 10], system: [3, 0, 3, 3], tool: [3, 0, 3, 3], user: [3, 5, 6, 16] })
    assert.equal(deep.invalid_messages, 1)
  }

  test('from the messages column: turns, tool calls per tool (zero where unused), finish, chars per role, text that is not JSON counted apart', () => {
    check(accumulate([{ numRows: 5, columns: { messages } }], { deep: true }).deep)
  })

  test('from summaries made on a decoding thread, the same figures', () => {
    const summaries = messages.map((cell) => summarizeCell(cell))
    check(accumulate([{ numRows: 5, columns: {}, summaries }], { deep: true }).deep)
  })

  test('only with deep, and only where messages can be summarised', () => {
    assert.equal(accumulate([{ numRows: 5, columns: { messages } }]).deep, undefined)
    const summaries: (TrajectorySummary | null | undefined)[] = messages.map((cell) => summarizeCell(cell))
    assert.equal(accumulate([{ numRows: 5, columns: {}, summaries }]).deep, undefined)
    assert.equal(accumulate([{ numRows: 5, columns: { messages } }], { deep: true }, { taskOf, repoOf }).deep, undefined)
    // nothing but text that is not JSON still reports it
    assert.deepEqual(accumulate([{ numRows: 1, columns: { messages: ['{'] } }], { deep: true }).deep!.invalid_messages, 1)
  })
})

describe('statsAccumulator: token lists', () => {
  const length = (n: number, fill = 7) => new Array<number>(n).fill(fill)
  test('input tokens per row (a null row has none), trainable = labels other than -100 (int32 or int64), context fits', () => {
    const stats = accumulate([
      { numRows: 2, columns: { input_ids: intList([[1, 2, 3], null]), labels: intList([[-100, 5, 6], null]) } },
      { numRows: 3, columns: { input_ids: intList([length(40_000), length(70_000), length(32 * 1024)]), labels: intList([[...length(39_990, -100), ...length(10)], length(70_000, -100), length(100)], true) } },
    ])
    const tokens = stats.tokens!
    assert.deepEqual([tokens.input_tokens.count, tokens.input_tokens.min, tokens.input_tokens.max, tokens.input_tokens.sum], [5, 0, 70_000, 3 + 40_000 + 70_000 + 32_768])
    assert.deepEqual([tokens.trainable_tokens.min, tokens.trainable_tokens.max, tokens.trainable_tokens.sum], [0, 100, 112])
    near(tokens.trainable_share, 112 / (3 + 40_000 + 70_000 + 32_768))
    assert.deepEqual(tokens.fits_context, { '32k': 3, '64k': 4, '128k': 5 })
    assert.equal(stats.rows, 5)
  })

  test('no token lists, no token figures; no tokens at all, no share', () => {
    assert.equal(accumulate([{ numRows: 1, columns: { reward: [1] } }]).tokens, undefined)
    assert.equal(accumulate([{ numRows: 1, columns: { input_ids: intList([[]]) } }]).tokens!.trainable_share, null)
  })
})

describe('render', () => {
  const plain = new Chalk({ level: 0 })
  const footer = { files: 2, rows: 4, bytes: 2_000_000, uncompressed_bytes: 5_000_000, row_groups: 3 } as ShardStats['footer']
  const d = (values: Partial<RowStats['tokens'] & object> | object) => values as never
  const rows: RowStats = {
    rows: 4,
    reward: { counts: { '1.0': 3, '0.0': 1 }, mean: 0.75 },
    finish_reason: Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`reason${i}`, 1])),
    tasks: { count: 2, runs_per_task: d({ count: 2, min: 1, max: 3 }), pass_at_1: 0.5, pass_at_k: { 'pass@2': { tasks: 1, value: 2 / 3 } }, solved: 1 },
    top_repos: Array.from({ length: 7 }, (_, i) => ({ value: `o/r${i}`, count: 7 - i })),
    top_images: Array.from({ length: 4 }, (_, i) => ({ value: `img${i}`, count: 4 - i })),
    deep: {
      messages: d({ count: 4, min: 2, p50: 3, p90: 10, p99: 10, max: 10, mean: 4.25, histogram: { edges: [], counts: [1, 0, 2, 0, 0, 0, 0, 0, 0, 1] } }),
      assistant_turns: d({ count: 4, min: 1, p50: 1, p90: 4, p99: 4, max: 4, mean: 2 }),
      tool_calls: d({ count: 4, min: 0, p50: 1, p90: 3, p99: 3, max: 3, mean: 1.5 }),
      tool_calls_by_tool: { finish: { total: 2, per_trajectory: d({ min: 0, p50: 1, p90: 1, p99: 1, max: 1, mean: 0.5 }) } },
      ends_with_finish: { count: 2, share: 0.5 },
      chars_by_role: { user: d({ min: 1234, p50: 1500, p90: 2000, p99: 2000, max: 2000, mean: 1600.25 }) },
      invalid_messages: 1,
    },
    tokens: {
      input_tokens: d({ min: 100, p50: 200, p90: 300, p99: 400, max: 400, mean: 250 }),
      trainable_tokens: d({ min: 10, p50: 20, p90: 30, p99: 40, max: 40, mean: 25 }),
      trainable_share: 0.1,
      fits_context: { '32k': 4, '64k': 4, '128k': 4 },
    },
  }

  test('sparkline: eighths of the largest count, blank for zero', () => {
    assert.equal(sparkline([0, 1, 4, 8]), ' ▁▄█')
    assert.equal(sparkline([0, 0]), '  ')
  })

  test('the terminal block: every field, eight values then "… N more", the top five repos and three images', () => {
    assert.equal(renderStats('SWE_Smith', { footer, rows }, plain), [
      'SWE_Smith',
      '  2 shards · 4 rows · 2.00 MB on disk · 5.00 MB uncompressed · 3 row groups',
      '  reward          1.0 3 (75.0%), 0.0 1 (25.0%); mean 0.75',
      `  finish reason   ${Array.from({ length: 8 }, (_, i) => `reason${i} 1 (25.0%)`).join(', ')}, … 2 more`,
      '  tasks           2 tasks, 1–3 runs each; pass@1 0.5, pass@2 0.667; solved 1 (50.0%)',
      '  top repos       o/r0 7, o/r1 6, o/r2 5, o/r3 4, o/r4 3',
      '  top images      img0 4, img1 3, img2 2',
      '',
      '  per trajectory      min    p50    p90    p99    max     mean  histogram',
      '  messages              2      3     10     10     10      4.3  ▄ █      ▄',
      '  assistant turns       1      1      4      4      4        2  ',
      '  tool calls            0      1      3      3      3      1.5  ',
      '    finish              0      1      1      1      1      0.5  ',
      '  chars user        1,234  1,500  2,000  2,000  2,000  1,600.3  ',
      '  input tokens        100    200    300    400    400      250  ',
      '  trainable tokens     10     20     30     40     40       25  ',
      '  ends w/ finish  2 (50.0%)',
      '  bad messages    1 rows whose messages is not a JSON array (left out above)',
      '  trainable       10.0% of tokens',
      '  fits context    32k 4 (100.0%), 64k 4 (100.0%), 128k 4 (100.0%)',
    ].join('\n'))
  })

  test('a split with rows only: the two header lines; missing figures print as –', () => {
    assert.equal(renderStats('x', { footer, rows: { rows: 0 } }, plain), 'x\n  2 shards · 4 rows · 2.00 MB on disk · 5.00 MB uncompressed · 3 row groups')
    const noTasks = { rows: 2, tasks: { ...rows.tasks!, pass_at_1: null, pass_at_k: {} } }
    assert.match(renderStats('x', { footer, rows: noTasks }, plain), /tasks {11}2 tasks, 1–3 runs each; pass@1 –; solved 1 \(50\.0%\)$/)
  })

  test('--markdown: one column per split; deep and token rows when any split has them, – where one does not', () => {
    const bare: RowStats = { rows: 0 }
    assert.equal(renderMarkdown([{ name: 'A', stats: { footer, rows } }, { name: 'B', stats: { footer, rows: bare } }]), [
      '| | A | B |',
      '|---|---:|---:|',
      '| rows | 4 | 0 |',
      '| shards | 2 | 2 |',
      '| Parquet size | 2.00 MB | 2.00 MB |',
      '| reward = 1.0 | 3 (75.0%) | – |',
      '| reward = 0.0 | 1 (25.0%) | – |',
      '| reward = -1.0 | 0 (0.0%) | – |',
      '| tasks | 2 | – |',
      '| pass@1 (mean over tasks) | 0.5 | – |',
      '| messages p50 / p90 | 3 / 10 | – |',
      '| assistant turns p50 / p90 | 1 / 4 | – |',
      '| ends with finish | 50.0% | – |',
      '| tokens p50 / p99 | 200 / 400 | – |',
      '| trainable share | 10.0% | – |',
      '| fits 32k context | 100.0% | – |',
    ].join('\n'))
    assert.equal(renderMarkdown([{ name: 'B', stats: { footer, rows: bare } }]).split('\n').length, 10)
    const noShare = { ...rows, tokens: { ...rows.tokens!, trainable_share: null, fits_context: {} } }
    assert.match(renderMarkdown([{ name: 'A', stats: { footer, rows: noShare } }]), /\| trainable share \| 0\.0% \|\n\| fits 32k context \| 0\.0% \|$/)
  })
})

describe('computeStats on shards', () => {
  const tiny = repoDir('tiny')
  const shard = (split: string, i: number) => join(tiny, 'trajectories', `${split}-0000${i}-of-00003.parquet`)
  const budget = memoryBudget()
  const ref = async (path: string): Promise<SourceRef> => ({ name: path, origin: 'local', size: (await stat(path)).size, open: async () => withHeldBytes(await fileSource(path), budget) })

  test('footer and row figures of a split equal DuckDB\'s; each shard reported done once, counted up', async () => {
    const paths = [0, 1, 2].map((i) => shard('SWE_Smith', i))
    const done: [number, number][] = []
    const stats = await computeStats(await Promise.all(paths.map(ref)), { deep: true, concurrency: 2, onShard: (n, total) => done.push([n, total]) })
    assert.deepEqual(done, [[1, 3], [2, 3], [3, 3]])
    const [row] = await duck(`SELECT count(*) AS n, count(*) FILTER (reward = 1) AS one, count(DISTINCT regexp_replace(trajectory_id, '(_incomplete_[0-9]{8}_[0-9]{6})?_run[0-9]+$', '')) AS tasks,
      sum(len(json_extract_string(messages, '$[*].tool_calls[*].function.name'))) AS calls FROM read_parquet([${paths.map(sqlString).join(', ')}])`)
    assert.deepEqual([stats.footer.files, stats.footer.rows, stats.rows.rows, stats.rows.reward!.counts['1.0'], stats.rows.tasks!.count, stats.rows.deep!.tool_calls.sum],
      [3, Number(row!.n), Number(row!.n), Number(row!.one), Number(row!.tasks), Number(row!.calls)])
  })

  test('a damaged shard fails the statistics with an error naming it', async () => {
    const damaged = join(scratch.path, 'damaged.parquet')
    // the footer kept, the first half of the pages zeroed: the file opens, its row group does not decode
    const content = await readFile(shard('R2E_Gym', 0))
    content.fill(0, 4, Math.floor(content.length / 2))
    await writeFile(damaged, content)
    await assert.rejects(computeStats([await ref(damaged)], { deep: true }), (error: Error) => error.message.includes('damaged.parquet'))
  })
})
