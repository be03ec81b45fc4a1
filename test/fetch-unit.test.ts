// Direct tests of src/fetch: each export called in-process, HTTP against node:http servers on loopback.
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, beforeEach, describe, test } from 'node:test'
import { createSecureContext } from 'node:tls'
import {
  EntryNotFoundError, ExitCode, GatedRepoError, HubApiError, InterruptedError, InvalidTokenError, NetworkError, OfflineError,
  RepoNotFoundError, RevisionNotFoundError,
} from '../src/errors.js'
import { defaultMemoryBytes, memoryBudget, readBudget } from '../src/fetch/budget.js'
import { jsonBody, responseError, unexpectedAnswer, type ErrorResponse } from '../src/fetch/errors.js'
import { createHttpClient, retryHintMs, type HttpClientOptions, type RetryEvent } from '../src/fetch/http.js'
import { linkEstimate } from '../src/fetch/linkEstimate.js'
import { openRangeReader } from '../src/fetch/rangeReader.js'
import { heldBytes, mergeRanges, type SliceReader } from '../src/fetch/spans.js'
import { proxyFor } from '../src/fetch/transport.js'
import { VERSION } from '../src/version.js'
import { dropAfter, loopback, requestedRange, serveBytes, startProxy, status, type Loopback } from './support/loopback.js'

/** assert.ok with a message always: without one, a failing assert.ok re-reads the source to describe itself, which can hang on TypeScript. */
function ok(value: unknown, message = 'expected a truthy value'): asserts value {
  assert.ok(value, message)
}

const MiB = 1024 * 1024

describe('memory budget', () => {
  test('readBudget gives half to holding and a quarter per thread to slicing, never under 1 MiB', () => {
    assert.equal(defaultMemoryBytes, 1024 ** 3)
    assert.deepEqual(readBudget(), { holdBytes: 512 * MiB, sliceBytes: 256 * MiB })
    assert.deepEqual(readBudget(64 * MiB, 2), { holdBytes: 32 * MiB, sliceBytes: 8 * MiB })
    assert.deepEqual(readBudget(64 * MiB + 3, 3), { holdBytes: (64 * MiB + 3) / 2, sliceBytes: Math.floor((64 * MiB + 3) / 12) })
    assert.deepEqual(readBudget(64 * MiB, 0), { holdBytes: 32 * MiB, sliceBytes: 16 * MiB }, 'zero threads counts as one')
    assert.deepEqual(readBudget(8 * MiB, 4), { holdBytes: 4 * MiB, sliceBytes: MiB })
  })

  test('tryHold admits what fits (up to the limit exactly), refuses the rest without holding; hold always admits', () => {
    const budget = memoryBudget(100)
    assert.equal(budget.limit, 100)
    assert.equal(budget.used, 0)
    assert.equal(budget.tryHold(60), true)
    assert.equal(budget.tryHold(41), false)
    assert.equal(budget.used, 60)
    assert.equal(budget.tryHold(40), true)
    assert.equal(budget.used, 100)
    budget.hold(50)
    assert.equal(budget.used, 150)
    assert.equal(budget.peak, 150)
    budget.free(120)
    assert.equal(budget.used, 30)
    assert.equal(budget.peak, 150, 'the peak stays')
    budget.free(100)
    assert.equal(budget.used, 0, 'freeing more than held stops at zero')
    assert.equal(budget.tryHold(100), true)
    assert.equal(memoryBudget().limit, 1024 ** 3)
  })
})

/** A SliceReader over real bytes that records the reads it is asked for. */
function memoryReader(bytes: Buffer, async = true): SliceReader & { reads: [number, number | undefined][] } {
  const reads: [number, number | undefined][] = []
  return {
    byteLength: bytes.length,
    reads,
    slice(start, end) {
      reads.push([start, end])
      const copy = Uint8Array.from(bytes.subarray(start, end)).buffer
      return async ? Promise.resolve(copy) : copy
    },
  }
}

const view = (buffer: ArrayBuffer) => Buffer.from(buffer)

