import { setMaxListeners } from 'node:events'
import type { IncomingMessage } from 'node:http'
import { setTimeout as sleep } from 'node:timers/promises'
import pLimit from 'p-limit'
import { InterruptedError, NetworkError, OfflineError } from '../errors.js'
import { VERSION } from '../version.js'
import { responseError, type ErrorContext } from './errors.js'
import { linkEstimate } from './linkEstimate.js'
import { createTransport } from './transport.js'

/** Options for {@link createHttpClient}. */
export interface HttpClientOptions {
  /** Origin of the Hub (e.g. https://huggingface.co): the only origin that ever receives the token. */
  hubOrigin?: string
  /** Hugging Face access token. */
  token?: string
  /** Total simultaneous requests across every origin and file (default 32). */
  concurrency?: number
  /** Retries after a retryable failure before giving up (default 5). */
  maxRetries?: number
  /** First backoff delay; doubles each retry up to 8 s, with full jitter (default 1000 ms). */
  retryBaseMs?: number
  /** Longest wait honoured from Retry-After / RateLimit (default 300 s). */
  maxRetryWaitMs?: number
  /** Abort a response whose headers or next body bytes take longer than this (default 30 s). */
  stallTimeoutMs?: number
  /**
   * The same for API and metadata requests (fetch, fetchOk; default 10 s, huggingface_hub's
   * HF_HUB_ETAG_TIMEOUT). Their timeouts are retried at most twice, so a silent endpoint fails in
   * about half a minute rather than minutes.
   */
  metadataTimeoutMs?: number
  /** Environment for proxy settings (HTTPS_PROXY, HTTP_PROXY, NO_PROXY); default process.env. */
  env?: NodeJS.ProcessEnv
  signal?: AbortSignal
  /** HF_HUB_OFFLINE: refuse every request before a socket is opened (the last line of defence). */
  offline?: boolean
  /** Called before every retry, for progress displays and logs. */
  onRetry?: (event: RetryEvent) => void
}

/** Why and when a request is retried. */
export interface RetryEvent {
  url: string
  /** An API or metadata request (nothing else shows that the run is waiting), or a byte range. */
  kind: 'metadata' | 'range'

  attempt: number
  reason: string
  waitMs: number
}

/** Counters of one client, for summaries and benchmarks. */
export interface HttpStats {
  requests: number
  retries: number
  /** Every body byte received, including bytes discarded when a server ignored a Range. */
  bytesReceived: number
}

/** A request. Redirects are never followed: callers decide (auth must not follow a CDN redirect). */
export interface HttpRequest {
  method?: 'GET' | 'HEAD' | 'POST'
  headers?: Record<string, string>
  body?: string
  /** For error messages: which repo / revision / file this request is about. */
  context?: ErrorContext
}

/** A response with its whole body in memory (API answers, small files, bounded ranges). */
export interface HttpResponse {
  status: number
  headers: Record<string, string>
  /** The requested URL (this layer follows no redirects). */
  url: string
  body: Buffer
}

/** Byte range [start, end) of a resource; end undefined = to the end of the resource. */
export interface ByteRange {
  start: number
  end?: number
}

/**
 * Where a resource lives. A plain URL, or a signed link that can be re-issued when it expires
 * (the CDN answers 403 to an expired signature; `refresh` asks the Hub for a fresh one).
 */
export type UrlTarget = string | { url(): Promise<string>, refresh(): Promise<string> }

/** Receives the bytes of a range in order; `offset` is the absolute position of `chunk` in the resource. */
export type ChunkSink = (chunk: Buffer, offset: number) => void | Promise<void>

/** The one HTTP layer: every byte from the network passes through a client made here. */
export interface HttpClient {
  readonly stats: HttpStats
  /** Simultaneous requests this client allows: the connection budget its callers share. */
  readonly concurrency: number
  readonly hubOrigin: string | undefined
  /** One request with retries; answers any final status (callers map errors with {@link responseError}). */
  fetch(url: string, init?: HttpRequest): Promise<HttpResponse>
  /** Like fetch, but throws the mapped typed error unless the status is 2xx or listed in `accept`. */
  fetchOk(url: string, init?: HttpRequest & { accept?: number[] }): Promise<HttpResponse>
  /**
   * Stream a byte range to `sink`, in order. A dropped or stalled body is resumed from the last byte
   * received (not restarted); an expired signed link is refreshed; a server that ignores Range is handled.
   * Resolves with the number of bytes delivered.
   */
  streamRange(target: UrlTarget, range: ByteRange, sink: ChunkSink, context?: ErrorContext): Promise<number>
  /** Bytes one connection delivers in one round trip, as measured so far (see fetch/linkEstimate.ts); 0 before any request. */
  roundTripBytes(): number
  close(): Promise<void>
}

