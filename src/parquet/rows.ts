import { parquetRead, readOffsetIndex, type AsyncBuffer, type ColumnChunk, type FileMetaData } from 'hyparquet'
import { CoderforgeError, DamagedFileError } from '../errors.js'
import { mergeRanges, type Range } from '../fetch/spans.js'
import { compressors, loadZstd } from './codecs.js'
import { cellAt, isIntList, type Column } from './intList.js'
import { decodeIntList, intListLayout, type IntListPages } from './intListDecode.js'
import { walkPageLocations, type PageLocation } from './pageWalk.js'
import { fieldSubtrees } from './schema.js'
import { withHeldBytes, type ByteSource, type HeldSource } from './source.js'

/** Rows of one row group (or one slice of a huge row group), column-oriented. */
export interface RowBatch {
  source: string
  rowGroup: number
  /** Index of the batch's first row in the file. */
  rowStart: number
  numRows: number
  /** Requested columns, each with `numRows` values (list<int> columns flat, see intList.ts). */
  columns: Record<string, Column>
}

/** Options for {@link readBatches}. */
export interface ReadOptions {
  /** Top-level columns to read (default: all). Only their bytes are fetched. */
  columns?: string[]
  /** Row groups to read (default: all). */
  rowGroups?: number[]
  /** First and last+1 row to read, counted over the file. */
  rowStart?: number
  rowEnd?: number
  /** STRING values as UTF-8 `Uint8Array` instead of JS strings (for byte-level writers and scanners). */
  rawStrings?: RawStrings
  /**
   * Row groups larger than this (uncompressed) are read in row slices — through their offset index, or
   * for local files by decompressing only each slice's pages — so memory stays near this size (default 128 MB).
   * A row group with an offset index is read in sixteen slices of at least 2 MiB whatever this says.
   */
  sliceBytes?: number
  /** Keep the bytes read (held by the source) after the batches are done, for a later read of the same file. */
  keepBytes?: boolean
  /** Called as each row group (or slice) starts being fetched: lets tests count what is in memory. */
  onFetch?: (rowGroup: number, rowStart: number, rowEnd: number) => void
}

/** Which columns keep their strings as UTF-8 bytes: every one (true), none (false) or those named. */
export type RawStrings = boolean | readonly string[]

/** `column` keeps its strings as UTF-8 bytes (views of its pages) under `rawStrings`. */
export function keepsBytes(rawStrings: RawStrings, column: string): boolean {
  return rawStrings === true || (Array.isArray(rawStrings) && rawStrings.includes(column))
}

const defaultSliceBytes = 128 * 1024 * 1024
/** Slices of a row group that has an offset index, unless they would be smaller than `minSliceBytes`. */
const slicesPerRowGroup = 16
/** Below this a slice costs more in per-piece work than it saves in memory. */
const minSliceBytes = 2 * 1024 * 1024

/** Top-level column names in schema order. */
export function columnNames(metadata: FileMetaData): string[] {
  return fieldSubtrees(metadata.schema).map(([field]) => field!.name)
}

/** Uncompressed bytes of `columns` in the file's largest row group: what decoding one row group holds. */
export function largestRowGroup(metadata: FileMetaData, columns: string[]): number {
  return Math.max(0, ...metadata.row_groups.map((group) => selectedChunks(group.columns, columns)
    .reduce((sum, chunk) => sum + Number(chunk.meta_data?.total_uncompressed_size ?? 0), 0)))
}

/** Rows [start, end) of one row group: what one decode reads. */
export interface Piece {
  rowGroup: number
  /** Rows [start, end) within the file. */
  start: number
  end: number
  /** Part of a row group read in slices. */
  sliced: boolean
  /** Its chunks have an offset index, walked page locations, or need none: a slice can read only its own pages. */
  indexed: boolean
  /** A slice's page locations walked from the page headers, by column path, for the chunks without an offset index. */
  pages?: Record<string, PageLocation[]>
}

/** A piece with the bytes of its column chunks, ready to decode anywhere (another thread too). */
export interface PieceBytes {
  /** The file's name, for error messages. */
  name: string
  piece: Piece
  /** Size of the whole file. */
  byteLength: number
  /** The bytes of the piece's chunk ranges, in file order, not overlapping. */
  spans: { start: number, bytes: ArrayBuffer }[]
}

