import type { RowGroup } from 'hyparquet'
import pLimit from 'p-limit'
import { UsageError } from '../errors.js'
import type { Range } from '../fetch/spans.js'
import { chunkRanges, columnNames, readBatches, readPieces, type Piece, type RawStrings, type RowBatch } from '../parquet/rows.js'
import type { RowSink } from '../sinks/output.js'
import { sliceEncoded, type EncodedRows, type JsonlEncoding } from '../sinks/jsonl.js'
import type { EncodedRowGroup, ParquetLayout } from '../sinks/parquet.js'
import { giveSpares } from '../sinks/spareChunks.js'
import type { ConversionStats, ConvertSpec } from '../sft/convert.js'
import type { DecodeResult } from './decodeTask.js'
import { decodePool, type DecodePool } from './decodePool.js'
import { orderedWindow } from './orderedWindow.js'
import type { OpenedSource } from '../sources.js'
import type { CompiledPredicate } from './compile.js'
import { sampleKeys } from './sample.js'
import { cellAt } from '../parquet/intList.js'

/** Matching rows of one piece of a file, in output order: decoded columns, or JSON lines encoded already. */
export interface Match {
  source: OpenedSource
  /** The piece's rows, with every output column (absent when `encoded`). */
  batch?: RowBatch
  /** Indexes into the piece of the rows that matched. */
  rows: number[]
  /** The matching rows as JSON lines (when {@link SelectOptions.jsonl} asked for them), or their training examples. */
  encoded?: EncodedRows
  /** The matching rows as a Parquet row group (when {@link SelectOptions.parquet} asked for it). */
  rowGroup?: EncodedRowGroup
  /** With {@link SelectOptions.convert}: what the conversion did to the matching rows. */
  conversion?: ConversionStats
}

/** Write a match to a sink: its encoded lines or row group, or its rows. */
export function writeMatch(sink: RowSink, match: Match): Promise<void> {
  if (match.encoded) {
    if (!sink.writeEncoded) throw new Error('internal: encoded rows for a sink that does not take them')
    return sink.writeEncoded(match.encoded)
  }
  if (match.rowGroup) {
    if (!sink.writeRowGroup) throw new Error('internal: a Parquet row group for a sink that does not take one')
    return sink.writeRowGroup(match.rowGroup)
  }
  return sink.write(match.batch!, match.rows)
}

/** Options for {@link selectRows}. */
export interface SelectOptions {
  predicate: CompiledPredicate
  /**
   * The predicate of one file, called once per file, when files keep different rows (an SFT plan's
   * kept rows); `predicate` otherwise. Its large-column part must be `predicate`'s.
   */
  predicateOf?: (source: OpenedSource) => CompiledPredicate
  /** Output columns (default: every column of each file, in schema order). */
  columns?: string[]
  /** Strings as UTF-8 bytes, for byte-level writers. */
  rawStrings?: RawStrings
  limit?: number
  sample?: { n: number, seed: number }
  /** Files scanned at once in phase 1 (default 16; the HTTP client's connection budget bounds them again). */
  concurrency?: number
  /** Memory budget per read: larger row groups are read in slices (see ReadOptions.sliceBytes). */
  sliceBytes?: number
  /** Decode (and filter, and encode) phase 2 here: worker threads, or this thread (default). */
  decoder?: DecodePool
  /** Deliver matches as JSON lines encoded by the decoder (the sink's encoding), not as columns. */
  jsonl?: JsonlEncoding
  /** Deliver matches as Parquet row groups encoded by the decoder (the sink's layout), not as columns; not with `limit`, which may cut one. */
  parquet?: ParquetLayout
  /** Deliver matches as training examples converted and encoded by the decoder (no `limit` then). */
  convert?: ConvertSpec
  /**
   * Receives matches in shard order, then row order, whatever the concurrency. Once it resolves, the
   * match's encoded chunks are reused for later pieces: write them, do not keep them.
   */
  onMatch(match: Match): Promise<void>
  /** Called, in file order, when a file's matches have all been delivered; awaited before the next file's. */
  onFile?(file: FileDone): void | Promise<void>
  /** Called with the totals so far after each piece delivered and each file done, for progress. */
  onProgress?(progress: SelectProgress): void
}

