import type { KeyValue, RowGroup, SchemaElement } from 'hyparquet'
import { ByteWriter, ParquetWriter } from 'hyparquet-writer'
import type { PageIndexes } from 'hyparquet-writer/src/types.js'
import { snappyCompressor } from 'hysnappy'
import { fieldSubtrees } from '../parquet/schema.js'
import { openAtomicFile, type AtomicFile } from './atomicFile.js'
import type { ColumnBatch } from './jsonl.js'
import { cellAt, columnLength, isIntList, takeRows } from '../parquet/intList.js'
import { intListLayout, type IntListLayout } from '../parquet/intListDecode.js'
import { rowGroupWriter, type GroupColumn } from './parquetRowGroup.js'

// hysnappy's WASM compressor keeps state from call to call that can change its output (a few bytes
// in a row group of real shards): one instance per row group, so that a row group's bytes depend on
// its rows alone, whichever thread encodes it after whatever (snappyCompress() makes one per call)
let compressor: ((input: Uint8Array) => Uint8Array) | undefined
const snappyCompress = (input: Uint8Array) => (compressor ??= snappyCompressor())(input)
/** Start a row group with a compressor of its own. */
function freshCompressor(): void {
  compressor = undefined
}

/** Options for {@link openParquetSink}. */
export interface ParquetSinkOptions {
  path: string
  /** The source file's schema (hyparquet `metadata.schema`), so types survive: float64, list<int32>, list<int64>… */
  schema: SchemaElement[]
  /** Top-level columns to keep, in source order (default: all). */
  columns?: string[]
  kvMetadata?: KeyValue[]
}

/**
 * What a Parquet output's row groups are encoded against (its schema and columns): plain data, so a
 * decoding thread can encode row groups ({@link encodeRowGroup}) for the sink to append.
 */
export interface ParquetLayout {
  schema: SchemaElement[]
  columns: TopLevelColumn[]
}

/**
 * One row group encoded away from its file: its column chunks' bytes, as they follow the 4-byte
 * magic of a file of their own, and the chunk metadata and page indexes pointing into them.
 */
export interface EncodedRowGroup {
  bytes: Uint8Array
  rowGroup: RowGroup
  indexes: PageIndexes[]
  rows: number
}

/** The layout of a Parquet output of `columns` (default: all) of a file of `schema`. */
export function parquetLayout(schema: SchemaElement[], columns?: string[]): ParquetLayout {
  const projected = projectSchema(schema, columns)
  return { schema: projected, columns: topLevelColumns(projected) }
}

/** Encode `rows` of a batch (default: all) as one row group, the bytes {@link ParquetSink.writeRowGroup} appends as they are; `sizeHint`: about the bytes it will take. */
export function encodeRowGroup(layout: ParquetLayout, batch: ColumnBatch, rows?: ArrayLike<number>, options: { sizeHint?: number } = {}): EncodedRowGroup {
  // sized for the group (about the bytes it was read from): no doubling and copying as it grows
  const writer = new ByteWriter(Math.max(64 * 1024, Math.ceil((options.sizeHint ?? 0) * 1.1)))
  const parquet = newWriter(writer, layout.schema)
  const count = rowCount(layout, batch, rows)
  freshCompressor()
  void rowGroupWriter(parquet)(groupColumns(layout, batch, rows, count), count)
  return { bytes: new Uint8Array(writer.buffer, magicBytes, writer.index - magicBytes), rowGroup: parquet.row_groups[0]!, indexes: parquet.pendingIndexes, rows: count }
}

/** Writes row batches as Parquet, one row group per batch; the file appears under its name only once closed. */
export interface ParquetSink {
  write(batch: ColumnBatch, rows?: ArrayLike<number>): Promise<void>
  /** Append a row group encoded elsewhere against {@link layout} (a decoding thread's), unchanged but for its offsets. */
  writeRowGroup(group: EncodedRowGroup): Promise<void>
  /** What {@link encodeRowGroup} must be given for this sink. */
  readonly layout: ParquetLayout
  readonly rows: number
  /** Bytes written so far. */
  readonly bytes: number
  close(): Promise<void>
  abort(): Promise<void>
}

