import type { Turn } from '../trajectory/messages.js'

/** What to do with reasoning: keep it as it is, drop it, or inline it as `<think>…</think>`. */
export type ThinkPolicy = 'keep' | 'drop' | 'inline'

/** What a think policy changed. */
export interface ThinkCounts {
  /** `think` tool calls removed (with their results). */
  thinkCalls: number
  /** Assistant turns that got a `<think>` block. */
  inlined: number
}

const wireTokens = /<\/?think>|<\/?tool_call>|<\/?tool_response>|<\|im_(start|end)\|>|<\|endoftext\|>/g

/**
 * Apply a think policy to parsed turns. CoderForge has no `<think>` blocks: its reasoning is the
 * `think` tool's `thought` and the assistant's text (shared/sft-recipes.md §0).
 * - `keep`: unchanged.
 * - `drop`: `think` calls and their tool results are removed, as is any `reasoning_content`; the
 *   assistant's text stays.
 * - `inline` (laion's v6 think-first render, §1.6): each assistant turn starts with
 *   `<think>\n{reasoning}\n</think>\n\n`, where the reasoning is the turn's `think` thoughts (those
 *   calls and their results are removed), else its `reasoning_content`, else its text (which then
 *   moves into the block); wire tokens (`<think>`, `<tool_call>`, `<|im_start|>`…) are stripped
 *   from the reasoning.
 */
export function applyThink(turns: Turn[], policy: ThinkPolicy, counts: ThinkCounts): Turn[] {
  if (policy === 'keep') return turns
  const removed = new Set<string>()
  const out: Turn[] = []
  for (const turn of turns) {
    if (turn.role === 'tool') {
      if (!(turn.toolCallId && removed.has(turn.toolCallId))) out.push(turn)
      continue
    }
    if (turn.role !== 'assistant') {
      out.push(turn)
      continue
    }
    const thoughts: string[] = []
    const toolCalls = turn.toolCalls.filter((call) => {
      if (call.name !== 'think') return true
      counts.thinkCalls++
      if (call.id) removed.add(call.id)
      const thought = typeof call.arguments === 'string' ? call.arguments : call.arguments.thought
      if (typeof thought === 'string' && thought.trim()) thoughts.push(thought)
      return false
    })
    const { reasoning: _dropped, ...rest } = turn
    if (policy === 'drop') {
      out.push({ ...rest, toolCalls })
      continue
    }
    let content = turn.content
    let reasoning = thoughts.join('\n\n') || turn.reasoning || ''
    if (!reasoning) {
      reasoning = content
      content = ''
    }
    counts.inlined++
    const block = `<think>\n${reasoning.replace(wireTokens, '').trim()}\n</think>\n\n`
    out.push({ ...rest, toolCalls, content: block + content.trimStart() })
  }
  return out
}
