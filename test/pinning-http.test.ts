import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdir, writeFile } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { after, before, beforeEach, describe, test } from 'node:test'
import { HubApiError, NetworkError } from '../src/errors.js'
import type { RetryEvent } from '../src/fetch/http.js'
import { createHub, type HubOptions } from '../src/hub/client.js'
import { fileTarget } from '../src/hub/resolve.js'
import { resolveCommit } from '../src/hub/revision.js'
import { startHub, type HubEmulator } from './support/emulator/index.js'
import { tempDir } from './support/cli.js'

const repo = 'acme/retries'
const path = 'data/train-00000-of-00001.parquet'
const content = randomBytes(1024 * 1024 + 7)

let hub: HubEmulator
let dir: { path: string, cleanup: () => Promise<void> }

before(async () => {
  dir = await tempDir()
  await mkdir(join(dir.path, 'data'), { recursive: true })
  await writeFile(join(dir.path, path), content)
  hub = await startHub({ repos: [{ id: repo, dir: dir.path }] })
})
after(async () => {
  await hub.close()
  await dir.cleanup()
})
beforeEach(() => {
  hub.clearFaults()
  hub.clearLog()
})

function testHub(retries: RetryEvent[], options: Partial<HubOptions> = {}) {
  return createHub({ endpoint: hub.endpoint, env: {}, retryBaseMs: 10, stallTimeoutMs: 2000, onRetry: (event) => retries.push(event), ...options })
}

async function readAll(h: ReturnType<typeof testHub>, start: number, end: number): Promise<Buffer> {
  const chunks: Buffer[] = []
  await h.http.streamRange(fileTarget(h, { repo, revision: 'main', path }), { start, end }, (chunk) => { chunks.push(chunk) })
  return Buffer.concat(chunks)
}

const apiRequests = () => hub.requests.filter((r) => r.origin === 'hub' && r.path.startsWith('/api/'))

describe('retries on the Hub API path', () => {
  test('a 429 with Retry-After on the API is waited for as asked, then the call succeeds', async () => {
    hub.fault({ target: 'api', kind: 'status', status: 429, retryAfter: 1 })
    const retries: RetryEvent[] = []
    const h = testHub(retries)
    const started = Date.now()
    assert.equal(await resolveCommit(h, { repo }), hub.commitOf(repo))
    assert.ok(Date.now() - started >= 950, 'waited the second Retry-After asked for')
    assert.deepEqual(retries.map((r) => [r.reason, r.waitMs]), [['HTTP 429', 1000]])
    assert.deepEqual(apiRequests().map((r) => r.status), [429, 200])
    await h.http.close()
  })

  test('a server-requested wait is capped by maxRetryWaitMs, on the API and on the CDN', async () => {
    hub.fault({ target: 'api', kind: 'status', status: 429, retryAfter: 120 })
    hub.fault({ target: 'cdn', kind: 'status', status: 429, retryAfter: 120 })
    const retries: RetryEvent[] = []
    const h = testHub(retries, { maxRetryWaitMs: 200 })
    const started = Date.now()
    assert.equal(await resolveCommit(h, { repo }), hub.commitOf(repo))
    assert.ok((await readAll(h, 0, 1000)).equals(content.subarray(0, 1000)))
    assert.ok(Date.now() - started < 5000, 'did not wait two minutes')
    assert.deepEqual(retries.map((r) => r.waitMs), [200, 200])
    await h.http.close()
  })

  test('5xx on the API is retried exactly maxRetries times, then reported', async () => {
    const retries: RetryEvent[] = []
    const h = testHub(retries, { maxRetries: 2 })
    hub.fault({ target: 'api', kind: 'status', status: 503, times: 2 })
    assert.equal(await resolveCommit(h, { repo }), hub.commitOf(repo))
    assert.equal(retries.length, 2)
    hub.clearLog()
    hub.fault({ target: 'api', kind: 'status', status: 503, times: 3 })
    await assert.rejects(resolveCommit(h, { repo }), (error: unknown) => error instanceof HubApiError || error instanceof NetworkError)
    assert.deepEqual(apiRequests().map((r) => r.status), [503, 503, 503])
    await h.http.close()
  })

  test('the retry budget is per stretch without progress: five drops after progress still finish with maxRetries 2', async () => {
    const retries: RetryEvent[] = []
    const h = testHub(retries, { maxRetries: 2 })
    hub.fault({ target: 'cdn', kind: 'drop', afterBytes: 100_000, times: 5 })
    assert.ok((await readAll(h, 0, content.length)).equals(content))
    assert.equal(retries.length, 5)
    assert.ok(retries.every((r) => r.attempt === 1), 'every drop after progress starts the count again')
    await h.http.close()
  })

  test('drops without progress exhaust the budget', async () => {
    const retries: RetryEvent[] = []
    const h = testHub(retries, { maxRetries: 2 })
    await readAll(h, 0, 10) // resolve the link first, so only CDN requests count below
    hub.clearLog()
    hub.fault({ target: 'cdn', kind: 'reset', times: 3 })
    await assert.rejects(readAll(h, 0, 1000), NetworkError)
    assert.equal(hub.requests.filter((r) => r.origin === 'cdn').length, 3)
    await h.http.close()
  })
})

