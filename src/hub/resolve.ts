import type { UrlTarget } from '../fetch/http.js'
import { encodePath, encodeRevision, type Hub } from './client.js'

/** What the Hub says about one file at one revision, and where its bytes are served from. */
export interface FileLocation {
  /** The resolve URL on the Hub (stable; asking it again issues a fresh download link). */
  resolveUrl: string
  /** Where to GET the bytes: a signed CDN link for LFS/Xet files, else the resolve URL itself. */
  downloadUrl: string
  /** The commit the revision resolved to (X-Repo-Commit). */
  commit: string | undefined
  /** Content id: sha256 for LFS/Xet files (X-Linked-Etag), git blob sha1 for regular files (ETag). */
  etag: string | undefined
  size: number | undefined
}

/** Options for {@link resolveFile}. */
export interface ResolveFileOptions {
  repo: string
  revision: string
  path: string
}

const maxRelativeRedirects = 5

/**
 * HEAD the file's resolve URL without following the redirect to the CDN (the token must never go
 * there), following only same-origin relative redirects (renamed repos, resolve-cache), as
 * huggingface_hub does.
 */
export async function resolveFile(hub: Hub, options: ResolveFileOptions): Promise<FileLocation> {
  const resolveUrl = `${hub.settings.endpoint}/datasets/${options.repo}/resolve/${encodeRevision(options.revision)}/${encodePath(options.path)}`
  const context = { repo: options.repo, revision: options.revision, path: options.path }
  let url = resolveUrl
  for (let hop = 0; ; hop++) {
    const res = await hub.http.fetchOk(url, { method: 'HEAD', context, accept: [301, 302, 303, 307, 308] })
    const location = res.headers.location
    const isRedirect = res.status >= 300 && res.status < 400 && location !== undefined
    const target = isRedirect ? new URL(location, url) : undefined
    if (target && new URL(url).origin === target.origin && hop < maxRelativeRedirects) {
      url = target.href
      continue
    }
    const size = res.headers['x-linked-size'] ?? (isRedirect ? undefined : res.headers['content-length'])
    return {
      resolveUrl,
      downloadUrl: target?.href ?? url,
      commit: res.headers['x-repo-commit'],
      etag: normalizeEtag(res.headers['x-linked-etag'] ?? res.headers.etag),
      size: size === undefined ? undefined : Number(size),
    }
  }
}

/**
 * A download target for the HTTP layer: resolves once (concurrent parts share the answer) and
 * re-resolves when the CDN says the signed link expired.
 */
export function fileTarget(hub: Hub, options: ResolveFileOptions, location?: FileLocation): UrlTarget {
  let current: Promise<FileLocation> | undefined = location && Promise.resolve(location)
  return {
    async url() {
      current ??= resolveFile(hub, options)
      return (await current).downloadUrl
    },
    async refresh() {
      current = resolveFile(hub, options)
      return (await current).downloadUrl
    },
  }
}

function normalizeEtag(etag: string | undefined): string | undefined {
  return etag?.replace(/^W\//, '').replace(/"/g, '') || undefined
}
