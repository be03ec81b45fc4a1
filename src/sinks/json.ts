/**
 * JSON text written straight into bytes. String values that arrive as UTF-8 bytes (Parquet strings
 * read in raw mode) are escaped byte by byte and never become JS strings: for multi-hundred-KB
 * `messages` cells this is several times faster than decode → JSON.stringify → encode.
 */

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

/** Append a JSON string literal for UTF-8 `bytes` (quotes, backslashes and control characters escaped). */
export function writeJsonStringBytes(out: ByteBuffer, src: Uint8Array): void {
  // worst case: every byte a control character (\u00XX), plus the quotes
  reserve(out, src.length + 2 + countEscapeOverhead(src))
  const dst = out.bytes
  let o = out.length
  dst[o++] = 34
  const n = src.length
  for (let i = 0; i < n; i++) {
    const c = src[i]!
    // most bytes: printable, not a quote (34) or backslash (92); UTF-8 multibyte bytes are >= 128
    if ((c >= 35 && c !== 92) || c === 32 || c === 33) {
      dst[o++] = c
      continue
    }
    dst[o++] = 92
    if (c === 34 || c === 92) dst[o++] = c
    else if (c === 10) dst[o++] = 110
    else if (c === 13) dst[o++] = 114
    else if (c === 9) dst[o++] = 116
    else if (c === 8) dst[o++] = 98
    else if (c === 12) dst[o++] = 102
    else {
      dst[o++] = 117
      dst[o++] = 48
      dst[o++] = 48
      dst[o++] = hexDigits.charCodeAt(c >> 4)
      dst[o++] = hexDigits.charCodeAt(c & 15)
    }
  }
  dst[o++] = 34
  out.length = o
}

function countEscapeOverhead(src: Uint8Array): number {
  let extra = 0
  for (let i = 0; i < src.length; i++) {
    const c = src[i]!
    if (c === 34 || c === 92) extra += 1
    else if (c < 32) extra += 5
  }
  return extra
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
