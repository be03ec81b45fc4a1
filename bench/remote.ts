/**
 * Remote reads benchmark (issue 11; not in CI): commands that read remote shards against downloading
 * the same files and working on them locally, side by side in one run, through the local Hub emulator.
 *   (a) a capped CDN (1 MB/s per connection, 20 ms): remote `filter --reward 1` of the tokenized SWE_Smith
 *       split against `download` + local `filter` (target ≤ 1.0×, moonshot ≤ 0.8×);
 *   (b) 224 shards per split at 50 ms: remote `stats --split` against downloading the split (≤ 1.0×),
 *       remote `filter --reward 1` against download + local filter (≤ 1.0×), remote `export` of the split
 *       against download + local export (≤ 1.0×, every file compared); and on shards ≥ 50 MB a filter
 *       matching nothing: bytes fetched / bytes of the shards (< 2%);
 *   (c) `download` against aria2c at the same connection count, and against the floor
 *       bytes ÷ (connections × per-connection rate) + a few round trips (≤ 1.0× aria2c, ≤ 1.3× the floor);
 *   (d) every remote output byte-identical to the local run's (checked; a difference fails the run).
 * Data: fixtures `realistic-tokenized` and `many` (generated on first use); `--quick` uses `tiny` for all, to
 * prove the bench works end to end in seconds (its figures mean nothing).
 *
 *   npm run build && npx tsx bench/remote.ts [--quick] [--parts a,b,c] [--bandwidth 1000000] [--latency 20]
 *                                            [--many-latency 50] [--connection-latency 0] [--ours="--memory 1GB"]
 * `--ours` flags go to every remote or local read (filter, stats), not to download.
 */
import { readdir, stat } from 'node:fs/promises'
import { basename, join } from 'node:path'
import { parseArgs } from 'node:util'
import { configs, ensureFixtures, repoDir, type ConfigName, type ManifestFile } from '../fixtures/index.js'
import { startHub, type HubEmulator } from '../test/support/emulator/index.js'
import {
  aria2Args, check, checkIdentical, have, hubEnv, measure, ours, ratio, repoId, sha256File, timing, workDir, writeAria2List, type Measurement,
} from './support.js'

const { values } = parseArgs({ options: {
  quick: { type: 'boolean', default: false },
  parts: { type: 'string', default: 'a,b,c' },
  bandwidth: { type: 'string', default: '1000000' },
  latency: { type: 'string', default: '20' },
  'many-latency': { type: 'string', default: '50' },
  // added once per new connection (TCP + TLS handshakes); 0 as in the figures
  'connection-latency': { type: 'string', default: '0' },
  ours: { type: 'string', default: '' },
} })
const parts = new Set(values.parts!.split(','))
const extra = values.ours!.split(' ').filter(Boolean)
const bandwidth = Number(values.bandwidth)
const latency = Number(values.latency)
const split = 'SWE_Smith'
const configFlag: Record<ConfigName, string> = { [configs.trajectories]: 'trajectories', [configs.tokenized]: 'tokenized' }
const work = await workDir()
let runs = 0
/** A fresh Hugging Face home per CLI run, so no run reuses another's cache. */
const env = (hub: HubEmulator) => hubEnv(hub, join(work.path, `hf-${runs++}`))

/** Start the emulator on a profile, every body in memory before anything is timed. */
async function serve(profile: string, options: { bandwidth?: number, latencyMs: number }) {
  const manifest = await ensureFixtures(profile)
  const hub = await startHub({ repos: [{ id: repoId, dir: repoDir(profile) }], bodiesInMemory: true, connectionLatencyMs: Number(values['connection-latency']), ...options })
  await hub.preload()
  const shards = (config: ConfigName) => manifest.files.filter((f) => f.config === config && f.split === split).sort((a, b) => a.shard - b.shard)
  return { hub, shards }
}

/** `download` of a split into a folder of its own; returns the timing and the config's folder in it. */
async function download(hub: HubEmulator, config: ConfigName, name: string): Promise<{ result: Measurement, folder: string }> {
  const dir = join(work.path, name)
  const result = await ours(`download --split ${split}`, ['download', '--split', split, '--config', configFlag[config], '--local-dir', dir, '--quiet'], { env: env(hub) })
  return { result, folder: join(dir, config) }
}

