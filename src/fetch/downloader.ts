import { mkdir, open, readFile, rename, rm, stat, type FileHandle } from 'node:fs/promises'
import { dirname } from 'node:path'
import pLimit from 'p-limit'
import { CoderforgeError, IntegrityError } from '../errors.js'
import { writeFileAtomic } from '../sinks/atomicFile.js'
import { orderedHasher, type OrderedHasher } from './hash.js'
import type { HttpClient, UrlTarget } from './http.js'

/** One file to download. */
export interface DownloadItem {
  /** Shown in progress and errors (the repo path). */
  name: string
  target: UrlTarget
  size: number
  /** Verified after download when known (the Hub's LFS oid). */
  sha256?: string
  /** Where bytes accumulate; a `.parts` resume state sits beside it. Reused by the next run. */
  partialPath: string
  /** Renamed here once complete and verified. */
  finalPath: string
  /** Runs right after the rename (e.g. link the cache snapshot, write metadata). */
  onComplete?: () => Promise<void>
}

/** Progress events, in the order they happen for a file. */
export type DownloadEvent =
  | { type: 'file-start', name: string, size: number, resumedBytes: number }
  | { type: 'bytes', name: string, bytes: number }
  /** `retrying`: it is fetched again (the first mismatch); else the download fails with an IntegrityError. */
  | { type: 'file-verify-failed', name: string, expected: string, actual: string, retrying: boolean }
  | { type: 'file-done', name: string, size: number }

/** Options for {@link downloadFiles}. */
export interface DownloadOptions {
  http: HttpClient
  /** Bytes per range request (default: {@link partSizeFor} the total). Parts of all files share the client's connection budget. */
  partSize?: number
  onEvent?: (event: DownloadEvent) => void
}

/** What a download run did. */
export interface DownloadResult {
  files: number
  /** Bytes received over the network in this run (resumed bytes are not fetched again). */
  bytesFetched: number
  /** Bytes that were already on disk from an earlier, interrupted run. */
  bytesResumed: number
}

interface PartState {
  size: number
  sha256: string | undefined
  partSize: number
  /** Bytes written so far at the start of each part. */
  progress: number[]
}

const stateSaveIntervalMs = 250
const writeBlockSize = 512 * 1024

/**
 * Download files concurrently: each file is cut into parts fetched as parallel range requests;
 * all parts of all files share the HTTP client's connection budget, largest files first so the
 * last connection finishes as early as possible. Bytes are written in place, so memory stays at a
 * few chunks per connection whatever the file size. A run that is killed leaves the partial file
 * and its state; the next run fetches only the missing bytes. Files are hashed while they are
 * written, verified against their sha256 (re-downloaded once on mismatch) and renamed into place
 * atomically.
 */
