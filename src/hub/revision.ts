import { jsonBody, unexpectedAnswer } from '../fetch/errors.js'
import { encodeRevision, type Hub } from './client.js'

/** Options for {@link resolveCommit}. */
export interface ResolveCommitOptions {
  repo: string
  revision?: string
}

/**
 * Pin a revision (branch, tag, or commit) to its 40-hex commit, so that every file of a run comes
 * from the same snapshot even if the branch moves meanwhile.
 */
export async function resolveCommit(hub: Hub, options: ResolveCommitOptions): Promise<string> {
  const revision = options.revision ?? 'main'
  const url = `${hub.settings.endpoint}/api/datasets/${options.repo}/revision/${encodeRevision(revision)}`
  const res = await hub.http.fetchOk(url, { context: { repo: options.repo, revision } })
  const info = jsonBody<{ sha?: unknown } | null>(res)
  if (typeof info?.sha !== 'string' || !/^[0-9a-f]{40}$/.test(info.sha)) throw unexpectedAnswer(res, 'JSON without a commit sha')
  return info.sha
}

/** True for a full 40-hex commit id. */
export function isCommit(revision: string): boolean {
  return /^[0-9a-f]{40}$/.test(revision)
}
