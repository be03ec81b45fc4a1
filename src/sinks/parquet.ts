import type { KeyValue, SchemaElement } from 'hyparquet'
import { ByteWriter, ParquetWriter } from 'hyparquet-writer'
import { snappyCompressor } from 'hysnappy'
import { fieldSubtrees } from '../parquet/schema.js'
import { openAtomicFile, type AtomicFile } from './atomicFile.js'
import type { ColumnBatch } from './jsonl.js'
import { cellAt, columnLength, isIntList, takeRows } from '../parquet/intList.js'
import { intListLayout, type IntListLayout } from '../parquet/intListDecode.js'
import { rowGroupWriter, type GroupColumn } from './parquetRowGroup.js'

// one WASM instance for the whole run (hysnappy's snappyCompress() instantiates one per call), made on first use
let compressor: ((input: Uint8Array) => Uint8Array) | undefined
const snappyCompress = (input: Uint8Array) => (compressor ??= snappyCompressor())(input)

/** Options for {@link openParquetSink}. */
export interface ParquetSinkOptions {
  path: string
  /** The source file's schema (hyparquet `metadata.schema`), so types survive: float64, list<int32>, list<int64>… */
  schema: SchemaElement[]
  /** Top-level columns to keep, in source order (default: all). */
  columns?: string[]
  kvMetadata?: KeyValue[]
}

/** Writes row batches as Parquet, one row group per batch; the file appears under its name only once closed. */
export interface ParquetSink {
  write(batch: ColumnBatch, rows?: ArrayLike<number>): Promise<void>
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
  const schema = projectSchema(options.schema, options.columns)
  const topLevel = topLevelColumns(schema)
  const writer = streamWriter(file)
  const parquet = new ParquetWriter({ writer, schema, codec: 'SNAPPY', compressors: { SNAPPY: snappyCompress }, kvMetadata: outputKeyValues(options.kvMetadata, topLevel.map((column) => column.name)), createdBy: 'coderforge' })
  const writeRowGroup = rowGroupWriter(parquet)
  let rows = 0
  return {
    get rows() { return rows },
    get bytes() { return writer.offset },
    async write(batch, selected) {
      const first = batch.columns[topLevel[0]!.name]
      const count = selected ? selected.length : (first ? columnLength(first) : 0)
      if (count === 0) return
      const columns = topLevel.map(({ name, int64, intList }): GroupColumn => {
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
      await writeRowGroup(columns, count)
      rows += count
    },
    async close() {
      await parquet.finish()
      await file.commit()
    },
    abort: () => file.abort(),
  }
}

/** A hyparquet-writer Writer that streams to the atomic file, waiting for the disk between row groups. */
function streamWriter(file: AtomicFile): ByteWriter & { flush(): Promise<void> } {
  const writer = new ByteWriter() as ByteWriter & { flush(): Promise<void> }
  let drained: Promise<void> | undefined
  const push = () => {
    if (writer.index === 0) return
    const chunk = new Uint8Array(writer.buffer.slice(0, writer.index))
    writer.index = 0
    if (!file.stream.write(chunk) && !drained) {
      drained = file.drained().finally(() => { drained = undefined })
      drained.catch(() => {}) // flush/finish await it; a run that fails elsewhere first must not also die of this one
    }
  }
  const grow = writer.ensure.bind(writer)
  writer.ensure = (size: number) => {
    if (writer.index > flushSize) push()
    grow(size)
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

interface TopLevelColumn {
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
