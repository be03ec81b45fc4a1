import { readFileSync } from 'node:fs'
import { UsageError } from '../errors.js'
import { OptionValueError, parseCount, parseRanges, splitList } from '../values.js'
import { and, parseWhere, type CompareOp, type Expr } from './parse.js'

/** Predicate options as the CLI takes them (strings, as typed); each becomes a term of one `and`. */
export interface PredicateFlags {
  /** `1`, or a comparison: `>=1`, `<0`, `!=0`. */
  reward?: string
  /** Comma-separated finish reasons, any of which matches. */
  finishReason?: string
  /** Comma-separated SPDX licenses, any of which matches. */
  license?: string
  /** Text the image contains, or a whole-value glob when it has `*` or `?`. */
  image?: string
  /** Text the task's `owner/repo` contains, or a glob (case-insensitive: repo is lowercase). */
  sourceRepo?: string
  /** An exact trajectory_id, a glob (`*`, `?`), or `@FILE` with one id per line. */
  id?: string
  /** Runs: `2`, `1,3`, `1-4`. */
  run?: string
  minTurns?: string
  maxTurns?: string
  /** Tool names (repeatable or comma-separated); every one must be called. */
  usesTool?: string[]
  endsWithFinish?: boolean
  /** An expression of the `--where` language. */
  where?: string
}

/**
 * Build the expression the flags describe — the same AST `--where` parses to, so there is one
 * evaluation (and one pruning) path. Terms on small columns come first: evaluation stops at the
 * first false term, so rows they rule out never have their messages parsed.
 */
export function predicateFromFlags(flags: PredicateFlags): Expr {
  const terms: Expr[] = []
  if (flags.reward !== undefined) terms.push(rewardTerm(flags.reward))
  if (flags.finishReason !== undefined) terms.push(oneOf('finish_reason', flags.finishReason, '--finish-reason'))
  if (flags.license !== undefined) terms.push(oneOf('license', flags.license, '--license'))
  if (flags.image !== undefined) terms.push(patternTerm('image', nonEmpty(flags.image, '--image')))
  if (flags.sourceRepo !== undefined) terms.push(patternTerm('repo', nonEmpty(flags.sourceRepo, '--source-repo').toLowerCase()))
  if (flags.id !== undefined) terms.push(idTerm(nonEmpty(flags.id, '--id')))
  if (flags.run !== undefined) terms.push(runTerm(flags.run))
  if (flags.minTurns !== undefined) terms.push({ kind: 'compare', op: '>=', field: 'turns', value: parseCount(flags.minTurns, '--min-turns') })
  if (flags.maxTurns !== undefined) terms.push({ kind: 'compare', op: '<=', field: 'turns', value: parseCount(flags.maxTurns, '--max-turns') })
  const tools = (flags.usesTool ?? []).flatMap(splitList)
  if (flags.usesTool?.length && tools.length === 0) throw new OptionValueError('--uses-tool', flags.usesTool.join(','), 'give a tool name such as think')
  for (const tool of tools) terms.push({ kind: 'uses_tool', tool })
  if (flags.endsWithFinish) terms.push({ kind: 'ends_with_finish' })
  if (flags.where !== undefined) terms.push(parseWhere(nonEmpty(flags.where, '--where')))
  return and(terms)
}

function nonEmpty(text: string, flag: string): string {
  if (text.trim() === '') throw new OptionValueError(flag, text, 'give a value (leave the option out to select everything)')
  return text
}

function rewardTerm(text: string): Expr {
  const match = /^\s*(==|=|!=|<>|<=|>=|<|>)?\s*(-?(?:\d+(?:\.\d*)?|\.\d+))\s*$/.exec(text)
  if (!match) throw new UsageError(`invalid --reward '${text}': use a value (1) or a comparison (>=1, <0, !=0)`)
  const op = ({ '==': '=', '<>': '!=' } as Record<string, CompareOp>)[match[1] ?? ''] ?? (match[1] as CompareOp | undefined) ?? '='
  return { kind: 'compare', op, field: 'reward', value: Number(match[2]) }
}

function oneOf(field: string, text: string, flag: string): Expr {
  const values = splitList(text)
  if (values.length === 0) throw new UsageError(`${flag} takes one or more comma-separated values, got '${text}'`)
  return { kind: 'in', field, values }
}

/** A glob when the pattern has `*` or `?`, else a substring match. */
function patternTerm(field: string, pattern: string): Expr {
  return { kind: 'glob', field, pattern: /[*?]/.test(pattern) ? pattern : `*${pattern}*` }
}

function idTerm(value: string): Expr {
  if (value.startsWith('@')) {
    const path = value.slice(1)
    let text: string
    try {
      text = readFileSync(path, 'utf8')
    } catch {
      throw new UsageError(`cannot read the id file ${path} (--id @FILE takes a file with one trajectory_id per line)`)
    }
    const ids = [...new Set(text.split(/\r?\n/).map((line) => line.trim()).filter(Boolean))]
    if (ids.length === 0) throw new UsageError(`the id file ${path} lists no trajectory_id (one per line)`)
    return { kind: 'in', field: 'trajectory_id', values: ids }
  }
  return /[*?]/.test(value)
    ? { kind: 'glob', field: 'trajectory_id', pattern: value }
    : { kind: 'compare', op: '=', field: 'trajectory_id', value }
}

function runTerm(text: string): Expr {
  const ranges = parseRanges(text, '--run')
  const singles = ranges.filter((range) => range.start === range.end).map((range) => range.start)
  const terms: Expr[] = ranges.filter((range) => range.start !== range.end).map(({ start, end }) => ({ kind: 'between', field: 'run', low: start, high: end }))
  if (singles.length) terms.unshift({ kind: 'in', field: 'run', values: singles })
  return terms.reduce((left, right) => ({ kind: 'or', left, right }))
}
