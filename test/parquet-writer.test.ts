/**
 * The Parquet sink's list<int> columns, written straight from the decoded typed arrays
 * (sinks/intListChunk.ts), checked by reading the files back with DuckDB and hyparquet: every row of
 * the tokenized fixtures and of DuckDB-written files with null and empty lists and INT64 values beyond
 * 32 bits, whole and in subsets; the source's schema kept exactly; DATA_PAGE_V2 pages of about 1 MB
 * that start at rows, found through the offset index.
 */
import assert from 'node:assert/strict'
import { readFile, readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { parquetMetadata, parquetReadObjects, readOffsetIndex, type FileMetaData, type SchemaElement } from 'hyparquet'
import { parquetHeader } from 'hyparquet/src/column.js'
import { repoDir } from '../fixtures/index.js'
import { readFooter } from '../src/parquet/footer.js'
import { cellAt, isIntList } from '../src/parquet/intList.js'
import { readBatches } from '../src/parquet/rows.js'
import { fileSource } from '../src/parquet/source.js'
import { openParquetSink } from '../src/sinks/parquet.js'
import { runCli, tempDir } from './support/cli.js'
import { duck, sqlString } from './support/duckdb.js'

const tokenized = join(repoDir('tiny'), 'trajectories-tokenized_qwencoder')
const listColumns = ['input_ids', 'labels']
const pageSize = 1024 * 1024

let work: { path: string, cleanup: () => Promise<void> }
before(async () => { work = await tempDir('coderforge-pqwrite-') })
after(async () => { await work.cleanup() })

const range = (n: number) => Array.from({ length: n }, (_, i) => i)

/** What the copy saw and kept: source row numbers written, and the array types the list columns came in. */
interface Copied {
  kept: number[]
  arrays: Set<string>
}

/**
 * Copy a file through the Parquet sink, batch by batch, keeping the rows `keep` selects (by row number
 * in the file) as `--where` does; the list columns must arrive flat, or the flat writer is not tested.
 */
async function copy(source: string, out: string, options: { keep?: (row: number) => boolean, schema?: (schema: SchemaElement[]) => SchemaElement[] } = {}): Promise<Copied> {
  const file = await fileSource(source)
  const metadata = await readFooter(file)
  const sink = await openParquetSink({ path: out, schema: options.schema?.(metadata.schema) ?? metadata.schema, kvMetadata: metadata.key_value_metadata })
  const copied: Copied = { kept: [], arrays: new Set() }
  try {
    let offset = 0
    // whole row groups (as from a remote file, whose pages are not walked), so that batches are large enough for several pages
    for await (const batch of readBatches({ ...file, cheapRereads: false }, metadata)) {
      for (const name of listColumns) {
        const column = batch.columns[name]
        assert.ok(isIntList(column), `${name} decoded flat`)
        copied.arrays.add(`${name}:${column.values.constructor.name}`)
      }
      const selected = options.keep ? range(batch.numRows).filter((i) => options.keep!(offset + i)) : undefined
      await sink.write(batch, selected)
      copied.kept.push(...(selected ?? range(batch.numRows)).map((i) => offset + i))
      offset += batch.numRows
    }
    await sink.close()
  } catch (error) {
    await sink.abort()
    throw error
  } finally {
    await file.close()
  }
  return copied
}

/** Each row as DuckDB reads it, in file order: a hash of every column, list lengths, null lists. */
async function rowFacts(path: string): Promise<string[]> {
  const lists = listColumns.map((c) => `len(${c}) AS ${c}_len, ${c} IS NULL AS ${c}_null`).join(', ')
  const rows = await duck(`SELECT hash(COLUMNS(c -> c <> 'file_row_number')), ${lists}
    FROM read_parquet(${sqlString(path)}, file_row_number = true) ORDER BY file_row_number`)
  return rows.map((row) => JSON.stringify(row))
}

/** The written file holds exactly the kept source rows, in order, and the source's schema. */
async function assertCopy(source: string, out: string, kept: number[]) {
  const expected = await rowFacts(source)
  assert.deepEqual(await rowFacts(out), kept.map((row) => expected[row]), `${out}: rows`)
  const schema = (path: string) => duck(`SELECT name, type, type_length, repetition_type, num_children, converted_type, logical_type FROM parquet_schema(${sqlString(path)})`)
  assert.deepEqual(await schema(out), await schema(source), `${out}: schema`)
}

async function metadataOf(path: string): Promise<{ bytes: Uint8Array, metadata: FileMetaData }> {
  const bytes = new Uint8Array(await readFile(path))
  return { bytes, metadata: parquetMetadata(bytes.buffer as ArrayBuffer) }
}

/**
 * The list chunks' pages as the offset index finds them, checked against their own headers: each is a
 * DATA_PAGE_V2 of PLAIN values, starts at the row the index says, holds whole rows up to the next
 * page's first row, and about 1 MB of values. Returns the largest page count of a chunk.
 */
async function assertListPages(path: string): Promise<number> {
  const { bytes, metadata } = await metadataOf(path)
  let most = 0
  for (const group of metadata.row_groups) {
    for (const chunk of group.columns.filter((c) => listColumns.includes(c.meta_data!.path_in_schema[0]!))) {
      const meta = chunk.meta_data!
      assert.deepEqual(meta.encodings, ['PLAIN', 'RLE'], 'written by the flat writer')
      const leaf = metadata.schema.find((element, i) => element.name === 'element' && metadata.schema[i - 2]?.name === meta.path_in_schema[0])!
      assert.equal(meta.type, leaf.type)
      const width = meta.type === 'INT64' ? 8 : 4
      const pages = chunk.offset_index_offset === undefined
        ? [{ offset: meta.data_page_offset, first_row_index: 0n }]
        : readOffsetIndex({ view: new DataView(bytes.buffer, Number(chunk.offset_index_offset), chunk.offset_index_length), offset: 0 }).page_locations
      assert.equal(pages[0]!.offset, meta.data_page_offset)
      let values = 0
      for (const [p, page] of pages.entries()) {
        const header = parquetHeader({ view: new DataView(bytes.buffer), offset: Number(page.offset) })
        const v2 = header.data_page_header_v2!
        assert.equal(header.type, 'DATA_PAGE_V2')
        assert.equal(v2.encoding, 'PLAIN')
        const next = p + 1 < pages.length ? pages[p + 1]!.first_row_index : group.num_rows
        assert.equal(BigInt(v2.num_rows), next - page.first_row_index, `page ${p} holds the rows up to the next page's first`)
        const valueBytes = (v2.num_values - v2.num_nulls) * width
        if (p + 1 < pages.length) assert.ok(valueBytes >= pageSize, `page ${p}: ${valueBytes} bytes of values`)
        values += v2.num_values
      }
      assert.equal(BigInt(values), meta.num_values)
      most = Math.max(most, pages.length)
    }
  }
  return most
}

/** List cells as text, DuckDB's way of printing made ours: null, or [1,2,3]. */
function listText(value: unknown): string {
  if (value === null || value === undefined) return 'null'
  return `[${Array.from(value as ArrayLike<unknown>, String).join(',')}]`
}

async function duckListText(path: string, rowStart: number, rowEnd: number): Promise<string[][]> {
  const rows = await duck(`SELECT ${listColumns.map((c) => `${c}::VARCHAR AS ${c}`).join(', ')} FROM read_parquet(${sqlString(path)}, file_row_number = true)
    WHERE file_row_number >= ${rowStart} AND file_row_number < ${rowEnd} ORDER BY file_row_number`)
  return rows.map((row) => listColumns.map((c) => (row[c] === null ? 'null' : String(row[c]).replace(/ /g, ''))))
}

/** Rows [rowStart, rowEnd) read back through the offset index, by hyparquet and by our own sliced reader, equal DuckDB's. */
async function assertSlicesRead(path: string, rowStart: number, rowEnd: number) {
  const expected = await duckListText(path, rowStart, rowEnd)
  const { bytes, metadata } = await metadataOf(path)
  const objects = await parquetReadObjects({ file: bytes.buffer as ArrayBuffer, metadata, columns: listColumns, rowStart, rowEnd, useOffsetIndex: true })
  assert.deepEqual(objects.map((row) => listColumns.map((c) => listText(row[c]))), expected, 'hyparquet, through the offset index')
  const file = await fileSource(path)
  const ours: string[][] = []
  for await (const batch of readBatches(file, await readFooter(file), { columns: listColumns, rowStart, rowEnd, sliceBytes: 64 * 1024 })) {
    for (let i = 0; i < batch.numRows; i++) ours.push(listColumns.map((c) => listText(cellAt(batch.columns[c], i))))
  }
  await file.close()
  assert.deepEqual(ours, expected, 'our sliced reader, through the offset index')
}

/**
 * A DuckDB-written file of `rows` rows of list<int32> input_ids and list<int64> labels with null and
 * empty lists, long enough for several pages per chunk; `wide` puts values beyond 32 bits in labels.
 */
async function listFile(name: string, wide: boolean): Promise<string> {
  const path = join(work.path, name)
  const big = wide ? `WHEN x = 3 THEN (1::BIGINT << 40) + i WHEN x = 4 THEN -(1::BIGINT << 35) - i` : ''
  await duck(`COPY (SELECT
      CASE WHEN i % 17 = 0 THEN NULL WHEN i % 13 = 0 THEN []::INTEGER[]
        ELSE list_transform(range((i * 7919) % 700), x -> ((x * 31 + i) % 152000)::INTEGER) END AS input_ids,
      CASE WHEN i % 19 = 0 THEN NULL WHEN i % 11 = 0 THEN []::BIGINT[]
        ELSE list_transform(range((i * 104729) % 600), x -> CASE ${big} WHEN x % 5 = 0 THEN -100 ELSE x * 131 + i END::BIGINT) END AS labels,
      i AS n
    FROM range(3000) t(i)) TO ${sqlString(path)} (FORMAT parquet, COMPRESSION snappy, ROW_GROUP_SIZE 2048)`)
  return path
}

describe('Parquet sink: list<int> columns from the typed arrays', () => {
  test('every tokenized fixture file, whole and in --where-style subsets, row for row, with the source\'s schema', async () => {
    const files = (await readdir(tokenized)).filter((name) => name.endsWith('.parquet'))
    assert.ok(files.length >= 2)
    const subsets: [string, ((row: number) => boolean) | undefined][] = [['all', undefined], ['some', (row) => row % 3 !== 1], ['one', (row) => row === 2]]
    for (const name of files) {
      const source = join(tokenized, name)
      for (const [label, keep] of subsets) {
        const out = join(work.path, `${label}-${name}`)
        const { kept, arrays } = await copy(source, out, { keep })
        // labels is list<int64> held as Int32Array: the writer widens it
        assert.deepEqual([...arrays].sort(), ['input_ids:Int32Array', 'labels:Int32Array'])
        await assertCopy(source, out, kept)
        await assertListPages(out)
      }
    }
  })

  test('null and empty lists, INT64 beyond 32 bits, several pages and row groups: same rows, pages found through the offset index', async () => {
    for (const wide of [false, true]) {
      const source = await listFile(`lists-${wide}.parquet`, wide)
      for (const keep of [undefined, (row: number) => row % 4 !== 0 && row !== 2500]) {
        const out = join(work.path, `copy-${wide}-${keep ? 'some' : 'all'}.parquet`)
        const { kept, arrays } = await copy(source, out, { keep })
        assert.ok(arrays.has(`labels:${wide ? 'BigInt64Array' : 'Int32Array'}`), [...arrays].join())
        await assertCopy(source, out, kept)
        const facts = await duck(`SELECT count(*) FILTER (input_ids IS NULL) AS nulls, count(*) FILTER (len(labels) = 0) AS empty,
          max(list_max(labels)) AS max, min(list_min(labels)) AS min FROM read_parquet(${sqlString(out)})`)
        assert.ok(Number(facts[0]!.nulls) > 0 && Number(facts[0]!.empty) > 0, JSON.stringify(facts))
        if (wide) assert.deepEqual([BigInt(String(facts[0]!.max)) > 2n ** 40n, BigInt(String(facts[0]!.min)) < -(2n ** 35n)], [true, true])
        assert.ok(await assertListPages(out) > 2, 'several pages per chunk')
        // a slice across a page boundary and row groups
        await assertSlicesRead(out, 1000, kept.length - 100)
      }
    }
  })

  test('statistics of the list leaves are the values\' min and max, and the nulls are null and empty lists', async () => {
    const source = await listFile('stats.parquet', true)
    const out = join(work.path, 'stats-copy.parquet')
    await copy(source, out)
    const chunks = (path: string) => duck(`SELECT row_group_id, path_in_schema, num_values, stats_min_value, stats_max_value
      FROM parquet_metadata(${sqlString(path)}) WHERE path_in_schema LIKE '%element' ORDER BY ALL`)
    const written = await duck(`SELECT row_group_id, path_in_schema, stats_null_count FROM parquet_metadata(${sqlString(out)}) WHERE path_in_schema LIKE '%element' ORDER BY ALL`)
    const levels = await duck(`SELECT sum((input_ids IS NULL OR len(input_ids) = 0)::INT) AS input_ids, sum((labels IS NULL OR len(labels) = 0)::INT) AS labels
      FROM read_parquet(${sqlString(source)})`)
    assert.deepEqual(await chunks(out), await chunks(source))
    assert.deepEqual(listColumns.map((c) => written.filter((w) => String(w.path_in_schema).startsWith(c)).reduce((sum, w) => sum + Number(w.stats_null_count), 0)),
      listColumns.map((c) => Number(levels[0]![c])))
  })

  test('required lists and required elements keep their repetition; a null row for a required list or a wide value for an INT32 leaf is refused', async () => {
    const source = await listFile('required-source.parquet', false)
    // input_ids: required list of required elements; labels: optional list of required elements
    const required = (schema: SchemaElement[]) => {
      const [ids, labels] = listColumns.map((name) => schema.findIndex((element) => element.name === name))
      return schema.map((element, i) => ([ids, ids! + 2, labels! + 2].includes(i) ? { ...element, repetition_type: 'REQUIRED' as const } : element))
    }
    const out = join(work.path, 'required.parquet')
    const { kept } = await copy(source, out, { schema: required, keep: (row) => row % 17 !== 0 })
    const repetition = await duck(`SELECT name, repetition_type FROM parquet_schema(${sqlString(out)})`)
    assert.deepEqual(repetition.slice(1).map((r) => r.repetition_type), ['REQUIRED', 'REPEATED', 'REQUIRED', 'OPTIONAL', 'REPEATED', 'REQUIRED', 'OPTIONAL'])
    const lists = (path: string) => duck(`SELECT input_ids, labels FROM read_parquet(${sqlString(path)}, file_row_number = true) ORDER BY file_row_number`)
    const expected = await lists(source)
    assert.deepEqual(await lists(out), kept.map((row) => expected[row]))
    await assertListPages(out)

    await assert.rejects(copy(source, join(work.path, 'refused.parquet'), { schema: required }), /required/)
    const wide = await listFile('wide-source.parquet', true)
    const narrowed = (schema: SchemaElement[]) => schema.map((element, i) => (schema[i - 2]?.name === 'labels' ? { ...element, type: 'INT32' as const } : element))
    await assert.rejects(copy(wide, join(work.path, 'narrowed.parquet'), { schema: narrowed }), /INT64 values do not fit/)
    assert.deepEqual((await readdir(work.path)).filter((name) => name.includes('refused') || name.includes('narrowed')), [], 'nothing left of refused files')
  })

  test('other columns keep hyparquet-writer\'s path beside the flat ones: structs, lists of strings, list<int> with null elements', async () => {
    const source = join(work.path, 'mixed.parquet')
    await duck(`COPY (SELECT
        CASE WHEN i % 5 = 0 THEN NULL ELSE {'a': i, 'b': 'x' || i} END AS pair,
        CASE WHEN i % 7 = 0 THEN [] ELSE ['s' || i, NULL, 't'] END AS words,
        CASE WHEN i % 3 = 0 THEN [i, NULL, -i] ELSE [i] END::BIGINT[] AS holes,
        list_transform(range(i % 9), x -> (x * i)::INTEGER) AS input_ids,
        [i, -100]::BIGINT[] AS labels
      FROM range(50) t(i)) TO ${sqlString(source)} (FORMAT parquet)`)
    const out = join(work.path, 'mixed-copy.parquet')
    const file = await fileSource(source)
    const metadata = await readFooter(file)
    const sink = await openParquetSink({ path: out, schema: metadata.schema })
    for await (const batch of readBatches(file, metadata)) {
      assert.ok(!isIntList(batch.columns.holes) && isIntList(batch.columns.input_ids), 'null elements: JS arrays; the rest flat')
      await sink.write(batch, range(batch.numRows).filter((i) => i % 4 !== 3))
    }
    await sink.close()
    await file.close()
    const rows = (path: string, where = '') => duck(`SELECT COLUMNS(c -> c <> 'file_row_number')::VARCHAR FROM read_parquet(${sqlString(path)}, file_row_number = true) ${where} ORDER BY file_row_number`)
    assert.deepEqual(await rows(out), await rows(source, 'WHERE file_row_number % 4 <> 3'))
    const schema = (path: string) => duck(`SELECT name, type, repetition_type, converted_type FROM parquet_schema(${sqlString(path)})`)
    assert.deepEqual(await schema(out), await schema(source))
    await assertListPages(out)
  })

  test('filter --where to Parquet, on workers: the rows DuckDB selects, list columns written flat', async () => {
    const out = join(work.path, 'where.parquet')
    const result = await runCli(['filter', tokenized, '--where', 'reward >= 1', '-o', out, '--threads', '2', '--quiet'], process.env)
    assert.equal(result.code, 0, result.stderr)
    const facts = (from: string) => duck(`SELECT trajectory_id, hash(input_ids) AS ids, hash(labels) AS labels, len(input_ids) AS n FROM ${from} ORDER BY ALL`)
    const expected = await facts(`read_parquet(${sqlString(join(tokenized, '*.parquet'))}) WHERE reward >= 1`)
    assert.ok(expected.length > 0)
    assert.deepEqual(await facts(`read_parquet(${sqlString(out)})`), expected)
    await assertListPages(out)
  })
})
