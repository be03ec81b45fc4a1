/**
 * Deterministic sampling: every key gets a rank from a seeded hash; the sample is the N keys with the
 * smallest ranks. The same seed gives the same sample whatever the order or concurrency of the scan.
 */
export function sampleRank(seed: number, key: string): number {
  let h1 = 0x811c9dc5 ^ seed
  let h2 = 0x9747b28c ^ Math.imul(seed, 0x5bd1e995)
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i)
    h1 = Math.imul(h1 ^ c, 0x01000193)
    h2 = Math.imul(h2 ^ c, 0x5bd1e995)
    h2 ^= h2 >>> 15
  }
  // 53 bits from two 32-bit hashes
  return (h1 >>> 0) * 2 ** 21 + ((h2 >>> 0) & 0x1fffff)
}

/** Keep the `n` items of smallest rank, returned in their original order. */
export function sampleSmallest<T>(items: T[], n: number, rank: (item: T) => number): T[] {
  if (items.length <= n) return items
  const ranked = items.map((item, index) => ({ index, rank: rank(item) })).sort((a, b) => a.rank - b.rank || a.index - b.index)
  const keep = new Set(ranked.slice(0, n).map((entry) => entry.index))
  return items.filter((_, index) => keep.has(index))
}
