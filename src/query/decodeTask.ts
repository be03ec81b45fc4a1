import type { FileMetaData } from 'hyparquet'
import { decodePieceBytes, type PieceBytes } from '../parquet/rows.js'
import { encodeJsonlRows, type EncodedRows, type JsonlEncoding } from '../sinks/jsonl.js'
import { compilePredicate, type CompiledPredicate } from './compile.js'
import type { Expr } from './parse.js'
import type { Column } from '../parquet/intList.js'

/** One piece of phase 2, as plain data so that another thread can run it. */
export interface DecodeTask {
  metadata: FileMetaData
  /** Columns to decode: the output's and the predicate's large ones. */
  columns: string[]
  piece: PieceBytes
  /** Phase-1 survivors, as row indexes into the piece. */
  candidates: number[]
  /** The whole predicate; its large-column part decides among the candidates. */
  predicate: Expr
  rawStrings: boolean
  /** Encode the matching rows as JSON lines here (else the decoded columns are returned). */
  jsonl?: JsonlEncoding
}

/** What a task found: the matching rows of the piece, encoded or with the decoded columns. */
export interface DecodeResult {
  rows: number[]
  encoded?: EncodedRows
  columns?: Record<string, Column>
}

/** Compiled predicates by expression, so a thread compiles each once. */
const compiled = new Map<string, CompiledPredicate>()

/** Decode a piece, keep the candidates the predicate accepts, and encode them when asked. */
export async function runDecodeTask(task: DecodeTask): Promise<DecodeResult> {
  const key = JSON.stringify(task.predicate)
  let predicate = compiled.get(key)
  if (!predicate) compiled.set(key, predicate = compilePredicate(task.predicate))
  const columns = await decodePieceBytes(task.metadata, task.columns, task.piece, task.rawStrings)
  const batch = { columns, numRows: task.piece.piece.end - task.piece.piece.start }
  const rows = predicate.filterLarge(batch, task.candidates)
  if (task.jsonl) return { rows, encoded: encodeJsonlRows(batch, rows, task.jsonl) }
  return { rows, columns }
}
