/**
 * polars as a bench peer (`scan_parquet().filter().sink_ndjson()`, Rust, all cores): Python's polars
 * when it is importable, else nodejs-polars (the same engine) installed on demand into bench/.peers
 * with `--install-peers` (the npm registry serves it; PyPI may not be reachable). Never a dependency.
 */
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** A way to run polars' filter → NDJSON, or why there is none. */
export type PolarsPeer = { command: string, args: (out: string, files: string[]) => string[], engine: string } | { missing: string }

const peers = fileURLToPath(new URL('.peers', import.meta.url))
// the version the npm registry serves with a linux-x64 build that installs here
const nodePolars = ['nodejs-polars@0.25.2', 'nodejs-polars-linux-x64-gnu@0.25.2']

/** Find polars, installing nodejs-polars first when `install` is set. */
export function polarsPeer(install: boolean): PolarsPeer {
  if (spawnSync('python3', ['-c', 'import polars'], { stdio: 'ignore' }).status === 0) {
    const script = `import polars as pl, sys\npl.scan_parquet(sys.argv[2:]).filter(pl.col('reward') == 1).sink_ndjson(sys.argv[1])`
    return { command: 'python3', args: (out, files) => ['-c', script, out, ...files], engine: 'python polars' }
  }
  const module = join(peers, 'node_modules', 'nodejs-polars')
  if (!existsSync(module) && install) {
    const result = spawnSync('npm', ['install', '--no-save', '--no-audit', '--no-fund', '-E', '--prefix', peers, ...nodePolars], { stdio: 'inherit' })
    if (result.status !== 0) return { missing: `npm could not install ${nodePolars.join(' ')}` }
  }
  if (!existsSync(module)) return { missing: 'not installed (pip install polars, or run the bench with --install-peers for nodejs-polars)' }
  const script = [
    `const pl = require(${JSON.stringify(module)})`,
    'const [out, ...files] = process.argv.slice(1)',
    'const scan = files.length === 1 ? pl.scanParquet(files[0]) : pl.concat(files.map((file) => pl.scanParquet(file)))',
    'const sunk = scan.filter(pl.col("reward").eq(1)).sinkNdJson(out)',
    'Promise.resolve(sunk && sunk.collect ? sunk.collect() : sunk).catch((error) => { console.error(error); process.exit(1) })',
  ].join('\n')
  return { command: process.execPath, args: (out, files) => ['-e', script, out, ...files], engine: 'nodejs-polars 0.25.2' }
}
