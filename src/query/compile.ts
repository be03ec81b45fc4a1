import { repoOf, runOf, summarizeMessages, taskOf, type TrajectorySummary } from '../trajectory/messages.js'
import type { Expr, Literal } from './parse.js'

/** Columns a batch holds: strings as JS strings or UTF-8 bytes, numbers, lists. */
export interface Batch {
  columns: Record<string, ArrayLike<unknown> | undefined>
  numRows: number
}

/** Min/max statistics of one row group, by column. */
export type RowGroupStats = Record<string, { min: unknown, max: unknown } | undefined>

/** A predicate compiled for the two-phase scan. */
export interface CompiledPredicate {
  /** Small columns phase 1 reads to decide. Empty: every row is a candidate without reading. */
  smallColumns: string[]
  /** Columns phase 2 needs to finish deciding (messages and whatever the message part names). */
  messageColumns: string[]
  /** Phase 1: the rows of a batch that pass everything decidable from small columns. */
  filterSmall(batch: Batch): number[]
  /** Phase 2: of those rows, the ones that pass the message-derived part. */
  filterMessages(batch: Batch, rows: number[]): number[]
  /** True when statistics prove no row of the row group can match. */
  canSkip(stats: RowGroupStats): boolean
}

const messageFields = new Set(['turns', 'tool_calls', 'messages_count'])
const derivedFrom: Record<string, string[]> = { task: ['trajectory_id'], run: ['trajectory_id'], repo: ['trajectory_id', 'image'] }

/** Compile an expression; its top-level `and` terms are split into a small-column part and a messages part. */
export function compilePredicate(expr: Expr): CompiledPredicate {
  const terms = conjuncts(expr)
  const small = terms.filter((term) => !needsMessages(term))
  const large = terms.filter(needsMessages)
  const smallTest = compile(small)
  const largeTest = compile(large)
  const smallColumns = [...new Set(small.flatMap(columnsOf))]
  return {
    smallColumns,
    messageColumns: large.length ? [...new Set(['messages', ...large.flatMap(columnsOf)])] : [],
    filterSmall(batch) {
      const rows: number[] = []
      if (small.length === 0) {
        for (let i = 0; i < batch.numRows; i++) rows.push(i)
        return rows
      }
      const view = rowView(batch)
      for (let i = 0; i < batch.numRows; i++) if (smallTest(view.at(i))) rows.push(i)
      return rows
    },
    filterMessages(batch, rows) {
      if (large.length === 0) return rows
      const view = rowView(batch)
      return rows.filter((i) => largeTest(view.at(i)))
    },
    canSkip(stats) {
      return small.some((term) => provablyEmpty(term, stats))
    },
  }
}

function conjuncts(expr: Expr): Expr[] {
  if (expr.kind === 'and') return [...conjuncts(expr.left), ...conjuncts(expr.right)]
  return expr.kind === 'true' ? [] : [expr]
}

function needsMessages(expr: Expr): boolean {
  switch (expr.kind) {
    case 'and': case 'or': return needsMessages(expr.left) || needsMessages(expr.right)
    case 'not': return needsMessages(expr.expr)
    case 'uses_tool': case 'ends_with_finish': return true
    case 'id_set': case 'true': return false
    default: return messageFields.has(expr.field)
  }
}

/** Physical columns an expression reads. */
function columnsOf(expr: Expr): string[] {
  switch (expr.kind) {
    case 'and': case 'or': return [...columnsOf(expr.left), ...columnsOf(expr.right)]
    case 'not': return columnsOf(expr.expr)
    case 'uses_tool': case 'ends_with_finish': return ['messages']
    case 'id_set': return ['trajectory_id']
    case 'true': return []
    default: return messageFields.has(expr.field) ? ['messages'] : derivedFrom[expr.field] ?? [expr.field]
  }
}

interface Row {
  get(field: string): Literal
  summary(): TrajectorySummary | undefined
}

const textDecoder = new TextDecoder()

/** Lazy access to the fields of one row of a batch (decoding bytes, deriving task/run/repo, parsing messages). */
function rowView(batch: Batch) {
  let index = 0
  let summary: TrajectorySummary | undefined | null = null
  const text = (name: string): string | null => {
    const value = batch.columns[name]?.[index]
    if (value === null || value === undefined) return null
    return value instanceof Uint8Array ? textDecoder.decode(value) : String(value)
  }
  const row: Row = {
    get(field) {
      switch (field) {
        case 'reward': {
          const value = batch.columns.reward?.[index]
          return value === null || value === undefined ? null : Number(value)
        }
        case 'task': { const id = text('trajectory_id'); return id === null ? null : taskOf(id) }
        case 'run': { const id = text('trajectory_id'); return id === null ? null : runOf(id) ?? null }
        case 'repo': { const id = text('trajectory_id'); return id === null ? null : repoOf(id, text('image') ?? undefined) ?? null }
        case 'turns': return row.summary()?.assistantTurns ?? null
        case 'messages_count': return row.summary()?.messages ?? null
        case 'tool_calls': {
          const calls = row.summary()?.toolCalls
          return calls ? Object.values(calls).reduce((a, b) => a + b, 0) : null
        }
        default: return text(field)
      }
    },
    summary() {
      if (summary === null) {
        const messages = text('messages')
        try {
          summary = messages === null ? undefined : summarizeMessages(messages)
        } catch {
          summary = undefined // unparseable messages match no message predicate
        }
      }
      return summary
    },
  }
  return {
    at(i: number): Row {
      index = i
      summary = null
      return row
    },
  }
}

