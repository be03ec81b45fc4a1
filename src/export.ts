import { basename, join } from 'node:path'
import { UsageError } from './errors.js'
import { columnNames } from './parquet/rows.js'
import type { CompiledPredicate } from './query/compile.js'
import { selectRows, writeMatch, type SelectReport } from './query/select.js'
import { openSink, rollingSink, type Format } from './sinks/output.js'
import { openTrainingSink } from './sinks/training.js'
import { closeSources, openSources, type SourceRef } from './sources.js'
import type { Rejection, TrainingFormat } from './trajectory/formats.js'

/** Options for {@link exportShards}. */
export interface ExportOptions {
  outDir: string
  format: Format
  /** Write a training format (JSONL) instead of the rows. */
  to?: TrainingFormat
  predicate: CompiledPredicate
  columns?: string[]
  maxRowsPerFile?: number
  maxBytesPerFile?: number
  /** JSONL: nest messages/tools as JSON. */
  parseJson?: boolean
  onFile?: (file: ExportedFile) => void
}

/** One input shard's output. */
export interface ExportedFile {
  source: string
  outputs: string[]
  rows: number
}

/** What an export wrote. */
export interface ExportReport {
  files: ExportedFile[]
  rows: number
  rowsScanned: number
  rejected: Partial<Record<Rejection, number>>
}

/**
 * The shards worker `index` of `count` exports: every count-th shard starting at index, in the
 * selection's order, so N workers together cover every shard exactly once.
 */
export function workerShare<T>(sources: T[], worker: { index: number, count: number } | undefined): T[] {
  if (!worker) return sources
  return sources.filter((_, position) => position % worker.count === worker.index)
}

/** Parse `--worker I/N` (0 ≤ I < N). */
export function parseWorker(text: string): { index: number, count: number } {
  const match = /^(\d+)\/(\d+)$/.exec(text.trim())
  const index = Number(match?.[1])
  const count = Number(match?.[2])
  if (!match || count < 1 || index >= count) throw new UsageError(`invalid --worker '${text}': use I/N with 0 <= I < N, e.g. 0/8 (for a Slurm array: $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT)`)
  return { index, count }
}

/**
 * Export each shard to files named like it (`{config}/{split}-00003-of-00224.jsonl`, or with a
 * `-0001` part number when a size cap splits it), shard after shard. Every file is written under a
 * temporary name and renamed when complete.
 */
export async function exportShards(sources: SourceRef[], options: ExportOptions): Promise<ExportReport> {
  const extension = options.to ? 'jsonl' : options.format
  const report: ExportReport = { files: [], rows: 0, rowsScanned: 0, rejected: {} }
  const split = options.maxRowsPerFile !== undefined || options.maxBytesPerFile !== undefined
  for (const source of sources) {
    const stem = outputStem(source)
    const opened = openSources([source])
    const outputs: string[] = []
    try {
      const { metadata } = await opened[0]!
      const columns = options.to ? ['trajectory_id', 'messages', 'tools'].filter((name) => columnNames(metadata).includes(name)) : options.columns ?? columnNames(metadata)
      if (options.to && !columns.includes('messages')) throw new UsageError(`${source.name} has no messages column: --to needs the trajectories config`)
      const sink = rollingSink({
        maxRows: options.maxRowsPerFile,
        maxBytes: options.maxBytesPerFile,
        exactBytes: extension === 'jsonl',
        open: async (part) => {
          const path = join(options.outDir, `${stem}${split ? `-${String(part).padStart(4, '0')}` : ''}.${extension}`)
          outputs.push(path)
          return options.to
            ? openTrainingSink({ path, format: options.to, rejected: report.rejected })
            : openSink({ path, format: options.format, columns, schema: metadata.schema, kvMetadata: metadata.key_value_metadata, nestedJson: options.parseJson ? ['messages', 'tools'] : undefined })
        },
      })
      let selected: SelectReport
      try {
        selected = await selectRows(opened, { predicate: options.predicate, columns, rawStrings: true, onMatch: (match) => writeMatch(sink, match) })
        await sink.close()
      } catch (error) {
        await sink.abort()
        throw error
      }
      const file = { source: source.name, outputs, rows: selected.rowsWritten }
      report.files.push(file)
      report.rows += selected.rowsWritten
      report.rowsScanned += selected.rowsScanned
      options.onFile?.(file)
    } finally {
      await closeSources(opened)
    }
  }
  return report
}

/** `trajectories/SWE_Smith-00003-of-00224` for a dataset shard, the file's base name for a local file. */
function outputStem(source: SourceRef): string {
  const name = source.shard?.path ?? basename(source.name.split('?')[0]!)
  return name.replace(/\.parquet$/i, '')
}
