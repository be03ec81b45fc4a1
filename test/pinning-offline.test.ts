import assert from 'node:assert/strict'
import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, beforeEach, describe, test } from 'node:test'
import { readManifest, repoDir } from '../fixtures/index.js'
import { startHub, type HubEmulator } from './support/emulator/index.js'
import { fixtureRepo } from './support/fixtureHub.js'
import { isolatedEnv, runCli, tempDir } from './support/cli.js'
import { duck, sqlString } from './support/duckdb.js'

const manifest = readManifest('tiny')
const shardFile = (shard: number) => join(repoDir('tiny'), 'trajectories', `SWE_Smith-${String(shard).padStart(5, '0')}-of-00003.parquet`)

let hub: HubEmulator
let home: { path: string, cleanup: () => Promise<void> }
let online: NodeJS.ProcessEnv
let offline: NodeJS.ProcessEnv

before(async () => {
  hub = await startHub({ repos: [{ id: fixtureRepo, dir: repoDir('tiny') }] })
  home = await tempDir()
  online = isolatedEnv(home.path, { HF_ENDPOINT: hub.endpoint })
  offline = { ...online, HF_HUB_OFFLINE: '1' }
  // the cache holds SWE_Smith shards 0 and 2 only
  const result = await runCli(['download', '--split', 'SWE_Smith', '--shards', '0,2', '--quiet'], online)
  assert.equal(result.code, 0, result.stderr)
})
after(async () => {
  await hub.close()
  await home.cleanup()
})
beforeEach(() => hub.clearLog())

const snapshotFiles = async () => {
  const folder = join(home.path, 'hf', 'hub', `datasets--${fixtureRepo.replace('/', '--')}`, 'snapshots')
  const commits = await readdir(folder)
  return (await Promise.all(commits.map((c) => readdir(join(folder, c, 'trajectories'))))).flat().sort()
}
const idsOf = async (files: string[]) => (await duck(`SELECT trajectory_id FROM read_parquet([${files.map(sqlString).join(', ')}])`)).map((r) => r.trajectory_id)

describe('offline download', () => {
  test('files the cache lacks: an error naming HF_HUB_OFFLINE, exit 1, nothing written', async () => {
    const before = await snapshotFiles()
    const result = await runCli(['download', '--split', 'SWE_Smith'], offline)
    assert.equal(result.code, 1, result.stderr)
    assert.match(result.stderr, /HF_HUB_OFFLINE/)
    assert.deepEqual(await snapshotFiles(), before)
    assert.equal(hub.requests.filter((r) => r.origin === 'cdn').length, 0, 'no file byte was fetched')
    const otherSplit = await runCli(['download', '--split', 'R2E_Gym'], offline)
    assert.equal(otherSplit.code, 1, otherSplit.stderr)
    assert.match(otherSplit.stderr, /HF_HUB_OFFLINE/)
  })

  test('files the cache holds: success, nothing fetched', async () => {
    const result = await runCli(['download', '--split', 'SWE_Smith', '--shards', '0,2', '--json'], offline)
    assert.equal(result.code, 0, result.stderr)
    const summary = JSON.parse(result.stdout.trim().split('\n').at(-1)!)
    assert.equal(summary.downloaded, 0)
    assert.equal(summary.already_present, 2)
    assert.equal(summary.bytes_fetched, 0)
    assert.equal(hub.requests.filter((r) => r.origin === 'cdn').length, 0)
  })
})

describe('offline selection from the cache', () => {
  test('--shards and --include pick exactly those cached shards, without the network', async () => {
    assert.deepEqual(await snapshotFiles(), ['SWE_Smith-00000-of-00003.parquet', 'SWE_Smith-00002-of-00003.parquet'])
    const filter = async (args: string[]) => {
      const result = await runCli(['filter', '--split', 'SWE_Smith', ...args, '--columns', 'trajectory_id'], offline)
      assert.equal(result.code, 0, result.stderr)
      return result.stdout.trim().split('\n').filter(Boolean).map((line) => JSON.parse(line).trajectory_id)
    }
    assert.deepEqual(await filter([]), await idsOf([shardFile(0), shardFile(2)]))
    assert.deepEqual(await filter(['--shards', '2']), await idsOf([shardFile(2)]))
    assert.deepEqual(await filter(['--shards', '0-1']), await idsOf([shardFile(0)]))
    assert.deepEqual(await filter(['--include', '*-00002-*']), await idsOf([shardFile(2)]))
    assert.deepEqual(await filter(['--include', '*-0000[01]-*']), await idsOf([shardFile(0)]))
    const stats = await runCli(['stats', '--split', 'SWE_Smith', '--shards', '2', '--json'], offline)
    assert.equal(stats.code, 0, stats.stderr)
    const rows = manifest.files.find((f) => f.path === 'trajectories/SWE_Smith-00002-of-00003.parquet')!.rows
    assert.equal(JSON.parse(stats.stdout).splits.SWE_Smith.rows.rows, rows)
    assert.deepEqual(hub.requests, [], 'no request reached the emulator')
  })

  test('a selection the cache cannot serve is an error, not an empty result', async () => {
    const result = await runCli(['filter', '--split', 'SWE_Smith', '--shards', '1'], offline)
    assert.notEqual(result.code, 0)
    assert.match(result.stderr, /shard|HF_HUB_OFFLINE|selection/i)
    assert.equal(result.stdout, '')
  })
})

