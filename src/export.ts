import { basename, join } from 'node:path'
import { UsageError } from './errors.js'
import { columnNames } from './parquet/rows.js'
import type { CompiledPredicate } from './query/compile.js'
import { selectRows, writeMatch, type SelectReport } from './query/select.js'
import { openSink, rollingSink, type Format } from './sinks/output.js'
import { openTrainingSink } from './sinks/training.js'
import { addStats, emptyStats, type ConversionStats, type ConvertOptions } from './sft/convert.js'
import { completedShard, discardShard, parametersHash, recordShard } from './sft/manifest.js'
import { keptPredicate, planSelection, type SelectionPlan } from './sft/plan.js'
import { sideRouter } from './sft/route.js'
import type { SftSetup } from './sft/setup.js'
import { closeSources, openSources, type SourceRef, type SourceSet } from './sources.js'
import type { Rejection } from './trajectory/formats.js'

/** Options for {@link exportShards}. */
export interface ExportOptions {
  outDir: string
  format: Format
  /** Convert to a training format (JSONL) instead of writing the rows. */
  convert?: ConvertOptions
  predicate: CompiledPredicate
  columns?: string[]
  maxRowsPerFile?: number
  maxBytesPerFile?: number
  /** JSONL: nest messages/tools as JSON. */
  parseJson?: boolean
  /** The rows each source keeps (dedup, cap, decontamination) and their side, decided over the whole selection. */
  plan?: SelectionPlan
  /** Write `train/` and `val/` under the output folder, by the plan's sides. */
  valSplit?: boolean
  /**
   * Record each completed shard (source commit, parameters hash), and unless `redo`, keep the shards
   * an earlier run completed with the same ones.
   */
  resume?: { commit: string, params: string, redo?: boolean }
  onFile?: (file: ExportedFile) => void
}

/** One input shard's output. */
export interface ExportedFile {
  source: string
  outputs: string[]
  rows: number
  /** Kept from an earlier run (see `resume`). */
  resumed: boolean
}

/** What an export wrote. */
export interface ExportReport {
  files: ExportedFile[]
  rows: number
  rowsScanned: number
  rejected: Partial<Record<Rejection, number>>
  /** What the conversion steps did (training formats). */
  stats: ConversionStats
  /** Shards kept from an earlier run. */
  resumed: number
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
 * `-0001` part number when a size cap splits it; under `train/` and `val/` with a validation split),
 * shard after shard. Every file is written under a temporary name and renamed when complete.
 */
export async function exportShards(sources: SourceRef[], options: ExportOptions): Promise<ExportReport> {
  const stats = emptyStats()
  const report: ExportReport = { files: [], rows: 0, rowsScanned: 0, rejected: stats.rejected, stats, resumed: 0 }
  for (const source of sources) {
    const stem = outputStem(source)
    const identity = options.resume && { source: source.name, size: source.size, sha256: source.shard?.sha256, commit: options.resume.commit, params: options.resume.params }
    if (identity) {
      const done = options.resume?.redo ? undefined : await completedShard(options.outDir, stem, identity)
      if (done) {
        const file = { source: source.name, outputs: done.outputs.map((output) => join(options.outDir, output.path)), rows: done.rows, resumed: true }
        report.files.push(file)
        report.rows += done.rows
        report.rowsScanned += done.rowsScanned
        report.resumed++
        if (done.stats) addStats(stats, done.stats)
        options.onFile?.(file)
        continue
      }
      await discardShard(options.outDir, stem)
    }
    const shardStats = emptyStats()
    const result = await exportShard(source, stem, options, shardStats)
    if (identity) await recordShard(options.outDir, stem, identity, { ...result, stats: options.convert ? shardStats : undefined })
    const file = { source: source.name, outputs: result.outputs, rows: result.rows, resumed: false }
    report.files.push(file)
    report.rows += result.rows
    report.rowsScanned += result.rowsScanned
    addStats(stats, shardStats)
    options.onFile?.(file)
  }
  return report
}

