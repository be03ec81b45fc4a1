/**
 * A trajectory's `messages` (a JSON string of OpenAI-style chat messages, as OpenHands logs them)
 * read into typed turns. Tolerant: missing keys, null content, tool-call arguments given as an
 * object (CoderForge) or as a JSON string (most other dumps) are all accepted.
 */

import { scanTurnFacts } from './scanTurns.js'

/** One tool call of an assistant turn. */
export interface ToolCall {
  id: string | undefined
  name: string
  /** Parsed arguments; a string that is not JSON stays a string. */
  arguments: Record<string, unknown> | string
}

/** One message. */
export interface Turn {
  role: string
  content: string
  /** Tool calls (assistant turns). */
  toolCalls: ToolCall[]
  /** The call this message answers (tool turns). */
  toolCallId: string | undefined
  /** The tool that produced this message (tool turns). */
  name: string | undefined
  /** Hidden reasoning some dumps carry beside the content (`reasoning_content`); CoderForge has none. */
  reasoning?: string
}

/** Parse a `messages` JSON string; throws a SyntaxError for text that is not a JSON array. */
export function parseMessages(json: string): Turn[] {
  const value: unknown = JSON.parse(json)
  if (!Array.isArray(value)) throw new SyntaxError('messages is not a JSON array')
  return value.map(toTurn)
}

function toTurn(value: unknown): Turn {
  const message = (value && typeof value === 'object' ? value : {}) as Record<string, unknown>
  const calls = Array.isArray(message.tool_calls) ? message.tool_calls : []
  return {
    role: typeof message.role === 'string' ? message.role : 'unknown',
    content: contentText(message.content),
    toolCalls: calls.map((call: unknown) => {
      const record = (call && typeof call === 'object' ? call : {}) as Record<string, unknown>
      const fn = (record.function && typeof record.function === 'object' ? record.function : {}) as Record<string, unknown>
      return {
        id: typeof record.id === 'string' ? record.id : undefined,
        name: typeof fn.name === 'string' ? fn.name : 'unknown',
        arguments: parseArguments(fn.arguments),
      }
    }),
    toolCallId: typeof message.tool_call_id === 'string' ? message.tool_call_id : undefined,
    name: typeof message.name === 'string' ? message.name : undefined,
    ...(typeof message.reasoning_content === 'string' && message.reasoning_content ? { reasoning: message.reasoning_content } : {}),
  }
}

function contentText(content: unknown): string {
  if (typeof content === 'string') return content
  if (Array.isArray(content)) {
    // multimodal form: [{type: 'text', text}, …]
    return content.map((part) => (part && typeof part === 'object' && typeof (part as { text?: unknown }).text === 'string' ? (part as { text: string }).text : '')).join('')
  }
  return ''
}

function parseArguments(args: unknown): Record<string, unknown> | string {
  if (args && typeof args === 'object' && !Array.isArray(args)) return args as Record<string, unknown>
  if (typeof args === 'string') {
    try {
      const parsed: unknown = JSON.parse(args)
      if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) return parsed as Record<string, unknown>
    } catch {
      // not JSON: keep the text
    }
    return args
  }
  return {}
}

/** What a trajectory amounts to, for statistics and filters. */
export interface TrajectorySummary {
  messages: number
  assistantTurns: number
  /** Calls per tool name. */
  toolCalls: Record<string, number>
  /** The last assistant turn calls `finish`. */
  endsWithFinish: boolean
  /** Characters of content per role. */
  charsByRole: Record<string, number>
}

/** What a summary needs of a turn: its role, its content's length and its tool calls' names. */
export interface TurnFacts {
  role: string
  /** UTF-16 code units, as `content.length` counts them. */
  contentLength: number
  toolCallNames: string[]
}

/** Summarise parsed turns. */
export function summarize(turns: Turn[]): TrajectorySummary {
  return summarizeFacts(turns.map((turn) => ({ role: turn.role, contentLength: turn.content.length, toolCallNames: turn.toolCalls.map((call) => call.name) })))
}

/** Summarise turns given by their facts (parsed, or scanned from bytes by scanTurns.ts). */
export function summarizeFacts(turns: TurnFacts[]): TrajectorySummary {
  const toolCalls: Record<string, number> = {}
  const charsByRole: Record<string, number> = {}
  let assistantTurns = 0
  let lastAssistant: TurnFacts | undefined
  for (const turn of turns) {
    charsByRole[turn.role] = (charsByRole[turn.role] ?? 0) + turn.contentLength
    if (turn.role === 'assistant') {
      assistantTurns++
      lastAssistant = turn
    }
    for (const name of turn.toolCallNames) toolCalls[name] = (toolCalls[name] ?? 0) + 1
  }
  return {
    messages: turns.length,
    assistantTurns,
    toolCalls,
    endsWithFinish: lastAssistant?.toolCallNames.includes('finish') ?? false,
    charsByRole,
  }
}

/** Parse and summarise a `messages` JSON string in one step. */
export function summarizeMessages(json: string): TrajectorySummary {
  return summarize(parseMessages(json))
}

const utf8 = new TextDecoder()

/**
 * The summary of a `messages` cell (text or UTF-8 bytes): undefined for a null cell, null for text that
 * is not JSON (one such row must not end a whole split's statistics; filter and export skip it too).
 */
export function summarizeCell(cell: unknown): TrajectorySummary | null | undefined {
  if (cell === null || cell === undefined) return undefined
  // most cells: facts scanned from the bytes, with no text or JSON built (see scanTurns.ts)
  const scanned = cell instanceof Uint8Array ? scanTurnFacts(cell) : undefined
  if (scanned) return summarizeFacts(scanned)
  try {
    return summarizeMessages(cell instanceof Uint8Array ? utf8.decode(cell) : String(cell))
  } catch (error) {
    if (error instanceof SyntaxError) return null
    throw error
  }
}

/** trajectory_id without its `_runN` suffix (and an `_incomplete_YYYYMMDD_HHMMSS` marker before it): the task. */
export function taskOf(id: string): string {
  return id.replace(/(_incomplete_\d{8}_\d{6})?_run\d+$/, '')
}

/** The N of a trajectory_id's `_runN` suffix. */
export function runOf(id: string): number | undefined {
  const match = /_run(\d+)$/.exec(id)
  return match ? Number(match[1]) : undefined
}

/**
 * The GitHub `owner/repo` of a trajectory, best effort: from the image for SWE-Rebench and SWE-smith
 * (`…x86_64.{owner}_1776_{repo}[-pr|.sha]`), from the id for R2E-Gym (`qingyangwu_{repo}_final_…`,
 * owner unknown), else from the id's `{owner}__{repo}` prefix.
 */
export function repoOf(id: string, image?: string): string | undefined {
  const fromImage = image && /x86_64\.([^_/]+)_1776_([^.:/]+?)(?:-\d+)?(?:\.[0-9a-f]{8})?$/.exec(image)
  if (fromImage) return `${fromImage[1]}/${fromImage[2]}`.toLowerCase()
  const r2e = /^qingyangwu_(.+?)_final_[0-9a-f]{40}/.exec(id)
  if (r2e) return r2e[1]!.toLowerCase()
  const prefix = /^([^_]+)__(.+?)(?:-\d+|_[0-9a-f]{8}_.*)?(?:_incomplete_\d{8}_\d{6})?_run\d+$/.exec(id)
  return prefix ? `${prefix[1]}/${prefix[2]}`.toLowerCase() : undefined
}
