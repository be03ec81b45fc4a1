import assert from 'node:assert/strict'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { generateDataset, profiles, readManifest, repoDir } from '../fixtures/index.js'
import { passAtK } from '../src/stats/distribution.js'
import { startHub, type HubEmulator } from './support/emulator/index.js'
import { isolatedEnv, runCli, tempDir } from './support/cli.js'
import { duck, sqlString } from './support/duckdb.js'

const repo = 'togethercomputer/CoderForge-Preview'
const bigRepo = 'acme/coderforge-big-shards'
let hub: HubEmulator
let home: { path: string, cleanup: () => Promise<void> }
let big: { path: string, cleanup: () => Promise<void> }
let env: NodeJS.ProcessEnv

before(async () => {
  big = await tempDir()
  // shards of several MB, so that a footer read is a small part of one, as with the real 20–100 MB shards
  await generateDataset({
    outDir: big.path,
    profile: { ...profiles.tiny!, name: 'big', shards: 2, tasks: { SWE_Rebench: 6, SWE_Smith: 1, R2E_Gym: 1 }, messageBytes: [700_000, 900_000], hugeRow: false, tokenized: false },
  })
  hub = await startHub({ repos: [{ id: repo, dir: repoDir('tiny') }, { id: bigRepo, dir: join(big.path, 'repo') }] })
  home = await tempDir()
  env = isolatedEnv(home.path, { HF_ENDPOINT: hub.endpoint })
})
after(async () => {
  await hub.close()
  await home.cleanup()
  await big.cleanup()
})

const glob = (config: string, split: string) => sqlString(join(repoDir('tiny'), config, `${split}-*.parquet`))
const taskSql = `regexp_replace(trajectory_id, '(_incomplete_[0-9]{8}_[0-9]{6})?_run[0-9]+$', '')`

async function stats(args: string[]) {
  const result = await runCli(['stats', ...args, '--json'], env)
  assert.equal(result.code, 0, result.stderr)
  return JSON.parse(result.stdout)
}

