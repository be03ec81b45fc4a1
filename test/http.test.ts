import assert from 'node:assert/strict'
import { execFileSync, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { createServer, request as httpRequest, type Server } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import { connect, type AddressInfo } from 'node:net'
import { join } from 'node:path'
import { after, before, beforeEach, describe, test } from 'node:test'
import { NetworkError } from '../src/errors.js'
import { createHttpClient, retryHintMs, type RetryEvent, type UrlTarget } from '../src/fetch/http.js'
import { openRangeReader } from '../src/fetch/rangeReader.js'
import { proxyFor } from '../src/fetch/transport.js'
import { createHub } from '../src/hub/client.js'
import { fileTarget, resolveFile } from '../src/hub/resolve.js'
import { resolveCommit } from '../src/hub/revision.js'
import { startHub, type HubEmulator } from './support/emulator/index.js'
import { finished, tempDir } from './support/cli.js'

const repo = 'acme/blobs'
const path = 'data/train-00000-of-00001.parquet'
const content = randomBytes(3 * 1024 * 1024 + 123)

let hub: HubEmulator
let dir: { path: string, cleanup: () => Promise<void> }

before(async () => {
  dir = await tempDir()
  await mkdir(join(dir.path, 'data'), { recursive: true })
  await writeFile(join(dir.path, path), content)
  await writeFile(join(dir.path, 'README.md'), '# blobs\n')
  hub = await startHub({ repos: [{ id: repo, dir: dir.path, renamedFrom: 'acme/old-blobs' }], tokens: { hf_good: {} }, resolveCache: true })
})
after(async () => {
  await hub.close()
  await dir.cleanup()
})
beforeEach(() => {
  hub.clearFaults()
  hub.clearLog()
  hub.setBandwidth(undefined)
})

/** A Hub connection tuned for tests: fast backoff, short stall watchdog. */
function testHub(options: { token?: string, retries?: RetryEvent[], stallTimeoutMs?: number, env?: NodeJS.ProcessEnv } = {}) {
  return createHub({
    endpoint: hub.endpoint,
    token: options.token,
    env: options.env ?? {},
    retryBaseMs: 10,
    stallTimeoutMs: options.stallTimeoutMs ?? 2000,
    onRetry: (event) => options.retries?.push(event),
  })
}

/** A range in memory, through the client's resumable streaming. */
async function readRange(h: ReturnType<typeof testHub>, target: UrlTarget, range: { start: number, end: number }): Promise<Buffer> {
  const chunks: Buffer[] = []
  await h.http.streamRange(target, range, (chunk) => { chunks.push(chunk) })
  return Buffer.concat(chunks)
}

function readThrough(h: ReturnType<typeof testHub>, start: number, end: number): Promise<Buffer> {
  return readRange(h, fileTarget(h, { repo, revision: 'main', path }), { start, end })
}

const cdnRequests = () => hub.requests.filter((r) => r.origin === 'cdn')

describe('http layer against the emulator', () => {
  test('a range read through the resolve redirect is byte-exact (206)', async () => {
    const h = testHub()
    const bytes = await readThrough(h, 1000, 200_000)
    assert.ok(bytes.equals(content.subarray(1000, 200_000)))
    const cdn = cdnRequests()
    assert.equal(cdn.length, 1)
    assert.equal(cdn[0]!.range, 'bytes=1000-199999')
    assert.equal(cdn[0]!.status, 206)
    await h.http.close()
  })

  test('the token goes to the Hub origin and never to the CDN', async () => {
    const h = testHub({ token: 'hf_good' })
    await readThrough(h, 0, 1000)
    const resolves = hub.requests.filter((r) => r.origin === 'hub')
    assert.ok(resolves.length >= 1)
    assert.ok(resolves.every((r) => r.authorization), 'hub requests carry the token')
    assert.ok(cdnRequests().length >= 1)
    assert.ok(cdnRequests().every((r) => !r.authorization), 'no Authorization header reached the CDN')
    await h.http.close()
  })

  test('429 with Retry-After is honoured, then succeeds', async () => {
    hub.fault({ target: 'cdn', kind: 'status', status: 429, retryAfter: 1 })
    const retries: RetryEvent[] = []
    const h = testHub({ retries })
    const started = Date.now()
    const bytes = await readThrough(h, 0, 5000)
    assert.ok(bytes.equals(content.subarray(0, 5000)))
    assert.equal(retries.length, 1)
    assert.equal(retries[0]!.waitMs, 1000)
    assert.ok(Date.now() - started >= 950, 'waited for Retry-After')
    assert.deepEqual(cdnRequests().map((r) => r.status), [429, 206])
    await h.http.close()
  })

  test('RateLimit header (r=0;t=N) and Retry-After are parsed', () => {
    assert.equal(retryHintMs({ ratelimit: '"api";r=0;t=7', 'retry-after': '99' }), 7000)
    assert.equal(retryHintMs({ ratelimit: '"api";r=5;t=7', 'retry-after': '3' }), 3000)
    assert.equal(retryHintMs({}), undefined)
  })

  test('a burst of 5xx is retried with backoff', async () => {
    hub.fault({ target: 'cdn', kind: 'status', status: 503, times: 3 })
    const retries: RetryEvent[] = []
    const h = testHub({ retries })
    const bytes = await readThrough(h, 10, 70_000)
    assert.ok(bytes.equals(content.subarray(10, 70_000)))
    assert.deepEqual(retries.map((r) => r.reason), ['HTTP 503', 'HTTP 503', 'HTTP 503'])
    await h.http.close()
  })

  test('a connection dropped mid-body resumes from the last byte received', async () => {
    hub.fault({ target: 'cdn', kind: 'drop', afterBytes: 100_000 })
    const h = testHub()
    const bytes = await readThrough(h, 0, 1_000_000)
    assert.ok(bytes.equals(content.subarray(0, 1_000_000)))
    const ranges = cdnRequests().map((r) => r.range)
    assert.equal(ranges[0], 'bytes=0-999999')
    assert.match(ranges[1]!, /^bytes=(\d+)-999999$/)
    const resumedAt = Number(/^bytes=(\d+)-/.exec(ranges[1]!)![1])
    assert.ok(resumedAt >= 65_536, `resumed at ${resumedAt}, not from zero`)
    await h.http.close()
  })

  test('a stalled body is abandoned by the watchdog and resumed', async () => {
    hub.fault({ target: 'cdn', kind: 'stall', afterBytes: 50_000, ms: 5000 })
    const retries: RetryEvent[] = []
    const h = testHub({ retries, stallTimeoutMs: 300 })
    const started = Date.now()
    const bytes = await readThrough(h, 0, 400_000)
    assert.ok(bytes.equals(content.subarray(0, 400_000)))
    assert.ok(Date.now() - started < 4000, 'did not wait for the stall to end')
    assert.equal(retries[0]?.reason, 'stalled (no data)')
    await h.http.close()
  })

  test('a server that ignores Range (200) still yields the right bytes', async () => {
    hub.fault({ target: 'cdn', kind: 'ignoreRange' })
    const h = testHub()
    const bytes = await readThrough(h, 2_000_000, 2_100_000)
    assert.ok(bytes.equals(content.subarray(2_000_000, 2_100_000)))
    assert.equal(cdnRequests()[0]!.status, 200)
    await h.http.close()
  })

  test('an expired signed link is re-resolved at the Hub', async () => {
    const h = testHub()
    const target = fileTarget(h, { repo, revision: 'main', path })
    await readRange(h, target, { start: 0, end: 10 })
    hub.expireLinks()
    hub.clearLog()
    const bytes = await readRange(h, target, { start: 10, end: 5000 })
    assert.ok(bytes.equals(content.subarray(10, 5000)))
    assert.deepEqual(hub.requests.map((r) => `${r.origin} ${r.status}`), ['cdn 403', 'hub 302', 'cdn 206'])
    await h.http.close()
  })

  test('resolve reports commit, sha256 and size from the Hub headers', async () => {
    const h = testHub()
    const location = await resolveFile(h, { repo, revision: 'main', path })
    assert.equal(location.commit, hub.commitOf(repo))
    assert.equal(location.etag, hub.sha256Of(repo, path))
    assert.equal(location.size, content.length)
    assert.equal(new URL(location.downloadUrl).origin, hub.cdnOrigin)
    await h.http.close()
  })

  test('a renamed repo is followed through its relative redirects (API and resolve)', async () => {
    const h = testHub({ token: 'hf_good' })
    const location = await resolveFile(h, { repo: 'acme/old-blobs', revision: 'main', path })
    assert.equal(location.etag, hub.sha256Of(repo, path))
    assert.equal(new URL(location.downloadUrl).origin, hub.cdnOrigin)
    const commit = await resolveCommit(h, { repo: 'acme/old-blobs' })
    assert.equal(commit, hub.commitOf(repo))
    assert.ok(hub.requests.some((r) => r.status === 307 && r.path.includes('acme/old-blobs')))
    assert.ok(hub.requests.filter((r) => r.origin === 'hub').every((r) => r.authorization))
    await h.http.close()
  })

  test('a regular file served through the 307 resolve-cache redirect keeps its git etag and size', async () => {
    const h = testHub()
    const location = await resolveFile(h, { repo, revision: 'main', path: 'README.md' })
    assert.match(location.downloadUrl, /\/api\/resolve-cache\/datasets\/acme\/blobs\/[0-9a-f]{40}\/README\.md/)
    assert.equal(location.size, 8)
    assert.match(location.etag!, /^[0-9a-f]{40}$/)
    const bytes = await readRange(h, location.downloadUrl, { start: 0, end: 8 })
    assert.equal(bytes.toString(), '# blobs\n')
    await h.http.close()
  })

  test('the client never offers gzip, so a compressing edge cannot corrupt ranges', async () => {
    hub.fault({ target: 'cdn', kind: 'gzip' })
    const h = testHub()
    const bytes = await readThrough(h, 5, 50_000)
    assert.ok(bytes.equals(content.subarray(5, 50_000)))
    await h.http.close()
  })

  test('the range reader coalesces slices asked for together and counts bytes', async () => {
    const h = testHub()
    const reader = openRangeReader({
      http: h.http, target: fileTarget(h, { repo, revision: 'main', path }), size: content.length, name: path,
    })
    const [a, b, c] = await Promise.all([reader.slice(0, 100), reader.slice(150, 300), reader.slice(2_000_000, 2_000_010)])
    assert.ok(Buffer.from(a).equals(content.subarray(0, 100)))
    assert.ok(Buffer.from(b).equals(content.subarray(150, 300)))
    assert.ok(Buffer.from(c).equals(content.subarray(2_000_000, 2_000_010)))
    assert.equal(reader.requests(), 2, 'the two nearby slices were merged')
    assert.equal(reader.bytesFetched(), 300 + 10)
    await h.http.close()
  })

  test('an unreachable endpoint fails with a network error naming it', async () => {
    const closed = createServer()
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve))
    const port = (closed.address() as AddressInfo).port
    await new Promise<void>((resolve) => closed.close(() => resolve()))
    const client = createHttpClient({ maxRetries: 1, retryBaseMs: 10, env: {} })
    await assert.rejects(client.fetch(`http://127.0.0.1:${port}/api/datasets/x`), (error: unknown) => {
      assert.ok(error instanceof NetworkError)
      assert.match(error.message, new RegExp(`cannot reach http://127.0.0.1:${port}: ECONNREFUSED`))
      return true
    })
    await client.close()
  })

  test('HTTP_PROXY is honoured for Hub and CDN requests', async () => {
    const proxy = await startProxy()
    try {
      const h = testHub({ env: { HTTP_PROXY: proxy.url } })
      const bytes = await readThrough(h, 0, 1000)
      assert.ok(bytes.equals(content.subarray(0, 1000)))
      const hubPort = new URL(hub.endpoint).port
      const cdnPort = new URL(hub.cdnOrigin).port
      assert.ok(proxy.targets.some((t) => t.endsWith(`:${hubPort}`)), `proxied the Hub: ${proxy.targets.join(', ')}`)
      assert.ok(proxy.targets.some((t) => t.endsWith(`:${cdnPort}`)), 'proxied the CDN')
      await h.http.close()
    } finally {
      await proxy.close()
    }
  })
})