type Test = (row: Row) => boolean

function compile(terms: Expr[]): Test {
  const tests = terms.map(compileExpr)
  return (row) => tests.every((test) => test(row))
}

function compileExpr(expr: Expr): Test {
  switch (expr.kind) {
    case 'true': return () => true
    case 'and': { const a = compileExpr(expr.left); const b = compileExpr(expr.right); return (row) => a(row) && b(row) }
    case 'or': { const a = compileExpr(expr.left); const b = compileExpr(expr.right); return (row) => a(row) || b(row) }
    case 'not': { const a = compileExpr(expr.expr); return (row) => !a(row) }
    case 'null': return (row) => row.get(expr.field) === null
    case 'compare': {
      const { field, op, value } = expr
      return (row) => {
        const actual = row.get(field)
        if (actual === null || value === null) return false
        return compareValues(actual, op, value)
      }
    }
    case 'in': {
      const values = new Set(expr.values)
      return (row) => {
        const actual = row.get(expr.field)
        return actual !== null && values.has(actual)
      }
    }
    case 'between': return (row) => {
      const actual = row.get(expr.field)
      return actual !== null && expr.low !== null && expr.high !== null && actual >= expr.low && actual <= expr.high
    }
    case 'like': {
      const pattern = likeToRegExp(expr.pattern)
      return (row) => {
        const actual = row.get(expr.field)
        return actual !== null && pattern.test(String(actual))
      }
    }
    case 'regex': return (row) => {
      const actual = row.get(expr.field)
      return actual !== null && expr.pattern.test(String(actual))
    }
    case 'id_set': return (row) => expr.ids.has(String(row.get('trajectory_id')))
    case 'uses_tool': return (row) => (row.summary()?.toolCalls[expr.tool] ?? 0) > 0
    case 'ends_with_finish': return (row) => row.summary()?.endsWithFinish ?? false
  }
}

function compareValues(actual: NonNullable<Literal>, op: string, value: NonNullable<Literal>): boolean {
  switch (op) {
    case '=': return actual === value
    case '!=': return actual !== value
    case '<': return actual < value
    case '<=': return actual <= value
    case '>': return actual > value
    default: return actual >= value
  }
}

/** SQL LIKE: `%` any run, `_` one character, the rest literal, whole value. */
export function likeToRegExp(pattern: string): RegExp {
  const body = [...pattern].map((c) => (c === '%' ? '.*' : c === '_' ? '.' : c.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))).join('')
  return new RegExp(`^${body}$`, 's')
}

/** Can the statistics prove that no row satisfies `expr`? Conservative: unknown means no. */
function provablyEmpty(expr: Expr, stats: RowGroupStats): boolean {
  if (expr.kind !== 'compare' && expr.kind !== 'in' && expr.kind !== 'between') return false
  const range = stats[expr.field]
  if (!range) return false
  const min = normalize(range.min)
  const max = normalize(range.max)
  if (min === undefined || max === undefined) return false
  // string statistics may be truncated: the stored max is then a prefix of the true max
  const above = (v: Literal) => (typeof v === 'string' && typeof max === 'string' ? v > max && !v.startsWith(max) : v !== null && v > max)
  const below = (v: Literal) => v !== null && v < min
  if (expr.kind === 'in') return expr.values.every((v) => v === null || above(v) || below(v))
  if (expr.kind === 'between') return expr.low === null || expr.high === null || above(expr.low) || below(expr.high)
  const { op, value } = expr
  if (value === null || typeof value !== typeof min) return false
  switch (op) {
    case '=': return above(value) || below(value)
    case '<': return min >= value
    case '<=': return min > value
    case '>': return typeof max === 'number' && typeof value === 'number' && max <= value
    case '>=': return typeof max === 'number' && typeof value === 'number' && max < value
    default: return min === max && min === value && typeof min === 'number'
  }
}

function normalize(value: unknown): string | number | undefined {
  if (typeof value === 'number' || typeof value === 'string') return value
  if (typeof value === 'bigint') return Number(value)
  return undefined
}
