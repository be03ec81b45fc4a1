/**
 * A fast exact token counter for byte-level BPE vocabularies (the GPT-2 / Qwen / Llama-3 family):
 * the same added-token split, NFC normalizer, pre-tokenizer regex and merges as the tokenizer.json,
 * counting tokens without building encodings, with a cache of every piece seen. It takes only files
 * whose every setting it implements, and the caller checks it against @huggingface/tokenizers before
 * using it (see tokens.ts), so a count is always the library's count — several times faster.
 */

import { asciiPieceEnd, qwen2Pattern } from './pretokenize.js'

/** The parts of a tokenizer.json this counter reads. */
interface TokenizerJson {
  normalizer?: { type: string } | null
  pre_tokenizer?: { type: string, pretokenizers?: PreTokenizer[] } & PreTokenizer | null
  added_tokens?: { content: string, lstrip?: boolean, rstrip?: boolean, single_word?: boolean, normalized?: boolean }[]
  model?: {
    type?: string, vocab?: Record<string, number>, merges?: (string | [string, string])[], byte_fallback?: boolean,
    continuing_subword_prefix?: string | null, end_of_word_suffix?: string | null, ignore_merges?: boolean, dropout?: number | null,
  }
}

interface PreTokenizer {
  type: string
  pattern?: { Regex?: string }
  behavior?: string
  invert?: boolean
  add_prefix_space?: boolean
  use_regex?: boolean
}

const gpt2Pattern = String.raw`'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`

/**
 * The counter for `json`, or undefined when it uses a setting this counter does not implement.
 * Given a `limit`, it stops once the count passes it and returns that partial count.
 */
export function byteLevelCounter(json: TokenizerJson): ((text: string, limit?: number) => number) | undefined {
  const model = json.model
  if (!model || model.type !== 'BPE' || !model.vocab || !model.merges || model.byte_fallback || model.continuing_subword_prefix ||
    model.end_of_word_suffix || model.ignore_merges || model.dropout) return undefined
  const normalizer = json.normalizer?.type
  if (normalizer !== undefined && normalizer !== 'NFC') return undefined
  const pattern = splitPattern(json.pre_tokenizer)
  if (pattern === undefined) return undefined
  let split: RegExp
  try {
    split = new RegExp(toJsPattern(pattern), 'gu')
  } catch {
    return undefined
  }
  const added = json.added_tokens ?? []
  if (added.some((token) => token.lstrip || token.rstrip || token.single_word || token.normalized)) return undefined
  const addedSplit = added.length
    ? new RegExp([...added].map((token) => token.content).sort((a, b) => b.length - a.length).map(escapeRegex).join('|'), 'g')
    : undefined

  const pairs = pairTable(model.vocab, model.merges)
  if (!pairs) return undefined
  const cache = new Map<string, number>()
  const encoder = new TextEncoder()

  const countPiece = (piece: string): number => {
    const hit = cache.get(piece)
    if (hit !== undefined) return hit
    const bytes = encoder.encode(piece)
    let symbols = Int32Array.from(bytes, (byte) => pairs.byteIds[byte]!)
    let n = symbols.length
    if (n > 64) {
      // a long run (say 10,000 '=' or spaces) would be quadratic below
      n = mergeLong(symbols, pairs)
    } else {
      // merge every occurrence of the best-ranked pair, left to right, until no pair merges
      const next = new Int32Array(n)
      while (n > 1) {
        let best = Infinity
        for (let i = 0; i < n - 1; i++) {
          const slot = pairs.find(symbols[i]!, symbols[i + 1]!)
          if (slot !== -1 && pairs.rank[slot]! < best) best = pairs.rank[slot]!
        }
        if (best === Infinity) break
        let m = 0
        for (let i = 0; i < n; i++) {
          const slot = i < n - 1 ? pairs.find(symbols[i]!, symbols[i + 1]!) : -1
          if (slot !== -1 && pairs.rank[slot] === best) {
            next[m++] = pairs.merged[slot]!
            i++
          } else {
            next[m++] = symbols[i]!
          }
        }
        symbols.set(next.subarray(0, m))
        n = m
      }
    }
    if (cache.size > 500_000) cache.clear()
    cache.set(piece, n)
    return n
  }
  // pieces the scanner finds, remembered in a direct-mapped table by a hash of their characters:
  // no string is made to look one up, and a piece only displaces the one in its slot
  const slotPiece = new Array<string | undefined>(pieceSlots)
  const slotCount = new Int32Array(pieceSlots)
  const countSpan = (text: string, start: number, end: number): number => {
    let hash = 0x811c9dc5
    for (let i = start; i < end; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193)
    const slot = (hash ^ (hash >>> 15)) & (pieceSlots - 1)
    const held = slotPiece[slot]
    if (held !== undefined && held.length === end - start && text.startsWith(held, start)) return slotCount[slot]!
    const piece = text.slice(start, end)
    const count = countPiece(piece)
    slotPiece[slot] = piece
    slotCount[slot] = count
    return count
  }
  const sticky = new RegExp(split.source, 'uy')
  const scanned = pattern === qwen2Pattern
  const countText = (text: string, limit: number): number => {
    if (!text) return 0
    // NFC leaves ASCII as it is
    const normalized = normalizer === 'NFC' && nonAscii.test(text) ? text.normalize('NFC') : text
    let count = 0
    if (scanned) {
      for (let i = 0; i < normalized.length && count <= limit;) {
        const end = asciiPieceEnd(normalized, i)
        if (end !== -1) {
          count += countSpan(normalized, i, end)
          i = end
        } else {
          sticky.lastIndex = i
          const piece = sticky.exec(normalized)![0]
          count += countPiece(piece)
          i += piece.length
        }
      }
      return count
    }
    split.lastIndex = 0
    for (let match = split.exec(normalized); match !== null && count <= limit; match = split.exec(normalized)) count += countPiece(match[0])
    return count
  }
  // Text between added tokens is counted on its own, so a segment's count never depends on what is
  // around it: a token budget measures the same messages again in every rendered prefix it tries, and
  // a lookup is far cheaper than the pre-tokenizer's pass over them.
  const segments = new Map<string, number>()
  let segmentChars = 0
  const countSegment = (segment: string, limit: number): number => {
    if (!segment) return 0
    let count = segments.get(segment)
    if (count === undefined) {
      count = countText(segment, limit)
      // a count cut short by the limit is not the segment's
      if (count > limit) return count
      if (segmentChars > maxCachedSegmentChars) {
        segments.clear()
        segmentChars = 0
      }
      segments.set(segment, count)
      segmentChars += segment.length
    }
    return count
  }
  return (text, limit = Infinity) => {
    if (!addedSplit) return countText(text, limit)
    let count = 0
    let start = 0
    for (const match of text.matchAll(addedSplit)) {
      count += countSegment(text.slice(start, match.index), limit - count) + 1
      if (count > limit) return count
      start = match.index! + match[0].length
    }
    return count + countSegment(text.slice(start), limit - count)
  }
}

