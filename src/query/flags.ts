import { readFileSync } from 'node:fs'
import { UsageError } from '../errors.js'
import { and, parseWhere, type Expr } from './parse.js'

/** Predicate options as the CLI takes them; each becomes a term of one `and`. */
export interface PredicateFlags {
  reward?: string
  finishReason?: string
  license?: string
  image?: string
  /** owner/repo of the task (text or `*` glob). */
  sourceRepo?: string
  id?: string
  run?: string
  minTurns?: string
  maxTurns?: string
  usesTool?: string[]
  endsWithFinish?: boolean
  where?: string
}

/** Build the expression the flags describe (the same AST `--where` parses to). */
export function predicateFromFlags(flags: PredicateFlags): Expr {
  const terms: Expr[] = []
  if (flags.reward !== undefined) {
    const match = /^\s*(==|=|!=|<=|>=|<|>)?\s*(-?\d+(?:\.\d+)?)\s*$/.exec(flags.reward)
    if (!match) throw new UsageError(`invalid --reward '${flags.reward}': use a value (1) or a comparison (>=1, <0, !=0)`)
    const op = (match[1] === '==' || !match[1] ? '=' : match[1]) as '=' | '!=' | '<' | '<=' | '>' | '>='
    terms.push({ kind: 'compare', op, field: 'reward', value: Number(match[2]) })
  }
  if (flags.finishReason) terms.push({ kind: 'in', field: 'finish_reason', values: list(flags.finishReason) })
  if (flags.license) terms.push({ kind: 'in', field: 'license', values: list(flags.license) })
  if (flags.image) terms.push({ kind: 'like', field: 'image', pattern: globToLike(flags.image) })
  if (flags.sourceRepo) terms.push({ kind: 'like', field: 'repo', pattern: globToLike(flags.sourceRepo.toLowerCase()) })
  if (flags.id) terms.push(idPredicate(flags.id))
  if (flags.run) terms.push({ kind: 'in', field: 'run', values: list(flags.run).map((run) => integer(run, '--run')) })
  if (flags.minTurns) terms.push({ kind: 'compare', op: '>=', field: 'turns', value: integer(flags.minTurns, '--min-turns') })
  if (flags.maxTurns) terms.push({ kind: 'compare', op: '<=', field: 'turns', value: integer(flags.maxTurns, '--max-turns') })
  for (const tool of flags.usesTool ?? []) terms.push({ kind: 'uses_tool', tool })
  if (flags.endsWithFinish) terms.push({ kind: 'ends_with_finish' })
  if (flags.where) terms.push(parseWhere(flags.where))
  return and(terms)
}

/** `*` globs as LIKE patterns; a pattern without `*` matches as a substring. */
function globToLike(glob: string): string {
  const escaped = glob.replace(/%/g, '_')
  return glob.includes('*') ? escaped.replace(/\*/g, '%') : `%${escaped}%`
}

/** `--id` is an exact id, a `*` glob, or `@file` with one id per line. */
function idPredicate(value: string): Expr {
  if (value.startsWith('@')) {
    let text: string
    try {
      text = readFileSync(value.slice(1), 'utf8')
    } catch {
      throw new UsageError(`cannot read the id file ${value.slice(1)} (--id @FILE takes a file with one trajectory_id per line)`)
    }
    return { kind: 'id_set', ids: new Set(text.split(/\r?\n/).map((line) => line.trim()).filter(Boolean)) }
  }
  return value.includes('*')
    ? { kind: 'like', field: 'trajectory_id', pattern: globToLike(value) }
    : { kind: 'compare', op: '=', field: 'trajectory_id', value }
}

function list(text: string): string[] {
  return text.split(',').map((item) => item.trim()).filter(Boolean)
}

function integer(text: string, flag: string): number {
  const value = Number(text)
  if (!Number.isInteger(value) || value < 0) throw new UsageError(`${flag} takes a whole number, got '${text}'`)
  return value
}
