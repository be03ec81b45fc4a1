/** Summary of a numeric distribution. */
export interface Distribution {
  count: number
  min: number | null
  p50: number | null
  p90: number | null
  p99: number | null
  max: number | null
  mean: number | null
  sum: number
  /** Ten equal-width bins between min and max. */
  histogram?: { edges: number[], counts: number[] }
}

/** Nearest-rank percentiles (as DuckDB's quantile_disc), min, max, mean and sum of `values`; a histogram on request. */
export function distribution(values: ArrayLike<number>, options: { histogram?: boolean } = {}): Distribution {
  const sorted = Float64Array.from(values).sort()
  const count = sorted.length
  let sum = 0
  for (const value of sorted) sum += value
  const at = (q: number) => (count === 0 ? null : sorted[Math.max(0, Math.ceil(q * count) - 1)]!)
  return {
    count,
    min: count ? sorted[0]! : null,
    p50: at(0.5),
    p90: at(0.9),
    p99: at(0.99),
    max: count ? sorted[count - 1]! : null,
    mean: count ? sum / count : null,
    sum,
    ...(options.histogram && count ? { histogram: histogram(sorted) } : {}),
  }
}

/** A histogram of `values` over `bins` equal-width bins between min and max. */
export function histogram(values: ArrayLike<number>, bins = 10): { edges: number[], counts: number[] } {
  let min = Infinity
  let max = -Infinity
  for (let i = 0; i < values.length; i++) {
    min = Math.min(min, values[i]!)
    max = Math.max(max, values[i]!)
  }
  if (values.length === 0) return { edges: [], counts: [] }
  const width = (max - min) / bins || 1
  const counts = new Array<number>(bins).fill(0)
  for (let i = 0; i < values.length; i++) counts[Math.min(bins - 1, Math.floor((values[i]! - min) / width))]!++
  return { edges: Array.from({ length: bins + 1 }, (_, i) => min + i * width), counts }
}

/**
 * Unbiased pass@k for one task with n runs of which c passed (Chen et al. 2021):
 * 1 - C(n-c, k) / C(n, k). Undefined when k > n.
 */
export function passAtK(n: number, c: number, k: number): number | undefined {
  if (k > n) return undefined
  if (n - c < k) return 1
  let ratio = 1
  for (let i = n - c + 1; i <= n; i++) ratio *= 1 - k / i
  return 1 - ratio
}
