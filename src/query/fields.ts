/**
 * The fields a predicate may name: columns of the two configs' schemas, plus values derived from them.
 * Each field says which physical columns it reads and whether those are small (phase 1 of a scan)
 * or large (phase 2: fetched only for row groups that still hold candidates).
 */

/** What a field holds. */
export type FieldType = 'string' | 'number'

/** A field of the predicate language. */
export interface Field {
  type: FieldType
  /** Physical columns its value is computed from. */
  columns: string[]
  /** Reading it means fetching a large column (messages, tools, chat_template_applied). */
  large: boolean
}

const stored = (name: string, type: FieldType, large = false): Field => ({ type, columns: [name], large })

/**
 * Derived fields:
 * - `task`: trajectory_id without `_runN` and an `_incomplete_YYYYMMDD_HHMMSS` marker before it.
 * - `run`: the N of `_runN` (null when the id has none).
 * - `repo`: lowercase GitHub `owner/repo`, best effort: from the image when it is a SWE-bench/SWE-smith
 *   `x86_64.{owner}_1776_{repo}` image, else R2E ids give `{repo}` alone (the owner is not in the row),
 *   else the id's `{owner}__{repo}` prefix; null when none of these applies.
 * - `turns` (assistant messages), `tool_calls` (calls of any tool), `messages_count`: from `messages`,
 *   null when messages is null or not a JSON array.
 */
export const fields: Record<string, Field> = {
  trajectory_id: stored('trajectory_id', 'string'),
  finish_reason: stored('finish_reason', 'string'),
  image: stored('image', 'string'),
  license: stored('license', 'string'),
  reward: stored('reward', 'number'),
  messages: stored('messages', 'string', true),
  tools: stored('tools', 'string', true),
  chat_template_applied: stored('chat_template_applied', 'string', true),
  task: { type: 'string', columns: ['trajectory_id'], large: false },
  run: { type: 'number', columns: ['trajectory_id'], large: false },
  repo: { type: 'string', columns: ['trajectory_id', 'image'], large: false },
  turns: { type: 'number', columns: ['messages'], large: true },
  tool_calls: { type: 'number', columns: ['messages'], large: true },
  messages_count: { type: 'number', columns: ['messages'], large: true },
}

/** Predicates that are functions of `messages` rather than fields. */
export const messageFunctions = ['uses_tool', 'ends_with_finish'] as const
