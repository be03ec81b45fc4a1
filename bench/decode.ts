/**
 * Decode benchmark (issue 12; not in CI): local reads of the realistic-tokenized fixtures (both configs;
 * SWE_Smith as `datasets` 5.x writes it, snappy with UNCOMPRESSED list leaves, R2E_Gym in zstd; ~100 MB
 * row groups; SWE_Rebench as the published shards are, one snappy row group per shard and no page
 * index), against DuckDB at the same thread count (and polars when it is installed), in one run:
 *   - filter --reward 1 → JSONL, each config and codec;
 *   - export --format parquet (Parquet → Parquet);
 *   - stats --deep, against the equivalent DuckDB query.
 * For each: time ratio DuckDB ÷ ours (≥ 1 means ours is faster; targets from the issue), peak RSS of ours
 * above an idle node ÷ the largest row group uncompressed (target ≤ 2×), and a check that the outputs hold
 * the same rows (count and an order-free hash of every column, computed by DuckDB on both outputs).
 * `--runs N` (default 3) runs ours and DuckDB alternately N times each: the median time, the highest RSS.
 * `--quick` runs on the tiny fixtures to show the bench works (its figures mean nothing).
 *
 *   npm run build && npx tsx bench/decode.ts [--quick] [--runs 3] [--threads 2] [--ours="--threads 2 --memory 1GB"] [--install-peers]
 */
