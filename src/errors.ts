/**
 * Typed errors. Every error a user can meet carries a one-line message that names the problem and
 * the fix, and an exit code that scripts can branch on (see README, "Exit codes").
 */

/** Process exit codes, one per kind of failure. */
export const ExitCode = {
  ok: 0,
  failure: 1,
  usage: 2,
  notFound: 3,
  auth: 4,
  network: 5,
  interrupted: 130,
} as const

/** Base class: a failure with a user-facing message and an exit code. */
export class CoderforgeError extends Error {
  readonly exitCode: number
  constructor(message: string, exitCode: number = ExitCode.failure, options?: ErrorOptions) {
    super(message, options)
    this.name = new.target.name
    this.exitCode = exitCode
  }
}

/** Bad command-line input: unknown option value, config, split, malformed range or expression. */
export class UsageError extends CoderforgeError {
  constructor(message: string) {
    super(message, ExitCode.usage)
  }
}

/** An HTTP answer from the Hub (or its CDN) that is an error after retries. */
export class HubApiError extends CoderforgeError {
  readonly status: number
  readonly url: string
  readonly errorCode: string | undefined
  readonly requestId: string | undefined
  constructor(
    message: string,
    info: { status: number, url: string, errorCode?: string, requestId?: string },
    exitCode: number = ExitCode.failure,
  ) {
    super(message, exitCode)
    this.status = info.status
    this.url = info.url
    this.errorCode = info.errorCode
    this.requestId = info.requestId
  }
}

/** The repository does not exist, or is private and the token (if any) cannot see it. */
export class RepoNotFoundError extends HubApiError {}
/** The branch, tag or commit does not exist in the repository. */
export class RevisionNotFoundError extends HubApiError {}
/** The file or folder does not exist at that revision. */
export class EntryNotFoundError extends HubApiError {}
/** The repository is gated: no token was sent, or the token has not been granted access. */
export class GatedRepoError extends HubApiError {}
/** The token was rejected by the Hub. */
export class InvalidTokenError extends HubApiError {}

/** The endpoint could not be reached, or the network kept failing after every retry. */
export class NetworkError extends CoderforgeError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, ExitCode.network, options)
  }
}

/**
 * HF_HUB_OFFLINE is set and the cache cannot answer: names what is missing and both ways out
 * (download it while online, or unset the variable).
 */
export class OfflineError extends CoderforgeError {
  constructor(what: string, fix = 'download it first, or unset HF_HUB_OFFLINE') {
    super(`HF_HUB_OFFLINE is set and ${what}: ${fix}`, ExitCode.failure)
  }
}

/** A Parquet file whose pages cannot be decoded: names the file, row group and column, and the fix. */
export class DamagedFileError extends CoderforgeError {
  constructor(file: string, rowGroup: number, columns: string[], cause: unknown) {
    const detail = cause instanceof Error ? cause.message : String(cause)
    const which = columns.length === 1 ? `column '${columns[0]}'` : `columns ${columns.map((c) => `'${c}'`).join(', ')}`
    super(`${file}: row group ${rowGroup}, ${which} cannot be decoded (${detail}): the file is damaged; download it again (a cached copy: delete it and run download)`, ExitCode.failure, { cause })
  }
}

/** Downloaded bytes do not match the sha256 the Hub published for the file. */
export class IntegrityError extends CoderforgeError {
  readonly path: string
  constructor(message: string, path: string) {
    super(message, ExitCode.failure)
    this.path = path
  }
}

/** The run was cancelled (Ctrl-C, SIGTERM, or an AbortSignal). */
export class InterruptedError extends CoderforgeError {
  constructor(message = 'interrupted') {
    super(message, ExitCode.interrupted)
  }
}
