import assert from 'node:assert/strict'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { distribution, histogram, passAtK } from '../src/stats/distribution.js'
import { isolatedEnv, runCli, tempDir } from './support/cli.js'
import { duck, sqlString } from './support/duckdb.js'

// A hand-made split where every figure of `stats` has something to get wrong: a duplicated id (counted
// as a row but as one run), tasks of 1, 2, 4, 5 and 8 runs (pass@2/4/8), even counts for the percentiles,
// rewards other than 0 and 1, ties among the top images (first seen last by name), trajectories with and without a final `finish`, roles missing from some rows.

interface Row { id: string, reward: number, image: string | null, messages: string }

const tools = ['execute_bash', 'str_replace_editor', 'think', 'finish']

function messagesFor(seed: number): string {
  const messages: object[] = [{ role: 'system', content: 'You are a helpful agent.' }, { role: 'user', content: `Fix issue ${seed}`.repeat(1 + (seed % 3)) }]
  const turns = 1 + (seed % 4)
  for (let turn = 0; turn < turns; turn++) {
    const calls = (seed + turn) % 3
    const toolCalls = Array.from({ length: calls }, (_, c) => ({
      id: `call_${seed}_${turn}_${c}`, type: 'function',
      function: { name: tools[(seed * 7 + turn + c) % 3]!, arguments: { command: 'ls' } },
    }))
    messages.push({ role: 'assistant', content: 'x'.repeat((seed * 13 + turn) % 17), ...(calls ? { tool_calls: toolCalls } : {}) })
    for (const call of toolCalls) messages.push({ role: 'tool', tool_call_id: call.id, name: call.function.name, content: 'out'.repeat(seed % 5) })
  }
  if (seed % 3 === 0) {
    messages.push({ role: 'assistant', content: '', tool_calls: [{ id: `call_${seed}_end`, type: 'function', function: { name: 'finish', arguments: {} } }] })
  } else if (seed % 3 === 1) {
    // a finish call that is not in the last assistant turn does not count
    messages.push({ role: 'assistant', content: 'done?', tool_calls: [{ id: `call_${seed}_f`, type: 'function', function: { name: 'finish', arguments: {} } }] })
    messages.push({ role: 'tool', tool_call_id: `call_${seed}_f`, name: 'finish', content: 'not yet' })
    messages.push({ role: 'assistant', content: 'more work' })
  }
  if (seed % 5 === 0) messages.push({ role: 'user', content: 'extra' })
  return JSON.stringify(messages)
}

function rows(): Row[] {
  const out: Row[] = []
  const add = (task: string, image: (run: number) => string | null, rewards: number[]) =>
    rewards.forEach((reward, i) => out.push({ id: `${task}_run${i + 1}`, reward, image: image(i + 1), messages: messagesFor(out.length) }))
  add('acme__alpha-1', () => 'docker.io/swebench/sweb.eval.x86_64.acme_1776_alpha-1', [0, 1, -1, 0, 1, 0, 1, 0.5])
  add('acme__beta-2', () => 'docker.io/swebench/sweb.eval.x86_64.acme_1776_beta-2', [0, 0, 1, 0, 0])
  add('zeta__gamma-3', (run) => `docker.io/swebench/sweb.eval.x86_64.zeta_1776_gamma-${5 - run}`, [0, 0, 0, 0])
  add('solo__delta', () => null, [1, 0])
  // the same trajectory again, now with reward 1: a row, but not a sixth run nor a second pass
  out.push({ ...out[8]!, reward: 1, messages: messagesFor(out.length) })
  return out
}

let dir: { path: string, cleanup: () => Promise<void> }
let trajectories: string
let tokenized: string
const env = () => isolatedEnv(dir.path, { HF_HUB_OFFLINE: '1' })

