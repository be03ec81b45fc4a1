import pLimit from 'p-limit'
import { columnNames, readBatches } from '../parquet/rows.js'
import type { CompiledPredicate } from '../query/compile.js'
import { closeSources, openSources, type SourceRef } from '../sources.js'
import { taskOf } from '../trajectory/messages.js'
import { isExcluded, type Exclusions } from './decontaminate.js'
import { seededHash } from './hash.js'
import { sideOf, type Side } from './valSplit.js'
import { cellAt } from '../parquet/intList.js'

/** Options for {@link planSelection}: the steps decided from small columns over the whole selection. */
export interface PlanOptions {
  predicate: CompiledPredicate
  /** Keep each trajectory_id once: in the first source (layout order) that holds it. */
  dedup: boolean
  /** At most this many trajectories per task, chosen by seeded hash of (seed, trajectory_id). */
  maxPerTask?: number
  /** Put this fraction of tasks (by seeded hash of the task) into `val`. */
  valFraction?: number
  seed: number
  exclusions?: Exclusions
  /** Files scanned at once (default 8). */
  concurrency?: number
  /** Called as each source's scan is taken in, in order. */
  onSource?(done: number, total: number): void
}

/** Rows in and out of each planned step, over the whole selection. */
export interface PlanCounts {
  /** Rows the small-column predicate selects. */
  selected: number
  decontaminated: number
  duplicates: number
  capped: number
  kept: number
  tasks: number
  valTasks: number
  valRows: number
}

/** The kept rows of every source, and which side (train / val) each goes to. */
export interface SelectionPlan {
  counts: PlanCounts
  /** Each trajectory_id is kept once (dedup was on). */
  once: boolean
  /** Kept trajectory ids of a source of the planned selection, with their side. */
  keptIn(source: SourceRef): Map<string, Side>
}

interface Entry {
  id: string
  source: number
  rank: number
}

/**
 * Scan `trajectory_id` (and `image`, for decontamination) with the predicate's small columns over
 * every source, before anything is written, and decide which rows each output keeps. The decision
 * depends only on the selection and the options — not on shard order, concurrency or `--worker` —
 * so N workers that each plan the whole selection and export their share write exactly what one run
 * writes. Memory: the ids of the selection (a few tens of MB for all of CoderForge), nothing else.
 *
 * Order of steps: predicate → decontamination → dedup (first split in layout order wins) → cap per
 * task (the K lowest hashes of (seed, id)) → validation side per task (hash of (seed, task) < F).
 */
export async function planSelection(sources: SourceRef[], options: PlanOptions): Promise<SelectionPlan> {
  const opened = openSources(sources)
  const limit = pLimit(options.concurrency ?? 8)
  const { predicate } = options
  try {
    // decontamination is decided in the scan (it depends on the row alone), so only ids are held
    const scans = opened.map((promise) => promise.then((source) => limit(async () => {
      const present = columnNames(source.metadata)
      const image = options.exclusions && present.includes('image') ? ['image'] : []
      const columns = [...new Set(['trajectory_id', ...image, ...predicate.phase1Columns])]
      const groups = source.metadata.row_groups.flatMap((group, index) => (predicate.canSkip(group) ? [] : [index]))
      const scan = { ids: [] as string[], selected: 0, excluded: 0 }
      if (groups.length === 0) return scan
      for await (const batch of readBatches(source.source, source.metadata, { columns, rowGroups: groups })) {
        for (const row of predicate.filterSmall(batch)) {
          const id = String(cellAt(batch.columns.trajectory_id, row))
          scan.selected++
          const imageName = cellAt(batch.columns.image, row)
          if (options.exclusions && isExcluded(options.exclusions, id, taskOf(id), typeof imageName === 'string' ? imageName : undefined)) scan.excluded++
          else scan.ids.push(id)
        }
      }
      return scan
    })))
    // taken in order below; a later scan that fails first must not go unhandled meanwhile
    for (const scan of scans) scan.catch(() => {})
    const counts: PlanCounts = { selected: 0, decontaminated: 0, duplicates: 0, capped: 0, kept: 0, tasks: 0, valTasks: 0, valRows: 0 }
    const seen = new Set<string>()
    const byTask = new Map<string, Entry[]>()
    for (const [source, pending] of scans.entries()) {
      const scan = await pending
      counts.selected += scan.selected
      counts.decontaminated += scan.excluded
      options.onSource?.(source + 1, sources.length)
      for (const id of scan.ids) {
        const task = taskOf(id)
        if (options.dedup) {
          if (seen.has(id)) {
            counts.duplicates++
            continue
          }
          seen.add(id)
        }
        let entries = byTask.get(task)
        if (!entries) byTask.set(task, entries = [])
        entries.push({ id, source, rank: options.maxPerTask === undefined ? 0 : seededHash(options.seed, id) })
        if (options.maxPerTask !== undefined && entries.length > options.maxPerTask) {
          entries.sort(byRank)
          entries.length = options.maxPerTask
          counts.capped++
        }
      }
    }
    const kept = sources.map(() => new Map<string, Side>())
    for (const [task, entries] of byTask) {
      const side = sideOf(task, options.valFraction, options.seed)
      counts.tasks++
      if (side === 'val') {
        counts.valTasks++
        counts.valRows += entries.length
      }
      for (const entry of entries) kept[entry.source]!.set(entry.id, side)
      counts.kept += entries.length
    }
    const index = new Map(sources.map((source, i) => [source, i]))
    return { counts, once: options.dedup, keptIn: (source) => kept[index.get(source) ?? -1] ?? new Map() }
  } finally {
    await closeSources(opened)
  }
}

/** Lower hash first; ties (the same id in two sources, without dedup) by source order, then id. */
function byRank(a: Entry, b: Entry): number {
  return a.rank - b.rank || a.source - b.source || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
}

/**
 * The predicate restricted to a source's kept ids: phase 1 also reads `trajectory_id` and drops the
 * rows the plan did not keep, so phase 2 fetches the large columns of kept rows only. With `once`
 * (dedup), an id repeated within the source passes the first time only, as the plan counted it.
 */
export function keptPredicate(predicate: CompiledPredicate, kept: Map<string, Side>, options: { once: boolean }): CompiledPredicate {
  const taken = new Set<string>()
  const keep = (id: string) => {
    if (!kept.has(id)) return false
    if (!options.once) return true
    if (taken.has(id)) return false
    taken.add(id)
    return true
  }
  return {
    ...predicate,
    phase1Columns: [...new Set([...predicate.phase1Columns, 'trajectory_id'])],
    canSkip: (group) => kept.size === 0 || predicate.canSkip(group),
    filterSmall: (batch, rows) => {
      const ids = batch.columns.trajectory_id!
      return predicate.filterSmall(batch, rows).filter((row) => keep(String(cellAt(ids, row))))
    },
  }
}