/**
 * How far a selection has come. `bytes` are the source bytes it is done with: a piece's share of
 * its row group's compressed bytes when the piece is delivered, and when a file is done the rest of
 * it (row groups skipped or without candidates, footer), so that they add up to the files' sizes.
 */
export interface SelectProgress {
  bytes: number
  rowsWritten: number
}

/** A file whose matches have all been delivered. */
export interface FileDone {
  source: OpenedSource
  rowsScanned: number
  rowsWritten: number
  /** Files done so far, of `total`. */
  done: number
  total: number
}

/** What a selection read and found. */
export interface SelectReport {
  files: number
  rowGroups: number
  /** Row groups ruled out by their statistics without reading them. */
  rowGroupsSkipped: number
  /** Row groups whose big columns were fetched in phase 2. */
  rowGroupsRead: number
  rowsScanned: number
  rowsWritten: number
}

/** A phase-2 piece decoded, or the mark that a file is done. */
interface Decoded {
  file: Candidates
  piece?: Piece
  result?: DecodeResult
  fileDone: boolean
}

interface Candidates {
  source: OpenedSource
  predicate: CompiledPredicate
  /** Rows phase 1 read, rows written and source bytes done (see {@link SelectProgress}) so far. */
  scanned: number
  written: number
  bytes: number
  /** File row indexes of the candidates, by row group. */
  byGroup: Map<number, number[]>
  ids: Map<number, string>
}

/**
 * Select rows in two phases. Phase 1 reads only the small columns the predicate names (several files
 * at once; row groups whose statistics rule them out are not read) and keeps the rows that may match.
 * Phase 2 fetches the output columns, plus the predicate's own when it needs a large one (messages),
 * only for row groups that still hold candidates, file after file so that output order is
 * deterministic. `--sample` ranks the phase-1 candidates (see sample.ts); `--limit` stops the scan.
 */
