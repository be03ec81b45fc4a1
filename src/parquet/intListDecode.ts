/**
 * Decode the pages of a list<int> column chunk straight into an {@link IntListColumn}: levels are read
 * into reused byte arrays, a page's values for the wanted rows are copied in one block, and no JS value
 * is made per row or per element. What this does not cover (null elements, encodings other than
 * PLAIN, dictionary and DELTA_BINARY_PACKED, non-list schemas) is left to hyparquet: the caller falls back.
 */
import type { CompressionCodec, Compressors, Encoding, PageHeader, SchemaElement } from 'hyparquet'
import { parquetHeader } from 'hyparquet/src/column.js'
import { decompressPage } from 'hyparquet/src/datapage.js'
import { deltaBinaryUnpack } from 'hyparquet/src/delta.js'
import type { IntListColumn } from './intList.js'
import { readHybrid } from './levels.js'
import { arenaBytes, inArena } from '../wasm/kernels.js'

/** Where a column's values sit in the Dremel levels of a three-level list<int> (see {@link intListLayout}). */
export interface IntListLayout {
  type: 'INT32' | 'INT64'
  /** Definition level of a value. */
  valueDef: number
  /** Definition level of an empty list; below it the row is null, between the two an element is null. */
  emptyDef: number
}

// integer leaves hyparquet would return unconverted: signed, no date, time or decimal meaning
const plainIntTypes = new Set([undefined, 'INT_8', 'INT_16', 'INT_32', 'INT_64'])

/** The layout of top-level column `column` when it is a standard list of signed int32/int64, else undefined. */
export function intListLayout(schema: SchemaElement[], column: string): IntListLayout | undefined {
  let i = 1
  while (i < schema.length && schema[i]!.name !== column) i = skipSubtree(schema, i)
  const [top, middle, leaf] = [schema[i], schema[i + 1], schema[i + 2]]
  if (!top || !middle || !leaf || top.num_children !== 1 || middle.num_children !== 1 || leaf.num_children) return undefined
  const isList = top.converted_type === 'LIST' || top.logical_type?.type === 'LIST'
  const leafLogical = leaf.logical_type
  const signed = !leafLogical || (leafLogical.type === 'INTEGER' && leafLogical.isSigned)
  if (!isList || top.repetition_type === 'REPEATED' || middle.repetition_type !== 'REPEATED' || leaf.repetition_type === 'REPEATED') return undefined
  if ((leaf.type !== 'INT32' && leaf.type !== 'INT64') || !plainIntTypes.has(leaf.converted_type) || !signed) return undefined
  const emptyDef = top.repetition_type === 'OPTIONAL' ? 1 : 0
  return { type: leaf.type, emptyDef, valueDef: emptyDef + 1 + (leaf.repetition_type === 'OPTIONAL' ? 1 : 0) }
}

function skipSubtree(schema: SchemaElement[], index: number): number {
  let pending = 1
  let i = index
  while (pending > 0) pending += (schema[i++]!.num_children ?? 0) - 1
  return i
}

/** The pages of a chunk to decode, and which of their rows to keep. */
export interface IntListPages {
  /** Byte runs of whole pages, in file order (a dictionary page first, when there is one). */
  segments: Uint8Array[]
  codec: CompressionCodec
  /** Rows [start, end) to keep, counted from the first data page in `segments`. */
  start: number
  end: number
  /** Rows the segments hold in all (sizes the output before the first page is read). */
  rows: number
}

/** Thrown for what the fast path does not cover: the caller decodes the column with hyparquet. */
class Unsupported extends Error {}
/** An INT64 value outside 32 bits: the column is decoded again into a BigInt64Array. */
class Overflow extends Error {}

/** Decode rows of a list<int> column chunk, or undefined when the chunk needs hyparquet's general path. */
export function decodeIntList(pages: IntListPages, layout: IntListLayout, compressors: Compressors): IntListColumn | undefined {
  try {
    try {
      return decode(pages, layout, compressors, false)
    } catch (error) {
      if (error instanceof Overflow) return decode(pages, layout, compressors, true)
      throw error
    }
  } catch (error) {
    if (error instanceof Unsupported) return undefined
    throw error
  }
}

type Ints = Int32Array | BigInt64Array

// level buffers, reused across pages and calls: a page's levels are all bytes (max level 3)
let repScratch = new Uint8Array(0)
let defScratch = new Uint8Array(0)

