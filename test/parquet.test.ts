import assert from 'node:assert/strict'
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { readOffsetIndex, type ColumnChunk } from 'hyparquet'
import { describe, test } from 'node:test'
import { snappyCompress } from 'hyparquet-writer/src/snappy.js'
import { parquetHeader } from 'hyparquet/src/column.js'
import { readManifest, repoDir } from '../fixtures/index.js'
import { withListRowsCutAcrossPages } from '../fixtures/pageVersion.js'
import { describeFile } from '../src/parquet/describe.js'
import { readFooter, footerGuess } from '../src/parquet/footer.js'
import { findRow } from '../src/parquet/lookup.js'
import { walkPageLocations } from '../src/parquet/pageWalk.js'
import { batchRows, chunkRanges, columnNames, decodePieceBytes, readBatches, readPieces, type PieceBytes, type RowBatch } from '../src/parquet/rows.js'
import { cellAt } from '../src/parquet/intList.js'
import { memoryBudget } from '../src/fetch/budget.js'
import { fileSource, withHeldBytes, type ByteSource } from '../src/parquet/source.js'
import { parseMessages, repoOf, runOf, summarizeMessages, taskOf } from '../src/trajectory/messages.js'
import { duck, sqlString } from './support/duckdb.js'

const manifest = readManifest('tiny')
const pathOf = (file: string) => join(repoDir('tiny'), file)
// one file of every layout variant: one/several row groups, snappy/zstd, page index, tokenized lists
const variants = ['SWE_Rebench', 'SWE_Smith', 'R2E_Gym', 'filtered_reward1'].flatMap((split) =>
  manifest.files.filter((f) => f.split === split && f.shard === 0))

/** A ByteSource that counts what it was asked for. */
async function countingSource(path: string) {
  const inner = await fileSource(path)
  const reads: [number, number][] = []
  const source: ByteSource = { ...inner, name: inner.name, byteLength: inner.byteLength, slice: (start, end) => { reads.push([start, end ?? inner.byteLength]); return inner.slice(start, end) } }
  return { source, reads, close: () => inner.close() }
}

