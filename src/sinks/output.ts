import type { KeyValue, SchemaElement } from 'hyparquet'
import type { Writable } from 'node:stream'
import { UsageError } from '../errors.js'
import { openJsonlSink, type ColumnBatch } from './jsonl.js'
import { openParquetSink } from './parquet.js'

/** Anything rows can be written to. */
export interface RowSink {
  write(batch: ColumnBatch, rows?: ArrayLike<number>): Promise<void>
  readonly rows: number
  close(): Promise<void>
  abort(): Promise<void>
}

/** Output formats. */
export type Format = 'jsonl' | 'parquet'

/** The format an output path implies, or the explicit one. */
export function formatOf(path: string, explicit?: string): Format {
  const format = explicit ?? (/\.parquet$/i.test(path) ? 'parquet' : 'jsonl')
  if (format !== 'jsonl' && format !== 'parquet') throw new UsageError(`unknown --format '${format}': use jsonl or parquet`)
  return format
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
  return openJsonlSink({ path: options.path, columns: options.columns, nestedJson: options.nestedJson, stdout: options.stdout })
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
  return {
    get rows() { return rows },
    get parts() { return parts },
    async write(batch, selected) {
      const all = selected ?? Array.from({ length: (Object.values(batch.columns)[0]?.length ?? 0) }, (_, i) => i)
      let offset = 0
      while (offset < all.length) {
        if (!current || full()) {
          await current?.close()
          current = await options.open(parts++)
        }
        const room = options.maxBytes !== undefined && options.exactBytes ? 1
          : options.maxRows !== undefined ? options.maxRows - current.rows : all.length
        const take = Array.prototype.slice.call(all, offset, offset + Math.max(1, room)) as number[]
        await current.write(batch, take)
        rows += take.length
        offset += take.length
      }
    },
    async close() {
      await current?.close()
    },
    async abort() {
      await current?.abort()
    },
  }
}
