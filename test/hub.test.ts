import assert from 'node:assert/strict'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, beforeEach, describe, test } from 'node:test'
import { ExitCode, GatedRepoError, InvalidTokenError, RepoNotFoundError, RevisionNotFoundError, UsageError } from '../src/errors.js'
import { createHub } from '../src/hub/client.js'
import { parseShardPath, resolveConfig, resolveSplits, splits } from '../src/hub/layout.js'
import { hubSettings } from '../src/hub/settings.js'
import { inRanges, parseRanges } from '../src/values.js'
import { listShards } from '../src/hub/shards.js'
import { listTree, nextPageUrl } from '../src/hub/tree.js'
import { readManifest, repoDir } from '../fixtures/index.js'
import { startHub, type HubEmulator } from './support/emulator/index.js'
import { runCli, tempDir, isolatedEnv } from './support/cli.js'

const repo = 'togethercomputer/CoderForge-Preview'
let hub: HubEmulator

before(async () => {
  hub = await startHub({
    repos: [
      { id: repo, dir: repoDir('tiny') },
      { id: 'acme/gated', dir: repoDir('tiny'), gated: 'manual' },
      { id: 'acme/private', dir: repoDir('tiny'), private: true },
    ],
    tokens: { hf_granted: { grants: ['acme/gated'] }, hf_plain: {} },
    pageSize: 3,
  })
})
after(() => hub.close())
beforeEach(() => { hub.clearLog(); hub.clearFaults() })

const connect = (token?: string) => createHub({ endpoint: hub.endpoint, token, env: {}, retryBaseMs: 10 })

describe('settings', () => {
  test('endpoint, token and cache follow the huggingface_hub conventions', async () => {
    const home = await tempDir()
    try {
      await mkdir(join(home.path, 'hf'), { recursive: true })
      await writeFile(join(home.path, 'hf', 'token'), 'hf_from_file\n')
      const fromFile = hubSettings({ env: { HF_HOME: join(home.path, 'hf'), HF_ENDPOINT: 'https://hf-mirror.com/' } })
      assert.equal(fromFile.endpoint, 'https://hf-mirror.com')
      assert.equal(fromFile.token, 'hf_from_file')
      assert.equal(fromFile.hubCache, join(home.path, 'hf', 'hub'))
      const fromEnv = hubSettings({ env: { HF_HOME: join(home.path, 'hf'), HF_TOKEN: 'hf_env', HF_HUB_CACHE: '/c', HF_HUB_OFFLINE: '1' } })
      assert.equal(fromEnv.token, 'hf_env')
      assert.equal(fromEnv.hubCache, '/c')
      assert.equal(fromEnv.offline, true)
      assert.equal(hubSettings({ env: {} }).endpoint, 'https://huggingface.co')
      assert.throws(() => hubSettings({ endpoint: 'hf-mirror.com', env: {} }), UsageError)
    } finally {
      await home.cleanup()
    }
  })
})

describe('layout', () => {
  test('configs, splits and aliases, with errors that list the valid names', () => {
    assert.equal(resolveConfig(undefined), 'trajectories')
    assert.equal(resolveConfig('tokenized'), 'trajectories-tokenized_qwencoder')
    assert.throws(() => resolveConfig('bogus'), /unknown config 'bogus': valid configs are trajectories, trajectories-tokenized_qwencoder/)
    assert.deepEqual(resolveSplits(['swe_smith', 'r2e'], splits), ['SWE_Smith', 'R2E_Gym'])
    assert.deepEqual(resolveSplits(['all'], splits), [...splits])
    assert.deepEqual(resolveSplits(['SWE_Smith,reward1'], splits), ['SWE_Smith', 'filtered_reward1'])
    assert.throws(() => resolveSplits(['SWE_Bench'], splits), /unknown split 'SWE_Bench': valid splits are SWE_Rebench, SWE_Smith, R2E_Gym, filtered_reward1/)
    assert.deepEqual(parseShardPath('trajectories/SWE_Smith-00003-of-00224.parquet'), { config: 'trajectories', split: 'SWE_Smith', index: 3, count: 224 })
    assert.equal(parseShardPath('README.md'), undefined)
    const pick = parseRanges('0-2,7,10-', '--shards', { openEnd: true })
    assert.deepEqual([0, 2, 3, 7, 9, 10, 500].map((index) => inRanges(pick, index)), [true, true, false, true, false, true, true])
    assert.throws(() => parseRanges('3-1', '--shards', { openEnd: true }), UsageError)
    assert.throws(() => parseRanges('3-', '--run'), UsageError)
  })
})

