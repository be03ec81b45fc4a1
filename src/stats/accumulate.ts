import type { TrajectorySummary } from '../trajectory/messages.js'
import { distribution, passAtK, type Distribution } from './distribution.js'
import { cellAt, type Column } from '../parquet/intList.js'

/** How to read identifiers and messages; injected so one definition serves filter and stats. */
export interface StatsHelpers {
  /** trajectory_id without its `_runN` (and `_incomplete_…`) suffix. */
  taskOf(id: string): string
  /** owner/repo of a row, best effort, from image or id. */
  repoOf(id: string, image: string | undefined): string | undefined
  /** The summary of a `messages` cell: undefined for null, null for text that is not JSON. */
  summarizeCell?(cell: unknown): TrajectorySummary | null | undefined
}

/** A decoded batch of rows, column-oriented. */
export interface StatsBatch {
  columns: Record<string, Column | undefined>
  numRows: number
  /** Each row's messages summarised already (on a decoding thread), as `summarizeCell` gives them. */
  summaries?: ArrayLike<TrajectorySummary | null | undefined>
}

/** Running totals over the rows of a split (or several files). */
export interface StatsAccumulator {
  add(batch: StatsBatch): void
  result(): RowStats
}

/** Statistics computed from rows (the footer-only figures are added by the caller). */
export interface RowStats {
  rows: number
  reward?: { counts: Record<string, number>, mean: number | null }
  finish_reason?: Record<string, number>
  license?: Record<string, number>
  top_images?: { value: string, count: number }[]
  top_repos?: { value: string, count: number }[]
  tasks?: {
    count: number
    runs_per_task: Distribution
    /** Mean over tasks of the task's pass rate (reward == 1 share of its runs). */
    pass_at_1: number | null
    /** pass@k for k = 2, 4, 8 over the tasks that have at least k runs. */
    pass_at_k: Record<string, { tasks: number, value: number }>
    /** Tasks with at least one passing run. */
    solved: number
  }
  deep?: {
    messages: Distribution
    assistant_turns: Distribution
    tool_calls: Distribution
    tool_calls_by_tool: Record<string, { total: number, per_trajectory: Distribution }>
    ends_with_finish: { count: number, share: number }
    chars_by_role: Record<string, Distribution>
    /** Rows whose `messages` is not a JSON array: counted here, left out of the distributions. */
    invalid_messages: number
  }
  tokens?: {
    input_tokens: Distribution
    trainable_tokens: Distribution
    trainable_share: number | null
    fits_context: Record<string, number>
  }
}

const topN = 10
const contextSizes = { '32k': 32 * 1024, '64k': 64 * 1024, '128k': 128 * 1024 }

