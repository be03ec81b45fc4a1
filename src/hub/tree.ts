import { jsonBody, unexpectedAnswer } from '../fetch/errors.js'
import { encodePath, encodeRevision, type Hub } from './client.js'

/** One entry of a repository tree listing (files and folders). */
export interface TreeEntry {
  type: 'file' | 'directory' | 'unknown'
  path: string
  /** Git blob id (for LFS files: of the pointer). */
  oid: string
  /** Size of the real content in bytes. */
  size: number
  /** Present for LFS files: `oid` is the sha256 of the content. */
  lfs?: { oid: string, size: number, pointerSize?: number }
  xetHash?: string
}

/** Options for {@link listTree}. */
export interface ListTreeOptions {
  repo: string
  /** Pin to a commit for consistent results. */
  revision: string
  /** Folder inside the repository (default: the root). */
  path?: string
  recursive?: boolean
}

/** List a repository folder, following the `Link: <…>; rel="next"` pages until the end. */
export async function* listTree(hub: Hub, options: ListTreeOptions): AsyncGenerator<TreeEntry> {
  const folder = options.path ? `/${encodePath(options.path)}` : ''
  const endpoint = new URL(hub.settings.endpoint)
  let url: string | undefined = `${hub.settings.endpoint}/api/datasets/${options.repo}/tree/${encodeRevision(options.revision)}${folder}` +
    `?recursive=${options.recursive ? 'true' : 'false'}&expand=false`
  const context = { repo: options.repo, revision: options.revision, path: options.path }
  while (url) {
    const res = await hub.http.fetchOk(url, { context })
    const page = jsonBody<TreeEntry[]>(res)
    if (!Array.isArray(page)) throw unexpectedAnswer(res, 'JSON that is not a list of files')
    yield* page
    url = nextPageUrl(res.headers.link, endpoint)
  }
}

/**
 * The `rel="next"` URL of a Link header. A mirror proxies the Hub without rewriting Link, so a next
 * page may name huggingface.co: keep its path and query but ask the endpoint we were given.
 */
export function nextPageUrl(link: string | undefined, endpoint: URL): string | undefined {
  if (!link) return undefined
  for (const part of link.split(/,(?=\s*<)/)) {
    const match = /<([^>]+)>\s*;(.*)$/.exec(part.trim())
    if (match && /\brel="?next"?/.test(match[2]!)) {
      const next = new URL(match[1]!, endpoint)
      return `${endpoint.origin}${next.pathname}${next.search}`
    }
  }
  return undefined
}
