import { Agent as HttpAgent, request as httpRequest, type IncomingMessage, type OutgoingHttpHeaders } from 'node:http'
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https'
import { isIP, type Socket } from 'node:net'
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls'

/** Options for {@link createTransport}. */
export interface TransportOptions {
  /** Environment with the proxy settings: HTTPS_PROXY, HTTP_PROXY, NO_PROXY (and lower-case forms). */
  env: NodeJS.ProcessEnv
  /** Fail with code ETIMEDOUT when no byte arrives for this long: connecting, awaiting headers or body. */
  idleTimeoutMs: number
}

/** One request on the wire. */
export interface WireRequest {
  method: string
  headers: OutgoingHttpHeaders
  body?: string
  signal?: AbortSignal
  /** This request's idle timeout, instead of the transport's. */
  idleTimeoutMs?: number
}

/** The transport under the HTTP client: keep-alive connection pools and proxies, nothing more. */
export interface Transport {
  /** Send a request; resolves with the response once its headers are in (the body is a byte stream). */
  send(url: string, request: WireRequest): Promise<IncomingMessage>
  /** Close every pooled connection. */
  close(): void
}

/**
 * Node's own HTTP stack with keep-alive pools. A request through a proxy goes through a CONNECT
 * tunnel (TLS inside it for https), the way curl and Python's requests reach huggingface.co from
 * behind a corporate proxy. Node's parser hands body bytes over without an extra copy, and the
 * modules are part of Node itself, so nothing heavy is loaded at start-up.
 */
export function createTransport(options: TransportOptions): Transport {
  const { env, idleTimeoutMs } = options
  const direct = { http: new HttpAgent({ keepAlive: true }), https: new HttpsAgent({ keepAlive: true }) }
  const tunnelled = new Map<string, HttpAgent>()

  function agentFor(url: URL): HttpAgent {
    const secure = url.protocol === 'https:'
    const proxy = proxyFor(url, env)
    if (!proxy) return secure ? direct.https : direct.http
    const key = `${url.protocol}${proxy.href}`
    let agent = tunnelled.get(key)
    if (!agent) {
      agent = secure ? new HttpsAgent({ keepAlive: true }) : new HttpAgent({ keepAlive: true })
      // Agent calls createConnection with a callback and waits for it when nothing is returned
      const connect = tunnel(proxy, secure, idleTimeoutMs)
      ;(agent as unknown as { createConnection: typeof connect }).createConnection = connect
      tunnelled.set(key, agent)
    }
    return agent
  }

  return {
    send(url, request) {
      const target = new URL(url)
      const send = target.protocol === 'https:' ? httpsRequest : httpRequest
      return new Promise((resolve, reject) => {
        const req = send(target, { method: request.method, headers: request.headers, agent: agentFor(target), signal: request.signal })
        let response: IncomingMessage | undefined
        // the error must reach whoever reads: the body once headers are in, else the request
        const timeoutMs = request.idleTimeoutMs ?? idleTimeoutMs
        req.setTimeout(timeoutMs, () => (response ?? req).destroy(timeoutError(timeoutMs)))
        req.once('response', (res: IncomingMessage) => {
          response = res
          resolve(res)
        })
        // on, not once: a late second error (after the response) must not go unhandled
        req.on('error', reject)
        req.end(request.body)
      })
    },
    close() {
      direct.http.destroy()
      direct.https.destroy()
      for (const agent of tunnelled.values()) agent.destroy()
    },
  }
}

type ConnectCallback = (error: Error | null, socket?: Socket) => void

/** A createConnection for an Agent: CONNECT through `proxy`, then TLS inside the tunnel if `secure`. */
function tunnel(proxy: URL, secure: boolean, idleTimeoutMs: number) {
  return (options: ConnectionOptions & { host?: string, port?: number | string }, callback: ConnectCallback): undefined => {
    const host = options.host?.includes(':') ? `[${options.host}]` : options.host
    const authority = `${host}:${options.port}`
    const headers: OutgoingHttpHeaders = { host: authority }
    if (proxy.username) {
      const credentials = `${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`
      headers['proxy-authorization'] = `Basic ${Buffer.from(credentials).toString('base64')}`
    }
    const send = proxy.protocol === 'https:' ? httpsRequest : httpRequest
    const req = send({ host: proxy.hostname, port: proxy.port || undefined, method: 'CONNECT', path: authority, headers, agent: false })
    // a plain timer, not req.setTimeout: that would stay armed on the socket handed over below
    const timer = setTimeout(() => req.destroy(timeoutError(idleTimeoutMs)), idleTimeoutMs)
    req.once('connect', (res: IncomingMessage, socket: Socket, head: Buffer) => {
      clearTimeout(timer)
      if (res.statusCode !== 200) {
        socket.destroy()
        callback(Object.assign(new Error(`the proxy ${proxy.host} refused a tunnel to ${authority}: HTTP ${res.statusCode} (check HTTPS_PROXY / NO_PROXY)`), { code: 'EPROXY' }))
        return
      }
      if (head.length > 0) socket.unshift(head)
      // SNI names a host, never an IP address
      const servername = options.servername ?? (options.host && !isIP(options.host) ? options.host : undefined)
      callback(null, secure ? tlsConnect({ ...options, socket, servername }) : socket)
    })
    req.once('error', (error) => {
      clearTimeout(timer)
      callback(error)
    })
    req.end()
    return undefined
  }
}

function timeoutError(idleTimeoutMs: number): Error {
  return Object.assign(new Error(`no data for ${idleTimeoutMs / 1000} s`), { code: 'ETIMEDOUT' })
}

/**
 * The proxy for `url` from the environment, as curl reads it: https URLs use HTTPS_PROXY (falling
 * back to HTTP_PROXY), http URLs HTTP_PROXY; NO_PROXY lists hosts (`*`, `host`, `.domain`,
 * `*.domain`, optionally `:port`) to reach directly.
 */
export function proxyFor(url: URL, env: NodeJS.ProcessEnv): URL | undefined {
  const setting = (name: string) => env[name.toLowerCase()] ?? env[name]
  const value = url.protocol === 'https:' ? setting('HTTPS_PROXY') ?? setting('HTTP_PROXY') : setting('HTTP_PROXY')
  if (!value) return undefined
  const host = url.hostname.replace(/^\[|\]$/g, '').toLowerCase()
  const port = url.port || (url.protocol === 'https:' ? '443' : '80')
  for (const raw of (setting('NO_PROXY') ?? '').split(/[\s,]+/)) {
    const entry = raw.trim().toLowerCase()
    if (!entry) continue
    if (entry === '*') return undefined
    const match = /^(.*?)(?::(\d+))?$/.exec(entry)!
    const pattern = match[1]!.replace(/^\*?\./, '.').replace(/^\[|\]$/g, '')
    if (match[2] && match[2] !== port) continue
    if (host === pattern.replace(/^\./, '') || (pattern.startsWith('.') && host.endsWith(pattern))) return undefined
  }
  return new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? value : `http://${value}`)
}
