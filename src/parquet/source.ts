import { open, type FileHandle } from 'node:fs/promises'
import type { AsyncBuffer } from 'hyparquet'
import type { MemoryBudget } from '../fetch/budget.js'
import { heldBytes, type Range } from '../fetch/spans.js'

/** Random-access bytes of one Parquet file (hyparquet's AsyncBuffer), local or remote. */
export interface ByteSource extends AsyncBuffer {
  name: string
  /** Network bytes fetched for this file so far (remote sources only). */
  bytesFetched?(): number
  /** Bytes one round trip to this source is worth (remote sources): a file that small is read whole with its footer. */
  roundTripBytes?(): number
  /** Reading a range twice is cheap (a local file in the page cache), so huge row groups may be read in slices. */
  cheapRereads?: boolean
  /** Start reading `ranges` and keep their bytes until released (see fetch/spans.ts); false if a speculative hold found no room. */
  hold?(ranges: Range[], options?: { speculative?: boolean }): boolean
  /** Drop held bytes inside `ranges` (all when omitted). */
  release?(ranges?: Range[]): void
  /** The held bytes of exactly [start, end), handed over uncopied and no longer held; undefined if not held so. */
  take?(start: number, end: number): Promise<ArrayBuffer> | undefined
  /** The held spans that overlap [start, end), in order (see fetch/spans.ts). */
  heldSpans?(start: number, end: number): Range[]
  close?(): Promise<void>
}

/** A ByteSource that can hold bytes for reuse. */
export type HeldSource = ByteSource & Required<Pick<ByteSource, 'hold' | 'release' | 'take' | 'heldSpans'>>

/** `source` with held spans (answers reads from them first), counted against `budget`; as is when it already holds. */
export function withHeldBytes(source: ByteSource, budget?: MemoryBudget): HeldSource {
  if (source.hold && source.release && source.take && source.heldSpans) return source as HeldSource
  const held = heldBytes(source, budget)
  return {
    name: source.name,
    byteLength: source.byteLength,
    cheapRereads: source.cheapRereads,
    bytesFetched: source.bytesFetched && (() => source.bytesFetched!()),
    roundTripBytes: source.roundTripBytes && (() => source.roundTripBytes!()),
    slice: held.slice,
    hold: held.hold,
    release: held.release,
    take: held.take,
    heldSpans: held.heldSpans,
    close: async () => {
      held.release()
      await source.close?.()
    },
  }
}

/**
 * A local file as a ByteSource. Each slice is one positional read into one buffer (hyparquet's
 * asyncBufferFromFile joins stream chunks, copying every slice twice).
 */
export async function fileSource(path: string): Promise<ByteSource & { close(): Promise<void> }> {
  let handle: FileHandle | undefined = await open(path, 'r')
  const { size } = await handle.stat()
  return {
    name: path,
    byteLength: size,
    cheapRereads: true,
    async slice(start: number, end = size) {
      if (!handle) throw new Error(`${path}: read after close`)
      const length = Math.max(0, Math.min(end, size) - start)
      const buffer = new ArrayBuffer(length)
      let offset = 0
      while (offset < length) {
        const { bytesRead } = await handle.read(new Uint8Array(buffer, offset), 0, length - offset, start + offset)
        if (bytesRead === 0) break
        offset += bytesRead
      }
      return buffer
    },
    async close() {
      await handle?.close()
      handle = undefined
    },
  }
}