before(async () => {
  dir = await tempDir()
  trajectories = join(dir.path, 'stats.parquet')
  tokenized = join(dir.path, 'tokens.parquet')
  const values = rows().map((r) => `(${sqlString(r.id)}, ${r.reward}::DOUBLE, ${r.image === null ? 'NULL' : sqlString(r.image)}, ${sqlString(r.messages)})`)
  await duck(`COPY (SELECT * FROM (VALUES ${values.join(', ')}) AS t(trajectory_id, reward, image, messages))
    TO ${sqlString(trajectories)} (FORMAT parquet)`)
  // lengths on both sides of each context size: at the size fits, one token more does not
  const lengths = [100, 32768, 32769, 65536, 65537, 131072, 131073, 200000]
  await duck(`COPY (SELECT 'tok_' || i || '_run1' AS trajectory_id, 1.0::DOUBLE AS reward, range(n)::INTEGER[] AS input_ids,
    list_transform(range(n), lambda x: CASE WHEN x < n // (i + 2) THEN -100 ELSE x END)::INTEGER[] AS labels
    FROM (SELECT unnest([${lengths.join(', ')}]) AS n, generate_subscripts([${lengths.join(', ')}], 1) AS i))
    TO ${sqlString(tokenized)} (FORMAT parquet)`)
})
after(() => dir.cleanup())

async function stats(file: string, deep = false) {
  const result = await runCli(['stats', file, '--json', ...(deep ? ['--deep'] : [])], env())
  assert.equal(result.code, 0, result.stderr)
  return JSON.parse(result.stdout).splits.files
}

const taskSql = `regexp_replace(trajectory_id, '_run[0-9]+$', '')`
const table = () => `read_parquet(${sqlString(trajectories)})`

/** C(n, k) exactly. */
function choose(n: number, k: number): bigint {
  let result = 1n
  for (let i = 0; i < k; i++) result = (result * BigInt(n - i)) / BigInt(i + 1)
  return result
}

/**
 * The distribution of an SQL expression (one value per `from` row) computed from DuckDB: quantile_disc
 * percentiles, min, max, sum, mean; and with `histogram`, ten equal-width bins between min and max.
 */
async function distributionOf(expression: string, from: string, options: { histogram?: boolean } = {}) {
  const [d] = await duck(`SELECT count(*) AS count, min(v) AS min, quantile_disc(v, 0.5) AS p50, quantile_disc(v, 0.9) AS p90,
    quantile_disc(v, 0.99) AS p99, max(v) AS max, avg(v) AS mean, sum(v) AS sum FROM (SELECT (${expression})::BIGINT AS v FROM ${from})`)
  const expected: Record<string, unknown> = Object.fromEntries(Object.entries(d!).map(([k, v]) => [k, Number(v)]))
  if (options.histogram) {
    const values = (await duck(`SELECT (${expression})::BIGINT AS v FROM ${from}`)).map((r) => Number(r.v))
    const min = Number(d!.min)
    const width = (Number(d!.max) - min) / 10 || 1
    const counts = new Array<number>(10).fill(0)
    for (const value of values) counts[Math.min(9, Math.floor((value - min) / width))]!++
    expected.histogram = { edges: Array.from({ length: 11 }, (_, i) => min + i * width), counts }
  }
  return expected
}

/** A distribution equals the expected one: exactly, but for the mean's last bits. */
function assertDistribution(actual: Record<string, unknown>, expected: Record<string, unknown>, label: string): void {
  assert.ok(Math.abs(Number(actual.mean) - Number(expected.mean)) < 1e-9, `${label}: mean ${String(actual.mean)} vs ${String(expected.mean)}`)
  assert.deepEqual({ ...actual, mean: 0 }, { ...expected, mean: 0 }, label)
}