/**
 * Stream a file's rows one row group at a time. While the caller works on a batch, the next row
 * group's column chunks are already being fetched, so remote reads overlap with decoding; at most
 * two row groups are held at once (one decoded, one compressed in flight). Bytes the source already
 * holds (the footer tail, chunks fetched ahead by the caller) are not read again.
 */
export async function* readBatches(source: ByteSource, metadata: FileMetaData, options: ReadOptions = {}): AsyncGenerator<RowBatch> {
  const columns = checkColumns(source, metadata, options.columns)
  const pieces = streamPieces(source, metadata, { ...options, columns, slicesCarryBytes: false }, (held, piece) => decodePiece(source.name, held, metadata, columns, piece, options.rawStrings))
  for await (const { piece, value } of pieces) {
    yield { source: source.name, rowGroup: piece.rowGroup, rowStart: piece.start, numRows: piece.end - piece.start, columns: value }
  }
}

/**
 * Stream a file's pieces with their chunk bytes, for decoding elsewhere (worker threads): the same
 * plan, fetch-ahead and holding as {@link readBatches}, slices of a row group sharing its whole chunks.
 */
export async function* readPieces(source: ByteSource, metadata: FileMetaData, options: ReadOptions = {}): AsyncGenerator<PieceBytes> {
  const columns = checkColumns(source, metadata, options.columns)
  const pieces = streamPieces(source, metadata, { ...options, columns, slicesCarryBytes: true }, async (held, piece, last) => {
    const ranges = await pieceRanges(held, metadata, columns, piece)
    // slices of a remote row group share its held chunks (a copy each); a whole row group, or its last slice, takes them
    return piece.sliced && !(last && !options.keepBytes) ? Promise.all(ranges.map(async ([start, end]) => ({ start, bytes: await held.slice(start, end) }))) : takeGroup(held, ranges)
  })
  for await (const { piece, value } of pieces) yield { name: source.name, piece, byteLength: source.byteLength, spans: value }
}

/**
 * A whole row group's bytes for the decoder: the held spans inside its chunk ranges handed over as
 * they were fetched (hyparquet reads a large chunk alone, so it lies in one span: no copy of it), and
 * copies of the rest — the parts of spans reaching out of the ranges (the footer's tail, which may
 * hold the last small chunks) and anything not held.
 */
function takeGroup(held: HeldSource, ranges: Range[]): Promise<{ start: number, bytes: ArrayBuffer }[]> {
  const parts: Promise<{ start: number, bytes: ArrayBuffer }>[] = []
  const copy = (start: number, end: number) => Promise.resolve(held.slice(start, end)).then((bytes) => ({ start, bytes }))
  for (const [start, end] of ranges) {
    let position = start
    for (const [spanStart, spanEnd] of held.heldSpans(start, end)) {
      if (spanStart > position) parts.push(copy(position, spanStart))
      const taken = spanStart >= start && spanEnd <= end ? held.take(spanStart, spanEnd) : undefined
      parts.push(taken ? taken.then((bytes) => ({ start: spanStart, bytes })) : copy(Math.max(start, spanStart), Math.min(end, spanEnd)))
      position = Math.min(end, spanEnd)
    }
    if (position < end) parts.push(copy(position, end))
  }
  return Promise.all(parts)
}

/**
 * The byte ranges a piece decodes from: its row group's chunks, or for a slice through the offset
 * index, each large chunk's index, dictionary page and the slice's own pages (the reads hyparquet and
 * intListPages make for it), so a slice sent to another thread carries its pages, not the whole group.
 */
async function pieceRanges(file: AsyncBuffer, metadata: FileMetaData, columns: string[], piece: Piece): Promise<Range[]> {
  if (!(piece.sliced && piece.indexed)) return chunkRanges(metadata, piece.rowGroup, columns)
  const chunks = selectedChunks(metadata.row_groups[piece.rowGroup]!.columns, columns)
  const ranges = await Promise.all(chunks.map(async (chunk): Promise<Range[]> => {
    const pages = await slicePages(file, metadata, chunk, piece)
    return pages ? [...(pages.index ? [pages.index] : []), ...(pages.dictionary ? [pages.dictionary] : []), pages.data] : [wholeChunk(chunk)]
  }))
  // hyparquet reads chunks less than 8 KiB apart as one range: each must lie inside one of ours
  return mergeRanges(ranges.flat(), 8 * 1024)
}

