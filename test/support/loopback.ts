import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { connect, type AddressInfo, type Socket } from 'node:net'

/** One request a loopback server received. */
export interface Received {
  method: string
  url: string
  headers: IncomingHttpHeaders
  /** The client's port: the same for requests on one kept-alive connection. */
  port: number
}

export type Handler = (req: IncomingMessage, res: ServerResponse) => void

/**
 * A node:http server on 127.0.0.1 that answers each request with the next handler of `script`
 * (settable between tests), then with `fallback`; it records every request.
 */
export interface Loopback {
  origin: string
  log: Received[]
  script: Handler[]
  fallback: Handler
  /** The client ports of the connections open now. */
  open(): number[]
  close(): Promise<void>
}

export async function loopback(fallback: Handler = (_req, res) => void res.end()): Promise<Loopback> {
  const server: Server = createServer((req, res) => {
    state.log.push({ method: req.method!, url: req.url!, headers: req.headers, port: req.socket.remotePort! })
    const handler = state.script.shift() ?? state.fallback
    handler(req, res)
  })
  const sockets = new Set<Socket>()
  server.on('connection', (socket: Socket) => {
    sockets.add(socket)
    socket.once('close', () => sockets.delete(socket))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const state: Loopback = {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    log: [],
    script: [],
    fallback,
    open: () => [...sockets].map((socket) => socket.remotePort!),
    close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(() => resolve()) }),
  }
  return state
}

/** The range a request asks for, as [start, end] inclusive, within a body of `size` bytes. */
export function requestedRange(req: IncomingMessage, size: number): [number, number] | undefined {
  const match = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '')
  if (!match) return undefined
  return [Number(match[1]), match[2] ? Math.min(size - 1, Number(match[2])) : size - 1]
}

/** Serve `content` as a CDN does: 206 with Content-Range for a Range request, else 200. */
export function serveBytes(content: Buffer): Handler {
  return (req, res) => {
    const range = requestedRange(req, content.length)
    if (!range) return void res.writeHead(200, { 'content-length': content.length }).end(content)
    const [start, end] = range
    res.writeHead(206, { 'content-length': end - start + 1, 'content-range': `bytes ${start}-${end}/${content.length}` })
    res.end(content.subarray(start, end + 1))
  }
}

/** Answer a 206 for the requested range, send its first `bytes` bytes, then cut the connection. */
export function dropAfter(content: Buffer, bytes: number): Handler {
  return (req, res) => {
    const [start, end] = requestedRange(req, content.length)!
    res.writeHead(206, { 'content-length': end - start + 1, 'content-range': `bytes ${start}-${end}/${content.length}` })
    if (bytes === 0) {
      res.flushHeaders()
      setTimeout(() => req.socket.destroy(), 5)
      return
    }
    res.write(content.subarray(start, start + bytes), () => setTimeout(() => req.socket.destroy(), 5))
  }
}

/** Answer `status` with these headers and body. */
export function status(code: number, headers: Record<string, string> = {}, body = ''): Handler {
  return (_req, res) => void res.writeHead(code, headers).end(body)
}

/** A minimal forward proxy (CONNECT tunnels only) that records its targets and Proxy-Authorization headers. */
export async function startProxy(options: { refuse?: boolean, silent?: boolean } = {}): Promise<{ url: string, targets: string[], auth: (string | undefined)[], close: () => Promise<void> }> {
  const targets: string[] = []
  const auth: (string | undefined)[] = []
  const sockets = new Set<Socket>()
  const server = createServer((_req, res) => void res.writeHead(405).end())
  server.on('connect', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    targets.push(req.url!)
    auth.push(req.headers['proxy-authorization'])
    sockets.add(socket)
    if (options.silent) return
    if (options.refuse) return void socket.end('HTTP/1.1 407 Proxy Authentication Required\r\n\r\n')
    const colon = req.url!.lastIndexOf(':')
    const upstream = connect(Number(req.url!.slice(colon + 1)), req.url!.slice(0, colon).replace(/^\[|\]$/g, ''), () => {
      socket.write('HTTP/1.1 200 Connection Established\r\n\r\n')
      upstream.write(head)
      upstream.pipe(socket)
      socket.pipe(upstream)
    })
    sockets.add(upstream)
    upstream.on('error', () => socket.destroy())
    socket.on('error', () => upstream.destroy())
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    targets,
    auth,
    close: () => new Promise((resolve) => {
      for (const socket of sockets) socket.destroy()
      server.closeAllConnections()
      server.close(() => resolve())
    }),
  }
}
