import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { mkdir, writeFile } from 'node:fs/promises'
import { Agent, get as httpGet } from 'node:http'
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

describe('hub emulator: the network a bench needs', () => {
  /** GET a range through `agent` (node:http, so connections are under the test's control); resolves to bytes received. */
  const getRange = (agent: Agent, url: string, range: string) => new Promise<number>((resolve, reject) => {
    httpGet(url, { agent, headers: { range } }, (res) => {
      let received = 0
      res.on('data', (chunk: Buffer) => { received += chunk.length })
      res.on('end', () => resolve(received))
      res.on('error', reject)
    }).on('error', reject)
  })

  test('the bandwidth cap is per TCP connection: four connections move four times the bytes of one', async () => {
    const url = await cdnUrl()
    hub.clearLog()
    hub.setBandwidth(200_000)
    try {
      const one = new Agent({ keepAlive: true, maxSockets: 1 })
      let started = Date.now()
      // two 50 kB requests on one connection: 100 kB at 200 kB/s
      assert.deepEqual(await Promise.all([getRange(one, url, 'bytes=0-49999'), getRange(one, url, 'bytes=50000-99999')]), [50_000, 50_000])
      const serial = Date.now() - started
      one.destroy()
      assert.ok(serial >= 480, `one connection is capped: ${serial} ms for 100 kB`)
      assert.equal(hub.counters().cdn.connections, 1)

      const four = new Agent({ keepAlive: true, maxSockets: 4 })
      started = Date.now()
      const sizes = await Promise.all([0, 1, 2, 3].map((i) => getRange(four, url, `bytes=${i * 12_500}-${i * 12_500 + 49_999}`)))
      const parallel = Date.now() - started
      four.destroy()
      assert.deepEqual(sizes, [50_000, 50_000, 50_000, 50_000])
      // 200 kB over four connections: 0.25 s if each has its own cap, 1 s if they shared one
      assert.ok(parallel < 800, `four connections are capped separately: ${parallel} ms for 200 kB`)
      const { cdn } = hub.counters()
      assert.equal(cdn.connections, 5)
      assert.equal(cdn.peakInFlight, 4)
      assert.ok(cdn.peakConnections >= 4)
    } finally {
      hub.setBandwidth(undefined)
    }
  })

  test('connection latency delays only the first response of each new connection', async () => {
    const url = await cdnUrl()
    hub.setConnectionLatency(300)
    const agent = new Agent({ keepAlive: true, maxSockets: 1 })
    try {
      const timed = async () => {
        const started = Date.now()
        await getRange(agent, url, 'bytes=0-9')
        return Date.now() - started
      }
      const first = await timed()
      const second = await timed()
      assert.ok(first >= 295, `handshake on the first response: ${first} ms`)
      assert.ok(second < first - 150, `none on the reused connection: ${second} ms`)
    } finally {
      hub.setConnectionLatency(0)
      agent.destroy()
    }
  })

  test('counters: requests and body bytes per origin match the log; clearLog resets them', async () => {
    hub.clearLog()
    const url = await cdnUrl()
    const body = await (await fetch(url, { headers: { range: 'bytes=0-999' } })).arrayBuffer()
    await (await fetch(`${hub.endpoint}/api/datasets/acme/x`)).arrayBuffer()
    const counters = hub.counters()
    assert.equal(body.byteLength, 1000)
    assert.equal(counters.cdn.requests, 1)
    assert.equal(counters.cdn.bytesSent, 1000)
    assert.equal(counters.hub.requests, 2)
    assert.equal(counters.hub.bytesSent, hub.requests.filter((r) => r.origin === 'hub').reduce((sum, r) => sum + r.bytesSent, 0))
    assert.ok(counters.hub.bytesSent > 0)
    hub.clearLog()
    const cleared = hub.counters()
    assert.deepEqual([cleared.hub.requests, cleared.hub.bytesSent, cleared.hub.connections, cleared.cdn.requests], [0, 0, 0, 0])
  })

  test('224 shards per split, as the real dataset: every listing page and /parquet give each shard with its size and sha256', async () => {
    const many = await tempDir()
    const expected = new Map<string, { size: number, sha256: string }>()
    try {
      for (const config of ['trajectories', 'trajectories-tokenized_qwencoder']) {
        for (const split of ['SWE_Smith', 'R2E_Gym']) {
          await mkdir(join(many.path, config), { recursive: true })
          for (let shard = 0; shard < 224; shard++) {
            const path = `${config}/${split}-${String(shard).padStart(5, '0')}-of-00224.parquet`
            const bytes = randomBytes(200 + shard)
            await writeFile(join(many.path, path), bytes)
            expected.set(path, { size: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') })
          }
        }
      }
      const manyHub = await startHub({ repos: [{ id: 'acme/many', dir: many.path }], pageSize: 100 })
      try {
        const listed = new Map<string, { size: number, sha256: string }>()
        let url: string | undefined = `${manyHub.endpoint}/api/datasets/acme/many/tree/main?recursive=true`
        let pages = 0
        while (url) {
          const res: Response = await fetch(url)
          for (const entry of await res.json() as { type: string, path: string, size: number, lfs?: { oid: string } }[]) {
            if (entry.type === 'file') listed.set(entry.path, { size: entry.size, sha256: entry.lfs!.oid })
          }
          pages++
          url = /<([^>]+)>; rel="next"/.exec(res.headers.get('link') ?? '')?.[1]
        }
        assert.equal(pages, 9, '896 files and 2 folders in pages of 100')
        assert.deepEqual(new Map([...listed].sort()), new Map([...expected].sort()))
        const urls = await (await fetch(`${manyHub.endpoint}/api/datasets/acme/many/parquet/trajectories/SWE_Smith`)).json() as string[]
        assert.deepEqual(urls, Array.from({ length: 224 }, (_, i) => `${manyHub.endpoint}/api/datasets/acme/many/parquet/trajectories/SWE_Smith/${i}.parquet`))
        const last = 'trajectories/SWE_Smith-00223-of-00224.parquet'
        const served = Buffer.from(await (await fetch(`${manyHub.endpoint}/datasets/acme/many/resolve/main/${last}`)).arrayBuffer())
        assert.equal(createHash('sha256').update(served).digest('hex'), expected.get(last)!.sha256)
      } finally {
        await manyHub.close()
      }
    } finally {
      await many.cleanup()
    }
  })
})
