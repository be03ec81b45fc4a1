import pLimit from 'p-limit'
import { describeFile, summarizeFiles, type FilesSummary } from '../parquet/describe.js'
import { columnNames, readBatches } from '../parquet/rows.js'
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
  /** Shards read at once (default 4). */
  concurrency?: number
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
    const limit = pLimit(options.concurrency ?? 4)
    let done = 0
    await Promise.all(files.map(({ source, metadata }) => limit(async () => {
      const present = columnNames(metadata)
      const columns = [...smallColumns, ...(options.deep ? ['messages'] : [])].filter((name) => present.includes(name))
      for await (const batch of readBatches(source, metadata, { columns })) accumulator.add(batch)
      options.onShard?.(++done, files.length)
    })))
    return { footer, rows: accumulator.result() }
  } finally {
    await closeSources(opened)
  }
}
