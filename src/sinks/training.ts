import { convertTrajectory, type Rejection, type TrainingFormat } from '../trajectory/formats.js'
import { openJsonlSink, type ColumnBatch } from './jsonl.js'
import type { RowSink } from './output.js'

/** A sink that converts trajectory rows to a training format and counts the rows the validator rejects. */
export interface TrainingSink extends RowSink {
  readonly bytes: number
  readonly rejected: Partial<Record<Rejection, number>>
}

const textDecoder = new TextDecoder()

/** Open a JSONL sink of training records (`openai` or `sharegpt`). */
export async function openTrainingSink(options: { path: string, format: TrainingFormat, rejected?: Partial<Record<Rejection, number>> }): Promise<TrainingSink> {
  const sink = await openJsonlSink({ path: options.path, columns: [] })
  const rejected = options.rejected ?? {}
  const text = (value: unknown) => (value instanceof Uint8Array ? textDecoder.decode(value) : value === null || value === undefined ? null : String(value))
  return {
    get rows() { return sink.rows },
    get bytes() { return sink.bytes },
    rejected,
    async write(batch: ColumnBatch, rows?: ArrayLike<number>) {
      const records: unknown[] = []
      const count = rows ? rows.length : (batch.columns.messages?.length ?? 0)
      for (let k = 0; k < count; k++) {
        const row = rows ? rows[k]! : k
        const messages = text(batch.columns.messages?.[row])
        const id = text(batch.columns.trajectory_id?.[row]) ?? undefined
        const conversion = messages === null
          ? { rejected: 'unparseable_messages' as const }
          : convertTrajectory(messages, text(batch.columns.tools?.[row]), options.format, id)
        if ('record' in conversion) records.push(conversion.record)
        else rejected[conversion.rejected] = (rejected[conversion.rejected] ?? 0) + 1
      }
      await sink.writeRecords(records)
    },
    close: () => sink.close(),
    abort: () => sink.abort(),
  }
}
