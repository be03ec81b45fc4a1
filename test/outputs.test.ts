import assert from 'node:assert/strict'
import { chmod, mkdir, readdir, readFile, writeFile } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { beforeEach, describe, test } from 'node:test'
import { parquetMetadata } from 'hyparquet'
import { repoDir } from '../fixtures/index.js'
import { ExitCode } from '../src/errors.js'
import { writeFileAtomic } from '../src/sinks/atomicFile.js'
import { useFixtureHub } from './support/fixtureHub.js'
import { finished, runCli, spawnCli, tempDir } from './support/cli.js'
import { duck, sqlString } from './support/duckdb.js'

const fixture = useFixtureHub()
const shard = join(repoDir('tiny'), 'trajectories', 'SWE_Smith-00000-of-00003.parquet')
beforeEach(() => {
  fixture.hub.clearFaults()
  fixture.hub.setBandwidth(undefined)
})

/** A process id that is certainly not running: a child that has already exited. */
async function deadPid(): Promise<number> {
  const child = spawnCli(['--version'], fixture.env)
  await finished(child, 30_000)
  return child.pid!
}

/** Run the CLI inside `sh -c` on a 32 kB tmpfs mounted at `dir` (a private mount namespace), then list what the disk holds. */
function onSmallDisk(dir: string, args: string[]) {
  const script = 'mount -t tmpfs -o size=32k tmpfs "$0" && "$@"; code=$?; cd "$0" && find . -mindepth 1 | sort; exit $code'
  return finished(spawnCli(args, fixture.env, ['unshare', '-rm', 'sh', '-c', script, dir]), 60_000)
}

