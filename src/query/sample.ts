/**
 * Deterministic sampling (`--sample N --seed S`): every key gets a rank from a seeded hash, and the
 * sample is the N keys of smallest rank. It depends only on the keys and the seed — not on the order
 * or concurrency of the scan — and a different seed gives an independent sample.
 */

/** A 53-bit rank of `key` under `seed` (two murmur3-style lanes over the UTF-16 units). */
export function sampleRank(seed: number, key: string): number {
  const low = seed >>> 0
  const high = Math.floor(seed / 2 ** 32) >>> 0
  let h1 = finalMix(low ^ Math.imul(high, 0x85ebca6b) ^ 0x9e3779b9)
  let h2 = finalMix(high ^ Math.imul(low, 0xc2b2ae35) ^ 0x27d4eb2f)
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i)
    h1 = mixUnit(h1, c)
    h2 = mixUnit(h2, c ^ 0x5bd1e995)
  }
  h1 = finalMix(h1 ^ key.length)
  h2 = finalMix(h2 ^ key.length)
  return (h1 >>> 0) * 2 ** 21 + (h2 >>> 11)
}

function mixUnit(hash: number, unit: number): number {
  let k = Math.imul(unit, 0xcc9e2d51)
  k = Math.imul((k << 15) | (k >>> 17), 0x1b873593)
  hash ^= k
  hash = (hash << 13) | (hash >>> 19)
  return (Math.imul(hash, 5) + 0xe6546b64) | 0
}

function finalMix(hash: number): number {
  hash ^= hash >>> 16
  hash = Math.imul(hash, 0x85ebca6b)
  hash ^= hash >>> 13
  hash = Math.imul(hash, 0xc2b2ae35)
  return hash ^ (hash >>> 16)
}

/**
 * Pick `n` of a stream of keys (trajectory ids in shard order): those of smallest rank under `seed`,
 * equal ranks going to the earlier key. Returns their positions in the stream, ascending, so the
 * sample keeps shard order. Memory is O(n) whatever the length of the stream.
 */
export function sampleKeys(keys: Iterable<string>, n: number, seed: number): number[] {
  // max-heap of the n best so far: the root is the first to drop
  const heap: { rank: number, position: number }[] = []
  const worse = (a: number, b: number) => heap[a]!.rank > heap[b]!.rank || (heap[a]!.rank === heap[b]!.rank && heap[a]!.position > heap[b]!.position)
  const swap = (a: number, b: number) => ([heap[a], heap[b]] = [heap[b]!, heap[a]!])
  let position = 0
  for (const key of keys) {
    const entry = { rank: sampleRank(seed, key), position: position++ }
    if (heap.length < n) {
      heap.push(entry)
      for (let i = heap.length - 1; i > 0 && worse(i, (i - 1) >> 1); i = (i - 1) >> 1) swap(i, (i - 1) >> 1)
    } else if (n > 0 && entry.rank < heap[0]!.rank) {
      heap[0] = entry
      for (let i = 0; ;) {
        const left = 2 * i + 1
        const right = left + 1
        let largest = i
        if (left < heap.length && worse(left, largest)) largest = left
        if (right < heap.length && worse(right, largest)) largest = right
        if (largest === i) break
        swap(i, largest)
        i = largest
      }
    }
  }
  return heap.map((entry) => entry.position).sort((a, b) => a - b)
}