export async function downloadFiles(items: DownloadItem[], options: DownloadOptions): Promise<DownloadResult> {
  const defaultPartSize = options.partSize ?? partSizeFor(items.reduce((sum, item) => sum + item.size, 0), options.http.concurrency)
  const emit = options.onEvent ?? (() => {})
  const result: DownloadResult = { files: 0, bytesFetched: 0, bytesResumed: 0 }
  const blocks: Buffer[] = []
  let failure: unknown

  async function downloadItem(item: DownloadItem): Promise<void> {
    if (failure) return
    // resolve the link while the file is being prepared; a failure surfaces when the link is used
    if (typeof item.target !== 'string') item.target.url().catch(() => {})
    for (let attempt = 1; ; attempt++) {
      const actual = await fetchMissingParts(item, attempt > 1)
      if (failure) return
      if (!item.sha256 || actual === item.sha256) break
      emit({ type: 'file-verify-failed', name: item.name, expected: item.sha256, actual: actual!, retrying: attempt < 2 })
      if (attempt === 2) {
        await discardPartial(item)
        throw new IntegrityError(`${item.name}: sha256 mismatch after a second download (expected ${item.sha256}, got ${actual}); the file was not kept`, item.name)
      }
    }
    await mkdir(dirname(item.finalPath), { recursive: true }).catch((error: unknown) => { throw fsError(error, item.finalPath) })
    await rename(item.partialPath, item.finalPath)
    await rm(statePath(item), { force: true })
    await item.onComplete?.()
    result.files++
    emit({ type: 'file-done', name: item.name, size: item.size })
  }

  /** Fetch what is missing of `item` and return its sha256 when one is expected (hashed while writing). */
  async function fetchMissingParts(item: DownloadItem, restart: boolean): Promise<string | undefined> {
    const state = restart ? undefined : await loadState(item, defaultPartSize)
    // a resumed file keeps the parts it was started with, whatever --part-size says now
    const partSize = state?.partSize ?? defaultPartSize
    const progress = state?.progress ?? new Array<number>(Math.ceil(item.size / partSize)).fill(0)
    const resumed = progress.reduce((sum, bytes) => sum + bytes, 0)
    result.bytesResumed += resumed
    emit({ type: 'file-start', name: item.name, size: item.size, resumedBytes: resumed })
    await mkdir(dirname(item.partialPath), { recursive: true }).catch((error: unknown) => { throw fsError(error, item.partialPath) })
    const handle = await open(item.partialPath, state ? 'r+' : 'w+').catch((error: unknown) => { throw fsError(error, item.partialPath) })
    const saver = stateSaver(item, { size: item.size, sha256: item.sha256, partSize, progress })
    // a part's bytes on disk run from its start; a complete part continues into the next one
    const hasher = item.sha256 ? orderedHasher(item.partialPath, item.size, (position) => {
      const part = Math.floor(position / partSize)
      return part < progress.length ? part * partSize + progress[part]! : position
    }) : undefined
    try {
      if (!state) await handle.truncate(item.size)
      await saver.save()
      await Promise.all(progress.map((done, part) => {
        const start = part * partSize + done
        const end = part * partSize + partLength(item.size, partSize, part)
        return start < end ? fetchPart(item, handle, part, { start, end }, progress, saver, hasher) : undefined
      }))
      return failure ? undefined : await hasher?.digest()
    } finally {
      hasher?.close()
      await saver.flush()
      await handle.close()
    }
  }

  async function fetchPart(
    item: DownloadItem, handle: FileHandle, part: number, range: { start: number, end: number },
    progress: number[], saver: StateSaver, hasher: OrderedHasher | undefined,
  ): Promise<void> {
    if (failure) return
    // network chunks are small (16–64 KB): copy them into a reused 512 KB block so they die young
    // (chunks held until a write completes outlive the young generation and cost full GCs)
    const block = blocks.pop() ?? Buffer.allocUnsafeSlow(writeBlockSize)
    let filled = 0
    let blockStart = range.start
    const flush = async () => {
      if (filled === 0) return
      const length = filled
      filled = 0
      await handle.write(block, 0, length, blockStart).catch((error: unknown) => { throw fsError(error, item.partialPath) })
      // progress only counts bytes on disk, so a resumed run never trusts bytes it did not write
      progress[part]! += length
      hasher?.wrote()
      blockStart += length
      saver.touch()
    }
    try {
      await options.http.streamRange(item.target, range, async (chunk, offset) => {
        if (failure) throw failure
        if (offset !== blockStart + filled) {
          await flush()
          blockStart = offset
        }
        result.bytesFetched += chunk.length
        emit({ type: 'bytes', name: item.name, bytes: chunk.length })
        for (let copied = 0; copied < chunk.length;) {
          const length = chunk.copy(block, filled, copied)
          filled += length
          copied += length
          if (filled === block.length) await flush()
        }
      }, { path: item.name })
      await flush()
    } catch (error) {
      await flush().catch(() => {})
      failure ??= error
    } finally {
      blocks.push(block)
    }
  }

  const ordered = [...items].sort((a, b) => b.size - a.size)
  // files start in that order, a connection budget's worth at a time: each brings parts enough to keep
  // connections busy, and the rest wait unopened (not hundreds of sparse files and links resolved early)
  const startFile = pLimit(options.http.concurrency)
  await Promise.all(ordered.map((item) => startFile(() => downloadItem(item)).catch((error: unknown) => { failure ??= error })))
  if (failure) throw failure
  return result
}

const MiB = 1024 * 1024

const maxPartSize = 8 * MiB
const partAlignment = 64 * 1024

/**
 * Parts of at most 8 MiB (at least 1 MiB), sized so that the parts fill every connection in whole
 * waves: 38 parts of 8 MiB on 32 connections would end with 6 connections working and 26 idle for
 * a whole part's time, 64 parts of 4.8 MiB end together. A small selection gets as many parts as
 * connections, so a single shard still uses every one. Multiples of 64 KiB.
 */
