import { parseMessages, type ToolCall, type Turn } from './messages.js'

/** Training formats `export --to` writes. */
export type TrainingFormat = 'openai' | 'sharegpt' | 'hermes' | 'xml'

/** Every training format, for validation and help. */
export const trainingFormats: readonly TrainingFormat[] = ['openai', 'sharegpt', 'hermes', 'xml']

/** How `openai` writes tool-call arguments: a JSON object (Qwen3 templates need it) or a JSON string (the OpenAI API's way). */
export type ArgumentsStyle = 'object' | 'string'

/** Why a trajectory was rejected by the validator. */
export type Rejection = 'unparseable_messages' | 'unparseable_tools' | 'orphan_tool_result' | 'empty_assistant_turn' | 'no_assistant_turn'

/** A converted record, or the reason it could not be. */
export type Conversion = { record: Record<string, unknown> } | { rejected: Rejection }

/** A trajectory read and validated: its turns and tool schemas. */
export interface Trajectory {
  turns: Turn[]
  tools: unknown[]
}

/**
 * One message of a rendered conversation. `role` is system / user / assistant / tool; structured
 * tool fields only in the `openai` rendering.
 */
export interface ChatMessage {
  role: string
  content: string
  tool_calls?: { id: string | undefined, type: 'function', function: { name: string, arguments: Record<string, unknown> | string } }[]
  tool_call_id?: string | undefined
  name?: string | undefined
}

/**
 * Parse and validate a row: messages and tools must parse, every tool result must answer an
 * earlier call id, no assistant turn may be empty, and there must be one.
 */
export function parseTrajectory(messagesJson: string, toolsJson: string | null): Trajectory | { rejected: Rejection } {
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
  return problem ? { rejected: problem } : { turns, tools }
}

/**
 * Render turns as a format's messages:
 * - `openai`: structured `tool_calls` (arguments as `argumentsStyle`) and `tool` messages with
 *   `tool_call_id` and `name`;
 * - `sharegpt`, `hermes`: each call appended to the assistant text as Hermes
 *   `<tool_call>\n{"name", "arguments"}\n</tool_call>`, tool results wrapped in
 *   `<tool_response>\n…\n</tool_response>` — as `tool` turns for ShareGPT, as `user` turns for Hermes
 *   (which is how Qwen2.5/Qwen3 templates present them);
 * - `xml` (OpenHands / Qwen3-Coder, SWE-smith's "xml" style): each call appended as
 *   `<function=NAME>\n<parameter=K>V</parameter>\n…</function>` (values that are not strings as
 *   JSON; `old_str`, `new_str` and `file_text` between newlines, as SWE-smith writes them), tool
 *   results as `user` turns in `<tool_response>`.
 */
export function renderTurns(turns: Turn[], format: TrainingFormat, argumentsStyle: ArgumentsStyle = 'string'): ChatMessage[] {
  return turns.map((turn) => {
    if (format === 'openai') return openaiMessage(turn, argumentsStyle)
    if (turn.role === 'tool') return { role: format === 'sharegpt' ? 'tool' : 'user', content: `<tool_response>\n${turn.content}\n</tool_response>` }
    const calls = turn.toolCalls.map(format === 'xml' ? xmlCall : hermesCall)
    return { role: turn.role, content: [turn.content, ...calls].filter(Boolean).join(format === 'xml' ? '\n\n' : '\n') }
  })
}

/** The record a format writes: `messages` (+ `tools`), or ShareGPT's `conversations` of `{from, value}` (+ `tools` as a JSON string). */
export function trainingRecord(messages: ChatMessage[], tools: unknown[], format: TrainingFormat, id?: string): Record<string, unknown> {
  const idField = id === undefined ? {} : { id }
  if (format === 'sharegpt') return { ...idField, conversations: messages.map((m) => ({ from: sharegptRoles[m.role] ?? m.role, value: m.content })), tools: JSON.stringify(tools) }
  return { ...idField, messages, tools }
}

/**
 * Convert one trajectory row to a training record, after validating it (see {@link parseTrajectory})
 * — turn for turn, with `openai` arguments as JSON strings. `export` adds the SFT steps around this
 * (see src/sft/convert.ts).
 */
export function convertTrajectory(messagesJson: string, toolsJson: string | null, format: TrainingFormat, id?: string): Conversion {
  const trajectory = parseTrajectory(messagesJson, toolsJson)
  if ('rejected' in trajectory) return trajectory
  return { record: trainingRecord(renderTurns(trajectory.turns, format), trajectory.tools, format, id) }
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

function openaiMessage(turn: Turn, argumentsStyle: ArgumentsStyle): ChatMessage {
  if (turn.role === 'tool') return { role: 'tool', tool_call_id: turn.toolCallId, name: turn.name, content: turn.content }
  const message: ChatMessage = { role: turn.role, content: turn.content }
  if (turn.toolCalls.length) {
    message.tool_calls = turn.toolCalls.map((call) => ({
      id: call.id,
      type: 'function',
      function: { name: call.name, arguments: argumentsIn(call, argumentsStyle) },
    }))
  }
  return message
}

function argumentsIn(call: ToolCall, style: ArgumentsStyle): Record<string, unknown> | string {
  if (style === 'string') return typeof call.arguments === 'string' ? call.arguments : JSON.stringify(call.arguments)
  // a string that is not a JSON object stays under one key, so templates can still iterate it
  return typeof call.arguments === 'string' ? { arguments: call.arguments } : call.arguments
}

function hermesCall(call: ToolCall): string {
  return `<tool_call>\n${JSON.stringify({ name: call.name, arguments: call.arguments })}\n</tool_call>`
}

const blockParameters = new Set(['old_str', 'new_str', 'file_text'])

function xmlCall(call: ToolCall): string {
  const args = typeof call.arguments === 'string' ? { arguments: call.arguments } : call.arguments
  const parameters = Object.entries(args).map(([key, value]) => {
    const text = typeof value === 'string' ? value : JSON.stringify(value)
    return `<parameter=${key}>${blockParameters.has(key) ? `\n${text}\n` : text}</parameter>`
  })
  return [`<function=${call.name}>`, ...parameters, '</function>'].join('\n')
}

const sharegptRoles: Record<string, string> = { system: 'system', user: 'human', assistant: 'gpt', tool: 'tool' }
