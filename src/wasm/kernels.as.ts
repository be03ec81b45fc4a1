/**
 * The decoder's hottest loops in WebAssembly (AssemblyScript, SIMD), working in one memory so that a
 * page is decompressed where it is then escaped or scanned, with no copy in between: snappy
 * decompression, escaping UTF-8 text as the inside of a JSON string, and skipping a JSON string. Plain functions over addresses in this module's
 * memory; the caller (src/wasm/kernels.ts) owns the layout. `npm run kernels` compiles this file
 * into src/wasm/kernelsWasm.ts.
 */

/** The first address the caller may use: nothing of this module lives above it. */
export function heapStart(): usize {
  return (__heap_base + 15) & ~15
}

/**
 * Escape `[src, srcEnd)` into `dst` as the inside of a JSON string (no quotes): `"` `\` and control
 * characters escaped as JSON.stringify does. A byte takes at most 6: with less room than that below
 * `dstEnd`, the output stops short. Returns the end of the output.
 */
export function escapeJson(src: usize, srcEnd: usize, dst: usize, dstEnd: usize): usize {
  const quote = i8x16.splat(0x22)
  const backslash = i8x16.splat(0x5c)
  const space = i8x16.splat(0x20)
  // 16 bytes at a time: stored as they are, then the first that needs escaping (if any) is redone
  while (src + 16 <= srcEnd && dst + 16 + 6 <= dstEnd) {
    const bytes = v128.load(src)
    const special = v128.or(v128.or(i8x16.eq(bytes, quote), i8x16.eq(bytes, backslash)), i8x16.lt_u(bytes, space))
    v128.store(dst, bytes)
    if (!v128.any_true(special)) {
      src += 16
      dst += 16
      continue
    }
    const plain = <usize>ctz(i8x16.bitmask(special))
    dst = escapeByte(load<u8>(src + plain), dst + plain)
    src += plain + 1
  }
  while (src < srcEnd && dst + 6 <= dstEnd) {
    const byte = load<u8>(src++)
    if (byte >= 0x20 && byte != 0x22 && byte != 0x5c) store<u8>(dst++, byte)
    else dst = escapeByte(byte, dst)
  }
  return dst
}

/** Write the escape of one byte that needs it; returns the end of the output. */
function escapeByte(byte: u32, dst: usize): usize {
  store<u8>(dst, 0x5c)
  let letter: u32 = 0
  if (byte == 0x22 || byte == 0x5c) letter = byte
  else if (byte == 0x0a) letter = 0x6e // n
  else if (byte == 0x0d) letter = 0x72 // r
  else if (byte == 0x09) letter = 0x74 // t
  else if (byte == 0x08) letter = 0x62 // b
  else if (byte == 0x0c) letter = 0x66 // f
  if (letter != 0) {
    store<u8>(dst, letter, 1)
    return dst + 2
  }
  // \u00XX with lowercase hex digits, as JSON.stringify writes them
  store<u8>(dst, 0x75, 1)
  store<u8>(dst, 0x30, 2)
  store<u8>(dst, 0x30, 3)
  store<u8>(dst, hexDigit(byte >> 4), 4)
  store<u8>(dst, hexDigit(byte & 15), 5)
  return dst + 6
}

function hexDigit(nibble: u32): u32 {
  return nibble < 10 ? 0x30 + nibble : 0x57 + nibble
}

/** UTF-16 units of the value of the string {@link jsonStringEnd} skipped last. */
let stringUnitsSkipped: u32 = 0

/** UTF-16 units of the value of the string {@link jsonStringEnd} skipped last. */
export function lastStringUnits(): u32 {
  return stringUnitsSkipped
}

/**
 * Skip the JSON string whose contents start at `src` (after its opening quote), in valid UTF-8 ending
 * at `srcEnd`: returns the address after its closing quote, or 0 when it is not a valid JSON string (a
 * raw control character, a bad escape, no closing quote). Counts the UTF-16 units of its value, as
 * JSON.parse would give it, for {@link lastStringUnits}: a continuation byte adds none, a 4-byte
 * sequence's lead two (a surrogate pair), any other byte or escape one.
 */