const retryableStatuses = new Set([408, 429, 500, 502, 503, 504])
const maxBackoffMs = 8000
const maxLinkRefreshes = 3
const maxRedirects = 5
const maxMetadataTimeouts = 2

/** Create the HTTP client: keep-alive pool, bounded concurrency, retries, stall watchdog, proxy, auth policy. */
export function createHttpClient(options: HttpClientOptions = {}): HttpClient {
  const env = options.env ?? process.env
  const stallTimeoutMs = options.stallTimeoutMs ?? 30_000
  const metadataTimeoutMs = options.metadataTimeoutMs ?? 10_000
  const transport = createTransport({ env, idleTimeoutMs: stallTimeoutMs })
  const concurrency = options.concurrency ?? 32
  const limit = pLimit(concurrency)
  const maxRetries = options.maxRetries ?? 5
  const retryBaseMs = options.retryBaseMs ?? 1000
  const maxRetryWaitMs = options.maxRetryWaitMs ?? 300_000
  const hubOrigin = options.hubOrigin ? new URL(options.hubOrigin).origin : undefined
  const stats: HttpStats = { requests: 0, retries: 0, bytesReceived: 0 }
  const link = linkEstimate()
  // closing the client ends what is in flight and every retry still waiting, as the run's signal does
  const lifetime = new AbortController()
  const signal = options.signal ? AbortSignal.any([options.signal, lifetime.signal]) : lifetime.signal
  // every request in flight listens to the signal: dozens at once are expected
  setMaxListeners(Math.max(64, 4 * concurrency), signal)

  function headersFor(url: string, extra: Record<string, string> | undefined): Record<string, string> {
    const headers: Record<string, string> = {
      'user-agent': `coderforge/${VERSION}; node/${process.versions.node}`,
      'accept-encoding': 'identity',
      ...extra,
    }
    if (options.token && new URL(url).origin === hubOrigin) headers.authorization = `Bearer ${options.token}`
    return headers
  }

  /** One attempt: send, then hand the live response to `consume` while holding a connection slot. */
  function attempt<T>(url: string, init: HttpRequest & { idleTimeoutMs?: number }, consume: (res: IncomingMessage) => Promise<T>): Promise<T> {
    return limit(async () => {
      throwIfAborted(signal)
      if (options.offline) throw new OfflineError(`${new URL(url).origin} would have to be asked for ${new URL(url).pathname}`, 'unset HF_HUB_OFFLINE')
      stats.requests++
      const sentAt = performance.now()
      const res = await transport.send(url, {
        method: init.method ?? 'GET',
        headers: headersFor(url, init.headers),
        body: init.body,
        signal,
        idleTimeoutMs: init.idleTimeoutMs,
      })
      link.observeLatency(performance.now() - sentAt)
      try {
        return await consume(res)
      } catch (error) {
        // the server was reached: a failure now is a body cut short, not "cannot reach"
        if (error && typeof error === 'object') midResponse.add(error)
        throw error
      } finally {
        // a body left unread (an error path) costs the connection rather than its download time
        if (!res.complete) res.destroy()
      }
    })
  }

  async function wait(url: string, kind: RetryEvent['kind'], attemptNumber: number, reason: string, hintMs?: number): Promise<void> {
    const backoff = Math.min(maxBackoffMs, retryBaseMs * 2 ** (attemptNumber - 1))
    const waitMs = hintMs !== undefined ? Math.min(hintMs, maxRetryWaitMs) : Math.round(backoff / 2 + Math.random() * backoff / 2)
    stats.retries++
    options.onRetry?.({ url, kind, attempt: attemptNumber, reason, waitMs })
    try {
      await sleep(waitMs, undefined, { signal })
    } catch {
      throw interrupted(signal)
    }
  }

  async function fetch(url: string, init: HttpRequest = {}): Promise<HttpResponse> {
    let timeouts = 0
    for (let attemptNumber = 1; ; attemptNumber++) {
      let result: HttpResponse
      try {
        result = await attempt(url, { ...init, idleTimeoutMs: metadataTimeoutMs }, async (res) => {
          const flowing = performance.now()
          const body = await readAll(res, stats)
          // a long listing measures the link before the first file is read (see linkEstimate.ts)
          link.observeBody(body.length, performance.now() - flowing)
          return { status: res.statusCode!, headers: flatHeaders(res.headers), url, body }
        })
      } catch (error) {
        if (errorCode(error) === 'ETIMEDOUT' && !signal.aborted && ++timeouts > Math.min(maxRetries, maxMetadataTimeouts)) {
          throw new NetworkError(`${new URL(url).origin} did not answer ${new URL(url).pathname} within ${metadataTimeoutMs / 1000} s, ${timeouts} times: check HF_ENDPOINT / --endpoint, your network and HTTPS_PROXY (HF_HUB_ETAG_TIMEOUT sets the limit)`, { cause: error })
        }
        if (!isRetryableNetworkError(error, signal) || attemptNumber > maxRetries) throw networkError(error, url, signal)
        await wait(url, 'metadata', attemptNumber, describeNetworkError(error))
        continue
      }
      if (!retryableStatuses.has(result.status) || attemptNumber > maxRetries) return result
      await wait(url, 'metadata', attemptNumber, `HTTP ${result.status}`, retryHintMs(result.headers))
    }
  }

  async function fetchOk(url: string, init: HttpRequest & { accept?: number[] } = {}): Promise<HttpResponse> {
    for (let hops = 0; ; hops++) {
      const res = await fetch(url, init)
      if ((res.status >= 200 && res.status < 300) || init.accept?.includes(res.status)) return res
      // renamed repos answer with a redirect; the token rides along only if the target is the Hub (headersFor)
      if (res.status >= 300 && res.status < 400 && res.headers.location && hops < maxRedirects) {
        url = new URL(res.headers.location, url).href
        continue
      }
      throw responseError(res, init.context)
    }
  }

  async function streamRange(target: UrlTarget, range: ByteRange, sink: ChunkSink, context?: ErrorContext): Promise<number> {
    let position = range.start
    let url = typeof target === 'string' ? target : await target.url()
    let failures = 0
    let refreshes = 0
    const done = () => range.end !== undefined && position >= range.end
    while (!done()) {
      const rangeHeader = `bytes=${position}-${range.end === undefined ? '' : range.end - 1}`
      const startedAt = position
      let outcome: { kind: 'ok' } | { kind: 'status', res: HttpResponse }
      try {
        outcome = await attempt(url, { headers: { range: rangeHeader } }, async (res) => {
          if (res.statusCode !== 206 && res.statusCode !== 200) {
            const body = await readAll(res, stats)
            return { kind: 'status', res: { status: res.statusCode!, headers: flatHeaders(res.headers), url, body } }
          }
          // 200 = the server ignored Range: skip what we already have and keep the rest
          let skip = res.statusCode === 200 ? position : 0
          if (res.statusCode === 206) checkContentRange(res.headers['content-range'], position, url)
          const flowing = { at: performance.now(), from: position }
          for await (const data of res as AsyncIterable<Buffer>) {
            stats.bytesReceived += data.length
            let chunk = data
            if (skip > 0) {
              const dropped = Math.min(skip, chunk.length)
              skip -= dropped
              chunk = chunk.subarray(dropped)
            }
            if (range.end !== undefined && position + chunk.length > range.end) chunk = chunk.subarray(0, range.end - position)
            if (chunk.length > 0) {
              await sink(chunk, position)
              position += chunk.length
            }
            if (done()) break
          }
          link.observeBody(position - flowing.from, performance.now() - flowing.at)
          return { kind: 'ok' }
        })
      } catch (error) {
        if (position > startedAt) failures = 0
        if (!isRetryableNetworkError(error, signal) || ++failures > maxRetries) throw networkError(error, url, signal)
        await wait(url, 'range', failures, describeNetworkError(error))
        continue
      }
      if (outcome.kind === 'ok') {
        if (position > startedAt) failures = 0
        if (range.end === undefined) break
        if (position === startedAt && ++failures > maxRetries) {
          throw new NetworkError(`${url}: the server kept ending the response before byte ${range.end}`)
        }
        continue
      }
      const { res } = outcome
      if (res.status === 403 && typeof target !== 'string' && new URL(url).origin !== hubOrigin && refreshes < maxLinkRefreshes) {
        refreshes++ // signed CDN link expired: ask the Hub for a fresh one
        url = await target.refresh()
        continue
      }
      if (retryableStatuses.has(res.status) && ++failures <= maxRetries) {
        await wait(url, 'range', failures, `HTTP ${res.status}`, retryHintMs(res.headers))
        continue
      }
      throw responseError(res, context)
    }
    return position - range.start
  }

  return {
    stats,
    concurrency,
    hubOrigin,
    fetch,
    fetchOk,
    streamRange,
    roundTripBytes: link.roundTripBytes,
    async close() {
      lifetime.abort(new NetworkError('the HTTP client was closed'))
      transport.close()
    },
  }
}

