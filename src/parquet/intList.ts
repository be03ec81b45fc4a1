/**
 * A decoded list<int> column (`input_ids`, `labels`) kept flat: every row's values in one typed array,
 * cut by offsets. No JS array per row, no bigint per value, and it crosses threads by transfer.
 */

/** A list<int32> or list<int64> column: row `i` is `values[offsets[i] .. offsets[i + 1])`. */
export interface IntListColumn {
  kind: 'intList'
  /** The leaf's physical type in the file, which a Parquet writer must keep. */
  type: 'INT32' | 'INT64'
  /** `rows + 1` offsets into `values`. */
  offsets: Uint32Array
  /**
   * The values. INT64 values that all fit 32 bits (labels: token ids and -100) are held as Int32Array,
   * exact and half the size; any that does not keeps the column as BigInt64Array.
   */
  values: Int32Array | BigInt64Array
  /** 1 for a null row (absent when no row is null). */
  nulls?: Uint8Array
}

/** A decoded column: one JS value per row, or a flat list<int> column. */
export type Column = ArrayLike<unknown> | IntListColumn

/** Whether a column is a flat list<int> column. */
export function isIntList(column: Column | undefined): column is IntListColumn {
  return (column as IntListColumn | undefined)?.kind === 'intList'
}

/** Rows in a column. */
export function columnLength(column: Column): number {
  return isIntList(column) ? column.offsets.length - 1 : column.length
}

const textDecoder = new TextDecoder()

/** Text of a string cell (JS string or UTF-8 bytes), null when missing. */
export function cellText(value: unknown): string | null {
  return value instanceof Uint8Array ? textDecoder.decode(value) : value === null || value === undefined ? null : String(value)
}

/** Row `row` of a column; a list<int> row is a view of its values (no copy), or null. */
export function cellAt(column: Column | undefined, row: number): unknown {
  if (!isIntList(column)) return column?.[row]
  if (column.nulls?.[row]) return null
  return column.values.subarray(column.offsets[row]!, column.offsets[row + 1]!)
}

/** Number of values in row `row` of a list<int> column (0 for a null row). */
export function listLength(column: IntListColumn, row: number): number {
  return column.offsets[row + 1]! - column.offsets[row]!
}

/** The given rows of a list<int> column, as a new compact column. */
export function takeRows(column: IntListColumn, rows: ArrayLike<number>): IntListColumn {
  const offsets = new Uint32Array(rows.length + 1)
  for (let k = 0; k < rows.length; k++) offsets[k + 1] = offsets[k]! + listLength(column, rows[k]!)
  const values = column.values instanceof Int32Array ? new Int32Array(offsets[rows.length]!) : new BigInt64Array(offsets[rows.length]!)
  const nulls = column.nulls && new Uint8Array(rows.length)
  for (let k = 0; k < rows.length; k++) {
    const row = rows[k]!
    values.set(column.values.subarray(column.offsets[row]!, column.offsets[row + 1]!) as never, offsets[k]!)
    if (nulls) nulls[k] = column.nulls![row]!
  }
  return { kind: 'intList', type: column.type, offsets, values, ...(nulls ? { nulls } : {}) }
}

/** The buffers of a batch's list<int> columns, to transfer (not copy) to another thread. */
export function transferables(columns: Record<string, Column> | undefined): ArrayBuffer[] {
  const buffers = new Set<ArrayBuffer>()
  for (const column of Object.values(columns ?? {})) {
    if (!isIntList(column)) continue
    for (const array of [column.offsets, column.values, column.nulls]) if (array) buffers.add(array.buffer as ArrayBuffer)
  }
  return [...buffers]
}