/** Remote filter, then the same filter on the downloaded folder; prints the ratio and checks the outputs are identical. */
async function remoteAgainstLocal(hub: HubEmulator, config: ConfigName, downloaded: { result: Measurement, folder: string }, label: string, target: number) {
  const remoteOut = join(work.path, `remote-${runs}.jsonl`)
  const localOut = join(work.path, `local-${runs}.jsonl`)
  hub.clearLog()
  const remote = await ours(`remote filter --reward 1 (${label})`, ['filter', '--split', split, '--config', configFlag[config], '--reward', '1', '-o', remoteOut, '--quiet', ...extra], { env: env(hub) })
  const { cdn } = hub.counters()
  const local = await ours('local filter --reward 1', ['filter', downloaded.folder, '--reward', '1', '-o', localOut, '--quiet', ...extra])
  timing(remote, `fetched ${mb(cdn.bytesSent)} in ${cdn.requests} requests, ${cdn.peakConnections} connections at most`)
  timing(downloaded.result)
  timing(local)
  ratio('remote filter / (download + local filter)', remote.seconds, downloaded.result.seconds + local.seconds, { op: '<=', value: target })
  await checkIdentical('remote filter output = local filter output', remoteOut, localOut)
}

/** (b): a remote export of the whole split against download + local export, every file compared. */
async function exportAgainstLocal(hub: HubEmulator, downloaded: { result: Measurement, folder: string }, shardCount: number) {
  const remoteOut = join(work.path, `export-remote-${runs}`)
  const localOut = join(work.path, `export-local-${runs}`)
  const remote = await ours(`remote export --format jsonl (${shardCount} shards)`, ['export', '--split', split, '--format', 'jsonl', '--out', remoteOut, '--quiet', ...extra], { env: env(hub) })
  const local = await ours('local export --format jsonl', ['export', downloaded.folder, '--format', 'jsonl', '--out', localOut, '--quiet', ...extra])
  timing(remote)
  timing(downloaded.result)
  timing(local)
  ratio('remote export / (download + local export)', remote.seconds, downloaded.result.seconds + local.seconds, { op: '<=', value: 1 })
  const outputs = async (dir: string) => new Map((await readdir(dir, { recursive: true })).filter((name) => name.endsWith('.jsonl')).map((name) => [basename(name), join(dir, name)]))
  const [remoteFiles, localFiles] = [await outputs(remoteOut), await outputs(localOut)]
  check('remote export writes one file per shard', remoteFiles.size === shardCount, `${remoteFiles.size} files`)
  const differing: string[] = []
  for (const [name, path] of remoteFiles) {
    const localPath = localFiles.get(name)
    if (!localPath || (await sha256File(path)) !== (await sha256File(localPath))) differing.push(name)
  }
  check('remote export = local export, file by file', differing.length === 0, differing.length ? `${differing.length} differ, e.g. ${differing[0]}` : 'byte-identical')
}

