/**
 * The flat list<int> decoder (intListDecode.ts) against DuckDB on real files of every layout the shards
 * use: DuckDB-written zstd/snappy with V1 and V2 pages, dictionary pages, null and empty lists, INT64
 * beyond 32 bits; the `datasets` layout (UNCOMPRESSED list leaves, several row groups, page index);
 * in-thread, sliced and worker-style (from piece bytes) decoding, into a decoding thread's arena too; and
 * the CLI's outputs across threads.
 */
import assert from 'node:assert/strict'
import { readFile, readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { compress as zstdCompress } from '@bokuweb/zstd-wasm'
import { fileWriter, ParquetWriter } from 'hyparquet-writer'
import { repoDir } from '../fixtures/index.js'
import { loadZstd } from '../src/parquet/codecs.js'
import { readFooter } from '../src/parquet/footer.js'
import { cellAt, isIntList, takeRows, type Column } from '../src/parquet/intList.js'
import { decodePieceBytes, readBatches, readPieces } from '../src/parquet/rows.js'
import { fileSource } from '../src/parquet/source.js'
import { closeArena, inArena, openArena } from '../src/wasm/kernels.js'
import { runCli, tempDir } from './support/cli.js'
import { duck, sqlString } from './support/duckdb.js'

const tokenized = join(repoDir('tiny'), 'trajectories-tokenized_qwencoder')
const source = `read_parquet(${sqlString(join(tokenized, 'SWE_Rebench-*.parquet'))})`
const listColumns = ['input_ids', 'labels']

let work: { path: string, cleanup: () => Promise<void> }
before(async () => { work = await tempDir('coderforge-intlist-') })
after(async () => { await work.cleanup() })

/** A cell as comparable text: null, or the list's values exactly (int64 included). */
function cellText(value: unknown): string {
  if (value === null || value === undefined) return 'null'
  return `[${Array.from(value as ArrayLike<unknown>, (item) => (item === null ? 'null' : String(item))).join(',')}]`
}

/** The list columns as DuckDB reads them, in file order. */
async function duckRows(path: string): Promise<string[][]> {
  const rows = await duck(`SELECT ${listColumns.map((c) => `${c}::VARCHAR AS ${c}`).join(', ')} FROM read_parquet(${sqlString(path)}, file_row_number = true) ORDER BY file_row_number`)
  // DuckDB prints lists as [1, 2, NULL]; ours as [1,2,null]
  return rows.map((row) => listColumns.map((c) => (row[c] === null ? 'null' : String(row[c]).replace(/ /g, '').replace(/NULL/g, 'null'))))
}

/** What the reader decodes, row by row, and whether each list column took the flat path. */
async function ourRows(path: string, options: { sliceBytes?: number, pieces?: boolean, arena?: boolean } = {}): Promise<{ rows: string[][], flat: boolean[], inArena: boolean, types: string[] }> {
  const file = await fileSource(path)
  const metadata = await readFooter(file)
  const rows: string[][] = []
  const flat = listColumns.map(() => true)
  let arenaUsed = false
  const types = new Set<string>()
  const take = (columns: Record<string, Column>, numRows: number) => {
    for (const name of listColumns) { const column = columns[name]; if (isIntList(column)) types.add(`${name}: ${column.values.constructor.name}`) }
    listColumns.forEach((name, c) => { flat[c] &&= isIntList(columns[name]) })
    arenaUsed ||= listColumns.every((name) => { const column = columns[name]; return isIntList(column) && inArena(column.values) })
    for (let i = 0; i < numRows; i++) rows.push(listColumns.map((name) => cellText(cellAt(columns[name], i))))
  }
  if (options.pieces) {
    // the worker path: a piece's chunk bytes away from the file
    for await (const piece of readPieces(file, metadata, { columns: listColumns, sliceBytes: options.sliceBytes })) {
      // as a decoding thread runs a task whose result holds no cells: its values in the arena, read before it closes
      if (options.arena) openArena(16 << 20)
      try {
        take(await decodePieceBytes(metadata, listColumns, piece), piece.piece.end - piece.piece.start)
      } finally {
        if (options.arena) closeArena()
      }
    }
  } else {
    for await (const batch of readBatches(file, metadata, { columns: listColumns, sliceBytes: options.sliceBytes })) take(batch.columns, batch.numRows)
  }
  await file.close()
  return { rows, flat, inArena: arenaUsed, types: [...types].sort() }
}

/** Column chunk facts of a file, as DuckDB reports them. */
async function chunkFacts(path: string) {
  return duck(`SELECT path_in_schema AS path, compression, encodings, count(*) OVER () AS chunks, row_group_id
    FROM parquet_metadata(${sqlString(path)})`)
}

/** Every way of reading a file gives DuckDB's values. */
async function assertMatchesDuckDB(path: string, expectFlat: boolean) {
  const expected = await duckRows(path)
  assert.ok(expected.length > 0)
  let expectedTypes: string[] | undefined
  for (const options of [{}, { sliceBytes: 1 }, { pieces: true }, { pieces: true, sliceBytes: 1 }, { pieces: true, arena: true }, { pieces: true, sliceBytes: 1, arena: true }]) {
    const { rows, flat, inArena, types } = await ourRows(path, options)
    assert.deepEqual(rows, expected, `${path} ${JSON.stringify(options)}`)
    // INT64 values that fit are narrowed to Int32Array whichever way the flat path reads the file
    if (expectFlat) assert.deepEqual(types, expectedTypes ??= types, `${path} ${JSON.stringify(options)}: value types`)
    assert.deepEqual(flat, listColumns.map(() => expectFlat), `${path} ${JSON.stringify(options)}: flat path used`)
    if (options.arena) assert.equal(inArena, expectFlat, `${path} ${JSON.stringify(options)}: values in the arena`)
  }
}

async function duckCopy(name: string, select: string, options: string): Promise<string> {
  const path = join(work.path, name)
  await duck(`COPY (${select}) TO ${sqlString(path)} (FORMAT parquet, ${options})`)
  return path
}

/**
 * The SWE_Rebench tokenized shard rewritten by hyparquet-writer (V2 pages), with the list leaves in
 * their own codec as `datasets` writes them; `modulo` shrinks token values so that dictionaries pay.
 */
async function rewrite(name: string, options: { listCodec: 'UNCOMPRESSED' | 'ZSTD', rowGroupSize: number, pageSize: number, modulo?: number }): Promise<string> {
  await loadZstd()
  const file = await fileSource(join(tokenized, 'SWE_Rebench-00000-of-00003.parquet'))
  const metadata = await readFooter(file)
  const path = join(work.path, name)
  const writer = new ParquetWriter({
    writer: fileWriter(path), schema: metadata.schema, codec: 'SNAPPY', kvMetadata: metadata.key_value_metadata,
    compressors: { ZSTD: (bytes: Uint8Array) => zstdCompress(bytes, 3) },
  })
  const shrink = (value: number) => (options.modulo && value !== -100 ? value % options.modulo : value)
  for await (const batch of readBatches(file, metadata)) {
    const columnData = Object.entries(batch.columns).map(([name, column]) => ({
      name,
      data: Array.from({ length: batch.numRows }, (_, i) => {
        const value = cellAt(column, i)
        if (!listColumns.includes(name)) return value
        const values = Array.from(value as Int32Array, shrink)
        return name === 'labels' ? values.map(BigInt) : values
      }),
      codec: listColumns.includes(name) ? options.listCodec : 'SNAPPY' as const,
      offsetIndex: true,
    }))
    await writer.write({ columnData, rowGroupSize: options.rowGroupSize, pageSize: options.pageSize })
  }
  await writer.finish()
  await file.close()
  return path
}

describe('flat list<int> decoding equals DuckDB', () => {
  test('DuckDB zstd and snappy, data page V1 and V2', async () => {
    for (const [name, options] of [
      ['zstd-v1.parquet', "COMPRESSION zstd"],
      ['snappy-v1.parquet', "COMPRESSION snappy"],
      ['zstd-v2.parquet', "COMPRESSION zstd, PARQUET_VERSION V2"],
      ['uncompressed-v2.parquet', "COMPRESSION uncompressed, PARQUET_VERSION V2"],
    ] as const) {
      const path = await duckCopy(name, `SELECT input_ids, labels FROM ${source}`, options)
      const facts = await chunkFacts(path)
      assert.ok(facts.some((f) => String(f.path).includes('input_ids')))
      await assertMatchesDuckDB(path, true)
    }
  })

  test('null and empty lists, and the rows around them', async () => {
    const select = `SELECT CASE WHEN n % 3 = 0 THEN NULL WHEN n % 4 = 1 THEN []::INTEGER[] ELSE input_ids END AS input_ids,
      CASE WHEN n % 5 = 2 THEN NULL WHEN n % 3 = 1 THEN []::BIGINT[] ELSE labels END AS labels
      FROM (SELECT *, row_number() OVER () AS n FROM ${source})`
    for (const options of ['COMPRESSION snappy', 'COMPRESSION zstd, PARQUET_VERSION V2']) {
      const path = await duckCopy(`nulls-${options.length}.parquet`, select, options)
      await assertMatchesDuckDB(path, true)
    }
  })

  test('INT64 values beyond 32 bits stay exact (BigInt64Array)', async () => {
    const path = await duckCopy('wide.parquet', `SELECT input_ids, list_transform(labels, x -> x * 40000000000 + 1) AS labels FROM ${source}`, 'COMPRESSION zstd')
    await assertMatchesDuckDB(path, true)
    const file = await fileSource(path)
    for await (const batch of readBatches(file, await readFooter(file), { columns: ['labels'] })) assert.ok(isIntList(batch.columns.labels) && batch.columns.labels.values instanceof BigInt64Array)
    await file.close()
  })

  test('null elements inside a list fall back to hyparquet, with the same values', async () => {
    const path = await duckCopy('null-elements.parquet', `SELECT list_transform(input_ids, x -> CASE WHEN x % 10 = 3 THEN NULL ELSE x END) AS input_ids,
      list_transform(labels, x -> CASE WHEN x % 10 = 3 THEN NULL ELSE x END) AS labels FROM ${source}`, 'COMPRESSION snappy')
    await assertMatchesDuckDB(path, false)
  })

  test('the `datasets` layout: UNCOMPRESSED list leaves, snappy flat columns, several row groups, page index', async () => {
    const path = await rewrite('datasets.parquet', { listCodec: 'UNCOMPRESSED', rowGroupSize: 3, pageSize: 2048 })
    const facts = await chunkFacts(path)
    assert.ok(new Set(facts.map((f) => f.row_group_id)).size >= 3, 'several row groups')
    assert.deepEqual([...new Set(facts.filter((f) => String(f.path).includes('element')).map((f) => f.compression))], ['UNCOMPRESSED'])
    const written = await fileSource(path)
    const footer = await readFooter(written)
    await written.close()
    // single-page chunks get no offset index; the list leaves have many pages
    const lists = footer.row_groups.flatMap((g) => g.columns.filter((c) => c.meta_data?.path_in_schema.length === 3))
    assert.ok(lists.every((c) => c.offset_index_offset !== undefined), 'page index on the list leaves')
    await assertMatchesDuckDB(path, true)
  })

  test('dictionary-encoded pages', async () => {
    const path = await rewrite('dictionary.parquet', { listCodec: 'ZSTD', rowGroupSize: 4, pageSize: 4096, modulo: 7 })
    const facts = await chunkFacts(path)
    assert.ok(facts.filter((f) => String(f.path).includes('element')).every((f) => String(f.encodings).includes('DICTIONARY')), `dictionary pages in ${JSON.stringify(facts)}`)
    await assertMatchesDuckDB(path, true)
  })

  test('takeRows keeps the chosen rows, nulls and types', async () => {
    const path = await duckCopy('take.parquet', `SELECT CASE WHEN n % 3 = 0 THEN NULL ELSE input_ids END AS input_ids, labels
      FROM (SELECT *, row_number() OVER () AS n FROM ${source})`, 'COMPRESSION snappy')
    const file = await fileSource(path)
    for await (const batch of readBatches(file, await readFooter(file), { columns: listColumns })) {
      const ids = batch.columns.input_ids!
      assert.ok(isIntList(ids))
      const rows = [batch.numRows - 1, 0, 2]
      const taken = takeRows(ids, rows)
      assert.equal(taken.type, 'INT32')
      assert.deepEqual(rows.map((_, k) => cellText(cellAt(taken, k))), rows.map((row) => cellText(cellAt(ids, row))))
    }
    await file.close()
  })
})

describe('tokenized outputs from the flat columns', () => {
  test('filter → JSONL and → Parquet are byte-identical with --threads 1 and 2; Parquet keeps list<int32> and list<int64>', async () => {
    const outputs: Record<string, Buffer[]> = { jsonl: [], parquet: [] }
    for (const threads of ['1', '2']) {
      for (const format of ['jsonl', 'parquet']) {
        const output = join(work.path, `filter-${threads}.${format}`)
        const result = await runCli(['filter', tokenized, '--reward', '1', '-o', output, '--threads', threads, '--memory', '64MB', '--quiet'], process.env)
        assert.equal(result.code, 0, result.stderr)
        outputs[format]!.push(await readFile(output))
      }
    }
    assert.ok(outputs.jsonl![0]!.equals(outputs.jsonl![1]!), 'JSONL identical across threads')
    assert.ok(outputs.parquet![0]!.equals(outputs.parquet![1]!), 'Parquet identical across threads')
    const parquet = join(work.path, 'filter-2.parquet')
    const types = await duck(`SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM read_parquet(${sqlString(parquet)}))`)
    assert.deepEqual(Object.fromEntries(types.map((t) => [t.column_name, t.column_type])), {
      trajectory_id: 'VARCHAR', reward: 'DOUBLE', chat_template_applied: 'VARCHAR', input_ids: 'INTEGER[]', labels: 'BIGINT[]',
    })
    const all = `read_parquet(${sqlString(join(tokenized, '*.parquet'))})`
    const expected = await duck(`SELECT count(*) AS n, bit_xor(hash(trajectory_id, input_ids, labels)) AS h FROM ${all} WHERE reward = 1`)
    const written = await duck(`SELECT count(*) AS n, bit_xor(hash(trajectory_id, input_ids, labels)) AS h FROM read_parquet(${sqlString(parquet)})`)
    assert.deepEqual(written, expected)
    const jsonl = await duck(`SELECT count(*) AS n, bit_xor(hash(trajectory_id, input_ids::INTEGER[], labels::BIGINT[])) AS h
      FROM read_json(${sqlString(join(work.path, 'filter-2.jsonl'))}, format = 'newline_delimited')`)
    assert.deepEqual(jsonl, expected)
  })

  test('export --format parquet keeps list<int32> and list<int64> and every value', async () => {
    const out = join(work.path, 'export')
    const result = await runCli(['export', join(tokenized, 'SWE_Smith-00000-of-00003.parquet'), '--format', 'parquet', '--out', out, '--quiet'], process.env)
    assert.equal(result.code, 0, result.stderr)
    const path = join(out, (await readdir(out, { recursive: true })).find((name) => name.endsWith('.parquet'))!)
    const types = await duck(`SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM read_parquet(${sqlString(path)}))`)
    assert.deepEqual(types.filter((t) => listColumns.includes(String(t.column_name))).map((t) => t.column_type), ['INTEGER[]', 'BIGINT[]'])
    const src = `read_parquet(${sqlString(join(tokenized, 'SWE_Smith-00000-of-00003.parquet'))})`
    assert.deepEqual(await duck(`SELECT bit_xor(hash(input_ids, labels)) AS h FROM read_parquet(${sqlString(path)})`), await duck(`SELECT bit_xor(hash(input_ids, labels)) AS h FROM ${src}`))
  })
})

describe('levels', () => {
  test('RLE and bit-packed runs decode as hyparquet-writer encoded them, levels and dictionary indexes of many widths', async () => {
    const { ByteWriter } = await import('hyparquet-writer')
    const { writeRleBitPackedHybrid } = await import('hyparquet-writer/src/encoding.js')
    const { readHybrid } = await import('../src/parquet/levels.js')
    let seed = 7
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31
    // not 32: hyparquet-writer writes 32-bit packed values as zeros (its mask overflows)
    for (const width of [1, 2, 3, 8, 13, 20, 24]) {
      // long runs (RLE) between stretches of noise (bit-packed), ending off a group of 8
      const values: number[] = []
      while (values.length < 5003) {
        const value = Math.floor(random() * 2 ** width)
        if (random() < 0.3) for (let i = Math.floor(random() * 200); i > 0; i--) values.push(value)
        else for (let i = Math.floor(random() * 40); i > 0; i--) values.push(Math.floor(random() * 2 ** width))
      }
      const writer = new ByteWriter()
      writeRleBitPackedHybrid(writer, values, width)
      const bytes = new Uint8Array(writer.getBuffer())
      const out = width <= 8 ? new Uint8Array(values.length) : new Uint32Array(values.length)
      readHybrid(bytes, 0, bytes.length, width, out)
      assert.deepEqual(Array.from(out), values, `width ${width}`)
      assert.throws(() => readHybrid(bytes, 0, bytes.length, width, new Uint8Array(values.length + 9)), /levels end after/)
    }
  })

  test('the value every run repeats is returned, or -1 when runs differ or are bit-packed', async () => {
    const { readHybrid } = await import('../src/parquet/levels.js')
    // RLE runs: a varint header (count << 1), then the value in (width + 7) / 8 bytes
    const out = new Uint8Array(200) // two runs of 100 (header 0xc8 0x01)
    assert.equal(readHybrid(Uint8Array.of(0xc8, 0x01, 3, 0xc8, 0x01, 3), 0, 6, 2, out), 3, 'two runs of 3')
    assert.deepEqual([...new Set(out)], [3])
    assert.equal(readHybrid(Uint8Array.of(0xc8, 0x01, 3, 0xc8, 0x01, 2), 0, 6, 2, out), -1, 'a run of 3, then of 2')
    // one bit-packed group of eight 1-bit values, all 1: still -1 (it is not looked into)
    assert.equal(readHybrid(Uint8Array.of(0x03, 0xff), 0, 2, 1, new Uint8Array(8)), -1, 'bit-packed')
    assert.equal(readHybrid(Uint8Array.of(0x10, 0), 0, 2, 1, new Uint8Array(8)), 0, 'a run of zeros')
  })
})
