import { parseTrajectory, renderTurns, trainingRecord, type ArgumentsStyle, type ChatMessage, type Rejection, type TrainingFormat } from '../trajectory/formats.js'
import { fitBudget, type OverBudget } from './budget.js'
import { replaceLoneSurrogates } from './surrogates.js'
import { failureReason, type ChatTemplate } from './template.js'
import { applyThink, type ThinkPolicy } from './think.js'
import { addToHistogram, type TokenCounter } from './tokens.js'
import { normalizeTurns } from './turns.js'

/** How each trajectory becomes a training example. */
export interface ConvertOptions {
  format: TrainingFormat
  arguments: ArgumentsStyle
  think: ThinkPolicy
  maxTokens?: number
  overBudget: OverBudget
  /** Counts tokens (for `maxTokens` and the histogram). */
  tokenizer?: TokenCounter
  /** Renders each example; its text is written as `text` and is what tokens are counted on. */
  template?: ChatTemplate
}

/** Rows in and out of the conversion steps, and what each changed. */
export interface ConversionStats {
  rows: number
  written: number
  rejected: Partial<Record<Rejection, number>>
  thinkCalls: number
  thinkInlined: number
  mergedTurns: number
  droppedEmptyTurns: number
  overBudgetDropped: number
  overBudgetTruncated: number
  /** Template failures by reason. */
  templateFailed: Record<string, number>
  surrogatesReplaced: number
  /** Tokens per trajectory before the budget, by bucket (see tokens.ts). */
  tokenHistogram: Record<string, number>
  tokens: number
}

/** Stats with every count at zero. */
export function emptyStats(): ConversionStats {
  return {
    rows: 0, written: 0, rejected: {}, thinkCalls: 0, thinkInlined: 0, mergedTurns: 0, droppedEmptyTurns: 0,
    overBudgetDropped: 0, overBudgetTruncated: 0, templateFailed: {}, surrogatesReplaced: 0, tokenHistogram: {}, tokens: 0,
  }
}

/** Add `from` into `into` (counts and keyed counts alike). */
export function addStats(into: ConversionStats, from: ConversionStats): void {
  for (const key of Object.keys(from) as (keyof ConversionStats)[]) {
    const value = from[key]
    if (typeof value === 'number') (into[key] as number) += value
    else {
      const target = into[key] as Record<string, number>
      for (const [name, n] of Object.entries(value)) target[name] = (target[name] ?? 0) + (n ?? 0)
    }
  }
}

/**
 * One trajectory row through the conversion steps: validate (parseTrajectory) → think policy →
 * render in the format → merge same-role / drop empty turns → chat template → token budget →
 * lone surrogates to U+FFFD. Returns the record, or undefined when a step rejects the row (counted in `stats`).
 */
export function convertRow(messagesJson: string | null, toolsJson: string | null, id: string | undefined, options: ConvertOptions, stats: ConversionStats): Record<string, unknown> | undefined {
  stats.rows++
  const trajectory = messagesJson === null ? { rejected: 'unparseable_messages' as const } : parseTrajectory(messagesJson, toolsJson)
  if ('rejected' in trajectory) {
    stats.rejected[trajectory.rejected] = (stats.rejected[trajectory.rejected] ?? 0) + 1
    return undefined
  }
  const think = { thinkCalls: 0, inlined: 0 }
  const turns = applyThink(trajectory.turns, options.think, think)
  stats.thinkCalls += think.thinkCalls
  stats.thinkInlined += think.inlined
  const counts = { merged: 0, droppedEmpty: 0 }
  let messages = normalizeTurns(renderTurns(turns, options.format, options.arguments), counts)
  stats.mergedTurns += counts.merged
  stats.droppedEmptyTurns += counts.droppedEmpty
  const { tools } = trajectory

  let text: string | undefined
  if (options.template) {
    try {
      text = options.template.render(messages, tools)
    } catch (error) {
      const reason = failureReason(error)
      stats.templateFailed[reason] = (stats.templateFailed[reason] ?? 0) + 1
      return undefined
    }
  }
  const { tokenizer } = options
  if (tokenizer) {
    const measure = measurer(messages, tools, tokenizer, options.template, text)
    const fitted = fitBudget(messages, measure, options.maxTokens, options.overBudget)
    addToHistogram(stats.tokenHistogram, fitted.tokens)
    if (fitted.outcome === 'dropped') {
      stats.overBudgetDropped++
      return undefined
    }
    if (fitted.outcome === 'truncated') {
      stats.overBudgetTruncated++
      messages = fitted.messages
      if (options.template) text = options.template.render(messages, tools)
    }
    stats.tokens += fitted.outcome === 'truncated' ? measure(messages.length) : fitted.tokens
  }
  const record = trainingRecord(messages, tools, options.format, id)
  if (text !== undefined) record.text = text
  const surrogates = { replaced: 0 }
  const clean = replaceLoneSurrogates(record, surrogates)
  stats.surrogatesReplaced += surrogates.replaced
  stats.written++
  return clean
}

/**
 * Tokens of `messages[0:end]`: of the template's rendering when there is a template, else the sum
 * over messages of their text plus their tool calls as JSON (each message counted once).
 */
function measurer(messages: ChatMessage[], tools: unknown[], tokenizer: TokenCounter, template: ChatTemplate | undefined, fullText: string | undefined): (end: number) => number {
  if (template) {
    return (end) => tokenizer.count(end === messages.length && fullText !== undefined ? fullText : template.render(messages.slice(0, end), tools))
  }
  const prefix = [0]
  for (const message of messages) {
    const calls = message.tool_calls?.length ? JSON.stringify(message.tool_calls) : ''
    prefix.push(prefix[prefix.length - 1]! + tokenizer.count(message.content) + tokenizer.count(calls))
  }
  return (end) => prefix[end]!
}