function decode({ segments, codec, start, end, rows }: IntListPages, layout: IntListLayout, compressors: Compressors, wide: boolean): IntListColumn {
  const count = end - start
  const offsets = new Uint32Array(count + 1)
  let nulls: Uint8Array | undefined
  // a whole chunk's value count is exact (plus empty and null rows); a slice's is estimated, and grown if short
  const total = totalValues(segments)
  let out: Ints = newInts(wide, count >= rows ? total : Math.ceil(total * count / rows * 1.05) + 1024)
  let n = 0
  let dictionary: Ints | undefined
  /** Index of the row being read (-1 before the first). */
  let row = -1
  let done = false

  for (const segment of segments) {
    const reader = { view: new DataView(segment.buffer, segment.byteOffset, segment.byteLength), offset: 0 }
    while (!done && reader.offset < segment.byteLength) {
      const header = parquetHeader(reader)
      const body = segment.subarray(reader.offset, reader.offset + header.compressed_page_size)
      reader.offset += header.compressed_page_size
      if (header.type === 'DICTIONARY_PAGE') {
        const page = decompressPage(body, header.uncompressed_page_size, codec, compressors)
        dictionary = readValues(page, 'PLAIN', layout.type, header.dictionary_page_header!.num_values, undefined, wide)
      } else if (header.type === 'DATA_PAGE' || header.type === 'DATA_PAGE_V2') {
        const v2 = header.data_page_header_v2
        // a V2 page starts a row: pages outside the wanted rows are not decompressed
        if (v2 && row + 1 >= end) done = true
        else if (v2 && row + 1 + v2.num_rows <= start) row += v2.num_rows
        else readPage(header, body)
      }
    }
  }
  offsets[count] = n
  // a slice's estimate may overshoot: trim so that a transfer does not carry the slack (the arena's values are not moved)
  const values = out.length - n > out.length / 16 && !inArena(out) ? out.slice(0, n) : out.subarray(0, n)
  return { kind: 'intList', type: layout.type, offsets, values, ...(nulls ? { nulls } : {}) }

  function readPage(header: PageHeader, body: Uint8Array): void {
    const v1 = header.data_page_header
    const v2 = header.data_page_header_v2
    const levels = v1?.num_values ?? v2!.num_values
    if (repScratch.length < levels) {
      repScratch = new Uint8Array(levels * 1.5)
      defScratch = new Uint8Array(levels * 1.5)
    }
    const rep = repScratch.subarray(0, levels)
    const def = defScratch.subarray(0, levels)
    let page: Uint8Array
    let valuesAt: number
    let encoding: Encoding
    let defRepeated: number
    if (v1) {
      if (v1.repetition_level_encoding !== 'RLE' || v1.definition_level_encoding !== 'RLE') throw new Unsupported()
      page = decompressPage(body, header.uncompressed_page_size, codec, compressors)
      // V1: each level run is prefixed by its length
      const view = new DataView(page.buffer, page.byteOffset, page.byteLength)
      const repLength = view.getUint32(0, true)
      readHybrid(page, 4, repLength, 1, rep)
      const defLength = view.getUint32(4 + repLength, true)
      defRepeated = readHybrid(page, 8 + repLength, defLength, bitWidth(layout.valueDef), def)
      valuesAt = 8 + repLength + defLength
      encoding = v1.encoding
    } else {
      const repLength = v2!.repetition_levels_byte_length
      const defLength = v2!.definition_levels_byte_length
      readHybrid(body, 0, repLength, 1, rep)
      defRepeated = readHybrid(body, repLength, defLength, bitWidth(layout.valueDef), def)
      page = body
      valuesAt = repLength + defLength
      encoding = v2!.encoding
    }

    // the page's values of wanted rows are one run [first, v): levels only place the row offsets
    let v = 0
    let first = row >= start && row < end ? 0 : -1
    if (defRepeated === layout.valueDef) {
      // no null or empty row in the page: every level is a value, and a row starts where rep is 0
      v = levels
      for (let i = rep.indexOf(0); i !== -1; i = rep.indexOf(0, i + 1)) {
        row++
        if (row >= end) {
          done = true
          v = i
          break
        }
        if (row >= start) {
          if (first < 0) first = i
          offsets[row - start] = n + i - first
        }
      }
    } else {
      for (let i = 0; i < levels; i++) {
        if (rep[i] === 0) {
          row++
          if (row >= end) {
            done = true
            break
          }
          if (row >= start) {
            if (first < 0) first = v
            offsets[row - start] = n + v - first
          }
        }
        const level = def[i]!
        if (level === layout.valueDef) v++
        else if (level < layout.emptyDef) {
          if (row >= start) (nulls ??= new Uint8Array(count))[row - start] = 1
        } else if (level !== layout.emptyDef) throw new Unsupported() // a null element
      }
    }
    if (first < 0 || v === first) return

    let data = page.subarray(valuesAt)
    if (v2 && v2.is_compressed !== false) {
      const levelBytes = v2.repetition_levels_byte_length + v2.definition_levels_byte_length
      data = decompressPage(data, header.uncompressed_page_size - levelBytes, codec, compressors)
    }
    if (n + v - first > out.length) {
      const grown = newInts(wide, Math.max(out.length * 2, n + v - first))
      grown.set(out.subarray(0, n) as never)
      out = grown
    }
    if (encoding === 'PLAIN' && out instanceof Int32Array) copyPlain(data, layout.type, first, v, out, n)
    else out.set(readValues(data, encoding, layout.type, v, dictionary, wide).subarray(first, v) as never, n)
    n += v - first
  }
}

