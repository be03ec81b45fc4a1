/**
 * Row groups written for hyparquet-writer's ParquetWriter column by column: list<int> columns from their
 * typed arrays ({@link writeIntListChunk}), every other column as `ParquetWriter.write` writes it.
 * `write()` takes only JS arrays, so the group is added to the writer's `row_groups`, `pendingIndexes`
 * and `num_rows` (public fields in its type declarations) the way `write()` adds it, for `finish()` to
 * write the page indexes and the footer.
 */
import type { ColumnChunk, SchemaTree } from 'hyparquet'
import type { ColumnSource, ParquetWriter } from 'hyparquet-writer'
import { writeColumn } from 'hyparquet-writer/src/column.js'
import { encodeNestedValues } from 'hyparquet-writer/src/dremel.js'
import { schemaPathResolver } from 'hyparquet-writer/src/schema.js'
import { encodeVariantColumn } from 'hyparquet-writer/src/variant.js'
import type { IntListColumn } from '../parquet/intList.js'
import type { IntListLayout } from '../parquet/intListDecode.js'
import { writeIntListChunk } from './intListChunk.js'

/** A top-level list<int> column of a row group, with its layout in the output schema. */
export interface IntListSource {
  name: string
  intList: IntListColumn
  layout: IntListLayout
}

/** A top-level column of a row group: JS values for hyparquet-writer, or a flat list<int> column. */
export type GroupColumn = ColumnSource | IntListSource

/** Writes one row group of `rows` rows, all columns in schema order, then flushes the writer. */
export type RowGroupWriter = (columns: GroupColumn[], rows: number) => void | Promise<void>

// ParquetWriter.write's default
const pageSize = 1024 * 1024

/** A row group writer for `parquet` (its schema resolved once). */
export function rowGroupWriter(parquet: ParquetWriter): RowGroupWriter {
  const resolve = schemaPathResolver(parquet.schema)
  return (columns, rows) => {
    const { writer } = parquet
    const start = writer.offset
    const chunks: ColumnChunk[] = []
    for (const column of columns) {
      const path = resolve([column.name])
      const written = 'intList' in column ? [writeFlat(parquet, column, path)] : writeValues(parquet, column, path)
      for (const result of written) {
        chunks.push(result.chunk)
        parquet.pendingIndexes.push(result)
      }
    }
    let total_byte_size = 0n
    for (const { meta_data } of chunks) total_byte_size += meta_data?.total_uncompressed_size ?? 0n
    parquet.num_rows += BigInt(rows)
    parquet.row_groups.push({ columns: chunks, total_byte_size, num_rows: BigInt(rows), total_compressed_size: BigInt(writer.offset - start) })
    return writer.flush?.()
  }
}

function writeFlat(parquet: ParquetWriter, { intList, layout }: IntListSource, path: SchemaTree[]) {
  return writeIntListChunk(parquet.writer, intList, {
    schemaPath: leafPaths(path)[0]!.map((node) => node.element),
    layout,
    codec: parquet.codec,
    compress: parquet.compressors[parquet.codec],
    pageSize,
  })
}

/** A column's chunks (one per leaf), each as `ParquetWriter.write` writes it. */
function writeValues(parquet: ParquetWriter, source: ColumnSource, path: SchemaTree[]) {
  const { name, data, encoding, codec = parquet.codec, columnIndex = false, offsetIndex = true, bloomFilter, statistics = parquet.statistics } = source
  const element = path.at(-1)!.element
  const rows = element.logical_type?.type === 'VARIANT'
    ? encodeVariantColumn(Array.from(data), undefined, { name, required: element.repetition_type === 'REQUIRED' })
    : data
  return leafPaths(path).map((leafPath) => {
    const schemaPath = leafPath.map((node) => node.element)
    const column = {
      columnName: schemaPath.slice(1).map((s) => s.name).join('.'),
      element: schemaPath.at(-1)!,
      schemaPath,
      codec,
      compressors: parquet.compressors,
      stats: statistics,
      statisticsTruncateLength: parquet.statisticsTruncateLength,
      pageSize,
      columnIndex,
      offsetIndex,
      encoding,
      bloomFilter,
    }
    return writeColumn({ writer: parquet.writer, column, pageData: encodeNestedValues(leafPath, rows) })
  })
}

/** Schema paths from the root to every leaf under the last node of `path`. */
function leafPaths(path: SchemaTree[]): SchemaTree[][] {
  const node = path.at(-1)!
  if (!node.children.length) return [path]
  return node.children.flatMap((child) => leafPaths([...path, child]))
}
