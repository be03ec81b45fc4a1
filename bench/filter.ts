/**
 * Filter and export benchmark (not in CI), in one run on the realistic ~100 MB one-row-group shard:
 *   - filter --reward 1 → JSONL, against DuckDB COPY … WHERE reward = 1 TO x.jsonl
 *   - export --format parquet, against DuckDB COPY … TO x.parquet
 *   - a selective remote filter through the emulator: bytes fetched against the split's size
 * Prints time ratios (DuckDB time / ours: ≥ 1 means we are faster) and peak RSS.
 *
 *   npm run build && npx tsx bench/filter.ts
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ensureFixtures, readManifest, repoDir } from '../fixtures/index.js'
import { startHub } from '../test/support/emulator/index.js'
import { measure, root } from './support.js'
import { DuckDBInstance } from '@duckdb/node-api'

await ensureFixtures('realistic')
const manifest = readManifest('realistic')
const shard = manifest.files.find((f) => f.split === 'SWE_Rebench' && f.shard === 0)!
const file = join(repoDir('realistic'), shard.path)
const work = await mkdtemp(join(tmpdir(), 'coderforge-bench-'))
const cli = join(root, 'bin/coderforge.cjs')
const duck = join(root, 'bench/duckdb-sql.mjs')
const sql = (text: string) => text.replace(/'/g, "''")
try {
  const db = await (await DuckDBInstance.create(':memory:')).connect()
  const [meta] = (await db.runAndReadAll(`SELECT max(u) AS u FROM (SELECT sum(total_uncompressed_size) AS u FROM parquet_metadata('${sql(file)}') GROUP BY row_group_id)`)).getRowObjectsJson()
  const rowGroupMb = Number(meta!.u) / 1e6
  console.log(`shard ${shard.path}: ${(shard.size / 1e6).toFixed(1)} MB snappy, ${shard.rows} rows, largest row group ${rowGroupMb.toFixed(0)} MB uncompressed`)

  const row = (name: string, ours: { seconds: number, peakRssMb: number }, peer: { seconds: number, peakRssMb: number }) => {
    console.log(`  ${name.padEnd(34)} ours ${ours.seconds.toFixed(2)} s (${(shard.size / 1e6 / ours.seconds).toFixed(0)} MB/s, RSS ${ours.peakRssMb.toFixed(0)} MB = ${(ours.peakRssMb / rowGroupMb).toFixed(2)}× row group)` +
      `   DuckDB ${peer.seconds.toFixed(2)} s (RSS ${peer.peakRssMb.toFixed(0)} MB)   throughput ratio ours/DuckDB = ${(peer.seconds / ours.seconds).toFixed(2)}`)
  }
  const filterOurs = await measure('filter', process.execPath, [cli, 'filter', file, '--reward', '1', '-o', join(work, 'ours.jsonl'), '--quiet'])
  const filterDuck = await measure('duckdb', process.execPath, [duck, `COPY (SELECT * FROM read_parquet('${sql(file)}') WHERE reward = 1) TO '${sql(join(work, 'duck.jsonl'))}' (FORMAT json)`])
  row('filter --reward 1 → JSONL', filterOurs, filterDuck)
  const lines = (await readFile(join(work, 'ours.jsonl'), 'utf8')).split('\n').length - 1
  const duckLines = (await readFile(join(work, 'duck.jsonl'), 'utf8')).split('\n').length - 1
  console.log(`    rows: ours ${lines}, DuckDB ${duckLines}`)
  const exportOurs = await measure('export', process.execPath, [cli, 'export', file, '--format', 'parquet', '--out', join(work, 'export'), '--quiet'])
  const exportDuck = await measure('duckdb', process.execPath, [duck, `COPY (SELECT * FROM read_parquet('${sql(file)}')) TO '${sql(join(work, 'duck.parquet'))}' (FORMAT parquet)`])
  row('export --format parquet', exportOurs, exportDuck)

  // remote: one task's trajectories out of the SWE_Smith split
  const hub = await startHub({ repos: [{ id: 'togethercomputer/CoderForge-Preview', dir: repoDir('realistic') }] })
  try {
    const smith = manifest.files.filter((f) => f.split === 'SWE_Smith')
    const [first] = (await db.runAndReadAll(`SELECT trajectory_id FROM read_parquet('${sql(join(repoDir('realistic'), smith[1]!.path))}') LIMIT 1`)).getRowObjectsJson()
    const task = String(first!.trajectory_id).replace(/_run\d+$/, '')
    const total = smith.reduce((sum, f) => sum + f.size, 0)
    await measure('remote', process.execPath, [cli, 'filter', '--split', 'SWE_Smith', '--id', `${task}_run*`, '-o', join(work, 'task.jsonl'), '--quiet'], { env: { HF_ENDPOINT: hub.endpoint, HF_HOME: join(work, 'hf') } })
    const fetched = hub.requests.filter((r) => r.origin === 'cdn').reduce((sum, r) => sum + r.bytesSent, 0)
    console.log(`  remote filter of one task (${task}) in SWE_Smith: fetched ${(fetched / 1e6).toFixed(1)} MB of ${(total / 1e6).toFixed(0)} MB = ${(total / fetched).toFixed(1)}× fewer bytes than downloading the split`)
  } finally {
    await hub.close()
  }
} finally {
  await rm(work, { recursive: true, force: true })
}
