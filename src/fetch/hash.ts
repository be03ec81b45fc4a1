import { createHash } from 'node:crypto'
import { open } from 'node:fs/promises'

const blockSize = 4 * 1024 * 1024

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
