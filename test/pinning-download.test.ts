import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdir, open, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { after, before, beforeEach, describe, test } from 'node:test'
import { startHub, type HubEmulator } from './support/emulator/index.js'
import { isolatedEnv, runCli, tempDir } from './support/cli.js'

const repo = 'acme/pinned-shards'
const paths = ['trajectories/SWE_Smith-00000-of-00003.parquet', 'trajectories/SWE_Smith-00001-of-00003.parquet', 'trajectories/SWE_Smith-00002-of-00003.parquet']
const bodies = [randomBytes(700_000 + 3), randomBytes(500_000 + 1), randomBytes(300_000 + 9)]
const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex')

let hub: HubEmulator
let blobs: { path: string, cleanup: () => Promise<void> }
let home: { path: string, cleanup: () => Promise<void> }
let env: NodeJS.ProcessEnv

before(async () => {
  blobs = await tempDir()
  await mkdir(join(blobs.path, 'trajectories'), { recursive: true })
  await Promise.all(paths.map((path, i) => writeFile(join(blobs.path, path), bodies[i]!)))
  hub = await startHub({ repos: [{ id: repo, dir: blobs.path }] })
})
after(async () => {
  await hub.close()
  await blobs.cleanup()
})
beforeEach(async () => {
  hub.clearLog()
  hub.clearFaults()
  home = await tempDir()
  env = isolatedEnv(home.path, { HF_ENDPOINT: hub.endpoint })
})

const download = (args: string[], environment = env) => runCli(['download', '--repo', repo, '--split', 'SWE_Smith', ...args], environment)
const cdnBytes = (path: string) => hub.requests.filter((r) => r.origin === 'cdn' && r.file === path).reduce((sum, r) => sum + r.bytesSent, 0)
const events = (stdout: string) => stdout.trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>)

describe('a corrupted transfer is downloaded again exactly once', () => {
  test('one bad transfer: one verify failure, the file fetched twice and counted twice', async () => {
    hub.fault({ target: 'cdn', file: paths[1], kind: 'corrupt' })
    const result = await download(['--shards', '1', '--json'])
    assert.equal(result.code, 0, result.stderr)
    const lines = events(result.stdout)
    assert.deepEqual(lines.filter((e) => e.event === 'file-verify-failed').map((e) => e.name), [paths[1]])
    assert.equal(cdnBytes(paths[1]!), 2 * bodies[1]!.length)
    const summary = lines.at(-1)!
    assert.equal(summary.event, 'summary')
    assert.equal(summary.downloaded, 1)
    assert.equal(summary.bytes_fetched, 2 * bodies[1]!.length)
  })

  test('a mismatch every time: two transfers, not three, then an error', async () => {
    hub.fault({ target: 'cdn', file: paths[2], kind: 'corrupt', times: Infinity })
    const result = await download(['--shards', '2'])
    assert.equal(result.code, 1)
    assert.equal(cdnBytes(paths[2]!), 2 * bodies[2]!.length)
  })
})

describe('--local-dir completeness', () => {
  async function corruptInPlace(file: string, at: number): Promise<void> {
    const handle = await open(file, 'r+')
    const byte = Buffer.alloc(1)
    await handle.read(byte, 0, 1, at)
    byte[0] = byte[0]! ^ 0xff
    await handle.write(byte, 0, 1, at)
    await handle.close()
  }

  for (const [label, prepare] of [
    ['changed after its metadata was written', async (file: string) => {
      const { mtime } = await stat(file)
      await utimes(file, new Date(), new Date(mtime.getTime() + 5000))
    }],
    // (corrupted before `prepare`: a fraction of a second later, as a disk or a careless tool may)
    ['changed within a second of its download', async () => {}],
    ['without hf\'s metadata', async (_file: string, metadata: string) => rm(metadata)],
  ] as const) {
    test(`a file of the right size but wrong content (${label}) is downloaded again`, async () => {
      const dir = join(home.path, 'local')
      const first = await download(['--shards', '0', '--local-dir', dir])
      assert.equal(first.code, 0, first.stderr)
      const file = join(dir, paths[0]!)
      const metadata = join(dir, '.cache', 'huggingface', 'download', `${paths[0]}.metadata`)
      assert.ok(existsSync(metadata), 'hf\'s metadata is written')
      // file times come from the kernel's coarse clock (a few ms behind): change it clearly later
      await sleep(200)
      await corruptInPlace(file, 123_456)
      await prepare(file, metadata)
      hub.clearLog()
      const dry = await download(['--shards', '0', '--local-dir', dir, '--dry-run', '--json'])
      assert.equal(dry.code, 0, dry.stderr)
      assert.notEqual(JSON.parse(dry.stdout).files[0].state, 'complete', 'the corrupted file is not reported complete')
      const second = await download(['--shards', '0', '--local-dir', dir, '--json'])
      assert.equal(second.code, 0, second.stderr)
      assert.equal(sha256(await readFile(file)), sha256(bodies[0]!))
      assert.equal(events(second.stdout).at(-1)!.downloaded, 1)
      // and a good file is then trusted again without fetching
      hub.clearLog()
      const third = await download(['--shards', '0', '--local-dir', dir, '--json'])
      assert.equal(third.code, 0, third.stderr)
      assert.equal(events(third.stdout).at(-1)!.downloaded, 0)
      assert.equal(cdnBytes(paths[0]!), 0)
    })
  }
})
