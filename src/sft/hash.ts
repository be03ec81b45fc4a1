/**
 * Seeded string hashing for choices that must not depend on read order or on which worker reads a
 * row: the same (seed, text) always gives the same number, on every machine.
 */

/** A 53-bit hash of `text` under `seed` (cyrb53: two multiplicative 32-bit lanes, mixed). */
export function seededHash(seed: number, text: string): number {
  let h1 = 0xdeadbeef ^ seed
  let h2 = 0x41c6ce57 ^ seed
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i)
    h1 = Math.imul(h1 ^ code, 2654435761)
    h2 = Math.imul(h2 ^ code, 1597334677)
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909)
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909)
  return 4294967296 * (2097151 & h2) + (h1 >>> 0)
}

/** `seededHash` scaled to [0, 1). */
export function seededUnit(seed: number, text: string): number {
  return seededHash(seed, text) / 2 ** 53
}
