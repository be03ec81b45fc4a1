import type { ChatMessage } from '../trajectory/formats.js'

/** What {@link normalizeTurns} changed. */
export interface TurnCounts {
  /** Messages folded into the one before them. */
  merged: number
  /** Messages removed for having no content and no tool calls. */
  droppedEmpty: number
}

/**
 * Drop empty messages (no text, no tool calls) and merge consecutive messages of the same role
 * (text joined by a newline, tool calls concatenated), as laion's CoderForge builder does
 * (shared/sft-recipes.md §1.6). Structured `tool` messages are never merged: each answers its own call.
 */
export function normalizeTurns(messages: ChatMessage[], counts: TurnCounts): ChatMessage[] {
  const out: ChatMessage[] = []
  for (const message of messages) {
    if (!message.content.trim() && !message.tool_calls?.length && message.role !== 'tool') {
      counts.droppedEmpty++
      continue
    }
    const last = out[out.length - 1]
    if (last && last.role === message.role && message.tool_call_id === undefined && last.tool_call_id === undefined) {
      counts.merged++
      const content = [last.content, message.content].filter(Boolean).join('\n')
      const calls = [...(last.tool_calls ?? []), ...(message.tool_calls ?? [])]
      out[out.length - 1] = { ...last, content, ...(calls.length ? { tool_calls: calls } : {}) }
      continue
    }
    out.push(message)
  }
  return out
}
