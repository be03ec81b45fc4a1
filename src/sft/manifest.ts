import { createHash } from 'node:crypto'
import { readFile, rm, stat } from 'node:fs/promises'
import { join, relative } from 'node:path'
import { writeFileAtomic } from '../sinks/atomicFile.js'
import type { ConversionStats } from './convert.js'

/**
 * Resumable exports: after each shard's outputs are renamed into place, a small manifest records
 * what made them (source commit, parameters hash, the shard) and what they are (paths and sizes).
 * A rerun keeps a shard whose manifest matches and whose outputs are all there at those sizes, and
 * redoes every other one — so a run killed at shard 20 of 224 (Ctrl-C or kill -9) costs only the
 * shards it had not finished. Manifests live in `{out}/.coderforge/done/`, which loaders skip (hidden).
 */

/** What made a shard's outputs: a rerun must match all of it to keep them. */
export interface ShardIdentity {
  source: string
  size: number
  sha256?: string
  commit: string
  params: string
}

/** A completed shard. */
export interface ShardManifest extends ShardIdentity {
  version: 1
  /** Output files relative to the output folder, with their sizes. */
  outputs: { path: string, bytes: number }[]
  rows: number
  rowsScanned: number
  stats?: ConversionStats
}

/** A stable hash of the parameters that decide an export's content. */
export function parametersHash(parameters: unknown): string {
  return createHash('sha256').update(stableJson(parameters)).digest('hex').slice(0, 32)
}

function manifestPath(outDir: string, stem: string): string {
  return join(outDir, '.coderforge', 'done', `${stem.replace(/[\\/]/g, '__')}.json`)
}

/** The manifest of a shard completed by an earlier run with the same identity, when every output is still intact. */
export async function completedShard(outDir: string, stem: string, identity: ShardIdentity): Promise<ShardManifest | undefined> {
  const manifest = await readManifest(outDir, stem)
  if (!manifest || manifest.version !== 1) return undefined
  const same = (Object.keys(identity) as (keyof ShardIdentity)[]).every((key) => manifest[key] === identity[key])
  if (!same) return undefined
  for (const output of manifest.outputs) {
    const info = await stat(join(outDir, output.path)).catch(() => undefined)
    if (!info || info.size !== output.bytes) return undefined
  }
  return manifest
}

/** Forget a shard before redoing it: its manifest and the outputs it listed (a new run may write fewer parts). */
export async function discardShard(outDir: string, stem: string): Promise<void> {
  const manifest = await readManifest(outDir, stem)
  if (!manifest) return
  await rm(manifestPath(outDir, stem), { force: true })
  await Promise.all((manifest.outputs ?? []).map((output) => rm(join(outDir, output.path), { force: true })))
}

/** Record a completed shard (written under a temporary name and renamed: never half a manifest). */
export async function recordShard(outDir: string, stem: string, identity: ShardIdentity, result: { outputs: string[], rows: number, rowsScanned: number, stats?: ConversionStats }): Promise<void> {
  const outputs = await Promise.all(result.outputs.map(async (path) => ({ path: relative(outDir, path), bytes: (await stat(path)).size })))
  const manifest: ShardManifest = { version: 1, ...identity, outputs, rows: result.rows, rowsScanned: result.rowsScanned, ...(result.stats ? { stats: result.stats } : {}) }
  const path = manifestPath(outDir, stem)
  await writeFileAtomic(path, JSON.stringify(manifest, null, 1))
}

async function readManifest(outDir: string, stem: string): Promise<ShardManifest | undefined> {
  try {
    return JSON.parse(await readFile(manifestPath(outDir, stem), 'utf8')) as ShardManifest
  } catch {
    return undefined
  }
}

function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`
  if (value && typeof value === 'object') {
    return `{${Object.keys(value).sort().filter((key) => (value as Record<string, unknown>)[key] !== undefined)
      .map((key) => `${JSON.stringify(key)}:${stableJson((value as Record<string, unknown>)[key])}`).join(',')}}`
  }
  return JSON.stringify(value)
}
