import type { KeyValue, SchemaElement } from 'hyparquet'
import type { Writable } from 'node:stream'
import { UsageError } from '../errors.js'
import { jsonlEncoding, openJsonlSink, sliceEncoded, type ColumnBatch, type EncodedRows, type JsonlEncoding } from './jsonl.js'
import { openParquetSink, type EncodedRowGroup, type ParquetLayout } from './parquet.js'
import { columnLength } from '../parquet/intList.js'

/** Anything rows can be written to. */
export interface RowSink {
  write(batch: ColumnBatch, rows?: ArrayLike<number>): Promise<void>
  /** JSONL sinks: append rows already encoded (on a decoding thread) with the sink's encoding. */
  writeEncoded?(rows: EncodedRows): Promise<void>
  /** JSONL sinks: the encoding rows given to {@link writeEncoded} must be encoded with. */
  readonly encoding?: JsonlEncoding
  /** Parquet sinks: append a row group encoded (on a decoding thread) against the sink's {@link layout}. */
  writeRowGroup?(group: EncodedRowGroup): Promise<void>
  /** Parquet sinks: what row groups given to {@link writeRowGroup} must be encoded against. */
  readonly layout?: ParquetLayout
  readonly rows: number
  close(): Promise<void>
  abort(): Promise<void>
}

/** Output formats. */
export type Format = 'jsonl' | 'parquet'

const extensions: [RegExp, Format][] = [[/\.parquet$/i, 'parquet'], [/\.jsonl(\.gz)?$/i, 'jsonl']]

/**
 * The format of an output: the explicit `--format`, else the one its file name implies (`-` or no
 * name: JSONL). A name whose extension says another format, or no known one without `--format`, is
 * a usage error rather than a file that lies about its content.
 */
export function formatOf(path: string, explicit?: string): Format {
  if (explicit !== undefined && explicit !== 'jsonl' && explicit !== 'parquet') throw new UsageError(`unknown --format '${explicit}': use jsonl or parquet`)
  const implied = extensions.find(([pattern]) => pattern.test(path))?.[1]
  if (explicit && implied && explicit !== implied) {
    throw new UsageError(`--format ${explicit} does not match -o ${path}: name the file .${explicit === 'parquet' ? 'parquet' : 'jsonl'} or drop --format`)
  }
  if (!explicit && !implied && path !== '-' && path !== '') {
    throw new UsageError(`cannot tell the format of -o ${path}: name it .jsonl, .jsonl.gz or .parquet (or - for stdout), or give --format jsonl|parquet`)
  }
  return explicit ?? implied ?? 'jsonl'
}

/** Options for {@link openSink}. */
export interface SinkOptions {
  path: string
  format: Format
  /** Columns to write, in order. */
  columns: string[]
  /** Source schema and metadata (Parquet output keeps the types). */
  schema: SchemaElement[]
  kvMetadata?: KeyValue[]
  /** JSONL: embed these JSON-text columns as nested JSON. */
  nestedJson?: string[]
  stdout?: Writable
}

/** Open a JSONL or Parquet sink. */
export async function openSink(options: SinkOptions): Promise<RowSink> {
  if (options.format === 'parquet') {
    if (options.path === '-') throw new UsageError('Parquet cannot be written to stdout: give -o FILE.parquet')
    return openParquetSink({ path: options.path, schema: options.schema, columns: options.columns, kvMetadata: options.kvMetadata })
  }
  return openJsonlSink({ ...jsonlEncoding(options.schema, options.columns, options.nestedJson), path: options.path, stdout: options.stdout })
}

/** Options for {@link rollingSink}. */
export interface RollingOptions {
  /** Open part number `part` (0, 1, …). */
  open(part: number): Promise<RowSink & { bytes?: number }>
  maxRows?: number
  maxBytes?: number
  /**
   * The sink's byte count is exact after every write (JSONL), so `maxBytes` is checked before every
   * row; otherwise (Parquet: a write is a row group) only between batches.
   */
  exactBytes?: boolean
}

/** A sink that starts a new part when the current one reaches `maxRows` rows or `maxBytes` bytes. */
export function rollingSink(options: RollingOptions): RowSink & { parts: number } {
  let current: (RowSink & { bytes?: number }) | undefined
  let parts = 0
  let rows = 0
  const full = () => current !== undefined && (
    (options.maxRows !== undefined && current.rows >= options.maxRows) ||
    (options.maxBytes !== undefined && (current.bytes ?? 0) >= options.maxBytes))
  /** The part to write to: the current one, or the next once it is full. */
  async function openPart(): Promise<RowSink & { bytes?: number }> {
    if (!current || full()) {
      await current?.close()
      current = await options.open(parts++)
    }
    return current
  }
  /**
   * Rows [0, count) of one write, cut where a part is full. With `exactBytes` the byte cap is checked
   * before every row: row by row, or at once when `rowBytes` tells each row's size (encoded rows).
   */
  async function writeParts(count: number, rowBytes: ((row: number) => number) | undefined, writePart: (sink: RowSink, from: number, to: number) => Promise<void>): Promise<void> {
    let offset = 0
    while (offset < count) {
      const current = await openPart()
      let to = Math.min(count, offset + Math.max(1, options.maxRows !== undefined ? options.maxRows - current.rows : count))
      if (options.maxBytes !== undefined && options.exactBytes) {
        if (!rowBytes) to = offset + 1
        else {
          // the part takes rows until its size first reaches the cap, as row-by-row writes would
          let size = current.bytes ?? 0
          for (let row = offset; row < to; row++) {
            size += rowBytes(row)
            if (size >= options.maxBytes) {
              to = row + 1
              break
            }
          }
        }
      }
      await writePart(current, offset, to)
      rows += to - offset
      offset = to
    }
  }
  return {
    get rows() { return rows },
    get parts() { return parts },
    async write(batch, selected) {
      const all = selected ?? Array.from({ length: columnLength(Object.values(batch.columns)[0] ?? []) }, (_, i) => i)
      await writeParts(all.length, undefined, (sink, from, to) => sink.write(batch, Array.prototype.slice.call(all, from, to) as number[]))
    },
    async writeRowGroup(group) {
      // a row group is not cut: a new part starts between them, as between batches
      if (options.maxRows !== undefined) throw new Error('internal: encoded row groups for parts capped by rows')
      const sink = await openPart()
      if (!sink.writeRowGroup) throw new Error('internal: a Parquet row group for a sink that does not take one')
      await sink.writeRowGroup(group)
      rows += group.rows
    },
    async writeEncoded(encoded) {
      const rowBytes = (row: number) => encoded.rowEnds[row]! - (row === 0 ? 0 : encoded.rowEnds[row - 1]!)
      await writeParts(encoded.rowEnds.length, rowBytes, (sink, from, to) => {
        if (!sink.writeEncoded) throw new Error('internal: encoded rows for a sink that does not take them')
        return sink.writeEncoded(sliceEncoded(encoded, from, to))
      })
    },
    async close() {
      await current?.close()
    },
    async abort() {
      await current?.abort()
    },
  }
}

