import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { mkdir, writeFile } from 'node:fs/promises'
import { Agent, get, request as httpRequest, type IncomingHttpHeaders } from 'node:http'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { after, before, beforeEach, describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { startHub, type HubEmulator } from './support/emulator/index.js'
import { tempDir } from './support/cli.js'

// The emulator's protocol, checked with plain HTTP clients (never coderforge's own). Complements
// emulator.test.ts: metadata routes, auth, signed links, every fault kind, the log and `npm run hub`.

const open = 'acme/open'
const gated = 'acme/gated'
const secret = 'acme/secret'
const big = 'data/train-00000-of-00002.parquet'
const small = 'data/train-00001-of-00002.parquet'
const files: Record<string, Buffer> = {
  '.gitattributes': Buffer.from('*.parquet filter=lfs diff=lfs merge=lfs -text\n'),
  'README.md': Buffer.from('# card\n'),
  'docs/guide.md': Buffer.from('read me first\n'),
  [big]: randomBytes(200_000),
  [small]: randomBytes(50_000),
}

let hub: HubEmulator
let dir: { path: string, cleanup: () => Promise<void> }

before(async () => {
  dir = await tempDir()
  for (const [path, content] of Object.entries(files)) {
    await mkdir(join(dir.path, path, '..'), { recursive: true })
    await writeFile(join(dir.path, path), content)
  }
  hub = await startHub({
    repos: [
      { id: open, dir: dir.path, renamedFrom: 'acme/old-name' },
      { id: gated, dir: dir.path, gated: 'manual' },
      { id: secret, dir: dir.path, private: true },
    ],
    tokens: { hf_granted: { grants: [gated, secret] }, hf_plain: {} },
    pageSize: 2,
  })
})
after(async () => {
  await hub.close()
  await dir.cleanup()
})
beforeEach(() => {
  hub.clearFaults()
  hub.clearLog()
})

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex')
const gitBlobId = (data: Buffer) => createHash('sha1').update(`blob ${data.length}\0`).update(data).digest('hex')
const pointerOf = (data: Buffer) => Buffer.from(`version https://git-lfs.github.com/spec/v1\noid sha256:${sha256(data)}\nsize ${data.length}\n`)
const bytesOf = async (res: Response) => Buffer.from(await res.arrayBuffer())
const auth = (token: string) => ({ authorization: `Bearer ${token}` })
const resolveUrl = (path: string, revision = 'main', repo = open) => `${hub.endpoint}/datasets/${repo}/resolve/${revision}/${path}`

/** A fresh signed CDN link for a file. */
async function cdnLink(path = big): Promise<string> {
  const res = await fetch(resolveUrl(path), { method: 'HEAD', redirect: 'manual' })
  assert.equal(res.status, 302)
  return res.headers.get('location')!
}

/** Every entry of a tree listing, following `Link: rel="next"` to the end. */
async function listAll(url: string): Promise<{ type: string, path: string }[]> {
  const entries: { type: string, path: string }[] = []
  for (let next: string | undefined = url; next;) {
    const res: Response = await fetch(next)
    assert.equal(res.status, 200)
    entries.push(...await res.json() as { type: string, path: string }[])
    next = /<([^>]+)>; rel="next"/.exec(res.headers.get('link') ?? '')?.[1]
  }
  return entries
}

/** A GET with an explicit Host header (fetch will not send one), as a reverse proxy would. */
function getWithHost(url: string, host: string): Promise<IncomingHttpHeaders> {
  return new Promise((resolve, reject) => {
    httpRequest(url, { headers: { host } }, (res) => {
      res.resume()
      res.on('end', () => resolve(res.headers))
    }).on('error', reject).end()
  })
}

/** Read a body chunk by chunk until it ends or the connection breaks; how many bytes arrived, and how it ended. */
async function drain(res: Response): Promise<{ received: number, broken: boolean }> {
  const reader = res.body!.getReader()
  let received = 0
  try {
    for (;;) {
      const { done, value } = await reader.read()
      if (done) return { received, broken: false }
      received += value.length
    }
  } catch {
    return { received, broken: true }
  }
}

describe('hub emulator: metadata routes', () => {
  test('info, revision, refs and ?blobs=true describe every file with its Hub identities', async () => {
    const info = await (await fetch(`${hub.endpoint}/api/datasets/${open}`)).json() as {
      id: string, sha: string, private: boolean, gated: unknown, siblings: { rfilename: string }[]
    }
    assert.equal(info.id, open)
    assert.equal(info.sha, hub.commitOf(open))
    assert.equal(info.private, false)
    assert.equal(info.gated, false)
    assert.deepEqual(info.siblings.map((s) => s.rfilename).sort(), Object.keys(files).sort())

    const blobs = await (await fetch(`${hub.endpoint}/api/datasets/${open}?blobs=true`)).json() as {
      siblings: { rfilename: string, size: number, blobId: string, lfs?: { sha256: string, size: number, pointerSize: number } }[]
    }
    const parquet = blobs.siblings.find((s) => s.rfilename === big)!
    assert.deepEqual(parquet.lfs, { sha256: sha256(files[big]!), size: files[big]!.length, pointerSize: pointerOf(files[big]!).length })
    assert.equal(parquet.blobId, gitBlobId(pointerOf(files[big]!)))
    const readme = blobs.siblings.find((s) => s.rfilename === 'README.md')!
    assert.equal(readme.blobId, gitBlobId(files['README.md']!))
    assert.equal(readme.lfs, undefined)

    const tagged = await (await fetch(`${hub.endpoint}/api/datasets/${open}/revision/v1.0`)).json() as { sha: string }
    assert.equal(tagged.sha, hub.commitOf(open, 'v1.0'))
    const refs = await (await fetch(`${hub.endpoint}/api/datasets/${open}/refs`)).json() as { branches: { name: string, targetCommit: string }[] }
    assert.deepEqual(refs.branches.map((b) => [b.name, b.targetCommit]), [['main', hub.commitOf(open)]])
  })

  test('paths-info answers form-encoded (Python) and JSON (JS) bodies alike', async () => {
    const url = `${hub.endpoint}/api/datasets/${open}/paths-info/${encodeURIComponent('refs/convert/parquet')}`
    const form = await fetch(url, { method: 'POST', body: new URLSearchParams([['paths', 'README.md'], ['paths', big], ['expand', 'false']]) })
    const json = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ paths: ['README.md', big], expand: false }) })
    const byPath = (entries: { path: string }[]) => entries.sort((a, b) => (a.path < b.path ? -1 : 1))
    const fromForm = byPath(await form.json() as { path: string }[])
    assert.deepEqual(fromForm, byPath(await json.json() as { path: string }[]))
    assert.deepEqual(fromForm, [
      { type: 'file', oid: gitBlobId(files['README.md']!), size: files['README.md']!.length, path: 'README.md' },
      {
        type: 'file', oid: gitBlobId(pointerOf(files[big]!)), size: files[big]!.length, path: big,
        lfs: { oid: sha256(files[big]!), size: files[big]!.length, pointerSize: pointerOf(files[big]!).length },
      },
    ])
  })

  test('tree: directories listed, folders addressable (%2F too), unsorted order, Link built from the Host header', async () => {
    const root = await listAll(`${hub.endpoint}/api/datasets/${open}/tree/main?recursive=false&expand=false`)
    assert.deepEqual(root.map((e) => `${e.type} ${e.path}`).sort(), ['directory data', 'directory docs', 'file .gitattributes', 'file README.md'])
    const folder = await listAll(`${hub.endpoint}/api/datasets/${open}/tree/main/data`)
    assert.deepEqual(folder.map((e) => e.path).sort(), [big, small])
    const encoded = await listAll(`${hub.endpoint}/api/datasets/${open}/tree/main/${encodeURIComponent('docs/')}`)
    assert.deepEqual(encoded.map((e) => e.path), ['docs/guide.md'])

    const everything = await listAll(`${hub.endpoint}/api/datasets/${open}/tree/${hub.commitOf(open)}?recursive=true`)
    const paths = everything.map((e) => e.path)
    assert.equal(paths.length, Object.keys(files).length + 2)
    assert.notDeepEqual(paths, [...paths].sort(), 'clients must not rely on path order')

    const port = new URL(hub.endpoint).port
    const headers = await getWithHost(`${hub.endpoint}/api/datasets/${open}/tree/main?recursive=true`, `localhost:${port}`)
    assert.match(String(headers.link), new RegExp(`^<http://localhost:${port}/api/datasets/${open}/tree/main\\?recursive=true&cursor=[^>]+>; rel="next"$`))

    const badRevision = await fetch(`${hub.endpoint}/api/datasets/${open}/tree/nope`)
    assert.equal(badRevision.status, 404)
    assert.equal(badRevision.headers.get('x-error-code'), 'RevisionNotFound')
  })
})

