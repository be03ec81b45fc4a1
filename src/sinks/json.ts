/**
 * JSON text written straight into bytes. String values that arrive as UTF-8 bytes (Parquet strings
 * read in raw mode) are escaped byte by byte and never become JS strings: for multi-hundred-KB
 * `messages` cells this is several times faster than decode → JSON.stringify → encode.
 */
import { escapeJsonInto } from '../wasm/kernels.js'

/** A growable output buffer. */
export interface ByteBuffer {
  bytes: Uint8Array
  length: number
}

/** A new buffer with room for `capacity` bytes. */
export function byteBuffer(capacity = 1 << 20): ByteBuffer {
  return { bytes: new Uint8Array(capacity), length: 0 }
}

/** Make room for `extra` more bytes. */
export function reserve(out: ByteBuffer, extra: number): void {
  const needed = out.length + extra
  if (needed <= out.bytes.length) return
  const grown = new Uint8Array(Math.max(needed, out.bytes.length * 2))
  grown.set(out.bytes.subarray(0, out.length))
  out.bytes = grown
}

/** Append raw bytes (already valid JSON text). */
export function writeBytes(out: ByteBuffer, bytes: Uint8Array): void {
  reserve(out, bytes.length)
  out.bytes.set(bytes, out.length)
  out.length += bytes.length
}

const textEncoder = new TextEncoder()
const hexDigits = '0123456789abcdef'

// per byte: 0 = copied as is; else the letter after the backslash, or 1 for \u00XX
const escapes = new Uint8Array(256)
for (let c = 0; c < 32; c++) escapes[c] = 1
escapes[34] = 34
escapes[92] = 92
escapes[10] = 110
escapes[13] = 114
escapes[9] = 116
escapes[8] = 98
escapes[12] = 102

/**
 * True when one of the four bytes of `word` needs escaping in a JSON string: a control character,
 * `"` or `\`. Each test is the classic "has a byte below n" bit trick; bytes of 128 and over never match.
 */
export function needsEscape(word: number): boolean {
  const quote = word ^ 0x22222222
  const backslash = word ^ 0x5c5c5c5c
  return ((((word - 0x20202020) & ~word) | ((quote - 0x01010101) & ~quote) | ((backslash - 0x01010101) & ~backslash)) & 0x80808080) !== 0
}

// from this size on, text is escaped by the WASM kernel (SIMD, 1.7x this loop's speed); below it, the call costs more
const kernelEscapeSize = 512

/** Append a JSON string literal for UTF-8 `bytes` (quotes, backslashes and control characters escaped). */
export function writeJsonStringBytes(out: ByteBuffer, src: Uint8Array): void {
  const n = src.length
  // room for the worst case (every byte \u00XX) and the quotes: no counting pass over the input
  reserve(out, n * 6 + 2)
  const dst = out.bytes
  dst[out.length] = 34
  let o = out.length + 1
  if (n >= kernelEscapeSize) {
    o = escapeJsonInto(dst, o, src)
  } else {
    const words = new DataView(src.buffer, src.byteOffset, src.byteLength)
    const dstWords = new DataView(dst.buffer, dst.byteOffset, dst.byteLength)
    for (let i = 0; i < n;) {
      // four bytes at a time while none needs escaping, else one by one
      if (i + 4 <= n) {
        const word = words.getUint32(i, true)
        if (!needsEscape(word)) {
          dstWords.setUint32(o, word, true)
          o += 4
          i += 4
          continue
        }
      }
      for (const stop = Math.min(n, i + 4); i < stop; i++) {
        const c = src[i]!
        const escape = escapes[c]!
        if (escape === 0) {
          dst[o++] = c
          continue
        }
        dst[o++] = 92
        if (escape !== 1) {
          dst[o++] = escape
        } else {
          dst[o++] = 117
          dst[o++] = 48
          dst[o++] = 48
          dst[o++] = hexDigits.charCodeAt(c >> 4)
          dst[o++] = hexDigits.charCodeAt(c & 15)
        }
      }
    }
  }
  dst[o++] = 34
  out.length = o
}

