import type { FileMetaData } from 'hyparquet'
import pLimit from 'p-limit'
import { defaultMemoryBytes } from '../fetch/budget.js'
import { describeFile, summarizeFiles, type FilesSummary } from '../parquet/describe.js'
import { columnNames, largestRowGroup, readPieces } from '../parquet/rows.js'
import { decodePool, type DecodePool } from '../query/decodePool.js'
import { orderedWindow } from '../query/orderedWindow.js'
import { closeSources, openSources, type SourceRef } from '../sources.js'
import { repoOf, summarizeCell, taskOf } from '../trajectory/messages.js'
import { statsAccumulator, type RowStats, type StatsBatch } from './accumulate.js'

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
  /** Row groups larger than this are read in slices (see ReadOptions.sliceBytes). */
  sliceBytes?: number
  /** Decode (and summarise messages) here: worker threads, or this thread (default). */
  decoder?: DecodePool
  /** Called after each shard is done. */
  onShard?: (done: number, total: number) => void
}

/** Columns read without --deep: everything small, plus token lists (their lengths are the point). */
const smallColumns = ['trajectory_id', 'reward', 'finish_reason', 'license', 'image', 'input_ids', 'labels']

/**
 * Compute a split's statistics: footers for sizes, then only the small columns (and `messages` with
 * `deep`) of every shard, several shards at a time. Pieces are decoded (and their messages summarised)
 * by the decoder, on every thread it has; their rows are folded into running totals, which do not
 * depend on the order rows arrive in.
 */
export async function computeStats(sources: SourceRef[], options: ComputeStatsOptions = {}): Promise<ShardStats> {
  const opened = openSources(sources)
  const decoder = options.decoder ?? decodePool(1)
  try {
    const files = await Promise.all(opened)
    const footer = summarizeFiles(files.map(({ ref, metadata }) => describeFile(ref.name, ref.size, metadata)))
    const accumulator = statsAccumulator({ taskOf, repoOf, summarizeCell }, { deep: options.deep })
    const wanted = [...smallColumns, ...(options.deep ? ['messages'] : [])]
    const columnsOf = (metadata: FileMetaData) => wanted.filter((name) => columnNames(metadata).includes(name))
    const largest = Math.max(1, ...files.map(({ metadata }) => largestRowGroup(metadata, columnsOf(metadata))))
    const decodeBytes = options.decodeBytes ?? defaultMemoryBytes / 4
    const limit = pLimit(options.concurrency ?? Math.max(1, Math.min(32, Math.floor(decodeBytes / largest))))
    // pieces decoding at once, whichever shard they come from: every thread busy
    const window = orderedWindow<StatsBatch>(decoder.size, async (batch) => accumulator.add(batch))
    let done = 0
    try {
      await Promise.all(files.map(({ source, metadata }) => limit(async () => {
        const columns = columnsOf(metadata)
        for await (const piece of readPieces(source, metadata, { columns, sliceBytes: options.sliceBytes })) {
          // messages stay bytes: the summary is scanned from them (trajectory/scanTurns.ts)
          const task = { metadata, columns, piece, rawStrings: ['messages'], summarize: options.deep ? 'messages' : undefined }
          const numRows = piece.piece.end - piece.piece.start
          await window.push(decoder.run(task).then(({ columns, summaries }): StatsBatch => ({ columns: columns!, numRows, summaries })), true)
        }
        // a file read whole with its footer holds all its bytes: they are not needed any more
        source.release?.()
        options.onShard?.(++done, files.length)
      })))
      await window.end()
    } catch (error) {
      await window.abort()
      throw error
    }
    return { footer, rows: accumulator.result() }
  } finally {
    if (!options.decoder) await decoder.close()
    await closeSources(opened)
  }
}
