/**
 * Hand-made trajectory rows for the predicate tests (query.test.ts, query-unit.test.ts): OpenHands-style
 * messages, and five rows covering every id form, nulls, a bigint reward and unparseable messages.
 */
import type { Batch } from '../../src/query/compile.js'

/** A sha as R2E-Gym ids and images carry it. */
export const sha = 'a3f1c2d4e5b60718293a4b5c6d7e8f9012345678'

/**
 * A messages cell as OpenHands writes it: system and user turns, then `steps` assistant turns (think and
 * execute_bash first, then str_replace_editor) with a tool answer per call, and a last call to finish.
 */
export function messages(steps: number, options: { finish?: boolean, compact?: boolean } = {}): string {
  const call = (name: string, n: number, args: Record<string, unknown>) => ({ function: { arguments: args, name }, id: `call_${String(n).padStart(24, '0')}`, index: null, type: 'function' })
  const message = (role: string, content: string | null, extra: Record<string, unknown> = {}) => ({ content, function_call: null, name: null, role, tool_call_id: null, tool_calls: null, ...extra })
  const list = [message('system', 'You are OpenHands agent, a helpful AI assistant.'), message('user', '<uploaded_files>\n/testbed\n</uploaded_files>\r\n修复 🐛')]
  for (let step = 0; step < steps; step++) {
    const calls = step === 0
      ? [call('think', step * 2, { thought: 'plan' }), call('execute_bash', step * 2 + 1, { command: 'ls' })]
      : [call('str_replace_editor', step * 2, { command: 'view', path: '/testbed' })]
    list.push(message('assistant', `step ${step}`, { tool_calls: calls }))
    for (const c of calls) list.push(message('tool', 'ok\n[Command finished with exit code 0]', { name: c.function.name, tool_call_id: c.id }))
  }
  if (options.finish) list.push(message('assistant', 'done', { tool_calls: [call('finish', 999, { message: 'fixed' })] }))
  return options.compact ? JSON.stringify(list) : JSON.stringify(list, null, 1)
}

/** Five rows: SWE-rebench, SWE-smith and R2E-Gym ids, an incomplete run, nulls, a bigint reward, messages that are not JSON. */
export const evaluationRows = [
  { trajectory_id: '0b01001001__spectree-64_run3', finish_reason: 'tool_calls', image: 'qingyangwu/sweb.eval.x86_64.0b01001001_1776_spectree-64', license: 'MIT', reward: 1, messages: messages(3, { finish: true }) },
  { trajectory_id: 'HIPS__autograd_ac044f0d_pr_672_run4', finish_reason: 'stop', image: 'HIPS__autograd.ac044f0d.pr_672', license: null, reward: 0n, messages: messages(1, { compact: true }) },
  { trajectory_id: `qingyangwu_pandas_final_${sha}_run2`, finish_reason: 'tool_calls', image: `qingyangwu/pandas_final:${sha}`, license: 'BSD-3-Clause', reward: -1, messages: 'not json' },
  { trajectory_id: '0b01001001__spectree-64_incomplete_20250811_134501_run1', finish_reason: null, image: null, license: 'Apache-2.0', reward: null, messages: null },
  { trajectory_id: 'zeta__ünïcödé-1_run8', finish_reason: 'tool_calls', image: 'qingyangwu/sweb.eval.x86_64.zeta_1776_ünïcödé-1', license: 'MIT', reward: 0.5, messages: messages(5, { compact: true }) },
]

const encoder = new TextEncoder()

/** The rows as a batch, strings as JS strings or, with `bytes`, as UTF-8 (as the raw-string reader gives them). */
export function evaluationBatch(bytes: boolean): Batch {
  return {
    numRows: evaluationRows.length,
    columns: Object.fromEntries(Object.keys(evaluationRows[0]!).map((name) => [name, evaluationRows.map((row) => {
      const value = (row as Record<string, unknown>)[name]
      return bytes && typeof value === 'string' ? encoder.encode(value) : value
    })])),
  }
}