import { readdir, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { DuckDBInstance } from '@duckdb/node-api'
import { configs, ensureFixtures, repoDir, type ConfigName } from '../fixtures/index.js'
import { polarsPeer } from './polars.js'
import { alternating, check, duckdb, idleNodeRssMb, footerSummary, measure, ours, ratio, sqlString, timing, workDir, type Measurement } from './support.js'

const { values } = parseArgs({ options: {
  quick: { type: 'boolean', default: false },
  threads: { type: 'string', default: '2' },
  runs: { type: 'string', default: '3' },
  ours: { type: 'string', default: '' },
  'install-peers': { type: 'boolean', default: false },
} })
const threads = Number(values.threads)
const runs = values.quick ? 1 : Number(values.runs)
const extra = values.ours!.split(' ').filter(Boolean)
const profile = values.quick ? 'tiny' : 'realistic-tokenized'
const manifest = await ensureFixtures(profile)
const work = await workDir()
const db = await (await DuckDBInstance.create(':memory:', { threads: String(threads), autoinstall_known_extensions: 'false' })).connect()
const query = async (sql: string) => (await db.runAndReadAll(sql)).getRowObjectsJson()
const polars = polarsPeer(values['install-peers']!)
const idle = await idleNodeRssMb()

/** Every column of a config, with casts so JSON and Parquet readings of the same rows hash alike. */
const fingerprintColumns: Record<ConfigName, string> = {
  [configs.trajectories]: 'trajectory_id, finish_reason, image, messages, reward::DOUBLE, tools, license',
  [configs.tokenized]: 'trajectory_id, reward::DOUBLE, chat_template_applied, input_ids::BIGINT[], labels::BIGINT[]',
}
/** Row count and an order-free hash of every row, as DuckDB reads a JSONL or Parquet output. */
async function fingerprint(config: ConfigName, from: string): Promise<string> {
  const [row] = await query(`SELECT count(*) AS n, bit_xor(hash(${fingerprintColumns[config]})) AS h FROM ${from}`)
  return `${row!.n} rows, hash ${row!.h}`
}
const jsonl = (path: string) => `read_json(${sqlString(path)}, format = 'newline_delimited', maximum_object_size = 1073741824)`
const parquet = (paths: string[]) => `read_parquet([${paths.map(sqlString).join(', ')}])`

/** Print ours against DuckDB: times, the ratio, memory against the row group. */
function compare(title: string, oursResult: Measurement, duck: Measurement, rowGroupMb: number, target: number, moonshot?: number) {
  console.log(`\n${title}`)
  const above = oursResult.peakRssMb - idle
  timing(oursResult, `${above.toFixed(0)} MB above an idle node`)
  timing(duck)
  ratio('DuckDB time / ours (throughput ratio)', duck.seconds, oursResult.seconds, { op: '>=', value: target })
  if (moonshot) console.log(`  (moonshot: ≥ ${moonshot.toFixed(2)}×)`)
  ratio(`ours' RSS above idle node / largest row group (${rowGroupMb.toFixed(rowGroupMb < 10 ? 2 : 0)} MB uncompressed)`, above, rowGroupMb, { op: '<=', value: 2 })
}

const inputs = (config: ConfigName, split: string) => manifest.files.filter((f) => f.config === config && f.split === split)
  .sort((a, b) => a.shard - b.shard).map((f) => join(repoDir(profile), f.path))
const splits = ['SWE_Smith', 'R2E_Gym', 'SWE_Rebench'] as const
const targets: Record<ConfigName, [number, number]> = { [configs.tokenized]: [1, 1.5], [configs.trajectories]: [1.5, 2] }

try {
  if (values.quick) console.log('--quick: tiny fixtures, to show the bench works; its figures mean nothing')
  console.log(`${profile} fixtures; DuckDB threads = ${threads}; ${runs} runs each, alternating (median time, highest RSS); ours: ${extra.length ? extra.join(' ') : 'default flags'}; idle node ${idle.toFixed(0)} MB`)
  for (const config of [configs.tokenized, configs.trajectories]) {
    for (const split of splits) {
      const files = inputs(config, split)
      const footer = await footerSummary(files)
      const rowGroupMb = footer.largestRowGroupBytes / 1e6
      const oursOut = join(work.path, `ours-${config}-${split}.jsonl`)
      const duckOut = join(work.path, `duck-${config}-${split}.jsonl`)
      const [oursResult, duck] = await alternating(runs, [
        () => ours('coderforge filter --reward 1', ['filter', ...files, '--reward', '1', '-o', oursOut, '--quiet', ...extra]),
        () => duckdb('DuckDB COPY … WHERE reward = 1 → JSON', `COPY (SELECT * FROM ${parquet(files)} WHERE reward = 1) TO ${sqlString(duckOut)} (FORMAT json)`, threads),
      ]) as [Measurement, Measurement]
      compare(`filter → JSONL: ${config} ${split} (${footer.codecs}), ${files.length} shards`, oursResult, duck, rowGroupMb, ...targets[config])
      const [a, b] = [await fingerprint(config, jsonl(oursOut)), await fingerprint(config, jsonl(duckOut))]
      check('same rows as DuckDB', a === b, a === b ? a : `ours ${a}, DuckDB ${b}`)
      if ('command' in polars) await polarsFilter(files, oursResult)
    }
  }
  if ('missing' in polars) console.log(`\npolars: ${polars.missing}`)

  for (const config of [configs.tokenized, configs.trajectories]) {
    const files = inputs(config, 'SWE_Smith')
    const rowGroupMb = (await footerSummary(files)).largestRowGroupBytes / 1e6
    const out = join(work.path, `export-${config}`)
    const duckOut = join(work.path, `duck-${config}.parquet`)
    // a rerun into the same folder would keep the shards already there: each run writes afresh
    const fresh = async () => {
      await rm(out, { recursive: true, force: true })
      return ours('coderforge export --format parquet', ['export', ...files, '--format', 'parquet', '--out', out, '--quiet', ...extra])
    }
    const [oursResult, duck] = await alternating(runs, [
      fresh,
      () => duckdb('DuckDB COPY … TO parquet', `COPY (SELECT * FROM ${parquet(files)}) TO ${sqlString(duckOut)} (FORMAT parquet)`, threads),
    ]) as [Measurement, Measurement]
    compare(`Parquet → Parquet export: ${config} SWE_Smith, ${files.length} shards`, oursResult, duck, rowGroupMb, 1)
    const written = (await readdir(out, { recursive: true })).filter((path) => path.endsWith('.parquet')).map((path) => join(out, path))
    const [a, b, source] = [await fingerprint(config, parquet(written)), await fingerprint(config, parquet([duckOut])), await fingerprint(config, parquet(files))]
    check('same rows as DuckDB and as the source', a === b && a === source, a === b ? a : `ours ${a}, DuckDB ${b}, source ${source}`)
  }

  for (const split of splits) {
    const files = inputs(configs.trajectories, split)
    const rowGroupMb = (await footerSummary(files)).largestRowGroupBytes / 1e6
    const [oursResult, duck] = await alternating(runs, [
      () => ours('coderforge stats --deep', ['stats', ...files, '--deep', '--json', ...extra], { capture: true }),
      () => duckdb('DuckDB: the same statistics', `COPY (${deepStatsSql(files)}) TO '/dev/null' (FORMAT json)`, threads),
    ]) as [Measurement, Measurement]
    compare(`stats --deep: trajectories ${split}, ${files.length} shards`, oursResult, duck, rowGroupMb, 1.5)
    const [only] = Object.values((JSON.parse(oursResult.stdout!) as { splits: Record<string, StatsSummary> }).splits)
    const [expected] = await query(`SELECT count(*) AS n, count(*) FILTER (WHERE reward = 1) AS solved,
      sum(len(json_extract_string(messages, '$[*].tool_calls[*].function.name'))) AS tool_calls FROM ${parquet(files)}`)
    const mine = { n: only!.rows.rows, solved: only!.rows.reward.counts['1.0'] ?? 0, tool_calls: only!.rows.deep?.tool_calls.sum }
    const theirs = { n: Number(expected!.n), solved: Number(expected!.solved), tool_calls: Number(expected!.tool_calls) }
    check('rows, reward = 1 and tool calls agree with DuckDB', JSON.stringify(mine) === JSON.stringify(theirs), `ours ${JSON.stringify(mine)}, DuckDB ${JSON.stringify(theirs)}`)
  }
} finally {
  db.closeSync()
  await work.cleanup()
}

/** The parts of `stats --json` the bench checks. */
interface StatsSummary {
  rows: { rows: number, reward: { counts: Record<string, number> }, deep?: { tool_calls: { sum: number } } }
}

/** Reward counts, pass@1 per task, messages and assistant-turn distributions, tool calls per tool: what stats --deep computes. */
function deepStatsSql(files: string[]): string {
  return `
WITH rows AS (
  SELECT trajectory_id, reward, license,
    regexp_replace(trajectory_id, '(_incomplete_[0-9]{8}_[0-9]{6})?_run[0-9]+$', '') AS task,
    json_array_length(messages) AS messages,
    len(list_filter(json_extract_string(messages, '$[*].role'), lambda r: r = 'assistant')) AS assistant,
    json_extract_string(messages, '$[*].tool_calls[*].function.name') AS tools
  FROM ${parquet(files)})
SELECT
  (SELECT histogram(reward) FROM rows) AS rewards,
  (SELECT histogram(license) FROM rows) AS licenses,
  (SELECT avg(p) FROM (SELECT avg((reward = 1)::INT) AS p FROM rows GROUP BY task)) AS pass_at_1,
  (SELECT quantile_disc(messages, [0.5, 0.9, 0.99]) FROM rows) AS messages,
  (SELECT quantile_disc(assistant, [0.5, 0.9, 0.99]) FROM rows) AS assistant,
  (SELECT histogram(t) FROM (SELECT unnest(tools) AS t FROM rows)) AS tools`
}

/** polars' lazy filter → NDJSON on the same files and threads, when polars is installed. */
async function polarsFilter(files: string[], oursResult: Measurement) {
  if (!('command' in polars)) return
  const out = join(work.path, 'polars.jsonl')
  const result = await measure(`polars (${polars.engine}) scan → filter → sink_ndjson`, polars.command, polars.args(out, files), { env: { POLARS_MAX_THREADS: String(threads) } })
  timing(result)
  ratio('polars time / ours', result.seconds, oursResult.seconds)
}