/** Milliseconds the server asked us to wait (Retry-After seconds or date, or RateLimit `t=` when r=0). */
export function retryHintMs(headers: Record<string, string>): number | undefined {
  const rateLimit = headers.ratelimit
  if (rateLimit) {
    const remaining = /(?:^|;)\s*r=(\d+)/.exec(rateLimit)
    const reset = /(?:^|;)\s*t=(\d+)/.exec(rateLimit)
    if (remaining?.[1] === '0' && reset) return Number(reset[1]) * 1000
  }
  const retryAfter = headers['retry-after']
  if (retryAfter) {
    if (/^\d+$/.test(retryAfter.trim())) return Number(retryAfter) * 1000
    const date = Date.parse(retryAfter)
    if (!Number.isNaN(date)) return Math.max(0, date - Date.now())
  }
  return undefined
}

function checkContentRange(header: string | string[] | undefined, expectedStart: number, url: string): void {
  const value = Array.isArray(header) ? header[0] : header
  const match = value ? /^bytes (\d+)-\d+\/(\d+|\*)$/.exec(value) : null
  if (!match || Number(match[1]) !== expectedStart) {
    throw new NetworkError(`${url}: unexpected Content-Range '${value ?? ''}' for a request starting at byte ${expectedStart}`)
  }
}

