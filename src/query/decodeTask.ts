import type { FileMetaData } from 'hyparquet'
import { decodePieceBytes, keepsBytes, type PieceBytes, type RawStrings } from '../parquet/rows.js'
import { intListLayout } from '../parquet/intListDecode.js'
import { encodeJsonlRows, type EncodedRows, type JsonlEncoding } from '../sinks/jsonl.js'
import { encodeRowGroup, type EncodedRowGroup, type ParquetLayout } from '../sinks/parquet.js'
import { giveSpares } from '../sinks/spareChunks.js'
import { convertRows, loadConverter, type ConversionStats, type ConvertSpec } from '../sft/convert.js'
import { summarizeCell, type TrajectorySummary } from '../trajectory/messages.js'
import { compilePredicate, type CompiledPredicate } from './compile.js'
import type { Expr } from './parse.js'
import { cellAt, type Column } from '../parquet/intList.js'
import { closeArena, openArena } from '../wasm/kernels.js'

/** One piece of phase 2 (or of a stats scan), as plain data so that another thread can run it. */
export interface DecodeTask {
  metadata: FileMetaData
  /** Columns to decode: the output's and the predicate's large ones. */
  columns: string[]
  piece: PieceBytes
  /** Phase-1 survivors, as row indexes into the piece (default: every row). */
  candidates?: number[]
  /** The whole predicate; its large-column part decides among the candidates (default: keep them all). */
  predicate?: Expr
  rawStrings: RawStrings
  /** Encode the matching rows as JSON lines here (else the decoded columns are returned). */
  jsonl?: JsonlEncoding
  /** Encode the matching rows as one Parquet row group here, compressed pages and all. */
  parquet?: ParquetLayout
  /** Summarise this `messages` column here, row by row, instead of returning its text (stats --deep). */
  summarize?: string
  /** Convert the matching rows to training examples here, encoded as JSON lines (export --to). */
  convert?: ConvertSpec
  /** Buffers of chunks written already, moved here for this thread's encoder to fill again (see sinks/spareChunks.ts). */
  spares?: ArrayBuffer[]
}

/** What a task found: the matching rows of the piece, encoded or with the decoded columns. */
export interface DecodeResult {
  rows: number[]
  encoded?: EncodedRows
  /** With `parquet`: the matching rows as a row group. */
  rowGroup?: EncodedRowGroup
  columns?: Record<string, Column>
  /** With `summarize`: each row's summary (null: not JSON; undefined: a null cell); the column itself is left out. */
  summaries?: (TrajectorySummary | null | undefined)[]
  /** With `convert`: what the conversion steps did to the matching rows (`encoded` holds the examples). */
  conversion?: ConversionStats
}

/** Compiled predicates by expression, so a thread compiles each once. */
const compiled = new Map<string, CompiledPredicate>()

/**
 * Decode a piece, keep the candidates the predicate accepts, and convert, encode or summarise them when
 * asked. With `ownThread` (a decoding thread, one task at a time), a task whose result holds no decoded
 * cells decompresses into this thread's arena (wasm/kernels.ts), used again by every such task.
 */
export async function runDecodeTask(task: DecodeTask, ownThread = false): Promise<DecodeResult> {
  if (!ownThread || !usesArena(task)) return decodeTask(task)
  openArena(expectedPageBytes(task))
  try {
    return await decodeTask(task)
  } finally {
    closeArena()
  }
}

/**
 * Nothing in the task's result views its pages, so they may live in the arena: it holds encoded rows, or
 * summaries of its `summarize` column and the other columns as JS values (not list<int> columns, not
 * strings kept as bytes). A Parquet task holds no cells either but is left out: the arena stays at
 * the largest task a thread ran (a WASM memory never shrinks), and export's whole-group tasks on every
 * thread took its peak RSS from 260 to 434 MB on the SWE_Smith trajectories, and 1.3× its time.
 */
function usesArena({ jsonl, convert, summarize, columns, metadata, rawStrings }: DecodeTask): boolean {
  if (jsonl || convert) return true
  return !!summarize && columns.every((column) => column === summarize || !(intListLayout(metadata.schema, column) || keepsBytes(rawStrings, column)))
}

/** The decompressed size of the piece's chunks: their row group's, in proportion to the piece's rows. */
function expectedPageBytes({ metadata, columns, piece: { piece } }: DecodeTask): number {
  const group = metadata.row_groups[piece.rowGroup]!
  const share = (piece.end - piece.start) / Number(group.num_rows)
  const selected = group.columns.filter((chunk) => columns.includes(chunk.meta_data?.path_in_schema[0] ?? ''))
  return Math.ceil(share * selected.reduce((sum, chunk) => sum + Number(chunk.meta_data?.total_uncompressed_size ?? 0), 0))
}

async function decodeTask(task: DecodeTask): Promise<DecodeResult> {
  if (task.spares) giveSpares(task.spares)
  const columns = await decodePieceBytes(task.metadata, task.columns, task.piece, task.rawStrings)
  const numRows = task.piece.piece.end - task.piece.piece.start
  const candidates = task.candidates ?? Array.from({ length: numRows }, (_, row) => row)
  const rows = task.predicate ? predicateFor(task.predicate).filterLarge({ columns, numRows }, candidates) : candidates
  if (task.convert) {
    const { encoded, stats } = convertRows(columns, rows, await loadConverter(task.convert))
    return { rows, encoded, conversion: stats }
  }
  if (task.jsonl) return { rows, encoded: encodeJsonlRows({ columns }, rows, task.jsonl) }
  if (task.parquet) {
    const readBytes = task.piece.spans.reduce((sum, span) => sum + span.bytes.byteLength, 0)
    return { rows, rowGroup: encodeRowGroup(task.parquet, { columns }, rows, { sizeHint: readBytes * rows.length / numRows }) }
  }
  if (task.summarize && columns[task.summarize]) {
    const text = columns[task.summarize]!
    delete columns[task.summarize]
    return { rows, columns, summaries: rows.map((row) => summarizeCell(cellAt(text, row))) }
  }
  return { rows, columns }
}

function predicateFor(expr: Expr): CompiledPredicate {
  const key = JSON.stringify(expr)
  let predicate = compiled.get(key)
  if (!predicate) compiled.set(key, predicate = compilePredicate(expr))
  return predicate
}
