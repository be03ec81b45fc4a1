// Direct tests of src/fetch's file side: downloads into real files from a loopback server (hashing: hash.test.ts).
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, beforeEach, describe, test } from 'node:test'
import { CoderforgeError, ExitCode, HubApiError, IntegrityError } from '../src/errors.js'
import { downloadFiles, partSizeFor, resumableBytes, type DownloadEvent, type DownloadItem } from '../src/fetch/downloader.js'
import { createHttpClient, type HttpClient } from '../src/fetch/http.js'
import { dropAfter, loopback, serveBytes, type Handler, type Loopback } from './support/loopback.js'

/** assert.ok with a message always: without one, a failing assert.ok re-reads the source to describe itself, which can hang on TypeScript. */
function ok(value: unknown, message = 'expected a truthy value'): asserts value {
  assert.ok(value, message)
}

const KiB = 1024
const MiB = 1024 * KiB
const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex')

let dir = ''
before(async () => { dir = await mkdtemp(join(tmpdir(), 'coderforge-fetch-')) })
after(async () => { await rm(dir, { recursive: true, force: true }) })

describe('part sizes', () => {
  test('parts fill every connection in whole waves, in multiples of 64 KiB between 1 and 8 MiB', () => {
    assert.equal(partSizeFor(0, 32), MiB)
    assert.equal(partSizeFor(10 * MiB, 32), MiB, 'a small selection: at least 1 MiB')
    assert.equal(partSizeFor(100 * MiB, 32), 3.125 * MiB)
    assert.equal(partSizeFor(304 * MiB, 32), 4.75 * MiB, '38 parts of 8 MiB would end with idle connections: two waves of 32')
    assert.equal(partSizeFor(1000 * MiB + 1, 32), 126 * 64 * KiB, 'rounded up to 64 KiB')
    assert.equal(partSizeFor(10 * 1024 * MiB, 32), 8 * MiB)
    assert.equal(partSizeFor(256 * MiB, 32), 8 * MiB)
    assert.equal(partSizeFor(256 * MiB + 1, 32), 4 * MiB + 64 * KiB)
    assert.equal(partSizeFor(64 * MiB, 4), 8 * MiB)
  })
})

