import { createHash } from 'node:crypto'
import { open, type FileHandle } from 'node:fs/promises'

const blockSize = 4 * 1024 * 1024
const catchUpBlockSize = 1024 * 1024

/** sha256 of a file, read in large positional blocks on the calling thread. */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256')
  const handle = await open(path, 'r')
  try {
    const block = Buffer.allocUnsafe(blockSize)
    for (let position = 0; ;) {
      const { bytesRead } = await handle.read(block, 0, blockSize, position)
      if (bytesRead === 0) break
      hash.update(block.subarray(0, bytesRead))
      position += bytesRead
    }
  } finally {
    await handle.close()
  }
  return hash.digest('hex')
}

/** sha256 of a file written out of order, computed while it is written. */
export interface OrderedHasher {
  /** Report that `chunks` were just written to the file at `offset`. */
  wrote(chunks: Buffer[], offset: number): void
  /** Hash whatever is left (every byte must be written by now) and return the hex digest. */
  digest(): Promise<string>
}

/**
 * Hash a file whose ranges are written in parallel, so the digest is ready moments after the last
 * byte lands instead of needing a second pass over the whole file. Bytes that continue the hashed
 * prefix are hashed straight from the written buffers; bytes written ahead of it are read back from
 * the file (the page cache) once the prefix reaches them. `writtenEnd(position)` tells where the
 * bytes known to be on disk from `position` onwards end (`position` itself when none are).
 */
export function orderedHasher(handle: FileHandle, size: number, writtenEnd: (position: number) => number): OrderedHasher {
  const hash = createHash('sha256')
  let position = 0
  let block: Buffer | undefined
  // one step at a time, in the order the writes were reported; the first error is kept for digest()
  let queue: Promise<void> = Promise.resolve()
  let failure: unknown

  async function catchUp(): Promise<void> {
    for (let end = writtenEnd(position); end > position; end = writtenEnd(position)) {
      block ??= Buffer.allocUnsafe(catchUpBlockSize)
      const length = Math.min(catchUpBlockSize, end - position)
      const { bytesRead } = await handle.read(block, 0, length, position)
      if (bytesRead !== length) throw new Error(`short read at byte ${position} while hashing`)
      hash.update(block.subarray(0, length))
      position += length
    }
  }

  function hashFromMemory(chunks: Buffer[], offset: number): void {
    for (const chunk of chunks) {
      const start = offset
      offset += chunk.length
      if (offset <= position) continue
      if (start > position) return // a gap: catchUp reads these bytes back once the gap is written
      hash.update(position > start ? chunk.subarray(position - start) : chunk)
      position = offset
    }
  }

  function enqueue(step: () => void | Promise<void>): void {
    queue = queue.then(async () => {
      if (failure === undefined) await step()
    }).catch((error: unknown) => { failure ??= error })
  }

  return {
    wrote(chunks, offset) {
      enqueue(async () => {
        hashFromMemory(chunks, offset)
        await catchUp()
      })
    },
    async digest() {
      enqueue(catchUp)
      await queue
      if (failure !== undefined) throw failure
      if (position !== size) throw new Error(`hashed ${position} of ${size} bytes`)
      return hash.digest('hex')
    },
  }
}