export async function selectRows(opened: Promise<OpenedSource>[], options: SelectOptions): Promise<SelectReport> {
  if (options.convert && options.limit !== undefined) throw new Error('internal: a limit counts rows, converted rows are examples')
  if (options.sample && options.predicate.phase2Columns.length) {
    throw new UsageError('--sample works with predicates on small columns (reward, license, ids…); combine it with message-based filters in two runs')
  }
  const report: SelectReport = { files: opened.length, rowGroups: 0, rowGroupsSkipped: 0, rowGroupsRead: 0, rowsScanned: 0, rowsWritten: 0 }
  const limit = pLimit(options.concurrency ?? 16)
  let stopped = false

  const scan = (source: OpenedSource) => limit(async (): Promise<Candidates> => {
    const predicate = options.predicateOf?.(source) ?? options.predicate
    const phase1Columns = [...new Set([...predicate.phase1Columns, ...(options.sample ? ['trajectory_id'] : [])])]
    requireColumns(source, [...phase1Columns, ...predicate.phase2Columns], 'the predicate reads it')
    const byGroup = new Map<number, number[]>()
    const ids = new Map<number, string>()
    const candidates: Candidates = { source, predicate, scanned: 0, written: 0, bytes: 0, byGroup, ids }
    const groups: number[] = []
    let groupStart = 0
    for (const [index, group] of source.metadata.row_groups.entries()) {
      report.rowGroups++
      if (predicate.canSkip(group)) report.rowGroupsSkipped++
      else if (phase1Columns.length) groups.push(index)
      else byGroup.set(index, range(groupStart, groupStart + Number(group.num_rows)))
      groupStart += Number(group.num_rows)
    }
    if (stopped || groups.length === 0) return candidates
    // phase 1's bytes stay held: phase 2 reads the same chunks again as part of its rows
    for await (const batch of readBatches(source.source, source.metadata, { columns: phase1Columns, rowGroups: groups, keepBytes: true })) {
      report.rowsScanned += batch.numRows
      candidates.scanned += batch.numRows
      const rows = predicate.filterSmall(batch)
      if (rows.length) byGroup.set(batch.rowGroup, rows.map((row) => batch.rowStart + row))
      if (options.sample) for (const row of rows) ids.set(batch.rowStart + row, String(cellAt(batch.columns.trajectory_id, row)))
      if (stopped) break
    }
    return candidates
  })

  let done = 0
  let bytesDone = 0
  let scans = opened.map((promise) => promise.then(scan))
  if (options.sample) scans = await sampleCandidates(scans, options.sample)
  const ahead = fetchAhead()
  scans.forEach((pending, position) => pending.then((candidates) => ahead.plan(position, candidates), () => ahead.plan(position)))

  const decoder = options.decoder ?? decodePool(1)
  // pieces decoding at once, in output order: every thread busy (the one being written is out of it)
  const window = orderedWindow<Decoded>(decoder.size, emit)
  try {
    for (const [position, pending] of scans.entries()) {
      ahead.reading(position)
      const candidates = await pending
      try {
        if (!stopped && candidates.byGroup.size > 0) {
          for await (const { decoded } of phase2Pieces(candidates)) {
            await window.push(decoded, true)
            if (stopped) break
          }
        }
      } finally {
        candidates.source.source.release?.()
        ahead.pump()
      }
      await window.push(Promise.resolve({ file: candidates, fileDone: true }), false)
    }
    await window.end()
  } catch (error) {
    await window.abort()
    throw error
  } finally {
    if (!options.decoder) await decoder.close()
  }
  return report

  /** Phase 2 of one file: its candidate row groups' pieces, each sent to the decoder as its bytes arrive. */
  async function* phase2Pieces(file: Candidates): AsyncGenerator<{ decoded: Promise<Decoded> }> {
    const { source, byGroup, predicate } = file
    const output = options.columns ?? columnNames(source.metadata)
    requireColumns(source, output, 'an output column')
    const columns = [...new Set([...output, ...predicate.phase2Columns])]
    const groups = [...byGroup.keys()].sort((a, b) => a - b)
    for await (const piece of readPieces(source.source, source.metadata, { columns, rowGroups: groups, sliceBytes: options.sliceBytes })) {
      const { rowGroup, start, end } = piece.piece
      // a huge row group arrives in slices: each slice takes the candidates within its own rows
      const candidates = byGroup.get(rowGroup)!.filter((row) => row >= start && row < end).map((row) => row - start)
      const task = { metadata: source.metadata, columns, piece, candidates, predicate: predicate.expr, rawStrings: options.rawStrings ?? false, jsonl: options.jsonl, parquet: options.limit === undefined ? options.parquet : undefined, convert: options.convert }
      // wrapped: an async generator would wait for a promise it yields
      yield { decoded: decoder.run(task).then((result): Decoded => ({ file, piece: piece.piece, result, fileDone: false })) }
    }
  }

  /** The row-group chunks phase 2 will read from a file, to fetch ahead. */
  function phase2Ranges({ source, byGroup, predicate }: Candidates): Range[] {
    if (source.ref.origin !== 'remote' || byGroup.size === 0) return []
    const columns = [...new Set([...(options.columns ?? columnNames(source.metadata)), ...predicate.phase2Columns])]
    const present = columnNames(source.metadata)
    if (columns.some((column) => !present.includes(column))) return []
    return [...byGroup.keys()].flatMap((group) => chunkRanges(source.metadata, group, columns))
  }

  /**
   * Fetch the next files' phase-2 chunks while the current one decodes, in output order, as far as
   * the memory budget allows (speculative holds); a file the budget had no room for is fetched when
   * its turn comes, and the queue moves on as earlier files release their bytes.
   */
  function fetchAhead() {
    const plans: (Candidates | null | undefined)[] = []
    let next = 0
    return {
      plan(position: number, candidates?: Candidates) {
        plans[position] = candidates ?? null
        this.pump()
      },
      reading(position: number) {
        next = Math.max(next, position + 1)
        this.pump()
      },
      pump() {
        while (!stopped && plans[next] !== undefined) {
          const candidates = plans[next]
          if (candidates && !candidates.source.source.hold?.(phase2Ranges(candidates), { speculative: true })) return
          next++
        }
      },
    }
  }
  async function emit(decoded: Decoded): Promise<void> {
    if (stopped) return
    const { file, piece, result } = decoded
    const { source } = file
    if (decoded.fileDone) {
      await options.onFile?.({ source, rowsScanned: file.scanned, rowsWritten: file.written, done: ++done, total: scans.length })
      return progressed(file, source.ref.size - file.bytes)
    }
    report.rowGroupsRead++
    // without phase 1, phase 2 is the scan
    if (file.predicate.phase1Columns.length === 0 && !options.sample) {
      report.rowsScanned += piece!.end - piece!.start
      file.scanned += piece!.end - piece!.start
    }
    let rows = result!.rows
    let encoded = result!.encoded
    if (options.limit !== undefined && report.rowsWritten + rows.length >= options.limit) {
      rows = rows.slice(0, options.limit - report.rowsWritten)
      if (encoded) encoded = sliceEncoded(encoded, 0, rows.length)
      stopped = true
    }
    const batch = result!.columns && { source: source.ref.name, rowGroup: piece!.rowGroup, rowStart: piece!.start, numRows: piece!.end - piece!.start, columns: result!.columns }
    if (rows.length) await options.onMatch({ source, batch, rows, encoded, rowGroup: result!.rowGroup, conversion: result!.conversion })
    if (result!.encoded) giveSpares(result!.encoded.chunks.map((chunk) => chunk.buffer as ArrayBuffer))
    report.rowsWritten += rows.length
    file.written += rows.length
    const group = source.metadata.row_groups[piece!.rowGroup]!
    progressed(file, Math.floor((compressedBytes(group) * (piece!.end - piece!.start)) / (Number(group.num_rows) || 1)))
  }

  function progressed(file: Candidates, bytes: number): void {
    file.bytes += bytes
    bytesDone += bytes
    options.onProgress?.({ bytes: bytesDone, rowsWritten: report.rowsWritten })
  }
}

