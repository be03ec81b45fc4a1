import type { ChalkInstance } from 'chalk'
import { parseMessages, summarize, type ToolCall, type Turn } from '../trajectory/messages.js'

/** Options for {@link renderTrajectory}. */
export interface TrajectoryViewOptions {
  color: ChalkInstance
  /** Show whole tool outputs and texts instead of a few lines. */
  full?: boolean
  /** Lines of tool output to show when not full (default 6). */
  outputLines?: number
}

/** Render one `trajectories` row for people: the task, then every turn. */
export function renderTrajectory(row: Record<string, unknown>, options: TrajectoryViewOptions): string {
  const c = options.color
  const lines: string[] = []
  const reward = row.reward
  const rewardText = reward === 1 ? c.green('1.0 (passed)') : reward === 0 ? c.red('0.0 (failed)') : c.yellow(String(reward))
  lines.push(c.bold(String(row.trajectory_id ?? '(no id)')))
  const field = (name: string, value: unknown) => { if (value !== undefined && value !== null) lines.push(`  ${c.dim(name.padEnd(14))}${String(value)}`) }
  field('image', row.image)
  field('license', row.license)
  if (reward !== undefined) lines.push(`  ${c.dim('reward'.padEnd(14))}${rewardText}`)
  field('finish reason', row.finish_reason)
  if (typeof row.messages !== 'string') return lines.join('\n')
  let turns: Turn[]
  try {
    turns = parseMessages(row.messages)
  } catch (error) {
    lines.push(c.red(`  messages is not valid JSON: ${(error as Error).message}`))
    return lines.join('\n')
  }
  const summary = summarize(turns)
  const calls = Object.entries(summary.toolCalls).map(([tool, n]) => `${tool} ${n}`).join(', ')
  field('turns', `${summary.messages} messages, ${summary.assistantTurns} assistant turns${calls ? `; tool calls: ${calls}` : ''}`)
  field('ends', summary.endsWithFinish ? 'with a finish call' : c.yellow('without a finish call'))
  lines.push('')
  for (const [index, turn] of turns.entries()) lines.push(...renderTurn(turn, index, options))
  return lines.join('\n')
}

const roleColors: Record<string, keyof ChalkInstance> = { system: 'gray', user: 'cyan', assistant: 'green', tool: 'magenta' }

function renderTurn(turn: Turn, index: number, options: TrajectoryViewOptions): string[] {
  const c = options.color
  const paint = c[(roleColors[turn.role] ?? 'white') as 'gray'] as ChalkInstance
  const title = turn.role === 'tool' ? `tool ${turn.name ?? ''}`.trim() : turn.role
  const lines = [paint.bold(`── ${index + 1}. ${title} `) + c.dim(turn.toolCallId ? `(${turn.toolCallId})` : '')]
  const limit = turn.role === 'tool' || turn.role === 'system' ? (options.outputLines ?? 6) : 40
  if (turn.content) lines.push(...indent(trim(turn.content, limit, options)))
  for (const call of turn.toolCalls) lines.push(...indent(renderCall(call, options)))
  lines.push('')
  return lines
}

function renderCall(call: ToolCall, options: TrajectoryViewOptions): string[] {
  const c = options.color
  const head = c.yellow(`→ ${call.name}`) + (call.id ? c.dim(` ${call.id}`) : '')
  const args = call.arguments
  if (typeof args === 'string') return [head, ...indent(trim(args, 20, options))]
  if (call.name === 'execute_bash' && typeof args.command === 'string') return [`${head} ${c.bold('$')} ${args.command}`]
  if (call.name === 'think' && typeof args.thought === 'string') return [head, ...indent(trim(args.thought, 20, options))]
  if (call.name === 'finish' && typeof args.message === 'string') return [head, ...indent(trim(args.message, 20, options))]
  if (call.name === 'str_replace_editor') {
    const out = [`${head} ${String(args.command ?? '')} ${String(args.path ?? '')}${Array.isArray(args.view_range) ? ` [${args.view_range.join(', ')}]` : ''}`]
    if (typeof args.old_str === 'string') out.push(...indent(trim(args.old_str, 12, options).map((line) => c.red(`- ${line}`))))
    if (typeof args.new_str === 'string') out.push(...indent(trim(args.new_str, 12, options).map((line) => c.green(`+ ${line}`))))
    if (typeof args.file_text === 'string') out.push(...indent(trim(args.file_text, 12, options).map((line) => c.green(`+ ${line}`))))
    return out
  }
  return [head, ...indent(trim(JSON.stringify(args, null, 2), 20, options))]
}

function trim(text: string, maxLines: number, options: TrajectoryViewOptions): string[] {
  const lines = text.replace(/\r\n/g, '\n').split('\n')
  if (options.full || lines.length <= maxLines) return lines
  return [...lines.slice(0, maxLines), options.color.dim(`… ${lines.length - maxLines} more lines (--full shows all)`)]
}

function indent(lines: string[]): string[] {
  return lines.map((line) => `   ${line}`)
}