/** Start accumulating statistics; `deep` also reads `messages`. */
export function statsAccumulator(helpers: StatsHelpers, options: { deep?: boolean } = {}): StatsAccumulator {
  let rows = 0
  const rewards = new Map<string, number>()
  let rewardSum = 0
  let rewardCount = 0
  const finishReasons = new Map<string, number>()
  const licenses = new Map<string, number>()
  const images = new Map<string, number>()
  const repos = new Map<string, number>()
  const tasks = new Map<string, { runs: number, passed: number }>()
  const seen = new Set<string>()
  const deep = {
    messages: [] as number[], assistantTurns: [] as number[], toolCalls: [] as number[],
    byTool: new Map<string, number[]>(), finished: 0, invalid: 0, charsByRole: new Map<string, number[]>(),
  }
  const tokens = { input: [] as number[], trainable: [] as number[] }

  function add(batch: StatsBatch): void {
    const { columns } = batch
    const ids = columns.trajectory_id
    for (let row = 0; row < batch.numRows; row++) {
      const id = ids ? text(cellAt(ids, row)) : undefined
      const reward = columns.reward ? cellAt(columns.reward, row) : undefined
      if (columns.reward) {
        increment(rewards, reward === null || reward === undefined ? 'null' : formatReward(Number(reward)))
        if (typeof reward === 'number') {
          rewardSum += reward
          rewardCount++
        }
      }
      if (columns.finish_reason) increment(finishReasons, text(cellAt(columns.finish_reason, row)) ?? 'null')
      if (columns.license) increment(licenses, text(cellAt(columns.license, row)) ?? 'null')
      const image = columns.image ? text(cellAt(columns.image, row)) : undefined
      if (image !== undefined) increment(images, image)
      if (id !== undefined) {
        const repo = helpers.repoOf(id, image)
        if (repo) increment(repos, repo)
        const task = helpers.taskOf(id)
        const entry = tasks.get(task) ?? { runs: 0, passed: 0 }
        if (!seen.has(id)) {
          seen.add(id)
          entry.runs++
          if (reward === 1) entry.passed++
        }
        tasks.set(task, entry)
      }
      if (options.deep) {
        if (batch.summaries) addDeep(batch.summaries[row])
        else if (columns.messages && helpers.summarizeCell) addDeep(helpers.summarizeCell(cellAt(columns.messages, row)))
      }
      if (columns.input_ids) tokens.input.push((cellAt(columns.input_ids, row) as ArrayLike<unknown> | null)?.length ?? 0)
      if (columns.labels) tokens.trainable.push(countTrainable(cellAt(columns.labels, row) as ArrayLike<unknown> | null))
    }
    rows += batch.numRows
  }

  /** Fold one row's summary in; null (text that is not JSON) is counted, not summarised. */
  function addDeep(summary: TrajectorySummary | null | undefined): void {
    if (summary === null) deep.invalid++
    if (!summary) return
    deep.messages.push(summary.messages)
    deep.assistantTurns.push(summary.assistantTurns)
    let calls = 0
    const index = deep.messages.length - 1
    for (const [tool, count] of Object.entries(summary.toolCalls)) {
      calls += count
      const perTrajectory = deep.byTool.get(tool) ?? []
      // tools first seen now were called zero times by every earlier trajectory
      while (perTrajectory.length < index) perTrajectory.push(0)
      perTrajectory.push(count)
      deep.byTool.set(tool, perTrajectory)
    }
    deep.toolCalls.push(calls)
    if (summary.endsWithFinish) deep.finished++
    for (const [role, chars] of Object.entries(summary.charsByRole)) {
      const list = deep.charsByRole.get(role) ?? []
      while (list.length < index) list.push(0)
      list.push(chars)
      deep.charsByRole.set(role, list)
    }
  }

  function result(): RowStats {
    const stats: RowStats = { rows }
    if (rewards.size) stats.reward = { counts: sortedCounts(rewards), mean: rewardCount ? rewardSum / rewardCount : null }
    if (finishReasons.size) stats.finish_reason = sortedCounts(finishReasons)
    if (licenses.size) stats.license = sortedCounts(licenses)
    if (images.size) stats.top_images = top(images)
    if (repos.size) stats.top_repos = top(repos)
    // in task order, not arrival order: float sums must not depend on which shard came first
    if (tasks.size) stats.tasks = taskStats([...tasks].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, entry]) => entry))
    if (deep.messages.length || deep.invalid) {
      const n = deep.messages.length
      const padded = (list: number[]) => list.concat(new Array<number>(n - list.length).fill(0))
      stats.deep = {
        messages: distribution(deep.messages, { histogram: true }),
        assistant_turns: distribution(deep.assistantTurns, { histogram: true }),
        tool_calls: distribution(deep.toolCalls, { histogram: true }),
        tool_calls_by_tool: Object.fromEntries([...deep.byTool].sort(([a], [b]) => a.localeCompare(b)).map(([tool, list]) => {
          const all = padded(list)
          return [tool, { total: all.reduce((a, b) => a + b, 0), per_trajectory: distribution(all) }]
        })),
        ends_with_finish: { count: deep.finished, share: n ? deep.finished / n : 0 },
        chars_by_role: Object.fromEntries([...deep.charsByRole].sort(([a], [b]) => a.localeCompare(b)).map(([role, list]) => [role, distribution(padded(list))])),
        invalid_messages: deep.invalid,
      }
    }
    if (tokens.input.length) {
      const totalInput = tokens.input.reduce((a, b) => a + b, 0)
      const totalTrainable = tokens.trainable.reduce((a, b) => a + b, 0)
      stats.tokens = {
        input_tokens: distribution(tokens.input, { histogram: true }),
        trainable_tokens: distribution(tokens.trainable, { histogram: true }),
        trainable_share: totalInput ? totalTrainable / totalInput : null,
        fits_context: Object.fromEntries(Object.entries(contextSizes).map(([name, size]) => [name, tokens.input.filter((n) => n <= size).length])),
      }
    }
    return stats
  }

  return { add, result }
}

function taskStats(tasks: { runs: number, passed: number }[]): NonNullable<RowStats['tasks']> {
  const passAt: Record<string, { tasks: number, value: number }> = {}
  for (const k of [2, 4, 8]) {
    const values = tasks.map((t) => passAtK(t.runs, t.passed, k)).filter((v): v is number => v !== undefined)
    if (values.length) passAt[`pass@${k}`] = { tasks: values.length, value: values.reduce((a, b) => a + b, 0) / values.length }
  }
  return {
    count: tasks.length,
    runs_per_task: distribution(tasks.map((t) => t.runs)),
    pass_at_1: tasks.length ? tasks.reduce((sum, t) => sum + t.passed / t.runs, 0) / tasks.length : null,
    pass_at_k: passAt,
    solved: tasks.filter((t) => t.passed > 0).length,
  }
}

function countTrainable(labels: ArrayLike<unknown> | null): number {
  if (!labels) return 0
  let count = 0
  for (let i = 0; i < labels.length; i++) {
    const label = labels[i]
    if (label !== -100 && label !== -100n) count++
  }
  return count
}

const textDecoder = new TextDecoder()

function text(value: unknown): string | undefined {
  if (value === null || value === undefined) return undefined
  return value instanceof Uint8Array ? textDecoder.decode(value) : String(value)
}

function formatReward(reward: number): string {
  return Number.isInteger(reward) ? reward.toFixed(1) : String(reward)
}

function increment(map: Map<string, number>, key: string): void {
  map.set(key, (map.get(key) ?? 0) + 1)
}

function sortedCounts(map: Map<string, number>): Record<string, number> {
  return Object.fromEntries([...map].sort(([a, x], [b, y]) => y - x || a.localeCompare(b)))
}

function top(map: Map<string, number>): { value: string, count: number }[] {
  return [...map].sort(([a, x], [b, y]) => y - x || a.localeCompare(b)).slice(0, topN).map(([value, count]) => ({ value, count }))
}
