import { readdir, stat } from 'node:fs/promises'
import { join, resolve, sep } from 'node:path'
import type { FileMetaData } from 'hyparquet'
import pLimit from 'p-limit'
import picomatch from 'picomatch'
import { CoderforgeError, OfflineError, UsageError } from './errors.js'
import { defaultMemoryBytes, memoryBudget, type MemoryBudget } from './fetch/budget.js'
import { openRangeReader, type RangeReader } from './fetch/rangeReader.js'
import { fileSize, readRef, repoCache } from './hub/cache.js'
import type { Hub } from './hub/client.js'
import { fileTarget, resolveFile } from './hub/resolve.js'
import { isCommit } from './hub/revision.js'
import { listShards, type ListShardsOptions, type Shard } from './hub/shards.js'
import { readFooter } from './parquet/footer.js'
import { fileSource, withHeldBytes, type ByteSource } from './parquet/source.js'

/** A Parquet file to read, before it is opened. */
export interface SourceRef {
  /** What to call it in output: the repo path, the local path, or the URL. */
  name: string
  /** The shard it is, when it came from the dataset. */
  shard?: Shard
  /** Where its bytes come from. */
  origin: 'local' | 'cache' | 'remote'
  size: number
  open(): Promise<ByteSource>
}

/** A resolved set of inputs, in reading order. */
export interface SourceSet {
  sources: SourceRef[]
  /** The pinned commit, when the inputs came from the Hub. */
  commit?: string
  /** Bytes fetched over the network so far by the sources opened from this set. */
  bytesFetched(): number
  /** What the set's sources hold in memory (footers, chunks fetched ahead), against `--memory`. */
  budget: MemoryBudget
}

/** Options for {@link resolveSources}: local inputs, or a selection of the dataset. */
export interface ResolveSourcesOptions extends ListShardsOptions {
  /** Local paths, globs or http(s) URLs; when given, the dataset selection is not used. */
  inputs?: string[]
  /** Bytes the sources may hold fetched ahead of need (default: half of {@link defaultMemoryBytes}). */
  holdBytes?: number
}

/**
 * Decide where each input's bytes come from. Dataset shards already in the download cache are read
 * from disk; the others are read remotely with range requests (only the bytes a command needs).
 * With HF_HUB_OFFLINE the cache is the only source.
 */