/** Where a slice's pages of one column chunk are, from the chunk's offset index (read from `file`). */
interface SlicePages {
  /** The offset index itself (none for walked page locations). */
  index?: Range
  /** The dictionary page, when the chunk has one. */
  dictionary?: Range
  /** The data pages holding the slice's rows. */
  data: Range
  /** Rows of the row group: where the first of those pages starts, and where the last one ends. */
  firstRow: number
  endRow: number
}

/** The pages of `chunk` holding `piece`'s rows; undefined when the chunk has neither an offset index nor walked locations. */
async function slicePages(file: ViewBuffer, metadata: FileMetaData, chunk: ColumnChunk, piece: Piece): Promise<SlicePages | undefined> {
  const walked = piece.pages?.[chunk.meta_data?.path_in_schema.join('.') ?? '']
  if (!walked && (chunk.offset_index_offset === undefined || !chunk.offset_index_length)) return undefined
  const index: Range | undefined = walked ? undefined : [Number(chunk.offset_index_offset), Number(chunk.offset_index_offset) + chunk.offset_index_length!]
  const pages = walked ?? await offsetIndexPages(file, index!)
  const groupStart = rowGroupStart(metadata, piece.rowGroup)
  const rows = Number(metadata.row_groups[piece.rowGroup]!.num_rows)
  const rowOf = (page: number) => (page < pages.length ? Number(pages[page]!.first_row_index) : rows)
  let first = 0
  while (rowOf(first + 1) <= piece.start - groupStart) first++
  let last = first
  while (rowOf(last + 1) < piece.end - groupStart) last++
  const [chunkStart] = wholeChunk(chunk)
  const pagesStart = Number(pages[0]!.offset)
  return {
    index,
    dictionary: pagesStart > chunkStart ? [chunkStart, pagesStart] : undefined,
    data: [Number(pages[first]!.offset), Number(pages[last]!.offset) + pages[last]!.compressed_page_size],
    firstRow: rowOf(first),
    endRow: rowOf(last + 1),
  }
}

async function offsetIndexPages(file: ViewBuffer, index: Range): Promise<PageLocation[]> {
  const bytes = file.view?.(...index) ?? new Uint8Array(await file.slice(...index))
  return readOffsetIndex({ view: new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), offset: 0 }).page_locations
}

/** A column chunk's byte range, dictionary page included. */
function wholeChunk(chunk: ColumnChunk): Range {
  const meta = chunk.meta_data!
  const start = Number(meta.dictionary_page_offset || meta.data_page_offset)
  return [start, start + Number(meta.total_compressed_size)]
}

/** Index in the file of a row group's first row. */
function rowGroupStart(metadata: FileMetaData, rowGroup: number): number {
  return metadata.row_groups.slice(0, rowGroup).reduce((sum, group) => sum + Number(group.num_rows), 0)
}

/** Decode a piece from its chunk bytes (see {@link readPieces}). */
export function decodePieceBytes(metadata: FileMetaData, columns: string[], { name, piece, byteLength, spans }: PieceBytes, rawStrings: RawStrings = false): Promise<Record<string, Column>> {
  return decodePiece(name, spanBuffer(byteLength, spans), metadata, columns, piece, rawStrings)
}

function checkColumns(source: ByteSource, metadata: FileMetaData, wanted: string[] | undefined): string[] {
  const names = columnNames(metadata)
  const columns = wanted ?? names
  for (const column of columns) {
    if (!names.includes(column)) throw new CoderforgeError(`${source.name} has no column '${column}' (columns: ${names.join(', ')})`)
  }
  return columns
}

/** An AsyncBuffer that can also lend bytes without copying them. */
interface ViewBuffer extends AsyncBuffer {
  view?(start: number, end: number): Uint8Array
}

/**
 * An AsyncBuffer answering from spans alone: a piece's chunk bytes away from the file. A read inside
 * one span is lent from it; one across spans (a run of small chunks hyparquet reads at once) is joined.
 */
