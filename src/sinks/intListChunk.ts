/**
 * A list<int> column chunk written straight from an {@link IntListColumn}: levels from its offsets and
 * nulls, PLAIN values from its typed array's bytes. hyparquet-writer's general path wants a JS array per
 * row (and a bigint per INT64 value), then works value by value: Dremel levels, an INT64 range check,
 * a dictionary attempt and statistics; on token columns that costs most of an export's time and memory.
 */
import type { ColumnChunk, CompressionCodec, OffsetIndex, SchemaElement, Statistics } from 'hyparquet'
import { ByteWriter, type Writer } from 'hyparquet-writer'
import { writePageHeader } from 'hyparquet-writer/src/datapage.js'
import { writeRleBitPackedHybrid } from 'hyparquet-writer/src/encoding.js'
import type { IntListColumn } from '../parquet/intList.js'
import type { IntListLayout } from '../parquet/intListDecode.js'

/** How {@link writeIntListChunk} writes a column. */
export interface IntListChunkOptions {
  /** Schema elements from the root to the leaf. */
  schemaPath: SchemaElement[]
  /** The output's layout: its `type` is the leaf type written, whatever the values are held in. */
  layout: IntListLayout
  codec: CompressionCodec
  /** Compresses a page's values (none: written as they are). */
  compress?: (bytes: Uint8Array) => Uint8Array
  /** Bytes of values a page aims at; pages are cut only at row starts, so a long row overruns it. */
  pageSize: number
}

/** A written chunk and its offset index, as ParquetWriter keeps them for its footer. */
export interface IntListChunk {
  chunk: ColumnChunk
  offsetIndex: OffsetIndex
}

/** Write every row of `column` as one column chunk of DATA_PAGE_V2 pages at the writer's offset. */
export function writeIntListChunk(writer: Writer, column: IntListColumn, options: IntListChunkOptions): IntListChunk {
  const { layout } = options
  const path = options.schemaPath.slice(1).map((element) => element.name)
  // the decoder narrows INT64 values to Int32Array when all fit, so a BigInt64Array here holds one that does not
  if (layout.type === 'INT32' && column.values instanceof BigInt64Array) throw new Error(`column '${path[0]}': INT64 values do not fit its INT32 output leaf`)
  const start = writer.offset
  const rows = column.offsets.length - 1
  const pageValues = Math.max(1, Math.floor(options.pageSize / (layout.type === 'INT64' ? 8 : 4)))
  const page_locations: OffsetIndex['page_locations'] = []
  let levels = 0
  let uncompressed = 0
  for (let first = 0; first < rows;) {
    const end = pageEnd(column.offsets, first, pageValues)
    const offset = writer.offset
    const page = writePage(writer, column, first, end, options)
    levels += page.levels
    uncompressed += page.uncompressedBytes
    page_locations.push({ offset: BigInt(offset), compressed_page_size: writer.offset - offset, first_row_index: BigInt(first) })
    first = end
  }
  const values = column.values.subarray(column.offsets[0]!, column.offsets[rows]!)
  return {
    chunk: {
      file_offset: BigInt(start),
      meta_data: {
        type: layout.type,
        encodings: ['PLAIN', 'RLE'],
        path_in_schema: path,
        codec: options.codec,
        num_values: BigInt(levels),
        total_uncompressed_size: BigInt(uncompressed),
        total_compressed_size: BigInt(writer.offset - start),
        data_page_offset: BigInt(start),
        statistics: { ...minMax(values), null_count: BigInt(levels - values.length) },
        encoding_stats: [{ page_type: 'DATA_PAGE_V2', encoding: 'PLAIN', count: page_locations.length }],
      },
    },
    offsetIndex: { page_locations },
  }
}

/** The row after the last of a page starting at row `first`: rows are added until the page holds `values` values. */
function pageEnd(offsets: Uint32Array, first: number, values: number): number {
  const rows = offsets.length - 1
  let end = first + 1
  while (end < rows && offsets[end]! - offsets[first]! < values) end++
  return end
}

