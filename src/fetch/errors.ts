import {
  EntryNotFoundError, GatedRepoError, HubApiError, InvalidTokenError, ExitCode, RepoNotFoundError, RevisionNotFoundError,
} from '../errors.js'

/** What a request was about, so that its errors can say so. */
export interface ErrorContext {
  repo?: string
  revision?: string
  path?: string
}

/** The part of a response needed to explain it. */
export interface ErrorResponse {
  status: number
  headers: Record<string, string>
  url: string
  body: Buffer
}

/**
 * Turn a failed Hub or CDN response into a typed error with a one-line message that names the
 * problem and the fix. Follows the Hub's X-Error-Code / X-Error-Message conventions.
 */
export function responseError(res: ErrorResponse, context: ErrorContext = {}): HubApiError {
  const origin = new URL(res.url).origin
  const code = res.headers['x-error-code']
  const serverMessage = res.headers['x-error-message'] ?? jsonError(res.body)
  const info = { status: res.status, url: res.url, errorCode: code, requestId: res.headers['x-request-id'] }
  const repo = context.repo ? `dataset '${context.repo}'` : 'the repository'
  const page = context.repo ? `${origin}/datasets/${context.repo}` : origin

  if (code === 'GatedRepo') {
    return res.status === 401
      ? new GatedRepoError(`${repo} is gated: set HF_TOKEN to a token of an account that has accepted its conditions at ${page}`, info, ExitCode.auth)
      : new GatedRepoError(`your token has no access to gated ${repo}: request access at ${page}, then retry`, info, ExitCode.auth)
  }
  if (code === 'RepoNotFound') {
    return res.status === 401
      ? new RepoNotFoundError(`${repo} not found on ${origin} (check --repo; if it is private, set HF_TOKEN)`, info, ExitCode.notFound)
      : new RepoNotFoundError(`${repo} not found on ${origin}, or your token cannot see it (check --repo)`, info, ExitCode.notFound)
  }
  if (code === 'RevisionNotFound') {
    return new RevisionNotFoundError(`revision '${context.revision ?? '?'}' not found in ${repo} (check --revision: a branch, tag or commit)`, info, ExitCode.notFound)
  }
  if (code === 'EntryNotFound') {
    const what = context.path ? `'${context.path}'` : 'the file'
    return new EntryNotFoundError(`${what} not found in ${repo} at revision '${context.revision ?? 'main'}'`, info, ExitCode.notFound)
  }
  if (res.status === 401 && /invalid (credentials|token)/i.test(serverMessage ?? '')) {
    return new InvalidTokenError('the Hub rejected your token (invalid credentials): check HF_TOKEN or the token file under HF_HOME', info, ExitCode.auth)
  }
  if (res.status === 401) {
    return new HubApiError(`${origin} requires authentication for ${repo}: set HF_TOKEN`, info, ExitCode.auth)
  }
  if (res.status === 429) {
    return new HubApiError(`rate limited by ${origin} (HTTP 429) after several retries: wait a few minutes, lower --concurrency, or set HF_TOKEN for higher limits`, info, ExitCode.network)
  }
  if (res.status >= 500 || res.status === 408) {
    return new HubApiError(`${origin} answered HTTP ${res.status} after several retries${serverMessage ? `: ${serverMessage}` : ''}; try again later`, info, ExitCode.network)
  }
  if (res.status === 403) {
    return new HubApiError(`${origin} refused access (HTTP 403)${serverMessage ? `: ${serverMessage}` : ''}`, info, ExitCode.auth)
  }
  if (res.status === 404) {
    return new HubApiError(`not found on ${origin}: ${new URL(res.url).pathname} (HTTP 404) — is ${origin} a Hugging Face Hub endpoint?`, info, ExitCode.notFound)
  }
  return new HubApiError(`${origin} answered HTTP ${res.status}${serverMessage ? `: ${serverMessage}` : ''}`, info)
}

/**
 * The JSON body of a Hub API answer. Anything else (an HTML page from a captive portal, a proxy or
 * a wrong HF_ENDPOINT) is one line naming the endpoint and what to check, not a JSON parser's message.
 */
export function jsonBody<T>(res: ErrorResponse): T {
  try {
    return JSON.parse(res.body.toString('utf8')) as T
  } catch {
    throw unexpectedAnswer(res, `${res.headers['content-type']?.split(';')[0] || 'a body'} that is not JSON`)
  }
}

/** An API answer of the wrong shape: names the endpoint, what came back, and what to check. */
export function unexpectedAnswer(res: ErrorResponse, what: string): HubApiError {
  const url = new URL(res.url)
  return new HubApiError(
    `${url.origin} answered ${url.pathname} with ${what}: is it a Hugging Face Hub endpoint? Check HF_ENDPOINT / --endpoint (a proxy or a network login page may be answering)`,
    { status: res.status, url: res.url, requestId: res.headers['x-request-id'] },
  )
}

function jsonError(body: Buffer): string | undefined {
  if (body.length === 0 || body.length > 65536) return undefined
  try {
    const parsed: unknown = JSON.parse(body.toString('utf8'))
    if (parsed && typeof parsed === 'object' && 'error' in parsed && typeof parsed.error === 'string') return parsed.error
  } catch {
    // not JSON: the CDN answers XML or text
  }
  return undefined
}
