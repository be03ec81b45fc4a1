import { createWriteStream, type WriteStream } from 'node:fs'
import { mkdir, rename, rm } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { finished } from 'node:stream/promises'

/** A file being written under a temporary name; it appears under its final name only on commit. */
export interface AtomicFile {
  path: string
  temporaryPath: string
  stream: WriteStream
  /** Flush, close and rename into place. */
  commit(): Promise<void>
  /** Close and delete: nothing is left under either name. */
  abort(): Promise<void>
}

/** Open `path` for writing through a hidden temporary name in the same folder (same file system, so rename is atomic). */
export async function openAtomicFile(path: string): Promise<AtomicFile> {
  await mkdir(dirname(path), { recursive: true })
  const temporaryPath = join(dirname(path), `.${basename(path)}.${process.pid}.partial`)
  const stream = createWriteStream(temporaryPath)
  await new Promise<void>((resolve, reject) => {
    stream.once('open', () => resolve())
    stream.once('error', reject)
  })
  return {
    path,
    temporaryPath,
    stream,
    async commit() {
      stream.end()
      await finished(stream)
      await rename(temporaryPath, path)
    },
    async abort() {
      stream.destroy()
      await rm(temporaryPath, { force: true })
    },
  }
}
