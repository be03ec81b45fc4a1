import assert from 'node:assert/strict'
import { statSync } from 'node:fs'
import { test } from 'node:test'
import { fileSource } from '../src/parquet/source.js'
import { compilePredicate } from '../src/query/compile.js'
import { parseWhere } from '../src/query/parse.js'
import { selectRows } from '../src/query/select.js'
import { cellAt } from '../src/parquet/intList.js'
import { closeSources, openSources, type SourceRef } from '../src/sources.js'
import { duck, sqlString } from './support/duckdb.js'

const paths = ['R2E_Gym-00000-of-00003.parquet', 'R2E_Gym-00001-of-00003.parquet'].map((name) => `fixtures/data/tiny/repo/trajectories/${name}`)
const refs: SourceRef[] = paths.map((path) => ({ name: path, origin: 'local', size: statSync(path).size, open: () => fileSource(path) }))

async function select(where: string, extra: { limit?: number } = {}) {
  const opened = openSources(refs)
  const ids: string[] = []
  try {
    const report = await selectRows(opened, {
      predicate: compilePredicate(parseWhere(where)), columns: ['trajectory_id'], ...extra,
      onMatch: async (match) => { for (const row of match.rows) ids.push(String(cellAt(match.batch!.columns.trajectory_id, row))) },
    })
    return { ids, report }
  } finally { await closeSources(opened) }
}

async function expected(where: string): Promise<string[]> {
  const rows = await duck(`select trajectory_id from read_parquet([${paths.map(sqlString).join(', ')}], file_row_number = true, filename = true) where ${where} order by filename, file_row_number`)
  return rows.map((row) => String(row.trajectory_id))
}

test('selectRows keeps the rows a phase-1 predicate matches, in shard then row order', async () => {
  const { ids, report } = await select('reward = 1')
  const want = await expected('reward = 1')
  assert.ok(want.length > 0)
  assert.deepEqual(ids, want)
  assert.equal(report.files, 2)
  assert.equal(report.rowsWritten, ids.length)
})

test('limit stops at exactly N rows', async () => {
  const { ids, report } = await select('reward >= 0', { limit: 3 })
  assert.deepEqual(ids, (await expected('reward >= 0')).slice(0, 3))
  assert.equal(report.rowsWritten, 3)
})
