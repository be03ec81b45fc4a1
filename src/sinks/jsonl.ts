import type { SchemaElement } from 'hyparquet'
import type { Writable } from 'node:stream'
import { finished } from 'node:stream/promises'
import { createGzip } from 'node:zlib'
import { fieldSubtrees } from '../parquet/schema.js'
import { openAtomicFile, type AtomicFile } from './atomicFile.js'
import { byteBuffer, writeAscii, writeBytes, writeJsonStringBytes, writeJsonValue, type ByteBuffer } from './json.js'
import { giveSpares, takeSpare } from './spareChunks.js'
import { cellAt, columnLength, type Column } from '../parquet/intList.js'

/** Columns of a decoded row group (or slice), keyed by column name, all of the same length. */
export interface ColumnBatch {
  columns: Record<string, Column>
}

/** Options for {@link openJsonlSink}. */
export interface JsonlSinkOptions extends JsonlEncoding {
  /** Output file; `-` writes to `stdout`. A `.gz` suffix compresses. */
  path: string
  stdout?: Writable
}

/**
 * Rows already encoded as JSON lines (on a decoding thread): the bytes in chunks of a few MB (no line
 * spans two), and where each row's line ends, counted over the chunks one after another.
 */
export interface EncodedRows {
  chunks: Uint8Array[]
  rowEnds: Uint32Array
  /** Training examples: the trajectory_id of each line, for routing them to train/ and val/. */
  keys?: string[]
}

/**
 * How rows become JSON lines: the columns in order, which hold JSON text to nest, and which are
 * floating point. Plain data, so a decoding thread encodes exactly as the sink would.
 */
export interface JsonlEncoding {
  /** Column names, in output order (the source schema order). */
  columns: string[]
  /** Columns holding JSON text to embed as nested JSON rather than as strings (`--parse-json`). */
  nestedJson?: string[]
  /**
   * FLOAT/DOUBLE columns: whole values are written `1.0`, not `1`, so JSON readers that infer a
   * column's type from its values (pyarrow, `datasets.load_dataset("json")`) see a float column
   * from the first row, by the Parquet type rather than by the value.
   */
  floatColumns?: string[]
}

/** The encoding of `columns` of a file with `schema` (see {@link JsonlEncoding}). */
export function jsonlEncoding(schema: SchemaElement[], columns: string[], nestedJson?: string[]): JsonlEncoding {
  const floats = fieldSubtrees(schema).map(([field]) => field!).filter((field) => field.type === 'FLOAT' || field.type === 'DOUBLE').map((field) => field.name)
  return { columns, nestedJson, floatColumns: columns.filter((name) => floats.includes(name)) }
}

/** Writes rows as JSON lines; a file only appears under its final name once closed. */
export interface JsonlSink {
  /** Append the given rows of a batch (all rows when omitted), in order. */
  write(batch: ColumnBatch, rows?: ArrayLike<number>): Promise<void>
  /**
   * Append rows encoded elsewhere with the same encoding (see {@link encodeJsonlRows}). When it
   * resolves, the stream has taken the chunks' bytes: their buffers may be filled again.
   */
  writeEncoded(rows: EncodedRows): Promise<void>
  /** Rows written so far. */
  readonly rows: number
  /** JSON bytes written so far (before any compression). */
  readonly bytes: number
  /** Finish: flush, close and rename into place. */
  close(): Promise<void>
  /** Give up: remove the temporary file. */
  abort(): Promise<void>
  /** What {@link encodeJsonlRows} must be given for rows that {@link writeEncoded} takes. */
  readonly encoding: JsonlEncoding
}

const flushThreshold = 4 * 1024 * 1024
const textEncoder = new TextEncoder()

/** A function writing one row of `columns` as a JSON line into `out`. */
export function jsonlRowWriter(encoding: JsonlEncoding): (out: ByteBuffer, columns: Record<string, Column | undefined>, row: number) => void {
  const prefixes = encoding.columns.map((name, i) => textEncoder.encode(`${i === 0 ? '{' : ','}${JSON.stringify(name)}:`))
  const kinds = encoding.columns.map((name): CellKind =>
    encoding.nestedJson?.includes(name) ? 'nested' : encoding.floatColumns?.includes(name) ? 'float' : 'value')
  return (out, columns, row) => {
    for (let c = 0; c < encoding.columns.length; c++) {
      writeBytes(out, prefixes[c]!)
      writeCell(out, cellAt(columns[encoding.columns[c]!], row), kinds[c]!)
    }
    writeAscii(out, '}\n')
  }
}

/** Encoded chunks are closed once they pass this size: one buffer per piece would double (and copy) as it grows. */
const encodedChunkBytes = 4 * 1024 * 1024

/** Encode the given rows of a batch as JSON lines, byte-identical to what a sink writes for them. */
export function encodeJsonlRows(batch: ColumnBatch, rows: ArrayLike<number>, encoding: JsonlEncoding): EncodedRows {
  const writeRow = jsonlRowWriter(encoding)
  return encodeLines(rows.length, (out, k) => writeRow(out, batch.columns, rows[k]!))
}

/** Encode whole records (training examples) as JSON lines, one `JSON.stringify` each. */
export function encodeJsonlRecords(records: unknown[]): EncodedRows {
  return encodeLines(records.length, (out, k) => writeBytes(out, textEncoder.encode(JSON.stringify(records[k]) + '\n')))
}

