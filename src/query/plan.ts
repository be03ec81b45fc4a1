import type { Statistics } from 'hyparquet'
import { fields } from './fields.js'
import type { Expr, Value } from './parse.js'
import { compareText } from '../parquet/textOrder.js'

/** Which columns each phase of a two-phase scan reads for a predicate. */
export interface ScanPlan {
  /** Small columns the predicate reads, in phase 1, for every row group statistics do not rule out. */
  phase1Columns: string[]
  /**
   * Columns phase 2 needs to finish deciding — every column the predicate reads — fetched only for row
   * groups that still hold candidates. Empty when phase 1 decides alone.
   */
  phase2Columns: string[]
  /** Phase 2 parses `messages` (turns, tool calls, uses_tool, ends_with_finish). */
  needsMessages: boolean
}

/** Plan the columns of a two-phase scan for `expr`. */
export function planScan(expr: Expr): ScanPlan {
  const columns = columnsOf(expr)
  const large = isLarge(expr)
  return {
    phase1Columns: columns.filter((name) => !fields[name]?.large),
    phase2Columns: large ? columns : [],
    needsMessages: large && columns.includes('messages'),
  }
}

/** The physical columns an expression reads, in first-use order. */
export function columnsOf(expr: Expr): string[] {
  const columns = new Set<string>()
  const visit = (node: Expr): void => {
    switch (node.kind) {
      case 'and': case 'or': visit(node.left); visit(node.right); return
      case 'not': visit(node.expr); return
      case 'constant': return
      case 'uses_tool': case 'ends_with_finish': columns.add('messages'); return
      default: for (const name of fields[node.field]!.columns) columns.add(name)
    }
  }
  visit(expr)
  return [...columns]
}

/** The expression (or, for a leaf, its value) needs a large column. */
export function isLarge(expr: Expr): boolean {
  switch (expr.kind) {
    case 'and': case 'or': return isLarge(expr.left) || isLarge(expr.right)
    case 'not': return isLarge(expr.expr)
    case 'constant': return false
    case 'uses_tool': case 'ends_with_finish': return true
    default: return fields[expr.field]!.large
  }
}

/** Row-group metadata as hyparquet gives it: the parts pruning reads. */
export interface RowGroupMeta {
  num_rows: bigint | number
  columns: { meta_data?: { path_in_schema: string[], statistics?: Statistics } }[]
}

/** One column's statistics in a row group, normalised. Strings may be prefixes of the true bounds. */
interface ColumnStats {
  min?: Value
  max?: Value
  nullCount?: number
}

/**
 * True when the row group's statistics prove that no row satisfies `expr` (min/max of reward,
 * license, finish_reason, image and trajectory_id; null counts; a row group without rows). Conservative:
 * string bounds may be truncated, so a string maximum is taken as a possible prefix of the true one;
 * anything not provable keeps the row group.
 */
export function canSkipRowGroup(expr: Expr, rowGroup: RowGroupMeta): boolean {
  const numRows = Number(rowGroup.num_rows)
  return numRows === 0 || never(expr, true, statsByColumn(rowGroup), numRows)
}

/** Can no row make `expr` evaluate to `outcome`? (Rows where it is null count as neither.) */
function never(expr: Expr, outcome: boolean, stats: Map<string, ColumnStats>, numRows: number): boolean {
  switch (expr.kind) {
    case 'and': return outcome
      ? never(expr.left, true, stats, numRows) || never(expr.right, true, stats, numRows)
      : never(expr.left, false, stats, numRows) && never(expr.right, false, stats, numRows)
    case 'or': return outcome
      ? never(expr.left, true, stats, numRows) && never(expr.right, true, stats, numRows)
      : never(expr.left, false, stats, numRows) || never(expr.right, false, stats, numRows)
    case 'not': return never(expr.expr, !outcome, stats, numRows)
    case 'constant': return expr.value !== outcome
    case 'uses_tool': case 'ends_with_finish': return false
    default: break
  }
  const field = fields[expr.field]!
  if (field.large || field.columns.length !== 1) return false
  const column = stats.get(field.columns[0]!)
  if (!column) return false
  const allNull = column.nullCount === numRows
  // run is also null for ids without _runN; task and stored fields are null exactly when their column is
  if (expr.kind === 'is_null') return outcome ? column.nullCount === 0 && expr.field !== 'run' : allNull
  if (allNull) return true // every value is null: the test is null, neither true nor false
  if (expr.field === 'task') return outcome && taskNeverMatches(expr, column)
  if (expr.field !== field.columns[0]) return false // run: no statistics of its own
  // a NaN row (absent from statistics) makes every comparison false, so no bound proves "never false"
  return outcome && neverTrue(expr, column)
}

