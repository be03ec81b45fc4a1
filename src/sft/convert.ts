import { encodeJsonlRecords, type EncodedRows } from '../sinks/jsonl.js'
import { cellAt, cellText, type Column } from '../parquet/intList.js'
import { parseTrajectory, renderTurns, trainingRecord, type ArgumentsStyle, type ChatMessage, type Rejection, type TrainingFormat } from '../trajectory/formats.js'
import { fitBudget, toolCallsText, type OverBudget } from './budget.js'
import { replaceLoneSurrogates } from './surrogates.js'
import { failureReason, loadChatTemplate, type ChatTemplate } from './template.js'
import { applyThink, type ThinkPolicy } from './think.js'
import { addToHistogram, loadTokenCounter, type TokenCounter } from './tokens.js'
import { normalizeTurns } from './turns.js'

/** How each trajectory becomes a training example, as plain data: a decoding thread loads the files it names. */
export interface ConvertSpec {
  format: TrainingFormat
  arguments: ArgumentsStyle
  think: ThinkPolicy
  maxTokens?: number
  overBudget: OverBudget
  /** Counts tokens (for `maxTokens` and the histogram): a tokenizer.json path, or `qwen3-coder`. */
  tokenizer?: string
  /** How the main thread found the tokenizer is to be counted, so that decoding threads need not check again. */
  tokenizerEngine?: TokenCounter['engine']
  /** A chat template file: each example's rendering is written as `text` and is what tokens are counted on. */
  chatTemplate?: string
}

/** A {@link ConvertSpec} with its tokenizer and chat template loaded. */
export interface Converter {
  spec: ConvertSpec
  counter?: TokenCounter
  template?: ChatTemplate
}

/** Converters loaded in this thread, by spec. */
const converters = new Map<string, Promise<Converter>>()

/**
 * Load the tokenizer and chat template a spec names, once per thread: the main thread loads them
 * to check them before anything runs, and each decoding thread for its own use.
 */
export function loadConverter(spec: ConvertSpec): Promise<Converter> {
  const key = JSON.stringify(spec)
  let converter = converters.get(key)
  if (!converter) {
    converter = (async () => {
      const counter = spec.tokenizer === undefined ? undefined : await loadTokenCounter(spec.tokenizer, { engine: spec.tokenizerEngine })
      const template = spec.chatTemplate === undefined ? undefined : await loadChatTemplate(spec.chatTemplate)
      const loaded = { spec: { ...spec, tokenizerEngine: counter?.engine }, counter, template }
      // decoding tasks on this thread name the spec as loaded
      converters.set(JSON.stringify(loaded.spec), Promise.resolve(loaded))
      return loaded
    })()
    converters.set(key, converter)
    // a failed load is reported to its caller, and tried again by the next
    converter.catch(() => converters.delete(key))
  }
  return converter
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

/** Training examples of some rows, as JSON lines keyed by trajectory_id, and what the steps did to the rows. */
export interface ConvertedRows {
  encoded: EncodedRows
  stats: ConversionStats
}

/**
 * Convert the given rows of decoded `trajectory_id` / `messages` / `tools` columns (strings or UTF-8
 * bytes) to training examples, encoded as JSON lines in row order; rows a step rejects are counted only.
 */
export function convertRows(columns: Record<string, Column>, rows: ArrayLike<number>, converter: Converter): ConvertedRows {
  const stats = emptyStats()
  const records: unknown[] = []
  const keys: string[] = []
  for (let k = 0; k < rows.length; k++) {
    const row = rows[k]!
    const id = cellText(cellAt(columns.trajectory_id, row)) ?? undefined
    const record = convertRow(cellText(cellAt(columns.messages, row)), cellText(cellAt(columns.tools, row)), id, converter, stats)
    if (!record) continue
    records.push(record)
    keys.push(id ?? '')
  }
  return { encoded: { ...encodeJsonlRecords(records), keys }, stats }
}

/**
 * One trajectory row through the conversion steps: validate (parseTrajectory) → think policy →
 * render in the format → merge same-role / drop empty turns → chat template → token budget →
 * lone surrogates to U+FFFD. Returns the record, or undefined when a step rejects the row (counted in `stats`).
 */
export function convertRow(messagesJson: string | null, toolsJson: string | null, id: string | undefined, converter: Converter, stats: ConversionStats): Record<string, unknown> | undefined {
  const { spec: options, counter, template } = converter
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

  // renderings by prefix length: the budget's measures and the written text share them
  const whole = messages
  const rendered = new Map<number, string>()
  const render = (end: number): string => {
    let text = rendered.get(end)
    if (text === undefined) {
      try {
        text = template!.render(end === whole.length ? whole : whole.slice(0, end), tools)
      } catch (error) {
        throw new TemplateFailure(failureReason(error))
      }
      rendered.set(end, text)
    }
    return text
  }
  let text: string | undefined
  try {
    if (counter) {
      const fitted = fitBudget(whole, measurer(whole, counter, template && render, options.maxTokens), options.maxTokens, options.overBudget)
      addToHistogram(stats.tokenHistogram, fitted.tokens, options.maxTokens)
      if (fitted.outcome === 'dropped') {
        stats.overBudgetDropped++
        return undefined
      }
      if (fitted.outcome === 'truncated') {
        stats.overBudgetTruncated++
        messages = fitted.messages
      }
      stats.tokens += fitted.keptTokens
    }
    if (template) text = render(messages.length)
  } catch (error) {
    if (!(error instanceof TemplateFailure)) throw error
    stats.templateFailed[error.reason] = (stats.templateFailed[error.reason] ?? 0) + 1
    return undefined
  }
  const record = trainingRecord(messages, tools, options.format, id)
  if (text !== undefined) record.text = text
  const surrogates = { replaced: 0 }
  const clean = replaceLoneSurrogates(record, surrogates)
  stats.surrogatesReplaced += surrogates.replaced
  stats.written++
  return clean
}

/** The chat template failed on a conversation (counted by reason, the row rejected). */
class TemplateFailure extends Error {
  constructor(readonly reason: string) {
    super(reason)
  }
}

/**
 * Tokens of `messages[0:end]`: of its rendering when there is a template, else the sum over messages
 * of their text plus their tool calls as JSON (each message counted once). Counting stops once it
 * passes `limit`: a result above it means only "over the budget", which is all the budget needs, and
 * spares counting the rest of a trajectory several times the budget's length.
 */
function measurer(messages: ChatMessage[], counter: TokenCounter, render: ((end: number) => string) | undefined, limit = Infinity): (end: number) => number {
  if (render) return (end) => counter.count(render(end), limit)
  // prefix sums, taken only as far as a measure asks and the limit allows
  const prefix = [0]
  return (end) => {
    while (prefix.length <= end && prefix[prefix.length - 1]! <= limit) {
      const message = messages[prefix.length - 1]!
      prefix.push(prefix[prefix.length - 1]! + counter.count(message.content) + counter.count(toolCallsText(message)))
    }
    return prefix[Math.min(end, prefix.length - 1)]!
  }
}
