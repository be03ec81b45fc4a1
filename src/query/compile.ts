/**
 * Evaluation: an expression compiled once into a filter over column-oriented batches.
 *
 * Null semantics are SQL's (three-valued logic, as DuckDB evaluates the same predicate): a test on a
 * null value is null, `not null` is null, `false and null` is false, `true or null` is true, and a row
 * is selected only when the whole predicate is true. Values that cannot be derived are null: `run`
 * without `_runN`, `repo` when no rule applies, and every message-derived value (`turns`, `tool_calls`,
 * `messages_count`, `uses_tool(…)`, `ends_with_finish`) when `messages` is null or not a JSON array.
 * `is null` is never null. Strings compare by code point; a NaN reward compares false to everything.
 */
import { repoOf, runOf, summarizeCell, taskOf, type TrajectorySummary } from '../trajectory/messages.js'
import { fields } from './fields.js'
import type { CompareOp, Expr, Value } from './parse.js'
import { canSkipRowGroup, isLarge, planScan, type RowGroupMeta, type ScanPlan } from './plan.js'
import { compareText } from '../parquet/textOrder.js'
import { wildcardRegExp } from './text.js'
import { cellAt, type Column } from '../parquet/intList.js'

/** Rows in columns. String columns may hold JS strings or UTF-8 bytes; numbers may be bigints. */
export interface Batch {
  columns: Record<string, Column | undefined>
  numRows: number
}

/** Options for {@link compileFilter}. */
export interface FilterOptions {
  /**
   * Treat every large-column test (messages, tools, chat_template_applied, and what derives from
   * them) as unknown, and keep the rows the predicate could still select once they are known.
   */
  deferLarge?: boolean
}

/** Indexes of the rows of a batch that pass (among `rows`, default all), in ascending order. */
export type BatchFilter = (batch: Batch, rows?: ArrayLike<number>) => number[]

/** Compile an expression once into a filter over batches. */
export function compileFilter(expr: Expr, options: FilterOptions = {}): BatchFilter {
  const bind = compileNode(expr, options.deferLarge ?? false)
  const keep = options.deferLarge ? (truth: Truth) => truth !== false : (truth: Truth) => truth === true
  return (batch, rows) => {
    const test = bind(new RowValues(batch))
    const selected: number[] = []
    if (rows) {
      for (let i = 0; i < rows.length; i++) if (keep(test(rows[i]!))) selected.push(rows[i]!)
    } else {
      for (let row = 0; row < batch.numRows; row++) if (keep(test(row))) selected.push(row)
    }
    return selected
  }
}

/** A predicate compiled for a two-phase scan (see {@link ScanPlan}). */
export interface CompiledPredicate extends ScanPlan {
  expr: Expr
  /**
   * Phase 1, on a batch holding `phase1Columns`: the rows the predicate may select. They all match
   * when `phase2Columns` is empty.
   */
  filterSmall: BatchFilter
  /** Phase 2, on a batch holding `phase2Columns`: the rows among `rows` that match. */
  filterLarge(batch: Batch, rows: number[]): number[]
  /** The predicate on one row given as an object. */
  matches(row: Record<string, unknown>): boolean
  /** Statistics prove that no row of this row group matches. */
  canSkip(rowGroup: RowGroupMeta): boolean
}

/** Compile an expression for a two-phase scan. */
export function compilePredicate(expr: Expr): CompiledPredicate {
  const plan = planScan(expr)
  const exact = compileFilter(expr)
  const candidates = isLarge(expr) ? compileFilter(expr, { deferLarge: true }) : exact
  return {
    expr,
    ...plan,
    filterSmall: candidates,
    filterLarge: (batch, rows) => (plan.phase2Columns.length ? exact(batch, rows) : rows),
    matches(row) {
      const columns = Object.fromEntries(Object.entries(row).map(([name, value]) => [name, [value]]))
      return exact({ columns, numRows: 1 }).length === 1
    },
    canSkip: (rowGroup) => canSkipRowGroup(expr, rowGroup),
  }
}

type Truth = boolean | null
type Test = (row: number) => Truth
/** A compiled node, bound to one batch's values at a time. */
type Bound = (values: RowValues) => Test

/**
 * `and` (dominant false) and `or` (dominant true) in Kleene logic: the dominant value decides alone,
 * otherwise unknown beats the other value.
 */
function junction(left: Bound, right: Bound, dominant: boolean): Bound {
  return (values) => {
    const a = left(values)
    const b = right(values)
    return (row) => {
      const x = a(row)
      if (x === dominant) return dominant
      const y = b(row)
      return y === dominant ? dominant : x === null || y === null ? null : !dominant
    }
  }
}