describe('hub emulator: resolve and the CDN', () => {
  test('LFS resolve: 302 with the Hub headers, for every form of revision; the link serves the file', async () => {
    for (const revision of ['main', hub.commitOf(open), 'refs/convert/parquet', encodeURIComponent('refs/convert/parquet'), 'v1.0']) {
      const res = await fetch(resolveUrl(big, revision), { method: 'HEAD', redirect: 'manual' })
      assert.equal(res.status, 302, revision)
      assert.equal(res.headers.get('x-repo-commit'), hub.commitOf(open, decodeURIComponent(revision)))
    }
    const res = await fetch(resolveUrl(big), { redirect: 'manual' })
    const location = new URL(res.headers.get('location')!)
    assert.equal(location.origin, hub.cdnOrigin)
    assert.ok(location.searchParams.get('Expires') && location.searchParams.get('Signature'))
    assert.equal(res.headers.get('content-type'), 'text/plain; charset=utf-8')
    assert.match(res.headers.get('x-request-id') ?? '', /\S/)
    assert.match(res.headers.get('etag') ?? '', /^"[0-9a-f]+"$/)
    assert.equal(Number(res.headers.get('content-length')), (await bytesOf(res)).length)

    const followed = await fetch(resolveUrl(big))
    assert.equal(followed.headers.get('x-cache'), 'Hit from cloudfront')
    assert.equal(followed.headers.get('accept-ranges'), 'bytes')
    assert.equal(followed.headers.get('x-repo-commit'), null, 'the CDN carries none of the Hub headers')
    assert.equal(`"${sha256(await bytesOf(followed))}"`, res.headers.get('x-linked-etag'))
  })

  test('regular files, missing files and renamed repos', async () => {
    const head = await fetch(resolveUrl('docs/guide.md'), { method: 'HEAD' })
    assert.equal(head.status, 200)
    assert.equal(head.headers.get('etag'), `"${gitBlobId(files['docs/guide.md']!)}"`)
    assert.equal(head.headers.get('content-length'), String(files['docs/guide.md']!.length))
    assert.equal(head.headers.get('x-repo-commit'), hub.commitOf(open))
    hub.fault({ target: 'resolve', file: 'docs/guide.md', kind: 'corrupt' })
    const corrupt = await bytesOf(await fetch(resolveUrl('docs/guide.md')))
    assert.notDeepEqual(corrupt, files['docs/guide.md'], 'body faults apply to files the Hub serves itself')

    const missing = await fetch(resolveUrl('data/nope.parquet'))
    assert.equal(missing.status, 404)
    assert.equal(missing.headers.get('x-error-code'), 'EntryNotFound')
    assert.equal(missing.headers.get('x-repo-commit'), hub.commitOf(open))
    assert.deepEqual(Object.keys(await missing.json() as object), ['error'])

    const renamed = await fetch(resolveUrl('README.md', 'main', 'acme/old-name'), { redirect: 'manual' })
    assert.equal(renamed.status, 307)
    assert.equal(renamed.headers.get('location'), `/datasets/${open}/resolve/main/README.md`)
    const renamedApi = await fetch(`${hub.endpoint}/api/datasets/acme/old-name/revision/main?blobs=true`, { redirect: 'manual' })
    assert.equal(renamedApi.headers.get('location'), `/api/datasets/${open}/revision/main?blobs=true`)
  })

  test('signed links: a tampered signature, expireLinks() and a zero lifetime all get 403 XML', async () => {
    const link = new URL(await cdnLink())
    const tampered = new URL(link)
    tampered.searchParams.set('Signature', 'forged')
    const forged = await fetch(tampered)
    assert.equal(forged.status, 403)
    assert.match(await forged.text(), /<Code>AccessDenied<\/Code>/)
    assert.equal((await fetch(link, { headers: { range: 'bytes=0-0' } })).status, 206)

    hub.expireLinks()
    const expired = await fetch(link, { headers: { range: 'bytes=0-0' } })
    assert.equal(expired.status, 403)
    assert.equal(expired.headers.get('content-type'), 'application/xml')
    assert.equal((await fetch(await cdnLink(), { headers: { range: 'bytes=0-0' } })).status, 206, 're-resolving issues a working link')

    const shortLived = await startHub({ repos: [{ id: open, dir: dir.path }], linkTtlSeconds: 0 })
    try {
      const res = await fetch(`${shortLived.endpoint}/datasets/${open}/resolve/main/${big}`, { headers: { range: 'bytes=0-0' } })
      assert.equal(res.status, 403)
    } finally {
      await shortLived.close()
    }
  })

  test('many parallel keep-alive connections each get their own correct range', async () => {
    const link = await cdnLink()
    const agent = new Agent({ keepAlive: true, maxSockets: 16 })
    try {
      const starts = Array.from({ length: 96 }, (_, i) => (i * 1987) % (files[big]!.length - 1000))
      const answers = await Promise.all(starts.map((start) => new Promise<{ status?: number, body: Buffer }>((resolve, reject) => {
        get(link, { agent, headers: { range: `bytes=${start}-${start + 999}` } }, (res) => {
          const chunks: Buffer[] = []
          res.on('data', (chunk: Buffer) => chunks.push(chunk))
          res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks) }))
          res.on('error', reject)
        }).on('error', reject)
      })))
      answers.forEach(({ status, body }, i) => {
        assert.equal(status, 206)
        assert.ok(body.equals(files[big]!.subarray(starts[i], starts[i]! + 1000)))
      })
    } finally {
      agent.destroy()
    }
  })
})

