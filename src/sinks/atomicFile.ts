import { mkdir, open, readdir, rename, rm, rmdir, stat, type FileHandle } from 'node:fs/promises'
import { basename, dirname, join, relative } from 'node:path'
import { Writable } from 'node:stream'
import { CoderforgeError, ExitCode } from '../errors.js'

/**
 * The one way this tool writes a file that others may read: under a hidden temporary name in the same
 * folder (same file system, so the rename is atomic), renamed into place when complete. Temporary names
 * carry the writer's pid, so a later writer of the same file removes what a dead process left
 * (kill -9, power loss). File-system errors name the final path, never the temporary one.
 */

/** A file being written under a temporary name; it appears under its final name only on commit. */
export interface AtomicFile {
  path: string
  temporaryPath: string
  /** Write here; a failed write destroys the stream with an {@link OutputError}. */
  stream: Writable
  /** Resolves once the stream wants more data; rejects with the stream's error (also one it already had). */
  drained(): Promise<void>
  /** Flush, close and rename into place. */
  commit(): Promise<void>
  /** Close and delete, with the folders opening it created if they are left empty: nothing is left under either name. */
  abort(): Promise<void>
}

/** Writing an output failed: full disk, no permission, a folder or file in the way. */
export class OutputError extends CoderforgeError {
  /** The errno code (`ENOSPC`, `EACCES`…) of the underlying failure. */
  readonly code: string | undefined
  readonly path: string
  constructor(message: string, path: string, code: string | undefined, exitCode: number, cause: unknown) {
    super(message, exitCode, { cause })
    this.path = path
    this.code = code
  }
}

/** One line for a file-system error while writing `path` (the final name), with the fix. */
export function outputError(error: unknown, path: string): OutputError {
  if (error instanceof OutputError) return error
  const code = (error as NodeJS.ErrnoException | undefined)?.code
  const fail = (message: string, exitCode: number = ExitCode.failure) => new OutputError(message, path, code, exitCode, error)
  switch (code) {
    case 'ENOSPC': return fail(`disk full while writing ${path}: free some space or write to another disk, then run again`)
    case 'EDQUOT': return fail(`disk quota exceeded while writing ${path}: free some space or write to another disk, then run again`)
    case 'EACCES':
    case 'EPERM': return fail(`permission denied writing ${path}: choose a folder you can write to`)
    case 'EROFS': return fail(`read-only file system at ${path}: choose a folder you can write to`)
    case 'EISDIR': return fail(`${path} is a folder: give a file name, e.g. ${join(path, 'out.jsonl')}`, ExitCode.usage)
    default: {
      const message = error instanceof Error ? error.message : String(error)
      return fail(`cannot write ${path}: ${message.replace(/, \w+ '[^']*'(?: -> '[^']*')?$/, '')}`)
    }
  }
}

let temporaryCounter = 0
/** Temporary names this process has open, so its own are never mistaken for a dead process's. */
const ownTemporaries = new Set<string>()
/** Final paths whose stale temporaries were already looked for by this process. */
const swept = new Set<string>()

/** Open `path` for writing through a temporary name next to it. */
export async function openAtomicFile(path: string): Promise<AtomicFile> {
  const prepared = await prepare(path)
  let handle: FileHandle
  try {
    handle = await open(prepared.temporaryPath, 'wx')
  } catch (error) {
    await prepared.discard()
    throw outputError(error, path)
  }
  const stream = fileStream(handle, path)
  let failure: Error | undefined
  stream.on('error', (error) => { failure = error })
  return {
    path,
    temporaryPath: prepared.temporaryPath,
    stream,
    drained() {
      if (failure ?? stream.errored) return Promise.reject(failure ?? stream.errored)
      if (!stream.writableNeedDrain) return Promise.resolve()
      return new Promise((resolve, reject) => {
        const onError = (error: Error) => { stream.off('drain', onDrain); reject(error) }
        const onDrain = () => { stream.off('error', onError); resolve() }
        stream.once('drain', onDrain)
        stream.once('error', onError)
      })
    },
    async commit() {
      if (failure) throw failure
      await new Promise<void>((resolve, reject) => {
        stream.end((error?: Error | null) => (error ? reject(error) : resolve()))
      }).catch(async (error: unknown) => {
        await prepared.discard()
        throw outputError(failure ?? stream.errored ?? error, path)
      })
      try {
        await rename(prepared.temporaryPath, path)
      } catch (error) {
        await prepared.discard()
        throw outputError(error, path)
      }
      ownTemporaries.delete(prepared.temporaryPath)
    },
    async abort() {
      stream.destroy()
      if (!stream.closed) await new Promise<void>((resolve) => stream.once('close', () => resolve()))
      await prepared.discard()
    },
  }
}