const nonAscii = /[^\x00-\x7f]/
/** Slots of the scanner's piece table (a power of two). */
const pieceSlots = 1 << 20

/** Characters of segments remembered before the memory is cleared (a few trajectories' worth). */
const maxCachedSegmentChars = 16 * 1024 * 1024

/** The merges of a vocabulary by pair of token ids: a pair's rank and the id it merges into. */
interface PairTable {
  /** The id of each byte's symbol. */
  byteIds: Int32Array
  /** The slot of the merge of (a, b), or -1 when they do not merge. */
  find(a: number, b: number): number
  rank: Int32Array
  merged: Int32Array
}

/** Open addressing over (a, b) keys: no string is built to look a pair up. Undefined when a merge names a token the vocabulary lacks. */
function pairTable(vocab: Record<string, number>, merges: (string | [string, string])[]): PairTable | undefined {
  const byteIds = Int32Array.from(byteAlphabet(), (symbol) => vocab[symbol] ?? -1)
  if (byteIds.includes(-1)) return undefined
  const size = 1 << Math.ceil(Math.log2(merges.length * 2 + 2))
  const mask = size - 1
  const left = new Int32Array(size).fill(-1)
  const right = new Int32Array(size)
  const rank = new Int32Array(size)
  const merged = new Int32Array(size)
  const home = (a: number, b: number) => (Math.imul(a, 0x9e3779b1) ^ Math.imul(b, 0x85ebca6b)) & mask
  const find = (a: number, b: number): number => {
    for (let slot = home(a, b); ; slot = (slot + 1) & mask) {
      const key = left[slot]!
      if (key === -1) return -1
      if (key === a && right[slot] === b) return slot
    }
  }
  for (const [index, merge] of merges.entries()) {
    const [a, b] = Array.isArray(merge) ? merge : merge.split(' ', 2) as [string, string]
    const ids = [vocab[a], vocab[b], vocab[a + b]]
    if (ids.some((id) => id === undefined)) return undefined
    const [idA, idB, idMerged] = ids as [number, number, number]
    // a pair listed twice takes its last rank, as the library's map of merges does
    let slot = find(idA, idB)
    if (slot === -1) for (slot = home(idA, idB); left[slot] !== -1;) slot = (slot + 1) & mask
    left[slot] = idA
    right[slot] = idB
    rank[slot] = index
    merged[slot] = idMerged
  }
  return { byteIds, find, rank, merged }
}

