import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { startHub, type HubEmulator } from './support/emulator/index.js'
import { tempDir } from './support/cli.js'

// The emulator's own protocol, checked with plain fetch (not coderforge's client).
const content = randomBytes(100_000)
let hub: HubEmulator
let dir: { path: string, cleanup: () => Promise<void> }

before(async () => {
  dir = await tempDir()
  await mkdir(join(dir.path, 'data'), { recursive: true })
  await writeFile(join(dir.path, 'data/a-00000-of-00001.parquet'), content)
  await writeFile(join(dir.path, 'README.md'), '# card\n')
  hub = await startHub({ repos: [{ id: 'acme/x', dir: dir.path }], pageSize: 1 })
})
after(async () => {
  await hub.close()
  await dir.cleanup()
})

const cdnUrl = async () => {
  const res = await fetch(`${hub.endpoint}/datasets/acme/x/resolve/main/data/a-00000-of-00001.parquet`, { method: 'HEAD', redirect: 'manual' })
  return res.headers.get('location')!
}

describe('hub emulator', () => {
  test('resolve: 302 to the CDN with the Hub\'s headers; regular files are served directly', async () => {
    const res = await fetch(`${hub.endpoint}/datasets/acme/x/resolve/main/data/a-00000-of-00001.parquet`, { redirect: 'manual' })
    assert.equal(res.status, 302)
    const sha = createHash('sha256').update(content).digest('hex')
    assert.equal(res.headers.get('x-linked-etag'), `"${sha}"`)
    assert.equal(res.headers.get('x-linked-size'), String(content.length))
    assert.equal(res.headers.get('x-repo-commit'), hub.commitOf('acme/x'))
    assert.notEqual(res.headers.get('content-length'), String(content.length))
    assert.ok(res.headers.get('location')!.startsWith(hub.cdnOrigin))
    const readme = await fetch(`${hub.endpoint}/datasets/acme/x/resolve/main/README.md`)
    assert.equal(readme.status, 200)
    assert.equal(await readme.text(), '# card\n')
  })

  test('CDN ranges: 206, suffix, clamped end, 416, no Range = 200', async () => {
    const url = await cdnUrl()
    const get = (range?: string) => fetch(url, { headers: range ? { range } : {} })
    const a = await get('bytes=10-19')
    assert.equal(a.status, 206)
    assert.equal(a.headers.get('content-range'), `bytes 10-19/${content.length}`)
    assert.ok(Buffer.from(await a.arrayBuffer()).equals(content.subarray(10, 20)))
    const suffix = await get('bytes=-100')
    assert.ok(Buffer.from(await suffix.arrayBuffer()).equals(content.subarray(-100)))
    const clamped = await get(`bytes=99990-200000`)
    assert.equal(clamped.headers.get('content-range'), `bytes 99990-99999/${content.length}`)
    const beyond = await get(`bytes=${content.length}-`)
    assert.equal(beyond.status, 416)
    assert.equal(beyond.headers.get('content-range'), `bytes */${content.length}`)
    const whole = await get()
    assert.equal(whole.status, 200)
    assert.notEqual(whole.headers.get('etag'), `"${createHash('sha256').update(content).digest('hex')}"`, 'the CDN ETag is not the sha256')
  })

  test('tree pages follow Link headers; a bad cursor is a 400; errors carry X-Error-Code', async () => {
    let url: string | undefined = `${hub.endpoint}/api/datasets/acme/x/tree/main?recursive=true`
    const paths: string[] = []
    while (url) {
      const res: Response = await fetch(url)
      const page = await res.json() as { path: string }[]
      assert.equal(page.length, 1)
      paths.push(...page.map((entry) => entry.path))
      url = /<([^>]+)>; rel="next"/.exec(res.headers.get('link') ?? '')?.[1]
    }
    assert.deepEqual(paths.sort(), ['README.md', 'data', 'data/a-00000-of-00001.parquet'])
    assert.equal((await fetch(`${hub.endpoint}/api/datasets/acme/x/tree/main?cursor=bogus`)).status, 400)
    const missing = await fetch(`${hub.endpoint}/api/datasets/acme/x/tree/main/nope`)
    assert.equal(missing.status, 404)
    assert.equal(missing.headers.get('x-error-code'), 'EntryNotFound')
    const revision = await fetch(`${hub.endpoint}/api/datasets/acme/x/revision/${encodeURIComponent('refs/convert/parquet')}`)
    assert.equal((await revision.json() as { sha: string }).sha, hub.commitOf('acme/x'))
  })

  test('the /parquet listing maps configs and splits to shard URLs', async () => {
    const listing = await (await fetch(`${hub.endpoint}/api/datasets/acme/x/parquet`)).json()
    assert.deepEqual(listing, { data: { a: [`${hub.endpoint}/api/datasets/acme/x/parquet/data/a/0.parquet`] } })
    const urls = await (await fetch(`${hub.endpoint}/api/datasets/acme/x/parquet/data/a`)).json()
    assert.equal((urls as string[]).length, 1)
  })

  test('advancing main keeps earlier commits readable', async () => {
    const before = hub.commitOf('acme/x')
    const after = hub.advanceMain('acme/x')
    assert.notEqual(before, after)
    const old = await fetch(`${hub.endpoint}/datasets/acme/x/resolve/${before}/README.md`)
    assert.equal(old.status, 200)
    assert.equal(old.headers.get('x-repo-commit'), before)
  })

  test('faults: reset before headers, gzip for clients that accept it, trickle caps the rate', async () => {
    const url = await cdnUrl()
    hub.fault({ target: 'cdn', kind: 'reset' })
    await assert.rejects(fetch(url))
    hub.fault({ target: 'cdn', kind: 'gzip' })
    const compressed = await fetch(url, { headers: { range: 'bytes=0-999', 'accept-encoding': 'gzip' } })
    assert.equal(compressed.headers.get('content-encoding'), 'gzip')
    hub.fault({ target: 'cdn', kind: 'trickle', bytesPerSecond: 100_000 })
    const started = Date.now()
    const res = await fetch(url, { headers: { range: 'bytes=0-49999' } })
    assert.equal((await res.arrayBuffer()).byteLength, 50_000)
    assert.ok(Date.now() - started >= 400, 'about half a second for 50 kB at 100 kB/s')
  })

  test('bodies held in memory serve the same bytes, and a corrupt fault does not poison them', async () => {
    const memoryHub = await startHub({ repos: [{ id: 'acme/x', dir: dir.path }], bodiesInMemory: true })
    try {
      const res = await fetch(`${memoryHub.endpoint}/datasets/acme/x/resolve/main/data/a-00000-of-00001.parquet`, { method: 'HEAD', redirect: 'manual' })
      const url = res.headers.get('location')!
      const read = async (range: string) => Buffer.from(await (await fetch(url, { headers: { range } })).arrayBuffer())
      assert.ok((await read('bytes=1000-60999')).equals(content.subarray(1000, 61000)))
      memoryHub.fault({ target: 'cdn', kind: 'corrupt' })
      assert.ok(!(await read('bytes=0-99999')).equals(content), 'the faulty transfer is corrupted')
      assert.ok((await read('bytes=0-99999')).equals(content), 'the next one is not')
    } finally {
      await memoryHub.close()
    }
  })
})