const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`
const total = (files: ManifestFile[]) => files.reduce((sum, f) => sum + f.size, 0)

if (values.quick) console.log('--quick: tiny fixtures, to show the bench works; its figures mean nothing')
try {
  const tokenizedProfile = values.quick ? 'tiny' : 'realistic-tokenized'
  if (parts.has('a') || parts.has('b') || parts.has('c')) {
    const { hub, shards } = await serve(tokenizedProfile, { bandwidth, latencyMs: latency })
    try {
      const files = shards(configs.tokenized)
      if (parts.has('a')) {
        console.log(`\n(a) capped CDN: ${bandwidth / 1e6} MB/s per connection, ${latency} ms; ${tokenizedProfile} tokenized ${split}, ${files.length} shards, ${mb(total(files))}`)
        await remoteAgainstLocal(hub, configs.tokenized, await download(hub, configs.tokenized, 'a'), 'capped', 1)
        console.log('  (moonshot: ≤ 0.80×, by overlapping decode and fetch)')
      }
      if (parts.has('b')) {
        console.log(`\n(b) a filter matching nothing on ${files.length} shards of ${mb(Math.min(...files.map((f) => f.size)))} or more (${tokenizedProfile} tokenized ${split}, ${mb(total(files))})`)
        const out = join(work.path, 'nothing.jsonl')
        hub.clearLog()
        const nothing = await ours('remote filter matching nothing', ['filter', '--split', split, '--config', 'tokenized', '--where', "trajectory_id like '%no-such-trajectory%'", '-o', out, '--quiet', ...extra], { env: env(hub) })
        const { cdn, hub: api } = hub.counters()
        timing(nothing, `fetched ${mb(cdn.bytesSent)} from the CDN in ${cdn.requests} requests, ${api.requests} Hub requests`)
        ratio('bytes fetched / bytes of the shards', cdn.bytesSent, total(files), { op: '<', value: 0.02 }, '%')
        check('it matched nothing', (await stat(out)).size === 0)
      }
      if (parts.has('c')) await againstAria2(hub, files)
    } finally {
      await hub.close()
    }
  }
  if (parts.has('b')) {
    const manyLatency = Number(values['many-latency'])
    const profile = values.quick ? 'tiny' : 'many'
    const { hub, shards } = await serve(profile, { latencyMs: manyLatency })
    try {
      const files = shards(configs.trajectories)
      console.log(`\n(b) ${files.length} shards per split at ${manyLatency} ms: ${profile} trajectories ${split}, ${mb(total(files))}`)
      const stats = await ours(`remote stats --split ${split}`, ['stats', '--split', split, '--json', ...extra], { env: env(hub), capture: true })
      const downloaded = await download(hub, configs.trajectories, 'b')
      const localStats = await ours('local stats', ['stats', downloaded.folder, '--json', ...extra], { capture: true })
      timing(stats)
      timing(downloaded.result)
      ratio('remote stats / download of the split', stats.seconds, downloaded.result.seconds, { op: '<=', value: 1 })
      const summary = (result: Measurement) => {
        const [only] = Object.values((JSON.parse(result.stdout!) as { splits: Record<string, unknown> }).splits)
        return JSON.stringify(only)
      }
      check('remote stats = local stats of the downloaded files', summary(stats) === summary(localStats))
      await remoteAgainstLocal(hub, configs.trajectories, downloaded, `${files.length} shards`, 1)
      await exportAgainstLocal(hub, downloaded, files.length)
    } finally {
      await hub.close()
    }
  }
} finally {
  await work.cleanup()
}

/** (c): our download and aria2c's on the same capped CDN, the same files, the same number of connections. */
async function againstAria2(hub: HubEmulator, files: ManifestFile[]) {
  // aria2c -x16 -j4: 16 connections for each of up to 4 files at once; ours gets as many
  const connections = 16 * Math.min(4, files.length)
  const bytes = total(files)
  console.log(`\n(c) download vs aria2c at ${connections} connections: ${files.length} files, ${mb(bytes)}, ${bandwidth / 1e6} MB/s per connection, ${latency} ms`)
  const dir = join(work.path, 'c-ours')
  hub.clearLog()
  const oursResult = await ours('coderforge download (sha256 verified)', ['download', '--split', split, '--config', 'tokenized', '--local-dir', dir, '--concurrency', String(connections), '--quiet'], { env: env(hub) })
  const oursConnections = hub.counters().cdn.peakConnections
  timing(oursResult, `${oursConnections} CDN connections at most`)
  const floor = bytes / (connections * bandwidth) + (3 * latency) / 1000
  if (have('aria2c')) {
    const out = join(work.path, 'c-aria2')
    const list = await writeAria2List(join(work.path, 'aria2.txt'), files.map((f) => ({ url: `${hub.endpoint}/datasets/${repoId}/resolve/main/${f.path}`, out: f.path })))
    hub.clearLog()
    const aria2 = await measure(`aria2c ${aria2Args.slice(0, 4).join(' ')} (no check)`, 'aria2c', [...aria2Args, '-d', out, '-i', list])
    timing(aria2, `${hub.counters().cdn.peakConnections} CDN connections at most`)
    ratio('ours / aria2c', oursResult.seconds, aria2.seconds, { op: '<=', value: 1 })
    let same = true
    for (const f of files) same &&= (await sha256File(join(out, f.path))) === f.sha256
    check('aria2c fetched the right bytes', same)
  } else {
    console.log('  aria2c: not installed (apt-get install aria2)')
  }
  console.log(`  floor: ${mb(bytes)} ÷ (${connections} × ${bandwidth / 1e6} MB/s) + 3 × ${latency} ms = ${floor.toFixed(2)} s`)
  ratio('ours / floor', oursResult.seconds, floor, { op: '<=', value: 1.3 })
  let same = true
  for (const f of files) same &&= (await sha256File(join(dir, f.path))) === f.sha256
  check('ours fetched the right bytes', same)
}
