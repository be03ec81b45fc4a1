/** Human-readable byte size with binary-free SI units, as the Hub shows them (1.2 GB). */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes)) return '?'
  const units = ['B', 'kB', 'MB', 'GB', 'TB']
  let value = bytes
  let unit = 0
  while (Math.abs(value) >= 1000 && unit < units.length - 1) {
    value /= 1000
    unit++
  }
  return unit === 0 ? `${Math.round(value)} B` : `${value.toFixed(value < 10 ? 2 : value < 100 ? 1 : 0)} ${units[unit]}`
}

/** Human-readable duration: 850ms, 12.3s, 4m05s, 1h02m. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return '?'
  if (ms < 1000) return `${Math.round(ms)}ms`
  const seconds = ms / 1000
  if (seconds < 60) return `${seconds.toFixed(1)}s`
  const minutes = Math.floor(seconds / 60)
  if (minutes < 60) return `${minutes}m${String(Math.floor(seconds % 60)).padStart(2, '0')}s`
  return `${Math.floor(minutes / 60)}h${String(minutes % 60).padStart(2, '0')}m`
}

/** Integer with thousands separators (1,234,567). */
export function formatCount(n: number | bigint): string {
  // not toLocaleString: its first call loads ICU's number data, about 10 ms of a run's startup
  return String(typeof n === 'number' ? Math.round(n) : n).replace(/\B(?=(\d{3})+$)/g, ',')
}

/** Render rows as an aligned plain-text table (first row is the header). */
export function table(rows: string[][], options: { align?: ('left' | 'right')[], indent?: string } = {}): string {
  const widths: number[] = []
  for (const row of rows) {
    row.forEach((cell, i) => { widths[i] = Math.max(widths[i] ?? 0, visibleLength(cell)) })
  }
  const indent = options.indent ?? ''
  return rows.map((row) => indent + row.map((cell, i) => {
    const pad = ' '.repeat(widths[i]! - visibleLength(cell))
    const isLast = i === row.length - 1
    if (options.align?.[i] === 'right') return pad + cell
    return isLast ? cell : cell + pad
  }).join('  ')).join('\n')
}

// eslint-disable-next-line no-control-regex
const ansiPattern = /\u001b\[[0-9;]*m/g

/** Text without its colour codes. */
export function stripAnsi(text: string): string {
  return text.replace(ansiPattern, '')
}

/** Columns a terminal gives text (colour codes take none). */
export function visibleLength(text: string): number {
  return stripAnsi(text).length
}
