import type { FileMetaData, SchemaElement } from 'hyparquet'
import { columnNames } from './rows.js'

/** A column's type, physical and logical, as people read it (`string`, `double`, `list<int32>`). */
export interface ColumnDescription {
  name: string
  type: string
  physical_type: string
  logical_type: string | null
  repetition: string
  compressed_bytes: number
  uncompressed_bytes: number
  codecs: string[]
  /** Every row group has min/max statistics for it. */
  statistics: boolean
}

/** One row group. */
export interface RowGroupDescription {
  index: number
  rows: number
  compressed_bytes: number
  uncompressed_bytes: number
  columns: {
    path: string
    codec: string
    compressed_bytes: number
    uncompressed_bytes: number
    min: unknown
    max: unknown
    null_count: number | null
    offset_index: boolean
    column_index: boolean
  }[]
}

/** Everything the footer says about a file. */
export interface FileDescription {
  name: string
  size: number
  rows: number
  created_by: string | null
  columns: ColumnDescription[]
  row_groups: RowGroupDescription[]
  /** How many column chunks have an offset index / a column index. */
  page_index: { chunks: number, offset_index: number, column_index: number }
  /** `huggingface` features, as column → type. */
  features: Record<string, string> | null
  /** Every key-value metadata entry (`huggingface` too), whole: parsed where the value is JSON, else the text. */
  key_value_metadata: Record<string, unknown>
}

/** Describe a file from its footer alone. */
export function describeFile(name: string, size: number, metadata: FileMetaData): FileDescription {
  const names = columnNames(metadata)
  const rowGroups = metadata.row_groups.map((group, index): RowGroupDescription => {
    const columns = group.columns.map((chunk) => {
      const meta = chunk.meta_data!
      const stats = meta.statistics
      return {
        path: meta.path_in_schema.join('.'),
        codec: meta.codec,
        compressed_bytes: Number(meta.total_compressed_size),
        uncompressed_bytes: Number(meta.total_uncompressed_size),
        min: shorten(stats?.min_value ?? stats?.min),
        max: shorten(stats?.max_value ?? stats?.max),
        null_count: stats?.null_count === undefined ? null : Number(stats.null_count),
        offset_index: chunk.offset_index_offset !== undefined,
        column_index: chunk.column_index_offset !== undefined,
      }
    })
    return {
      index,
      rows: Number(group.num_rows),
      compressed_bytes: columns.reduce((sum, c) => sum + c.compressed_bytes, 0),
      uncompressed_bytes: columns.reduce((sum, c) => sum + c.uncompressed_bytes, 0),
      columns,
    }
  })
  const allChunks = rowGroups.flatMap((group) => group.columns)
  const keyValues: Record<string, unknown> = {}
  for (const { key, value } of metadata.key_value_metadata ?? []) keyValues[key] = jsonOrText(value ?? '')
  const features = featureTypes(keyValues.huggingface)
  return {
    name,
    size,
    rows: Number(metadata.num_rows),
    created_by: metadata.created_by ?? null,
    columns: names.map((column) => {
      const chunks = allChunks.filter((chunk) => chunk.path.split('.')[0] === column)
      const elements = subtree(metadata.schema, column)
      return {
        name: column,
        type: typeName(elements),
        physical_type: elements.at(-1)?.type ?? 'GROUP',
        logical_type: logicalName(elements[0]!),
        repetition: elements[0]!.repetition_type ?? 'REQUIRED',
        compressed_bytes: chunks.reduce((sum, c) => sum + c.compressed_bytes, 0),
        uncompressed_bytes: chunks.reduce((sum, c) => sum + c.uncompressed_bytes, 0),
        codecs: [...new Set(chunks.map((c) => c.codec))],
        statistics: chunks.length > 0 && chunks.every((c) => c.min !== undefined && c.max !== undefined),
      }
    }),
    row_groups: rowGroups,
    page_index: {
      chunks: allChunks.length,
      offset_index: allChunks.filter((c) => c.offset_index).length,
      column_index: allChunks.filter((c) => c.column_index).length,
    },
    features,
    key_value_metadata: keyValues,
  }
}

