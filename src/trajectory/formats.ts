import { parseMessages, type Turn } from './messages.js'

/** Training formats `export --to` writes. */
export type TrainingFormat = 'openai' | 'sharegpt'

/** Why a trajectory was rejected by the validator. */
export type Rejection = 'unparseable_messages' | 'unparseable_tools' | 'orphan_tool_result' | 'empty_assistant_turn' | 'no_assistant_turn'

/** A converted record, or the reason it could not be. */
export type Conversion = { record: Record<string, unknown> } | { rejected: Rejection }

/**
 * Convert one trajectory row to a training record, after validating it: messages and tools must
 * parse, every tool result must answer an earlier call id, no assistant turn may be empty.
 *
 * - `openai`: TRL's conversational format with tools — `messages` where assistant `tool_calls` carry
 *   `arguments` as JSON strings (as the OpenAI API does), plus `tools`.
 * - `sharegpt`: `conversations` of `{from, value}` (system / human / gpt / tool); gpt turns end with
 *   Hermes-style `<tool_call>{"name", "arguments"}</tool_call>` blocks, tool results are wrapped in
 *   `<tool_response>`; `tools` as a JSON string.
 */
export function convertTrajectory(messagesJson: string, toolsJson: string | null, format: TrainingFormat, id?: string): Conversion {
  let turns: Turn[]
  try {
    turns = parseMessages(messagesJson)
  } catch {
    return { rejected: 'unparseable_messages' }
  }
  let tools: unknown[] = []
  if (toolsJson) {
    try {
      const parsed: unknown = JSON.parse(toolsJson)
      if (!Array.isArray(parsed)) return { rejected: 'unparseable_tools' }
      tools = parsed
    } catch {
      return { rejected: 'unparseable_tools' }
    }
  }
  const problem = validate(turns)
  if (problem) return { rejected: problem }
  const idField = id === undefined ? {} : { id }
  if (format === 'openai') return { record: { ...idField, messages: turns.map(openaiMessage), tools } }
  return { record: { ...idField, conversations: turns.map(sharegptTurn), tools: JSON.stringify(tools) } }
}

function validate(turns: Turn[]): Rejection | undefined {
  const calls = new Set<string>()
  let assistants = 0
  for (const turn of turns) {
    if (turn.role === 'assistant') {
      assistants++
      if (!turn.content.trim() && turn.toolCalls.length === 0) return 'empty_assistant_turn'
      for (const call of turn.toolCalls) if (call.id) calls.add(call.id)
    } else if (turn.role === 'tool') {
      if (!turn.toolCallId || !calls.has(turn.toolCallId)) return 'orphan_tool_result'
    }
  }
  return assistants === 0 ? 'no_assistant_turn' : undefined
}

function openaiMessage(turn: Turn): Record<string, unknown> {
  if (turn.role === 'tool') return { role: 'tool', tool_call_id: turn.toolCallId, name: turn.name, content: turn.content }
  const message: Record<string, unknown> = { role: turn.role, content: turn.content }
  if (turn.toolCalls.length) {
    message.tool_calls = turn.toolCalls.map((call) => ({
      id: call.id,
      type: 'function',
      function: { name: call.name, arguments: typeof call.arguments === 'string' ? call.arguments : JSON.stringify(call.arguments) },
    }))
  }
  return message
}

const sharegptRoles: Record<string, string> = { system: 'system', user: 'human', assistant: 'gpt', tool: 'tool' }

function sharegptTurn(turn: Turn): { from: string, value: string } {
  if (turn.role === 'tool') return { from: 'tool', value: `<tool_response>\n${turn.content}\n</tool_response>` }
  const calls = turn.toolCalls.map((call) => `<tool_call>\n${JSON.stringify({ name: call.name, arguments: call.arguments })}\n</tool_call>`)
  return { from: sharegptRoles[turn.role] ?? turn.role, value: [turn.content, ...calls].filter(Boolean).join('\n') }
}
