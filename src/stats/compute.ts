import type { FileMetaData } from 'hyparquet'
import pLimit from 'p-limit'
import { defaultMemoryBytes } from '../fetch/budget.js'
import { describeFile, summarizeFiles, type FilesSummary } from '../parquet/describe.js'
import { columnNames, largestRowGroup, readBatches } from '../parquet/rows.js'
import { closeSources, openSources, type SourceRef } from '../sources.js'
import { repoOf, summarizeMessages, taskOf } from '../trajectory/messages.js'
import { statsAccumulator, type RowStats } from './accumulate.js'

/** Statistics of a set of shards: footer figures plus figures from the rows. */
export interface ShardStats {
  footer: FilesSummary
  rows: RowStats
}

/** Options for {@link computeStats}. */
export interface ComputeStatsOptions {
  /** Also read `messages`: turns, tool calls, lengths. */
  deep?: boolean
  /** Shards read at once (default: as many as `decodeBytes` holds of their largest row groups, 1 to 32). */
  concurrency?: number
  /** Uncompressed bytes the shards read at once may decode together (default: a quarter of the memory budget). */
  decodeBytes?: number
  /** Called after each shard is done. */
  onShard?: (done: number, total: number) => void
}

/** Columns read without --deep: everything small, plus token lists (their lengths are the point). */
const smallColumns = ['trajectory_id', 'reward', 'finish_reason', 'license', 'image', 'input_ids', 'labels']

/**
 * Compute a split's statistics: footers for sizes, then only the small columns (and `messages` with
 * `deep`) of every shard, several shards at a time; rows are folded into running totals as they stream.
 */
export async function computeStats(sources: SourceRef[], options: ComputeStatsOptions = {}): Promise<ShardStats> {
  const opened = openSources(sources)
  try {
    const files = await Promise.all(opened)
    const footer = summarizeFiles(files.map(({ ref, metadata }) => describeFile(ref.name, ref.size, metadata)))
    const accumulator = statsAccumulator({ taskOf, repoOf, summarizeMessages }, { deep: options.deep })
    const wanted = [...smallColumns, ...(options.deep ? ['messages'] : [])]
    const columnsOf = (metadata: FileMetaData) => wanted.filter((name) => columnNames(metadata).includes(name))
    const largest = Math.max(1, ...files.map(({ metadata }) => largestRowGroup(metadata, columnsOf(metadata))))
    const decodeBytes = options.decodeBytes ?? defaultMemoryBytes / 4
    const limit = pLimit(options.concurrency ?? Math.max(1, Math.min(32, Math.floor(decodeBytes / largest))))
    let done = 0
    await Promise.all(files.map(({ source, metadata }) => limit(async () => {
      const columns = columnsOf(metadata)
      for await (const batch of readBatches(source, metadata, { columns })) accumulator.add(batch)
      // a file read whole with its footer holds all its bytes: they are not needed any more
      source.release?.()
      options.onShard?.(++done, files.length)
    })))
    return { footer, rows: accumulator.result() }
  } finally {
    await closeSources(opened)
  }
}