describe('downloads', () => {
  let server: Loopback
  const files = new Map<string, Buffer>()
  const served: Handler = (req, res) => {
    const content = files.get(req.url!)
    if (!content) return void res.writeHead(404).end()
    serveBytes(content)(req, res)
  }
  const clients: HttpClient[] = []
  const http = (concurrency = 4) => {
    const client = createHttpClient({ env: {}, concurrency, retryBaseMs: 1, maxRetries: 0 })
    clients.push(client)
    return client
  }
  let n = 0
  /** A file on the server and the item that downloads it into a fresh folder. */
  function item(content: Buffer, options: Partial<DownloadItem> = {}): DownloadItem {
    const name = `file${n++}.bin`
    files.set(`/${name}`, content)
    const folder = join(dir, `run${n}`)
    return { name, target: `${server.origin}/${name}`, size: content.length, sha256: sha256(content), partialPath: join(folder, 'blobs', `${name}.incomplete`), finalPath: join(folder, 'snapshot', name), ...options }
  }
  const ranges = (name: string) => server.log.filter((r) => r.url === `/${name}`).map((r) => r.headers.range).sort()

  before(async () => { server = await loopback(served) })
  after(async () => {
    await Promise.all(clients.map((c) => c.close()))
    await server.close()
  })
  beforeEach(() => {
    server.log.length = 0
    server.script.length = 0
  })

  test('files are cut into parts, verified, renamed into place, largest first; nothing partial is left', async () => {
    const big = randomBytes(1100 * KiB)
    const small = randomBytes(5000)
    const bigItem = item(big)
    let completedWith: boolean | undefined
    const smallItem = item(small, { onComplete: async () => { completedWith = existsSync(smallItem.finalPath) } })
    const events: DownloadEvent[] = []
    const result = await downloadFiles([smallItem, bigItem], { http: http(1), partSize: 512 * KiB, onEvent: (event) => events.push(event) })
    assert.deepEqual(result, { files: 2, bytesFetched: big.length + small.length, bytesResumed: 0 })
    ok((await readFile(bigItem.finalPath)).equals(big))
    ok((await readFile(smallItem.finalPath)).equals(small))
    assert.equal(completedWith, true, 'onComplete runs after the rename')
    for (const done of [bigItem, smallItem]) {
      assert.equal(existsSync(done.partialPath), false)
      assert.equal(existsSync(`${done.partialPath}.parts`), false)
    }
    assert.deepEqual(ranges(bigItem.name), ['bytes=0-524287', 'bytes=1048576-1126399', 'bytes=524288-1048575'])
    assert.deepEqual(ranges(smallItem.name), ['bytes=0-4999'])
    const summary = events.filter((e) => e.type !== 'bytes')
    assert.deepEqual(summary, [
      { type: 'file-start', name: bigItem.name, size: big.length, resumedBytes: 0 },
      { type: 'file-done', name: bigItem.name, size: big.length },
      { type: 'file-start', name: smallItem.name, size: small.length, resumedBytes: 0 },
      { type: 'file-done', name: smallItem.name, size: small.length },
    ])
    const counted = (name: string) => events.reduce((sum, e) => sum + (e.type === 'bytes' && e.name === name ? e.bytes : 0), 0)
    assert.equal(counted(bigItem.name), big.length)
    assert.equal(counted(smallItem.name), small.length)
  })

  test('the default part size follows partSizeFor of the total on the client\'s connections', async () => {
    const content = randomBytes(3 * MiB)
    const one = item(content)
    await downloadFiles([one], { http: http(2) })
    assert.deepEqual(ranges(one.name), ['bytes=0-1572863', 'bytes=1572864-3145727'])
    ok((await readFile(one.finalPath)).equals(content))
  })

  test('a file without a known sha256 is kept as received', async () => {
    const content = randomBytes(2000)
    const one = item(content, { sha256: undefined })
    assert.deepEqual(await downloadFiles([one], { http: http() }), { files: 1, bytesFetched: 2000, bytesResumed: 0 })
    ok((await readFile(one.finalPath)).equals(content))
  })

  test('an interrupted download keeps the bytes on disk and its state; the next run fetches only the rest', async () => {
    const content = randomBytes(700 * KiB)
    const one = item(content)
    server.script.push(dropAfter(content, 100_000))
    await assert.rejects(downloadFiles([one], { http: http() }), /ended a response before its last byte/)
    assert.equal(existsSync(one.finalPath), false)
    assert.equal((await stat(one.partialPath)).size, content.length, 'the partial file is created at full size')
    assert.equal(await resumableBytes(one), 100_000)
    const state = JSON.parse(await readFile(`${one.partialPath}.parts`, 'utf8'))
    assert.deepEqual(state, { size: content.length, sha256: one.sha256, partSize: MiB, progress: [100_000] })
    server.log.length = 0
    const events: DownloadEvent[] = []
    const result = await downloadFiles([one], { http: http(), partSize: 64 * KiB, onEvent: (e) => events.push(e) })
    assert.deepEqual(result, { files: 1, bytesFetched: content.length - 100_000, bytesResumed: 100_000 })
    assert.deepEqual(ranges(one.name), [`bytes=100000-${content.length - 1}`], 'the resumed file keeps its 1 MiB part')
    assert.deepEqual(events[0], { type: 'file-start', name: one.name, size: content.length, resumedBytes: 100_000 })
    ok((await readFile(one.finalPath)).equals(content))
    assert.equal(await resumableBytes(one), 0)
  })

  test('a saved state resumes every part where it stopped', async () => {
    const content = randomBytes(300 * KiB + 5)
    const one = item(content)
    await mkdir(join(one.partialPath, '..'), { recursive: true })
    const partial = Buffer.alloc(content.length)
    content.copy(partial, 0, 0, 100 * KiB)
    content.copy(partial, 100 * KiB, 100 * KiB, 150 * KiB)
    await writeFile(one.partialPath, partial)
    await writeFile(`${one.partialPath}.parts`, JSON.stringify({ size: content.length, sha256: one.sha256, partSize: 100 * KiB, progress: [100 * KiB, 50 * KiB, 0, 0] }))
    assert.equal(await resumableBytes(one), 150 * KiB)
    const result = await downloadFiles([one], { http: http() })
    assert.deepEqual(result, { files: 1, bytesFetched: content.length - 150 * KiB, bytesResumed: 150 * KiB })
    assert.deepEqual(ranges(one.name), [`bytes=153600-204799`, `bytes=204800-307199`, `bytes=307200-307204`])
    ok((await readFile(one.finalPath)).equals(content))
  })

  test('a state that does not describe this file is ignored: the download starts over', async () => {
    const content = randomBytes(10 * KiB)
    const base = { size: content.length, sha256: sha256(content), partSize: 4 * KiB, progress: [4 * KiB, 0, 0] }
    const wrong: unknown[] = [
      { ...base, size: content.length + 1 }, { ...base, sha256: 'other' }, { ...base, partSize: 0 }, { ...base, partSize: 4 * KiB + 0.5 },
      { ...base, progress: [4 * KiB, 0] }, { ...base, progress: [-1, 0, 0] }, { ...base, progress: [4 * KiB + 1, 0, 0] },
      { ...base, progress: [0, 0, 2 * KiB + 1] }, { ...base, progress: [0.5, 0, 0] }, { ...base, progress: 'all' }, 'not json',
    ]
    for (const state of wrong) {
      const one = item(content)
      await mkdir(join(one.partialPath, '..'), { recursive: true })
      await writeFile(one.partialPath, Buffer.alloc(content.length))
      await writeFile(`${one.partialPath}.parts`, typeof state === 'string' ? state : JSON.stringify(state))
      assert.equal(await resumableBytes(one), 0, JSON.stringify(state))
      const result = await downloadFiles([one], { http: http() })
      assert.deepEqual(result, { files: 1, bytesFetched: content.length, bytesResumed: 0 }, JSON.stringify(state))
      ok((await readFile(one.finalPath)).equals(content))
    }
    const edge = item(content)
    await mkdir(join(edge.partialPath, '..'), { recursive: true })
    const partial = Buffer.alloc(content.length)
    content.copy(partial, 8 * KiB, 8 * KiB)
    await writeFile(edge.partialPath, partial)
    await writeFile(`${edge.partialPath}.parts`, JSON.stringify({ ...base, progress: [0, 0, 2 * KiB] }))
    assert.equal(await resumableBytes(edge), 2 * KiB, 'a complete last part is valid')
  })

  test('a shorter partial file without state (another tool\'s prefix) is resumed after its last byte', async () => {
    const content = randomBytes(200 * KiB)
    const one = item(content)
    await mkdir(join(one.partialPath, '..'), { recursive: true })
    await writeFile(one.partialPath, content.subarray(0, 70 * KiB))
    assert.equal(await resumableBytes(one), 70 * KiB)
    const result = await downloadFiles([one], { http: http(), partSize: 64 * KiB })
    assert.deepEqual(result, { files: 1, bytesFetched: 130 * KiB, bytesResumed: 70 * KiB })
    assert.deepEqual(ranges(one.name), ['bytes=131072-196607', 'bytes=196608-204799', 'bytes=71680-131071'])
    ok((await readFile(one.finalPath)).equals(content))
    const whole = item(content)
    await mkdir(join(whole.partialPath, '..'), { recursive: true })
    await writeFile(whole.partialPath, content)
    assert.equal(await resumableBytes(whole), 0, 'a file of full size without state is not trusted')
    assert.equal(await resumableBytes({ ...whole, partialPath: join(dir, 'nothing-here') }), 0)
  })

  test('a sha256 mismatch is fetched again once from scratch; a second mismatch discards the file', async () => {
    const content = randomBytes(20 * KiB)
    const corrupt = Buffer.from(content)
    corrupt[1000]! ^= 0xff
    const once = item(content)
    server.script.push(serveBytes(corrupt))
    const events: DownloadEvent[] = []
    const result = await downloadFiles([once], { http: http(), onEvent: (e) => events.push(e) })
    assert.deepEqual(result, { files: 1, bytesFetched: 2 * content.length, bytesResumed: 0 })
    ok((await readFile(once.finalPath)).equals(content))
    assert.deepEqual(events.filter((e) => e.type === 'file-verify-failed'), [{ type: 'file-verify-failed', name: once.name, expected: once.sha256, actual: sha256(corrupt), retrying: true }])
    assert.deepEqual(events.filter((e) => e.type === 'file-start').map((e) => e.type === 'file-start' && e.resumedBytes), [0, 0])

    const twice = item(content)
    server.script.push(serveBytes(corrupt), serveBytes(corrupt))
    events.length = 0
    await assert.rejects(downloadFiles([twice], { http: http(), onEvent: (e) => events.push(e) }), (error: unknown) => {
      ok(error instanceof IntegrityError)
      assert.equal(error.message, `${twice.name}: sha256 mismatch after a second download (expected ${twice.sha256}, got ${sha256(corrupt)}); the file was not kept`)
      assert.equal(error.path, twice.name)
      assert.equal(error.exitCode, ExitCode.failure)
      return true
    })
    assert.deepEqual(events.filter((e) => e.type === 'file-verify-failed').map((e) => e.type === 'file-verify-failed' && e.retrying), [true, false])
    assert.equal(existsSync(twice.partialPath), false)
    assert.equal(existsSync(`${twice.partialPath}.parts`), false)
    assert.equal(existsSync(twice.finalPath), false)
  })

  test('a failed file fails the run, and files not started yet are not started', async () => {
    const good = item(randomBytes(1000))
    const missing = item(randomBytes(5000))
    files.delete(`/${missing.name}`)
    await assert.rejects(downloadFiles([good, missing], { http: http(1) }), (error: unknown) => error instanceof HubApiError && error.status === 404)
    assert.equal(ranges(good.name).length, 0, 'the smaller file waited and was never started')
    assert.equal(existsSync(missing.finalPath), false)
  })

  test('a file in the way of the folders is explained', async () => {
    const content = randomBytes(100)
    const blocker = join(dir, 'blocker')
    await writeFile(blocker, 'x')
    const message = (path: string) => `cannot create the folders for ${path}: a file is in the way; choose a folder for --local-dir / --cache-dir`
    const final = item(content, { finalPath: join(blocker, 'sub', 'f.bin') })
    await assert.rejects(downloadFiles([final], { http: http() }), (error: unknown) => error instanceof CoderforgeError && error.message === message(final.finalPath))
    const partial = item(content, { partialPath: join(blocker, 'f.incomplete') })
    await assert.rejects(downloadFiles([partial], { http: http() }), (error: unknown) => error instanceof CoderforgeError && error.message === message(partial.partialPath))
  })
})