function spanBuffer(size: number, spans: PieceBytes['spans']): ViewBuffer {
  const holding = (start: number, end: number) => spans.find((s) => s.start <= start && end <= s.start + s.bytes.byteLength)
  const joined = (start: number, end: number): Uint8Array => {
    const bytes = new Uint8Array(end - start)
    let position = start
    for (const span of spans) {
      const spanEnd = span.start + span.bytes.byteLength
      if (spanEnd <= position || span.start > position || position >= end) continue
      const to = Math.min(end, spanEnd)
      bytes.set(new Uint8Array(span.bytes, position - span.start, to - position), position - start)
      position = to
    }
    if (position < end) throw new CoderforgeError(`internal: bytes ${start}-${end} are not among the piece's chunks`)
    return bytes
  }
  return {
    byteLength: size,
    slice(start, end = size) {
      const span = holding(start, end)
      if (!span) return joined(start, end).buffer as ArrayBuffer
      // a read of a whole span (a slice's pages of a large chunk, as a rule) is the span itself: the
      // piece's bytes are read-only and decoded once, so a copy would only double them
      return span.start === start && span.bytes.byteLength === end - start ? span.bytes : span.bytes.slice(start - span.start, end - span.start)
    },
    view(start, end) {
      const span = holding(start, end)
      return span ? new Uint8Array(span.bytes, start - span.start, end - start) : joined(start, end)
    },
  }
}

/**
 * The plan of pieces, each decoded by `decode` while the next piece's chunks are fetched; a row
 * group's chunks are held from its first piece to its last (slices of a huge row group share one
 * fetch), then released unless `keepBytes`.
 */
async function* streamPieces<T>(source: ByteSource, metadata: FileMetaData, options: ReadOptions & { columns: string[], slicesCarryBytes: boolean },
  decode: (held: HeldSource, piece: Piece, lastOfGroup: boolean) => Promise<T>): AsyncGenerator<{ piece: Piece, value: T }> {
  const held = withHeldBytes(source)
  // a local file's chunks without an offset index get page locations from their headers (a few small reads)
  const walked = source.cheapRereads ? await walkGroups(held, metadata, options.columns, options.rowGroups) : undefined
  const pieces = planPieces(metadata, options.columns, options, walked)
  const groupRanges = (piece: Piece) => chunkRanges(metadata, piece.rowGroup, options.columns)
  const fetchPiece = (piece: Piece, index: number) => {
    options.onFetch?.(piece.rowGroup, piece.start, piece.end)
    // from a local file, a slice through page locations reads only its own pages, and one that carries its
    // bytes away (to a thread) reads its whole chunks itself; a remote group is fetched once for all its
    // slices (a page a slice boundary cuts through would come twice), and this thread's slices view it
    const direct = piece.sliced && source.cheapRereads && (piece.indexed || options.slicesCarryBytes)
    if (!direct && pieces[index - 1]?.rowGroup !== piece.rowGroup) held.hold(groupRanges(piece))
  }
  if (pieces[0]) fetchPiece(pieces[0], 0)
  try {
    for (const [index, piece] of pieces.entries()) {
      const next = pieces[index + 1]
      const decoded = decode(held, piece, next?.rowGroup !== piece.rowGroup)
      if (next) fetchPiece(next, index + 1)
      const value = await decoded
      if (!options.keepBytes && next?.rowGroup !== piece.rowGroup) held.release(groupRanges(piece))
      yield { piece, value }
    }
  } finally {
    if (!options.keepBytes) for (const piece of pieces) held.release(groupRanges(piece))
  }
}

/** Walked page locations of the large chunks without an offset index, by row group; only groups whose every such chunk could be walked. */
async function walkGroups(file: AsyncBuffer, metadata: FileMetaData, columns: string[], rowGroups?: number[]): Promise<Map<number, Record<string, PageLocation[]>>> {
  const walked = new Map<number, Record<string, PageLocation[]>>()
  for (const [index, group] of metadata.row_groups.entries()) {
    if (rowGroups && !rowGroups.includes(index)) continue
    const unindexed = selectedChunks(group.columns, columns).filter((chunk) => isLarge(chunk) && chunk.offset_index_offset === undefined)
    if (unindexed.length === 0) continue
    const pages: Record<string, PageLocation[]> = {}
    for (const chunk of unindexed) {
      const locations = await walkPageLocations(file, metadata, chunk, Number(group.num_rows))
      if (!locations) break
      pages[chunk.meta_data!.path_in_schema.join('.')] = locations
    }
    if (Object.keys(pages).length === unindexed.length) walked.set(index, pages)
  }
  return walked
}