export async function resolveSources(hub: Hub, options: ResolveSourcesOptions): Promise<SourceSet> {
  const remote: { bytesFetched(): number }[] = []
  const counted = <T extends ByteSource & { bytesFetched(): number }>(source: T): T => {
    remote.push(source)
    return source
  }
  const bytesFetched = () => remote.reduce((sum, source) => sum + source.bytesFetched(), 0)
  const budget = memoryBudget(options.holdBytes ?? defaultMemoryBytes / 2)
  const localSource = (path: string, size: number, origin: 'local' | 'cache'): SourceRef =>
    ({ name: path, origin, size, open: async () => withHeldBytes(await fileSource(path), budget) })

  if (options.inputs?.length) {
    if (options.splits.length) throw new UsageError('give either files or --split, not both')
    if (options.select) throw new UsageError('--shards and --include pick shards of a --split: with files, name the files you want')
    const sources: SourceRef[] = []
    for (const input of options.inputs) {
      if (/^https?:\/\//.test(input)) sources.push(await urlSource(hub, input, (reader) => withHeldBytes(counted(reader), budget), localSource))
      else for (const path of await expandLocal(input)) sources.push(localSource(path, (await stat(path)).size, 'local'))
    }
    return { sources, bytesFetched, budget }
  }

  const listing = await listShards(hub, options)
  const cache = repoCache(hub.settings.hubCache, listing.repo)
  const sources: SourceRef[] = []
  for (const shard of listing.shards) {
    if (hub.settings.offline) {
      // the offline listing is what the snapshot holds
      sources.push({ ...localSource(cache.snapshot(listing.commit, shard.path), shard.size, 'cache'), name: shard.path, shard })
      continue
    }
    const blob = shard.sha256 && cache.blob(shard.sha256)
    if (blob && (await fileSize(blob)) === shard.size) {
      sources.push({ ...localSource(blob, shard.size, 'cache'), name: shard.path, shard })
      continue
    }
    const options = { repo: listing.repo, revision: listing.commit, path: shard.path }
    sources.push({
      name: shard.path,
      shard,
      origin: 'remote',
      size: shard.size,
      open: async () => withHeldBytes(counted(openRangeReader({ http: hub.http, target: fileTarget(hub, options), size: shard.size, name: shard.path, context: options, coalesceGap })), budget),
    })
  }
  return { sources, commit: listing.commit, bytesFetched, budget }
}

/**
 * Remote reads merge only touching ranges: near ones are merged by the reader that asks (row-group
 * chunk ranges), before held bytes are taken out, so a merged request never fetches held bytes again.
 */
const coalesceGap = 0

type LocalSource = (path: string, size: number, origin: 'local' | 'cache') => SourceRef

async function urlSource(hub: Hub, url: string, wrap: (reader: RangeReader) => ByteSource, local: LocalSource): Promise<SourceRef> {
  const resolveMatch = /^(https?:\/\/[^/]+)\/datasets\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(url)
  if (resolveMatch && resolveMatch[1] === hub.settings.endpoint) {
    // a Hub resolve URL: go through the Hub client (token, signed-link refresh)
    const options = { repo: resolveMatch[2]!, revision: decodeURIComponent(resolveMatch[3]!), path: decodeURIComponent(resolveMatch[4]!) }
    if (hub.settings.offline) return cachedFile(hub, url, options, local)
    const location = await resolveFile(hub, options)
    if (location.size === undefined) throw new CoderforgeError(`${url}: the Hub did not say how large the file is`)
    const size = location.size
    return { name: url, origin: 'remote', size, open: async () => wrap(openRangeReader({ http: hub.http, target: fileTarget(hub, options, location), size, name: url, context: options, coalesceGap })) }
  }
  if (hub.settings.offline) throw new OfflineError(`${url} is not a file of the Hub's cache`, 'download it and give its path, or unset HF_HUB_OFFLINE')
  const head = await hub.http.fetchOk(url, { method: 'HEAD' })
  const size = Number(head.headers['content-length'])
  if (!Number.isFinite(size)) throw new CoderforgeError(`${url}: the server did not say how large the file is (no Content-Length)`)
  return { name: url, origin: 'remote', size, open: async () => wrap(openRangeReader({ http: hub.http, target: url, size, name: url, coalesceGap })) }
}

/** Offline: a Hub resolve URL read from the cache's snapshot of that revision. */
async function cachedFile(hub: Hub, url: string, file: { repo: string, revision: string, path: string }, local: LocalSource): Promise<SourceRef> {
  const cache = repoCache(hub.settings.hubCache, file.repo)
  const commit = isCommit(file.revision) ? file.revision : await readRef(cache, file.revision)
  const path = commit && cache.snapshot(commit, file.path)
  const size = path ? await fileSize(path) : undefined
  if (!path || size === undefined) throw new OfflineError(`${url} is not in the cache (${cache.dir})`)
  return { ...local(path, size, 'cache'), name: url }
}

/** A path, or a glob (`data/*.parquet`, `**` allowed), expanded to existing files in sorted order. */
async function expandLocal(input: string): Promise<string[]> {
  const scan = picomatch.scan(input)
  if (!scan.isGlob) {
    const info = await stat(input).catch(() => undefined)
    if (!info) throw new UsageError(`no such file: ${input}`)
    if (info.isDirectory()) return expandLocal(join(input, '**/*.parquet'))
    return [resolve(input)]
  }
  const base = resolve(scan.base || '.')
  const match = picomatch(scan.glob, { dot: false })
  const found: string[] = []
  const walk = async (dir: string) => {
    for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
      const path = join(dir, entry.name)
      if (entry.isDirectory()) await walk(path)
      else if (match(path.slice(base.length + 1).split(sep).join('/'))) found.push(path)
    }
  }
  await walk(base)
  if (found.length === 0) throw new UsageError(`no files match ${input}`)
  return found.sort()
}

/** A source opened, with its footer. */
export interface OpenedSource {
  ref: SourceRef
  source: ByteSource
  metadata: FileMetaData
}

/** Options for {@link openSources}. */
export interface OpenSourcesOptions {
  /** Sources opened at once (default 64; the HTTP client's connection budget bounds remote ones again). */
  concurrency?: number
  /** Only footers will be read (inspect): small remote files are not fetched whole with them. */
  footerOnly?: boolean
}

/**
 * Open sources and read their footers, several at a time, in input order. Footers are small (one tail
 * read each, kept for later reads), so a split's 224 footers cost a few MB.
 */
export function openSources(refs: SourceRef[], options: OpenSourcesOptions = {}): Promise<OpenedSource>[] {
  const limit = pLimit(options.concurrency ?? 64)
  const withFooter = async (ref: SourceRef, source: ByteSource): Promise<OpenedSource> => {
    try {
      return { ref, source, metadata: await readFooter(source, { footerOnly: options.footerOnly }) }
    } catch (error) {
      await source.close?.()
      throw error
    }
  }
  // while the link is unmeasured (no long answer yet), the first remote footer measures it, one round
  // trip before the others, so that each of them knows whether its file is small enough to come whole
  let probe: Promise<unknown> | undefined
  return refs.map((ref) => limit(async () => {
    const source = await ref.open()
    if (ref.origin === 'remote' && !options.footerOnly && !source.roundTripBytes?.()) {
      if (probe) await probe.catch(() => {})
      else {
        const opening = withFooter(ref, source)
        probe = opening
        return opening
      }
    }
    return withFooter(ref, source)
  }))
}

/** Close whatever opened sources hold (local file handles). */
export async function closeSources(opened: Promise<OpenedSource>[]): Promise<void> {
  await Promise.all(opened.map((promise) => promise.then((o) => o.source.close?.(), () => {})))
}
