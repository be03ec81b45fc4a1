import { stat } from 'node:fs/promises'
import { CoderforgeError, OfflineError } from '../errors.js'
import { downloadFiles, resumableBytes, type DownloadEvent, type DownloadItem, type DownloadResult } from '../fetch/downloader.js'
import { sha256File } from '../fetch/hash.js'
import {
  fileSize, linkSnapshot, localDirLayout, readLocalMetadata, repoCache, writeLocalMetadata, writeRef,
} from './cache.js'
import type { Hub } from './client.js'
import { isCommit } from './revision.js'
import { resolveFile, fileTarget } from './resolve.js'
import { listShards, type ListShardsOptions, type Shard, type ShardListing } from './shards.js'

/** Options for {@link planDownload}. */
export interface PlanDownloadOptions extends ListShardsOptions {
  /** Download into this folder (repo paths below it, `hf download --local-dir` metadata) instead of the HF cache. */
  localDir?: string
}

/** One shard of a download plan and what is already on disk for it. */
export interface PlannedFile {
  shard: Shard
  /** complete: verified copy present; partial: an interrupted download can be resumed; missing: nothing yet. */
  state: 'complete' | 'partial' | 'missing'
  /** Bytes already on disk (the whole size when complete). */
  presentBytes: number
  /** Where the file is (or will be) once complete. */
  path: string
  /** Where the bytes accumulate until then. */
  partialPath: string
  sha256: string
}

/** A download plan: the pinned listing and the state of each file. */
export interface DownloadPlan {
  listing: ShardListing
  files: PlannedFile[]
  localDir: string | undefined
}

/** List the selection (one pinned commit) and look at what is already on disk. No file bytes are fetched. */
export async function planDownload(hub: Hub, options: PlanDownloadOptions): Promise<DownloadPlan> {
  const listing = await listShards(hub, options)
  const files: PlannedFile[] = []
  for (const shard of listing.shards) {
    if (!shard.sha256 && hub.settings.offline) throw new OfflineError(`the cache holds ${shard.path} as a copy, not a link to its blob, so its sha256 is unknown`, 'unset HF_HUB_OFFLINE to check it against the Hub')
    const sha256 = shard.sha256 ?? (await resolveFile(hub, { repo: listing.repo, revision: listing.commit, path: shard.path })).etag
    if (!sha256) throw new CoderforgeError(`${shard.path}: the Hub published no content hash for this file`)
    files.push(await inspectFile(hub.settings.hubCache, listing, shard, sha256, options.localDir))
  }
  return { listing, files, localDir: options.localDir }
}

async function inspectFile(
  hubCache: string, listing: ShardListing, shard: Shard, sha256: string, localDir: string | undefined,
): Promise<PlannedFile> {
  const { path, partialPath } = placement(hubCache, listing.repo, shard.path, sha256, localDir)
  const size = await fileSize(path)
  let complete = size === shard.size
  if (complete && localDir) {
    // trust the metadata if it names this content and was written after the file last changed; else hash.
    // (hf allows the file to be a second newer, which takes a file changed just after its download as complete)
    const layout = localDirLayout(localDir)
    const metadata = await readLocalMetadata(layout, shard.path)
    const mtime = (await stat(path)).mtimeMs / 1000
    const trusted = metadata?.etag === sha256 && metadata.timestamp >= mtime
    complete = trusted || (await sha256File(path)) === sha256
    if (complete && !trusted) await writeLocalMetadata(localDir, layout, shard.path, listing.commit, sha256)
  }
  if (complete) return { shard, state: 'complete', presentBytes: shard.size, path, partialPath, sha256 }
  const partial = await fileSize(partialPath)
  if (partial === undefined) return { shard, state: 'missing', presentBytes: 0, path, partialPath, sha256 }
  return { shard, state: 'partial', presentBytes: await resumableBytes({ partialPath, size: shard.size, sha256 }), path, partialPath, sha256 }
}

/** Where a file lives when complete, and where its bytes accumulate until then. */
function placement(hubCache: string, repo: string, repoPath: string, sha256: string, localDir: string | undefined) {
  if (localDir) {
    const layout = localDirLayout(localDir)
    return { path: layout.file(repoPath), partialPath: layout.incomplete(repoPath, sha256) }
  }
  // blobs/{sha256}.incomplete: the name huggingface_hub used before 1.18, stable across runs so we can resume
  const blob = repoCache(hubCache, repo).blob(sha256)
  return { path: blob, partialPath: `${blob}.incomplete` }
}

/** Options for {@link downloadPlan}. */
export interface DownloadPlanOptions {
  partSize?: number
  onEvent?: (event: DownloadEvent) => void
}

/**
 * Fetch every file of the plan that is not complete, resuming partial ones, then make each visible:
 * in the HF cache a `snapshots/{commit}/{path}` link to its blob (and `refs/{revision}`), in a local
 * dir the file under its repo path plus hf's metadata. Complete files are only (re)linked.
 */
export async function downloadPlan(hub: Hub, plan: DownloadPlan, options: DownloadPlanOptions = {}): Promise<DownloadResult> {
  const uncached = [...(plan.listing.uncached ?? []), ...plan.files.filter((file) => file.state !== 'complete').map((file) => file.shard.path)]
  if (hub.settings.offline && uncached.length > 0) {
    throw new OfflineError(`${uncached.length} of the files are not downloaded yet (${uncached[0]}${uncached.length > 1 ? ', …' : ''})`, 'unset HF_HUB_OFFLINE to download them')
  }
  const { listing, localDir } = plan
  const cache = repoCache(hub.settings.hubCache, listing.repo)
  const publish = async (file: PlannedFile) => {
    if (localDir) await writeLocalMetadata(localDir, localDirLayout(localDir), file.shard.path, listing.commit, file.sha256)
    else await linkSnapshot(cache, listing.commit, file.shard.path, file.sha256)
  }
  if (!localDir && !isCommit(listing.revision)) await writeRef(cache, listing.revision, listing.commit)
  const items: DownloadItem[] = []
  for (const file of plan.files) {
    if (file.state === 'complete') {
      await publish(file)
      continue
    }
    items.push({
      name: file.shard.path,
      target: fileTarget(hub, { repo: listing.repo, revision: listing.commit, path: file.shard.path }),
      size: file.shard.size,
      sha256: file.sha256,
      partialPath: file.partialPath,
      finalPath: file.path,
      onComplete: () => publish(file),
    })
  }
  return downloadFiles(items, { http: hub.http, partSize: options.partSize, onEvent: options.onEvent })
}