describe('stats', () => {
  test('rewards, finish reasons, licenses, tasks and pass rates equal DuckDB\'s aggregates', async () => {
    const parsed = await stats(['--split', 'SWE_Smith,R2E_Gym'])
    for (const split of ['SWE_Smith', 'R2E_Gym']) {
      const { rows, footer } = parsed.splits[split]
      const source = glob('trajectories', split)
      const rewards = await duck(`SELECT printf('%.1f', reward) AS k, count(*) AS n FROM read_parquet(${source}) GROUP BY 1`)
      assert.deepEqual(rows.reward.counts, Object.fromEntries(rewards.map((r) => [r.k, Number(r.n)])))
      const [mean] = await duck(`SELECT avg(reward) AS m, count(*) AS n FROM read_parquet(${source})`)
      assert.ok(Math.abs(rows.reward.mean - Number(mean!.m)) < 1e-12)
      assert.equal(rows.rows, Number(mean!.n))
      assert.equal(footer.rows, Number(mean!.n))
      for (const column of ['finish_reason', 'license']) {
        const counts = await duck(`SELECT ${column} AS k, count(*) AS n FROM read_parquet(${source}) GROUP BY 1`)
        assert.deepEqual(rows[column], Object.fromEntries(counts.map((r) => [r.k, Number(r.n)])))
      }
      const tasks = await duck(`SELECT ${taskSql} AS task, count(*) AS n, count(*) FILTER (reward = 1) AS c FROM read_parquet(${source}) GROUP BY 1`)
      assert.equal(rows.tasks.count, tasks.length)
      const passAt1 = tasks.reduce((sum, t) => sum + Number(t.c) / Number(t.n), 0) / tasks.length
      assert.ok(Math.abs(rows.tasks.pass_at_1 - passAt1) < 1e-12)
      const [pass2] = await duck(`SELECT avg(1 - ((n - c) * (n - c - 1)) / (n * (n - 1))) AS v FROM
        (SELECT count(*)::DOUBLE AS n, (count(*) FILTER (reward = 1))::DOUBLE AS c FROM read_parquet(${source}) GROUP BY ${taskSql}) WHERE n >= 2`)
      assert.ok(Math.abs(rows.tasks.pass_at_k['pass@2'].value - Number(pass2!.v)) < 1e-12)
      assert.equal(rows.tasks.solved, tasks.filter((t) => Number(t.c) > 0).length)
    }
  })

  test('pass@k is the unbiased estimator', () => {
    assert.equal(passAtK(8, 0, 1), 0)
    assert.equal(passAtK(8, 8, 4), 1)
    assert.ok(Math.abs(passAtK(4, 1, 1)! - 0.25) < 1e-12)
    assert.ok(Math.abs(passAtK(4, 1, 2)! - 0.5) < 1e-12)
    assert.equal(passAtK(2, 1, 4), undefined)
  })

  test('--deep: messages, assistant turns and tool calls per tool equal DuckDB\'s JSON functions', async () => {
    const parsed = await stats(['--split', 'SWE_Rebench', '--deep'])
    const { deep } = parsed.splits.SWE_Rebench.rows
    const source = glob('trajectories', 'SWE_Rebench')
    const [counts] = await duck(`SELECT quantile_disc(json_array_length(messages), 0.5) AS p50, max(json_array_length(messages)) AS mx,
      sum(len(list_filter(json_extract_string(messages, '$[*].role'), lambda r: r = 'assistant'))) AS assistant
      FROM read_parquet(${source})`)
    assert.equal(deep.messages.p50, Number(counts!.p50))
    assert.equal(deep.messages.max, Number(counts!.mx))
    assert.equal(deep.assistant_turns.sum, Number(counts!.assistant))
    const tools = await duck(`SELECT name, count(*) AS n FROM (SELECT unnest(json_extract_string(messages, '$[*].tool_calls[*].function.name')) AS name
      FROM read_parquet(${source})) GROUP BY 1`)
    assert.deepEqual(Object.fromEntries(Object.entries(deep.tool_calls_by_tool).map(([tool, v]) => [tool, (v as { total: number }).total])),
      Object.fromEntries(tools.map((t) => [t.name, Number(t.n)])))
  })

  test('--deep with messages summarised on two threads: every figure equals one thread\'s', async () => {
    const figures = async (flags: string[]) => (await stats(['--split', 'SWE_Rebench,SWE_Smith', '--deep', ...flags])).splits
    const one = await figures(['--threads', '1'])
    assert.ok(one.SWE_Rebench.rows.deep.messages.count > 0)
    assert.deepEqual(await figures(['--threads', '2']), one)
  })

  test('tokenized config: token and trainable-token counts and context fit equal DuckDB\'s', async () => {
    const parsed = await stats(['--split', 'SWE_Rebench', '--config', 'tokenized'])
    const { tokens } = parsed.splits.SWE_Rebench.rows
    const [expected] = await duck(`SELECT sum(len(input_ids)) AS t, sum(len(list_filter(labels, lambda x: x != -100))) AS tr,
      quantile_disc(len(input_ids), 0.9) AS p90, count(*) FILTER (len(input_ids) <= 32768) AS fit
      FROM read_parquet(${glob('trajectories-tokenized_qwencoder', 'SWE_Rebench')})`)
    assert.equal(tokens.input_tokens.sum, Number(expected!.t))
    assert.equal(tokens.trainable_tokens.sum, Number(expected!.tr))
    assert.equal(tokens.input_tokens.p90, Number(expected!.p90))
    assert.equal(tokens.fits_context['32k'], Number(expected!.fit))
    assert.ok(tokens.trainable_tokens.min === 0, 'the all-masked row counts zero trainable tokens')
  })

  test('without --deep a remote split costs under 2% of its bytes (footers and small columns)', async () => {
    hub.clearLog()
    const parsed = await stats(['--repo', bigRepo, '--split', 'SWE_Rebench'])
    const total = parsed.splits.SWE_Rebench.footer.bytes
    const sent = hub.requests.filter((r) => r.origin === 'cdn').reduce((sum, r) => sum + r.bytesSent, 0)
    assert.equal(parsed.bytes_fetched, sent)
    assert.ok(sent / total < 0.02, `fetched ${sent} of ${total} bytes (${((sent / total) * 100).toFixed(2)}%)`)
    const manifest = readManifest('tiny')
    assert.ok(manifest.files.length > 0)
  })

  test('human and Markdown output', async () => {
    const human = await runCli(['stats', '--split', 'R2E_Gym', '--deep'], env)
    assert.equal(human.code, 0, human.stderr)
    assert.match(human.stdout, /^R2E_Gym\n {2}\d+ shards · \d+ rows/)
    assert.match(human.stdout, /pass@1 \d\.\d{3}/)
    assert.match(human.stdout, /assistant turns +\d+/)
    const markdown = await runCli(['stats', '--split', 'R2E_Gym,SWE_Smith', '--markdown'], env)
    assert.match(markdown.stdout, /^\| \| SWE_Smith \| R2E_Gym \|\n\|---\|---:\|---:\|\n\| rows \|/)
  })
})

describe('figures that do not depend on the order rows arrive in', () => {
  test('pass@k and every other figure are the same whichever shard is folded in first', async () => {
    const { statsAccumulator } = await import('../src/stats/accumulate.js')
    const { repoOf, summarizeCell, taskOf } = await import('../src/trajectory/messages.js')
    // 300 tasks of 3 to 9 runs with pass rates whose float sums depend on the order they are added in
    const batches = Array.from({ length: 6 }, (_, b) => {
      const ids: string[] = []
      const rewards: number[] = []
      for (let task = b; task < 300; task += 6) {
        for (let run = 1; run <= 3 + (task % 7); run++) {
          ids.push(`owner__repo-${task}_run${run}`)
          rewards.push((task * 7 + run * 3) % 5 < 2 ? 1 : 0)
        }
      }
      return { columns: { trajectory_id: ids, reward: rewards }, numRows: ids.length }
    })
    const fold = (order: typeof batches) => {
      const accumulator = statsAccumulator({ taskOf, repoOf, summarizeCell }, {})
      for (const batch of order) accumulator.add(batch)
      return accumulator.result()
    }
    const forward = fold(batches)
    assert.ok(forward.tasks!.pass_at_k['pass@2']!.tasks === 300)
    assert.deepEqual(fold([...batches].reverse()), forward)
    assert.deepEqual(fold([batches[3]!, batches[0]!, batches[5]!, batches[1]!, batches[4]!, batches[2]!]), forward)
  })
})