describe('stats pinned against DuckDB on a hand-made split', () => {
  test('rows count duplicates, tasks do not; runs per task at an even count; pass@1/2/4/8 by the unbiased estimator', async () => {
    const { rows: figures } = await stats(trajectories)
    const [counted] = await duck(`SELECT count(*) AS n, count(DISTINCT trajectory_id) AS ids FROM ${table()}`)
    assert.equal(figures.rows, Number(counted!.n))
    assert.ok(Number(counted!.ids) < Number(counted!.n), 'the fixture holds a duplicated id')
    // each distinct id once, with the reward of its first row
    const perTask = await duck(`SELECT ${taskSql} AS task, count(*) AS n, count(*) FILTER (reward = 1) AS c FROM
      (SELECT trajectory_id, first(reward ORDER BY rowid) AS reward FROM (SELECT *, row_number() OVER () AS rowid FROM ${table()}) GROUP BY trajectory_id)
      GROUP BY 1`)
    const tasks = perTask.map((t) => ({ n: Number(t.n), c: Number(t.c) }))
    assert.equal(tasks.length % 2, 0, 'an even number of tasks, where a percentile rank off by one shows')
    assert.equal(figures.tasks.count, tasks.length)
    assert.equal(figures.tasks.solved, tasks.filter((t) => t.c > 0).length)
    assertDistribution(figures.tasks.runs_per_task, await distributionOf('n', `(SELECT count(DISTINCT trajectory_id) AS n FROM ${table()} GROUP BY ${taskSql})`), 'runs per task')
    const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length
    assert.ok(Math.abs(figures.tasks.pass_at_1 - mean(tasks.map((t) => t.c / t.n))) < 1e-12)
    const expected: Record<string, { tasks: number, value: number }> = {}
    for (const k of [2, 4, 8]) {
      const eligible = tasks.filter((t) => t.n >= k)
      const values = eligible.map((t) => 1 - Number(choose(t.n - t.c, k)) / Number(choose(t.n, k)))
      if (eligible.length) expected[`pass@${k}`] = { tasks: eligible.length, value: mean(values) }
    }
    assert.deepEqual(Object.keys(figures.tasks.pass_at_k), ['pass@2', 'pass@4', 'pass@8'])
    for (const [name, { tasks: count, value }] of Object.entries(expected)) {
      assert.equal(figures.tasks.pass_at_k[name].tasks, count, name)
      assert.ok(Math.abs(figures.tasks.pass_at_k[name].value - value) < 1e-12, `${name}: ${figures.tasks.pass_at_k[name].value} vs ${value}`)
    }
  })

  test('top images and repositories: counts, most frequent first, ties by name', async () => {
    const { rows: figures } = await stats(trajectories)
    const images = await duck(`SELECT image AS value, count(*) AS count FROM ${table()} WHERE image IS NOT NULL GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 10`)
    assert.deepEqual(figures.top_images, images.map((r) => ({ value: r.value, count: Number(r.count) })))
    const repos = await duck(`SELECT lower(regexp_extract(trajectory_id, '^([a-z]+)__([a-z]+)', 1) || '/' || regexp_extract(trajectory_id, '^([a-z]+)__([a-z]+)', 2)) AS value,
      count(*) AS count FROM ${table()} GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 10`)
    assert.deepEqual(figures.top_repos, repos.map((r) => ({ value: r.value, count: Number(r.count) })))
  })

  test('--deep: tool calls per trajectory and per tool, ends_with_finish, chars_by_role', async () => {
    const { rows: figures } = await stats(trajectories, true)
    const { deep } = figures
    const from = table()
    const names = `json_extract_string(messages, '$[*].tool_calls[*].function.name')`
    assertDistribution(deep.tool_calls, await distributionOf(`len(${names})`, from, { histogram: true }), 'tool calls')
    assertDistribution(deep.messages, await distributionOf(`json_array_length(messages)`, from, { histogram: true }), 'messages')
    const assistantTurns = `len(list_filter(json_extract_string(messages, '$[*].role'), lambda r: r = 'assistant'))`
    assertDistribution(deep.assistant_turns, await distributionOf(assistantTurns, from, { histogram: true }), 'assistant turns')
    const toolNames = (await duck(`SELECT DISTINCT unnest(${names}) AS name FROM ${from} ORDER BY 1`)).map((r) => String(r.name))
    assert.deepEqual(Object.keys(deep.tool_calls_by_tool), toolNames)
    for (const tool of toolNames) {
      const expected = await distributionOf(`len(list_filter(${names}, lambda x: x = ${sqlString(tool)}))`, from)
      assertDistribution(deep.tool_calls_by_tool[tool].per_trajectory, expected, tool)
      assert.equal(deep.tool_calls_by_tool[tool].total, expected.sum, tool)
    }
    const [finished] = await duck(`SELECT count(*) FILTER (ends) AS n, count(*) AS total FROM (SELECT coalesce(list_contains(
      json_extract_string(list_filter(json_extract(messages, '$[*]'), lambda m: json_extract_string(m, '$.role') = 'assistant')[-1], '$.tool_calls[*].function.name'), 'finish'), false) AS ends FROM ${from})`)
    assert.ok(Number(finished!.n) > 0 && Number(finished!.n) < Number(finished!.total))
    assert.deepEqual(deep.ends_with_finish, { count: Number(finished!.n), share: Number(finished!.n) / Number(finished!.total) })
    const roles = (await duck(`SELECT DISTINCT unnest(json_extract_string(messages, '$[*].role')) AS role FROM ${from} ORDER BY 1`)).map((r) => String(r.role))
    assert.deepEqual(Object.keys(deep.chars_by_role), roles)
    for (const role of roles) {
      const chars = `coalesce(list_sum(list_transform(list_filter(json_extract(messages, '$[*]'), lambda m: json_extract_string(m, '$.role') = ${sqlString(role)}),
        lambda m: length(coalesce(json_extract_string(m, '$.content'), '')))), 0)`
      assertDistribution(deep.chars_by_role[role], await distributionOf(chars, from), role)
    }
  })

  test('tokenized: fits within 32k/64k/128k counts a length equal to the context, not one above', async () => {
    const { rows: figures } = await stats(tokenized)
    const [fits] = await duck(`SELECT count(*) FILTER (len(input_ids) <= 32768) AS "32k", count(*) FILTER (len(input_ids) <= 65536) AS "64k",
      count(*) FILTER (len(input_ids) <= 131072) AS "128k" FROM read_parquet(${sqlString(tokenized)})`)
    assert.deepEqual(figures.tokens.fits_context, Object.fromEntries(Object.entries(fits!).map(([k, v]) => [k, Number(v)])))
    const [trainable] = await duck(`SELECT sum(len(list_filter(labels, lambda x: x != -100))) AS t, sum(len(input_ids)) AS n FROM read_parquet(${sqlString(tokenized)})`)
    assert.equal(figures.tokens.trainable_tokens.sum, Number(trainable!.t))
    const file = `read_parquet(${sqlString(tokenized)})`
    assertDistribution(figures.tokens.input_tokens, await distributionOf('len(input_ids)', file, { histogram: true }), 'input tokens')
    assertDistribution(figures.tokens.trainable_tokens, await distributionOf('len(list_filter(labels, lambda x: x != -100))', file, { histogram: true }), 'trainable tokens')
    assert.ok(Math.abs(figures.tokens.trainable_share - Number(trainable!.t) / Number(trainable!.n)) < 1e-12)
  })
})

describe('distributions at the edges', () => {
  test('no values: nulls and a zero sum, no histogram; one value repeated: one full bin', () => {
    assert.deepEqual(distribution([], { histogram: true }), { count: 0, min: null, p50: null, p90: null, p99: null, max: null, mean: null, sum: 0 })
    assert.deepEqual(histogram([]), { edges: [], counts: [] })
    assert.deepEqual(distribution([4, 4, 4], { histogram: true }).histogram, { edges: Array.from({ length: 11 }, (_, i) => 4 + i), counts: [3, 0, 0, 0, 0, 0, 0, 0, 0, 0] })
    assert.deepEqual(histogram([-3, 7, 2], 2), { edges: [-3, 2, 7], counts: [1, 2] })
  })

  test('pass@k: all runs failing but fewer than k, and every run passing', () => {
    assert.equal(passAtK(3, 3, 2), 1)
    assert.equal(passAtK(3, 2, 2), 1)
    assert.equal(passAtK(3, 0, 3), 0)
    assert.equal(passAtK(5, 1, 5), 1)
    assert.equal(passAtK(2, 0, 3), undefined)
  })
})
