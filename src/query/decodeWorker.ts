import { parentPort } from 'node:worker_threads'
import { serveDecodeTasks } from './decodePool.js'

// a decoding thread started from the sources or the tsc output (the bundle starts itself, see main.ts)
if (parentPort) serveDecodeTasks(parentPort)
