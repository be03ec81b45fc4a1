/**
 * The RLE / bit-packed hybrid encoding of levels and dictionary indexes, decoded into typed arrays:
 * runs become one `fill`, and the output is only ever a Uint8Array or a Uint32Array, so the loops stay
 * fast (hyparquet's decoder serves every output type and slows down once it has seen several).
 */

/**
 * Decode `out.length` values of `bitWidth` bits (at most 32) from `bytes[offset, offset + length)`.
 * Returns the value when every run repeated that one value (a page's levels with no null or empty
 * list, as a rule), else -1: a caller can then skip looking at each level.
 */
export function readHybrid(bytes: Uint8Array, offset: number, length: number, bitWidth: number, out: Uint8Array | Uint32Array): number {
  const end = offset + length
  const valueBytes = (bitWidth + 7) >> 3
  let at = offset
  let seen = 0
  // -2 before the first run
  let repeated = -2
  while (seen < out.length && at < end) {
    let header = 0
    let shift = 0
    let byte: number
    do {
      byte = bytes[at++]!
      header |= (byte & 0x7f) << shift
      shift += 7
    } while (byte & 0x80)
    if (header & 1) {
      // bit-packed: groups of 8 values, least significant bits first
      const groups = header >>> 1
      const stop = Math.min(groups * 8, out.length - seen)
      if (bitWidth <= 8) unpackNarrow(bytes, at, end, bitWidth, out, seen, stop)
      else unpackWide(bytes, at, bitWidth, out, seen, stop)
      seen += stop
      at += groups * bitWidth
      repeated = -1
    } else {
      let value = 0
      for (let i = 0; i < valueBytes; i++) value |= bytes[at + i]! << (8 * i)
      at += valueBytes
      const stop = Math.min(seen + (header >>> 1), out.length)
      out.fill(value >>> 0, seen, stop)
      seen = stop
      repeated = repeated === -2 || repeated === value >>> 0 ? value >>> 0 : -1
    }
  }
  if (seen < out.length) throw new Error(`parquet levels end after ${seen} of ${out.length} values`)
  return repeated < 0 ? -1 : repeated
}

/** Bit-packed values of at most 8 bits: each lies within two bytes. */
function unpackNarrow(bytes: Uint8Array, at: number, end: number, bitWidth: number, out: Uint8Array | Uint32Array, seen: number, count: number): void {
  const mask = (1 << bitWidth) - 1
  for (let i = 0, bit = at * 8; i < count; i++, bit += bitWidth) {
    const index = bit >> 3
    const word = bytes[index]! | (index + 1 < end ? bytes[index + 1]! << 8 : 0)
    out[seen + i] = (word >> (bit & 7)) & mask
  }
}

/** Bit-packed values of 9 to 32 bits, gathered a byte at a time. */
function unpackWide(bytes: Uint8Array, at: number, bitWidth: number, out: Uint8Array | Uint32Array, seen: number, count: number): void {
  for (let i = 0, bit = at * 8; i < count; i++) {
    let value = 0
    for (let got = 0; got < bitWidth;) {
      const inByte = bit & 7
      const take = Math.min(8 - inByte, bitWidth - got)
      value |= ((bytes[bit >> 3]! >> inByte) & ((1 << take) - 1)) << got
      got += take
      bit += take
    }
    out[seen + i] = value >>> 0
  }
}
