import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { chmod, lstat, mkdir, readFile, readlink, readdir, writeFile } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import { after, before, beforeEach, describe, test } from 'node:test'
import { ExitCode } from '../src/errors.js'
import { partSizeFor } from '../src/fetch/downloader.js'
import { repoCache } from '../src/hub/cache.js'
import { createOutput } from '../src/ui/output.js'
import { transferProgress } from '../src/ui/progress.js'
import { readManifest, repoDir } from '../fixtures/index.js'
import { startHub, type HubEmulator } from './support/emulator/index.js'
import { finished, isolatedEnv, runCli, spawnCli, tempDir } from './support/cli.js'

const fixtureRepo = 'togethercomputer/CoderForge-Preview'
const blobRepo = 'acme/big-shards'
const gatedRepo = 'acme/gated-shards'
const big = [randomBytes(3 * 1024 * 1024 + 17), randomBytes(2 * 1024 * 1024 + 5)]
const bigPaths = ['trajectories/SWE_Smith-00000-of-00002.parquet', 'trajectories/SWE_Smith-00001-of-00002.parquet']
const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex')

let hub: HubEmulator
let blobs: { path: string, cleanup: () => Promise<void> }
let home: { path: string, cleanup: () => Promise<void> }
let env: NodeJS.ProcessEnv

before(async () => {
  blobs = await tempDir()
  await mkdir(join(blobs.path, 'trajectories'), { recursive: true })
  await Promise.all(bigPaths.map((path, i) => writeFile(join(blobs.path, path), big[i]!)))
  hub = await startHub({
    repos: [{ id: fixtureRepo, dir: repoDir('tiny') }, { id: blobRepo, dir: blobs.path }, { id: gatedRepo, dir: blobs.path, gated: 'manual' }],
    tokens: { hf_good: {}, hf_granted: { grants: [gatedRepo] } },
  })
})
after(async () => {
  await hub.close()
  await blobs.cleanup()
})
beforeEach(async () => {
  hub.clearLog()
  hub.clearFaults()
  hub.setBandwidth(undefined)
  home = await tempDir()
  env = isolatedEnv(home.path, { HF_ENDPOINT: hub.endpoint })
})

const cdnRequests = () => hub.requests.filter((r) => r.origin === 'cdn')
const hubCache = () => join(home.path, 'hf', 'hub')