describe('Content-Range of a 206', () => {
  let server: Server
  let base: string
  // what the server answers for any range: a 206 with this Content-Range and a body of its length
  let contentRange: string | undefined

  before(async () => {
    server = createServer((_req, res) => {
      const body = Buffer.alloc(100, 7)
      res.writeHead(206, { 'Content-Length': body.length, ...(contentRange === undefined ? {} : { 'Content-Range': contentRange }) })
      res.end(body)
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/file`
  })
  after(() => new Promise<void>((resolve) => server.close(() => resolve())))

  for (const [label, header] of [['another start', 'bytes 0-99/1000'], ['no header', undefined], ['an unsatisfied-range header', 'bytes */1000'], ['no total length', 'bytes 500-599']] as const) {
    test(`a 206 with ${label} is refused and no byte of it is delivered`, async () => {
      contentRange = header
      const h = testHub([])
      const chunks: Buffer[] = []
      await assert.rejects(h.http.streamRange(base, { start: 500, end: 600 }, (chunk) => { chunks.push(chunk) }), /unexpected Content-Range/)
      assert.equal(chunks.length, 0)
      await h.http.close()
    })
  }

  test('a 206 that starts where asked is accepted', async () => {
    contentRange = 'bytes 500-599/1000'
    const h = testHub([])
    const chunks: Buffer[] = []
    assert.equal(await h.http.streamRange(base, { start: 500, end: 600 }, (chunk) => { chunks.push(chunk) }), 100)
    assert.ok(Buffer.concat(chunks).equals(Buffer.alloc(100, 7)))
    await h.http.close()
  })
})

describe('a server that alternates failures and short answers', () => {
  let server: Server
  let base: string
  const data = Buffer.from(Array.from({ length: 50 }, (_, i) => i))
  let served = 0

  before(async () => {
    server = createServer((req, res) => {
      // odd requests: the connection dies before any byte; even ones: a well-formed 206 of only 10 bytes
      if (served++ % 2 === 0) return void req.socket.destroy()
      const start = Number(/bytes=(\d+)-/.exec(req.headers.range ?? '')![1])
      const body = data.subarray(start, start + 10)
      res.writeHead(206, { 'Content-Length': body.length, 'Content-Range': `bytes ${start}-${start + body.length - 1}/${data.length}` })
      res.end(body)
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/file`
  })
  after(() => new Promise<void>((resolve) => server.close(() => resolve())))

  test('a short answer that made progress resets the budget, so one retry per stretch is enough', async () => {
    const h = testHub([], { maxRetries: 1 })
    const chunks: Buffer[] = []
    assert.equal(await h.http.streamRange(base, { start: 0, end: data.length }, (chunk) => { chunks.push(chunk) }), data.length)
    assert.ok(Buffer.concat(chunks).equals(data))
    assert.equal(served, 10)
    await h.http.close()
  })
})
