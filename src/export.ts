import { basename, join } from 'node:path'
import { UsageError } from './errors.js'
import { columnNames } from './parquet/rows.js'
import type { CompiledPredicate } from './query/compile.js'
import type { DecodePool } from './query/decodePool.js'
import { selectRows, writeMatch, type SelectProgress } from './query/select.js'
import { openSink, rollingSink, type Format, type RowSink } from './sinks/output.js'
import { jsonlEncoding, openJsonlSink } from './sinks/jsonl.js'
import { parquetLayout } from './sinks/parquet.js'
import { addStats, emptyStats, type ConversionStats, type Converter } from './sft/convert.js'
import { completedShard, discardShard, parametersHash, recordShard } from './sft/manifest.js'
import { keptPredicate, planSelection, type SelectionPlan } from './sft/plan.js'
import { sideRouter } from './sft/route.js'
import type { SftSetup } from './sft/setup.js'
import { closeSources, openSources, type OpenedSource, type SourceRef, type SourceSet } from './sources.js'
import type { Rejection } from './trajectory/formats.js'

/** Options for {@link exportShards}. */
export interface ExportOptions {
  outDir: string
  format: Format
  /** Convert to a training format (JSONL) instead of writing the rows. */
  convert?: Converter
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
  /** Decode, filter and encode on these threads (default: this one). */
  decoder?: DecodePool
  /** Memory per decode: larger row groups are read in slices (see ReadOptions.sliceBytes). */
  sliceBytes?: number
  onFile?: (file: ExportedFile) => void
  /** Totals so far, for progress (see {@link SelectProgress}); shards kept from an earlier run count whole. */
  onProgress?: (progress: SelectProgress) => void
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
 * The worker share a cluster job array gives this process when `--worker` is not given: a Slurm
 * array task (SLURM_ARRAY_TASK_ID counted from SLURM_ARRAY_TASK_MIN, of SLURM_ARRAY_TASK_COUNT), or a
 * Kubernetes Indexed Job's JOB_COMPLETION_INDEX of JOB_COMPLETIONS (set it to the Job's completions).
 */
export function workerFromEnv(env: NodeJS.ProcessEnv): { index: number, count: number } | undefined {
  const slurm = env.SLURM_ARRAY_TASK_ID
  if (slurm !== undefined && env.SLURM_ARRAY_TASK_COUNT !== undefined) {
    const index = Number(slurm) - Number(env.SLURM_ARRAY_TASK_MIN ?? 0)
    return fromEnv(`${index}/${env.SLURM_ARRAY_TASK_COUNT}`, 'SLURM_ARRAY_TASK_ID/SLURM_ARRAY_TASK_COUNT')
  }
  const indexed = env.JOB_COMPLETION_INDEX
  if (indexed === undefined) return undefined
  if (env.JOB_COMPLETIONS === undefined) {
    throw new UsageError('JOB_COMPLETION_INDEX is set but not the number of workers: set JOB_COMPLETIONS to the Job\'s completions, or give --worker I/N')
  }
  return fromEnv(`${indexed}/${env.JOB_COMPLETIONS}`, 'JOB_COMPLETION_INDEX/JOB_COMPLETIONS')
}

function fromEnv(share: string, names: string): { index: number, count: number } {
  try {
    return parseWorker(share)
  } catch {
    throw new UsageError(`${names} give worker '${share}', which is not I/N with 0 <= I < N: fix them, or give --worker I/N`)
  }
}

/**
 * Export each shard to files named like it (`{config}/{split}-00003-of-00224.jsonl`, or with a
 * `-0001` part number when a size cap splits it; under `train/` and `val/` with a validation split).
 * The shards left to do are read as one selection, so the next shards are fetched while one is
 * decoded, on the decoder's threads; each shard's files are written under temporary names and
 * renamed when complete, then recorded for `resume`.
 */