export function jsonStringEnd(src: usize, srcEnd: usize): usize {
  const quote = i8x16.splat(0x22)
  const backslash = i8x16.splat(0x5c)
  const space = i8x16.splat(0x20)
  // as signed bytes: continuations (0x80-0xbf) are below 0xc0, 4-byte leads (0xf0-0xff) from 0xf0 to 0
  const firstLead = i8x16.splat(-64)
  const fourByteLead = i8x16.splat(-16)
  const zero = i8x16.splat(0)
  let units: u32 = 0
  while (src < srcEnd) {
    if (src + 16 <= srcEnd) {
      // 16 bytes at a time up to the first that ends the string or starts an escape
      const bytes = v128.load(src)
      const special = i8x16.bitmask(v128.or(v128.or(i8x16.eq(bytes, quote), i8x16.eq(bytes, backslash)), i8x16.lt_u(bytes, space)))
      const plain = special == 0 ? 16 : ctz(special)
      const before = (1 << plain) - 1
      const continuations = i8x16.bitmask(i8x16.lt_s(bytes, firstLead)) & before
      const fourByteLeads = i8x16.bitmask(v128.and(i8x16.ge_s(bytes, fourByteLead), i8x16.lt_s(bytes, zero))) & before
      units += <u32>(plain - popcnt(continuations) + popcnt(fourByteLeads))
      src += <usize>plain
      if (plain == 16) continue
    }
    // a byte that ends the string or starts an escape, or one of the last 15
    const byte = <u32>load<u8>(src++)
    if (byte == 0x22) {
      stringUnitsSkipped = units
      return src
    }
    if (byte == 0x5c) {
      if (src >= srcEnd) return 0
      const escaped = <u32>load<u8>(src++)
      units++
      if (escaped == 0x75) {
        // \uXXXX: one unit (a pair is written as two escapes)
        if (src + 4 > srcEnd) return 0
        for (let k: usize = 0; k < 4; k++) if (!isHexDigit(<u32>load<u8>(src + k))) return 0
        src += 4
      } else if (!isSimpleEscape(escaped)) return 0
    } else if (byte < 0x20) return 0
    else if (byte >= 0xf0) units += 2
    else if (byte < 0x80 || byte >= 0xc0) units++
  }
  return 0
}

function isHexDigit(byte: u32): bool {
  return (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x46) || (byte >= 0x61 && byte <= 0x66)
}

/** The letters of JSON's two-character escapes: " \ / b f n r t. */
function isSimpleEscape(byte: u32): bool {
  return byte == 0x22 || byte == 0x5c || byte == 0x2f || byte == 0x62 || byte == 0x66 || byte == 0x6e || byte == 0x72 || byte == 0x74
}

/** Why {@link snappyUncompress} failed (0: it did not). */
export const snappyOk = 0
export const snappyBadLength = 1
export const snappyTruncated = 2
export const snappyBadOffset = 3

/**
 * Decompress the raw snappy block `[src, srcEnd)` into `[dst, dstEnd)`, which it must fill exactly.
 * Returns 0 or the reason it is corrupt; never reads or writes outside the two ranges.
 */
export function snappyUncompress(src: usize, srcEnd: usize, dst: usize, dstEnd: usize): u32 {
  // the preamble: the uncompressed length as a varint
  let length: u64 = 0
  let shift: u64 = 0
  for (;;) {
    if (src >= srcEnd || shift > 28) return snappyTruncated
    const byte = <u64>load<u8>(src++)
    length |= (byte & 0x7f) << shift
    shift += 7
    if (byte < 0x80) break
  }
  if (length != <u64>(dstEnd - dst)) return snappyBadLength
  const start = dst
  while (src < srcEnd) {
    const tag = <u32>load<u8>(src++)
    const kind = tag & 3
    if (kind == 0) {
      // a literal: its length - 1 in the tag, or in the 1-4 bytes after it
      let size = <usize>(tag >> 2)
      if (size >= 60) {
        const extra = size - 59
        if (src + extra > srcEnd) return snappyTruncated
        size = 0
        for (let i: usize = 0; i < extra; i++) size |= <usize>load<u8>(src + i) << <usize>(8 * i)
        src += extra
      }
      size += 1
      if (size > srcEnd - src || size > dstEnd - dst) return snappyTruncated
      if (size <= 16 && src + 16 <= srcEnd && dst + 16 <= dstEnd) v128.store(dst, v128.load(src))
      else memory.copy(dst, src, size)
      src += size
      dst += size
      continue
    }
    // a copy of earlier output: length and offset in the tag and 1, 2 or 4 bytes after it
    let size: usize
    let offset: usize
    if (kind == 1) {
      if (src >= srcEnd) return snappyTruncated
      size = <usize>((tag >> 2) & 7) + 4
      offset = (<usize>(tag >> 5) << 8) | <usize>load<u8>(src)
      src += 1
    } else if (kind == 2) {
      if (src + 2 > srcEnd) return snappyTruncated
      size = <usize>(tag >> 2) + 1
      offset = <usize>load<u16>(src)
      src += 2
    } else {
      if (src + 4 > srcEnd) return snappyTruncated
      size = <usize>(tag >> 2) + 1
      offset = <usize>load<u32>(src)
      src += 4
    }
    if (offset == 0 || offset > dst - start) return snappyBadOffset
    if (size > dstEnd - dst) return snappyTruncated
    const from = dst - offset
    const end = dst + size
    if (end + 15 <= dstEnd) {
      // 16 bytes at a time, up to 15 past the end (overwritten next). A block is right for as many
      // bytes as it is far from `from`; a run closer than 16 first doubles its distance, block by block
      while (dst - from < 16 && dst < end) {
        v128.store(dst, v128.load(from))
        dst += dst - from
      }
      let read = from
      while (dst < end) {
        v128.store(dst, v128.load(read))
        dst += 16
        read += 16
      }
      dst = end
    } else if (offset >= size) {
      memory.copy(dst, from, size)
      dst = end
    } else {
      let read = from
      while (dst < end) store<u8>(dst++, load<u8>(read++))
    }
  }
  return dst == dstEnd ? snappyOk : snappyTruncated
}