async function readAll(body: AsyncIterable<Buffer>, stats: HttpStats): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const chunk of body) {
    stats.bytesReceived += chunk.length
    chunks.push(chunk)
  }
  return Buffer.concat(chunks)
}

function flatHeaders(headers: Record<string, string | string[] | undefined>): Record<string, string> {
  const flat: Record<string, string> = {}
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined) flat[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value
  }
  return flat
}

// ENOTFOUND is left out: a name that does not resolve is a wrong endpoint or no network, not a blip
const retryableCodes = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EAI_AGAIN', 'ENETUNREACH', 'EHOSTUNREACH'])

function errorCode(error: unknown): string | undefined {
  let current: unknown = error
  while (current && typeof current === 'object') {
    const code = (current as { code?: unknown }).code
    if (typeof code === 'string') return code
    current = (current as { cause?: unknown }).cause
  }
  return undefined
}

function isRetryableNetworkError(error: unknown, signal: AbortSignal | undefined): boolean {
  if (signal?.aborted) return false
  const code = errorCode(error)
  return code !== undefined && retryableCodes.has(code)
}

function describeNetworkError(error: unknown): string {
  const code = errorCode(error)
  if (code === 'ETIMEDOUT') return 'stalled (no data)'
  if (code === 'EPROXY' && error instanceof Error) return error.message
  return code ?? (error instanceof Error ? error.message : String(error))
}

/** Errors raised while a response body was being read (see {@link networkError}). */
const midResponse = new WeakSet<object>()

function networkError(error: unknown, url: string, signal: AbortSignal | undefined): Error {
  if (signal?.aborted) return interrupted(signal)
  if (!errorCode(error)) return error instanceof Error ? error : new Error(String(error))
  const origin = new URL(url).origin
  const code = errorCode(error)
  if (error && typeof error === 'object' && midResponse.has(error)) {
    return new NetworkError(`${origin} ended a response before its last byte (fewer bytes than its Content-Length; ${describeNetworkError(error)}), also on every retry: the server or a proxy is cutting responses; run again later (completed bytes are kept) or lower --concurrency`, { cause: error })
  }
  let hint = ''
  if (code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EAI_AGAIN') hint = ' (check HF_ENDPOINT / --endpoint, your network and HTTPS_PROXY)'
  // a certificate Node does not trust: usually a proxy that inspects TLS with its own CA
  else if (code && /CERT|SELF_SIGNED|UNABLE_TO_VERIFY/.test(code)) hint = ': the server\'s TLS certificate is not trusted; behind a TLS-inspecting proxy, set NODE_EXTRA_CA_CERTS to its CA file'
  return new NetworkError(`cannot reach ${origin}: ${describeNetworkError(error)}${hint}`, { cause: error })
}

function interrupted(signal: AbortSignal | undefined): Error {
  const reason: unknown = signal?.reason
  return reason instanceof Error ? reason : new InterruptedError()
}

function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw interrupted(signal)
}