/** Write rows [first, end) as one page; returns its level count and uncompressed size (header included). */
function writePage(writer: Writer, column: IntListColumn, first: number, end: number, options: IntListChunkOptions): { levels: number, uncompressedBytes: number } {
  const { repetition, definition } = pageLevels(column, first, end, options.layout)
  const levelBytes = new ByteWriter()
  // V2 pages: levels uncompressed, RLE/bit-packed hybrid without the V1 length prefix; max repetition level 1
  const repetitionBytes = writeRleBitPackedHybrid(levelBytes, repetition, 1)
  const definitionBytes = writeRleBitPackedHybrid(levelBytes, definition, 32 - Math.clz32(options.layout.valueDef))
  const plain = plainValues(column.values, column.offsets[first]!, column.offsets[end]!, options.layout.type)
  const compressed = options.compress?.(plain) ?? plain
  const headerStart = writer.offset
  writePageHeader(writer, {
    type: 'DATA_PAGE_V2',
    uncompressed_page_size: levelBytes.offset + plain.length,
    compressed_page_size: levelBytes.offset + compressed.length,
    data_page_header_v2: {
      num_values: repetition.length,
      num_nulls: repetition.length - (column.offsets[end]! - column.offsets[first]!),
      num_rows: end - first,
      encoding: 'PLAIN',
      definition_levels_byte_length: definitionBytes,
      repetition_levels_byte_length: repetitionBytes,
      is_compressed: options.compress !== undefined,
    },
  })
  const headerBytes = writer.offset - headerStart
  writer.appendBytes(levelBytes.getBytes())
  writer.appendBytes(compressed)
  return { levels: repetition.length, uncompressedBytes: headerBytes + levelBytes.offset + plain.length }
}

/**
 * Dremel levels of rows [first, end): a row of n values is n levels (repetition 0 then 1s, definition
 * `valueDef`), an empty or null row one level (repetition 0, definition `emptyDef` or below it).
 */
function pageLevels(column: IntListColumn, first: number, end: number, layout: IntListLayout): { repetition: Uint8Array, definition: Uint8Array } {
  const { offsets, nulls } = column
  let count = 0
  for (let row = first; row < end; row++) count += Math.max(1, offsets[row + 1]! - offsets[row]!)
  const repetition = new Uint8Array(count)
  const definition = new Uint8Array(count)
  let level = 0
  for (let row = first; row < end; row++) {
    const length = offsets[row + 1]! - offsets[row]!
    if (length === 0) {
      if (nulls?.[row] && layout.emptyDef === 0) throw new Error('parquet required value is undefined: a null list in a required list column')
      definition[level++] = nulls?.[row] ? layout.emptyDef - 1 : layout.emptyDef
      continue
    }
    repetition.fill(1, level + 1, level + length)
    definition.fill(layout.valueDef, level, level + length)
    level += length
  }
  return { repetition, definition }
}

/**
 * Values [from, to) as PLAIN bytes of `type`: a view of the array when widths match, else each int32
 * widened to its low word and sign-extended high word (no bigint). Typed arrays are in the platform's
 * byte order, little-endian on every platform Node runs on, as Parquet's PLAIN is.
 */
function plainValues(values: Int32Array | BigInt64Array, from: number, to: number, type: 'INT32' | 'INT64'): Uint8Array {
  const wide = type === 'INT64'
  if (wide === values instanceof BigInt64Array) return new Uint8Array(values.buffer, values.byteOffset + from * values.BYTES_PER_ELEMENT, (to - from) * values.BYTES_PER_ELEMENT)
  const words = new Int32Array(2 * (to - from))
  for (let i = from, j = 0; i < to; i++, j += 2) {
    const value = (values as Int32Array)[i]!
    words[j] = value
    words[j + 1] = value >> 31
  }
  return new Uint8Array(words.buffer)
}

/** Min and max of the values (none for no values), for the chunk's statistics. */
function minMax(values: Int32Array | BigInt64Array): Pick<Statistics, 'min_value' | 'max_value'> {
  if (values.length === 0) return {}
  let min = values[0]!
  let max = min
  for (let i = 1; i < values.length; i++) {
    const value = values[i]!
    if (value < min) min = value
    else if (value > max) max = value
  }
  return { min_value: min, max_value: max }
}