export async function exportShards(sources: SourceRef[], options: ExportOptions): Promise<ExportReport> {
  const stats = emptyStats()
  const report: ExportReport = { files: [], rows: 0, rowsScanned: 0, rejected: stats.rejected, stats, resumed: 0 }
  const identityOf = (source: SourceRef) => options.resume &&
    { source: source.name, size: source.size, sha256: source.shard?.sha256, commit: options.resume.commit, params: options.resume.params }
  const todo: SourceRef[] = []
  const kept: SelectProgress = { bytes: 0, rowsWritten: 0 }
  for (const source of sources) {
    const identity = identityOf(source)
    const done = identity && !options.resume?.redo ? await completedShard(options.outDir, outputStem(source), identity) : undefined
    if (!done) {
      if (identity) await discardShard(options.outDir, outputStem(source))
      todo.push(source)
      continue
    }
    const file = { source: source.name, outputs: done.outputs.map((output) => join(options.outDir, output.path)), rows: done.rows, resumed: true }
    report.files.push(file)
    report.rows += done.rows
    report.rowsScanned += done.rowsScanned
    report.resumed++
    kept.bytes += source.size
    kept.rowsWritten += done.rows
    if (done.stats) addStats(stats, done.stats)
    options.onFile?.(file)
  }
  options.onProgress?.(kept)
  if (todo.length === 0) return report
  const opened = openSources(todo)
  const shards = new Map<OpenedSource, ShardOutput>()
  try {
    const { metadata } = await opened[0]!
    const present = columnNames(metadata)
    const columns = options.convert ? ['trajectory_id', 'messages', 'tools'].filter((name) => present.includes(name)) : options.columns ?? present
    if (options.convert && !columns.includes('messages')) throw new UsageError(`${todo[0]!.name} has no messages column: --to needs the trajectories config`)
    // the router reads trajectory_id even when it is not an output column
    const read = options.valSplit && !columns.includes('trajectory_id') ? [...columns, 'trajectory_id'] : columns
    const nestedJson = options.parseJson ? ['messages', 'tools'] : undefined
    // JSONL and Parquet row groups are encoded on the decoding threads, and training examples converted there;
    // plain rows routed to train/val need the columns, and parts capped by rows cut row groups
    const plainRows = !options.convert && !options.valSplit
    const encodeOnThreads = options.format === 'jsonl' && plainRows
    const rowGroupsOnThreads = options.format === 'parquet' && plainRows && options.maxRowsPerFile === undefined
    const shardOf = (source: OpenedSource) => {
      let shard = shards.get(source)
      if (!shard) shards.set(source, shard = openShardOutput(source, { ...options, columns, nestedJson }))
      return shard
    }
    await selectRows(opened, {
      predicate: options.predicate,
      predicateOf: options.plan && ((source) => keptPredicate(options.predicate, options.plan!.keptIn(source.ref), { once: options.plan!.once })),
      columns: read,
      rawStrings: true,
      decoder: options.decoder,
      sliceBytes: options.sliceBytes,
      jsonl: encodeOnThreads ? jsonlEncoding(metadata.schema, columns, nestedJson) : undefined,
      parquet: rowGroupsOnThreads ? parquetLayout(metadata.schema, columns) : undefined,
      convert: options.convert?.spec,
      onMatch: (match) => {
        const shard = shardOf(match.source)
        if (match.conversion) addStats(shard.stats, match.conversion)
        return writeMatch(shard.sink, match)
      },
      onProgress: (progress) => options.onProgress?.({ bytes: kept.bytes + progress.bytes, rowsWritten: kept.rowsWritten + progress.rowsWritten }),
      onFile: async ({ source, rowsScanned, rowsWritten }) => {
        const shard = shardOf(source)
        await shard.sink.close()
        shards.delete(source)
        const identity = identityOf(source.ref)
        if (identity) await recordShard(options.outDir, shard.stem, identity, { outputs: shard.outputs, rows: rowsWritten, rowsScanned, stats: options.convert ? shard.stats : undefined })
        const file = { source: source.ref.name, outputs: shard.outputs, rows: rowsWritten, resumed: false }
        report.files.push(file)
        report.rows += rowsWritten
        report.rowsScanned += rowsScanned
        addStats(stats, shard.stats)
        options.onFile?.(file)
      },
    })
  } catch (error) {
    for (const shard of shards.values()) await shard.sink.abort()
    throw error
  } finally {
    await closeSources(opened)
  }
  return report
}

/** The files one shard is being exported to. */
interface ShardOutput {
  stem: string
  sink: RowSink
  /** Paths of the parts opened so far. */
  outputs: string[]
  stats: ConversionStats
}

/** The sink of one shard: size-capped parts, routed to `train/` and `val/` by the plan with a validation split. */
function openShardOutput(source: OpenedSource, options: ExportOptions & { columns: string[], nestedJson?: string[] }): ShardOutput {
  const stem = outputStem(source.ref)
  const extension = options.convert ? 'jsonl' : options.format
  const partNumbers = options.maxRowsPerFile !== undefined || options.maxBytesPerFile !== undefined
  const { metadata } = source
  const shard: ShardOutput = { stem, sink: undefined!, outputs: [], stats: emptyStats() }
  const sinkFor = (folder: string) => rollingSink({
    maxRows: options.maxRowsPerFile,
    maxBytes: options.maxBytesPerFile,
    exactBytes: extension === 'jsonl',
    open: async (part) => {
      const path = join(options.outDir, folder, `${stem}${partNumbers ? `-${String(part).padStart(4, '0')}` : ''}.${extension}`)
      shard.outputs.push(path)
      return options.convert
        ? openJsonlSink({ path, columns: [] })
        : openSink({ path, format: options.format, columns: options.columns, schema: metadata.schema, kvMetadata: metadata.key_value_metadata, nestedJson: options.nestedJson })
    },
  })
  shard.sink = options.valSplit ? sideRouter(options.plan?.keptIn(source.ref) ?? new Map(), { train: sinkFor('train'), val: sinkFor('val') }) : sinkFor('')
  return shard
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