type Leaf = Exclude<Expr, { kind: 'and' | 'or' | 'not' | 'constant' | 'uses_tool' | 'ends_with_finish' | 'is_null' }>

function neverTrue(expr: Leaf, { min, max }: ColumnStats): boolean {
  if (min === undefined || max === undefined) return false
  const below = (v: Value) => typeof v === typeof min && compare(v, min) < 0
  // a string maximum may be a truncated prefix of the true maximum, which then starts with it
  const above = (v: Value) => typeof v === typeof max && compare(v, max) > 0 && !(typeof v === 'string' && v.startsWith(max as string))
  switch (expr.kind) {
    case 'compare': {
      const { op, value } = expr
      if (typeof value !== typeof min) return false
      switch (op) {
        case '=': return below(value) || above(value)
        case '!=': return false // a NaN row (absent from statistics) or a truncated bound may differ
        case '<': return compare(min, value) >= 0
        case '<=': return compare(min, value) > 0
        case '>': return typeof max === 'number' ? max <= (value as number) : above(value)
        case '>=': return typeof max === 'number' ? max < (value as number) : above(value)
      }
      break
    }
    case 'in': return expr.values.every((v) => below(v) || above(v))
    case 'between': return below(expr.high) || above(expr.low) || (typeof expr.low === typeof expr.high && compare(expr.low, expr.high) > 0)
    case 'like': return prefixNeverMatches(literalPrefix(expr.pattern, '%_'), min, max)
    case 'glob': return prefixNeverMatches(literalPrefix(expr.pattern, '*?'), min, max)
    case 'regex': return false
  }
  return false
}

/** A task is a prefix of its trajectory_id: `task = 'x'` needs ids starting with x. */
function taskNeverMatches(expr: Expr, { min, max }: ColumnStats): boolean {
  if (typeof min !== 'string' || typeof max !== 'string') return false
  if (expr.kind === 'compare' && expr.op === '=') return prefixNeverMatches(expr.value as string, min, max)
  if (expr.kind === 'in') return expr.values.every((value) => prefixNeverMatches(value as string, min, max))
  return false
}

/** No string within [min, max] (max possibly truncated) can start with `prefix`. */
function prefixNeverMatches(prefix: string, min: Value, max: Value): boolean {
  if (prefix === '' || typeof min !== 'string' || typeof max !== 'string') return false
  const allBelow = compareText(prefix, max) > 0 && !prefix.startsWith(max)
  const allAbove = compareText(min, prefix) > 0 && !min.startsWith(prefix)
  return allBelow || allAbove
}

/** The characters before a pattern's first wildcard. */
function literalPrefix(pattern: string, wildcards: string): string {
  let end = 0
  while (end < pattern.length && !wildcards.includes(pattern[end]!)) end++
  return pattern.slice(0, end)
}

function compare(a: Value, b: Value): number {
  return typeof a === 'string' ? compareText(a, b as string) : (a as number) - (b as number)
}

function statsByColumn(rowGroup: RowGroupMeta): Map<string, ColumnStats> {
  const stats = new Map<string, ColumnStats>()
  for (const { meta_data: meta } of rowGroup.columns) {
    const values = meta?.statistics
    if (!meta || !values || meta.path_in_schema.length !== 1) continue
    // the deprecated min/max of byte arrays used a signed byte order: trusted for numbers only
    const number = (value: unknown) => (typeof value === 'number' && !Number.isNaN(value) ? value : typeof value === 'bigint' ? Number(value) : undefined)
    const min = typeof values.min_value === 'string' ? untruncated(values.min_value) : number(values.min_value ?? values.min)
    const max = typeof values.max_value === 'string' ? untruncated(values.max_value) : number(values.max_value ?? values.max)
    stats.set(meta.path_in_schema[0]!, {
      ...(typeof min === typeof max ? { min, max } : {}),
      nullCount: values.null_count === undefined ? undefined : Number(values.null_count),
    })
  }
  return stats
}

/**
 * A statistic cut inside a multi-byte character decodes to U+FFFD, which sorts above the character
 * it replaces: keep only the part before it (a prefix of the true bound).
 */
function untruncated(text: string): string {
  const cut = text.indexOf('\uFFFD')
  return cut === -1 ? text : text.slice(0, cut)
}