export function partSizeFor(totalBytes: number, connections: number): number {
  const waves = Math.max(1, Math.ceil(totalBytes / (connections * maxPartSize)))
  const even = Math.ceil(totalBytes / (connections * waves) / partAlignment) * partAlignment
  return Math.min(maxPartSize, Math.max(MiB, even))
}

/** Bytes in part `part` of a file of `size` cut into parts of `partSize` (the last one is shorter). */
function partLength(size: number, partSize: number, part: number): number {
  return Math.min(partSize, size - part * partSize)
}

interface StateSaver {
  touch(): void
  save(): Promise<void>
  flush(): Promise<void>
}

/** Persist part progress at most every 250 ms, one write at a time, atomically. */
function stateSaver(item: DownloadItem, state: PartState): StateSaver {
  let chain: Promise<void> = Promise.resolve()
  let timer: NodeJS.Timeout | undefined
  const save = () => {
    chain = chain.then(() => writeFileAtomic(statePath(item), JSON.stringify(state)))
    return chain
  }
  return {
    touch() {
      timer ??= setTimeout(() => { timer = undefined; void save().catch(() => {}) }, stateSaveIntervalMs)
    },
    save,
    async flush() {
      if (timer) clearTimeout(timer)
      timer = undefined
      await save().catch(() => {})
    },
  }
}

/** What {@link loadState} needs to know of a file. */
type PartialFile = Pick<DownloadItem, 'partialPath' | 'size' | 'sha256'>

/**
 * How far an interrupted download of `item` got: our `.parts` state, or for a shorter partial file
 * without one (huggingface_hub before 1.18 appends to `blobs/<etag>.incomplete` front to back and
 * keeps no state) its length, as parts of `partSize`. A mismatch is caught by the sha256 check.
 */
async function loadState(item: PartialFile, partSize: number): Promise<PartState | undefined> {
  const saved = await readFile(statePath(item), 'utf8').catch(() => undefined)
  if (saved !== undefined) return validState(saved, item)
  // no state of ours, and ours are created at full size: a shorter file is a prefix written by another tool
  const written = await stat(item.partialPath).then((info) => info.size, () => 0)
  if (written === 0 || written >= item.size) return undefined
  const progress = Array.from({ length: Math.ceil(item.size / partSize) }, (_, part) =>
    Math.max(0, Math.min(written - part * partSize, partLength(item.size, partSize, part))))
  return { size: item.size, sha256: item.sha256, partSize, progress }
}

/** The saved state if it describes this very file (a different size or hash means start over). */
function validState(text: string, item: PartialFile): PartState | undefined {
  try {
    const state = JSON.parse(text) as PartState
    const valid = state.size === item.size && state.sha256 === item.sha256 && Number.isSafeInteger(state.partSize) && state.partSize > 0 &&
      Array.isArray(state.progress) && state.progress.length === Math.ceil(item.size / state.partSize) &&
      state.progress.every((done, part) => Number.isSafeInteger(done) && done >= 0 && done <= partLength(item.size, state.partSize, part))
    return valid ? state : undefined
  } catch {
    return undefined
  }
}

function statePath(item: { partialPath: string }): string {
  return `${item.partialPath}.parts`
}

/** Bytes an interrupted download of this file has already written (0 if none or unknown). */
export async function resumableBytes(file: PartialFile): Promise<number> {
  const state = await loadState(file, 8 * MiB)
  return state ? state.progress.reduce((sum, bytes) => sum + bytes, 0) : 0
}

async function discardPartial(item: DownloadItem): Promise<void> {
  await rm(item.partialPath, { force: true })
  await rm(statePath(item), { force: true })
}

/** Explain disk-full and permission errors in one line; other errors pass through. */
function fsError(error: unknown, path: string): unknown {
  const code = (error as { code?: string }).code
  if (code === 'ENOSPC') return new CoderforgeError(`disk full while writing ${path}: free some space (or use --local-dir / --cache-dir on another disk), then rerun to resume`)
  if (code === 'EACCES' || code === 'EPERM') return new CoderforgeError(`permission denied writing ${path}: choose a writable --local-dir / --cache-dir`)
  if (code === 'EROFS') return new CoderforgeError(`read-only file system at ${path}: choose a writable --local-dir / --cache-dir`)
  if (code === 'ENOTDIR' || code === 'EEXIST') return new CoderforgeError(`cannot create the folders for ${path}: a file is in the way; choose a folder for --local-dir / --cache-dir`)
  return error
}