/** Values in the data pages of `segments`, from their headers: the output's size for a whole chunk. */
function totalValues(segments: Uint8Array[]): number {
  let total = 0
  for (const segment of segments) {
    const reader = { view: new DataView(segment.buffer, segment.byteOffset, segment.byteLength), offset: 0 }
    while (reader.offset < segment.byteLength) {
      const header = parquetHeader(reader)
      reader.offset += header.compressed_page_size
      total += header.data_page_header?.num_values ?? header.data_page_header_v2?.num_values ?? 0
    }
  }
  return total
}

/** Room for `length` values: in the decode task's arena while it holds one (see wasm/kernels.ts), else a new array. */
function newInts(wide: boolean, length: number): Ints {
  const room = arenaBytes(length * (wide ? 8 : 4))
  if (!room) return wide ? new BigInt64Array(length) : new Int32Array(length)
  return wide ? new BigInt64Array(room.buffer, room.byteOffset, length) : new Int32Array(room.buffer, room.byteOffset, length)
}

function bitWidth(level: number): number {
  return 32 - Math.clz32(level)
}

/** The first `count` values of a page's value bytes, as Int32Array (INT64 narrowed) or, when `wide`, BigInt64Array. */
function readValues(bytes: Uint8Array, encoding: Encoding, type: IntListLayout['type'], count: number, dictionary: Ints | undefined, wide: boolean): Ints {
  if (encoding === 'PLAIN') {
    const width = type === 'INT32' ? 4 : 8
    if (bytes.length < count * width) throw new Error(`parquet page holds ${bytes.length} bytes, not ${count} ${type} values`)
    const aligned = aligned8(bytes.subarray(0, count * width))
    if (type === 'INT32') return new Int32Array(aligned.buffer, aligned.byteOffset, count)
    return wide ? new BigInt64Array(aligned.buffer, aligned.byteOffset, count) : narrow(new Int32Array(aligned.buffer, aligned.byteOffset, count * 2))
  }
  if (encoding === 'PLAIN_DICTIONARY' || encoding === 'RLE_DICTIONARY') {
    if (!dictionary) throw new Error('parquet dictionary-encoded page without a dictionary page')
    const indexes = new Uint32Array(count)
    const width = bytes[0]!
    if (width) readHybrid(bytes, 1, bytes.length - 1, width, indexes)
    const values = newInts(wide, count)
    for (let i = 0; i < count; i++) {
      const index = indexes[i]!
      if (index >= dictionary.length) throw new Error(`parquet dictionary index ${index} out of range`)
      values[i] = dictionary[index]!
    }
    return values
  }
  if (encoding === 'DELTA_BINARY_PACKED') {
    const values = newInts(type === 'INT64', count)
    deltaBinaryUnpack({ view: new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), offset: 0 }, count, values)
    return values instanceof Int32Array || wide ? values : narrow(new Int32Array(values.buffer, values.byteOffset, count * 2))
  }
  throw new Unsupported()
}

/**
 * PLAIN values [from, to) of a page's value bytes into `out` at `at`, straight from the page whatever
 * its alignment (a fresh buffer per page costs more than the copy); INT64 is narrowed, or
 * {@link Overflow} when a value does not fit.
 */
function copyPlain(bytes: Uint8Array, type: IntListLayout['type'], from: number, to: number, out: Int32Array, at: number): void {
  const width = type === 'INT32' ? 4 : 8
  if (bytes.length < to * width) throw new Error(`parquet page holds ${bytes.length} bytes, not ${to} ${type} values`)
  if (type === 'INT32') {
    new Uint8Array(out.buffer, out.byteOffset + at * 4, (to - from) * 4).set(bytes.subarray(from * 4, to * 4))
    return
  }
  const words = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  for (let i = from; i < to; i++) {
    const low = words.getInt32(8 * i, true)
    if (words.getInt32(8 * i + 4, true) !== low >> 31) throw new Overflow()
    out[at + i - from] = low
  }
}

/** `bytes`, copied when not 8-byte aligned (typed-array views need it; decompressed pages are, file slices need not be). */
function aligned8(bytes: Uint8Array): Uint8Array {
  return bytes.byteOffset % 8 === 0 ? bytes : bytes.slice()
}

/** Little-endian int64 words (as int32 pairs) to int32, or {@link Overflow} when one does not fit. */
function narrow(words: Int32Array): Int32Array {
  const values = new Int32Array(words.length / 2)
  for (let i = 0; i < values.length; i++) {
    const low = words[2 * i]!
    if (words[2 * i + 1] !== low >> 31) throw new Overflow()
    values[i] = low
  }
  return values
}
