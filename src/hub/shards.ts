import { UsageError } from '../errors.js'
import type { Hub } from './client.js'
import { compareSplits, parseShardPath, resolveSplits } from './layout.js'
import { isCommit, resolveCommit } from './revision.js'
import { cachedListing } from './offline.js'
import { listTree } from './tree.js'

/** One Parquet shard of a split. */
export interface Shard {
  /** Path inside the repository, e.g. `trajectories/SWE_Smith-00003-of-00224.parquet`. */
  path: string
  config: string
  split: string
  index: number
  count: number
  size: number
  /** sha256 of the content (the LFS oid), when the Hub publishes it. */
  sha256: string | undefined
}

/** The shards of a selection, pinned to one commit. */
export interface ShardListing {
  repo: string
  revision: string
  commit: string
  config: string
  splits: string[]
  shards: Shard[]
  /** Offline listings only: paths of selected shards the cache lacks (see {@link cachedListing}). */
  uncached?: string[]
}

/** Options for {@link listShards}. */
export interface ListShardsOptions {
  repo: string
  revision?: string
  /** Config folder name (see resolveConfig). */
  config: string
  /** Split names or aliases; empty or `all` = every split. */
  splits: string[]
  /** Optional shard filter (index ranges, globs) applied after listing. */
  select?: (shard: Shard) => boolean
}

/**
 * Pin the revision, list the config folder (all pages) and return the requested splits' shards in
 * order. With HF_HUB_OFFLINE, the same from the cache, without the network.
 */
export async function listShards(hub: Hub, options: ListShardsOptions): Promise<ShardListing> {
  if (hub.settings.offline) return cachedListing(hub.settings, options)
  const revision = options.revision ?? 'main'
  const commit = isCommit(revision) ? revision : await resolveCommit(hub, { repo: options.repo, revision })
  const all: Shard[] = []
  for await (const entry of listTree(hub, { repo: options.repo, revision: commit, path: options.config, recursive: true })) {
    if (entry.type !== 'file') continue
    const name = parseShardPath(entry.path)
    if (!name || name.config !== options.config) continue
    all.push({ path: entry.path, ...name, size: entry.lfs?.size ?? entry.size, sha256: entry.lfs?.oid })
  }
  const available = [...new Set(all.map((shard) => shard.split))].sort(compareSplits)
  if (available.length === 0) {
    throw new UsageError(`no Parquet shards under '${options.config}/' in dataset '${options.repo}' at ${commit.slice(0, 8)}`)
  }
  const chosen = resolveSplits(options.splits, available)
  const shards = all
    .filter((shard) => chosen.includes(shard.split) && (options.select?.(shard) ?? true))
    .sort((a, b) => compareSplits(a.split, b.split) || a.index - b.index)
  return { repo: options.repo, revision, commit, config: options.config, splits: chosen, shards }
}