describe('offline never opens a socket', () => {
  const resolveUrl = () => `${hub.endpoint}/datasets/${fixtureRepo}/resolve/main/trajectories/SWE_Smith-00000-of-00003.parquet`

  test('download and --dry-run pin the revision and list the shards from refs/ and snapshots/', async () => {
    const dry = await runCli(['download', '--split', 'SWE_Smith', '--dry-run', '--json'], offline)
    assert.equal(dry.code, 0, dry.stderr)
    const plan = JSON.parse(dry.stdout)
    assert.deepEqual(plan.files.map((f: { state: string }) => f.state), ['complete', 'complete'])
    assert.deepEqual(plan.uncached, ['trajectories/SWE_Smith-00001-of-00003.parquet'])
    assert.equal(plan.commit, hub.commitOf(fixtureRepo))
    const done = await runCli(['download', '--split', 'SWE_Smith', '--shards', '0,2'], offline)
    assert.equal(done.code, 0, done.stderr)
    assert.match(done.stdout, /snapshots\/[0-9a-f]{40}\/trajectories\n$/)
    const missing = await runCli(['download', '--split', 'SWE_Smith', '--shards', '1'], offline)
    assert.equal(missing.code, 1, missing.stderr)
    assert.match(missing.stderr, /HF_HUB_OFFLINE is set and 1 of the files are not downloaded yet \(trajectories\/SWE_Smith-00001-of-00003\.parquet\)/)
    assert.deepEqual(hub.requests, [])
  })

  test('a URL: a Hub resolve URL is read from the cache, any other is refused', async () => {
    const cached = await runCli(['inspect', resolveUrl(), '--json'], offline)
    assert.equal(cached.code, 0, cached.stderr)
    assert.equal(JSON.parse(cached.stdout).files[0].rows, manifest.files.find((f) => f.path === 'trajectories/SWE_Smith-00000-of-00003.parquet')!.rows)
    const other = await runCli(['inspect', `${hub.cdnOrigin}/x.parquet`], offline)
    assert.equal(other.code, 1)
    assert.match(other.stderr, /^error: HF_HUB_OFFLINE is set and http:\/\/127\.0\.0\.1:\d+\/x\.parquet .*unset HF_HUB_OFFLINE\n$/)
    const uncachedFile = await runCli(['inspect', resolveUrl().replace('00000', '00001')], offline)
    assert.equal(uncachedFile.code, 1)
    assert.match(uncachedFile.stderr, /not in the cache/)
    assert.deepEqual(hub.requests, [])
  })

  test('a split the cache lacks is "not in the cache", and --split all names the splits it lacks', async () => {
    for (const command of ['stats', 'filter', 'inspect', 'download']) {
      const one = await runCli([command, '--split', 'R2E_Gym'], offline)
      assert.equal(one.code, 1, `${command}: ${one.stderr}`)
      assert.match(one.stderr, /^error: HF_HUB_OFFLINE is set and R2E_Gym of 'trajectories' is not in the cache .*coderforge download --split R2E_Gym.*\(SWE_Smith\)/)
      const all = await runCli([command, '--split', 'all'], offline)
      assert.equal(all.code, 1, `${command}: ${all.stderr}`)
      assert.match(all.stderr, /SWE_Rebench, R2E_Gym, filtered_reward1 of 'trajectories' are not in the cache/)
    }
    const unknown = await runCli(['stats', '--split', 'SWE_Bench'], offline)
    assert.equal(unknown.code, 2)
    assert.match(unknown.stderr, /unknown split 'SWE_Bench'/)
    assert.deepEqual(hub.requests, [])
  })
})
