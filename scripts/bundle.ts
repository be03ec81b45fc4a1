/**
 * Bundle the CLI (dist/coderforge.cjs, which bin/coderforge.cjs runs) and the decoding thread
 * (dist/decode-worker.cjs, a third of its size: each thread parses and keeps only the decoder).
 * `tsx scripts/bundle.ts [outdir]`; the build runs it after tsc, the bundle test into a temp dir.
 */
import { fileURLToPath, pathToFileURL } from 'node:url'
import { build } from 'esbuild'

const source = (path: string) => fileURLToPath(new URL(`../${path}`, import.meta.url))

/** Write both bundles into `outdir`. */
export async function bundle(outdir = 'dist'): Promise<void> {
  await build({
    entryPoints: { coderforge: source('src/main.ts'), 'decode-worker': source('src/query/decodeWorker.ts') },
    outdir,
    outExtension: { '.js': '.cjs' },
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    // its WASM file is found beside its own module at run time
    external: ['@bokuweb/zstd-wasm'],
    logLevel: 'warning',
    // import.meta is read only where the sources or the tsc output run (entry.ts, decodePool.ts), never in a bundle
    logOverride: { 'empty-import-meta': 'silent' },
  })
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await bundle(process.argv[2])
