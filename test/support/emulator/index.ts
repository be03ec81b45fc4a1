/**
 * A local stand-in for the Hugging Face Hub and its CDN (../shared/hub-protocol.md §7): two origins on
 * 127.0.0.1, real HTTP, the Hub's routes, headers, redirects, auth and error conventions, signed
 * expiring CDN links, single-range semantics, scriptable faults, bandwidth caps and a request log.
 */
import { createHmac, randomUUID } from 'node:crypto'
import { open, readFile } from 'node:fs/promises'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { gzipSync } from 'node:zlib'
import { addCommit, commitFor, loadRepo, splitRevision, type EmulatedRepo, type RepoFile } from './repo.js'

/** Options for {@link startHub}. */
export interface HubOptions {
  repos: RepoSpec[]
  /** Valid tokens; `grants` lists the gated or private repos each may read. */
  tokens?: Record<string, { grants?: string[] }>
  /** Tree listing page size (default 1000). */
  pageSize?: number
  /** Signed CDN link lifetime in seconds (default 3600). */
  linkTtlSeconds?: number
  /**
   * Byte/s cap on file bodies, per TCP connection: each connection has its own clock, shared by the
   * requests it carries one after another, so N connections get N times the rate (as from a CDN edge).
   */
  bandwidth?: number
  /** Added before every response's headers (one round trip). */
  latencyMs?: number
  /**
   * Added once more before the first response on each new connection: what a real connection's TCP
   * and TLS handshakes cost (about two round trips over HTTPS). Default 0.
   */
  connectionLatencyMs?: number
  /**
   * Keep each file's bytes in memory after its first read and send them without copying. For
   * benchmarks on one machine: a real CDN costs the client's machine no CPU, and neither should this.
   */
  bodiesInMemory?: boolean
  /** Serve regular (non-LFS) files through a relative 307 to /api/resolve-cache/…, as the Hub now does. */
  resolveCache?: boolean
  host?: string
  /** Port of the Hub origin (default: any free port). */
  hubPort?: number
  /** Port of the CDN origin (default: any free port). */
  cdnPort?: number
}

/** A dataset repository served from a folder. */
export interface RepoSpec {
  id: string
  dir: string
  gated?: false | 'auto' | 'manual'
  private?: boolean
  /** An old name of the repo: requests to it get a relative 307 to the new name, as after a rename. */
  renamedFrom?: string
}

/** One request as the emulator saw it. */
export interface RequestRecord {
  origin: 'hub' | 'cdn'
  method: string
  /** pathname + query */
  path: string
  range?: string
  authorization: boolean
  status: number
  bytesSent: number
  /** The repo file concerned, when known (also for CDN requests). */
  file?: string
  t: number
}

/** A scripted fault, matched against requests in order; each applies to `times` matching requests. */
export type FaultSpec = {
  target: 'api' | 'resolve' | 'cdn'
  file?: string
  path?: RegExp
  rangeStart?: number
  /** Skip the first nth-1 matching requests. */
  nth?: number
  times?: number
} & (
  | { kind: 'status', status: number, retryAfter?: number, rateLimit?: { remaining: number, reset: number } }
  | { kind: 'drop', afterBytes: number }
  | { kind: 'stall', afterBytes: number, ms: number }
  | { kind: 'trickle', bytesPerSecond: number }
  | { kind: 'corrupt' }
  | { kind: 'ignoreRange' }
  | { kind: 'reset' }
  /** gzip the body when the client accepts gzip (clients must send Accept-Encoding: identity). */
  | { kind: 'gzip' }
  /** 200 with an HTML page, as a captive portal or a wrong HF_ENDPOINT answers. */
  | { kind: 'html' }
  /** Accept the request and never answer (the connection stays open until the client gives up). */
  | { kind: 'hang' }
)

/** What one origin has served since the start or the last {@link HubEmulator.clearLog}. */
export interface OriginCounters {
  requests: number
  /** Body bytes sent (headers not counted). */
  bytesSent: number
  /** TCP connections accepted. */
  connections: number
  /** Most connections open at once. */
  peakConnections: number
  /** Most responses in progress at once (requests whose response has not ended). */
  peakInFlight: number
}