async function exportShard(source: SourceRef, stem: string, options: ExportOptions, stats: ConversionStats): Promise<{ outputs: string[], rows: number, rowsScanned: number }> {
  const extension = options.convert ? 'jsonl' : options.format
  const partNumbers = options.maxRowsPerFile !== undefined || options.maxBytesPerFile !== undefined
  const kept = options.plan?.keptIn(source)
  const predicate = kept ? keptPredicate(options.predicate, kept, { once: options.plan!.once }) : options.predicate
  const opened = openSources([source])
  const outputs: string[] = []
  try {
    const { metadata } = await opened[0]!
    const present = columnNames(metadata)
    const columns = options.convert ? ['trajectory_id', 'messages', 'tools'].filter((name) => present.includes(name)) : options.columns ?? present
    if (options.convert && !columns.includes('messages')) throw new UsageError(`${source.name} has no messages column: --to needs the trajectories config`)
    const sinkFor = (folder: string) => rollingSink({
      maxRows: options.maxRowsPerFile,
      maxBytes: options.maxBytesPerFile,
      exactBytes: extension === 'jsonl',
      open: async (part) => {
        const path = join(options.outDir, folder, `${stem}${partNumbers ? `-${String(part).padStart(4, '0')}` : ''}.${extension}`)
        outputs.push(path)
        return options.convert
          ? openTrainingSink({ path, convert: options.convert, stats })
          : openSink({ path, format: options.format, columns, schema: metadata.schema, kvMetadata: metadata.key_value_metadata, nestedJson: options.parseJson ? ['messages', 'tools'] : undefined })
      },
    })
    const sink = options.valSplit ? sideRouter(kept ?? new Map(), { train: sinkFor('train'), val: sinkFor('val') }) : sinkFor('')
    // the router reads trajectory_id even when it is not an output column
    const read = options.valSplit && !columns.includes('trajectory_id') ? [...columns, 'trajectory_id'] : columns
    let selected: SelectReport
    try {
      selected = await selectRows(opened, { predicate, columns: read, rawStrings: true, onMatch: (match) => writeMatch(sink, match) })
      await sink.close()
    } catch (error) {
      await sink.abort()
      throw error
    }
    return { outputs, rows: selected.rowsWritten, rowsScanned: selected.rowsScanned }
  } finally {
    await closeSources(opened)
  }
}

/** Options for {@link exportSelection}: an export's options less what it derives from the SFT setup. */
export interface SelectionExportOptions extends Omit<ExportOptions, 'convert' | 'plan' | 'valSplit' | 'resume'> {
  setup: SftSetup
  worker?: { index: number, count: number }
  /** Redo every shard, even those an earlier run completed (`--no-resume`). */
  redo?: boolean
  /** Progress of the planning scan over the whole selection. */
  onPlanned?: (done: number, total: number) => void
}

/**
 * Export a resolved selection: plan the SFT steps over all of it when they need it (dedup, cap,
 * val split, decontamination), then export this worker's share of the shards, keeping those an
 * earlier run completed from the same commit and parameters.
 */
export async function exportSelection(set: SourceSet, options: SelectionExportOptions): Promise<{ report: ExportReport, plan?: SelectionPlan, shards: SourceRef[] }> {
  const { setup } = options
  const { settings } = setup
  const plan = setup.needsPlan
    ? await planSelection(set.sources, {
      predicate: options.predicate, dedup: settings.dedup, maxPerTask: settings.maxPerTask, valFraction: settings.valFraction,
      seed: settings.seed, exclusions: setup.exclusions, onSource: options.onPlanned,
    })
    : undefined
  const params = parametersHash({
    format: options.format, predicate: options.predicate.expr, columns: options.columns, maxRowsPerFile: options.maxRowsPerFile,
    maxBytes: options.maxBytesPerFile, parseJson: options.parseJson, settings, fingerprints: setup.fingerprints,
    selection: set.sources.map((source) => source.name),
  })
  const shards = workerShare(set.sources, options.worker)
  const report = await exportShards(shards, {
    ...options, convert: setup.convert, plan, valSplit: settings.valFraction !== undefined,
    resume: set.commit ? { commit: set.commit, params, redo: options.redo } : undefined,
  })
  return { report, plan, shards }
}

/** `trajectories/SWE_Smith-00003-of-00224` for a dataset shard, the file's base name for a local file. */
function outputStem(source: SourceRef): string {
  const name = source.shard?.path ?? basename(source.name.split('?')[0]!)
  return name.replace(/\.parquet$/i, '')
}
