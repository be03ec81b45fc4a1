/**
 * Page locations of a column chunk that has no offset index, found by walking its page headers: the
 * published CoderForge shards (`datasets` 4.0) carry no page index, and without page locations a
 * slice of their one big row group would have to read (and decompress up to its rows) the whole
 * group. A flat column's data page header gives its rows, and a list<int> column's V2 page header too
 * (a V2 page starts a row). A V1 list page's rows are in its levels: the page is read and decompressed
 * and its repetition levels counted; parquet-cpp may cut V1 pages in mid-row when it writes no page
 * index, so a page that goes on with the row before joins the location of the page it goes on from:
 * every location starts a row, and a slice of whole locations holds whole rows.
 */
import type { AsyncBuffer, ColumnChunk, CompressionCodec, FileMetaData, OffsetIndex, PageHeader } from 'hyparquet'
import { parquetHeader } from 'hyparquet/src/column.js'
import { decompressPage } from 'hyparquet/src/datapage.js'
import { compressors, loadZstd } from './codecs.js'
import { intListLayout } from './intListDecode.js'
import { readHybrid } from './levels.js'
import { fieldSubtrees } from './schema.js'

/** Where a data page is and its first row, as an offset index gives it. */
export type PageLocation = OffsetIndex['page_locations'][number]

/** Bytes read per header: page statistics can make one a few KB (parquet-cpp keeps them under 4 KB a value). */
const headerWindow = 16 * 1024
/** The window for a header the first one did not hold. */
const largeHeaderWindow = 1024 * 1024

/**
 * The data pages of `chunk` (offset and size with the header, first row), read from `file` a header
 * at a time (and a V1 list<int> page whole); undefined when the column is neither flat nor a
 * list<int>, a header or a V1 list page's levels do not parse, or the pages' rows do not add up to `rows`.
 */
export async function walkPageLocations(file: AsyncBuffer, metadata: FileMetaData, chunk: ColumnChunk, rows: number): Promise<PageLocation[] | undefined> {
  const meta = chunk.meta_data
  if (!meta) return undefined
  const list = meta.path_in_schema.length === 3 && !!intListLayout(metadata.schema, meta.path_in_schema[0]!)
  if (!list && !isFlat(metadata, meta.path_in_schema)) return undefined
  if (meta.codec === 'ZSTD') await loadZstd()
  const start = Number(meta.dictionary_page_offset || meta.data_page_offset)
  const end = start + Number(meta.total_compressed_size)
  const pages: PageLocation[] = []
  let rowsSoFar = 0
  for (let position = start; position < end;) {
    const header = await headerAt(file, position, end)
    if (!header) return undefined
    const { page, size } = header
    if (page.type === 'DATA_PAGE' || page.type === 'DATA_PAGE_V2') {
      const v1ListRows = list && !page.data_page_header_v2 ? await rowStarts(file, position, header, meta.codec) : undefined
      if (v1ListRows === null) return undefined
      if (v1ListRows && !v1ListRows.startsRow) {
        // the row before goes on here: one location with the page it started in
        const last = pages.at(-1)
        if (!last) return undefined
        last.compressed_page_size += size
      } else {
        pages.push({ offset: BigInt(position), compressed_page_size: size, first_row_index: BigInt(rowsSoFar) })
      }
      rowsSoFar += v1ListRows?.rows ?? page.data_page_header_v2?.num_rows ?? page.data_page_header!.num_values
    } else if (page.type !== 'DICTIONARY_PAGE') {
      return undefined
    }
    position += size
  }
  return rowsSoFar === rows && pages.length > 0 ? pages : undefined
}

// repetition levels of the page being counted, reused: a list<int> level is one byte (max level 1)
let levels = new Uint8Array(0)

/**
 * Rows a V1 page of a list<int> chunk starts (its repetition levels that are 0), and whether it starts
 * with one; null when its levels are not RLE or do not parse.
 */
async function rowStarts(file: AsyncBuffer, position: number, { page, size, headerSize }: PageAt, codec: CompressionCodec): Promise<{ rows: number, startsRow: boolean } | null> {
  const v1 = page.data_page_header!
  if (v1.repetition_level_encoding !== 'RLE') return null
  try {
    const body = new Uint8Array(await file.slice(position + headerSize, position + size))
    const bytes = decompressPage(body, page.uncompressed_page_size, codec, compressors)
    if (levels.length < v1.num_values) levels = new Uint8Array(v1.num_values)
    const rep = levels.subarray(0, v1.num_values)
    const repLength = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(0, true)
    if (readHybrid(bytes, 4, repLength, 1, rep) === 0) return { rows: rep.length, startsRow: true }
    let rows = 0
    for (let i = rep.indexOf(0); i !== -1; i = rep.indexOf(0, i + 1)) rows++
    return { rows, startsRow: rep.length > 0 && rep[0] === 0 }
  } catch {
    return null
  }
}

/** True when the column at `path` is a top-level, non-repeated leaf: one value per row. */
function isFlat(metadata: FileMetaData, path: string[]): boolean {
  if (path.length !== 1) return false
  const field = fieldSubtrees(metadata.schema).find(([element]) => element!.name === path[0])
  return field?.length === 1 && field[0]!.repetition_type !== 'REPEATED'
}

/** A page header, the page's size with it, and the header's own. */
interface PageAt {
  page: PageHeader
  size: number
  headerSize: number
}

/** The page header at `position` and the page's size with it, or undefined when it does not parse within the chunk. */
async function headerAt(file: AsyncBuffer, position: number, end: number): Promise<PageAt | undefined> {
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
    return { page: header, size, headerSize: reader.offset }
  }
  return undefined
}