/** The chunks of the top-level `columns`. */
function selectedChunks(chunks: ColumnChunk[], columns: string[]): ColumnChunk[] {
  return chunks.filter((chunk) => columns.includes(chunk.meta_data?.path_in_schema[0] ?? ''))
}

/** Single-page chunks get no offset index, and need none: only the large ones must have one to slice a row group. */
function isLarge(chunk: ColumnChunk): boolean {
  return Number(chunk.meta_data?.total_uncompressed_size ?? 0) >= 1 << 20
}

function planPieces(metadata: FileMetaData, columns: string[], options: ReadOptions, walked?: Map<number, Record<string, PageLocation[]>>): Piece[] {
  const sliceBytes = options.sliceBytes ?? defaultSliceBytes
  const pieces: Piece[] = []
  let groupStart = 0
  for (const [index, group] of metadata.row_groups.entries()) {
    const rows = Number(group.num_rows)
    const start = Math.max(groupStart, options.rowStart ?? 0)
    const end = Math.min(groupStart + rows, options.rowEnd ?? Infinity)
    const wanted = (!options.rowGroups || options.rowGroups.includes(index)) && start < end
    if (wanted) {
      const chunks = selectedChunks(group.columns, columns)
      const uncompressed = chunks.reduce((sum, chunk) => sum + Number(chunk.meta_data?.total_uncompressed_size ?? 0), 0)
      // walked pages cover every large chunk that has no offset index
      const pages = walked?.get(index)
      const indexed = !!pages || chunks.every((chunk) => !isLarge(chunk) || chunk.offset_index_offset !== undefined)
      // without an index the slices share the group's held chunks and each decompresses only its own pages;
      // with one, a row group is read in a few slices whatever the budget, so that the pieces in flight
      // (decoding on every thread, and the one being written) hold a fraction of it, not several copies
      const target = indexed ? Math.min(sliceBytes, Math.max(minSliceBytes, uncompressed / slicesPerRowGroup)) : sliceBytes
      if (uncompressed > target && rows > 1) {
        const step = Math.max(1, Math.floor(rows * target / uncompressed))
        for (let s = start; s < end; s += step) pieces.push({ rowGroup: index, start: s, end: Math.min(end, s + step), sliced: true, indexed, ...(pages && { pages }) })
      } else {
        pieces.push({ rowGroup: index, start, end, sliced: false, indexed })
      }
    }
    groupStart += rows
  }
  return pieces
}

/**
 * Decode a piece; a decoder failure (hyparquet's own messages, such as "missing eof marker") becomes
 * one line naming the file, row group and column. Here, so the main thread and the workers both get it.
 */
async function decodePiece(name: string, file: ViewBuffer, metadata: FileMetaData, columns: string[], piece: Piece, rawStrings: RawStrings = false): Promise<Record<string, Column>> {
  try {
    return await decodeColumns(file, metadata, columns, piece, rawStrings)
  } catch (error) {
    if (error instanceof CoderforgeError) throw error
    // only now, on the way out: decode column by column to name the damaged ones
    const damaged: string[] = []
    for (const column of columns) {
      if (await decodeColumns(file, metadata, [column], piece, rawStrings).then(() => false, () => true)) damaged.push(column)
    }
    throw new DamagedFileError(name, piece.rowGroup, damaged.length ? damaged : columns, error)
  }
}

/**
 * Decode a piece's columns: list<int> columns through the flat fast path (intListDecode.ts), the rest,
 * and any chunk the fast path does not cover, through hyparquet.
 */
