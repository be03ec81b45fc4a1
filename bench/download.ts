/**
 * Download benchmark (not in CI): the realistic SWE_Smith shards served by the local Hub emulator with a
 * per-connection bandwidth cap and added latency, fetched by coderforge, by aria2c with hfd.sh-style
 * settings (given the URLs; after an API listing as hfd.sh does; with aria2c's own sha256 check so both
 * verify), and by curl one file after another.
 * After a warm-up round, each contender runs `--runs` times, interleaved; the median time and the highest
 * peak RSS are reported.
 *
 * `--quick`: the tiny fixtures, one round, to show the bench works (its figures mean nothing).
 *
 *   npm run build && npx tsx bench/download.ts [--quick] [--bandwidth 25000000] [--latency 20] [--runs 3] [--files 4] [--ours="--part-size 4MB"] [--no-peers]
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { ensureFixtures, repoDir } from '../fixtures/index.js'
import { startHub } from '../test/support/emulator/index.js'
import { aria2Args, have, measure, repoId, report, root, writeAria2List, type Measurement } from './support.js'

const { values } = parseArgs({ allowNegative: true, options: {
  bandwidth: { type: 'string', default: '25000000' },
  latency: { type: 'string', default: '20' },
  runs: { type: 'string', default: '3' },
  // the first N shards of SWE_Smith (of 4)
  files: { type: 'string', default: '4' },
  // extra coderforge flags, e.g. --ours="--part-size 4MB --concurrency 24"
  ours: { type: 'string', default: '' },
  peers: { type: 'boolean', default: true },
  quick: { type: 'boolean', default: false },
} })
const repo = repoId
const profile = values.quick ? 'tiny' : 'realistic'

if (values.quick) console.log('--quick: tiny fixtures, to show the bench works; its figures mean nothing')
const files = (await ensureFixtures(profile)).files
  .filter((f) => f.config === 'trajectories' && f.split === 'SWE_Smith')
  .sort((a, b) => a.shard - b.shard)
  .slice(0, Number(values.files))
const totalBytes = files.reduce((sum, f) => sum + f.size, 0)
const hub = await startHub({ repos: [{ id: repo, dir: repoDir(profile) }], bandwidth: Number(values.bandwidth), latencyMs: Number(values.latency), bodiesInMemory: true })
const work = await mkdtemp(join(tmpdir(), 'coderforge-bench-'))
try {
  const urls = files.map((f) => `${hub.endpoint}/datasets/${repo}/resolve/main/${f.path}`)
  const aria2List = (verify: boolean) =>
    writeAria2List(join(work, 'aria2.txt'), files.map((f, i) => ({ url: urls[i]!, out: f.path, sha256: verify ? f.sha256 : undefined })))
  const aria2 = (verify: boolean) => async (out: string) =>
    measure(`aria2c${verify ? ' --checksum' : ''}`, 'aria2c', [...aria2Args, '-d', out, '-i', await aria2List(verify)])
  // what hfd.sh runs end to end: list the repo through the API first, then hand aria2c the URLs
  const hfdStyle = async (out: string) => {
    const list = await aria2List(false)
    const api = `${hub.endpoint}/api/datasets/${repo}/revision/main?blobs=true`
    return measure('curl API listing + aria2c', 'sh', ['-c', `curl -sSf -o /dev/null '${api}' && aria2c ${aria2Args.join(' ')} -d '${out}' -i '${list}'`])
  }
  const contenders: Array<(out: string) => Promise<Measurement>> = [
    (out) => measure('coderforge', process.execPath, [join(root, 'bin/coderforge.cjs'), 'download', '--split', 'SWE_Smith', '--shards', `0-${files.length - 1}`, '--quiet',
      '--cache-dir', out, ...values.ours!.split(' ').filter(Boolean)], { env: { HF_ENDPOINT: hub.endpoint } }),
  ]
  if (values.peers && have('aria2c')) contenders.push(aria2(false), hfdStyle, aria2(true))
  else if (values.peers) console.log('aria2c not found: apt-get install aria2')
  const runs = values.quick ? 1 : Number(values.runs)
  const rounds: Measurement[][] = []
  // round 0 warms up (the emulator reads the files into memory, the page cache fills) and is not counted
  for (let run = 0; run <= runs; run++) {
    const round: Measurement[] = []
    for (const contender of contenders) {
      const out = join(work, 'out')
      round.push(await contender(out))
      await rm(out, { recursive: true, force: true })
    }
    if (run > 0) rounds.push(round)
  }
  const results = contenders.map((_, i) => {
    const all = rounds.map((round) => round[i]!)
    const seconds = all.map((m) => m.seconds).sort((a, b) => a - b)[Math.floor(runs / 2)]!
    return { name: all[0]!.name, seconds, peakRssMb: Math.max(...all.map((m) => m.peakRssMb)) }
  })
  // sequential curl is an order of magnitude slower: once is enough
  if (values.peers && have('curl')) {
    const script = urls.map((url, i) => `curl -sSfL -o '${join(work, 'curl', String(i))}' --create-dirs '${url}'`).join(' && ')
    results.push(await measure('curl (sequential)', 'sh', ['-c', script]))
  }
  report(`download: ${files.length} shards, ${(totalBytes / 1e6).toFixed(0)} MB, per-connection cap ${(Number(values.bandwidth) / 1e6).toFixed(0)} MB/s, latency ${values.latency} ms, median of ${runs}`, results, {
    'coderforge throughput': `${(totalBytes / 1e6 / results[0]!.seconds).toFixed(1)} MB/s`,
  })
} finally {
  await hub.close()
  await rm(work, { recursive: true, force: true })
}
