import { availableParallelism } from 'node:os'
import { pathToFileURL } from 'node:url'
import { Worker, type MessagePort } from 'node:worker_threads'
import { entryFor } from '../entry.js'
import { CoderforgeError } from '../errors.js'
import { runDecodeTask, type DecodeResult, type DecodeTask } from './decodeTask.js'
import { transferables } from '../parquet/intList.js'
import { takeAllSpares } from '../sinks/spareChunks.js'

/** Runs phase-2 decode tasks, on worker threads or on this one. */
export interface DecodePool {
  /** Tasks that run at once (1 without workers). */
  readonly size: number
  run(task: DecodeTask): Promise<DecodeResult>
  close(): Promise<void>
}

/** Default `--threads`: the machine's cores. */
export const defaultThreads = availableParallelism()

/**
 * A pool of `threads` decoding threads; with 1 (or fewer) tasks run on this thread. Results are
 * the same either way: a task is plain data in, plain data out. The threads start at once, loading
 * their code while this one reads footers and plans: started at the first task, they kept it waiting.
 */
export function decodePool(threads = defaultThreads): DecodePool {
  if (threads <= 1) return { size: 1, run: runDecodeTask, close: async () => {} }
  interface Queued { task: DecodeTask, resolve: (result: DecodeResult) => void, reject: (error: unknown) => void }
  const live = new Set<Worker>()
  const idle: Worker[] = []
  const running = new Map<Worker, Queued>()
  const queue: Queued[] = []
  let failure: unknown
  const stopped = () => failure ?? new CoderforgeError('a decoding thread stopped unexpectedly')

  const start = (): Worker => {
    const { file, evaluate } = workerScript()
    const worker = new Worker(file, { eval: evaluate })
    worker.unref()
    worker.on('error', (error) => { failure ??= error })
    worker.on('message', (message: { result?: DecodeResult, error?: { message: string, exitCode: number } }) => {
      const { resolve, reject } = running.get(worker)!
      running.delete(worker)
      idle.push(worker)
      if (message.error) reject(new CoderforgeError(message.error.message, message.error.exitCode))
      else resolve(message.result!)
      dispatch()
    })
    // a thread may stop busy or idle (a bundle that fails to load stops it before its first task)
    worker.on('exit', () => {
      live.delete(worker)
      if (idle.includes(worker)) idle.splice(idle.indexOf(worker), 1)
      running.get(worker)?.reject(stopped())
      running.delete(worker)
      if (live.size === 0) for (const queued of queue.splice(0)) queued.reject(stopped())
    })
    live.add(worker)
    return worker
  }

  const dispatch = () => {
    while (queue.length && idle.length) {
      const worker = idle.pop()!
      const queued = queue.shift()!
      running.set(worker, queued)
      worker.ref()
      const { task } = queued
      // a task that encodes takes the chunk buffers written since, to fill them again over there
      const spares = task.jsonl || task.convert ? takeAllSpares() : []
      worker.postMessage({ ...task, spares }, [...task.piece.spans.map((span) => span.bytes), ...spares])
    }
    if (queue.length === 0) for (const worker of idle) worker.unref()
  }

  for (let started = 0; started < threads; started++) idle.push(start())
  return {
    size: threads,
    run(task) {
      return new Promise((resolve, reject) => {
        if (live.size === 0) return reject(stopped())
        queue.push({ task, resolve, reject })
        dispatch()
      })
    },
    async close() {
      await Promise.all([...live].map((worker) => worker.terminate()))
    },
  }
}

/** Answer decode tasks posted to `port` (the body of a decoding thread). */
export function serveDecodeTasks(port: MessagePort): void {
  port.on('message', (task: DecodeTask) => {
    runDecodeTask(task, true).then(
      // encoded lines, row groups and list<int> columns move to the main thread; the rest is copied
      (result) => port.postMessage({ result }, [...new Set(result.encoded?.chunks.map((chunk) => chunk.buffer as ArrayBuffer)), ...(result.rowGroup ? [result.rowGroup.bytes.buffer as ArrayBuffer] : []), ...transferables(result.columns)]),
      (error: unknown) => port.postMessage({ error: {
        message: error instanceof Error ? error.message : String(error),
        exitCode: error instanceof CoderforgeError ? error.exitCode : 1,
      } }),
    )
  })
}

/**
 * The script a decoding thread runs: the decoder's bundle beside the CLI's, or the module beside this
 * one (the tsc output, or the sources through tsx).
 */
function workerScript(): { file: string | URL, evaluate?: boolean } {
  const entry = entryFor('query/decodeWorker')
  if (entry.execArgv.length === 0) return { file: entry.script }
  // the TypeScript sources (tests, tsx): Node 20 runs no --import loader for a thread's own entry, so register it first
  const tsx = import.meta.resolve('tsx/esm/api')
  const worker = pathToFileURL(entry.script).href
  return { file: `import(${JSON.stringify(tsx)}).then(({ register }) => { register(); return import(${JSON.stringify(worker)}) })`, evaluate: true }
}