async function decodeColumns(file: ViewBuffer, metadata: FileMetaData, columns: string[], piece: Piece, rawStrings: RawStrings): Promise<Record<string, Column>> {
  // the WASM module costs a thread some milliseconds and MB: loaded only where a chunk needs it
  if (selectedChunks(metadata.row_groups[piece.rowGroup]!.columns, columns).some((chunk) => chunk.meta_data?.codec === 'ZSTD')) await loadZstd()
  const result: Record<string, Column> = {}
  for (const name of columns) {
    const layout = intListLayout(metadata.schema, name)
    const decoded = layout && decodeIntList(await intListPages(file, metadata, name, piece), layout, compressors)
    if (decoded) result[name] = decoded
  }
  const rest = columns.filter((name) => !result[name])
  if (rest.length === 0) return result
  const chunks = new Map<string, { rowStart: number, data: ArrayLike<unknown> }[]>(rest.map((name) => [name, []]))
  // hyparquet's string parser is one per read: a read for the columns kept as bytes, one for the rest
  for (const [names, asBytes] of [[rest.filter((name) => keepsBytes(rawStrings, name)), true], [rest.filter((name) => !keepsBytes(rawStrings, name)), false]] as const) {
    if (names.length === 0) continue
    await parquetRead({
      file,
      metadata,
      columns: names,
      rowStart: piece.start,
      rowEnd: piece.end,
      compressors,
      useOffsetIndex: piece.sliced && piece.indexed,
      // hyparquet's planner takes page locations it did not read itself (an option its types leave out)
      ...(piece.sliced && piece.pages && { pageLocationsByGroup: Object.assign([], { [piece.rowGroup]: piece.pages }) }),
      parsers: asBytes ? { stringFromBytes: (bytes: Uint8Array) => bytes } : undefined,
      onChunk: ({ columnName, columnData, rowStart }) => { chunks.get(columnName)?.push({ rowStart, data: columnData }) },
    })
  }
  for (const [name, parts] of chunks) {
    const values = new Array<unknown>(piece.end - piece.start)
    for (const { rowStart, data } of parts) {
      // chunks may extend beyond the requested rows
      for (let i = Math.max(0, piece.start - rowStart); i < data.length && rowStart + i < piece.end; i++) values[rowStart + i - piece.start] = data[i]
    }
    result[name] = values
  }
  // schema order, whichever path decoded a column
  return Object.fromEntries(columns.map((name) => [name, result[name]!]))
}

/**
 * The pages of a list<int> column chunk a piece needs: through the offset index for a slice that has
 * one (the dictionary page and the slice's own pages), else the whole chunk.
 */
async function intListPages(file: ViewBuffer, metadata: FileMetaData, column: string, piece: Piece): Promise<IntListPages> {
  const group = metadata.row_groups[piece.rowGroup]!
  const chunk = group.columns.find((c) => c.meta_data?.path_in_schema[0] === column)!
  const codec = chunk.meta_data!.codec
  const groupStart = rowGroupStart(metadata, piece.rowGroup)
  const [start, end] = [piece.start - groupStart, piece.end - groupStart]
  const bytes = async ([from, to]: Range) => file.view?.(from, to) ?? new Uint8Array(await file.slice(from, to))
  const pages = piece.sliced && piece.indexed ? await slicePages(file, metadata, chunk, piece) : undefined
  if (pages) {
    const segments = [...(pages.dictionary ? [await bytes(pages.dictionary)] : []), await bytes(pages.data)]
    return { segments, codec, start: start - pages.firstRow, end: end - pages.firstRow, rows: pages.endRow - pages.firstRow }
  }
  return { segments: [await bytes(wholeChunk(chunk))], codec, start, end, rows: Number(group.num_rows) }
}

/** Byte ranges of the selected columns' chunks in one row group, merged where they touch. */
export function chunkRanges(metadata: FileMetaData, rowGroup: number, columns: string[]): Range[] {
  const ranges = selectedChunks(metadata.row_groups[rowGroup]!.columns, columns).map(wholeChunk)
  // wider than hyparquet's own 8 KB gap rule, so any range it asks for lies inside one of ours
  return mergeRanges(ranges, 64 * 1024)
}

/** Turn a batch into row objects with keys in `order`. */
export function batchRows(batch: RowBatch, order = Object.keys(batch.columns)): Record<string, unknown>[] {
  const rows: Record<string, unknown>[] = []
  for (let i = 0; i < batch.numRows; i++) {
    const row: Record<string, unknown> = {}
    for (const name of order) {
      const column = batch.columns[name]!
      const value = cellAt(column, i)
      // row objects are for display: a list<int> cell becomes a plain array, as hyparquet would return it
      row[name] = isIntList(column) && value ? Array.from(value as ArrayLike<unknown>) : value
    }
    rows.push(row)
  }
  return rows
}