/** Append any decoded Parquet value as JSON: null, boolean, number, bigint, string, bytes, list, struct. */
export function writeJsonValue(out: ByteBuffer, value: unknown): void {
  if (value === null || value === undefined) return writeAscii(out, 'null')
  switch (typeof value) {
    case 'number':
      return writeAscii(out, Number.isFinite(value) ? String(value) : 'null')
    case 'bigint':
      // INT64 outside the safe range stays exact as a string, like the JSON readers of most tools expect
      return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER)
        ? writeAscii(out, value.toString())
        : writeJsonStringBytes(out, textEncoder.encode(value.toString()))
    case 'boolean':
      return writeAscii(out, value ? 'true' : 'false')
    case 'string':
      return writeJsonStringBytes(out, textEncoder.encode(value))
  }
  if (value instanceof Uint8Array) return writeJsonStringBytes(out, value)
  // a list<int> cell (see parquet/intList.ts): digits straight from the typed array
  if (value instanceof Int32Array) return writeJsonInt32Array(out, value)
  if (Array.isArray(value) || ArrayBuffer.isView(value)) return writeJsonArray(out, value as ArrayLike<unknown>)
  if (value instanceof Date) return writeJsonStringBytes(out, textEncoder.encode(value.toISOString()))
  writeByte(out, 123)
  let first = true
  for (const [key, item] of Object.entries(value as Record<string, unknown>)) {
    if (!first) writeByte(out, 44)
    first = false
    writeJsonStringBytes(out, textEncoder.encode(key))
    writeByte(out, 58)
    writeJsonValue(out, item)
  }
  writeByte(out, 125)
}

function writeJsonArray(out: ByteBuffer, items: ArrayLike<unknown>): void {
  writeByte(out, 91)
  for (let i = 0; i < items.length; i++) {
    if (i > 0) writeByte(out, 44)
    const item = items[i]
    // token id lists: the common case, kept on the fast path
    if (typeof item === 'number' && Number.isInteger(item)) writeAscii(out, String(item))
    else writeJsonValue(out, item)
  }
  writeByte(out, 93)
}

// "00" to "99": two digits per division
const digitPairs = new Uint8Array(200)
for (let i = 0; i < 100; i++) {
  digitPairs[2 * i] = 48 + Math.floor(i / 10)
  digitPairs[2 * i + 1] = 48 + (i % 10)
}

/** Append a JSON array of int32 values (a list<int> row): digits straight into the buffer, no string per value. */
export function writeJsonInt32Array(out: ByteBuffer, values: Int32Array): void {
  reserve(out, values.length * 12 + 2) // '-2147483648,' is the longest
  const dst = out.bytes
  let o = out.length
  dst[o++] = 91
  for (let i = 0; i < values.length; i++) {
    if (i > 0) dst[o++] = 44
    // a double: -(-2147483648) does not fit an int32
    let value = values[i]!
    if (value < 0) {
      dst[o++] = 45
      value = -value
    }
    const digits = value < 10 ? 1 : value < 100 ? 2 : value < 1000 ? 3 : value < 10_000 ? 4 : value < 100_000 ? 5 : value < 1_000_000 ? 6
      : value < 10_000_000 ? 7 : value < 100_000_000 ? 8 : value < 1_000_000_000 ? 9 : 10
    let p = o + digits
    o = p
    while (value >= 100) {
      const quotient = Math.floor(value / 100)
      const pair = 2 * (value - quotient * 100)
      dst[--p] = digitPairs[pair + 1]!
      dst[--p] = digitPairs[pair]!
      value = quotient
    }
    if (value >= 10) {
      dst[--p] = digitPairs[2 * value + 1]!
      dst[--p] = digitPairs[2 * value]!
    } else {
      dst[--p] = 48 + value
    }
  }
  dst[o++] = 93
  out.length = o
}

/** Append ASCII text (numbers, literals, punctuation). */
export function writeAscii(out: ByteBuffer, text: string): void {
  reserve(out, text.length)
  const dst = out.bytes
  let o = out.length
  for (let i = 0; i < text.length; i++) dst[o++] = text.charCodeAt(i)
  out.length = o
}

function writeByte(out: ByteBuffer, byte: number): void {
  reserve(out, 1)
  out.bytes[out.length++] = byte
}
