import { sliceEncoded, type ColumnBatch } from '../sinks/jsonl.js'
import type { RowSink } from '../sinks/output.js'
import type { Side } from './valSplit.js'
import { cellAt, cellText, columnLength } from '../parquet/intList.js'

/**
 * One sink per side (train / val): each row, or encoded training example (by its key), goes to the
 * side the plan gave its trajectory_id. A side's sink opens only when a row goes to it.
 */
export function sideRouter(sides: Map<string, Side>, sinks: Record<Side, RowSink>): RowSink {
  let rows = 0
  return {
    get rows() { return rows },
    async write(batch: ColumnBatch, selected?: ArrayLike<number>) {
      const all = selected ?? Array.from({ length: batch.columns.trajectory_id ? columnLength(batch.columns.trajectory_id) : 0 }, (_, i) => i)
      const bySide: Record<Side, number[]> = { train: [], val: [] }
      for (let k = 0; k < all.length; k++) {
        const row = all[k]!
        bySide[sides.get(cellText(cellAt(batch.columns.trajectory_id, row)) ?? '') ?? 'train'].push(row)
      }
      for (const side of ['train', 'val'] as const) if (bySide[side].length) await sinks[side].write(batch, bySide[side])
      rows += all.length
    },
    async writeEncoded(encoded) {
      const { keys } = encoded
      if (!keys) throw new Error('internal: encoded rows without keys cannot be routed')
      const sideAt = (line: number): Side => sides.get(keys[line]!) ?? 'train'
      // runs of lines on one side, in order
      for (let from = 0; from < keys.length;) {
        const side = sideAt(from)
        let to = from + 1
        while (to < keys.length && sideAt(to) === side) to++
        const sink = sinks[side]
        if (!sink.writeEncoded) throw new Error('internal: encoded rows for a sink that does not take them')
        await sink.writeEncoded(sliceEncoded(encoded, from, to))
        from = to
      }
      rows += keys.length
    },
    async close() {
      await sinks.train.close()
      await sinks.val.close()
    },
    async abort() {
      await sinks.train.abort()
      await sinks.val.abort()
    },
  }
}