describe('output faults get one line naming the output and the fix, and leave nothing behind', () => {
  test('a full disk: filter to JSONL and Parquet, export to a folder', async () => {
    const disk = join(fixture.home, 'small-disk')
    await mkdir(disk)
    for (const [args, output] of [
      [['filter', shard, '-o', join(disk, 'out.jsonl'), '--quiet'], join(disk, 'out.jsonl')],
      [['filter', shard, '-o', join(disk, 'out.parquet'), '--quiet'], join(disk, 'out.parquet')],
      [['filter', '--split', 'SWE_Smith', '-o', join(disk, 'out.jsonl.gz'), '--quiet'], join(disk, 'out.jsonl.gz')],
      [['export', shard, '--format', 'jsonl', '--out', join(disk, 'sub', 'folder'), '--quiet'], join(disk, 'sub', 'folder', 'SWE_Smith-00000-of-00003.jsonl')],
    ] as const) {
      const result = await onSmallDisk(disk, [...args])
      assert.equal(result.code, ExitCode.failure, result.stderr)
      assert.equal(result.stderr, `error: disk full while writing ${output}: free some space or write to another disk, then run again\n`)
      assert.equal(result.stdout, '', `nothing is left on the disk, not even an empty folder: ${result.stdout}`)
    }
  })

  test('an unwritable folder', async () => {
    const locked = join(fixture.home, 'locked')
    await mkdir(locked)
    await chmod(locked, 0o555)
    // in a user namespace without a mapping even root has no override of the permission bits
    const filter = await finished(spawnCli(['filter', shard, '-o', join(locked, 'out.jsonl')], fixture.env, ['unshare', '-U']))
    assert.equal(filter.code, ExitCode.failure, filter.stderr)
    assert.equal(filter.stderr, `error: permission denied writing ${join(locked, 'out.jsonl')}: choose a folder you can write to\n`)
    const exported = await finished(spawnCli(['export', shard, '--out', join(locked, 'e'), '--quiet'], fixture.env, ['unshare', '-U']))
    assert.equal(exported.code, ExitCode.failure, exported.stderr)
    assert.match(exported.stderr, /^error: permission denied writing .*locked\/e\/SWE_Smith-00000-of-00003\.parquet: choose a folder you can write to\n$/)
    assert.deepEqual(await readdir(locked), [])
  })

  test('an output that is a folder, or under a file, is a usage error', async () => {
    const folder = join(fixture.home, 'a-folder')
    await mkdir(folder, { recursive: true })
    const isFolder = await runCli(['filter', shard, '-o', folder, '--format', 'jsonl'], fixture.env)
    assert.equal(isFolder.code, ExitCode.usage, isFolder.stderr)
    assert.equal(isFolder.stderr, `error: ${folder} is a folder: give a file name, e.g. ${join(folder, 'out.jsonl')}\n`)
    const file = join(fixture.home, 'a-file')
    await writeFile(file, 'x')
    const underFile = await runCli(['filter', shard, '-o', join(file, 'out.jsonl')], fixture.env)
    assert.equal(underFile.code, ExitCode.usage, underFile.stderr)
    assert.equal(underFile.stderr, `error: cannot create the folder for ${join(file, 'out.jsonl')}: ${file} is a file\n`)
    const exportUnderFile = await runCli(['export', shard, '--out', join(file, 'e')], fixture.env)
    assert.equal(exportUnderFile.code, ExitCode.usage, exportUnderFile.stderr)
    assert.match(exportUnderFile.stderr, /^error: cannot create the folder for .*a-file\/e\/SWE_Smith-00000-of-00003\.parquet: .*a-file is a file\n$/)
  })

  test('a failed export removes the folders it created and wrote nothing into', async () => {
    // a shard whose last row group's messages are garbage: the first rows are written, then the read fails
    const bytes = await readFile(shard)
    const metadata = parquetMetadata(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength))
    const chunk = metadata.row_groups.at(-1)!.columns.find((column) => column.meta_data!.path_in_schema[0] === 'messages')!.meta_data!
    const start = Number(chunk.data_page_offset)
    bytes.fill(0xff, start, start + Number(chunk.total_compressed_size))
    const broken = join(fixture.home, 'broken', 'SWE_Smith-00000-of-00003.parquet')
    await mkdir(join(fixture.home, 'broken'), { recursive: true })
    await writeFile(broken, bytes)
    const target = join(fixture.home, 'failed-export', 'deep')
    const result = await runCli(['export', broken, '--format', 'jsonl', '--out', target], fixture.env)
    assert.equal(result.code, ExitCode.failure, result.stderr)
    assert.equal(existsSync(join(fixture.home, 'failed-export')), false, 'no empty folder is left')
  })

  test('a filter killed with -9 leaves a temporary file that the next run removes', async () => {
    const dir = (await tempDir()).path
    const output = join(dir, 'out.jsonl')
    fixture.hub.setBandwidth(60_000)
    const child = spawnCli(['filter', '--split', 'SWE_Smith', '-o', output, '--quiet'], fixture.env)
    let names: string[] = []
    for (let i = 0; i < 600 && names.length === 0; i++) {
      await sleep(20)
      names = await readdir(dir)
    }
    assert.equal(names.length, 1, 'the filter started writing')
    assert.match(names[0]!, new RegExp(`^\\.out\\.jsonl\\.${child.pid}\\.\\d+\\.partial$`))
    child.kill('SIGKILL')
    const killed = await finished(child, 10_000)
    assert.notEqual(killed.code, 0)
    assert.deepEqual(await readdir(dir), names, 'kill -9 leaves the temporary file')

    fixture.hub.setBandwidth(undefined)
    // temporaries of a dead process, also as earlier versions named them, go; a live process's stay
    const dead = await deadPid()
    const live = `.out.jsonl.${process.ppid}.1.partial`
    await writeFile(join(dir, `.out.jsonl.${dead}.partial`), 'old')
    await writeFile(join(dir, live), 'in use')
    const rerun = await runCli(['filter', '--split', 'SWE_Smith', '-o', output, '--quiet'], fixture.env)
    assert.equal(rerun.code, 0, rerun.stderr)
    assert.deepEqual((await readdir(dir)).sort(), [live, 'out.jsonl'])
  })

  test('small atomic files (cache refs, resume state) clean what a dead writer left', async () => {
    const dir = (await tempDir()).path
    const dead = await deadPid()
    await writeFile(join(dir, `main.${dead}.3.tmp`), '')
    await writeFile(join(dir, `.main.${dead}.4.partial`), '')
    await writeFile(join(dir, `other.${dead}.1.tmp`), 'not ours to judge')
    await writeFileAtomic(join(dir, 'main'), 'abc')
    assert.equal(await readFile(join(dir, 'main'), 'utf8'), 'abc')
    assert.deepEqual((await readdir(dir)).sort(), ['main', `other.${dead}.1.tmp`])
  })
})

