import { isMainThread, parentPort, workerData } from 'node:worker_threads'
import { main } from './cli.js'
import { decodeWorkerData, serveDecodeTasks } from './query/decodePool.js'

if (!isMainThread && parentPort && (workerData as typeof decodeWorkerData | undefined)?.coderforgeWorker === decodeWorkerData.coderforgeWorker) {
  // the bundled CLI started as a decoding thread (see query/decodePool.ts)
  serveDecodeTasks(parentPort)
} else {
  // `coderforge filter … -o - | head`: the reader went away; that is not an error
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(0)
    throw error
  })

  void main(process.argv).then((code) => { process.exitCode = code })
}
