import assert from 'node:assert/strict'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { parquetWriteFile } from 'hyparquet-writer'
import { readFooter } from '../src/parquet/footer.js'
import { findRow } from '../src/parquet/lookup.js'
import { fileSource } from '../src/parquet/source.js'
import { isolatedEnv, runCli, tempDir } from './support/cli.js'
import { duck, sqlString } from './support/duckdb.js'

// Keys around the surrogate range: in code-point (UTF-8 byte) order U+E000 < U+FFFD < U+1F600, while
// JavaScript's `<` on UTF-16 units puts U+1F600 (a surrogate pair, 0xD83D…) before U+E000. Sorted in byte
// order two to a row group, the middle group spans U+FFFD–U+1F600: UTF-16 order calls it empty.
const ids = ['task_a', 'task_\uE000', 'task_\u{1F600}', 'task_\u{1F601}', 'task_\uFFFD', 'task_\u{10FFFF}']

let dir: { path: string, cleanup: () => Promise<void> }
let file: string

before(async () => {
  dir = await tempDir()
  file = join(dir.path, 'astral.parquet')
  // sorted in byte order, two rows per row group; hyparquet-writer keeps min/max in byte order, as the format says
  const sorted = [...ids].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)))
  parquetWriteFile({
    filename: file,
    columnData: [
      { name: 'trajectory_id', data: sorted, type: 'STRING' },
      { name: 'reward', data: sorted.map(() => 1), type: 'DOUBLE' },
    ],
    rowGroupSize: 2,
  })
})
after(() => dir.cleanup())

describe('lookup by id with keys above U+FFFF', () => {
  test('every key is found in the row group its byte-order statistics hold, and only that one is read', async () => {
    const source = await fileSource(file)
    const metadata = await readFooter(source)
    assert.ok(metadata.row_groups.length >= 3, 'several row groups, so that statistics decide')
    const expected = await duck(`SELECT trajectory_id AS id, file_row_number AS row FROM read_parquet(${sqlString(file)}, file_row_number = true)`)
    assert.equal(expected.length, ids.length)
    for (const { id, row } of expected) {
      const found = await findRow([{ source, metadata }], 'trajectory_id', String(id))
      assert.ok(found, `${JSON.stringify(id)} is found`)
      assert.equal(found.row, Number(row), JSON.stringify(id))
      assert.equal(found.rowGroupsRead, 1, `${JSON.stringify(id)}: one row group read`)
    }
    assert.equal(await findRow([{ source, metadata }], 'trajectory_id', 'task_\u{1F602}'), undefined)
    await source.close()
  })

  test('inspect --id finds a trajectory whose id holds an emoji', async () => {
    const home = await tempDir()
    const result = await runCli(['inspect', file, '--id', 'task_\u{1F600}', '--json'], isolatedEnv(home.path, { HF_HUB_OFFLINE: '1' }))
    await home.cleanup()
    assert.equal(result.code, 0, result.stderr)
    assert.equal(JSON.parse(result.stdout.trim().split('\n')[0]!).trajectory_id, 'task_\u{1F600}')
  })
})
