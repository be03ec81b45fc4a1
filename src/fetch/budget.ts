/**
 * The memory budget of a run: one number that the read path shares. Bytes fetched ahead of need (the
 * next shards' column chunks) are admitted only while the budget has room; bytes the consumer waits on
 * are always admitted, so a run never deadlocks on a budget smaller than one row group.
 */
export interface MemoryBudget {
  /** The budget, in bytes. */
  readonly limit: number
  /** Bytes currently held against it. */
  readonly used: number
  /** Hold `bytes` if they fit; false (and nothing held) when they do not. */
  tryHold(bytes: number): boolean
  /** Hold `bytes` whether or not they fit (bytes the consumer needs now). */
  hold(bytes: number): void
  /** Give back bytes held earlier. */
  free(bytes: number): void
  /** Largest `used` seen, for reports and tests. */
  readonly peak: number
}

/** Default `--memory`: 1 GiB. */
export const defaultMemoryBytes = 1024 ** 3

/** How a `--memory` budget is shared by the read path. */
export interface ReadBudget {
  /** Bytes the sources may hold: footers, the next row groups, shards fetched ahead (half). */
  holdBytes: number
  /** Row groups larger than this (uncompressed) are decoded in row slices: a quarter, shared by the threads. */
  sliceBytes: number
}

/** Share `memoryBytes` between fetching ahead and decoding on `threads` threads. */
export function readBudget(memoryBytes = defaultMemoryBytes, threads = 1): ReadBudget {
  return { holdBytes: memoryBytes / 2, sliceBytes: Math.max(1 << 20, Math.floor(memoryBytes / 4 / Math.max(1, threads))) }
}

/** Create a budget of `limit` bytes. */
export function memoryBudget(limit = defaultMemoryBytes): MemoryBudget {
  let used = 0
  let peak = 0
  const hold = (bytes: number) => {
    used += bytes
    peak = Math.max(peak, used)
  }
  return {
    limit,
    get used() { return used },
    get peak() { return peak },
    tryHold(bytes) {
      if (used + bytes > limit) return false
      hold(bytes)
      return true
    },
    hold,
    free(bytes) { used = Math.max(0, used - bytes) },
  }
}