const flushSize = 4 * 1024 * 1024
const largeValueBytes = 4096

/** Open a Parquet sink (snappy, statistics and offset index on, as the Hub's viewer likes them). */
export async function openParquetSink(options: ParquetSinkOptions): Promise<ParquetSink> {
  const file = await openAtomicFile(options.path)
  const layout = parquetLayout(options.schema, options.columns)
  const writer = streamWriter(file)
  const parquet = newWriter(writer, layout.schema, outputKeyValues(options.kvMetadata, layout.columns.map((column) => column.name)))
  const writeGroup = rowGroupWriter(parquet)
  let rows = 0
  return {
    layout,
    get rows() { return rows },
    get bytes() { return writer.offset },
    async write(batch, selected) {
      const count = rowCount(layout, batch, selected)
      if (count === 0) return
      const columns = groupColumns(layout, batch, selected, count)
      freshCompressor()
      await writeGroup(columns, count)
      rows += count
    },
    async writeRowGroup(group) {
      if (group.rows === 0) return
      // the chunks were written after a magic of their own: they move to where this file is now
      const shift = BigInt(writer.offset - magicBytes)
      for (const chunk of group.rowGroup.columns) {
        chunk.file_offset += shift
        const meta = chunk.meta_data!
        meta.data_page_offset += shift
        if (meta.dictionary_page_offset !== undefined) meta.dictionary_page_offset += shift
      }
      for (const { offsetIndex } of group.indexes) for (const page of offsetIndex?.page_locations ?? []) page.offset += shift
      writer.appendChunk(group.bytes)
      parquet.row_groups.push(group.rowGroup)
      parquet.pendingIndexes.push(...group.indexes)
      parquet.num_rows += BigInt(group.rows)
      rows += group.rows
      await writer.flush()
    },
    async close() {
      await parquet.finish()
      await file.commit()
    },
    abort: () => file.abort(),
  }
}

// the "PAR1" a ParquetWriter starts its file with
const magicBytes = 4

function newWriter(writer: ByteWriter, schema: SchemaElement[], kvMetadata?: KeyValue[]): ParquetWriter {
  return new ParquetWriter({ writer, schema, codec: 'SNAPPY', compressors: { SNAPPY: snappyCompress }, kvMetadata, createdBy: 'coderforge' })
}

function rowCount(layout: ParquetLayout, batch: ColumnBatch, selected?: ArrayLike<number>): number {
  const first = batch.columns[layout.columns[0]!.name]
  return selected ? selected.length : (first ? columnLength(first) : 0)
}

/** The columns of a row group of `count` rows, as the row-group writer takes them. */
function groupColumns(layout: ParquetLayout, batch: ColumnBatch, selected: ArrayLike<number> | undefined, count: number): GroupColumn[] {
  return layout.columns.map(({ name, int64, intList }): GroupColumn => {
    const source = batch.columns[name]
    if (!source) throw new Error(`column '${name}' missing from the batch`)
    if (isIntList(source)) {
      if (!intList) throw new Error(`column '${name}': list<int> values for a column that is not a list<int> in the output schema`)
      return { name, layout: intList, intList: selected ? takeRows(source, selected) : source }
    }
    const data = new Array<unknown>(count)
    let textBytes = 0
    for (let k = 0; k < count; k++) {
      const value = cellAt(source, selected ? selected[k]! : k)
      data[k] = toWriterValue(value, int64)
      if (typeof value === 'string' || value instanceof Uint8Array) textBytes += value.length
    }
    // large text cells (messages): dictionary attempts and min/max over them are pure cost
    const large = textBytes / count > largeValueBytes
    return large ? { name, data, encoding: 'PLAIN' as const, statistics: false } : { name, data }
  })
}

