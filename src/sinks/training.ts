import { convertRow, type ConversionStats, type ConvertOptions } from '../sft/convert.js'
import { openJsonlSink, type ColumnBatch } from './jsonl.js'
import type { RowSink } from './output.js'
import { cellAt, columnLength } from '../parquet/intList.js'

/** A sink that converts trajectory rows to a training format, counting what each step changed or rejected. */
export interface TrainingSink extends RowSink {
  readonly bytes: number
  readonly stats: ConversionStats
}

const textDecoder = new TextDecoder()

/** Text of a string cell (JS string or UTF-8 bytes), null when missing. */
export function cellText(value: unknown): string | null {
  return value instanceof Uint8Array ? textDecoder.decode(value) : value === null || value === undefined ? null : String(value)
}

/** Open a JSONL sink of training records; `stats` accumulates over every sink given the same object. */
export async function openTrainingSink(options: { path: string, convert: ConvertOptions, stats: ConversionStats }): Promise<TrainingSink> {
  const sink = await openJsonlSink({ path: options.path, columns: [] })
  const { stats } = options
  return {
    get rows() { return sink.rows },
    get bytes() { return sink.bytes },
    stats,
    async write(batch: ColumnBatch, rows?: ArrayLike<number>) {
      const records: unknown[] = []
      const count = rows ? rows.length : (batch.columns.messages ? columnLength(batch.columns.messages) : 0)
      for (let k = 0; k < count; k++) {
        const row = rows ? rows[k]! : k
        const id = cellText(cellAt(batch.columns.trajectory_id, row)) ?? undefined
        const record = convertRow(cellText(cellAt(batch.columns.messages, row)), cellText(cellAt(batch.columns.tools, row)), id, options.convert, stats)
        if (record) records.push(record)
      }
      await sink.writeRecords(records)
    },
    close: () => sink.close(),
    abort: () => sink.abort(),
  }
}