/** Totals over several files (a split). */
export interface FilesSummary {
  files: number
  rows: number
  bytes: number
  uncompressed_bytes: number
  row_groups: number
  rows_per_row_group: { min: number, median: number, max: number }
  uncompressed_bytes_per_row_group: { min: number, median: number, max: number }
  codecs: Record<string, number>
  page_index: 'all' | 'some' | 'none'
}

/** Summarise file descriptions. */
export function summarizeFiles(files: FileDescription[]): FilesSummary {
  const groups = files.flatMap((file) => file.row_groups)
  const codecs: Record<string, number> = {}
  for (const group of groups) for (const column of group.columns) codecs[column.codec] = (codecs[column.codec] ?? 0) + 1
  const indexed = files.filter((file) => file.page_index.offset_index > 0).length
  return {
    files: files.length,
    rows: files.reduce((sum, file) => sum + file.rows, 0),
    bytes: files.reduce((sum, file) => sum + file.size, 0),
    uncompressed_bytes: groups.reduce((sum, group) => sum + group.uncompressed_bytes, 0),
    row_groups: groups.length,
    rows_per_row_group: spread(groups.map((group) => group.rows)),
    uncompressed_bytes_per_row_group: spread(groups.map((group) => group.uncompressed_bytes)),
    codecs,
    page_index: indexed === files.length && files.length > 0 ? 'all' : indexed > 0 ? 'some' : 'none',
  }
}

function spread(values: number[]): { min: number, median: number, max: number } {
  const sorted = [...values].sort((a, b) => a - b)
  return { min: sorted[0] ?? 0, median: sorted[Math.floor((sorted.length - 1) / 2)] ?? 0, max: sorted.at(-1) ?? 0 }
}

/** The schema elements of one top-level column: the column and its descendants. */
function subtree(schema: SchemaElement[], name: string): SchemaElement[] {
  let i = 1
  while (i < schema.length) {
    const start = i
    let pending = 1
    while (pending > 0) {
      pending += (schema[i]!.num_children ?? 0) - 1
      i++
    }
    if (schema[start]!.name === name) return schema.slice(start, i)
  }
  return []
}

function typeName(elements: SchemaElement[]): string {
  const root = elements[0]
  if (!root) return '?'
  if (root.converted_type === 'LIST' || root.logical_type?.type === 'LIST') return `list<${typeName(elements.slice(2))}>`
  if (root.num_children) return `struct<${elements.slice(1).map((e) => e.name).join(', ')}>`
  if (root.logical_type?.type === 'STRING' || root.converted_type === 'UTF8') return 'string'
  if (root.logical_type?.type === 'JSON' || root.converted_type === 'JSON') return 'json'
  return (root.type ?? '?').toLowerCase().replace('byte_array', 'binary')
}

function logicalName(element: SchemaElement): string | null {
  return element.logical_type?.type ?? element.converted_type ?? null
}

function jsonOrText(value: string): unknown {
  try {
    return JSON.parse(value)
  } catch {
    return value
  }
}

/** The `datasets` features of the `huggingface` metadata, as column → type. */
function featureTypes(huggingface: unknown): Record<string, string> | null {
  const features = (huggingface as { info?: { features?: unknown } } | null | undefined)?.info?.features
  if (!features || typeof features !== 'object') return null
  const describe = (feature: unknown): string => {
    const f = (feature ?? {}) as { _type?: string, dtype?: string, feature?: unknown }
    if (f._type === 'Value') return f.dtype ?? '?'
    if (f._type === 'List' || f._type === 'Sequence') return `list<${describe(f.feature)}>`
    return f._type ?? '?'
  }
  return Object.fromEntries(Object.entries(features).map(([name, feature]) => [name, describe(feature)]))
}

function shorten(value: unknown): unknown {
  if (typeof value === 'bigint') return Number(value)
  if (typeof value === 'string' && value.length > 80) return `${value.slice(0, 77)}…`
  if (value instanceof Uint8Array) return `<${value.length} bytes>`
  return value
}
