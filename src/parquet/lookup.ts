import type { FileMetaData } from 'hyparquet'
import { compareText } from './textOrder.js'
import { readBatches } from './rows.js'
import type { ByteSource } from './source.js'
import { cellAt } from './intList.js'

/** A file to search, with its footer already read. */
export interface OpenFile {
  source: ByteSource
  metadata: FileMetaData
}

/** Where a key was found, and what the search had to read. */
export interface LookupResult {
  file: OpenFile
  rowGroup: number
  /** Row index within the file. */
  row: number
  /** Row groups whose key column was read (the others were ruled out by their statistics). */
  rowGroupsRead: number
}

/**
 * Find the first row whose string column `column` equals `key`. Row groups whose min/max statistics
 * exclude the key are skipped without reading them, so with sorted shards one row group is read.
 */
export async function findRow(files: OpenFile[], column: string, key: string): Promise<LookupResult | undefined> {
  let rowGroupsRead = 0
  for (const file of files) {
    const candidates = file.metadata.row_groups.flatMap((group, index) => (mayContain(group.columns, column, key) ? [index] : []))
    if (candidates.length === 0) continue
    for await (const batch of readBatches(file.source, file.metadata, { columns: [column], rowGroups: candidates })) {
      rowGroupsRead++
      for (let at = 0; at < batch.numRows; at++) {
        if (cellAt(batch.columns[column], at) === key) return { file, rowGroup: batch.rowGroup, row: batch.rowStart + at, rowGroupsRead }
      }
    }
  }
  return undefined
}

type Chunks = FileMetaData['row_groups'][number]['columns']

function mayContain(chunks: Chunks, column: string, key: string): boolean {
  const stats = chunks.find((chunk) => chunk.meta_data?.path_in_schema.join('.') === column)?.meta_data?.statistics
  const min = stats?.min_value ?? stats?.min
  const max = stats?.max_value ?? stats?.max
  if (typeof min !== 'string' || typeof max !== 'string') return true
  // statistics are in byte (code point) order, not JavaScript's UTF-16 order;
  // a truncated max is a prefix of the true max: keys starting with it may still be inside
  return compareText(key, min) >= 0 && (compareText(key, max) <= 0 || key.startsWith(max))
}