function compileNode(expr: Expr, deferLarge: boolean): Bound {
  switch (expr.kind) {
    case 'and':
    case 'or':
      return junction(compileNode(expr.left, deferLarge), compileNode(expr.right, deferLarge), expr.kind === 'or')
    case 'not': {
      const inner = compileNode(expr.expr, deferLarge)
      return (values) => {
        const test = inner(values)
        return (row) => {
          const x = test(row)
          return x === null ? null : !x
        }
      }
    }
    case 'constant': return () => () => expr.value
    default: break
  }
  if (deferLarge && isLarge(expr)) return () => () => null
  switch (expr.kind) {
    case 'uses_tool': return (values) => (row) => {
      const summary = values.summary(row)
      return summary ? (summary.toolCalls[expr.tool] ?? 0) > 0 : null
    }
    case 'ends_with_finish': return (values) => (row) => values.summary(row)?.endsWithFinish ?? null
    case 'is_null': return (values) => {
      const read = values.reader(expr.field)
      return (row) => read(row) === null
    }
    case 'compare': return leaf(expr.field, comparison(expr.op, expr.value))
    case 'in': {
      const set = new Set<Value>(expr.values)
      return leaf(expr.field, (value) => set.has(value))
    }
    case 'between': {
      const { low, high } = expr
      return leaf(expr.field, (value) => order(value, low) >= 0 && order(value, high) <= 0)
    }
    case 'like': case 'glob': {
      const pattern = wildcardRegExp(expr.pattern, expr.kind)
      return leaf(expr.field, (value) => pattern.test(value as string))
    }
    case 'regex': {
      // a fresh RegExp without state (a /g or /y pattern would remember lastIndex between rows)
      const pattern = new RegExp(expr.pattern.source, expr.pattern.flags.replace(/[gy]/g, ''))
      return leaf(expr.field, (value) => pattern.test(value as string))
    }
  }
}

/** A test of one field's non-null value; null values give null. */
function leaf(field: string, test: (value: Value) => boolean): Bound {
  return (values) => {
    const read = values.reader(field)
    return (row) => {
      const value = read(row)
      return value === null ? null : test(value)
    }
  }
}

function comparison(op: CompareOp, expected: Value): (value: Value) => boolean {
  switch (op) {
    case '=': return (value) => value === expected
    case '!=': return (value) => value !== expected
    case '<': return (value) => order(value, expected) < 0
    case '<=': return (value) => order(value, expected) <= 0
    case '>': return (value) => order(value, expected) > 0
    case '>=': return (value) => order(value, expected) >= 0
  }
}

/** Negative, zero or positive; NaN (a NaN reward) makes every ordering test false. */
function order(a: Value, b: Value): number {
  return typeof a === 'string' ? compareText(a, b as string) : (a as number) - (b as number)
}

type Reader = (row: number) => Value | null

const utf8 = new TextDecoder()

/** The values of one batch's rows, read lazily: only the fields a test reaches are decoded. */
class RowValues {
  private readonly readers = new Map<string, Reader>()
  private summaryRow = -1
  private summaryValue: TrajectorySummary | undefined

  constructor(private readonly batch: Batch) {}

  /** A reader of `field`, remembering the last row it read (tests of one row share it). */
  reader(field: string): Reader {
    let reader = this.readers.get(field)
    if (!reader) {
      reader = remembered(this.derive(field))
      this.readers.set(field, reader)
    }
    return reader
  }

  /** The row's messages summarised, or undefined when messages is null or not a JSON array. */
  summary(row: number): TrajectorySummary | undefined {
    if (row !== this.summaryRow) {
      const column = this.batch.columns.messages
      // the cell as it is (UTF-8 bytes, as a rule): summarizeCell scans them without decoding
      const messages = column && cellAt(column, row)
      this.summaryRow = row
      try {
        this.summaryValue = summarizeCell(messages) ?? undefined
      } catch {
        this.summaryValue = undefined
      }
    }
    return this.summaryValue
  }

  private derive(field: string): Reader {
    const text = (name: string) => this.reader(name)
    switch (field) {
      case 'task': return mapText(text('trajectory_id'), taskOf)
      case 'run': return mapText(text('trajectory_id'), runOf)
      case 'repo': {
        const id = text('trajectory_id')
        const image = text('image')
        return (row) => {
          const value = id(row)
          return value === null ? null : repoOf(value as string, (image(row) as string | null) ?? undefined) ?? null
        }
      }
      case 'turns': return (row) => this.summary(row)?.assistantTurns ?? null
      case 'messages_count': return (row) => this.summary(row)?.messages ?? null
      case 'tool_calls': return (row) => {
        const calls = this.summary(row)?.toolCalls
        return calls ? Object.values(calls).reduce((sum, n) => sum + n, 0) : null
      }
      default: return columnReader(this.batch.columns[field], fields[field]?.type ?? 'string')
    }
  }
}

function columnReader(column: Column | undefined, type: 'string' | 'number'): Reader {
  if (!column) return () => null
  return type === 'number'
    ? (row) => {
      const value = cellAt(column, row)
      return value === null || value === undefined ? null : Number(value)
    }
    : (row) => {
      const value = cellAt(column, row)
      if (value === null || value === undefined) return null
      return value instanceof Uint8Array ? utf8.decode(value) : String(value)
    }
}

function mapText(read: Reader, derive: (text: string) => Value | undefined): Reader {
  return (row) => {
    const text = read(row)
    return text === null ? null : derive(text as string) ?? null
  }
}

function remembered(read: Reader): Reader {
  let lastRow = -1
  let last: Value | null = null
  return (row) => {
    if (row !== lastRow) {
      last = read(row)
      lastRow = row
    }
    return last
  }
}
