import { readdir, readlink } from 'node:fs/promises'
import { basename, join } from 'node:path'
import { OfflineError } from '../errors.js'
import { fileSize, readRef, repoCache } from './cache.js'
import { compareSplits, defaultRepo, parseShardPath, resolveSplits, splits as layoutSplits } from './layout.js'
import { isCommit } from './revision.js'
import type { HubSettings } from './settings.js'
import type { ListShardsOptions, Shard, ShardListing } from './shards.js'

/**
 * The listing HF_HUB_OFFLINE allows: the revision pinned by `refs/{revision}`, the shards found under
 * `snapshots/{commit}/{config}/`, their sha256 read from the blob each snapshot entry links to. A
 * split the cache does not hold at all is an error (for `all` too: the dataset's splits are known),
 * not an empty or smaller result; shards missing from a cached split (known from `-of-N` in the
 * names) are listed in `uncached`.
 */
export async function cachedListing(settings: HubSettings, options: ListShardsOptions): Promise<ShardListing> {
  const cache = repoCache(settings.hubCache, options.repo)
  const revision = options.revision ?? 'main'
  const commit = isCommit(revision) ? revision : await readRef(cache, revision)
  if (!commit) throw new OfflineError(`'${options.repo}@${revision}' is not in the cache (${cache.dir})`)
  const folder = cache.snapshot(commit, options.config)
  const all: Shard[] = []
  for (const name of (await readdir(folder).catch(() => [] as string[])).sort()) {
    const path = `${options.config}/${name}`
    const parsed = parseShardPath(path)
    const size = parsed && (await fileSize(join(folder, name)))
    if (parsed && size !== undefined) all.push({ path, ...parsed, size, sha256: await linkedSha256(join(folder, name)) })
  }
  const cached = [...new Set(all.map((shard) => shard.split))]
  // the dataset's own splits are known without the network, so `--split R2E_Gym` is "not cached", not "unknown"
  const known = [...new Set([...(options.repo === defaultRepo ? layoutSplits : []), ...cached])].sort(compareSplits)
  const chosen = resolveSplits(options.splits, known)
  const absent = chosen.filter((split) => !cached.includes(split))
  if (absent.length > 0) {
    throw new OfflineError(
      `${absent.join(', ')} of '${options.config}' ${absent.length === 1 ? 'is' : 'are'} not in the cache (${folder})`,
      `download ${absent.length === 1 ? 'it' : 'them'} first (coderforge download --split ${absent.join(',')}), choose cached splits (${cached.join(', ') || 'none'}), or unset HF_HUB_OFFLINE`,
    )
  }
  const selected = (shard: Shard) => chosen.includes(shard.split) && (options.select?.(shard) ?? true)
  const shards = all.filter(selected).sort((a, b) => compareSplits(a.split, b.split) || a.index - b.index)
  return { repo: options.repo, revision, commit, config: options.config, splits: chosen, shards, uncached: uncachedShards(all, selected) }
}

/** Paths of the shards a cached split's names say exist (`-of-N`) but the snapshot lacks. */
function uncachedShards(present: Shard[], selected: (shard: Shard) => boolean): string[] {
  const missing: string[] = []
  const counts = new Map(present.map((shard) => [`${shard.split}\0${shard.count}`, shard]))
  for (const { config, split, count } of counts.values()) {
    for (let index = 0; index < count; index++) {
      const path = `${config}/${split}-${String(index).padStart(5, '0')}-of-${String(count).padStart(5, '0')}.parquet`
      const shard: Shard = { path, config, split, index, count, size: 0, sha256: undefined }
      if (selected(shard) && !present.some((p) => p.path === path)) missing.push(path)
    }
  }
  return missing
}

/** The sha256 a snapshot entry names: the blob it links to (copies and hard links do not say). */
async function linkedSha256(path: string): Promise<string | undefined> {
  const target = await readlink(path).catch(() => undefined)
  const name = target && basename(target)
  return name && /^[0-9a-f]{64}$/.test(name) ? name : undefined
}
