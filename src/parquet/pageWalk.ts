/**
 * Page locations of a column chunk that has no offset index, found by walking its page headers: the
 * published CoderForge shards (`datasets` 4.0) carry no page index, and without page locations a
 * slice of their one big row group would have to read (and decompress up to its rows) the whole
 * group. A flat column's data page header gives its rows. A list<int> column's does only for a V2
 * page, which starts a row; a V1 page's rows are in its compressed levels, and parquet-cpp may cut V1
 * pages in mid-row when it writes no page index, so such a chunk is not walked (the group is read as before).
 */
import type { AsyncBuffer, ColumnChunk, FileMetaData, OffsetIndex, PageHeader } from 'hyparquet'
import { parquetHeader } from 'hyparquet/src/column.js'
import { intListLayout } from './intListDecode.js'
import { fieldSubtrees } from './schema.js'

/** Where a data page is and its first row, as an offset index gives it. */
export type PageLocation = OffsetIndex['page_locations'][number]

/** Bytes read per header: page statistics can make one a few KB (parquet-cpp keeps them under 4 KB a value). */
const headerWindow = 16 * 1024
/** The window for a header the first one did not hold. */
const largeHeaderWindow = 1024 * 1024

/**
 * The data pages of `chunk` (offset and size with the header, first row), read from `file` a header
 * at a time; undefined when the column is neither flat nor a list<int> of V2 pages, a header does not
 * parse, or the pages' rows do not add up to `rows`.
 */
export async function walkPageLocations(file: AsyncBuffer, metadata: FileMetaData, chunk: ColumnChunk, rows: number): Promise<PageLocation[] | undefined> {
  const meta = chunk.meta_data
  if (!meta) return undefined
  const list = meta.path_in_schema.length === 3 && !!intListLayout(metadata.schema, meta.path_in_schema[0]!)
  if (!list && !isFlat(metadata, meta.path_in_schema)) return undefined
  const start = Number(meta.dictionary_page_offset || meta.data_page_offset)
  const end = start + Number(meta.total_compressed_size)
  const pages: PageLocation[] = []
  let rowsSoFar = 0
  for (let position = start; position < end;) {
    const header = await headerAt(file, position, end)
    if (!header) return undefined
    const { page, size } = header
    if (page.type === 'DATA_PAGE' || page.type === 'DATA_PAGE_V2') {
      if (list && !page.data_page_header_v2) return undefined
      pages.push({ offset: BigInt(position), compressed_page_size: size, first_row_index: BigInt(rowsSoFar) })
      rowsSoFar += page.data_page_header_v2?.num_rows ?? page.data_page_header!.num_values
    } else if (page.type !== 'DICTIONARY_PAGE') {
      return undefined
    }
    position += size
  }
  return rowsSoFar === rows && pages.length > 0 ? pages : undefined
}

/** True when the column at `path` is a top-level, non-repeated leaf: one value per row. */
function isFlat(metadata: FileMetaData, path: string[]): boolean {
  if (path.length !== 1) return false
  const field = fieldSubtrees(metadata.schema).find(([element]) => element!.name === path[0])
  return field?.length === 1 && field[0]!.repetition_type !== 'REPEATED'
}

/** The page header at `position` and the page's size with it, or undefined when it does not parse within the chunk. */
async function headerAt(file: AsyncBuffer, position: number, end: number): Promise<{ page: PageHeader, size: number } | undefined> {
  for (const window of [headerWindow, largeHeaderWindow]) {
    const bytes = await file.slice(position, Math.min(end, position + window))
    const reader = { view: new DataView(bytes), offset: 0 }
    let header
    try {
      header = parquetHeader(reader)
    } catch {
      // cut short by the window (or damaged): a larger window, then give up
      if (position + window >= end) return undefined
      continue
    }
    const size = reader.offset + header.compressed_page_size
    if (header.compressed_page_size < 0 || position + size > end) return undefined
    if (header.type === 'DATA_PAGE' ? !header.data_page_header : header.type === 'DATA_PAGE_V2' && !header.data_page_header_v2) return undefined
    return { page: header, size }
  }
  return undefined
}