describe('parquet reader', () => {
  test('the footer is read with one tail request', async () => {
    for (const file of variants) {
      const { source, reads, close } = await countingSource(pathOf(file.path))
      const metadata = await readFooter(source)
      assert.equal(Number(metadata.num_rows), file.rows)
      assert.equal(reads.length, 1)
      assert.deepEqual(reads[0], [Math.max(0, file.size - footerGuess), file.size])
      await close()
    }
  })

  test('describe matches DuckDB\'s view of row groups, codecs and types', async () => {
    for (const file of variants) {
      const source = await fileSource(pathOf(file.path))
      const description = describeFile(file.path, file.size, await readFooter(source))
      await source.close()
      const groups = await duck(`SELECT row_group_id, any_value(row_group_num_rows) AS rows, any_value(compression) AS codec
        FROM parquet_metadata(${sqlString(pathOf(file.path))}) GROUP BY row_group_id ORDER BY row_group_id`)
      assert.deepEqual(description.row_groups.map((g) => g.rows), groups.map((g) => Number(g.rows)))
      assert.equal(description.row_groups.length, file.rowGroups)
      assert.deepEqual([...new Set(description.columns.flatMap((c) => c.codecs))], [file.codec])
      const types = await duck(`SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM read_parquet(${sqlString(pathOf(file.path))}))`)
      const duckType: Record<string, string> = { string: 'VARCHAR', double: 'DOUBLE', 'list<int32>': 'INTEGER[]', 'list<int64>': 'BIGINT[]' }
      assert.deepEqual(description.columns.map((c) => [c.name, duckType[c.type]]), types.map((t) => [t.column_name, t.column_type]))
    }
  })

  test('every value of every layout equals what DuckDB reads', async () => {
    for (const file of manifest.files.filter((f) => f.shard === 0)) {
      const source = await fileSource(pathOf(file.path))
      const metadata = await readFooter(source)
      const rows: Record<string, unknown>[] = []
      for await (const batch of readBatches(source, metadata)) rows.push(...toJsonRows(batch))
      await source.close()
      const expected = await duck(`SELECT * FROM read_parquet(${sqlString(pathOf(file.path))})`)
      assert.equal(rows.length, expected.length, file.path)
      for (const [i, row] of rows.entries()) {
        for (const [key, value] of Object.entries(expected[i]!)) {
          const actual = row[key]
          if (Array.isArray(value)) assert.deepEqual((actual as unknown[]).map(Number), value.map(Number), `${file.path} row ${i} ${key}`)
          else if (typeof value === 'number') assert.equal(actual, value, `${file.path} row ${i} ${key}`)
          else assert.equal(actual, value, `${file.path} row ${i} ${key}`)
        }
      }
    }
  })

  test('raw strings come back as UTF-8 bytes of the same text', async () => {
    const file = variants.find((f) => f.config === 'trajectories' && f.split === 'SWE_Rebench')!
    const source = await fileSource(pathOf(file.path))
    const metadata = await readFooter(source)
    const [text] = await collect(readBatches(source, metadata, { columns: ['messages'] }))
    const [raw] = await collect(readBatches(source, metadata, { columns: ['messages'], rawStrings: true }))
    await source.close()
    assert.ok(cellAt(raw!.columns.messages, 0) instanceof Uint8Array)
    assert.equal(new TextDecoder().decode(cellAt(raw!.columns.messages, 0) as Uint8Array), cellAt(text!.columns.messages, 0))
  })

  test('raw strings for the columns named only (stats scans messages from its bytes; ids stay text)', async () => {
    const file = variants.find((f) => f.config === 'trajectories' && f.split === 'SWE_Rebench')!
    const source = await fileSource(pathOf(file.path))
    const metadata = await readFooter(source)
    const [text] = await collect(readBatches(source, metadata, { columns: ['trajectory_id', 'messages'] }))
    const [mixed] = await collect(readBatches(source, metadata, { columns: ['trajectory_id', 'messages'], rawStrings: ['messages'] }))
    await source.close()
    assert.deepEqual(Object.keys(mixed!.columns), ['trajectory_id', 'messages'], 'schema order, whichever read decoded a column')
    for (let row = 0; row < mixed!.numRows; row++) {
      assert.equal(cellAt(mixed!.columns.trajectory_id, row), cellAt(text!.columns.trajectory_id, row))
      const bytes = cellAt(mixed!.columns.messages, row)
      assert.ok(bytes instanceof Uint8Array)
      assert.equal(new TextDecoder().decode(bytes), cellAt(text!.columns.messages, row))
    }
  })

  test('streaming holds at most two row groups: the one being read and the next being fetched', async () => {
    const file = manifest.files.find((f) => f.config === 'trajectories' && f.split === 'SWE_Smith' && f.rowGroups >= 3)!
    const source = await fileSource(pathOf(file.path))
    const metadata = await readFooter(source)
    let fetched = 0
    let consumed = 0
    let most = 0
    for await (const batch of readBatches(source, metadata, { onFetch: () => { fetched++; most = Math.max(most, fetched - consumed) } })) {
      assert.ok(batch.numRows > 0)
      consumed++
    }
    await source.close()
    assert.equal(consumed, file.rowGroups)
    assert.equal(most, 2, 'one row group decoded while the next one is fetched, never more')
  })

  test('a row group larger than the slice budget is read in row slices through its offset index', async () => {
    const file = manifest.files.find((f) => f.config === 'trajectories' && f.split === 'SWE_Smith' && f.shard === 0)!
    const source = await fileSource(pathOf(file.path))
    const metadata = await readFooter(source)
    const slices = await collect(readBatches(source, metadata, { sliceBytes: 8_000 }))
    await source.close()
    assert.ok(slices.length > file.rowGroups, `${slices.length} slices for ${file.rowGroups} row groups`)
    const ids = slices.flatMap((batch) => batch.columns.trajectory_id!)
    const messages = slices.flatMap((batch) => batch.columns.messages!)
    const expected = await duck(`SELECT trajectory_id, messages FROM read_parquet(${sqlString(pathOf(file.path))})`)
    assert.deepEqual(ids, expected.map((row) => row.trajectory_id))
    assert.deepEqual(messages, expected.map((row) => row.messages))
  })

  test('a slice sent to a decoding thread carries its own pages, not its row group', async () => {
    const file = manifest.files.find((f) => f.config === 'trajectories' && f.split === 'SWE_Smith' && f.shard === 0)!
    const source = await fileSource(pathOf(file.path))
    const metadata = await readFooter(source)
    const decoded: { ids: unknown[], messages: unknown[] } = { ids: [], messages: [] }
    let slices = 0
    // per row group: its slices, and the bytes they carry together
    const carried = new Map<number, { slices: number, bytes: number }>()
    for await (const piece of readPieces(source, metadata, { sliceBytes: 8_000 })) {
      if (piece.piece.sliced) {
        slices++
        const group = carried.get(piece.piece.rowGroup) ?? { slices: 0, bytes: 0 }
        group.slices++
        group.bytes += piece.spans.reduce((sum, span) => sum + span.bytes.byteLength, 0)
        carried.set(piece.piece.rowGroup, group)
      }
      const columns = await decodePieceBytes(metadata, columnNames(metadata), piece)
      for (let i = 0; i < piece.piece.end - piece.piece.start; i++) {
        decoded.ids.push(columns.trajectory_id![i as never])
        decoded.messages.push(columns.messages![i as never])
      }
    }
    await source.close()
    assert.ok(slices > file.rowGroups, `${slices} slices`)
    for (const [group, { slices, bytes }] of carried) {
      const whole = chunkRanges(metadata, group, columnNames(metadata)).reduce((sum, [a, b]) => sum + b - a, 0)
      // each page goes to one slice (a dictionary and the indexes to all): far from a copy of the group per slice
      if (slices >= 3) assert.ok(bytes < whole * 1.6, `row group ${group}: ${slices} slices carry ${bytes} bytes of its ${whole}`)
    }
    assert.ok([...carried.values()].some((group) => group.slices >= 3), 'some row group has three slices or more')
    const expected = await duck(`SELECT trajectory_id, messages FROM read_parquet(${sqlString(pathOf(file.path))})`)
    assert.deepEqual(decoded.ids, expected.map((row) => row.trajectory_id))
    assert.deepEqual(decoded.messages, expected.map((row) => row.messages))
  })

  test('page locations walked from the headers are the writer\'s own offset index, V2 list<int> pages too; V1 list pages through their levels; none for wrong row counts or a damaged header', async () => {
    let compared = 0
    let lists = 0
    for (const file of manifest.files.filter((f) => f.split === 'SWE_Smith')) {
      const source = await fileSource(pathOf(file.path))
      const metadata = await readFooter(source)
      for (const group of metadata.row_groups) {
        for (const chunk of group.columns) {
          const walked = await walkPageLocations(source, metadata, chunk, Number(group.num_rows))
          assert.ok(walked, `${file.path} ${chunk.meta_data!.path_in_schema.join('.')}`)
          assert.equal(await walkPageLocations(source, metadata, chunk, Number(group.num_rows) + 1), undefined, 'rows that do not add up')
          if (chunk.offset_index_offset === undefined) continue
          const index = new Uint8Array(await source.slice(Number(chunk.offset_index_offset), Number(chunk.offset_index_offset) + chunk.offset_index_length!))
          assert.deepEqual(walked, readOffsetIndex({ view: new DataView(index.buffer), offset: 0 }).page_locations)
          compared++
          if (chunk.meta_data!.path_in_schema.length > 1) lists++
        }
      }
      await source.close()
    }
    assert.ok(compared >= 8 && lists >= 2, `${compared} chunks compared with their offset index, ${lists} of list columns`)
    // a page header overwritten: the walk gives up instead of guessing
    const file = variants.find((f) => f.config === 'trajectories' && f.split === 'SWE_Rebench')!
    const dir = await mkdtemp(join(tmpdir(), 'coderforge-walk-'))
    try {
      // DuckDB writes V1 pages: a flat column is walked through its headers, a list column through its levels
      const lists = join(dir, 'lists.parquet')
      await duck(`COPY (SELECT i::DOUBLE AS reward, list_transform(range(0, 5000 + i), x -> (x + i)::INTEGER) AS input_ids FROM range(6) t(i)) TO ${sqlString(lists)} (FORMAT parquet)`)
      const listSource = await fileSource(lists)
      const listMetadata = await readFooter(listSource)
      const [reward, inputIds] = listMetadata.row_groups[0]!.columns
      assert.equal((await walkPageLocations(listSource, listMetadata, reward!, 6))?.length, 1)
      assert.deepEqual((await walkPageLocations(listSource, listMetadata, inputIds!, 6))?.map((page) => page.first_row_index), [0n])
      assert.equal(await walkPageLocations(listSource, listMetadata, inputIds!, 7), undefined, 'levels that do not add up to the rows')
      await listSource.close()
      const source = await fileSource(pathOf(file.path))
      const metadata = await readFooter(source)
      await source.close()
      const messages = metadata.row_groups[0]!.columns.find((c) => c.meta_data!.path_in_schema[0] === 'messages')!
      const bytes = await readFile(pathOf(file.path))
      bytes.fill(0xff, Number(messages.meta_data!.data_page_offset), Number(messages.meta_data!.data_page_offset) + 8)
      await writeFile(join(dir, 'damaged.parquet'), bytes)
      const damaged = await fileSource(join(dir, 'damaged.parquet'))
      assert.equal(await walkPageLocations(damaged, metadata, messages, Number(metadata.row_groups[0]!.num_rows)), undefined)
      await damaged.close()
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  test('a row group without a page index (the published shards) is sliced through its walked pages: each slice carries its own, rows as DuckDB reads them', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'coderforge-walk-'))
    try {
      // the fixture's writer and DuckDB's: two writers' page headers
      const file = variants.find((f) => f.config === 'trajectories' && f.split === 'SWE_Rebench')!
      const paths = [join(dir, 'hyparquet.parquet'), join(dir, 'duckdb.parquet')]
      await copyFile(pathOf(file.path), paths[0]!)
      await duck(`COPY (SELECT * FROM read_parquet(${sqlString(join(repoDir('tiny'), 'trajectories', 'SWE_Rebench-*.parquet'))}) ORDER BY trajectory_id) TO ${sqlString(paths[1]!)} (FORMAT parquet, ROW_GROUP_SIZE 100000)`)
      for (const path of paths) {
        const source = await fileSource(path)
        const metadata = await readFooter(source)
        assert.equal(metadata.row_groups.length, 1)
        assert.ok(metadata.row_groups[0]!.columns.every((chunk) => chunk.offset_index_offset === undefined), `${path} has no page index`)
        const whole = chunkRanges(metadata, 0, columnNames(metadata)).reduce((sum, [a, b]) => sum + b - a, 0)
        const ids: unknown[] = []
        const messages: unknown[] = []
        let slices = 0
        let pages = 0
        for await (const piece of readPieces(source, metadata, { sliceBytes: 8_000 })) {
          assert.ok(piece.piece.sliced && piece.piece.indexed && piece.piece.pages?.messages, `${path}: a slice through walked pages`)
          slices++
          pages = piece.piece.pages.messages.length
          // DuckDB writes these messages as one page, which every slice then needs
          const carried = piece.spans.reduce((sum, span) => sum + span.bytes.byteLength, 0)
          if (piece.piece.pages.messages.length > 1) assert.ok(carried < whole, `${path} rows ${piece.piece.start}-${piece.piece.end}: ${carried} of the group's ${whole} bytes`)
          const columns = await decodePieceBytes(metadata, columnNames(metadata), piece)
          for (let i = 0; i < piece.piece.end - piece.piece.start; i++) {
            ids.push(columns.trajectory_id![i as never])
            messages.push(columns.messages![i as never])
          }
        }
        await source.close()
        assert.equal(slices, Number(metadata.num_rows), 'one row a slice')
        if (path === paths[0]) assert.ok(pages > 1, 'the fixture writes several pages of messages')
        const expected = await duck(`SELECT trajectory_id, messages FROM read_parquet(${sqlString(path)})`)
        assert.deepEqual(ids, expected.map((row) => row.trajectory_id))
        assert.deepEqual(messages, expected.map((row) => row.messages))
      }
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  test('V1 list<int> pages cut in mid-row (as parquet-cpp may cut them): a page that goes on with a row joins its location, and slices hold whole rows as DuckDB reads them', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'coderforge-midrow-'))
    try {
      const file = manifest.files.find((f) => f.config === 'trajectories-tokenized_qwencoder' && f.split === 'SWE_Rebench' && f.shard === 0)!
      const path = join(dir, 'cut.parquet')
      await writeFile(path, withListRowsCutAcrossPages(await readFile(pathOf(file.path)), (bytes, codec) => {
        if (codec !== 'SNAPPY') throw new Error(`a ${codec} fixture`)
        return snappyCompress(bytes)
      }))
      const source = await fileSource(path)
      const metadata = await readFooter(source)
      const group = metadata.row_groups[0]!
      let cut = 0
      for (const chunk of group.columns.filter((c) => c.meta_data!.path_in_schema.length === 3)) {
        const walked = await walkPageLocations(source, metadata, chunk, Number(group.num_rows))
        assert.ok(walked, chunk.meta_data!.path_in_schema.join('.'))
        const pages = await dataPageCount(source, chunk)
        assert.equal(pages, walked.length * 2, 'each page was cut in two, and each second half joined the first')
        cut += pages - walked.length
      }
      assert.ok(cut >= 2)
      const listsOf = (file: string) => duck(`SELECT input_ids::VARCHAR AS ids, labels::VARCHAR AS labels FROM read_parquet(${sqlString(file)})`)
      const expected = await listsOf(path)
      assert.deepEqual(expected, await listsOf(pathOf(file.path)), 'the cut file holds the rows it was made from')
      const rows: string[] = []
      let slices = 0
      for await (const piece of readPieces(source, metadata, { columns: ['input_ids', 'labels'], sliceBytes: 8_000 })) {
        assert.ok(piece.piece.sliced && piece.piece.indexed, 'a slice through walked pages')
        slices++
        const columns = await decodePieceBytes(metadata, ['input_ids', 'labels'], piece)
        for (let i = 0; i < piece.piece.end - piece.piece.start; i++) rows.push(['input_ids', 'labels'].map((name) => `[${Array.from(cellAt(columns[name]!, i) as Int32Array).join(', ')}]`).join(' '))
      }
      await source.close()
      assert.ok(slices > 1)
      assert.deepEqual(rows, expected.map((row) => `${row.ids} ${row.labels}`))
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  test('slices of a row group without usable page locations: from a local file each reads its own chunks, holding nothing; from a remote one they share one fetch and the last takes it', async () => {
    // a large list<string> column (neither flat nor list<int>): not walked, so the slices are not indexed
    const dir = await mkdtemp(join(tmpdir(), 'coderforge-slices-'))
    const path = join(dir, 'lists.parquet')
    await duck(`COPY (SELECT 'id-' || i AS trajectory_id, list_transform(range(0, 3000), x -> 'token-' || (x + i)) AS tokens FROM range(40) t(i)) TO ${sqlString(path)} (FORMAT parquet)`)
    const expected = await duck(`SELECT trajectory_id FROM read_parquet(${sqlString(path)})`)
    const inner = await fileSource(path)
    try {
      const metadata = await readFooter(inner)
      const whole = chunkRanges(metadata, 0, columnNames(metadata)).reduce((sum, [a, b]) => sum + b - a, 0)
      const budget = memoryBudget()
      const ids: unknown[] = []
      for await (const piece of readPieces(withHeldBytes(inner, budget), metadata, { sliceBytes: 8_000 })) {
        assert.ok(piece.piece.sliced && !piece.piece.indexed, 'a slice without page locations')
        const columns = await decodePieceBytes(metadata, columnNames(metadata), piece)
        for (let i = 0; i < piece.piece.end - piece.piece.start; i++) ids.push(cellAt(columns.trajectory_id!, i))
      }
      assert.deepEqual(ids, expected.map((row) => row.trajectory_id))
      assert.ok(budget.peak < whole / 2, `the local slices held ${budget.peak} of the group's ${whole} bytes`)

      // a source without cheap rereads: the buffers it returns are what was fetched
      const fetched = new Set<ArrayBuffer>()
      const remote: ByteSource = { name: inner.name, byteLength: inner.byteLength, slice: async (start, end) => { const bytes = await inner.slice(start, end); fetched.add(bytes); return bytes } }
      const pieces: PieceBytes[] = []
      for await (const piece of readPieces(remote, metadata, { sliceBytes: 8_000 })) pieces.push(piece)
      assert.ok(pieces.length >= 3, `${pieces.length} slices`)
      const takes = pieces.map((piece) => piece.spans.some((span) => fetched.has(span.bytes)))
      assert.deepEqual(takes, pieces.map((_, i) => i === pieces.length - 1), 'earlier slices carry copies, the last the fetched bytes')
      const remoteIds = []
      for (const piece of pieces) {
        const columns = await decodePieceBytes(metadata, columnNames(metadata), piece)
        for (let i = 0; i < piece.piece.end - piece.piece.start; i++) remoteIds.push(cellAt(columns.trajectory_id!, i))
      }
      assert.deepEqual(remoteIds, ids)
    } finally {
      await inner.close()
      await rm(dir, { recursive: true, force: true })
    }
  })

  test('projection fetches only the requested columns\' bytes', async () => {
    const file = variants.find((f) => f.config === 'trajectories' && f.split === 'SWE_Rebench')!
    const { source, reads, close } = await countingSource(pathOf(file.path))
    const metadata = await readFooter(source)
    reads.length = 0
    await collect(readBatches(source, metadata, { columns: ['reward', 'license'] }))
    await close()
    const messages = metadata.row_groups[0]!.columns.find((c) => c.meta_data?.path_in_schema[0] === 'messages')!.meta_data!
    const bytes = reads.reduce((sum, [a, b]) => sum + b - a, 0)
    assert.ok(bytes < Number(messages.total_compressed_size), `read ${bytes} bytes, less than the messages chunk alone`)
  })

  test('a lookup reads only the row group whose trajectory_id statistics can hold the key', async () => {
    const shards = manifest.files.filter((f) => f.config === 'trajectories' && f.split === 'SWE_Smith')
    const opened = await Promise.all(shards.map(async (f) => {
      const counted = await countingSource(pathOf(f.path))
      return { ...counted, file: { source: counted.source, metadata: await readFooter(counted.source) } }
    }))
    for (const [shard, { file }] of opened.entries()) {
      const expected = await duck(`SELECT trajectory_id AS id, file_row_number AS row FROM read_parquet(${sqlString(file.source.name)}, file_row_number = true)`)
      for (const { id, row } of expected) {
        for (const counted of opened) counted.reads.length = 0
        const found = await findRow(opened.map((o) => o.file), 'trajectory_id', String(id))
        assert.ok(found, String(id))
        assert.equal(found.file, file)
        assert.equal(found.row, Number(row))
        assert.equal(found.rowGroupsRead, 1, `${String(id)}: the other row groups are ruled out by their statistics`)
        const chunk = file.metadata.row_groups[found.rowGroup]!.columns.find((c) => c.meta_data?.path_in_schema[0] === 'trajectory_id')!.meta_data!
        const chunkStart = Number(chunk.dictionary_page_offset || chunk.data_page_offset)
        assert.deepEqual(opened.flatMap((o, i) => o.reads.map((r) => [i, ...r])), [[shard, chunkStart, chunkStart + Number(chunk.total_compressed_size)]])
      }
    }
    await Promise.all(opened.map((o) => o.close()))
  })
})

describe('trajectories', () => {
  test('messages parse into turns whose counts match DuckDB\'s JSON functions', async () => {
    const file = variants.find((f) => f.config === 'trajectories' && f.split === 'SWE_Smith')!
    const expected = await duck(`SELECT json_array_length(messages) AS n,
      len(list_filter(json_extract_string(messages, '$[*].role'), lambda r: r = 'assistant')) AS assistant
      FROM read_parquet(${sqlString(pathOf(file.path))})`)
    const source = await fileSource(pathOf(file.path))
    const rows = (await collect(readBatches(source, await readFooter(source), { columns: ['messages'] }))).flatMap((b) => b.columns.messages!)
    await source.close()
    for (const [i, messages] of rows.entries()) {
      const summary = summarizeMessages(messages as string)
      assert.equal(summary.messages, Number(expected[i]!.n))
      assert.equal(summary.assistantTurns, Number(expected[i]!.assistant))
    }
    const turns = parseMessages(rows[0] as string)
    assert.equal(turns[0]!.role, 'system')
    const call = turns.find((t) => t.toolCalls.length)!.toolCalls[0]!
    assert.match(call.id!, /^call_[0-9a-f]{24}$/)
    assert.equal(typeof call.arguments, 'object')
    // arguments given as a JSON string (other dumps) parse the same way
    const stringArgs = parseMessages('[{"role":"assistant","content":null,"tool_calls":[{"id":"c1","function":{"name":"think","arguments":"{\\"thought\\":\\"x\\"}"}}]}]')
    assert.deepEqual(stringArgs[0]!.toolCalls[0]!.arguments, { thought: 'x' })
  })

  test('task, run and repo are derived from ids and images', () => {
    assert.equal(taskOf('0b01001001__spectree-64_run3'), '0b01001001__spectree-64')
    assert.equal(runOf('0b01001001__spectree-64_run3'), 3)
    assert.equal(taskOf('qingyangwu_pandas_final_abc_incomplete_20250811_134501_run2'), 'qingyangwu_pandas_final_abc')
    assert.equal(repoOf('0b01001001__spectree-64_run3', 'qingyangwu/sweb.eval.x86_64.0b01001001_1776_spectree-64'), '0b01001001/spectree')
    assert.equal(repoOf('HIPS__autograd_ac044f0d_pr_672_run4'), 'hips/autograd')
    assert.equal(repoOf(`qingyangwu_pandas_final_${'a'.repeat(40)}_run2`), 'pandas')
  })
})

async function collect<T>(iterator: AsyncIterable<T>): Promise<T[]> {
  const items: T[] = []
  for await (const item of iterator) items.push(item)
  return items
}

function toJsonRows(batch: RowBatch): Record<string, unknown>[] {
  return batchRows(batch)
}

/** Data pages of a column chunk, counted from their headers. */
async function dataPageCount(source: ByteSource, chunk: ColumnChunk): Promise<number> {
  const meta = chunk.meta_data!
  const start = Number(meta.dictionary_page_offset || meta.data_page_offset)
  const bytes = new Uint8Array(await source.slice(start, start + Number(meta.total_compressed_size)))
  let count = 0
  for (let offset = 0; offset < bytes.length;) {
    const reader = { view: new DataView(bytes.buffer), offset }
    const header = parquetHeader(reader)
    if (header.type !== 'DICTIONARY_PAGE') count++
    offset = reader.offset + header.compressed_page_size
  }
  return count
}