describe('held spans', () => {
  const data = Buffer.from(Array.from({ length: 1000 }, (_, i) => i % 251))

  test('mergeRanges sorts and merges ranges that overlap, touch or lie within the gap', () => {
    assert.deepEqual(mergeRanges([[50, 60], [0, 10], [10, 20], [5, 8], [30, 40]]), [[0, 20], [30, 40], [50, 60]])
    assert.deepEqual(mergeRanges([[0, 10], [15, 20], [26, 30]], 5), [[0, 20], [26, 30]])
    assert.deepEqual(mergeRanges([[0, 100], [10, 20]], 0), [[0, 100]], 'a range inside another keeps the outer end')
    assert.deepEqual(mergeRanges([]), [])
    const input: [number, number][] = [[20, 30], [0, 10]]
    mergeRanges(input)
    assert.deepEqual(input, [[20, 30], [0, 10]], 'the input is not reordered')
  })

  test('without held spans a slice reads straight from the file; an empty or past-the-end slice reads nothing', async () => {
    const reader = memoryReader(data)
    const held = heldBytes(reader)
    assert.equal(held.byteLength, 1000)
    ok(view(await held.slice(10, 20)).equals(data.subarray(10, 20)))
    ok(view(await held.slice(990)).equals(data.subarray(990)))
    ok(view(await held.slice(995, 5000)).equals(data.subarray(995)))
    assert.equal((await held.slice(20, 20)).byteLength, 0)
    assert.equal((await held.slice(1200, 1300)).byteLength, 0)
    assert.deepEqual(reader.reads, [[10, 20], [990, 1000], [995, 1000]])
  })

  test('held ranges are read once (merged, clipped to the file) and answer later slices without reads', async () => {
    const reader = memoryReader(data)
    const budget = memoryBudget(10_000)
    const held = heldBytes(reader, budget)
    assert.equal(held.hold([[100, 200], [150, 300], [900, 1200]]), true)
    assert.deepEqual(reader.reads, [[100, 300], [900, 1000]])
    assert.equal(held.heldBytes(), 300)
    assert.equal(budget.used, 300)
    ok(view(await held.slice(120, 180)).equals(data.subarray(120, 180)))
    ok(view(await held.slice(100, 300)).equals(data.subarray(100, 300)))
    ok(view(await held.slice(950)).equals(data.subarray(950)))
    assert.equal(reader.reads.length, 2, 'answered from held bytes')
    assert.deepEqual(held.heldSpans(0, 1000), [[100, 300], [900, 1000]])
    assert.deepEqual(held.heldSpans(300, 900), [], 'spans ending at start or starting at end do not overlap')
    assert.deepEqual(held.heldSpans(299, 901), [[100, 300], [900, 1000]])
  })

  test('a slice across held spans and gaps reads only the gaps and joins the bytes in order', async () => {
    const reader = memoryReader(data, false)
    const held = heldBytes(reader)
    held.hold([[100, 200], [300, 400]])
    reader.reads.length = 0
    ok(view(await held.slice(50, 450)).equals(data.subarray(50, 450)))
    assert.deepEqual(reader.reads, [[50, 100], [200, 300], [400, 450]])
    reader.reads.length = 0
    ok(view(await held.slice(150, 350)).equals(data.subarray(150, 350)))
    assert.deepEqual(reader.reads, [[200, 300]])
    reader.reads.length = 0
    ok(view(await held.slice(100, 400)).equals(data.subarray(100, 400)))
    assert.deepEqual(reader.reads, [[200, 300]])
    reader.reads.length = 0
    ok(view(await held.slice(150, 250)).equals(data.subarray(150, 250)), 'one span and a gap')
    ok(view(await held.slice(50, 150)).equals(data.subarray(50, 150)), 'a gap and one span')
    assert.deepEqual(reader.reads, [[200, 250], [50, 100]])
    held.hold([[200, 300]])
    reader.reads.length = 0
    ok(view(await held.slice(150, 250)).equals(data.subarray(150, 250)), 'two adjacent spans')
    assert.deepEqual(reader.reads, [])
  })

  test('holding more only reads what is not held yet; holding what is held reads and counts nothing', () => {
    const reader = memoryReader(data)
    const budget = memoryBudget(10_000)
    const held = heldBytes(reader, budget)
    held.hold([[100, 200]])
    held.hold([[300, 400]])
    held.hold([[50, 450]])
    assert.deepEqual(reader.reads, [[100, 200], [300, 400], [50, 100], [200, 300], [400, 450]])
    assert.deepEqual(held.heldSpans(0, 1000), [[50, 100], [100, 200], [200, 300], [300, 400], [400, 450]], 'kept in file order')
    assert.equal(held.heldBytes(), 400)
    assert.equal(held.hold([[60, 440]], { speculative: true }), true)
    assert.equal(reader.reads.length, 5)
    assert.equal(budget.used, 400)
  })

  test('speculative holds take only what the budget has room for; needed holds go over it', () => {
    const reader = memoryReader(data)
    const budget = memoryBudget(150)
    const held = heldBytes(reader, budget)
    assert.equal(held.hold([[0, 100]], { speculative: true }), true)
    assert.equal(held.hold([[100, 151]], { speculative: true }), false)
    assert.equal(held.heldBytes(), 100)
    assert.equal(budget.used, 100)
    assert.deepEqual(reader.reads, [[0, 100]])
    assert.equal(held.hold([[100, 150]], { speculative: true }), true, 'exactly the room left fits')
    assert.equal(held.hold([[200, 400]]), true)
    assert.equal(budget.used, 350)
    assert.equal(held.heldBytes(), 350)
    assert.equal(heldBytes(memoryReader(data)).hold([[0, 1000]], { speculative: true }), true, 'no budget: no limit')
  })

  test('holding bytes already held succeeds even when the budget is over its limit', () => {
    const budget = memoryBudget(100)
    const held = heldBytes(memoryReader(data), budget)
    held.hold([[0, 150]])
    assert.equal(budget.used, 150)
    assert.equal(held.hold([[0, 100]], { speculative: true }), true)
    assert.equal(held.hold([[0, 160]], { speculative: true }), false)
    assert.equal(budget.used, 150)
  })

  test('release drops the spans inside the ranges (all when none given) and frees their bytes', () => {
    const budget = memoryBudget(10_000)
    const held = heldBytes(memoryReader(data), budget)
    held.hold([[0, 100], [200, 300], [400, 500]])
    held.release([[0, 100], [250, 500]])
    assert.deepEqual(held.heldSpans(0, 1000), [[200, 300]], 'a span only partly inside stays')
    assert.equal(held.heldBytes(), 100)
    assert.equal(budget.used, 100)
    held.release([[200, 300]])
    assert.equal(held.heldBytes(), 0)
    held.hold([[0, 10], [20, 30]])
    held.release()
    assert.deepEqual(held.heldSpans(0, 1000), [])
    assert.equal(held.heldBytes(), 0)
    assert.equal(budget.used, 0)
  })

  test('take hands over exactly one held span and stops holding it; any other range is undefined', async () => {
    const reader = memoryReader(data)
    const budget = memoryBudget(10_000)
    const held = heldBytes(reader, budget)
    held.hold([[100, 200], [300, 400]])
    assert.equal(held.take(100, 150), undefined)
    assert.equal(held.take(100, 400), undefined)
    const taken = held.take(300, 400)
    ok(taken)
    const bytes = await taken
    assert.equal(bytes.byteLength, 100)
    ok(view(bytes).equals(data.subarray(300, 400)))
    assert.deepEqual(held.heldSpans(0, 1000), [[100, 200]])
    assert.equal(held.heldBytes(), 100)
    assert.equal(budget.used, 100)
    assert.equal(held.take(300, 400), undefined, 'taken once')
    ok(view((await held.take(100, 200))!).equals(data.subarray(100, 200)), 'the first span too')
    assert.equal(budget.used, 0)
  })

  test('release and take work without a budget', async () => {
    const held = heldBytes(memoryReader(data))
    held.hold([[0, 10], [20, 30]])
    ok(view((await held.take(0, 10))!).equals(data.subarray(0, 10)))
    held.release()
    assert.equal(held.heldBytes(), 0)
  })

  test('a slice never waits on held spans outside it, so their failures do not reach it', async () => {
    const reader: SliceReader = {
      byteLength: 1000,
      slice: (start, end) => start === 100 ? Promise.reject(new Error('bad sector')) : Promise.resolve(Uint8Array.from(data.subarray(start, end)).buffer),
    }
    const held = heldBytes(reader)
    held.hold([[100, 200]])
    ok(view(await held.slice(0, 100)).equals(data.subarray(0, 100)))
    ok(view(await held.slice(200, 300)).equals(data.subarray(200, 300)))
    await assert.rejects(held.slice(150, 250), /bad sector/)
  })

  test('a held span whose read fails and that nobody reads raises no unhandled rejection', async () => {
    const unhandled: unknown[] = []
    const record = (reason: unknown) => unhandled.push(reason)
    process.on('unhandledRejection', record)
    try {
      const held = heldBytes({ byteLength: 100, slice: () => Promise.reject(new Error('disk gone')) })
      held.hold([[0, 50]])
      held.release()
      await new Promise((resolve) => setTimeout(resolve, 10))
      assert.deepEqual(unhandled, [])
    } finally {
      process.off('unhandledRejection', record)
    }
  })

  test('a failed read of a held span fails the slices that need it', async () => {
    const failing: SliceReader = { byteLength: 100, slice: () => Promise.reject(new Error('disk gone')) }
    const held = heldBytes(failing)
    held.hold([[0, 50]])
    await assert.rejects(held.slice(10, 20), /disk gone/)
    await assert.rejects(held.slice(0, 80), /disk gone/)
  })
})