describe('hub emulator: auth', () => {
  const status = async (url: string, token?: string) => {
    const res = await fetch(url, { method: 'HEAD', redirect: 'manual', headers: token ? auth(token) : {} })
    return `${res.status} ${res.headers.get('x-error-code') ?? ''}`.trim()
  }

  test('gated, private, unknown repos and bad tokens answer as the Hub does', async () => {
    const info = (repo: string) => `${hub.endpoint}/api/datasets/${repo}`
    const tree = (repo: string) => `${hub.endpoint}/api/datasets/${repo}/tree/main`
    const resolve = (repo: string) => resolveUrl(big, 'main', repo)

    assert.equal(await status(info(gated)), '200', 'gated metadata is public')
    assert.equal(await status(resolve(gated)), '401 GatedRepo')
    assert.equal(await status(tree(gated)), '401 GatedRepo')
    assert.equal(await status(resolve(gated), 'hf_plain'), '403 GatedRepo')
    assert.equal(await status(resolve(gated), 'hf_granted'), '302')

    assert.equal(await status(info(secret)), '401 RepoNotFound')
    assert.equal(await status(resolve(secret), 'hf_plain'), '404 RepoNotFound')
    assert.equal(await status(tree(secret), 'hf_granted'), '200')

    assert.equal(await status(info('acme/missing')), '401 RepoNotFound')
    assert.equal(await status(info('acme/missing'), 'hf_granted'), '404 RepoNotFound')

    const badToken = await fetch(info(open), { headers: auth('hf_forged') })
    assert.equal(badToken.status, 401)
    assert.equal(badToken.headers.get('x-error-message'), 'Invalid credentials in Authorization header')
    assert.deepEqual(await badToken.json(), { error: 'Invalid credentials in Authorization header' })

    const gatedMessage = await fetch(resolve(gated), { headers: auth('hf_plain'), redirect: 'manual' })
    assert.match((await gatedMessage.json() as { error: string }).error, /restricted and you are not in the authorized list/)
  })

  test('the CDN never rejects an Authorization header, and the log says it came', async () => {
    const res = await fetch(await cdnLink(), { headers: { ...auth('hf_forged'), range: 'bytes=0-9' } })
    assert.equal(res.status, 206)
    assert.deepEqual(hub.requests.filter((r) => r.origin === 'cdn').map((r) => r.authorization), [true])
  })
})