/** A running emulator. */
export interface HubEmulator {
  endpoint: string
  cdnOrigin: string
  requests: RequestRecord[]
  /** Requests, bytes and connections per origin, for benches and tests. */
  counters(): Record<RequestRecord['origin'], OriginCounters>
  /** Empty the request log and reset the counters. */
  clearLog(): void
  fault(spec: FaultSpec): void
  clearFaults(): void
  /** Per-connection cap from now on (undefined: none). */
  setBandwidth(bytesPerSecond: number | undefined): void
  setLatency(ms: number): void
  setConnectionLatency(ms: number): void
  /** Every signed link issued so far becomes expired. */
  expireLinks(): void
  /** With `bodiesInMemory`: read every file now, so no contender of a bench pays the first read. */
  preload(): Promise<void>
  commitOf(repoId: string, revision?: string): string
  advanceMain(repoId: string): string
  sha256Of(repoId: string, path: string): string
  close(): Promise<void>
}

interface ActiveFault {
  spec: FaultSpec
  seen: number
  remaining: number
}

type Target = FaultSpec['target']

const secret = 'coderforge-emulator'
const chunkSize = 256 * 1024

/** Start the two origins. */
export async function startHub(options: HubOptions): Promise<HubEmulator> {
  const repos = new Map<string, EmulatedRepo>()
  const renames = new Map<string, string>()
  for (const spec of options.repos) {
    repos.set(spec.id, await loadRepo(spec))
    if (spec.renamedFrom) renames.set(spec.renamedFrom, spec.id)
  }
  const tokens = options.tokens ?? {}
  const pageSize = options.pageSize ?? 1000
  const linkTtl = options.linkTtlSeconds ?? 3600
  let bandwidth = options.bandwidth
  let latency = options.latencyMs ?? 0
  let connectionLatency = options.connectionLatencyMs ?? 0
  // per connection: when the bytes sent on it so far are due at the capped rate
  const connectionClocks = new WeakMap<Socket, number>()
  // connections that have had their first response delayed by the handshake latency
  const greeted = new WeakSet<Socket>()
  const traffic = { hub: originTraffic(), cdn: originTraffic() }
  const bodies = new Map<string, Buffer>()
  // links carry the generation they were issued in; expireLinks() starts a new one
  let linkGeneration = 0
  const requests: RequestRecord[] = []
  let faults: ActiveFault[] = []
  const sockets = new Set<Socket>()

  function takeFault(target: Target, path: string, file: string | undefined, range: string | undefined): FaultSpec | undefined {
    const rangeStart = range ? Number(/bytes=(\d*)/.exec(range)?.[1] || NaN) : undefined
    for (const fault of faults) {
      const { spec } = fault
      if (spec.target !== target || fault.remaining <= 0) continue
      if (spec.file !== undefined && spec.file !== file) continue
      if (spec.path && !spec.path.test(path)) continue
      if (spec.rangeStart !== undefined && spec.rangeStart !== rangeStart) continue
      fault.seen++
      if (fault.seen < (spec.nth ?? 1)) continue
      fault.remaining--
      return spec
    }
    return undefined
  }

  function record(origin: 'hub' | 'cdn', req: IncomingMessage, res: ServerResponse, file?: string): { bytes: number } {
    const counter = { bytes: 0 }
    const entry = {
      origin, method: req.method!, path: req.url!, range: req.headers.range, authorization: req.headers.authorization !== undefined,
      file, t: Date.now(),
      // live views: a client may have what it needs before the server has finished the response
      get status() { return res.statusCode },
      get bytesSent() { return counter.bytes },
    }
    requests.push(entry)
    const own = traffic[origin]
    own.peakInFlight = Math.max(own.peakInFlight, ++own.inFlight)
    res.once('close', () => { own.inFlight-- })
    return counter
  }

  /** One round trip before the headers, and the handshakes' on a connection's first response. */
  async function delay(req: IncomingMessage): Promise<void> {
    let ms = latency
    if (!greeted.has(req.socket)) {
      greeted.add(req.socket)
      ms += connectionLatency
    }
    if (ms) await sleep(ms)
  }

  // ---------------------------------------------------------------- Hub origin
  const hub = createServer((req, res) => {
    void handleHub(req, res).catch((error: unknown) => {
      if (!res.headersSent) sendError(res, 500, 'InternalError', String(error))
      else res.destroy()
    })
  })

  async function handleHub(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url!, `http://${req.headers.host}`)
    const resolveMatch = /^\/datasets\/([^/]+\/[^/]+)\/resolve\/(.+)$/.exec(url.pathname)
    const apiMatch = /^\/api\/datasets\/([^/]+\/[^/]+)(?:\/(revision|tree|paths-info|refs|parquet)(?:\/(.*))?)?$/.exec(url.pathname)
    const target: Target = resolveMatch ? 'resolve' : 'api'
    const repoId = resolveMatch?.[1] ?? apiMatch?.[1]
    const rest = resolveMatch?.[2] ?? apiMatch?.[3] ?? ''
    const file = resolveMatch ? splitRevision(rest).path : undefined
    const counter = record('hub', req, res, file && decodeURIComponent(file))
    await delay(req)
    const fault = takeFault(target, url.pathname, file && decodeURIComponent(file), req.headers.range)
    if (fault && applyStatusFault(fault, res)) return
    const cacheMatch = /^\/api\/resolve-cache\/datasets\/([^/]+\/[^/]+)\/([0-9a-f]{40})\/(.+)$/.exec(url.pathname)
    if (cacheMatch) return serveResolveCache(req, res, cacheMatch[1]!, cacheMatch[2]!, decodeURIComponent(cacheMatch[3]!), fault, counter)
    if (!repoId || (!resolveMatch && !apiMatch)) return sendError(res, 404, undefined, 'Sorry, we can\'t find the page you are looking for.')
    const renamedTo = renames.get(repoId)
    if (renamedTo) {
      res.writeHead(307, { Location: url.pathname.replace(`/${repoId}/`, `/${renamedTo}/`) + url.search })
      return void res.end()
    }
    const repo = repos.get(repoId)
    const auth = authorize(req, repo)
    if (auth.error) return sendError(res, auth.error.status, auth.error.code, auth.error.message)
    const metadataOnly = apiMatch && !apiMatch[2]
    if (repo!.gated && !auth.granted && !metadataOnly && apiMatch?.[2] !== 'revision') {
      return auth.token
        ? sendError(res, 403, 'GatedRepo', `Access to dataset ${repoId} is restricted and you are not in the authorized list. Visit ${origin(req)}/datasets/${repoId} to ask for access.`)
        : sendError(res, 401, 'GatedRepo', `Access to dataset ${repoId} is restricted. You must have access to it and be authenticated to access it. Please log in.`)
    }
    if (resolveMatch) return resolveFile(req, res, repo!, rest, fault, counter)
    const kind = apiMatch![2]
    if (!kind) return sendJson(res, repoInfo(repo!, repo!.commits.at(-1)!, url.searchParams.get('blobs') === 'true'), counter)
    if (kind === 'parquet') return sendJson(res, parquetListing(req, repo!, rest), counter)
    if (kind === 'refs') {
      return sendJson(res, {
        branches: [{ name: 'main', ref: 'refs/heads/main', targetCommit: repo!.commits.at(-1) }],
        converts: [{ name: 'parquet', ref: 'refs/convert/parquet', targetCommit: repo!.commits.at(-1) }],
        tags: [{ name: 'v1.0', ref: 'refs/tags/v1.0', targetCommit: repo!.commits[0] }],
      }, counter)
    }
    const { revision, path } = splitRevision(rest)
    const commit = commitFor(repo!, revision)
    if (!commit) return sendError(res, 404, 'RevisionNotFound', `Invalid rev id: ${revision}`)
    res.setHeader('X-Repo-Commit', commit)
    if (kind === 'revision') return sendJson(res, repoInfo(repo!, commit, url.searchParams.get('blobs') === 'true'), counter)
    if (kind === 'tree') return listTree(req, res, repo!, decodeURIComponent(path), url, counter)
    const body = await readBody(req)
    const paths = req.headers['content-type']?.includes('json')
      ? (JSON.parse(body) as { paths: string[] }).paths
      : new URLSearchParams(body).getAll('paths')
    return sendJson(res, repo!.files.filter((f) => paths.includes(f.path)).map(treeEntry), counter)
  }

  function authorize(req: IncomingMessage, repo: EmulatedRepo | undefined) {
    const header = req.headers.authorization
    const token = header?.startsWith('Bearer ') ? header.slice(7) : undefined
    if (token !== undefined && !(token in tokens)) {
      return { error: { status: 401, code: undefined, message: 'Invalid credentials in Authorization header' }, token, granted: false }
    }
    const granted = token !== undefined && repo !== undefined && (tokens[token]!.grants ?? []).includes(repo.id)
    if (!repo || (repo.private && !granted)) {
      const message = 'Repository not found'
      return { error: { status: token ? 404 : 401, code: 'RepoNotFound', message }, token, granted }
    }
    return { error: undefined, token, granted }
  }

  function repoInfo(repo: EmulatedRepo, commit: string, blobs: boolean) {
    return {
      _id: repo.id, id: repo.id, author: repo.id.split('/')[0], sha: commit, lastModified: '2026-02-25T00:00:00.000Z',
      private: repo.private, gated: repo.gated, disabled: false, downloads: 0, likes: 0, tags: [],
      siblings: repo.files.map((f) => blobs
        ? { rfilename: f.path, size: f.size, blobId: f.oid, ...(f.lfs ? { lfs: { sha256: f.sha256, size: f.size, pointerSize: f.pointerSize } } : {}) }
        : { rfilename: f.path }),
      usedStorage: repo.files.reduce((sum, f) => sum + f.size, 0),
    }
  }

  /** `/api/datasets/{id}/parquet[/{config}[/{split}]]`: the shards' URLs on refs/convert/parquet, in shard order. */
  function parquetListing(req: IncomingMessage, repo: EmulatedRepo, rest: string): unknown {
    const [config, split] = rest.split('/').filter(Boolean)
    const listing: Record<string, Record<string, string[]>> = {}
    for (const file of repo.files) {
      const match = /^([^/]+)\/(.+)-\d{5}-of-\d{5}\.parquet$/.exec(file.path)
      if (!match) continue
      const splits = (listing[match[1]!] ??= {})
      const urls = (splits[match[2]!] ??= [])
      urls.push(`${origin(req)}/api/datasets/${repo.id}/parquet/${match[1]}/${match[2]}/${urls.length}.parquet`)
    }
    if (config && split) return listing[config]?.[split] ?? []
    if (config) return listing[config] ?? {}
    return listing
  }

  function treeEntry(file: RepoFile) {
    return {
      type: 'file', oid: file.oid, size: file.size, path: file.path,
      ...(file.lfs ? { lfs: { oid: file.sha256, size: file.size, pointerSize: file.pointerSize } } : {}),
    }
  }

  function listTree(req: IncomingMessage, res: ServerResponse, repo: EmulatedRepo, folder: string, url: URL, counter: { bytes: number }): void {
    const recursive = url.searchParams.get('recursive') === 'true'
    const prefix = folder ? `${folder.replace(/\/$/, '')}/` : ''
    const inFolder = repo.files.filter((f) => f.path.startsWith(prefix))
    if (folder && inFolder.length === 0) {
      return sendError(res, 404, 'EntryNotFound', `${folder} does not exist on "${res.getHeader('X-Repo-Commit')}"`)
    }
    const entries: object[] = []
    const directories = new Set<string>()
    for (const file of inFolder) {
      const parts = file.path.slice(prefix.length).split('/')
      for (let depth = 1; depth < parts.length; depth++) {
        const dir = prefix + parts.slice(0, depth).join('/')
        if (!directories.has(dir) && (recursive || depth === 1)) {
          directories.add(dir)
          entries.push({ type: 'directory', oid: '0'.repeat(40), size: 0, path: dir })
        }
      }
      if (recursive || parts.length === 1) entries.push(treeEntry(file))
    }
    // the Hub promises no order: serve a stable shuffle, not path order
    entries.sort((a, b) => hashOf(JSON.stringify(a)) - hashOf(JSON.stringify(b)))
    const cursor = url.searchParams.get('cursor')
    let start = 0
    if (cursor) {
      start = Number(Buffer.from(cursor, 'base64url').toString().replace(/^offset:/, ''))
      if (!Number.isInteger(start) || start < 0 || start > entries.length) return sendError(res, 400, undefined, 'Invalid cursor')
    }
    const page = entries.slice(start, start + pageSize)
    if (start + pageSize < entries.length) {
      const next = new URL(url.href)
      next.protocol = 'http:'
      next.host = req.headers.host!
      next.searchParams.set('cursor', Buffer.from(`offset:${start + pageSize}`).toString('base64url'))
      res.setHeader('Link', `<${next.href}>; rel="next"`)
    }
    sendJson(res, page, counter)
  }

  function resolveFile(req: IncomingMessage, res: ServerResponse, repo: EmulatedRepo, rest: string, fault: FaultSpec | undefined, counter: { bytes: number }): void {
    const { revision, path: encodedPath } = splitRevision(rest)
    const path = decodeURIComponent(encodedPath)
    const commit = commitFor(repo, revision)
    if (!commit) return sendError(res, 404, 'RevisionNotFound', `Invalid rev id: ${revision}`)
    res.setHeader('X-Repo-Commit', commit)
    res.setHeader('X-Request-Id', randomUUID())
    const file = repo.files.find((f) => f.path === path)
    if (!file) return sendError(res, 404, 'EntryNotFound', `${path} does not exist on "${commit}"`)
    if (!file.lfs && options.resolveCache) {
      res.writeHead(307, { Location: `/api/resolve-cache/datasets/${repo.id}/${commit}/${encodeURI(path)}?etag=%22${file.oid}%22`, ETag: `"${file.oid}"` })
      return void res.end()
    }
    if (!file.lfs) {
      res.setHeader('ETag', `"${file.oid}"`)
      res.setHeader('Content-Type', 'text/plain; charset=utf-8')
      res.setHeader('Content-Length', file.size)
      res.setHeader('Accept-Ranges', 'bytes')
      res.statusCode = 200
      if (req.method === 'HEAD') return void res.end()
      return void streamFile(req, res, file, 0, file.size - 1, fault, counter)
    }
    const expires = Math.floor(Date.now() / 1000) + linkTtl
    const cdnPath = `/repos/${file.sha256.slice(0, 2)}/${file.sha256.slice(2, 4)}/${file.sha256}`
    const issued = linkGeneration
    const location = `${cdnOrigin}${cdnPath}?response-content-disposition=${encodeURIComponent(`inline; filename*=UTF-8''${path.split('/').pop()}`)}` +
      `&Expires=${expires}&Issued=${issued}&Signature=${sign(cdnPath, expires, issued)}&Key-Pair-Id=EMULATOR`
    const body = `Found. Redirecting to ${location}`
    res.writeHead(302, {
      Location: location,
      'Content-Type': 'text/plain; charset=utf-8',
      'Content-Length': Buffer.byteLength(body),
      'X-Linked-Etag': `"${file.sha256}"`,
      'X-Linked-Size': file.size,
      ETag: `"${file.oid}"`,
      'Access-Control-Expose-Headers': 'X-Repo-Commit,X-Request-Id,X-Error-Code,X-Error-Message,X-Total-Count,ETag,Link,Accept-Ranges,Content-Range',
    })
    res.end(req.method === 'HEAD' ? undefined : body)
  }

  function serveResolveCache(
    req: IncomingMessage, res: ServerResponse, repoId: string, commit: string, path: string, fault: FaultSpec | undefined, counter: { bytes: number },
  ): void {
    const repo = repos.get(repoId)
    const file = repo?.commits.includes(commit) ? repo.files.find((f) => f.path === path) : undefined
    if (!file) return sendError(res, 404, 'EntryNotFound', `${path} does not exist on "${commit}"`)
    res.writeHead(200, { 'Content-Length': file.size, ETag: `"${file.oid}"`, 'X-Repo-Commit': commit, 'Content-Type': 'text/plain; charset=utf-8' })
    if (req.method === 'HEAD') return void res.end()
    void streamFile(req, res, file, 0, file.size - 1, fault, counter)
  }

  // ---------------------------------------------------------------- CDN origin
  const cdn = createServer((req, res) => {
    void handleCdn(req, res).catch(() => res.destroy())
  })

  async function handleCdn(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url!, `http://${req.headers.host}`)
    const match = /^\/repos\/[0-9a-f]{2}\/[0-9a-f]{2}\/([0-9a-f]{64})$/.exec(url.pathname)
    const file = match ? findBlob(match[1]!) : undefined
    const counter = record('cdn', req, res, file?.path)
    await delay(req)
    const fault = takeFault('cdn', url.pathname, file?.path, req.headers.range)
    if (fault?.kind === 'reset') return void req.socket.destroy()
    if (fault && applyStatusFault(fault, res)) return
    const expires = Number(url.searchParams.get('Expires'))
    const issued = Number(url.searchParams.get('Issued'))
    const valid = file && url.searchParams.get('Signature') === sign(url.pathname, expires, issued) &&
      expires * 1000 > Date.now() && issued === linkGeneration
    if (!valid) {
      res.writeHead(403, { 'Content-Type': 'application/xml' })
      return void res.end('<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Access denied</Message></Error>')
    }
    res.setHeader('Accept-Ranges', 'bytes')
    res.setHeader('ETag', `"cdn-${file.sha256.slice(0, 16)}"`)
    res.setHeader('X-Cache', 'Hit from cloudfront')
    res.setHeader('Content-Disposition', url.searchParams.get('response-content-disposition') ?? 'inline')
    res.setHeader('Content-Type', 'application/octet-stream')
    const range = fault?.kind === 'ignoreRange' ? undefined : req.headers.range
    let start = 0
    let end = file.size - 1
    if (range) {
      const parsed = /^bytes=(\d*)-(\d*)$/.exec(range)
      if (!parsed || (parsed[1] === '' && parsed[2] === '')) {
        res.writeHead(416, { 'Content-Range': `bytes */${file.size}` })
        return void res.end()
      }
      if (parsed[1] === '') {
        start = Math.max(0, file.size - Number(parsed[2]))
      } else {
        start = Number(parsed[1])
        end = parsed[2] === '' ? file.size - 1 : Math.min(Number(parsed[2]), file.size - 1)
      }
      if (start >= file.size || end < start) {
        res.writeHead(416, { 'Content-Range': `bytes */${file.size}` })
        return void res.end()
      }
      res.statusCode = 206
      res.setHeader('Content-Range', `bytes ${start}-${end}/${file.size}`)
    } else {
      res.statusCode = 200
    }
    if (fault?.kind === 'gzip' && /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''))) {
      // a misbehaving edge: compresses although a range was asked for, so sizes no longer match
      const source = await fileBody(file)
      const body = gzipSync(await source.read(start, end - start + 1).finally(() => source.close()))
      res.setHeader('Content-Encoding', 'gzip')
      res.setHeader('Content-Length', body.length)
      counter.bytes += body.length
      return void res.end(req.method === 'HEAD' ? undefined : body)
    }
    res.setHeader('Content-Length', end - start + 1)
    if (req.method === 'HEAD') return void res.end()
    await streamFile(req, res, file, start, end, fault, counter)
  }

  function findBlob(sha256: string): RepoFile | undefined {
    for (const repo of repos.values()) {
      const file = repo.filesBySha.get(sha256)
      if (file) return file
    }
    return undefined
  }

  async function streamFile(
    req: IncomingMessage, res: ServerResponse, file: RepoFile, start: number, end: number,
    fault: FaultSpec | undefined, counter: { bytes: number },
  ): Promise<void> {
    res.flushHeaders()
    const body = await fileBody(file)
    try {
      const rate = fault?.kind === 'trickle' ? fault.bytesPerSecond : bandwidth
      const socket = req.socket
      // an idle connection earns no credit: its clock starts again from now
      let clock = Math.max(connectionClocks.get(socket) ?? 0, Date.now())
      let sent = 0
      let stalled = false
      let corrupted = false
      for (let position = start; position <= end;) {
        if (res.destroyed || req.socket.destroyed) return
        let length = Math.min(chunkSize, end - position + 1)
        if (rate) length = Math.min(length, Math.max(1024, Math.floor(rate / 20)))
        if ((fault?.kind === 'drop' || fault?.kind === 'stall') && sent < fault.afterBytes) length = Math.min(length, fault.afterBytes - sent)
        if (rate) {
          // wait first, so the last byte arrives when the rate says, not one chunk early
          clock += (length / rate) * 1000
          connectionClocks.set(socket, clock)
          if (clock > Date.now()) await sleep(clock - Date.now())
          if (res.destroyed || socket.destroyed) return
        }
        let buffer = await body.read(position, length)
        if (fault?.kind === 'corrupt' && !corrupted) {
          buffer = Buffer.from(buffer)
          buffer[Math.floor(length / 2)]! ^= 0xff
          corrupted = true
        }
        const ok = res.write(buffer)
        sent += length
        counter.bytes += length
        position += length
        if (!ok) await new Promise((resolve) => res.once('drain', resolve))
        if (fault?.kind === 'drop' && sent >= fault.afterBytes) {
          req.socket.destroy()
          return
        }
        if (fault?.kind === 'stall' && sent >= fault.afterBytes && !stalled) {
          stalled = true
          await sleep(fault.ms)
        }
      }
      res.end()
    } finally {
      await body.close()
    }
  }

  /** Reads of a file's bytes: from disk, or from memory when `bodiesInMemory` is set. */
  async function fileBody(file: RepoFile): Promise<{ read(position: number, length: number): Promise<Buffer>, close(): Promise<void> }> {
    if (options.bodiesInMemory) {
      let content = bodies.get(file.absolute)
      if (!content) bodies.set(file.absolute, content = await readFile(file.absolute))
      const whole = content
      return { read: async (position, length) => whole.subarray(position, position + length), close: async () => {} }
    }
    const handle = await open(file.absolute, 'r')
    return {
      async read(position, length) {
        const buffer = Buffer.allocUnsafe(length)
        await handle.read(buffer, 0, length, position)
        return buffer
      },
      close: () => handle.close(),
    }
  }

  function sign(path: string, expires: number, issued: number): string {
    return createHmac('sha256', secret).update(`${path}:${expires}:${issued}`).digest('base64url')
  }

  function applyStatusFault(fault: FaultSpec, res: ServerResponse): boolean {
    if (fault.kind === 'reset') {
      res.socket?.destroy()
      return true
    }
    if (fault.kind === 'html') {
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' })
      res.end('<!DOCTYPE html>\n<html><head><title>Sign in to the network</title></head><body>Welcome</body></html>\n')
      return true
    }
    if (fault.kind === 'hang') return true
    if (fault.kind !== 'status') return false
    if (fault.status === 429) {
      const reset = fault.rateLimit?.reset ?? fault.retryAfter ?? 1
      if (fault.retryAfter !== undefined) res.setHeader('Retry-After', String(fault.retryAfter))
      res.setHeader('RateLimit', `"resolvers";r=${fault.rateLimit?.remaining ?? 0};t=${reset}`)
      res.setHeader('RateLimit-Policy', '"fixed window";"resolvers";q=3000;w=300')
      sendError(res, 429, undefined, 'You have exceeded our hourly quotas for action: resolve. We had to rate limit you.')
      return true
    }
    sendError(res, fault.status, undefined, fault.status >= 500 ? 'Internal Error - We\'re working hard to fix this as soon as possible!' : `HTTP ${fault.status}`)
    return true
  }

  const [hubPort, cdnPort] = await Promise.all([listen(hub, options.host, options.hubPort), listen(cdn, options.host, options.cdnPort)])
  const host = options.host ?? '127.0.0.1'
  const endpoint = `http://${host}:${hubPort}`
  const cdnOrigin = `http://${host}:${cdnPort}`
  for (const [name, server] of [['hub', hub], ['cdn', cdn]] as const) {
    server.on('connection', (socket: Socket) => {
      const own = traffic[name]
      own.connections++
      own.peakConnections = Math.max(own.peakConnections, ++own.openConnections)
      sockets.add(socket)
      socket.on('close', () => {
        own.openConnections--
        sockets.delete(socket)
      })
    })
  }

  function counters(): Record<RequestRecord['origin'], OriginCounters> {
    const of = (name: RequestRecord['origin']): OriginCounters => {
      const served = requests.filter((r) => r.origin === name)
      const { connections, peakConnections, peakInFlight } = traffic[name]
      return { requests: served.length, bytesSent: served.reduce((sum, r) => sum + r.bytesSent, 0), connections, peakConnections, peakInFlight }
    }
    return { hub: of('hub'), cdn: of('cdn') }
  }

  const repoOrThrow = (id: string) => {
    const repo = repos.get(id)
    if (!repo) throw new Error(`the emulator serves no repo ${id}`)
    return repo
  }

  return {
    endpoint,
    cdnOrigin,
    requests,
    counters,
    clearLog: () => {
      requests.length = 0
      for (const own of Object.values(traffic)) {
        own.connections = 0
        own.peakConnections = own.openConnections
        own.peakInFlight = own.inFlight
      }
    },
    fault: (spec) => { faults.push({ spec, seen: 0, remaining: spec.times ?? 1 }) },
    clearFaults: () => { faults = [] },
    setBandwidth: (value) => { bandwidth = value },
    setLatency: (value) => { latency = value },
    setConnectionLatency: (value) => { connectionLatency = value },
    expireLinks: () => { linkGeneration++ },
    async preload() {
      if (!options.bodiesInMemory) return
      for (const repo of repos.values()) {
        for (const file of repo.files) await (await fileBody(file)).close()
      }
    },
    commitOf: (id, revision = 'main') => commitFor(repoOrThrow(id), revision)!,
    advanceMain: (id) => addCommit(repoOrThrow(id)),
    sha256Of: (id, path) => repoOrThrow(id).files.find((f) => f.path === path)!.sha256,
    async close() {
      for (const socket of sockets) socket.destroy()
      await Promise.all([hub, cdn].map((server) => new Promise((resolve) => server.close(resolve))))
    },
  }
}