describe('proxy settings', () => {
  test('the proxy is picked per scheme and NO_PROXY is matched as curl matches it', () => {
    const env = { HTTPS_PROXY: 'http://proxy.corp:3128', HTTP_PROXY: 'proxy.corp:8080', NO_PROXY: 'localhost, .internal.example,*.mirror.example, cdn.example:8443' }
    const pick = (url: string, settings: NodeJS.ProcessEnv = env) => proxyFor(new URL(url), settings)?.href
    assert.equal(pick('https://huggingface.co/api'), 'http://proxy.corp:3128/')
    assert.equal(pick('http://mirror.local/x'), 'http://proxy.corp:8080/', 'a bare host:port means http://')
    assert.equal(pick('https://localhost:8080/'), undefined)
    assert.equal(pick('https://a.internal.example/'), undefined)
    assert.equal(pick('https://internal.example/'), undefined, '.domain also matches the domain itself')
    assert.equal(pick('https://hf.mirror.example/'), undefined)
    assert.equal(pick('https://notinternal.example/'), 'http://proxy.corp:3128/')
    assert.equal(pick('https://cdn.example:8443/'), undefined)
    assert.equal(pick('https://cdn.example/'), 'http://proxy.corp:3128/', 'a NO_PROXY port only matches that port')
    assert.equal(pick('https://huggingface.co/', { https_proxy: 'http://lower:1', HTTPS_PROXY: 'http://upper:2' }), 'http://lower:1/')
    assert.equal(pick('https://huggingface.co/', { HTTP_PROXY: 'http://only-http:1' }), 'http://only-http:1/', 'https falls back to HTTP_PROXY')
    assert.equal(pick('https://huggingface.co/', { HTTPS_PROXY: 'http://p:1', NO_PROXY: '*' }), undefined)
    assert.equal(pick('https://huggingface.co/', {}), undefined)
  })

  test('an https Hub is reached through HTTPS_PROXY with TLS inside the CONNECT tunnel; an untrusted certificate is explained', async () => {
    // a TLS front for the emulator's Hub origin, with a certificate made for this test and trusted by the child only
    const certs = join(dir.path, 'tls')
    await mkdir(certs, { recursive: true })
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=localhost',
      '-addext', 'subjectAltName=DNS:localhost', '-keyout', join(certs, 'key.pem'), '-out', join(certs, 'cert.pem')], { stdio: 'ignore' })
    const front = createHttpsServer({ key: await readFile(join(certs, 'key.pem')), cert: await readFile(join(certs, 'cert.pem')) }, (req, res) => {
      const upstream = httpRequest(new URL(req.url!, hub.endpoint), { method: req.method, headers: req.headers }, (answer) => {
        res.writeHead(answer.statusCode!, answer.headers)
        answer.pipe(res)
      })
      req.pipe(upstream)
    })
    await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', resolve))
    const endpoint = `https://localhost:${(front.address() as AddressInfo).port}`
    const proxy = await startProxy()
    try {
      const script = `
        import { createHub } from ${JSON.stringify(new URL('../src/hub/client.ts', import.meta.url).href)}
        import { fileTarget } from ${JSON.stringify(new URL('../src/hub/resolve.ts', import.meta.url).href)}
        const hub = createHub({ endpoint: process.env.HF_ENDPOINT, env: process.env })
        const chunks = []
        const target = fileTarget(hub, { repo: ${JSON.stringify(repo)}, revision: 'main', path: ${JSON.stringify(path)} })
        await hub.http.streamRange(target, { start: 0, end: 1000 }, (chunk) => { chunks.push(chunk) })
        await hub.http.close()
        process.stdout.write(Buffer.concat(chunks).toString('hex'))`
      const run = (extra: NodeJS.ProcessEnv) => finished(spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
        env: { PATH: process.env.PATH, HF_ENDPOINT: endpoint, HTTPS_PROXY: proxy.url, ...extra },
        stdio: ['ignore', 'pipe', 'pipe'],
      }))
      const untrusted = await run({})
      assert.notEqual(untrusted.code, 0)
      assert.match(untrusted.stderr, /cannot reach https:\/\/localhost:\d+: DEPTH_ZERO_SELF_SIGNED_CERT: the server's TLS certificate is not trusted; behind a TLS-inspecting proxy, set NODE_EXTRA_CA_CERTS to its CA file/)
      const result = await run({ NODE_EXTRA_CA_CERTS: join(certs, 'cert.pem') })
      assert.equal(result.code, 0, result.stderr)
      assert.equal(result.stdout, content.subarray(0, 1000).toString('hex'))
      assert.ok(proxy.targets.includes(`localhost:${new URL(endpoint).port}`), `tunnelled to the Hub: ${proxy.targets.join(', ')}`)
    } finally {
      await proxy.close()
      front.closeAllConnections()
      await new Promise((resolve) => front.close(resolve))
    }
  })

  test('a proxy that refuses the tunnel fails at once with a message naming the proxy', async () => {
    const proxy = await startProxy({ refuse: true })
    try {
      const client = createHttpClient({ env: { HTTP_PROXY: proxy.url }, retryBaseMs: 10 })
      await assert.rejects(client.fetch(`${hub.endpoint}/api/datasets/${repo}`), (error: unknown) => {
        assert.ok(error instanceof NetworkError)
        assert.match(error.message, /proxy 127\.0\.0\.1:\d+ refused a tunnel to 127\.0\.0\.1:\d+: HTTP 407 \(check HTTPS_PROXY \/ NO_PROXY\)/)
        return true
      })
      assert.equal(proxy.targets.length, 1, 'not retried')
      await client.close()
    } finally {
      await proxy.close()
    }
  })
})

/** A minimal forward proxy (CONNECT tunnels and absolute-form requests) that records its targets. */
async function startProxy(options: { refuse?: boolean } = {}): Promise<{ url: string, targets: string[], close: () => Promise<void> }> {
  const targets: string[] = []
  const server: Server = createServer((req, res) => {
    const target = new URL(req.url!)
    targets.push(target.host)
    const upstream = httpRequest(target, { method: req.method, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode!, answer.headers)
      answer.pipe(res)
    })
    req.pipe(upstream)
  })
  server.on('connect', (req, socket, head) => {
    targets.push(req.url!)
    if (options.refuse) return void socket.end('HTTP/1.1 407 Proxy Authentication Required\r\n\r\n')
    const [host, port] = req.url!.split(':')
    const upstream = connect(Number(port), host, () => {
      socket.write('HTTP/1.1 200 Connection Established\r\n\r\n')
      upstream.write(head)
      upstream.pipe(socket)
      socket.pipe(upstream)
    })
    upstream.on('error', () => socket.destroy())
    socket.on('error', () => upstream.destroy())
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    targets,
    close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(() => resolve()) }),
  }
}