describe('hub client against the emulator', () => {
  test('tree listing follows every Link page', async () => {
    const h = connect()
    const entries = []
    for await (const entry of listTree(h, { repo, revision: 'main', recursive: true })) entries.push(entry)
    const manifest = readManifest('tiny')
    const files = entries.filter((e) => e.type === 'file' && e.path.endsWith('.parquet')).map((e) => e.path).sort()
    assert.deepEqual(files, manifest.files.map((f) => f.path).sort())
    const pages = hub.requests.filter((r) => r.path.includes('/tree/'))
    assert.ok(pages.length > 5, `tiny pages: ${pages.length} requests`)
    await h.http.close()
  })

  test('a mirror\'s next-page link naming huggingface.co is asked of the mirror', () => {
    const next = nextPageUrl('<https://huggingface.co/api/datasets/x/tree/main?cursor=abc>; rel="next"', new URL('https://hf-mirror.com'))
    assert.equal(next, 'https://hf-mirror.com/api/datasets/x/tree/main?cursor=abc')
    assert.equal(nextPageUrl('<https://h/a>; rel="prev"', new URL('https://h')), undefined)
  })

  test('listShards pins the commit and returns a split\'s shards in order with size and sha256', async () => {
    const h = connect()
    const listing = await listShards(h, { repo, config: 'trajectories', splits: ['SWE_Smith'] })
    assert.equal(listing.commit, hub.commitOf(repo))
    const expected = readManifest('tiny').files.filter((f) => f.config === 'trajectories' && f.split === 'SWE_Smith')
    assert.deepEqual(listing.shards.map((s) => s.path), expected.map((f) => f.path).sort())
    for (const shard of listing.shards) {
      const file = expected.find((f) => f.path === shard.path)!
      assert.equal(shard.size, file.size)
      assert.equal(shard.sha256, file.sha256)
    }
    // every tree page was asked at the pinned commit, not at the moving branch
    const pages = hub.requests.filter((r) => r.path.includes('/tree/'))
    assert.ok(pages.every((r) => r.path.includes(`/tree/${listing.commit}/`)))
    await h.http.close()
  })

  test('errors: unknown repo, private repo, gated repo, bad token, unknown revision', async () => {
    const anonymous = connect()
    await assert.rejects(listShards(anonymous, { repo: 'acme/nope', config: 'trajectories', splits: [] }), (error: unknown) => {
      assert.ok(error instanceof RepoNotFoundError)
      assert.equal(error.exitCode, ExitCode.notFound)
      assert.match(error.message, /dataset 'acme\/nope' not found .*set HF_TOKEN/)
      return true
    })
    await assert.rejects(listShards(anonymous, { repo: 'acme/private', config: 'trajectories', splits: [] }), RepoNotFoundError)
    await assert.rejects(listShards(anonymous, { repo: 'acme/gated', config: 'trajectories', splits: [] }), (error: unknown) => {
      assert.ok(error instanceof GatedRepoError)
      assert.equal(error.exitCode, ExitCode.auth)
      assert.match(error.message, /gated: set HF_TOKEN/)
      return true
    })
    const plain = connect('hf_plain')
    await assert.rejects(listShards(plain, { repo: 'acme/gated', config: 'trajectories', splits: [] }), /no access to gated dataset 'acme\/gated': request access/)
    const granted = connect('hf_granted')
    const listing = await listShards(granted, { repo: 'acme/gated', config: 'trajectories', splits: ['R2E_Gym'] })
    assert.ok(listing.shards.length > 0)
    const bad = connect('hf_wrong')
    await assert.rejects(listShards(bad, { repo, config: 'trajectories', splits: [] }), InvalidTokenError)
    await assert.rejects(listShards(anonymous, { repo, revision: 'v9.9', config: 'trajectories', splits: [] }), (error: unknown) => {
      assert.ok(error instanceof RevisionNotFoundError)
      assert.match(error.message, /revision 'v9.9' not found in dataset/)
      return true
    })
    for (const h of [anonymous, plain, granted, bad]) await h.http.close()
  })

  test('the CLI turns each failure into one line and a meaningful exit code', async () => {
    const home = await tempDir()
    try {
      const env = isolatedEnv(home.path, { HF_ENDPOINT: hub.endpoint })
      const unknownSplit = await runCli(['download', '--split', 'SWE_Bench', '--dry-run'], env)
      assert.equal(unknownSplit.code, ExitCode.usage)
      assert.equal(unknownSplit.stderr.trim(), 'error: unknown split \'SWE_Bench\': valid splits are SWE_Rebench, SWE_Smith, R2E_Gym, filtered_reward1 (or all)')
      const gated = await runCli(['download', '--repo', 'acme/gated', '--split', 'SWE_Smith'], env)
      assert.equal(gated.code, ExitCode.auth)
      assert.match(gated.stderr, /^error: dataset 'acme\/gated' is gated: set HF_TOKEN/)
      const unreachable = await runCli(['download', '--split', 'SWE_Smith', '--endpoint', 'http://127.0.0.1:9', '--retries', '1'], env)
      assert.equal(unreachable.code, ExitCode.network)
      assert.match(unreachable.stderr, /cannot reach http:\/\/127\.0\.0\.1:9: ECONNREFUSED/)
      const badConfig = await runCli(['download', '--split', 'SWE_Smith', '--config', 'nope'], env)
      assert.equal(badConfig.code, ExitCode.usage)
      assert.match(badConfig.stderr, /unknown config 'nope'/)
    } finally {
      await home.cleanup()
    }
  })
})