/**
 * The same merges for a long piece in O(n log n): a linked list of symbols and a min-heap of
 * candidate pairs by (rank, position), so equal ranks merge leftmost first, as the library does.
 * Returns the number of tokens.
 */
function mergeLong(symbols: Int32Array, pairs: PairTable): number {
  const n = symbols.length
  const ids = symbols.slice()
  const next = Int32Array.from({ length: n }, (_, i) => (i + 1 < n ? i + 1 : -1))
  const prev = Int32Array.from({ length: n }, (_, i) => i - 1)
  const alive = new Uint8Array(n).fill(1)
  const heap: [number, number, number, number][] = [] // rank, left position, left id, right id
  const push = (item: [number, number, number, number]) => {
    heap.push(item)
    let i = heap.length - 1
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (!less(heap[i]!, heap[parent]!)) break
      ;[heap[i], heap[parent]] = [heap[parent]!, heap[i]!]
      i = parent
    }
  }
  const pop = (): [number, number, number, number] => {
    const top = heap[0]!
    const last = heap.pop()!
    if (heap.length) {
      heap[0] = last
      let i = 0
      for (;;) {
        const left = 2 * i + 1
        const right = left + 1
        let smallest = i
        if (left < heap.length && less(heap[left]!, heap[smallest]!)) smallest = left
        if (right < heap.length && less(heap[right]!, heap[smallest]!)) smallest = right
        if (smallest === i) break
        ;[heap[i], heap[smallest]] = [heap[smallest]!, heap[i]!]
        i = smallest
      }
    }
    return top
  }
  const consider = (left: number) => {
    const right = next[left]!
    if (right === -1) return
    const slot = pairs.find(ids[left]!, ids[right]!)
    if (slot !== -1) push([pairs.rank[slot]!, left, ids[left]!, ids[right]!])
  }
  for (let i = 0; i + 1 < n; i++) consider(i)
  let count = n
  while (heap.length) {
    const [, left, leftId, rightId] = pop()
    const right = next[left]!
    // stale: a neighbour has merged since this pair was queued
    if (!alive[left] || right === -1 || ids[left] !== leftId || ids[right] !== rightId) continue
    ids[left] = pairs.merged[pairs.find(leftId, rightId)]!
    alive[right] = 0
    next[left] = next[right]!
    if (next[right] !== -1) prev[next[right]!] = left
    count--
    if (prev[left] !== -1) consider(prev[left]!)
    consider(left)
  }
  return count
}

function less(a: [number, number, number, number], b: [number, number, number, number]): boolean {
  return a[0] < b[0] || (a[0] === b[0] && a[1] < b[1])
}

/** The regex of a Split + ByteLevel(no regex) sequence, or GPT-2's for a lone ByteLevel(use_regex). */
function splitPattern(pre: TokenizerJson['pre_tokenizer']): string | undefined {
  if (!pre) return undefined
  if (pre.type === 'ByteLevel') return !pre.add_prefix_space && pre.use_regex !== false ? gpt2Pattern : undefined
  if (pre.type !== 'Sequence' || pre.pretokenizers?.length !== 2) return undefined
  const [first, second] = pre.pretokenizers
  const splitOk = first!.type === 'Split' && first!.behavior === 'Isolated' && !first!.invert && typeof first!.pattern?.Regex === 'string'
  const byteOk = second!.type === 'ByteLevel' && !second!.add_prefix_space && second!.use_regex === false
  return splitOk && byteOk ? first!.pattern!.Regex : undefined
}

/**
 * Oniguruma → JavaScript for the patterns these vocabularies use: the case-insensitive contraction
 * group spelled out, and `\s` / `\S` as Unicode White_Space (Oniguruma's set: with U+0085, without U+FEFF).
 */
function toJsPattern(pattern: string): string {
  const spelled = pattern.replace(/\(\?i:([^()]*)\)/g, (_, body: string) =>
    `(?:${body.replace(/[a-z]/g, (c) => `[${c}${c.toUpperCase()}]`)})`)
  if (spelled.includes('(?i')) throw new SyntaxError('inline flags')
  return spelled.replace(/\\s/g, '\\p{White_Space}').replace(/\\S/g, '\\P{White_Space}')
}

/** GPT-2's bytes → printable characters map, the alphabet byte-level vocabularies are written in. */
function byteAlphabet(): string[] {
  const printable = (byte: number) => (byte >= 33 && byte <= 126) || (byte >= 161 && byte <= 172) || (byte >= 174 && byte <= 255)
  const chars: string[] = []
  let extra = 0
  for (let byte = 0; byte < 256; byte++) chars.push(String.fromCodePoint(printable(byte) ? byte : 256 + extra++))
  return chars
}

function escapeRegex(text: string): string {
  return text.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&')
}
