import { UsageError } from './errors.js'

/**
 * Strict parsers for the values options take (counts, numbers, sizes, ranges, lists). Every option
 * value goes through one of these, so a malformed one is always a usage error that names the option,
 * the value and what is accepted — never a silent default.
 */

/** A malformed option value: `invalid --part-size '8XB': use a size such as 8MB or 1MiB`. */
export class OptionValueError extends UsageError {
  readonly option: string
  readonly value: string
  constructor(option: string, value: string, expected: string) {
    super(`invalid ${option} '${value}': ${expected}`)
    this.option = option
    this.value = value
  }
}

/** A whole number of at least `min` (default 0), written in digits: `12`, not `1.5`, `1e3` or `-1`. */
export function parseCount(text: string, option: string, min = 0): number {
  const value = /^\s*\d+\s*$/.test(text) ? Number(text) : NaN
  if (!Number.isSafeInteger(value) || value < min) {
    throw new OptionValueError(option, text, min === 0 ? 'use a whole number such as 0 or 12' : `use a whole number of at least ${min}`)
  }
  return value
}

/** A finite number greater than zero, such as seconds: `30`, `0.5`. */
export function parsePositiveNumber(text: string, option: string): number {
  const value = /^\s*(?:\d+(?:\.\d*)?|\.\d+)\s*$/.test(text) ? Number(text) : NaN
  if (!Number.isFinite(value) || value <= 0) throw new OptionValueError(option, text, 'use a number greater than 0, such as 30 or 0.5')
  return value
}

/** Any integer, negative allowed (a seed). */
export function parseInteger(text: string, option: string): number {
  const value = /^\s*-?\d+\s*$/.test(text) ? Number(text) : NaN
  if (!Number.isSafeInteger(value)) throw new OptionValueError(option, text, 'use a whole number such as 7')
  return value
}

const sizePattern = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?)b?\s*$/i

/**
 * A size in bytes: `2000000`, `512kB`, `8MB`, `1.5GiB` (k/M/G/T are powers of 1000, with `i` of 1024;
 * the `B` is optional). At least `min` bytes.
 */
export function parseSize(text: string, option: string, min = 1): number {
  const match = sizePattern.exec(text)
  const [, number, prefix, binary] = match ?? []
  const bytes = match ? Math.round(Number(number) * (binary ? 1024 : 1000) ** ' kmgt'.indexOf(prefix!.toLowerCase() || ' ')) : NaN
  if (!(bytes >= min)) {
    const floor = min > 1 ? ` of at least ${formatMin(min)}` : ''
    throw new OptionValueError(option, text, `use a size${floor} such as 8MB, 512kB or 1GiB (B, kB, MB, GB, TB; KiB, MiB, GiB, TiB)`)
  }
  return bytes
}

function formatMin(bytes: number): string {
  return bytes % 1024 === 0 ? `${bytes / 1024}KiB` : `${bytes} bytes`
}

/** An inclusive range of whole numbers; `end` is Infinity for an open range (`200-`). */
export interface Range {
  start: number
  end: number
}

/**
 * A comma-separated list of whole numbers and inclusive ranges: `2`, `1,3-4`, `0-9,12,200-` (an open
 * end only when `openEnd`). A range whose end is before its start is an error, not an empty range.
 */
export function parseRanges(text: string, option: string, options: { openEnd?: boolean } = {}): Range[] {
  const example = options.openEnd ? '0-9,12,200-' : '1,3-4'
  const items = splitList(text)
  if (items.length === 0) throw new OptionValueError(option, text, `use numbers and ranges such as ${example}`)
  return items.map((item) => {
    const match = /^(\d+)(?:\s*(-)\s*(\d+)?)?$/.exec(item)
    if (!match || (match[2] && match[3] === undefined && !options.openEnd)) {
      throw new OptionValueError(option, text, `use numbers and ranges such as ${example}`)
    }
    const start = Number(match[1])
    const end = !match[2] ? start : match[3] === undefined ? Infinity : Number(match[3])
    if (end < start) throw new OptionValueError(option, text, `the range ${item} ends before it starts; write ${match[3]}-${match[1]}`)
    return { start, end }
  })
}

/** True when `value` is in one of the ranges. */
export function inRanges(ranges: readonly Range[], value: number): boolean {
  return ranges.some((range) => value >= range.start && value <= range.end)
}

/** Split comma-separated text into trimmed, non-empty items. */
export function splitList(text: string): string[] {
  return text.split(',').map((item) => item.trim()).filter(Boolean)
}

/**
 * commander collector for a repeatable option: one value per occurrence (the caller splits
 * comma-separated lists where they mean one), so a positional argument after it is never taken
 * as another value.
 */
export function collect(value: string, previous: readonly string[] = []): string[] {
  return [...previous, value]
}
