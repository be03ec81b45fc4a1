import { stat } from 'node:fs/promises'
import { Worker } from 'node:worker_threads'

const readBlockSize = 1024 * 1024
const advanceMessageBytes = 4 * 1024 * 1024

/** sha256 of a whole file, on the hashing thread (see {@link orderedHasher}). */
export async function sha256File(path: string): Promise<string> {
  const { size } = await stat(path)
  return orderedHasher(path, size, () => size).digest()
}

/** sha256 of a file written out of order, computed while it is written. */
export interface OrderedHasher {
  /** Report that more bytes reached the file: whatever now continues the hashed prefix gets hashed. */
  wrote(): void
  /** Hash whatever is left (every byte must be written by now) and return the hex digest. */
  digest(): Promise<string>
  /** Let go of the file without a digest (a failed download); nothing after a digest. */
  close(): void
}

/**
 * Hash a file whose ranges are written in parallel, so the digest is ready moments after the last
 * byte lands instead of needing a second pass over the whole file. `writtenEnd(position)` tells
 * where the bytes known to be on disk from `position` onwards end (`position` itself when none are).
 * The hashing runs on a worker thread that reads the bytes back from the page cache: hashing costs
 * as much CPU as receiving the bytes, and the thread that receives them must not wait for it.
 */
export function orderedHasher(path: string, size: number, writtenEnd: (position: number) => number): OrderedHasher {
  const worker = hashWorker()
  const id = worker.open(path)
  let position = 0
  let posted = 0
  // one message per few MB, not per write: every message costs both threads a fixed overhead
  const advance = (minimum: number) => {
    for (let end = Math.min(size, writtenEnd(position)); end > position; end = Math.min(size, writtenEnd(position))) position = end
    if (position - posted >= minimum && position > posted) {
      worker.post({ type: 'advance', id, end: position })
      posted = position
    }
  }
  return {
    wrote: () => advance(advanceMessageBytes),
    async digest() {
      advance(0)
      const { digest, hashed } = await worker.digest(id)
      if (hashed !== size) throw new Error(`${path}: hashed ${hashed} of ${size} bytes`)
      return digest
    },
    close: () => worker.post({ type: 'close', id }),
  }
}

type HashMessage =
  | { type: 'open', id: number, path: string }
  | { type: 'advance', id: number, end: number }
  | { type: 'digest', id: number }
  | { type: 'close', id: number }

type HashReply = { id: number, digest: string, hashed: number } | { id: number, error: string }

// plain JavaScript evaluated in the worker, so it runs the same from sources, tsc output and the bundle
const workerSource = `
const { parentPort } = require('node:worker_threads')
const { createHash } = require('node:crypto')
const { openSync, readSync, closeSync } = require('node:fs')
const files = new Map()
const block = Buffer.allocUnsafe(${readBlockSize})
function advance(file, end) {
  while (file.hashed < end) {
    const bytesRead = readSync(file.fd, block, 0, Math.min(block.length, end - file.hashed), file.hashed)
    if (bytesRead === 0) throw new Error('unexpected end of file at byte ' + file.hashed)
    file.hash.update(block.subarray(0, bytesRead))
    file.hashed += bytesRead
  }
}
parentPort.on('message', (message) => {
  if (message.type === 'open') {
    const file = { fd: undefined, hash: createHash('sha256'), hashed: 0, error: undefined }
    files.set(message.id, file)
    try { file.fd = openSync(message.path, 'r') } catch (error) { file.error = error }
    return
  }
  const file = files.get(message.id)
  if (!file) {
    if (message.type === 'digest') parentPort.postMessage({ id: message.id, error: 'the file was closed before its digest' })
    return
  }
  if (message.type === 'advance') {
    if (!file.error) try { advance(file, message.end) } catch (error) { file.error = error }
    return
  }
  files.delete(message.id)
  if (file.fd !== undefined) closeSync(file.fd)
  if (message.type === 'digest') parentPort.postMessage(file.error
    ? { id: message.id, error: String(file.error.message || file.error) }
    : { id: message.id, digest: file.hash.digest('hex'), hashed: file.hashed })
})
`

interface HashWorker {
  open(path: string): number
  post(message: HashMessage): void
  digest(id: number): Promise<{ digest: string, hashed: number }>
}

let shared: HashWorker | undefined

/** The process's one hashing thread, started on first use; it keeps the process alive only while a digest is awaited. */
function hashWorker(): HashWorker {
  if (shared) return shared
  const worker = new Worker(workerSource, { eval: true })
  const waiting = new Map<number, { resolve: (value: { digest: string, hashed: number }) => void, reject: (error: Error) => void }>()
  let nextId = 0
  worker.on('message', (reply: HashReply) => {
    const waiter = waiting.get(reply.id)
    if (!waiter) return
    waiting.delete(reply.id)
    if (waiting.size === 0) worker.unref()
    if ('error' in reply) waiter.reject(new Error(reply.error))
    else waiter.resolve(reply)
  })
  let crashed: Error | undefined
  worker.on('error', (error) => {
    crashed = error
    shared = undefined
    for (const waiter of waiting.values()) waiter.reject(error)
    waiting.clear()
  })
  // after the listeners: adding a 'message' listener refs the worker's port again
  worker.unref()
  const post = (message: HashMessage) => worker.postMessage(message)
  shared = {
    open(path) {
      const id = nextId++
      post({ type: 'open', id, path })
      return id
    },
    post,
    digest(id) {
      if (crashed) return Promise.reject(crashed)
      worker.ref()
      post({ type: 'digest', id })
      return new Promise((resolve, reject) => waiting.set(id, { resolve, reject }))
    },
  }
  return shared
}