describe('error mapping', () => {
  const res = (statusCode: number, headers: Record<string, string> = {}, body = ''): ErrorResponse =>
    ({ status: statusCode, headers, url: 'https://hub.example/api/datasets/acme/x/tree/main?recursive=1', body: Buffer.from(body) })
  const context = { repo: 'acme/x', revision: 'v2', path: 'data/a.parquet' }
  const check = (error: HubApiError, type: typeof HubApiError, message: string, exitCode: number) => {
    ok(error instanceof type, `${error.name} is a ${type.name}`)
    assert.equal(error.name, type.name)
    assert.equal(error.message, message)
    assert.equal(error.exitCode, exitCode)
  }

  test('Hub error codes name the repo, revision or path and the fix', () => {
    check(responseError(res(401, { 'x-error-code': 'GatedRepo' }), context), GatedRepoError,
      "dataset 'acme/x' is gated: set HF_TOKEN to a token of an account that has accepted its conditions at https://hub.example/datasets/acme/x", ExitCode.auth)
    check(responseError(res(403, { 'x-error-code': 'GatedRepo' }), context), GatedRepoError,
      "your token has no access to gated dataset 'acme/x': request access at https://hub.example/datasets/acme/x, then retry", ExitCode.auth)
    check(responseError(res(403, { 'x-error-code': 'GatedRepo' })), GatedRepoError,
      'your token has no access to gated the repository: request access at https://hub.example, then retry', ExitCode.auth)
    check(responseError(res(401, { 'x-error-code': 'RepoNotFound' }), context), RepoNotFoundError,
      "dataset 'acme/x' not found on https://hub.example (check --repo; if it is private, set HF_TOKEN)", ExitCode.notFound)
    check(responseError(res(404, { 'x-error-code': 'RepoNotFound' }), context), RepoNotFoundError,
      "dataset 'acme/x' not found on https://hub.example, or your token cannot see it (check --repo)", ExitCode.notFound)
    check(responseError(res(404, { 'x-error-code': 'RevisionNotFound' }), context), RevisionNotFoundError,
      "revision 'v2' not found in dataset 'acme/x' (check --revision: a branch, tag or commit)", ExitCode.notFound)
    check(responseError(res(404, { 'x-error-code': 'RevisionNotFound' })), RevisionNotFoundError,
      "revision '?' not found in the repository (check --revision: a branch, tag or commit)", ExitCode.notFound)
    check(responseError(res(404, { 'x-error-code': 'EntryNotFound' }), context), EntryNotFoundError,
      "'data/a.parquet' not found in dataset 'acme/x' at revision 'v2'", ExitCode.notFound)
    check(responseError(res(404, { 'x-error-code': 'EntryNotFound' }), { repo: 'acme/x' }), EntryNotFoundError,
      "the file not found in dataset 'acme/x' at revision 'main'", ExitCode.notFound)
  })

  test('the error keeps status, url, error code and request id', () => {
    const error = responseError(res(404, { 'x-error-code': 'EntryNotFound', 'x-request-id': 'req-1' }), context)
    assert.equal(error.status, 404)
    assert.equal(error.url, 'https://hub.example/api/datasets/acme/x/tree/main?recursive=1')
    assert.equal(error.errorCode, 'EntryNotFound')
    assert.equal(error.requestId, 'req-1')
  })

  test('statuses without an error code: auth, rate limit, server errors, refusals, not found, others', () => {
    check(responseError(res(401, { 'x-error-message': 'Invalid credentials in Authorization header' }), context), InvalidTokenError,
      'the Hub rejected your token (invalid credentials): check HF_TOKEN or the token file under HF_HOME', ExitCode.auth)
    check(responseError(res(401, {}, JSON.stringify({ error: 'Invalid token' }))), InvalidTokenError,
      'the Hub rejected your token (invalid credentials): check HF_TOKEN or the token file under HF_HOME', ExitCode.auth)
    check(responseError(res(401, {}, 'Invalid token'), context), HubApiError,
      "https://hub.example requires authentication for dataset 'acme/x': set HF_TOKEN", ExitCode.auth)
    check(responseError(res(429)), HubApiError,
      'rate limited by https://hub.example (HTTP 429) after several retries: wait a few minutes, lower --concurrency, or set HF_TOKEN for higher limits', ExitCode.network)
    check(responseError(res(503, {}, JSON.stringify({ error: 'overloaded' }))), HubApiError,
      'https://hub.example answered HTTP 503 after several retries: overloaded; try again later', ExitCode.network)
    check(responseError(res(500)), HubApiError, 'https://hub.example answered HTTP 500 after several retries; try again later', ExitCode.network)
    check(responseError(res(408)), HubApiError, 'https://hub.example answered HTTP 408 after several retries; try again later', ExitCode.network)
    check(responseError(res(403, { 'x-error-message': 'Forbidden: no scope' })), HubApiError, 'https://hub.example refused access (HTTP 403): Forbidden: no scope', ExitCode.auth)
    check(responseError(res(403, {}, '<Error>AccessDenied</Error>')), HubApiError, 'https://hub.example refused access (HTTP 403)', ExitCode.auth)
    check(responseError(res(404)), HubApiError,
      'not found on https://hub.example: /api/datasets/acme/x/tree/main (HTTP 404) — is https://hub.example a Hugging Face Hub endpoint?', ExitCode.notFound)
    check(responseError(res(400, {}, JSON.stringify({ error: 'bad expand' }))), HubApiError, 'https://hub.example answered HTTP 400: bad expand', ExitCode.failure)
    check(responseError(res(499)), HubApiError, 'https://hub.example answered HTTP 499', ExitCode.failure)
    check(responseError(res(302)), HubApiError, 'https://hub.example answered HTTP 302', ExitCode.failure)
  })

  test('only a small JSON body with a string error is quoted', () => {
    const quoted = (body: string) => responseError(res(400, {}, body)).message
    assert.equal(quoted(JSON.stringify({ error: 'x'.repeat(65_000) })), `https://hub.example answered HTTP 400: ${'x'.repeat(65_000)}`)
    assert.equal(quoted(JSON.stringify({ error: 'x'.repeat(65_536 - 12) })), `https://hub.example answered HTTP 400: ${'x'.repeat(65_524)}`, 'a body of 64 KiB exactly')
    assert.equal(quoted(JSON.stringify({ error: 'x'.repeat(65_536 - 11) })), 'https://hub.example answered HTTP 400', 'one byte more is not read')
    assert.equal(quoted(JSON.stringify({ error: 7 })), 'https://hub.example answered HTTP 400')
    assert.equal(quoted(JSON.stringify({ message: 'no' })), 'https://hub.example answered HTTP 400')
    assert.equal(quoted('null'), 'https://hub.example answered HTTP 400')
    assert.equal(quoted('"error"'), 'https://hub.example answered HTTP 400')
    assert.equal(responseError(res(400, { 'x-error-message': 'from header' }, JSON.stringify({ error: 'from body' }))).message,
      'https://hub.example answered HTTP 400: from header')
  })

  test('jsonBody parses JSON and explains anything else in one line', () => {
    assert.deepEqual(jsonBody(res(200, {}, '{"a":[1,2]}')), { a: [1, 2] })
    const html = () => jsonBody(res(200, { 'content-type': 'text/html; charset=utf-8', 'x-request-id': 'r9' }, '<html>login</html>'))
    assert.throws(html, (error: unknown) => {
      ok(error instanceof HubApiError)
      assert.equal(error.message, 'https://hub.example answered /api/datasets/acme/x/tree/main with text/html that is not JSON: is it a Hugging Face Hub endpoint? Check HF_ENDPOINT / --endpoint (a proxy or a network login page may be answering)')
      assert.equal(error.status, 200)
      assert.equal(error.requestId, 'r9')
      assert.equal(error.exitCode, ExitCode.failure)
      return true
    })
    assert.throws(() => jsonBody(res(200, {}, 'nope')), /with a body that is not JSON:/)
    assert.throws(() => jsonBody(res(200, { 'content-type': '' }, 'nope')), /with a body that is not JSON:/)
    const wrong = unexpectedAnswer(res(200), 'a list where an object was expected')
    assert.match(wrong.message, /^https:\/\/hub\.example answered \/api\/datasets\/acme\/x\/tree\/main with a list where an object was expected: /)
    assert.equal(wrong.url, 'https://hub.example/api/datasets/acme/x/tree/main?recursive=1')
  })
})

describe('link estimate', () => {
  test('nothing is assumed before both a latency and a rate are measured', () => {
    const link = linkEstimate()
    assert.equal(link.roundTripBytes(), 0)
    link.observeLatency(50)
    assert.equal(link.roundTripBytes(), 0)
    const rateOnly = linkEstimate()
    rateOnly.observeBody(1_000_000, 100)
    assert.equal(rateOnly.roundTripBytes(), 0)
  })

  test('the smallest latency times a smoothed rate; short bodies and zero times are not rate samples', () => {
    const link = linkEstimate()
    link.observeLatency(80)
    link.observeLatency(20)
    link.observeLatency(40)
    link.observeBody(65_535, 1)
    link.observeBody(1_000_000, 0)
    assert.equal(link.roundTripBytes(), 0)
    link.observeBody(65_536, 64) // 1,024,000 B/s
    assert.equal(link.roundTripBytes(), 20_480)
    link.observeBody(2_048_000, 1000) // 2,048,000 B/s: the average moves a fifth of the way
    assert.equal(link.roundTripBytes(), Math.round(0.02 * (1_024_000 + 0.2 * 1_024_000)))
    link.observeLatency(0.0333)
    assert.equal(link.roundTripBytes(), Math.round(0.0000333 * 1_228_800))
    link.observeLatency(-5)
    assert.equal(link.roundTripBytes(), 0, 'a negative latency counts as zero')
  })
})

describe('retry hints', () => {
  test('RateLimit t= counts only when r=0; Retry-After as seconds or an HTTP date', () => {
    assert.equal(retryHintMs({ ratelimit: '"api";r=0;t=7', 'retry-after': '99' }), 7000)
    assert.equal(retryHintMs({ ratelimit: 'r=0;t=12' }), 12_000)
    assert.equal(retryHintMs({ ratelimit: '"api";r=0; t=3' }), 3000)
    assert.equal(retryHintMs({ ratelimit: '"api";r=10;t=7', 'retry-after': '3' }), 3000)
    assert.equal(retryHintMs({ ratelimit: '"api";r=0', 'retry-after': '4' }), 4000)
    assert.equal(retryHintMs({ ratelimit: '"api";xr=0;t=7' }), undefined)
    assert.equal(retryHintMs({ ratelimit: '"api";r=0;xt=7' }), undefined)
    assert.equal(retryHintMs({ ratelimit: '"api";r=0;t=' }), undefined)
    assert.equal(retryHintMs({ 'retry-after': '0' }), 0)
    assert.equal(retryHintMs({ 'retry-after': ' 5 ' }), 5000)
    assert.equal(retryHintMs({ 'retry-after': 'soon' }), undefined)
    assert.equal(retryHintMs({ 'retry-after': 'Thu, 01 Jan 1970 00:00:00 GMT' }), 0)
    const inAMinute = retryHintMs({ 'retry-after': new Date(Date.now() + 60_000).toUTCString() })!
    ok(inAMinute > 58_000 && inAMinute <= 60_000, `${inAMinute}`)
    assert.equal(retryHintMs({}), undefined)
  })
})