describe('download', () => {
  test('a split lands byte-exact in the HF cache layout; a rerun fetches nothing', async () => {
    const result = await runCli(['download', '--split', 'SWE_Smith'], env)
    assert.equal(result.code, 0, result.stderr)
    const commit = hub.commitOf(fixtureRepo)
    const cache = repoCache(hubCache(), fixtureRepo)
    assert.equal(await readFile(cache.ref('main'), 'utf8'), commit)
    const expected = readManifest('tiny').files.filter((f) => f.config === 'trajectories' && f.split === 'SWE_Smith')
    assert.ok(expected.length > 0)
    for (const file of expected) {
      const snapshot = cache.snapshot(commit, file.path)
      assert.ok((await lstat(snapshot)).isSymbolicLink())
      assert.equal(await readlink(snapshot), `../../../blobs/${file.sha256}`)
      const bytes = await readFile(snapshot)
      assert.equal(sha256(bytes), file.sha256)
      assert.ok(bytes.equals(await readFile(join(repoDir('tiny'), file.path))))
    }
    const blobsOnDisk = await readdir(join(cache.dir, 'blobs'))
    assert.deepEqual(blobsOnDisk.sort(), expected.map((f) => f.sha256).sort(), 'no partial files left')

    hub.clearLog()
    const again = await runCli(['download', '--split', 'SWE_Smith', '--json'], env)
    assert.equal(again.code, 0, again.stderr)
    assert.equal(cdnRequests().length, 0, 'complete files are not fetched again')
    const summary = JSON.parse(again.stdout.trim().split('\n').at(-1)!)
    assert.equal(summary.event, 'summary')
    assert.equal(summary.downloaded, 0)
    assert.equal(summary.already_present, expected.length)
  })

  test('--local-dir writes repo paths and hf metadata; --dry-run reports what is there', async () => {
    const local = join(home.path, 'data')
    const result = await runCli(['download', '--split', 'R2E_Gym', '--config', 'tokenized', '--local-dir', local, '--quiet'], env)
    assert.equal(result.code, 0, result.stderr)
    assert.equal(result.stderr, '', 'quiet means quiet')
    assert.equal(result.stdout, `${join(local, 'trajectories-tokenized_qwencoder')}\n`, 'stdout is the folder alone, as hf download prints it')
    const expected = readManifest('tiny').files.filter((f) => f.config === 'trajectories-tokenized_qwencoder' && f.split === 'R2E_Gym')
    for (const file of expected) {
      assert.equal(sha256(await readFile(join(local, file.path))), file.sha256)
      const metadata = (await readFile(join(local, '.cache/huggingface/download', `${file.path}.metadata`), 'utf8')).split('\n')
      assert.equal(metadata[0], hub.commitOf(fixtureRepo))
      assert.equal(metadata[1], file.sha256)
    }
    const dry = await runCli(['download', '--split', 'R2E_Gym,SWE_Rebench', '-c', 'tokenized', '--local-dir', local, '--dry-run', '--json'], env)
    assert.equal(dry.code, 0, dry.stderr)
    const plan = JSON.parse(dry.stdout)
    const states = Object.fromEntries(plan.files.map((f: { path: string, state: string }) => [f.path, f.state]))
    for (const file of expected) assert.equal(states[file.path], 'complete')
    assert.ok(plan.files.some((f: { state: string }) => f.state === 'missing'))
    assert.ok(plan.bytes_to_fetch > 0 && plan.bytes_to_fetch < plan.bytes_total)
    const pick = async (...flags: string[]) => {
      const result = await runCli(['download', '--split', 'SWE_Smith', '--dry-run', '--json', ...flags], env)
      assert.equal(result.code, 0, result.stderr)
      return (JSON.parse(result.stdout).files as { path: string }[]).map((f) => f.path)
    }
    assert.deepEqual(await pick('--shards', '1-'), ['trajectories/SWE_Smith-00001-of-00003.parquet', 'trajectories/SWE_Smith-00002-of-00003.parquet'])
    assert.deepEqual(await pick('--include', '*-00002-*'), ['trajectories/SWE_Smith-00002-of-00003.parquet'])
    const bad = await runCli(['download', '--split', 'SWE_Smith', '--concurrency', '0'], env)
    assert.equal(bad.code, ExitCode.usage)
    assert.equal(bad.stderr, "error: invalid --concurrency '0': use a whole number of at least 1\n")
  })

  test('parts: at most 8 MiB, in whole waves over the connections, smaller when the selection is small so every connection has one', async () => {
    const MiB = 1024 * 1024
    // 309 MB on 32 connections: 64 parts of 4.6 MiB end together; 8 MiB parts would leave a second wave of 6
    assert.equal(partSizeFor(308.8e6, 32), 4.625 * MiB)
    assert.equal(Math.ceil(308.8e6 / partSizeFor(308.8e6, 32)), 64)
    assert.equal(partSizeFor(252e6, 32), 7.5625 * MiB)
    assert.equal(partSizeFor(93e9, 32), 8 * MiB)
    assert.equal(partSizeFor(64e6, 32), 1.9375 * MiB)
    assert.equal(partSizeFor(1000, 32), 1 * MiB)
    for (const total of [1e6, 77e6, 308.8e6, 5e9]) assert.equal(partSizeFor(total, 32) % (64 * 1024), 0)
    // one 3 MB file and four connections: four parts at once instead of one
    const result = await runCli(['download', '--repo', blobRepo, '--split', 'SWE_Smith', '--shards', '0', '--concurrency', '4', '--quiet'], env)
    assert.equal(result.code, 0, result.stderr)
    assert.deepEqual(cdnRequests().map((r) => r.range).sort(), ['bytes=0-1048575', 'bytes=1048576-2097151', 'bytes=2097152-3145727', 'bytes=3145728-3145744'])
  })

  test('files start largest first, a connection budget at a time: the next one is not even resolved before', async () => {
    const result = await runCli(['download', '--repo', blobRepo, '--split', 'SWE_Smith', '--concurrency', '1', '--part-size', '1MB', '--quiet'], env)
    assert.equal(result.code, 0, result.stderr)
    const order = hub.requests.filter((r) => r.file && (r.origin === 'cdn' || r.method === 'HEAD')).map((r) => `${r.origin} ${r.file === bigPaths[0] ? 'big' : 'small'}`)
    assert.deepEqual(order, ['hub big', 'cdn big', 'cdn big', 'cdn big', 'cdn big', 'hub small', 'cdn small', 'cdn small', 'cdn small'])
  })

  test('large files are fetched as parallel ranges, and no Authorization reaches the CDN', async () => {
    const result = await runCli(['download', '--repo', blobRepo, '--split', 'SWE_Smith', '--part-size', '512KB', '--quiet'], { ...env, HF_TOKEN: 'hf_good' })
    assert.equal(result.code, 0, result.stderr)
    await assertBlobs()
    const ranges = cdnRequests().filter((r) => r.file === bigPaths[0]).map((r) => r.range)
    assert.equal(ranges.length, Math.ceil(big[0]!.length / 512_000))
    assert.ok(hub.requests.filter((r) => r.origin === 'hub').every((r) => r.authorization))
    assert.ok(cdnRequests().every((r) => !r.authorization))
  })

  test('resume after kill -9: the bytes already on disk are not fetched again, whatever the part size', async () => {
    hub.setBandwidth(400_000)
    const child = spawnCli(['download', '--repo', blobRepo, '--split', 'SWE_Smith', '--part-size', '256KB', '--concurrency', '4'], env)
    const cache = repoCache(hubCache(), blobRepo)
    const partial = `${cache.blob(sha256(big[0]!))}.incomplete.parts`
    const written = async () => {
      try {
        return (JSON.parse(await readFile(partial, 'utf8')) as { progress: number[] }).progress.reduce((a, b) => a + b, 0)
      } catch {
        return 0
      }
    }
    for (let i = 0; i < 200 && (await written()) < 600_000; i++) await sleep(50)
    child.kill('SIGKILL')
    await finished(child, 10_000)
    const resumedFrom = await written()
    assert.ok(resumedFrom >= 600_000 && resumedFrom < big[0]!.length, `killed mid-file at ${resumedFrom}`)
    assert.ok(!existsSync(cache.blob(sha256(big[0]!))), 'a partial file never has the final name')

    hub.setBandwidth(undefined)
    hub.clearLog()
    // without --part-size this time: the partial file keeps the parts it was started with
    const result = await runCli(['download', '--repo', blobRepo, '--split', 'SWE_Smith', '--json'], env)
    assert.equal(result.code, 0, result.stderr)
    await assertBlobs()
    const fetched = cdnRequests().filter((r) => r.file === bigPaths[0]).reduce((sum, r) => sum + r.bytesSent, 0)
    assert.ok(fetched <= big[0]!.length - resumedFrom, `second run fetched ${fetched} bytes of the first file, ${resumedFrom} were on disk`)
    const summary = JSON.parse(result.stdout.trim().split('\n').at(-1)!)
    assert.ok(summary.bytes_resumed >= resumedFrom)
  })

  test('a partial file left by huggingface_hub (written front to back, no state) is resumed, not fetched again', async () => {
    const blob = repoCache(hubCache(), blobRepo).blob(sha256(big[0]!))
    await mkdir(join(blob, '..'), { recursive: true })
    await writeFile(`${blob}.incomplete`, big[0]!.subarray(0, 1_000_000))
    const plan = await runCli(['download', '--repo', blobRepo, '--split', 'SWE_Smith', '--shards', '0', '--dry-run', '--json'], env)
    assert.equal(plan.code, 0, plan.stderr)
    assert.match(plan.stdout, /"state":"partial","bytes_present":1000000\b/)
    const result = await runCli(['download', '--repo', blobRepo, '--split', 'SWE_Smith', '--shards', '0', '--json'], env)
    assert.equal(result.code, 0, result.stderr)
    assert.equal(sha256(await readFile(blob)), sha256(big[0]!))
    const fetched = cdnRequests().filter((r) => r.file === bigPaths[0]).reduce((sum, r) => sum + r.bytesSent, 0)
    assert.equal(fetched, big[0]!.length - 1_000_000)
    assert.equal(JSON.parse(result.stdout.trim().split('\n').at(-1)!).bytes_resumed, 1_000_000)
  })

  test('drops, 5xx bursts, 429 and an expired link are survived', async () => {
    hub.fault({ target: 'cdn', file: bigPaths[0], kind: 'drop', afterBytes: 100_000, times: 2 })
    hub.fault({ target: 'cdn', file: bigPaths[1], kind: 'status', status: 503, times: 3 })
    hub.fault({ target: 'resolve', kind: 'status', status: 429, retryAfter: 1 })
    hub.fault({ target: 'cdn', kind: 'status', status: 403, nth: 4 })
    const result = await runCli(['download', '--repo', blobRepo, '--split', 'SWE_Smith', '--part-size', '1MB'], env)
    assert.equal(result.code, 0, result.stderr)
    await assertBlobs()
    assert.match(result.stderr, /retrying .* HTTP 429/)
    assert.ok(hub.requests.filter((r) => r.origin === 'hub' && r.path.includes('/resolve/')).length >= 3, 'the 403 led to a re-resolve')
  })

  test('a corrupted transfer is downloaded again once; a persistent mismatch is an error naming the file', async () => {
    hub.fault({ target: 'cdn', file: bigPaths[1], kind: 'corrupt' })
    const once = await runCli(['download', '--repo', blobRepo, '--split', 'SWE_Smith', '--shards', '1'], env)
    assert.equal(once.code, 0, once.stderr)
    assert.match(once.stderr, /sha256 mismatch, downloading it again/)
    assert.equal(sha256(await readFile(repoCache(hubCache(), blobRepo).blob(sha256(big[1]!)))), sha256(big[1]!))

    const fresh = await tempDir()
    try {
      hub.fault({ target: 'cdn', file: bigPaths[0], kind: 'corrupt', times: Infinity })
      const failed = await runCli(['download', '--repo', blobRepo, '--split', 'SWE_Smith'], isolatedEnv(fresh.path, { HF_ENDPOINT: hub.endpoint }))
      assert.equal(failed.code, ExitCode.failure)
      assert.match(failed.stderr, /error: trajectories\/SWE_Smith-00000-of-00002\.parquet: sha256 mismatch after a second download/)
      assert.equal(failed.stderr.match(/downloading it again/g)?.length, 1, 'one retry, one line saying so')
      const cache = repoCache(join(fresh.path, 'hf', 'hub'), blobRepo)
      assert.ok(!existsSync(cache.blob(sha256(big[0]!))), 'the bad file was not kept')
      assert.ok(existsSync(cache.blob(sha256(big[1]!))), 'the good file is intact')
    } finally {
      await fresh.cleanup()
    }
  })

  test('the revision is pinned: main moving during a run does not mix commits', async () => {
    hub.setBandwidth(300_000)
    const run = runCli(['download', '--repo', blobRepo, '--split', 'SWE_Smith', '--part-size', '1MB', '--json'], env)
    for (let i = 0; i < 100 && !hub.requests.some((r) => r.origin === 'cdn'); i++) await sleep(20)
    const pinned = hub.commitOf(blobRepo)
    const moved = hub.advanceMain(blobRepo)
    const result = await run
    assert.equal(result.code, 0, result.stderr)
    assert.equal(JSON.parse(result.stdout.trim().split('\n').at(-1)!).commit, pinned)
    const resolves = hub.requests.filter((r) => r.path.includes('/resolve/'))
    assert.ok(resolves.length > 0 && resolves.every((r) => r.path.includes(`/resolve/${pinned}/`)), 'every file resolved at the pinned commit')
    assert.notEqual(moved, pinned)
    assert.ok(existsSync(repoCache(hubCache(), blobRepo).snapshot(pinned, bigPaths[0]!)))
  })

  test('the next command reads downloaded shards from the cache, also offline', async () => {
    const result = await runCli(['download', '--split', 'R2E_Gym', '--quiet'], env)
    assert.equal(result.code, 0, result.stderr)
    hub.clearLog()
    const inspect = await runCli(['inspect', '--split', 'R2E_Gym', '--rows', '3', '--json'], env)
    assert.equal(inspect.code, 0, inspect.stderr)
    assert.equal(inspect.stdout.trim().split('\n').length, 3)
    assert.equal(cdnRequests().length, 0, 'no shard bytes came from the network')
    const offline = await runCli(['inspect', '--split', 'R2E_Gym', '--rows', '3', '--json'], { ...env, HF_HUB_OFFLINE: '1', HF_ENDPOINT: 'http://127.0.0.1:9' })
    assert.equal(offline.code, 0, offline.stderr)
    assert.equal(offline.stdout, inspect.stdout)
    const notCached = await runCli(['inspect', '--split', 'SWE_Smith'], { ...env, HF_HUB_OFFLINE: '1' })
    assert.equal(notCached.code, ExitCode.failure)
    assert.match(notCached.stderr, /HF_HUB_OFFLINE is set and SWE_Smith of 'trajectories' is not in the cache .*choose cached splits \(R2E_Gym\)/)
  })

  test('a full disk ends with a clear message; the finished file stays, the partial one is kept for resume', async () => {
    // the cache lives on a 4 MB tmpfs in a private mount namespace: room for the 3 MB file, not the 2 MB one
    const cache = join(home.path, 'small-disk')
    await mkdir(cache)
    // first the shard that fits, then the whole split; then list what is on the small disk
    const script = 'mount -t tmpfs -o size=4m tmpfs "$0" && "$@" --shards 0 && "$@"; code=$?; cd "$0" && find . -type f -exec sha256sum {} + ; exit $code'
    const child = spawnCli(['download', '--repo', blobRepo, '--split', 'SWE_Smith', '--cache-dir', cache, '--quiet'], env, ['unshare', '-rm', 'sh', '-c', script, cache])
    const result = await finished(child)
    assert.equal(result.code, ExitCode.failure, result.stderr)
    assert.match(result.stderr, /^error: disk full while writing .*\.incomplete: free some space \(or use --local-dir \/ --cache-dir on another disk\), then rerun to resume\n$/)
    const files = new Map(result.stdout.trim().split('\n').map((line) => line.split(/\s+\.\//).reverse() as [string, string]))
    const blobs = `datasets--${blobRepo.replace('/', '--')}/blobs/`
    assert.equal(files.get(blobs + sha256(big[0]!)), sha256(big[0]!), 'the finished file is intact')
    assert.ok(!files.has(blobs + sha256(big[1]!)), 'the unfinished file has no final name')
    assert.ok(files.has(`${blobs}${sha256(big[1]!)}.incomplete.parts`), 'its resume state is kept')
    assert.deepEqual([...files.keys()].filter((path) => /\.(partial|tmp)$/.test(path)), [], 'no temporary file of the state writer is left')
  })

  test('an unwritable folder ends with a clear message and nothing written', async () => {
    const target = join(home.path, 'read-only')
    await mkdir(target)
    await chmod(target, 0o555)
    // in a user namespace without a mapping even root has no override of the permission bits
    const result = await finished(spawnCli(['download', '--repo', blobRepo, '--split', 'SWE_Smith', '--local-dir', target], env, ['unshare', '-U']))
    assert.equal(result.code, ExitCode.failure, result.stderr)
    assert.match(result.stderr, /error: permission denied writing .*read-only.*: choose a writable --local-dir \/ --cache-dir\n$/)
    assert.deepEqual(await readdir(target), [])
  })

  test('a gated repo asks for HF_TOKEN, exits with the auth code and writes nothing; a granted token downloads it', async () => {
    const refused = await runCli(['download', '--repo', gatedRepo, '--split', 'SWE_Smith'], env)
    assert.equal(refused.code, ExitCode.auth)
    assert.match(refused.stderr, /^error: dataset 'acme\/gated-shards' is gated: set HF_TOKEN to a token of an account that has accepted its conditions at .*\n$/)
    assert.ok(!existsSync(join(hubCache(), 'datasets--acme--gated-shards')), 'nothing was written')
    const granted = await runCli(['download', '--repo', gatedRepo, '--split', 'SWE_Smith', '--quiet'], { ...env, HF_TOKEN: 'hf_granted' })
    assert.equal(granted.code, 0, granted.stderr)
    assert.equal(sha256(await readFile(repoCache(hubCache(), gatedRepo).blob(sha256(big[0]!)))), sha256(big[0]!))
  })

  test('a selection without shards and a --local-dir that is a file are usage errors', async () => {
    const empty = await runCli(['download', '--split', 'SWE_Smith', '--include', '*-00999-*'], env)
    assert.equal(empty.code, ExitCode.usage)
    assert.equal(empty.stderr, 'error: the selection holds no shards (check --shards / --include)\n')
    const file = join(home.path, 'a-file')
    await writeFile(file, 'x')
    const notDir = await runCli(['download', '--split', 'SWE_Smith', '--local-dir', file], env)
    assert.equal(notDir.code, ExitCode.usage)
    assert.equal(notDir.stderr, `error: --local-dir ${file} is a file: give a folder (it is created if missing)\n`)
  })

  test('filtered_reward1 with the source splits warns about fetching rows twice', async () => {
    const result = await runCli(['download', '--split', 'all', '--dry-run'], env)
    assert.equal(result.code, 0, result.stderr)
    assert.match(result.stderr, /warning: filtered_reward1 repeats the reward == 1 rows/)
    assert.match(result.stdout, /would fetch/)
  })
})

describe('download progress on a terminal', () => {
  /** What the bars drew on a terminal of `rows` lines after these files started and some received bytes (once rendered). */
  async function draw(rows: number, started: string[], receiving: string[]): Promise<string> {
    let text = ''
    const tty = Object.assign(new Writable({ write(chunk: Buffer, _encoding, callback) { text += chunk.toString(); callback() } }), { isTTY: true, columns: 120, rows })
    const progress = transferProgress(createOutput({ stderr: tty, env: { NO_COLOR: '1' } }), { files: started.length, bytes: 100 * started.length, presentBytes: 0, presentFiles: 0, retries: () => 0 })
    for (const name of started) progress.onEvent({ type: 'file-start', name, size: 100, resumedBytes: 0 })
    for (const name of receiving) progress.onEvent({ type: 'bytes', name, bytes: 40 })
    await sleep(150) // a frame: stop() leaves the total line alone
    progress.stop()
    return text
  }
  const names = ['SWE_Smith-00000.parquet', 'SWE_Smith-00001.parquet', 'SWE_Smith-00002.parquet']

  test('a bar only for files receiving bytes, not for files waiting their turn', async () => {
    const text = await draw(24, names, [names[1]!])
    assert.match(text, /SWE_Smith-00001\.parquet +█+░+ 40 B \/ 100 B/)
    assert.doesNotMatch(text, /SWE_Smith-0000[02]/)
  })

  test('no more file bars than the terminal has room for', async () => {
    const text = await draw(6, names, names)
    assert.equal(names.filter((name) => text.includes(name)).length, 2)
  })
})

async function assertBlobs(): Promise<void> {
  const cache = repoCache(hubCache(), blobRepo)
  const commit = hub.commitOf(blobRepo)
  for (const [i, path] of bigPaths.entries()) {
    const bytes = await readFile(cache.snapshot(commit, path))
    assert.equal(sha256(bytes), sha256(big[i]!), `${path} is byte-exact`)
  }
}
