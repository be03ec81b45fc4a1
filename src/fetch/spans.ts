import type { MemoryBudget } from './budget.js'

/** A byte range [start, end) of a file. */
export type Range = [start: number, end: number]

/** Where held bytes come from: random-access reads of one file (local or remote). */
export interface SliceReader {
  byteLength: number
  slice(start: number, end?: number): ArrayBuffer | Promise<ArrayBuffer>
}

/**
 * A file's bytes that a reader asked to keep: the footer tail, the next row group's column chunks, the
 * next shards' chunks. Reads are answered from held spans first and only the gaps go to the file, so a
 * byte fetched once (footer, phase-1 columns) is never fetched again while it is held.
 */
export interface HeldBytes {
  byteLength: number
  /** hyparquet's AsyncBuffer read: held bytes where there are, the rest read (not kept). */
  slice(start: number, end?: number): Promise<ArrayBuffer>
  /**
   * Start reading the parts of `ranges` not held yet, and keep them until released. `speculative`
   * reads are taken only if the budget has room for them (returns false, reading nothing, if not).
   */
  hold(ranges: Range[], options?: { speculative?: boolean }): boolean
  /** Drop the held spans that lie inside `ranges` (every span when omitted). */
  release(ranges?: Range[]): void
  /**
   * Hand over the bytes of [start, end) without copying when one held span is exactly that range:
   * the span stops being held (and counted). Undefined when no span matches: use `slice`.
   */
  take(start: number, end: number): Promise<ArrayBuffer> | undefined
  /** The held spans that overlap [start, end), in order. */
  heldSpans(start: number, end: number): Range[]
  /** Bytes held now (fetched or in flight). */
  heldBytes(): number
}

interface Span {
  start: number
  end: number
  bytes: Promise<Uint8Array>
}

/** Keep-and-reuse bytes over `reader`, counting what is held against `budget`. */
export function heldBytes(reader: SliceReader, budget?: MemoryBudget): HeldBytes {
  /** Sorted by start, never overlapping. */
  let spans: Span[] = []
  let held = 0

  /** The parts of [start, end) that no span covers, and the spans that overlap it, in order. */
  function cover(start: number, end: number): { gaps: Range[], overlapping: Span[] } {
    const gaps: Range[] = []
    const overlapping: Span[] = []
    let position = start
    for (const span of spans) {
      if (span.end <= position) continue
      if (span.start >= end) break
      if (span.start > position) gaps.push([position, span.start])
      overlapping.push(span)
      position = span.end
    }
    if (position < end) gaps.push([position, end])
    return { gaps, overlapping }
  }

  function read(start: number, end: number): Promise<Uint8Array> {
    const bytes = Promise.resolve(reader.slice(start, end)).then((buffer) => new Uint8Array(buffer))
    bytes.catch(() => {}) // surfaced to whoever awaits the span
    return bytes
  }

  return {
    byteLength: reader.byteLength,
    async slice(start, end = reader.byteLength) {
      end = Math.min(end, reader.byteLength)
      if (end <= start) return new ArrayBuffer(0)
      const { gaps, overlapping } = cover(start, end)
      if (overlapping.length === 0) return reader.slice(start, end)
      const only = overlapping[0]!
      if (gaps.length === 0 && overlapping.length === 1) {
        const bytes = await only.bytes
        return bytes.slice(start - only.start, end - only.start).buffer
      }
      const pieces = [...overlapping.map((span) => ({ start: span.start, end: span.end, bytes: span.bytes })),
        ...gaps.map(([gapStart, gapEnd]) => ({ start: gapStart, end: gapEnd, bytes: read(gapStart, gapEnd) }))]
      const out = new Uint8Array(end - start)
      for (const piece of pieces) {
        const bytes = await piece.bytes
        const from = Math.max(start, piece.start)
        const to = Math.min(end, piece.end)
        out.set(bytes.subarray(from - piece.start, to - piece.start), from - start)
      }
      return out.buffer
    },
    hold(ranges, options = {}) {
      const gaps = mergeRanges(ranges).flatMap(([start, end]) => cover(start, Math.min(end, reader.byteLength)).gaps)
      const bytes = gaps.reduce((sum, [start, end]) => sum + end - start, 0)
      if (bytes === 0) return true
      if (options.speculative && budget && !budget.tryHold(bytes)) return false
      if (!options.speculative) budget?.hold(bytes)
      held += bytes
      const added = gaps.map(([start, end]): Span => ({ start, end, bytes: read(start, end) }))
      spans = [...spans, ...added].sort((a, b) => a.start - b.start)
      return true
    },
    release(ranges) {
      const keep: Span[] = []
      let freed = 0
      for (const span of spans) {
        const inside = !ranges || ranges.some(([start, end]) => start <= span.start && span.end <= end)
        if (inside) freed += span.end - span.start
        else keep.push(span)
      }
      spans = keep
      held -= freed
      budget?.free(freed)
    },
    take(start, end) {
      const index = spans.findIndex((span) => span.start === start && span.end === end)
      if (index < 0) return undefined
      const [span] = spans.splice(index, 1)
      held -= end - start
      budget?.free(end - start)
      return span!.bytes.then((bytes) => (bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength ? bytes.buffer as ArrayBuffer : bytes.slice().buffer))
    },
    heldSpans: (start, end) => spans.filter((span) => span.end > start && span.start < end).map((span): Range => [span.start, span.end]),
    heldBytes: () => held,
  }
}

/** Ranges sorted and merged where they overlap or touch. */
export function mergeRanges(ranges: Range[], gap = 0): Range[] {
  const merged: Range[] = []
  for (const [start, end] of [...ranges].sort((a, b) => a[0] - b[0])) {
    const last = merged.at(-1)
    if (last && start - last[1] <= gap) last[1] = Math.max(last[1], end)
    else merged.push([start, end])
  }
  return merged
}
