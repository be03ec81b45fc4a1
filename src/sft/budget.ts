import type { ChatMessage } from '../trajectory/formats.js'

/** What to do with a trajectory over the token budget: drop it, or cut it at a turn boundary. */
export type OverBudget = 'drop' | 'truncate'

/** The outcome of {@link fitBudget}. */
export type Fitted =
  | { outcome: 'fits' | 'truncated', messages: ChatMessage[], tokens: number }
  | { outcome: 'dropped', tokens: number }

/**
 * Fit a conversation into `maxTokens`. `measure(end)` gives the tokens of `messages[0:end]` and must
 * grow with `end`. Over budget, `truncate` keeps the longest prefix that ends with an assistant
 * message and fits (found by binary search, so a template is rendered O(log n) times); when none
 * fits, or with `drop`, the trajectory is dropped. `tokens` is the full conversation's count, or
 * over budget any count above `maxTokens` (`measure` may stop counting there).
 */
export function fitBudget(messages: ChatMessage[], measure: (end: number) => number, maxTokens: number | undefined, policy: OverBudget): Fitted {
  const tokens = measure(messages.length)
  if (maxTokens === undefined || tokens <= maxTokens) return { outcome: 'fits', messages, tokens }
  if (policy === 'drop') return { outcome: 'dropped', tokens }
  const ends = messages.flatMap((message, i) => (message.role === 'assistant' && i + 1 < messages.length ? [i + 1] : []))
  let low = 0
  let high = ends.length - 1
  let best = -1
  while (low <= high) {
    const middle = (low + high) >> 1
    if (measure(ends[middle]!) <= maxTokens) {
      best = middle
      low = middle + 1
    } else {
      high = middle - 1
    }
  }
  return best === -1 ? { outcome: 'dropped', tokens } : { outcome: 'truncated', messages: messages.slice(0, ends[best]), tokens }
}
