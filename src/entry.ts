import { dirname, extname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** How this CLI starts again, as a process (export --jobs) or a thread (decoding): a script and the Node flags it needs. */
export interface Entry {
  /** The bundle of `name` (one CommonJS file in dist/), or the module beside this one named `name`. */
  script: string
  /** Node flags: a TypeScript loader when running from the sources. */
  execArgv: string[]
}

/** The bundles the build writes (package.json `build`), by the module each starts from. */
const bundles = { main: 'coderforge.cjs', 'query/decodeWorker': 'decode-worker.cjs' } as const

/**
 * The script to start `name` (`main` or `query/decodeWorker`) from: its bundle beside this one when
 * running bundled, else the module of that name next to this one (.js from tsc, .ts under tsx).
 */
export function entryFor(name: keyof typeof bundles): Entry {
  // a decoding thread loads its own bundle, not the whole CLI: each thread parses and keeps less code
  if (typeof __filename === 'string' && __filename.endsWith('.cjs')) return { script: join(dirname(__filename), bundles[name]), execArgv: [] }
  const extension = extname(fileURLToPath(import.meta.url))
  const script = fileURLToPath(new URL(`./${name}${extension}`, import.meta.url))
  // resolved from here, not from the working directory, which need not hold tsx
  return { script, execArgv: extension === '.ts' ? ['--import', import.meta.resolve('tsx')] : [] }
}
