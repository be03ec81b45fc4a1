import { extname } from 'node:path'
import { fileURLToPath } from 'node:url'

/** How this CLI starts again, as a process (export --jobs) or a thread (decoding): a script and the Node flags it needs. */
export interface Entry {
  /** The bundled CLI (one CommonJS file), or the module beside this one named `name`. */
  script: string
  /** Node flags: a TypeScript loader when running from the sources. */
  execArgv: string[]
  /** The script is the bundle, which starts as a thread when given the thread's workerData. */
  bundled: boolean
}

/**
 * The script to start `name` (e.g. `main`, `query/decodeWorker`) from: the bundle itself when
 * running bundled, else the module of that name next to this one (.js from tsc, .ts under tsx).
 */
export function entryFor(name: string): Entry {
  if (typeof __filename === 'string' && __filename.endsWith('.cjs')) return { script: __filename, execArgv: [], bundled: true }
  const extension = extname(fileURLToPath(import.meta.url))
  const script = fileURLToPath(new URL(`./${name}${extension}`, import.meta.url))
  // resolved from here, not from the working directory, which need not hold tsx
  return { script, execArgv: extension === '.ts' ? ['--import', import.meta.resolve('tsx')] : [], bundled: false }
}
