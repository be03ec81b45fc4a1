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

/** Default `--memory`: 2 GiB, about twice the largest real row group (~480 MB uncompressed) decoded with room to fetch ahead. */
export const defaultMemoryBytes = 2 * 1024 ** 3

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
