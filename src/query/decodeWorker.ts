import { parentPort } from 'node:worker_threads'
import { serveDecodeTasks } from './decodePool.js'

// a decoding thread: its own bundle (dist/decode-worker.cjs, a third of the CLI's), the tsc output or the sources
if (parentPort) serveDecodeTasks(parentPort)