/** `count` lines, line `k` written by `writeLine(out, k)`, into chunks of about {@link encodedChunkBytes}. */
function encodeLines(count: number, writeLine: (out: ByteBuffer, k: number) => void): EncodedRows {
  const chunks: Uint8Array[] = []
  // room for a chunk and the row that crosses its end, so that few rows make the buffer grow
  const capacity = encodedChunkBytes + (encodedChunkBytes >> 2)
  const fresh = (): ByteBuffer => {
    const spare = takeSpare(capacity)
    return spare ? { bytes: new Uint8Array(spare), length: 0 } : byteBuffer(capacity)
  }
  let out = fresh()
  let before = 0
  const rowEnds = new Uint32Array(count)
  for (let k = 0; k < count; k++) {
    writeLine(out, k)
    rowEnds[k] = before + out.length
    if (out.length >= encodedChunkBytes) {
      chunks.push(out.bytes.subarray(0, out.length))
      before += out.length
      out = fresh()
    }
  }
  if (out.length) chunks.push(out.bytes.subarray(0, out.length))
  else giveSpares([out.bytes.buffer as ArrayBuffer])
  return { chunks, rowEnds }
}

/** Rows [from, to) of encoded rows (views of the same chunks). */
export function sliceEncoded(encoded: EncodedRows, from: number, to: number): EncodedRows {
  const base = from === 0 ? 0 : encoded.rowEnds[from - 1]!
  const end = to === 0 ? 0 : encoded.rowEnds[to - 1]!
  const chunks: Uint8Array[] = []
  let chunkStart = 0
  for (const chunk of encoded.chunks) {
    const chunkEnd = chunkStart + chunk.length
    if (chunkEnd > base && chunkStart < end) chunks.push(chunk.subarray(Math.max(0, base - chunkStart), Math.min(chunk.length, end - chunkStart)))
    chunkStart = chunkEnd
  }
  return { chunks, rowEnds: encoded.rowEnds.subarray(from, to).map((rowEnd) => rowEnd - base), keys: encoded.keys?.slice(from, to) }
}

/** Open a JSONL sink. */
export async function openJsonlSink(options: JsonlSinkOptions): Promise<JsonlSink> {
  const file: AtomicFile | undefined = options.path === '-' ? undefined : await openAtomicFile(options.path)
  const gzip = file && options.path.endsWith('.gz') ? createGzip({ level: 6 }) : undefined
  if (gzip && file) {
    gzip.pipe(file.stream, { end: false })
    file.stream.once('error', (error) => gzip.destroy(error))
    // the file's error, which a write, the drain wait or close reports: not an unhandled 'error' event
    // when it comes while none of them is listening (a full disk found between two writes)
    gzip.on('error', () => {})
  }
  const target: Writable = gzip ?? file?.stream ?? options.stdout ?? process.stdout
  const encoding: JsonlEncoding = { columns: options.columns, nestedJson: options.nestedJson, floatColumns: options.floatColumns }
  const writeRow = jsonlRowWriter(encoding)
  let out = byteBuffer(flushThreshold * 2)
  let rows = 0
  let bytes = 0

  async function flush(): Promise<void> {
    if (out.length === 0) return
    const chunk = out.bytes.subarray(0, out.length)
    bytes += chunk.length
    out = byteBuffer(flushThreshold * 2)
    if (!target.write(chunk)) await waitForDrain(target)
  }

  return {
    encoding,
    get rows() { return rows },
    get bytes() { return bytes },
    async write(batch, selected) {
      const first = batch.columns[options.columns[0]!]
      const count = selected ? selected.length : (first ? columnLength(first) : 0)
      for (let k = 0; k < count; k++) {
        writeRow(out, batch.columns, selected ? selected[k]! : k)
        rows++
        if (out.length >= flushThreshold) await flush()
      }
      await flush()
    },
    async writeEncoded(encoded) {
      await flush()
      rows += encoded.rowEnds.length
      // write callbacks come in order: the last one says that every chunk has been taken
      let taken = Promise.resolve()
      for (const chunk of encoded.chunks) {
        bytes += chunk.length
        if (chunk.length === 0) continue
        let accepted = true
        taken = new Promise((resolve, reject) => { accepted = target.write(chunk, (error) => (error ? reject(error) : resolve())) })
        // an earlier chunk's failure is the stream's error, which the last callback or the drain wait reports
        taken.catch(() => {})
        if (!accepted) await waitForDrain(target)
      }
      await taken
    },
    async close() {
      await flush()
      if (gzip) {
        gzip.end()
        await finished(gzip)
      }
      await file?.commit()
    },
    async abort() {
      gzip?.destroy()
      await file?.abort()
    },
  }
}

/** How a column's cells are written: spliced JSON text, a float, or any other value. */
type CellKind = 'nested' | 'float' | 'value'

function writeCell(out: ByteBuffer, value: unknown, kind: CellKind): void {
  if (kind === 'float' && typeof value === 'number' && Number.isInteger(value)) {
    // Number.isInteger is false for NaN and ±Infinity (written null); 1e21 and above print as 1e+21, already a float
    writeAscii(out, Math.abs(value) < 1e21 ? `${value}.0` : String(value))
  } else if (kind === 'nested' && value !== null && value !== undefined) {
    // the cell already is JSON text: splice it in as it is
    writeBytes(out, value instanceof Uint8Array ? value : textEncoder.encode(String(value)))
  } else if (value instanceof Uint8Array) {
    writeJsonStringBytes(out, value)
  } else {
    writeJsonValue(out, value)
  }
}

function waitForDrain(stream: Writable): Promise<void> {
  if (stream.errored) return Promise.reject(stream.errored)
  return new Promise((resolve, reject) => {
    const onError = (error: Error) => { stream.off('drain', onDrain); reject(error) }
    const onDrain = () => { stream.off('error', onError); resolve() }
    stream.once('drain', onDrain)
    stream.once('error', onError)
  })
}
