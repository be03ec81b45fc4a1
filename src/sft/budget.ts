import type { ChatMessage } from '../trajectory/formats.js'

/** What to do with a trajectory over the token budget: drop it, or cut it at a turn boundary. */
export type OverBudget = 'drop' | 'truncate'

/** The outcome of {@link fitBudget}: `tokens` of the whole conversation, `keptTokens` of what is kept. */
export type Fitted =
  | { outcome: 'fits' | 'truncated', messages: ChatMessage[], tokens: number, keptTokens: number }
  | { outcome: 'dropped', tokens: number }

/** A message's tool calls as the budget counts them without a template: their JSON ('' when none). */
export function toolCallsText(message: ChatMessage): string {
  return message.tool_calls?.length ? JSON.stringify(message.tool_calls) : ''
}

/** Tokens per character a first guess at the cut assumes (rendered code and tool output run about 2.3 characters a token). */
const guessTokensPerChar = 0.45

/**
 * Fit a conversation into `maxTokens`. `measure(end)` gives the tokens of `messages[0:end]` and must
 * grow with `end`. Over budget, `truncate` keeps the longest prefix that ends with an assistant
 * message and fits; when none fits, or with `drop`, the trajectory is dropped. `tokens` is the whole
 * conversation's count, or over budget any count above `maxTokens` (`measure` may stop counting there).
 *
 * Each measure renders and counts a prefix, so the cut is searched from a guess: the characters of
 * the messages before each cut at {@link guessTokensPerChar} tokens a character, then at the ratio
 * the first measure shows; from there an exponential, then a binary search find the last cut that
 * fits — two or three measures where a binary search over every turn takes log n. A conversation the
 * guess puts far over is not measured whole: a prefix over budget shows the whole is too.
 */
export function fitBudget(messages: ChatMessage[], measure: (end: number) => number, maxTokens: number | undefined, policy: OverBudget): Fitted {
  // characters before each message, for the guesses (only a budget needs them)
  const chars = [0]
  if (maxTokens !== undefined) for (const message of messages) chars.push(chars[chars.length - 1]! + message.content.length + toolCallsText(message).length)
  const farOver = maxTokens !== undefined && policy === 'truncate' && chars[messages.length]! * guessTokensPerChar > 2 * maxTokens
  let tokens = farOver ? undefined : measure(messages.length)
  if (tokens !== undefined && (maxTokens === undefined || tokens <= maxTokens)) return { outcome: 'fits', messages, tokens, keptTokens: tokens }
  if (policy === 'drop') return { outcome: 'dropped', tokens: tokens! }
  const budget = maxTokens!
  const ends = messages.flatMap((message, i) => (message.role === 'assistant' && i + 1 < messages.length ? [i + 1] : []))
  const measured = new Map<number, number>()
  const tokensAt = (k: number) => {
    let value = measured.get(k)
    if (value === undefined) measured.set(k, value = measure(ends[k]!))
    return value
  }
  const fits = (k: number) => tokensAt(k) <= budget
  /** The last cut whose characters, at `ratio` tokens a character, fit (the first when none does). */
  const guess = (ratio: number) => {
    let k = 0
    while (k + 1 < ends.length && chars[ends[k + 1]!]! * ratio <= budget) k++
    return k
  }
  // lo: the last cut known to fit (-1: none); hi: the first known not to (ends.length: none)
  let lo = -1
  let hi = ends.length
  if (ends.length > 0) {
    let start = guess(guessTokensPerChar)
    if (fits(start) && chars[ends[start]!]! > 0) start = Math.max(start, guess(tokensAt(start) / chars[ends[start]!]!))
    if (fits(start)) {
      lo = start
      for (let step = 1; lo + step < ends.length; step *= 2) {
        if (!fits(lo + step)) {
          hi = lo + step
          break
        }
        lo += step
      }
    } else {
      hi = start
      for (let step = 1; hi - step >= 0; step *= 2) {
        if (fits(hi - step)) {
          lo = hi - step
          break
        }
        hi -= step
      }
    }
    while (hi - lo > 1) {
      const middle = (lo + hi) >> 1
      if (fits(middle)) lo = middle
      else hi = middle
    }
  }
  // a cut over budget shows the whole is over; with every cut within it, the whole decides
  if (hi < ends.length) tokens ??= tokensAt(hi)
  else {
    tokens ??= measure(messages.length)
    if (tokens <= budget) return { outcome: 'fits', messages, tokens, keptTokens: tokens }
  }
  return lo === -1 ? { outcome: 'dropped', tokens } : { outcome: 'truncated', messages: messages.slice(0, ends[lo]), tokens, keptTokens: tokensAt(lo) }
}