/** Wait for every phase-1 scan, keep the sampled candidates only. */
async function sampleCandidates(scans: Promise<Candidates>[], sample: { n: number, seed: number }): Promise<Promise<Candidates>[]> {
  const all = await Promise.all(scans)
  const flat = all.flatMap((candidates, file) => [...candidates.ids].map(([row, id]) => ({ file, row, id })))
  const keep = new Set(sampleKeys(flat.map((entry) => entry.id), sample.n, sample.seed).map((position) => `${flat[position]!.file}:${flat[position]!.row}`))
  return all.map((candidates, file) => {
    const byGroup = new Map<number, number[]>()
    for (const [group, rows] of candidates.byGroup) {
      const sampled = rows.filter((row) => keep.has(`${file}:${row}`))
      if (sampled.length) byGroup.set(group, sampled)
    }
    return Promise.resolve({ ...candidates, byGroup })
  })
}

/** Bytes a row group takes in its file: its column chunks, compressed. */
function compressedBytes(group: RowGroup): number {
  return group.columns.reduce((sum, chunk) => sum + Number(chunk.meta_data?.total_compressed_size ?? 0), 0)
}

function requireColumns(source: OpenedSource, columns: string[], why: string): void {
  const present = columnNames(source.metadata)
  const missing = columns.find((column) => !present.includes(column))
  if (missing) throw new UsageError(`${source.ref.name} has no column '${missing}' (${why}; columns: ${present.join(', ')})`)
}

function range(start: number, end: number): number[] {
  return Array.from({ length: end - start }, (_, i) => start + i)
}