describe('outputs that other tools read back as the source meant them', () => {
  test('JSONL writes float columns as floats (1.0), by the Parquet type, the same on the main thread and on workers', async () => {
    const dir = (await tempDir()).path
    const source = join(dir, 'half.parquet')
    // reward 1.0, 0.0, -1.0 … and one 0.5 after them: a reader inferring from the first rows must already see floats
    await duck(`COPY (SELECT * REPLACE (CASE WHEN row_number() OVER () = 7 THEN 0.5 ELSE reward END AS reward) FROM read_parquet(${sqlString(shard)})) TO ${sqlString(source)} (FORMAT parquet)`)
    const outputs: string[] = []
    for (const args of [[], ['--threads', '1', '--min-turns', '0'], ['--threads', '2', '--min-turns', '0']]) {
      const output = join(dir, `out${outputs.length}.jsonl`)
      const result = await runCli(['filter', source, '-o', output, '--quiet', ...args], fixture.env)
      assert.equal(result.code, 0, result.stderr)
      outputs.push(await readFile(output, 'utf8'))
    }
    assert.equal(outputs[1], outputs[0], 'main thread and workers write the same bytes')
    assert.equal(outputs[2], outputs[0], 'main thread and workers write the same bytes')
    const rewards = outputs[0]!.trim().split('\n').map((line) => /"reward":([^,}]*)/.exec(line)![1]!)
    assert.ok(rewards.length > 6 && rewards.every((text) => /^-?\d+\.\d+$/.test(text)), rewards.join(' '))
    // export encodes on the decoding threads too
    for (const threads of ['1', '2']) {
      const folder = join(dir, `export-${threads}`)
      const result = await runCli(['export', source, '--format', 'jsonl', '--out', folder, '--threads', threads, '--quiet'], fixture.env)
      assert.equal(result.code, 0, result.stderr)
      assert.equal(await readFile(join(folder, 'half.jsonl'), 'utf8'), outputs[0], `export on ${threads} thread(s) writes what filter writes`)
    }
    const read = await duck(`SELECT typeof(reward) AS type, sum(reward) AS total FROM read_json(${sqlString(join(dir, 'out0.jsonl'))}, sample_size = 1) GROUP BY 1`)
    const expected = await duck(`SELECT sum(reward) AS total FROM read_parquet(${sqlString(source)})`)
    assert.deepEqual(read, [{ type: 'DOUBLE', total: expected[0]!.total }])
  })

  test('Parquet drops content_defined_chunking and keeps the huggingface features of the columns written', async () => {
    const dir = (await tempDir()).path
    const kv = async (path: string) => Object.fromEntries((await duck(`SELECT decode(key) AS key, decode(value) AS value FROM parquet_kv_metadata(${sqlString(path)})`))
      .map((row) => [row.key as string, row.value as string]))
    const before = await kv(shard)
    assert.ok(before.content_defined_chunking, 'the source has the key')
    for (const [args, columns] of [
      [['filter', shard, '--columns', 'trajectory_id,reward', '-o', join(dir, 'some.parquet')], ['trajectory_id', 'reward']],
      [['export', shard, '--format', 'parquet', '--out', join(dir, 'all')], Object.keys(JSON.parse(before.huggingface!).info.features)],
    ] as [string[], string[]][]) {
      const result = await runCli([...args, '--quiet'], fixture.env)
      assert.equal(result.code, 0, result.stderr)
      const written = args[0] === 'filter' ? join(dir, 'some.parquet') : join(dir, 'all', 'SWE_Smith-00000-of-00003.parquet')
      const after = await kv(written)
      assert.equal(after.content_defined_chunking, undefined)
      assert.deepEqual(Object.keys(JSON.parse(after.huggingface!).info.features), columns)
      const sourceFeatures = JSON.parse(before.huggingface!).info.features
      for (const column of columns) assert.deepEqual(JSON.parse(after.huggingface!).info.features[column], sourceFeatures[column])
    }
  })
})
