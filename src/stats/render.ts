import type { ChalkInstance } from 'chalk'
import { formatBytes, formatCount, table } from '../ui/format.js'
import type { RowStats } from './accumulate.js'
import type { ShardStats } from './compute.js'
import type { Distribution } from './distribution.js'

const blocks = '▁▂▃▄▅▆▇█'

/** A one-line Unicode histogram. */
export function sparkline(counts: number[]): string {
  const max = Math.max(...counts, 1)
  return counts.map((count) => (count === 0 ? ' ' : blocks[Math.min(blocks.length - 1, Math.floor((count / max) * (blocks.length - 1)))])).join('')
}

const percent = (part: number, whole: number) => (whole ? `${((part / whole) * 100).toFixed(1)}%` : '–')
const number = (value: number | null | undefined, digits = 0) => (value === null || value === undefined ? '–' : value.toLocaleString('en-US', { maximumFractionDigits: digits }))

/** Render one split's statistics for a terminal. */
export function renderStats(name: string, stats: ShardStats, color: ChalkInstance): string {
  const { footer, rows } = stats
  const lines = [
    color.bold(name),
    `  ${footer.files} shards · ${formatCount(footer.rows)} rows · ${formatBytes(footer.bytes)} on disk · ${formatBytes(footer.uncompressed_bytes)} uncompressed · ${footer.row_groups} row groups`,
  ]
  const field = (label: string, text: string) => lines.push(`  ${color.dim(label.padEnd(16))}${text}`)
  const counts = (map: Record<string, number>, limit = 8) => {
    const entries = Object.entries(map)
    return entries.slice(0, limit).map(([key, n]) => `${key} ${formatCount(n)} (${percent(n, rows.rows)})`).join(', ') + (entries.length > limit ? `, … ${entries.length - limit} more` : '')
  }
  if (rows.reward) field('reward', `${counts(rows.reward.counts)}; mean ${number(rows.reward.mean, 3)}`)
  if (rows.finish_reason) field('finish reason', counts(rows.finish_reason))
  if (rows.license) field('license', counts(rows.license))
  if (rows.tasks) {
    const t = rows.tasks
    const passAt = Object.entries(t.pass_at_k).map(([k, v]) => `${k} ${v.value.toFixed(3)}`).join(', ')
    field('tasks', `${formatCount(t.count)} tasks, ${number(t.runs_per_task.min)}–${number(t.runs_per_task.max)} runs each; pass@1 ${number(t.pass_at_1, 3)}${passAt ? `, ${passAt}` : ''}; solved ${formatCount(t.solved)} (${percent(t.solved, t.count)})`)
  }
  if (rows.top_repos) field('top repos', rows.top_repos.slice(0, 5).map((r) => `${r.value} ${formatCount(r.count)}`).join(', '))
  if (rows.top_images) field('top images', rows.top_images.slice(0, 3).map((r) => `${r.value} ${formatCount(r.count)}`).join(', '))
  const distributions: [string, Distribution][] = []
  if (rows.deep) {
    distributions.push(['messages', rows.deep.messages], ['assistant turns', rows.deep.assistant_turns], ['tool calls', rows.deep.tool_calls])
    for (const [tool, stats] of Object.entries(rows.deep.tool_calls_by_tool)) distributions.push([`  ${tool}`, stats.per_trajectory])
    for (const [role, stats] of Object.entries(rows.deep.chars_by_role)) distributions.push([`chars ${role}`, stats])
  }
  if (rows.tokens) distributions.push(['input tokens', rows.tokens.input_tokens], ['trainable tokens', rows.tokens.trainable_tokens])
  if (distributions.length) {
    lines.push('')
    lines.push(table([
      ['per trajectory', 'min', 'p50', 'p90', 'p99', 'max', 'mean', 'histogram'],
      ...distributions.map(([label, d]) => [label, number(d.min), number(d.p50), number(d.p90), number(d.p99), number(d.max), number(d.mean, 1),
        d.histogram ? color.cyan(sparkline(d.histogram.counts)) : '']),
    ], { indent: '  ', align: ['left', 'right', 'right', 'right', 'right', 'right', 'right', 'left'] }))
  }
  if (rows.deep) field('ends w/ finish', `${formatCount(rows.deep.ends_with_finish.count)} (${percent(rows.deep.ends_with_finish.count, rows.deep.messages.count)})`)
  if (rows.deep?.invalid_messages) field('bad messages', `${formatCount(rows.deep.invalid_messages)} rows whose messages is not a JSON array (left out above)`)
  if (rows.tokens) {
    field('trainable', `${percent(rows.tokens.trainable_share ?? 0, 1)} of tokens`)
    field('fits context', Object.entries(rows.tokens.fits_context).map(([size, n]) => `${size} ${formatCount(n)} (${percent(n, rows.rows)})`).join(', '))
  }
  return lines.join('\n')
}

/** A Markdown block for a dataset card: one column per split. */
export function renderMarkdown(results: { name: string, stats: ShardStats }[]): string {
  const header = `| | ${results.map((r) => r.name).join(' | ')} |\n|---|${results.map(() => '---:').join('|')}|`
  const row = (label: string, value: (r: RowStats, s: ShardStats) => string) => `| ${label} | ${results.map(({ stats }) => value(stats.rows, stats)).join(' | ')} |`
  const reward = (key: string) => (r: RowStats) => (r.reward ? `${formatCount(r.reward.counts[key] ?? 0)} (${percent(r.reward.counts[key] ?? 0, r.rows)})` : '–')
  const lines = [
    header,
    row('rows', (r) => formatCount(r.rows)),
    row('shards', (_r, s) => String(s.footer.files)),
    row('Parquet size', (_r, s) => formatBytes(s.footer.bytes)),
    row('reward = 1.0', reward('1.0')),
    row('reward = 0.0', reward('0.0')),
    row('reward = -1.0', reward('-1.0')),
    row('tasks', (r) => (r.tasks ? formatCount(r.tasks.count) : '–')),
    row('pass@1 (mean over tasks)', (r) => number(r.tasks?.pass_at_1, 3)),
  ]
  if (results.some((r) => r.stats.rows.deep)) {
    lines.push(
      row('messages p50 / p90', (r) => (r.deep ? `${number(r.deep.messages.p50)} / ${number(r.deep.messages.p90)}` : '–')),
      row('assistant turns p50 / p90', (r) => (r.deep ? `${number(r.deep.assistant_turns.p50)} / ${number(r.deep.assistant_turns.p90)}` : '–')),
      row('ends with finish', (r) => (r.deep ? percent(r.deep.ends_with_finish.count, r.deep.messages.count) : '–')),
    )
  }
  if (results.some((r) => r.stats.rows.tokens)) {
    lines.push(
      row('tokens p50 / p99', (r) => (r.tokens ? `${number(r.tokens.input_tokens.p50)} / ${number(r.tokens.input_tokens.p99)}` : '–')),
      row('trainable share', (r) => (r.tokens ? percent(r.tokens.trainable_share ?? 0, 1) : '–')),
      row('fits 32k context', (r) => (r.tokens ? percent(r.tokens.fits_context['32k'] ?? 0, r.rows) : '–')),
    )
  }
  return lines.join('\n')
}