describe('proxy settings', () => {
  test('the proxy is picked per scheme and NO_PROXY is matched as curl matches it', () => {
    const env = { HTTPS_PROXY: 'http://proxy.corp:3128', HTTP_PROXY: 'proxy.corp:8080', NO_PROXY: 'localhost, .internal.example,*.mirror.example, cdn.example:8443,[::1]' }
    const pick = (url: string, settings: NodeJS.ProcessEnv = env) => proxyFor(new URL(url), settings)?.href
    assert.equal(pick('https://huggingface.co/api'), 'http://proxy.corp:3128/')
    assert.equal(pick('http://mirror.local/x'), 'http://proxy.corp:8080/', 'a bare host:port means http://')
    assert.equal(pick('https://LOCALHOST:8080/'), undefined)
    assert.equal(pick('https://a.internal.example/'), undefined)
    assert.equal(pick('https://internal.example/'), undefined, '.domain also matches the domain itself')
    assert.equal(pick('https://hf.mirror.example/'), undefined)
    assert.equal(pick('https://mirror.example/'), undefined)
    assert.equal(pick('https://notinternal.example/'), 'http://proxy.corp:3128/')
    assert.equal(pick('https://xlocalhost/'), 'http://proxy.corp:3128/')
    assert.equal(pick('https://cdn.example:8443/'), undefined)
    assert.equal(pick('https://cdn.example/'), 'http://proxy.corp:3128/', 'a NO_PROXY port only matches that port')
    assert.equal(pick('http://[::1]:9/'), undefined)
    assert.equal(pick('http://a.example/', { HTTP_PROXY: 'http://p:1', NO_PROXY: 'a.example:80' }), undefined, 'port 80 is implied for http')
    assert.equal(pick('https://a.example/', { HTTPS_PROXY: 'http://p:1', NO_PROXY: 'a.example:443' }), undefined, 'port 443 is implied for https')
    assert.equal(pick('https://a.example/', { HTTPS_PROXY: 'http://p:1', NO_PROXY: 'a.example:80' }), 'http://p:1/')
    assert.equal(pick('https://a.example/', { HTTPS_PROXY: 'http://p:1', no_proxy: 'A.example', NO_PROXY: 'other' }), undefined, 'lower-case names first')
    assert.equal(pick('https://huggingface.co/', { https_proxy: 'http://lower:1', HTTPS_PROXY: 'http://upper:2' }), 'http://lower:1/')
    assert.equal(pick('https://huggingface.co/', { HTTP_PROXY: 'http://only-http:1' }), 'http://only-http:1/', 'https falls back to HTTP_PROXY')
    assert.equal(pick('http://huggingface.co/', { HTTPS_PROXY: 'http://only-https:1' }), undefined, 'http never uses HTTPS_PROXY')
    assert.equal(pick('https://huggingface.co/', { HTTPS_PROXY: 'socks5://p:1' }), 'socks5://p:1')
    assert.equal(pick('https://huggingface.co/', { HTTPS_PROXY: 'HTTP://P:1' }), 'http://p:1/', 'the scheme is matched in any case')
    assert.equal(pick('https://huggingface.co/', { HTTPS_PROXY: 'http://p:1', NO_PROXY: '*' }), undefined)
    assert.equal(pick('https://huggingface.co/', { HTTPS_PROXY: 'http://p:1', NO_PROXY: ' , ' }), 'http://p:1/')
    assert.equal(pick('https://huggingface.co/', { HTTPS_PROXY: '' }), undefined)
    assert.equal(pick('https://huggingface.co/', {}), undefined)
  })
})