/** Live connection and response counts of one origin. */
function originTraffic() {
  return { connections: 0, openConnections: 0, peakConnections: 0, inFlight: 0, peakInFlight: 0 }
}

function sendJson(res: ServerResponse, value: unknown, counter: { bytes: number }): void {
  const body = JSON.stringify(value)
  res.writeHead(200, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(body), ...Object.fromEntries(Object.entries(res.getHeaders()).map(([k, v]) => [k, String(v)])) })
  counter.bytes += Buffer.byteLength(body)
  res.end(body)
}

function sendError(res: ServerResponse, status: number, code: string | undefined, message: string): void {
  const body = JSON.stringify({ error: message })
  if (code) res.setHeader('X-Error-Code', code)
  res.setHeader('X-Error-Message', message)
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(body) })
  res.end(body)
}

function origin(req: IncomingMessage): string {
  return `http://${req.headers.host}`
}

function hashOf(text: string): number {
  let hash = 2166136261
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 16777619)
  return hash >>> 0
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let body = ''
    req.on('data', (chunk: Buffer) => { body += chunk.toString() })
    req.on('end', () => resolve(body))
    req.on('error', reject)
  })
}

function listen(server: Server, host = '127.0.0.1', port = 0): Promise<number> {
  return new Promise((resolve) => server.listen(port, host, () => resolve((server.address() as AddressInfo).port)))
}
