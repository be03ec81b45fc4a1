/**
 * A fast exact token counter for byte-level BPE vocabularies (the GPT-2 / Qwen / Llama-3 family):
 * the same added-token split, NFC normalizer, pre-tokenizer regex and merges as the tokenizer.json,
 * counting tokens without building encodings, with a cache of every piece seen. It takes only files
 * whose every setting it implements, and the caller checks it against @huggingface/tokenizers before
 * using it (see tokens.ts), so a count is always the library's count — several times faster.
 */

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

  const alphabet = byteAlphabet()
  const ranks = new Map<string, number>()
  model.merges.forEach((merge, rank) => {
    const [a, b] = Array.isArray(merge) ? merge : merge.split(' ', 2) as [string, string]
    ranks.set(`${a} ${b}`, rank)
  })
  const cache = new Map<string, number>()
  const encoder = new TextEncoder()

  const countPiece = (piece: string): number => {
    const hit = cache.get(piece)
    if (hit !== undefined) return hit
    let symbols = Array.from(encoder.encode(piece), (byte) => alphabet[byte]!)
    if (symbols.length > 64) {
      // a long run (say 10,000 '=' or spaces) would be quadratic below
      const count = mergeLong(symbols, ranks)
      cache.set(piece, count)
      return count
    }
    while (symbols.length > 1) {
      let best = Infinity
      for (let i = 0; i < symbols.length - 1; i++) {
        const rank = ranks.get(`${symbols[i]} ${symbols[i + 1]}`)
        if (rank !== undefined && rank < best) best = rank
      }
      if (best === Infinity) break
      const merged: string[] = []
      for (let i = 0; i < symbols.length; i++) {
        if (i < symbols.length - 1 && ranks.get(`${symbols[i]} ${symbols[i + 1]}`) === best) {
          merged.push(symbols[i]! + symbols[i + 1]!)
          i++
        } else {
          merged.push(symbols[i]!)
        }
      }
      symbols = merged
    }
    if (cache.size > 500_000) cache.clear()
    cache.set(piece, symbols.length)
    return symbols.length
  }
  const countText = (text: string, limit: number): number => {
    if (!text) return 0
    const normalized = normalizer === 'NFC' ? text.normalize('NFC') : text
    let count = 0
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
    if (segment.length < minCachedSegment) return countText(segment, limit)
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

/** Segments shorter than this are counted again rather than remembered. */
const minCachedSegment = 1
/** Characters of segments remembered before the memory is cleared (a few trajectories' worth). */
const maxCachedSegmentChars = 16 * 1024 * 1024

/**
 * The same merges for a long piece in O(n log n): a linked list of symbols and a min-heap of
 * candidate pairs by (rank, position), so equal ranks merge leftmost first, as the library does.
 */
function mergeLong(symbols: string[], ranks: Map<string, number>): number {
  const n = symbols.length
  const text = symbols.slice()
  const next = Array.from({ length: n }, (_, i) => (i + 1 < n ? i + 1 : -1))
  const prev = Array.from({ length: n }, (_, i) => i - 1)
  const alive = new Array<boolean>(n).fill(true)
  const heap: [number, number, string, string][] = [] // rank, left position, left text, right text
  const push = (item: [number, number, string, string]) => {
    heap.push(item)
    let i = heap.length - 1
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (!less(heap[i]!, heap[parent]!)) break
      ;[heap[i], heap[parent]] = [heap[parent]!, heap[i]!]
      i = parent
    }
  }
  const pop = (): [number, number, string, string] => {
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
    const rank = ranks.get(`${text[left]} ${text[right]}`)
    if (rank !== undefined) push([rank, left, text[left]!, text[right]!])
  }
  for (let i = 0; i + 1 < n; i++) consider(i)
  let count = n
  while (heap.length) {
    const [, left, leftText, rightText] = pop()
    const right = next[left]!
    // stale: a neighbour has merged since this pair was queued
    if (!alive[left] || right === -1 || text[left] !== leftText || text[right] !== rightText) continue
    text[left] = leftText + rightText
    alive[right] = false
    next[left] = next[right]!
    if (next[right] !== -1) prev[next[right]!] = left
    count--
    if (prev[left] !== -1) consider(prev[left]!)
    consider(left)
  }
  return count
}

function less(a: [number, number, string, string], b: [number, number, string, string]): boolean {
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