/** Write a small file whole (a cache ref, a resume state) so that readers never see half of it. */
export async function writeFileAtomic(path: string, content: string): Promise<void> {
  const prepared = await prepare(path)
  try {
    const handle = await open(prepared.temporaryPath, 'wx')
    try {
      await handle.writeFile(content)
    } finally {
      await handle.close()
    }
    await rename(prepared.temporaryPath, path)
    ownTemporaries.delete(prepared.temporaryPath)
  } catch (error) {
    await prepared.discard()
    throw outputError(error, path)
  }
}

/**
 * Make the folder, refuse a folder in the file's place, remove stale temporaries of the file and
 * choose a temporary name. `discard` removes the temporary and the folders made here that are empty.
 */
async function prepare(path: string): Promise<{ temporaryPath: string, discard(): Promise<void> }> {
  const folder = dirname(path)
  let created: string | undefined
  try {
    created = await mkdir(folder, { recursive: true })
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code !== 'EEXIST' && code !== 'ENOTDIR') throw outputError(error, path)
    throw new OutputError(`cannot create the folder for ${path}: ${await fileInTheWay(folder)} is a file`, path, code, ExitCode.usage, error)
  }
  if ((await stat(path).catch(() => undefined))?.isDirectory()) throw outputError(Object.assign(new Error('is a folder'), { code: 'EISDIR' }), path)
  if (!created && !swept.has(path)) await removeStaleTemporaries(path)
  swept.add(path)
  const temporaryPath = join(folder, `.${basename(path)}.${process.pid}.${++temporaryCounter}.partial`)
  ownTemporaries.add(temporaryPath)
  return {
    temporaryPath,
    async discard() {
      ownTemporaries.delete(temporaryPath)
      await rm(temporaryPath, { force: true })
      if (created) await removeEmptyFolders(folder, created)
    },
  }
}

/** The temporary names of `path`, as this version and earlier ones wrote them: `.name.PID.N.partial`, `.name.PID.partial`, `name.PID.N.tmp`. */
function temporaryPattern(name: string): RegExp {
  const escaped = name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
  return new RegExp(`^(?:\\.${escaped}\\.(\\d+)(?:\\.\\d+)?\\.partial|${escaped}\\.(\\d+)\\.\\d+\\.tmp)$`)
}

/** Remove the temporaries of `path` left by processes that are no longer running. */
async function removeStaleTemporaries(path: string): Promise<void> {
  const folder = dirname(path)
  const pattern = temporaryPattern(basename(path))
  const entries = await readdir(folder).catch(() => [] as string[])
  await Promise.all(entries.map(async (entry) => {
    const match = pattern.exec(entry)
    if (!match) return
    const temporary = join(folder, entry)
    if (ownTemporaries.has(temporary)) return
    const pid = Number(match[1] ?? match[2])
    // our own pid on a name we do not hold: an earlier process that had this pid (pid 1 in containers)
    if (pid === process.pid || !running(pid)) await rm(temporary, { force: true })
  }))
}

function running(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** Remove `folder` and its parents up to `created` (the first folder mkdir made) while they are empty. */
async function removeEmptyFolders(folder: string, created: string): Promise<void> {
  for (let current = folder; ; current = dirname(current)) {
    if (relative(created, current).startsWith('..')) return
    try {
      await rmdir(current)
    } catch {
      return
    }
    if (current === created) return
  }
}

/** The deepest existing ancestor of `folder` that is not a folder. */
async function fileInTheWay(folder: string): Promise<string> {
  for (let current = folder; current !== dirname(current); current = dirname(current)) {
    const info = await stat(current).catch(() => undefined)
    if (info) return info.isDirectory() ? folder : current
  }
  return folder
}

/** A Writable over a file handle whose errors are {@link OutputError}s naming `path`. */
function fileStream(handle: FileHandle, path: string): Writable {
  const writeAll = async (chunk: Uint8Array) => {
    for (let offset = 0; offset < chunk.length;) offset += (await handle.write(chunk, offset, chunk.length - offset)).bytesWritten
  }
  return new Writable({
    highWaterMark: 1024 * 1024,
    write(chunk: Uint8Array, _encoding, callback) {
      writeAll(chunk).then(() => callback(), (error: unknown) => callback(outputError(error, path)))
    },
    writev(chunks, callback) {
      chunks.reduce((done, { chunk }) => done.then(() => writeAll(chunk as Uint8Array)), Promise.resolve())
        .then(() => callback(), (error: unknown) => callback(outputError(error, path)))
    },
    final(callback) {
      handle.close().then(() => callback(), (error: unknown) => callback(outputError(error, path)))
    },
    destroy(error, callback) {
      handle.close().then(() => callback(error), () => callback(error))
    },
  })
}