describe('hub emulator: faults, latency, bandwidth', () => {
  test('a 429 carries Retry-After and the RateLimit headers; 5xx on the API is JSON too', async () => {
    hub.fault({ target: 'resolve', kind: 'status', status: 429, retryAfter: 7 })
    const limited = await fetch(resolveUrl(big), { redirect: 'manual' })
    assert.equal(limited.status, 429)
    assert.equal(limited.headers.get('retry-after'), '7')
    assert.equal(limited.headers.get('ratelimit'), '"resolvers";r=0;t=7')
    assert.match(limited.headers.get('ratelimit-policy') ?? '', /"resolvers";q=\d+;w=\d+/)
    assert.match((await limited.json() as { error: string }).error, /rate limit/)
    assert.equal((await fetch(resolveUrl(big), { redirect: 'manual' })).status, 302, 'one time by default')

    hub.fault({ target: 'api', path: /\/tree\//, kind: 'status', status: 502, times: 2 })
    const tree = `${hub.endpoint}/api/datasets/${open}/tree/main`
    assert.equal((await fetch(`${hub.endpoint}/api/datasets/${open}`)).status, 200, 'the path must match')
    const failed = await fetch(tree)
    assert.equal(failed.status, 502)
    assert.equal(typeof (await failed.json() as { error: unknown }).error, 'string')
    assert.deepEqual([(await fetch(tree)).status, (await fetch(tree)).status], [502, 200])
  })

  test('nth, file and rangeStart select exactly the requests a fault hits', async () => {
    const bigLink = await cdnLink(big)
    const smallLink = await cdnLink(small)
    const get = async (link: string, range: string) => (await fetch(link, { headers: { range } })).status
    hub.fault({ target: 'cdn', kind: 'status', status: 500, nth: 2 })
    assert.deepEqual([await get(bigLink, 'bytes=0-9'), await get(bigLink, 'bytes=0-9'), await get(bigLink, 'bytes=0-9')], [206, 500, 206])

    hub.fault({ target: 'cdn', file: small, rangeStart: 100, kind: 'status', status: 408, times: Infinity })
    assert.equal(await get(bigLink, 'bytes=100-199'), 206, 'other file')
    assert.equal(await get(smallLink, 'bytes=0-99'), 206, 'other range')
    assert.deepEqual([await get(smallLink, 'bytes=100-199'), await get(smallLink, 'bytes=100-')], [408, 408])
  })

  test('drop: full headers, then the connection closes after K body bytes', async () => {
    hub.fault({ target: 'cdn', file: big, kind: 'drop', afterBytes: 1000 })
    const res = await fetch(await cdnLink(), { headers: { range: 'bytes=0-99999' } })
    assert.equal(res.status, 206)
    assert.equal(res.headers.get('content-length'), '100000')
    assert.equal(res.headers.get('content-range'), `bytes 0-99999/${files[big]!.length}`)
    const { received, broken } = await drain(res)
    assert.ok(broken && received <= 1000, `broken after ${received} bytes`)
    assert.equal(hub.requests.at(-1)!.bytesSent, 1000)
  })

  test('stall pauses mid-body, corrupt flips bytes once, ignoreRange answers 200 in full, reset kills the hub socket', async () => {
    const link = await cdnLink()
    hub.fault({ target: 'cdn', kind: 'stall', afterBytes: 1000, ms: 300 })
    const started = Date.now()
    const stalled = await bytesOf(await fetch(link, { headers: { range: 'bytes=0-4999' } }))
    assert.ok(Date.now() - started >= 290, 'paused')
    assert.ok(stalled.equals(files[big]!.subarray(0, 5000)), 'then continued')

    hub.fault({ target: 'cdn', kind: 'corrupt' })
    const corrupt = await bytesOf(await fetch(link))
    assert.equal(corrupt.length, files[big]!.length)
    assert.notEqual(sha256(corrupt), sha256(files[big]!))
    assert.equal(sha256(await bytesOf(await fetch(link))), sha256(files[big]!), 'only once')

    hub.fault({ target: 'cdn', kind: 'ignoreRange' })
    const ignored = await fetch(link, { headers: { range: 'bytes=10-19' } })
    assert.equal(ignored.status, 200)
    assert.equal(ignored.headers.get('content-range'), null)
    assert.ok((await bytesOf(ignored)).equals(files[big]!))

    hub.fault({ target: 'api', kind: 'reset' })
    await assert.rejects(fetch(`${hub.endpoint}/api/datasets/${open}`))
    assert.equal((await fetch(`${hub.endpoint}/api/datasets/${open}`)).status, 200)
  })

  test('latency delays the headers; bandwidth caps the body rate', async () => {
    const link = await cdnLink()
    hub.setLatency(150)
    let started = Date.now()
    await (await fetch(`${hub.endpoint}/api/datasets/${open}`)).arrayBuffer()
    assert.ok(Date.now() - started >= 145, 'latency on the hub')
    hub.setLatency(0)

    hub.setBandwidth(200_000)
    started = Date.now()
    assert.equal((await bytesOf(await fetch(link, { headers: { range: 'bytes=0-49999' } }))).length, 50_000)
    assert.ok(Date.now() - started >= 200, '50 kB at 200 kB/s take about a quarter second')
    hub.setBandwidth(undefined)
  })
})

describe('hub emulator: request log', () => {
  test('records origin, method, path, Range, auth, status, bytes and the repo file in arrival order', async () => {
    const resolved = await fetch(resolveUrl(big, 'main', gated), { method: 'HEAD', redirect: 'manual', headers: auth('hf_granted') })
    const link = new URL(resolved.headers.get('location')!)
    await (await fetch(link, { headers: { range: 'bytes=5-14' } })).arrayBuffer()
    await (await fetch(resolveUrl('README.md'))).arrayBuffer()
    const entries = hub.requests.map(({ t, ...rest }) => rest)
    assert.deepEqual(entries, [
      { origin: 'hub', method: 'HEAD', path: `/datasets/${gated}/resolve/main/${big}`, range: undefined, authorization: true, status: 302, bytesSent: 0, file: big },
      { origin: 'cdn', method: 'GET', path: link.pathname + link.search, range: 'bytes=5-14', authorization: false, status: 206, bytesSent: 10, file: big },
      { origin: 'hub', method: 'GET', path: `/datasets/${open}/resolve/main/README.md`, range: undefined, authorization: false, status: 200, bytesSent: files['README.md']!.length, file: 'README.md' },
    ])
    const times = hub.requests.map((r) => r.t)
    assert.deepEqual(times, [...times].sort((a, b) => a - b))
    hub.clearLog()
    assert.equal(hub.requests.length, 0)
  })
})

describe('npm run hub', () => {
  test('serves a folder, prints HF_ENDPOINT, honours --gated/--token, stops on SIGINT', async () => {
    const script = fileURLToPath(new URL('./support/hub-cli.ts', import.meta.url))
    const child = spawn(process.execPath, ['--import', 'tsx', script, dir.path, '--repo', 'acme/cli', '--gated', '--token', 'hf_cli', '--page-size', '1'], { stdio: ['ignore', 'pipe', 'inherit'] })
    try {
      const lines = createInterface({ input: child.stdout! })
      const first = (await lines[Symbol.asyncIterator]().next()).value as string
      const endpoint = /^HF_ENDPOINT=(http:\/\/\S+)$/.exec(first)?.[1]
      assert.ok(endpoint, first)
      const url = `${endpoint}/datasets/acme/cli/resolve/main/${big}`
      assert.equal((await fetch(url, { method: 'HEAD', redirect: 'manual' })).status, 401)
      assert.equal((await fetch(url, { method: 'HEAD', redirect: 'manual', headers: auth('hf_cli') })).status, 302)
      const page = await fetch(`${endpoint}/api/datasets/acme/cli/tree/main`, { headers: auth('hf_cli') })
      assert.equal((await page.json() as unknown[]).length, 1)
      const exited = new Promise<number | null>((resolve) => child.once('exit', resolve))
      child.kill('SIGINT')
      assert.equal(await exited, 0)
    } finally {
      if (child.exitCode === null) child.kill()
    }
  })
})
