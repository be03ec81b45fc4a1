/**
 * stats benchmark (not in CI): `coderforge stats --deep` on the realistic ~100 MB shard against the
 * equivalent DuckDB query (reward counts, per-task pass rate, messages and assistant-turn
 * distributions, tool calls per tool, from messages via DuckDB's JSON functions), in one run.
 *
 *   npm run build && npx tsx bench/stats.ts
 */
import { join } from 'node:path'
import { ensureFixtures, readManifest, repoDir } from '../fixtures/index.js'
import { measure, root } from './support.js'

await ensureFixtures('realistic')
const shard = readManifest('realistic').files.find((f) => f.split === 'SWE_Rebench' && f.shard === 0)!
const file = join(repoDir('realistic'), shard.path).replace(/'/g, "''")
const sql = `
WITH rows AS (
  SELECT trajectory_id, reward, license,
    regexp_replace(trajectory_id, '(_incomplete_[0-9]{8}_[0-9]{6})?_run[0-9]+$', '') AS task,
    json_array_length(messages) AS messages,
    len(list_filter(json_extract_string(messages, '$[*].role'), lambda r: r = 'assistant')) AS assistant,
    json_extract_string(messages, '$[*].tool_calls[*].function.name') AS tools
  FROM read_parquet('${file}'))
SELECT
  (SELECT histogram(reward) FROM rows) AS rewards,
  (SELECT histogram(license) FROM rows) AS licenses,
  (SELECT avg(p) FROM (SELECT avg((reward = 1)::INT) AS p FROM rows GROUP BY task)) AS pass_at_1,
  (SELECT quantile_disc(messages, [0.5, 0.9, 0.99]) FROM rows) AS messages,
  (SELECT quantile_disc(assistant, [0.5, 0.9, 0.99]) FROM rows) AS assistant,
  (SELECT histogram(t) FROM (SELECT unnest(tools) AS t FROM rows)) AS tools`
const ours = await measure('coderforge stats --deep', process.execPath, [join(root, 'bin/coderforge.cjs'), 'stats', join(repoDir('realistic'), shard.path), '--deep', '--json'])
const duck = await measure('DuckDB', process.execPath, [join(root, 'bench/duckdb-sql.mjs'), `COPY (${sql}) TO '/dev/null' (FORMAT json)`])
console.log(`stats --deep on ${shard.path} (${(shard.size / 1e6).toFixed(0)} MB, ${shard.rows} rows)`)
console.log(`  ours   ${ours.seconds.toFixed(2)} s, RSS ${ours.peakRssMb.toFixed(0)} MB`)
console.log(`  DuckDB ${duck.seconds.toFixed(2)} s, RSS ${duck.peakRssMb.toFixed(0)} MB`)
console.log(`  throughput ratio ours/DuckDB = ${(duck.seconds / ours.seconds).toFixed(2)}`)
