import type { HttpClient, UrlTarget } from './http.js'
import type { ErrorContext } from './errors.js'
import { partSizeFor } from './downloader.js'

/** A remote file as random-access bytes: hyparquet's AsyncBuffer plus a name and a byte counter. */
export interface RangeReader {
  name: string
  byteLength: number
  slice(start: number, end?: number): Promise<ArrayBuffer>
  /** Body bytes fetched so far for this file. */
  bytesFetched(): number
  /** HTTP range requests made so far for this file (after coalescing). */
  requests(): number
  /** Bytes one round trip is worth on this link (see fetch/linkEstimate.ts). */
  roundTripBytes(): number
}

/** Options for {@link openRangeReader}. */
export interface RangeReaderOptions {
  http: HttpClient
  /** The file's URL, or a re-resolvable signed link (see fileTarget). */
  target: UrlTarget
  /** File size (known from the tree listing). */
  size: number
  name: string
  context?: ErrorContext
  /** Merge requested ranges separated by at most this many bytes (default 64 KiB). */
  coalesceGap?: number
  /**
   * Split reads larger than this into parallel range requests (default: as download cuts files, from
   * 8 MiB down to 1 MiB so that one large column chunk still uses every connection).
   */
  partSize?: number
}

interface PendingSlice {
  start: number
  end: number
  resolve: (bytes: ArrayBuffer) => void
  reject: (error: unknown) => void
}

/**
 * Open a remote file for range reads. Slices requested in the same tick (hyparquet asks for all the
 * column chunks of a read at once) are sorted and merged into as few range requests as the gaps
 * allow; the HTTP layer bounds how many run at once and retries each alone.
 */
export function openRangeReader(options: RangeReaderOptions): RangeReader {
  const gap = options.coalesceGap ?? 64 * 1024
  let pending: PendingSlice[] = []
  let fetched = 0
  let requestCount = 0

  function flush(): void {
    const batch = pending.sort((a, b) => a.start - b.start)
    pending = []
    let group: PendingSlice[] = []
    let groupEnd = -Infinity
    for (const slice of batch) {
      if (group.length > 0 && slice.start - groupEnd > gap) {
        void fetchGroup(group)
        group = []
      }
      groupEnd = group.length === 0 ? slice.end : Math.max(groupEnd, slice.end)
      group.push(slice)
    }
    if (group.length > 0) void fetchGroup(group)
  }

  async function fetchGroup(group: PendingSlice[]): Promise<void> {
    const start = group[0]!.start
    const end = Math.max(...group.map((slice) => slice.end))
    try {
      const bytes = await readParts(start, end)
      for (const slice of group) slice.resolve(toArrayBuffer(bytes, slice.start - start, slice.end - start))
    } catch (error) {
      for (const slice of group) slice.reject(error)
    }
  }

  /** Large reads go out as parallel parts, so a per-connection bandwidth cap does not bound them. */
  async function readParts(start: number, end: number): Promise<Buffer> {
    const buffer = Buffer.allocUnsafeSlow(end - start)
    const partSize = options.partSize ?? partSizeFor(end - start, options.http.concurrency)
    const parts: Promise<number>[] = []
    for (let partStart = start; partStart < end; partStart += partSize) {
      const range = { start: partStart, end: Math.min(end, partStart + partSize) }
      requestCount++
      parts.push(options.http.streamRange(options.target, range, (chunk, offset) => {
        chunk.copy(buffer, offset - start)
        fetched += chunk.length
      }, options.context))
    }
    await Promise.all(parts)
    return buffer
  }

  return {
    name: options.name,
    byteLength: options.size,
    slice(start, end = options.size) {
      const clampedEnd = Math.min(end, options.size)
      if (clampedEnd <= start) return Promise.resolve(new ArrayBuffer(0))
      return new Promise((resolve, reject) => {
        if (pending.length === 0) queueMicrotask(flush)
        pending.push({ start, end: clampedEnd, resolve, reject })
      })
    },
    bytesFetched: () => fetched,
    requests: () => requestCount,
    roundTripBytes: () => options.http.roundTripBytes(),
  }
}

function toArrayBuffer(bytes: Buffer, from: number, to: number): ArrayBuffer {
  const buffer = bytes.buffer as ArrayBuffer
  if (from === 0 && to === bytes.length && bytes.byteOffset === 0 && buffer.byteLength === bytes.length) return buffer
  return buffer.slice(bytes.byteOffset + from, bytes.byteOffset + to)
}