describe('http client', () => {
  const content = randomBytes(300_000)
  let server: Loopback
  const clients: ReturnType<typeof createHttpClient>[] = []
  const retries: RetryEvent[] = []
  const client = (options: HttpClientOptions = {}) => {
    const made = createHttpClient({ env: {}, retryBaseMs: 1, maxRetryWaitMs: 5, stallTimeoutMs: 2000, onRetry: (event) => retries.push(event), ...options })
    clients.push(made)
    return made
  }
  const url = (path = '/file') => `${server.origin}${path}`
  async function read(http: ReturnType<typeof createHttpClient>, target: Parameters<typeof http.streamRange>[0], range: { start: number, end?: number }) {
    const chunks: Buffer[] = []
    const offsets: number[] = []
    const delivered = await http.streamRange(target, range, (chunk, offset) => { chunks.push(chunk); offsets.push(offset) })
    const bytes = Buffer.concat(chunks)
    let expected = range.start
    for (let i = 0; i < chunks.length; i++) {
      assert.equal(offsets[i], expected, 'offsets are absolute and in order')
      expected += chunks[i]!.length
    }
    assert.equal(delivered, bytes.length)
    return bytes
  }

  before(async () => { server = await loopback(serveBytes(content)) })
  after(async () => {
    await Promise.all(clients.map((c) => c.close()))
    await server.close()
  })
  beforeEach(() => {
    server.log.length = 0
    server.script.length = 0
    retries.length = 0
  })

  test('requests carry the user agent and identity encoding; the token goes to the Hub origin only', async () => {
    const other = await loopback()
    try {
      const http = client({ hubOrigin: `${server.origin}/some/path`, token: 'hf_secret' })
      assert.equal(http.hubOrigin, server.origin)
      await http.fetch(url('/api/x'), { headers: { 'x-extra': '1' } })
      await http.fetch(`${other.origin}/cdn/x`)
      const [hub] = server.log
      assert.equal(hub!.headers['user-agent'], `coderforge/${VERSION}; node/${process.versions.node}`)
      assert.equal(hub!.headers['accept-encoding'], 'identity')
      assert.equal(hub!.headers['x-extra'], '1')
      assert.equal(hub!.headers.authorization, 'Bearer hf_secret')
      assert.equal(other.log[0]!.headers.authorization, undefined)
      assert.equal(client({ token: 'hf_secret' }).hubOrigin, undefined)
    } finally {
      await other.close()
    }
  })

  test('repeated headers are joined; header names are lower case', async () => {
    server.script.push((_req, res) => void res.setHeader('Set-Cookie', ['a=1', 'b=2']).writeHead(200, { 'X-Thing': 'T' }).end())
    const res = await client().fetch(url('/api/cookies'))
    assert.equal(res.headers['set-cookie'], 'a=1, b=2')
    assert.equal(res.headers['x-thing'], 'T')
  })

  test('requests in turn reuse one kept-alive connection, which close() ends', async () => {
    const http = client()
    await http.fetch(url('/api/1'))
    await http.fetch(url('/api/2'))
    const { port } = server.log[0]!
    assert.equal(server.log[1]!.port, port)
    ok(server.open().includes(port))
    await http.close()
    for (let i = 0; i < 100 && server.open().includes(port); i++) await new Promise((resolve) => setTimeout(resolve, 5))
    ok(!server.open().includes(port))
  })

  test('fetch answers the final status with headers and body, and counts requests and bytes', async () => {
    server.script.push(status(404, { 'X-Error-Code': 'EntryNotFound' }, 'missing'))
    const http = client()
    const res = await http.fetch(url('/api/a'), { method: 'POST', body: 'q=1' })
    assert.equal(res.status, 404)
    assert.equal(res.headers['x-error-code'], 'EntryNotFound')
    assert.equal(res.body.toString(), 'missing')
    assert.equal(res.url, url('/api/a'))
    assert.equal(server.log[0]!.method, 'POST')
    assert.deepEqual(http.stats, { requests: 1, retries: 0, bytesReceived: 7 })
    assert.equal(retries.length, 0, 'a 404 is not retried')
  })

  test('retryable statuses are retried maxRetries times with growing backoff, then the last answer is returned', async () => {
    for (const code of [408, 429, 500, 502, 503, 504]) server.script.push(status(code))
    const http = client({ maxRetries: 5, retryBaseMs: 2, maxRetryWaitMs: 1000 })
    const res = await http.fetch(url('/api/r'))
    assert.equal(res.status, 504)
    assert.equal(http.stats.requests, 6)
    assert.equal(http.stats.retries, 5)
    assert.deepEqual(retries.map((r) => [r.kind, r.attempt, r.reason, r.url]), [408, 429, 500, 502, 503].map((code, i) => ['metadata', i + 1, `HTTP ${code}`, url('/api/r')]))
    retries.forEach((r, i) => {
      const backoff = 2 * 2 ** i
      ok(r.waitMs >= backoff / 2 && r.waitMs <= backoff, `attempt ${i + 1} waited ${r.waitMs} of ${backoff}`)
    })
  })

  test('a Retry-After is honoured as asked, up to maxRetryWaitMs', async () => {
    server.script.push(status(503, { 'retry-after': '0' }), status(429, { 'retry-after': '1' }))
    const http = client({ retryBaseMs: 10_000, maxRetryWaitMs: 30 })
    assert.equal((await http.fetch(url('/api/h'))).status, 200)
    assert.deepEqual(retries.map((r) => r.waitMs), [0, 30])
  })

  test('backoff doubles up to 8 s: the wait is announced before it starts, and an abort ends it', async () => {
    for (let i = 0; i < 4; i++) server.script.push(status(503))
    const controller = new AbortController()
    const seen: number[] = []
    const http = client({
      retryBaseMs: 20_000, maxRetryWaitMs: 1,
      signal: controller.signal,
      onRetry: (event) => { seen.push(event.waitMs); controller.abort(new Error('stop here')) },
    })
    await assert.rejects(http.fetch(url('/api/b')), /^Error: stop here$/)
    assert.equal(seen.length, 1)
    ok(seen[0]! >= 4000 && seen[0]! <= 8000, `${seen[0]}`)
    const plain = new AbortController()
    const again = client({ retryBaseMs: 20_000, signal: plain.signal, onRetry: () => plain.abort('cancelled') })
    await assert.rejects(again.fetch(url('/api/b')), (error: unknown) => error instanceof InterruptedError && error.exitCode === 130)
  })

  test('an aborted or closed client sends nothing', async () => {
    const controller = new AbortController()
    controller.abort('cancelled')
    await assert.rejects(client({ signal: controller.signal }).fetch(url('/api/x')), InterruptedError)
    const closed = client()
    await closed.close()
    await assert.rejects(closed.fetch(url('/api/x')), (error: unknown) => error instanceof NetworkError && error.message === 'the HTTP client was closed')
    await assert.rejects(closed.streamRange(url(), { start: 0, end: 10 }, () => {}), /the HTTP client was closed/)
    assert.equal(server.log.length, 0)
  })

  test('offline, every request is refused before it is sent', async () => {
    const http = client({ offline: true })
    await assert.rejects(http.fetch(url('/api/datasets/x')), (error: unknown) => {
      ok(error instanceof OfflineError)
      assert.equal(error.message, `HF_HUB_OFFLINE is set and ${server.origin} would have to be asked for /api/datasets/x: unset HF_HUB_OFFLINE`)
      return true
    })
    await assert.rejects(http.streamRange(url(), { start: 0, end: 5 }, () => {}), OfflineError)
    assert.equal(server.log.length, 0)
    assert.equal(http.stats.requests, 0)
  })

  test('a refused connection is retried, then named with the fix', async () => {
    const gone = await loopback()
    const origin = gone.origin
    await gone.close()
    const http = client({ maxRetries: 2 })
    await assert.rejects(http.fetch(`${origin}/api/x`), (error: unknown) => {
      ok(error instanceof NetworkError)
      assert.equal(error.message, `cannot reach ${origin}: ECONNREFUSED (check HF_ENDPOINT / --endpoint, your network and HTTPS_PROXY)`)
      assert.equal(error.exitCode, ExitCode.network)
      return true
    })
    assert.deepEqual(retries.map((r) => [r.attempt, r.reason]), [[1, 'ECONNREFUSED'], [2, 'ECONNREFUSED']])
    await assert.rejects(client({ maxRetries: 0 }).streamRange(`${origin}/f`, { start: 0, end: 3 }, () => {}), /^NetworkError: cannot reach .*: ECONNREFUSED \(check/)
  })

  test('a host name that does not resolve is not retried and is named with the fix', async () => {
    await assert.rejects(client({ maxRetries: 3 }).fetch('http://coderforge.invalid/api/x'), (error: unknown) =>
      error instanceof NetworkError && error.message === 'cannot reach http://coderforge.invalid: ENOTFOUND (check HF_ENDPOINT / --endpoint, your network and HTTPS_PROXY)')
    assert.equal(retries.length, 0)
  })

  test('a connection reset before the answer is retried; a body cut short on every try says so', async () => {
    server.script.push((req) => req.socket.destroy())
    const http = client({ maxRetries: 1 })
    assert.equal((await http.fetch(url('/api/reset'))).status, 200)
    assert.deepEqual(retries.map((r) => r.reason), ['ECONNRESET'])
    const cut = (_req: unknown, res: import('node:http').ServerResponse) => {
      res.writeHead(200, { 'content-length': 1000 })
      res.write('x'.repeat(10), () => setTimeout(() => res.socket?.destroy(), 5))
    }
    server.script.push(cut, cut)
    await assert.rejects(http.fetch(url('/api/cut')), (error: unknown) => {
      ok(error instanceof NetworkError)
      assert.equal(error.message, `${server.origin} ended a response before its last byte (fewer bytes than its Content-Length; ECONNRESET), also on every retry: the server or a proxy is cutting responses; run again later (completed bytes are kept) or lower --concurrency`)
      return true
    })
    assert.equal(server.log.length, 4)
    server.script.push((req) => req.socket.destroy())
    await assert.rejects(client({ maxRetries: 0 }).fetch(url('/api/reset')), (error: unknown) => error instanceof NetworkError && error.message === `cannot reach ${server.origin}: ECONNRESET`)
  })

  test('an API request with no answer times out after metadataTimeoutMs, at most twice retried', async () => {
    const silent = () => {}
    for (let i = 0; i < 6; i++) server.script.push(silent)
    const http = client({ metadataTimeoutMs: 40, maxRetries: 5 })
    await assert.rejects(http.fetch(url('/api/slow')), (error: unknown) => {
      ok(error instanceof NetworkError)
      assert.equal(error.message, `${server.origin} did not answer /api/slow within 0.04 s, 3 times: check HF_ENDPOINT / --endpoint, your network and HTTPS_PROXY (HF_HUB_ETAG_TIMEOUT sets the limit)`)
      return true
    })
    assert.deepEqual(retries.map((r) => r.reason), ['stalled (no data)', 'stalled (no data)'])
    server.script.length = 0
    retries.length = 0
    server.log.length = 0
    for (let i = 0; i < 3; i++) server.script.push(silent)
    await assert.rejects(client({ metadataTimeoutMs: 40, maxRetries: 1 }).fetch(url('/api/slow')), /within 0\.04 s, 2 times/)
    assert.equal(server.log.length, 2)
    server.script.length = 0
  })

  test('fetchOk returns 2xx and accepted statuses, follows relative redirects, and maps the rest', async () => {
    const http = client()
    server.script.push(status(204))
    assert.equal((await http.fetchOk(url('/api/a'))).status, 204)
    server.script.push(status(404))
    assert.equal((await http.fetchOk(url('/api/a'), { accept: [404] })).status, 404)
    server.script.push(status(307, { location: '/api/renamed?x=1' }), status(200, {}, 'moved'))
    const moved = await http.fetchOk(url('/api/old'))
    assert.equal(moved.body.toString(), 'moved')
    assert.equal(moved.url, url('/api/renamed?x=1'))
    assert.deepEqual(server.log.map((r) => r.url), ['/api/a', '/api/a', '/api/old', '/api/renamed?x=1'])
    server.script.push(status(404, { 'x-error-code': 'RepoNotFound' }))
    await assert.rejects(http.fetchOk(url('/api/gone'), { context: { repo: 'acme/gone' } }), (error: unknown) =>
      error instanceof RepoNotFoundError && error.message === `dataset 'acme/gone' not found on ${server.origin}, or your token cannot see it (check --repo)`)
    server.script.push(status(302))
    await assert.rejects(http.fetchOk(url('/api/nowhere')), (error: unknown) => error instanceof HubApiError && error.status === 302)
    server.script.push(status(200, {}, 'plain'))
    assert.equal((await http.fetchOk(url('/api/plain'))).body.toString(), 'plain')
    server.script.push(status(300, { location: '/api/here' }), status(299))
    assert.equal((await http.fetchOk(url('/api/choices'))).status, 299)
    server.script.push(status(400, { location: '/api/never' }))
    await assert.rejects(http.fetchOk(url('/api/bad')), (error: unknown) => error instanceof HubApiError && error.status === 400)
  })

  test('fetchOk follows at most five redirects', async () => {
    server.fallback = status(302, { location: '/api/loop' })
    try {
      await assert.rejects(client().fetchOk(url('/api/loop')), (error: unknown) => error instanceof HubApiError && error.status === 302)
      assert.equal(server.log.length, 6)
    } finally {
      server.fallback = serveBytes(content)
    }
  })

  test('requests wait for a connection slot: never more than `concurrency` at once', async () => {
    let open = 0
    let most = 0
    server.fallback = (_req, res) => {
      most = Math.max(most, ++open)
      setTimeout(() => { open--; res.end('ok') }, 15)
    }
    try {
      const http = client({ concurrency: 2 })
      assert.equal(http.concurrency, 2)
      await Promise.all(Array.from({ length: 6 }, () => http.fetch(url('/api/c'))))
      assert.equal(most, 2)
      assert.equal(client().concurrency, 32)
    } finally {
      server.fallback = serveBytes(content)
    }
  })

  test('streamRange delivers exactly the bytes asked for, with absolute offsets', async () => {
    const http = client()
    ok((await read(http, url(), { start: 1000, end: 200_000 })).equals(content.subarray(1000, 200_000)))
    assert.equal(server.log[0]!.headers.range, 'bytes=1000-199999')
    ok((await read(http, url(), { start: 299_990 })).equals(content.subarray(299_990)))
    assert.equal(server.log[1]!.headers.range, 'bytes=299990-')
    assert.equal(http.stats.bytesReceived, 199_000 + 10)
    assert.equal(await http.streamRange(url(), { start: 5, end: 5 }, () => {}), 0)
    assert.equal(server.log.length, 2, 'an empty range sends nothing')
  })

  test('the link estimate starts at zero and is measured from bodies', async () => {
    const http = client()
    assert.equal(http.roundTripBytes(), 0)
    await read(http, url(), { start: 0, end: 300_000 })
    ok(http.roundTripBytes() > 0)
    const api = client()
    await api.fetch(url('/api/big'))
    ok(api.roundTripBytes() > 0, 'a large API answer measures the link too')
  })

  test('a server that ignores Range (200) skips the bytes already held and stops at the end asked for', async () => {
    server.script.push((_req, res) => void res.writeHead(200).end(content))
    const http = client()
    const bytes = await read(http, url(), { start: 100_000, end: 100_050 })
    ok(bytes.equals(content.subarray(100_000, 100_050)))
    ok(http.stats.bytesReceived >= 100_050, 'the skipped bytes were received too')
    ok(http.stats.bytesReceived < content.length, 'the rest of the body is not read')
    server.script.push((_req, res) => void res.writeHead(200).end(content))
    ok((await read(http, url(), { start: 299_000 })).equals(content.subarray(299_000)))
  })

  test('a 206 whose Content-Range starts elsewhere is refused with the header it had', async () => {
    const http = client()
    const answer = (header?: string) => (_req: unknown, res: import('node:http').ServerResponse) =>
      void res.writeHead(206, header ? { 'content-range': header } : {}).end(content.subarray(0, 100))
    server.script.push(answer('bytes 0-99/300000'))
    await assert.rejects(read(http, url('/f'), { start: 500, end: 600 }), (error: unknown) =>
      error instanceof NetworkError && error.message === `${url('/f')}: unexpected Content-Range 'bytes 0-99/300000' for a request starting at byte 500`)
    server.script.push(answer())
    await assert.rejects(read(http, url('/f'), { start: 500, end: 600 }), (error: unknown) =>
      error instanceof NetworkError && error.message === `${url('/f')}: unexpected Content-Range '' for a request starting at byte 500`)
    for (const bad of ['bytes 500-599/300000x', 'xbytes 500-599/300000', 'bytes */300000', 'bytes 500-599']) {
      server.script.push(answer(bad))
      await assert.rejects(read(http, url('/f'), { start: 500, end: 600 }), /unexpected Content-Range/, bad)
    }
    server.script.push(answer('bytes 500-599/*'))
    assert.equal((await read(http, url('/f'), { start: 500, end: 600 })).length, 100)
    assert.equal(server.log.length, 7, 'never retried')
  })

  test('a dropped body resumes from the last byte received; progress resets the retry budget', async () => {
    server.script.push(dropAfter(content, 1000), dropAfter(content, 2000), dropAfter(content, 3000))
    const http = client({ maxRetries: 1 })
    ok((await read(http, url(), { start: 10, end: 100_000 })).equals(content.subarray(10, 100_000)))
    assert.deepEqual(server.log.map((r) => r.headers.range), ['bytes=10-99999', 'bytes=1010-99999', 'bytes=3010-99999', 'bytes=6010-99999'])
    assert.deepEqual(retries.map((r) => [r.kind, r.attempt, r.reason]), [['range', 1, 'ECONNRESET'], ['range', 1, 'ECONNRESET'], ['range', 1, 'ECONNRESET']])
  })

  test('drops without progress exhaust the budget and say the server cuts responses', async () => {
    server.script.push(dropAfter(content, 0), dropAfter(content, 0), dropAfter(content, 0))
    const http = client({ maxRetries: 2 })
    await assert.rejects(read(http, url(), { start: 0, end: 1000 }), /ended a response before its last byte \(fewer bytes than its Content-Length; ECONNRESET\)/)
    assert.equal(server.log.length, 3)
    assert.deepEqual(retries.map((r) => r.attempt), [1, 2])
  })

  test('short answers that end cleanly are continued; answers without progress are given up after maxRetries', async () => {
    const short = (length: number) => (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => {
      const [start] = requestedRange(req, content.length)!
      res.writeHead(206, { 'content-range': `bytes ${start}-${start + length - 1}/${content.length}` }).end(content.subarray(start, start + length))
    }
    server.script.push(short(100), short(100), short(100))
    const http = client({ maxRetries: 1 })
    ok((await read(http, url(), { start: 0, end: 1000 })).equals(content.subarray(0, 1000)))
    assert.deepEqual(server.log.map((r) => r.headers.range), ['bytes=0-999', 'bytes=100-999', 'bytes=200-999', 'bytes=300-999'])
    assert.equal(retries.length, 0, 'a short answer is continued at once')
    server.log.length = 0
    const empty = (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) =>
      void res.writeHead(206, { 'content-range': `bytes ${requestedRange(req, content.length)![0]}-0/300000` }).end()
    server.script.push(empty, empty, empty)
    await assert.rejects(read(http, url('/e'), { start: 0, end: 1000 }), (error: unknown) =>
      error instanceof NetworkError && error.message === `${url('/e')}: the server kept ending the response before byte 1000`)
    assert.equal(server.log.length, 2)
    server.script.length = 0
    server.script.push(short(100), empty, short(100), empty, short(800))
    ok((await read(http, url(), { start: 0, end: 1000 })).equals(content.subarray(0, 1000)), 'progress between empty answers resets the count')
  })

  test('an open-ended range ends with the body', async () => {
    server.script.push((_req, res) => void res.writeHead(206, { 'content-range': `bytes 100-199/${content.length}` }).end(content.subarray(100, 200)))
    assert.equal((await read(client(), url(), { start: 100 })).length, 100)
    assert.equal(server.log.length, 1)
  })

  test('retryable statuses on a range are retried with the server\'s hint, then reported', async () => {
    server.script.push(status(503, { 'retry-after': '0' }), status(429))
    const http = client({ maxRetries: 2 })
    ok((await read(http, url(), { start: 0, end: 10 })).equals(content.subarray(0, 10)))
    assert.deepEqual(retries.map((r) => [r.kind, r.attempt, r.reason, r.waitMs <= 5]), [['range', 1, 'HTTP 503', true], ['range', 2, 'HTTP 429', true]])
    assert.equal(retries[0]!.waitMs, 0)
    server.script.push(status(503), status(503), status(503))
    await assert.rejects(read(http, url('/x'), { start: 0, end: 10 }), (error: unknown) =>
      error instanceof HubApiError && error.message === `${server.origin} answered HTTP 503 after several retries; try again later` && error.exitCode === ExitCode.network)
    server.script.push(status(404, { 'x-error-code': 'EntryNotFound' }))
    await assert.rejects(http.streamRange(url('/y'), { start: 0, end: 10 }, () => {}, { repo: 'acme/x', path: 'a.parquet' }), (error: unknown) =>
      error instanceof EntryNotFoundError && error.message === "'a.parquet' not found in dataset 'acme/x' at revision 'main'")
  })

  test('an expired signed link (403 off the Hub) is refreshed up to three times', async () => {
    const cdn = await loopback(serveBytes(content))
    try {
      const asked: string[] = []
      let n = 0
      const target = {
        url: async () => { asked.push('url'); return `${cdn.origin}/signed/${n}` },
        refresh: async () => { asked.push('refresh'); return `${cdn.origin}/signed/${++n}` },
      }
      const http = client({ hubOrigin: server.origin })
      cdn.script.push(status(403))
      ok((await read(http, target, { start: 0, end: 100 })).equals(content.subarray(0, 100)))
      assert.deepEqual(asked, ['url', 'refresh'])
      assert.deepEqual(cdn.log.map((r) => r.url), ['/signed/0', '/signed/1'])
      cdn.script.push(status(403), status(403), status(403), status(403))
      await assert.rejects(read(http, target, { start: 0, end: 100 }), (error: unknown) => error instanceof HubApiError && error.status === 403)
      assert.equal(asked.filter((a) => a === 'refresh').length, 4)
      cdn.script.length = 0
      cdn.script.push(status(403))
      await assert.rejects(read(http, `${cdn.origin}/plain`, { start: 0, end: 100 }), /refused access \(HTTP 403\)/, 'a plain URL cannot be refreshed')
      // a 403 from the Hub itself is an answer about access, not an expired link
      server.script.push(status(403))
      const onHub = { url: async () => url('/resolve'), refresh: async () => { throw new Error('must not refresh') } }
      await assert.rejects(read(http, onHub, { start: 0, end: 100 }), /refused access \(HTTP 403\)/)
    } finally {
      await cdn.close()
    }
  })

  test('an error thrown by the sink ends the read as it is, without retries', async () => {
    const http = client()
    const failure = new Error('disk full')
    await assert.rejects(http.streamRange(url(), { start: 0, end: 100_000 }, () => { throw failure }), (error: unknown) => error === failure)
    assert.equal(retries.length, 0)
    assert.equal(server.log.length, 1)
  })

  test('an abort during a body ends the read with the abort reason, not a network error', async () => {
    server.script.push((req, res) => {
      const [start, end] = requestedRange(req, content.length)!
      res.writeHead(206, { 'content-length': end - start + 1, 'content-range': `bytes ${start}-${end}/${content.length}` })
      res.write(content.subarray(start, start + 500))
    })
    const controller = new AbortController()
    const http = client({ signal: controller.signal })
    const stop = new Error('stop')
    await assert.rejects(http.streamRange(url(), { start: 0, end: 2000 }, () => { setTimeout(() => controller.abort(stop), 5) }), (error: unknown) => error === stop)
    assert.equal(retries.length, 0)
  })

  test('a stalled body is abandoned after stallTimeoutMs and resumed', async () => {
    server.script.push((req, res) => {
      const [start, end] = requestedRange(req, content.length)!
      res.writeHead(206, { 'content-length': end - start + 1, 'content-range': `bytes ${start}-${end}/${content.length}` })
      res.write(content.subarray(start, start + 500))
    })
    const http = client({ stallTimeoutMs: 60, metadataTimeoutMs: 5000 })
    ok((await read(http, url(), { start: 0, end: 2000 })).equals(content.subarray(0, 2000)))
    assert.deepEqual(retries.map((r) => r.reason), ['stalled (no data)'])
    assert.equal(server.log[1]!.headers.range, 'bytes=500-1999')
  })
})

describe('transport through proxies and TLS', () => {
  const content = randomBytes(5000)
  let plain: Loopback
  let tls: HttpsServer
  let tlsPort = 0
  const snis: string[] = []
  let certDir = ''

  before(async () => {
    plain = await loopback(serveBytes(content))
    certDir = await mkdtemp(join(tmpdir(), 'coderforge-tls-'))
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=localhost',
      '-addext', 'subjectAltName=DNS:localhost', '-keyout', join(certDir, 'key.pem'), '-out', join(certDir, 'cert.pem')], { stdio: 'ignore' })
    const key = await readFile(join(certDir, 'key.pem'))
    const cert = await readFile(join(certDir, 'cert.pem'))
    tls = createHttpsServer({ key, cert, SNICallback: (name, callback) => { snis.push(name); callback(null, createSecureContext({ key, cert })) } }, (_req, res) => res.end('tls'))
    await new Promise<void>((resolve) => tls.listen(0, '127.0.0.1', resolve))
    tlsPort = (tls.address() as AddressInfo).port
  })
  after(async () => {
    await plain.close()
    tls.closeAllConnections()
    await new Promise((resolve) => tls.close(resolve))
    await rm(certDir, { recursive: true, force: true })
  })
  beforeEach(() => { snis.length = 0 })

  test('an http URL goes through HTTP_PROXY in a CONNECT tunnel, with the proxy credentials', async () => {
    const proxy = await startProxy()
    const http = createHttpClient({ env: { HTTP_PROXY: proxy.url.replace('http://', 'http://us%40er:p%3Ass@') }, retryBaseMs: 1 })
    try {
      const bytes: Buffer[] = []
      await http.streamRange(`${plain.origin}/f`, { start: 10, end: 4000 }, (chunk) => { bytes.push(chunk) })
      ok(Buffer.concat(bytes).equals(content.subarray(10, 4000)))
      ok(proxy.targets.length > 0 && proxy.targets.every((t) => t === new URL(plain.origin).host), proxy.targets.join())
      proxy.targets.length = 0
      plain.log.length = 0
      assert.equal((await http.fetch(`${plain.origin}/api/1`)).status, 200)
      assert.equal((await http.fetch(`${plain.origin}/api/2`)).status, 200)
      ok(proxy.targets.length <= 1, 'the tunnel is kept alive')
      assert.equal(plain.log[0]!.port, plain.log[1]!.port)
      assert.equal(proxy.auth[0], `Basic ${Buffer.from('us@er:p:ss').toString('base64')}`)
    } finally {
      await http.close()
      await proxy.close()
    }
    const anonymous = await startProxy()
    const direct = createHttpClient({ env: { HTTP_PROXY: anonymous.url, NO_PROXY: '127.0.0.2' } })
    try {
      await direct.fetch(`${plain.origin}/api`)
      assert.deepEqual(anonymous.auth, [undefined])
    } finally {
      await direct.close()
      await anonymous.close()
    }
  })

  test('a refused tunnel fails at once naming the proxy and the target (an IPv6 host in brackets)', async () => {
    const proxy = await startProxy({ refuse: true })
    const http = createHttpClient({ env: { HTTP_PROXY: proxy.url }, retryBaseMs: 1 })
    try {
      await assert.rejects(http.fetch('http://[::1]:9/api'), (error: unknown) => {
        ok(error instanceof NetworkError)
        assert.equal(error.message, `cannot reach http://[::1]:9: the proxy ${new URL(proxy.url).host} refused a tunnel to [::1]:9: HTTP 407 (check HTTPS_PROXY / NO_PROXY)`)
        return true
      })
      assert.deepEqual(proxy.targets, ['[::1]:9'], 'not retried')
    } finally {
      await http.close()
      await proxy.close()
    }
  })

  test('an unreachable proxy is reported as the endpoint being unreachable', async () => {
    const gone = await loopback()
    const proxyUrl = gone.origin
    await gone.close()
    const http = createHttpClient({ env: { HTTP_PROXY: proxyUrl }, maxRetries: 0 })
    try {
      await assert.rejects(http.fetch(`${plain.origin}/api`), (error: unknown) =>
        error instanceof NetworkError && error.message === `cannot reach ${plain.origin}: ECONNREFUSED (check HF_ENDPOINT / --endpoint, your network and HTTPS_PROXY)`)
    } finally {
      await http.close()
    }
  })

  test('an https proxy is spoken to over TLS', async () => {
    const http = createHttpClient({ env: { HTTP_PROXY: `https://localhost:${tlsPort}` }, maxRetries: 0 })
    try {
      await assert.rejects(http.fetch(`${plain.origin}/api`), /^NetworkError: cannot reach http:\/\/127\.0\.0\.1:\d+: DEPTH_ZERO_SELF_SIGNED_CERT: the server's TLS certificate is not trusted/)
    } finally {
      await http.close()
    }
  })

  test('a proxy that never answers CONNECT times out like a silent server', async () => {
    const proxy = await startProxy({ silent: true })
    const http = createHttpClient({ env: { HTTP_PROXY: proxy.url }, stallTimeoutMs: 50, maxRetries: 0 })
    try {
      const started = Date.now()
      await assert.rejects(http.streamRange(`${plain.origin}/f`, { start: 0, end: 10 }, () => {}), (error: unknown) =>
        error instanceof NetworkError && error.message === `cannot reach ${plain.origin}: stalled (no data)`)
      ok(Date.now() - started < 2000)
    } finally {
      await http.close()
      await proxy.close()
    }
  })

  test('https through HTTPS_PROXY runs TLS inside the tunnel with SNI for a host name; an untrusted certificate is explained', async () => {
    const proxy = await startProxy()
    const http = createHttpClient({ env: { HTTPS_PROXY: proxy.url, HTTP_PROXY: proxy.url }, maxRetries: 0 })
    const hint = ": the server's TLS certificate is not trusted; behind a TLS-inspecting proxy, set NODE_EXTRA_CA_CERTS to its CA file"
    try {
      await assert.rejects(http.fetch(`https://localhost:${tlsPort}/api`), (error: unknown) =>
        error instanceof NetworkError && error.message === `cannot reach https://localhost:${tlsPort}: DEPTH_ZERO_SELF_SIGNED_CERT${hint}`)
      assert.deepEqual(snis, ['localhost'])
      assert.deepEqual(proxy.targets, [`localhost:${tlsPort}`])
      await assert.rejects(http.fetch(`https://127.0.0.1:${tlsPort}/api`), /cannot reach https:\/\/127\.0\.0\.1:\d+: DEPTH_ZERO_SELF_SIGNED_CERT: the server's TLS/)
      assert.deepEqual(snis, ['localhost'], 'no SNI for an IP address')
      // the same proxy for http and https: each scheme gets its own tunnel kind
      assert.equal((await http.fetch(`${plain.origin}/api`)).status, 200)
    } finally {
      await http.close()
      await proxy.close()
    }
  })

  test('https without a proxy goes straight to the server over TLS', async () => {
    const http = createHttpClient({ env: {}, maxRetries: 0 })
    try {
      await assert.rejects(http.fetch(`https://localhost:${tlsPort}/api`), /cannot reach https:\/\/localhost:\d+: DEPTH_ZERO_SELF_SIGNED_CERT: the server's TLS certificate is not trusted/)
      assert.deepEqual(snis, ['localhost'])
    } finally {
      await http.close()
    }
  })
})

describe('range reader', () => {
  const content = Buffer.from(Array.from({ length: 100_000 }, (_, i) => (i * 7) % 256))
  let server: Loopback
  const http = createHttpClient({ env: {}, retryBaseMs: 1, maxRetries: 0 })

  before(async () => { server = await loopback(serveBytes(content)) })
  after(async () => {
    await http.close()
    await server.close()
  })
  beforeEach(() => {
    server.log.length = 0
    server.script.length = 0
  })
  const reader = (options: Partial<Parameters<typeof openRangeReader>[0]> = {}) =>
    openRangeReader({ http, target: `${server.origin}/f`, size: content.length, name: 'f.parquet', ...options })
  const ranges = () => server.log.map((r) => r.headers.range).sort()

  test('slices asked for together are merged where the gap allows, each answered with its own bytes', async () => {
    const r = reader({ coalesceGap: 100 })
    assert.equal(r.name, 'f.parquet')
    assert.equal(r.byteLength, 100_000)
    const asked: [number, number][] = [[5000, 5100], [0, 100], [200, 300], [380, 390], [250, 260], [491, 500], [40_000, 40_010]]
    const got = await Promise.all(asked.map(([s, e]) => r.slice(s, e)))
    got.forEach((bytes, i) => ok(Buffer.from(bytes).equals(content.subarray(...asked[i]!)), `slice ${asked[i]}`))
    // [250, 260] lies inside [200, 300]: the group still ends at 300, so [380, 390] is within the gap
    assert.deepEqual(ranges(), ['bytes=0-389', 'bytes=40000-40009', 'bytes=491-499', 'bytes=5000-5099'])
    assert.equal(r.requests(), 4)
    assert.equal(r.bytesFetched(), 390 + 10 + 9 + 100)
  })

  test('a gap exactly the coalesce gap is merged, one byte more is not; the default gap is 64 KiB', async () => {
    const r = reader({ coalesceGap: 100 })
    await Promise.all([r.slice(0, 10), r.slice(110, 120), r.slice(221, 230)])
    assert.deepEqual(ranges(), ['bytes=0-119', 'bytes=221-229'])
    server.log.length = 0
    const d = reader()
    await Promise.all([d.slice(0, 10), d.slice(10 + 65_536, 10 + 65_537), d.slice(20_000, 20_001)])
    assert.deepEqual(ranges(), ['bytes=0-65546'])
    server.log.length = 0
    await Promise.all([d.slice(0, 10), d.slice(10 + 65_537, 10 + 65_538)])
    assert.deepEqual(ranges(), ['bytes=0-9', 'bytes=65547-65547'])
  })

  test('slices asked for at different times are separate requests; a slice within another is answered from it', async () => {
    const r = reader()
    await r.slice(0, 10)
    await r.slice(20, 30)
    const [outer, inner] = await Promise.all([r.slice(1000, 3000), r.slice(1500, 1600)])
    ok(Buffer.from(inner).equals(content.subarray(1500, 1600)))
    ok(Buffer.from(outer).equals(content.subarray(1000, 3000)))
    assert.equal(r.requests(), 3)
    assert.deepEqual(server.log.map((l) => l.headers.range), ['bytes=0-9', 'bytes=20-29', 'bytes=1000-2999'])
  })

  test('large reads are split into parallel parts of partSize', async () => {
    const r = reader({ partSize: 4000 })
    const bytes = await r.slice(1000, 11_000)
    ok(Buffer.from(bytes).equals(content.subarray(1000, 11_000)))
    assert.deepEqual(ranges(), ['bytes=1000-4999', 'bytes=5000-8999', 'bytes=9000-10999'])
    assert.equal(r.requests(), 3)
    assert.equal(r.bytesFetched(), 10_000)
  })

  test('the end defaults to and is clipped at the file size; an empty slice sends nothing', async () => {
    const r = reader()
    ok(Buffer.from(await r.slice(99_990)).equals(content.subarray(99_990)))
    ok(Buffer.from(await r.slice(99_995, 200_000)).equals(content.subarray(99_995)))
    assert.equal((await r.slice(500, 500)).byteLength, 0)
    assert.equal((await r.slice(100_000, 100_010)).byteLength, 0)
    assert.deepEqual(server.log.map((l) => l.headers.range), ['bytes=99990-99999', 'bytes=99995-99999'])
    assert.equal(r.roundTripBytes(), http.roundTripBytes())
  })

  test('a whole-file read hands back exactly the file', async () => {
    const whole = await reader().slice(0)
    assert.equal(whole.byteLength, content.length)
    ok(Buffer.from(whole).equals(content))
  })

  test('a failed request fails the slices merged into it, and only those', async () => {
    server.fallback = (req, res) => req.headers.range?.startsWith('bytes=0-')
      ? void res.writeHead(404, { 'x-error-code': 'EntryNotFound' }).end()
      : serveBytes(content)(req, res)
    try {
      const r = reader({ context: { repo: 'acme/x', revision: 'v1', path: 'f.parquet' } })
      const results = await Promise.allSettled([r.slice(0, 10), r.slice(90_000, 90_010), r.slice(20, 30)])
      assert.deepEqual(results.map((s) => s.status), ['rejected', 'fulfilled', 'rejected'])
      for (const result of [results[0], results[2]]) {
        ok(result!.status === 'rejected' && result.reason instanceof EntryNotFoundError)
        assert.equal(result.reason.message, "'f.parquet' not found in dataset 'acme/x' at revision 'v1'")
      }
    } finally {
      server.fallback = serveBytes(content)
    }
  })
})