/** A hyparquet-writer Writer that streams to the atomic file, waiting for the disk between row groups. */
function streamWriter(file: AtomicFile): StreamWriter {
  const writer = new ByteWriter() as StreamWriter
  let drained: Promise<void> | undefined
  const send = (chunk: Uint8Array) => {
    if (!file.stream.write(chunk) && !drained) {
      drained = file.drained().finally(() => { drained = undefined })
      drained.catch(() => {}) // flush/finish await it; a run that fails elsewhere first must not also die of this one
    }
  }
  const push = () => {
    if (writer.index === 0) return
    send(new Uint8Array(writer.buffer.slice(0, writer.index)))
    writer.index = 0
  }
  const grow = writer.ensure.bind(writer)
  writer.ensure = (size: number) => {
    if (writer.index > flushSize) push()
    grow(size)
  }
  writer.appendChunk = (bytes: Uint8Array) => {
    push()
    send(bytes)
    writer.offset += bytes.length
  }
  writer.flush = async () => {
    push()
    await drained
  }
  writer.finish = async () => {
    push()
    await drained
  }
  return writer
}

/** The sink's writer: hyparquet-writer's, streaming to the file. */
interface StreamWriter extends ByteWriter {
  /** Write bytes that need no copy into the buffer (an encoded row group) after what is buffered. */
  appendChunk(bytes: Uint8Array): void
  flush(): Promise<void>
}

/** A top-level column of the output, as the row-group writer needs to know it. */
export interface TopLevelColumn {
  name: string
  /** Leaf values are INT64: the writer wants bigint. */
  int64: boolean
  /** The column is a list<int> of the layout the flat writer writes (intListChunk.ts). */
  intList?: IntListLayout
}

function topLevelColumns(schema: SchemaElement[]): TopLevelColumn[] {
  return fieldSubtrees(schema).map((subtree) => ({
    name: subtree[0]!.name,
    int64: subtree.some((element) => !element.num_children && element.type === 'INT64'),
    intList: intListLayout(schema, subtree[0]!.name),
  }))
}

function projectSchema(schema: SchemaElement[], columns: string[] | undefined): SchemaElement[] {
  if (!columns) return schema
  const kept = fieldSubtrees(schema).filter(([field]) => columns.includes(field!.name))
  return [{ ...schema[0]!, num_children: kept.length }, ...kept.flat()]
}

/**
 * The source's key-value metadata as it holds for the file written: `content_defined_chunking`
 * described the source's page boundaries (ours differ), so it goes; the `huggingface` features keep
 * only the columns written, or `datasets` would expect columns the file does not have.
 */
export function outputKeyValues(kvMetadata: KeyValue[] | undefined, columns: string[]): KeyValue[] | undefined {
  return kvMetadata?.filter(({ key }) => key !== 'content_defined_chunking').map((entry) => {
    if (entry.key !== 'huggingface' || !entry.value) return entry
    try {
      const info = JSON.parse(entry.value) as { info?: { features?: unknown } }
      const features = info.info?.features
      if (!features || typeof features !== 'object' || Array.isArray(features)) return entry
      const kept = Object.fromEntries(Object.entries(features).filter(([name]) => columns.includes(name)))
      // every column written: the source's own text, byte for byte
      if (Object.keys(kept).length === Object.keys(features).length) return entry
      return { key: entry.key, value: JSON.stringify({ ...info, info: { ...info.info, features: kept } }) }
    } catch {
      return entry // not JSON: not ours to rewrite
    }
  })
}

/** A cell as hyparquet-writer takes it: INT64 leaves as bigint (lists of them too). */
function toWriterValue(value: unknown, int64: boolean): unknown {
  if (typeof value === 'number') return int64 ? BigInt(value) : value
  if (Array.isArray(value)) return value.map((item) => toWriterValue(item, int64))
  return value
}
