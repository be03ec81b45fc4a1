/**
 * Serve a folder as a dataset repository through the local Hub emulator, for trying coderforge by hand:
 *   npm run hub -- fixtures/data/tiny/repo [--repo ID] [--port N] [--cdn-port N] [--page-size N] [--bandwidth BYTES_PER_S]
 *                  [--latency MS] [--connection-latency MS] [--in-memory] [--gated] [--token T]
 * --bandwidth caps each TCP connection on its own; --latency delays every response, --connection-latency
 * the first one on each new connection once more (the handshakes). Prints the HF_ENDPOINT to export;
 * serves until Ctrl-C, then prints what each origin served.
 */
import { parseArgs } from 'node:util'
import { startHub } from './emulator/index.js'

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    repo: { type: 'string', default: 'togethercomputer/CoderForge-Preview' },
    port: { type: 'string' },
    'cdn-port': { type: 'string' },
    'page-size': { type: 'string', default: '1000' },
    bandwidth: { type: 'string' },
    latency: { type: 'string', default: '0' },
    'connection-latency': { type: 'string', default: '0' },
    'in-memory': { type: 'boolean', default: false },
    gated: { type: 'boolean', default: false },
    token: { type: 'string', multiple: true, default: [] },
  },
})
const dir = positionals[0]
if (!dir) {
  console.error('usage: npm run hub -- <repo dir> [--repo ID] [--port N] [--cdn-port N] [--page-size N] [--bandwidth BYTES_PER_S] [--latency MS] [--connection-latency MS] [--in-memory] [--gated] [--token T]')
  process.exit(2)
}
const hub = await startHub({
  repos: [{ id: values.repo!, dir, gated: values.gated ? 'manual' : false }],
  tokens: Object.fromEntries(values.token!.map((token) => [token, { grants: [values.repo!] }])),
  pageSize: Number(values['page-size']),
  bandwidth: values.bandwidth ? Number(values.bandwidth) : undefined,
  latencyMs: Number(values.latency),
  connectionLatencyMs: Number(values['connection-latency']),
  bodiesInMemory: values['in-memory'],
  hubPort: values.port ? Number(values.port) : undefined,
  cdnPort: values['cdn-port'] ? Number(values['cdn-port']) : undefined,
})
console.log(`HF_ENDPOINT=${hub.endpoint}`)
console.log(`serving ${values.repo} from ${dir} (CDN ${hub.cdnOrigin}); Ctrl-C to stop`)
process.once('SIGINT', () => {
  for (const [origin, c] of Object.entries(hub.counters())) {
    console.log(`${origin}: ${c.requests} requests, ${c.bytesSent} bytes, ${c.connections} connections (at most ${c.peakConnections} open, ${c.peakInFlight} responses at once)`)
  }
  void hub.close().then(() => process.exit(0))
})
