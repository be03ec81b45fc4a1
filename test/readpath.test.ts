import assert from 'node:assert/strict'
import { mkdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { beforeEach, describe, test } from 'node:test'
import { parquetWriteFile } from 'hyparquet-writer'
import { readManifest, repoDir } from '../fixtures/index.js'
import { createHub } from '../src/hub/client.js'
import { footerGuess, readFooter } from '../src/parquet/footer.js'
import { columnNames, readBatches, readPieces } from '../src/parquet/rows.js'
import { fileSource, withHeldBytes, type ByteSource } from '../src/parquet/source.js'
import { compilePredicate } from '../src/query/compile.js'
import { predicateFromFlags } from '../src/query/flags.js'
import { selectRows } from '../src/query/select.js'
import { closeSources, openSources, resolveSources } from '../src/sources.js'
import { runCli, tempDir } from './support/cli.js'
import { duck, sqlString } from './support/duckdb.js'
import { fixtureRepo, useFixtureHub } from './support/fixtureHub.js'
import type { RequestRecord } from './support/emulator/index.js'

const manifest = readManifest('tiny')
const tokenized = 'trajectories-tokenized_qwencoder'
const bigRepo = 'coderforge-test/big-chunks'
const bigRepoDir = await tempDir('coderforge-big-')
const bigFile = join(bigRepoDir.path, 'trajectories', 'SWE_Smith-00000-of-00001.parquet')
await writeBigChunkShard(bigFile)
const fixture = useFixtureHub([{ id: bigRepo, dir: bigRepoDir.path }])
beforeEach(() => {
  fixture.hub.clearLog()
  fixture.hub.clearFaults()
  fixture.hub.setBandwidth(undefined)
  fixture.hub.setLatency(0)
})

/** Byte ranges [start, end) that the CDN sent for each file. */
function servedRanges(requests: RequestRecord[]): Map<string, [number, number][]> {
  const byFile = new Map<string, [number, number][]>()
  for (const request of requests) {
    if (request.origin !== 'cdn' || !request.file || !request.range) continue
    const [, start] = /^bytes=(\d+)-/.exec(request.range)!
    const ranges = byFile.get(request.file) ?? []
    ranges.push([Number(start), Number(start) + request.bytesSent])
    byFile.set(request.file, ranges)
  }
  return byFile
}

function assertNoByteFetchedTwice(requests: RequestRecord[]): void {
  for (const [file, ranges] of servedRanges(requests)) {
    const sorted = ranges.sort((a, b) => a[0] - b[0])
    for (let i = 1; i < sorted.length; i++) {
      assert.ok(sorted[i]![0] >= sorted[i - 1]![1], `${file}: bytes ${sorted[i]![0]}-${sorted[i - 1]![1]} were fetched twice (${JSON.stringify(sorted)})`)
    }
  }
}

/** CDN requests beyond a shard's footer tail for more than a few KB: phase 2's column chunks (phase 1 reads reward, ~40 bytes). */
function largeColumnRequests(requests: RequestRecord[]): RequestRecord[] {
  return requests.filter((r) => {
    const file = manifest.files.find((f) => f.path === r.file)
    const [, start, end] = /^bytes=(\d+)-(\d+)/.exec(r.range ?? '') ?? []
    return r.origin === 'cdn' && file && start !== undefined && Number(start) !== Math.max(0, file.size - footerGuess) && Number(end) - Number(start) > 4096
  })
}

const cdnBytes = (requests: RequestRecord[]) => requests.filter((r) => r.origin === 'cdn').reduce((sum, r) => sum + r.bytesSent, 0)

describe('one read path for remote shards', () => {
  test('remote filter: no byte is fetched twice (footer tail, phase-1 columns), output equals the local run', async () => {
    const local = join(fixture.home, 'local.jsonl')
    const remote = join(fixture.home, 'remote.jsonl')
    const dir = join(repoDir('tiny'), tokenized)
    assert.equal((await runCli(['filter', join(dir, 'SWE_Smith-*.parquet'), '--reward', '1', '-o', local], fixture.env)).code, 0)
    const result = await runCli(['filter', '--config', 'tokenized', '--split', 'SWE_Smith', '--reward', '1', '-o', remote, '--json'], fixture.env)
    assert.equal(result.code, 0, result.stderr)
    assert.ok((await readFile(remote)).equals(await readFile(local)), 'byte-identical to the local run')
    assertNoByteFetchedTwice(fixture.hub.requests)
    const summary = JSON.parse(result.stdout)
    assert.equal(summary.bytes_fetched, cdnBytes(fixture.hub.requests))
    assert.ok(summary.bytes_fetched <= summary.bytes_total, `fetched ${summary.bytes_fetched} of ${summary.bytes_total}`)
  })

  test('remote stats: every shard read once, the same figures as from local files', async () => {
    const remote = await runCli(['stats', '--split', 'SWE_Rebench', '--json'], fixture.env)
    assert.equal(remote.code, 0, remote.stderr)
    assertNoByteFetchedTwice(fixture.hub.requests)
    const local = await runCli(['stats', join(repoDir('tiny'), 'trajectories', 'SWE_Rebench-*.parquet'), '--json'], fixture.env)
    assert.equal(local.code, 0, local.stderr)
    const figures = (text: string) => Object.values(JSON.parse(text).splits as Record<string, { rows: unknown }>).map((split) => split.rows)
    assert.deepEqual(figures(remote.stdout), figures(local.stdout))
  })

  test('a shard smaller than a round trip is worth comes whole with its footer; on a slow link only the tail', async () => {
    const split = manifest.files.filter((f) => f.config === 'trajectories' && f.split === 'SWE_Rebench')
    const cdnRequests = (file: string) => fixture.hub.requests.filter((r) => r.origin === 'cdn' && r.file?.endsWith(file)).length
    // 40 ms per answer on loopback: a round trip is worth more than any of these shards, once the first
    // footer (a 64 kB tail of the 635 kB shard 0) has measured the link
    fixture.hub.setLatency(40)
    const remote = await runCli(['stats', '--split', 'SWE_Rebench', '--json'], fixture.env)
    assert.equal(remote.code, 0, remote.stderr)
    assert.equal(cdnRequests(split[0]!.path), 2, 'the first shard: its footer tail, then its columns')
    for (const file of split.slice(1)) assert.equal(cdnRequests(file.path), 1, `${file.path}: one request for footer and columns`)
    assertNoByteFetchedTwice(fixture.hub.requests)
    const local = await runCli(['stats', join(repoDir('tiny'), 'trajectories', 'SWE_Rebench-*.parquet'), '--json'], fixture.env)
    const figures = (text: string) => Object.values(JSON.parse(text).splits as Record<string, { rows: unknown }>).map((split) => split.rows)
    assert.deepEqual(figures(remote.stdout), figures(local.stdout))

    // no latency and 100 kB/s a connection: a round trip is worth little, the shards are read in parts
    fixture.hub.clearLog()
    fixture.hub.setLatency(0)
    fixture.hub.setBandwidth(100_000)
    const slow = await runCli(['filter', '--split', 'SWE_Rebench', '--shards', '0', '--reward', '5', '-o', join(fixture.home, 'none.jsonl'), '--json'], fixture.env)
    assert.equal(slow.code, 0, slow.stderr)
    const summary = JSON.parse(slow.stdout)
    assert.equal(summary.rows_written, 0)
    assert.ok(summary.bytes_fetched < split[0]!.size / 4, `a filter matching nothing fetched ${summary.bytes_fetched} of ${split[0]!.size}`)
  })

  test('phase 2 fetches the next shards ahead while the current one is written, in shard order', async () => {
    const shards = manifest.files.filter((f) => f.config === tokenized && f.split === 'SWE_Smith')
    // shard 0 comes slowly (~1 s): the next shards' large columns must be asked for meanwhile
    fixture.hub.fault({ target: 'cdn', file: shards[0]!.path, kind: 'trickle', bytesPerSecond: 256 * 1024, times: 100 })
    const hub = createHub({ endpoint: fixture.hub.endpoint, env: {} })
    try {
      const set = await resolveSources(hub, { repo: fixtureRepo, config: tokenized, splits: ['SWE_Smith'] })
      const opened = openSources(set.sources)
      const seenAtFirstMatch: string[] = []
      const order: string[] = []
      await selectRows(opened, {
        predicate: compilePredicate(predicateFromFlags({ reward: '1' })),
        async onMatch({ source }) {
          if (order.length === 0) {
            seenAtFirstMatch.push(...largeColumnRequests(fixture.hub.requests).map((r) => r.file!))
          }
          order.push(source.ref.name)
        },
      })
      await closeSources(opened)
      assert.deepEqual([...new Set(order)], shards.map((s) => s.path), 'matches arrive in shard order')
      assert.deepEqual([...new Set(seenAtFirstMatch)].sort(), shards.map((s) => s.path).sort(), 'every shard\'s phase 2 was under way before the first was written')
    } finally {
      await hub.http.close()
    }
  })

  test('with no room in the memory budget nothing is fetched ahead, and the output is the same', async () => {
    const shards = manifest.files.filter((f) => f.config === tokenized && f.split === 'SWE_Smith')
    fixture.hub.fault({ target: 'cdn', file: shards[0]!.path, kind: 'trickle', bytesPerSecond: 512 * 1024, times: 100 })
    const hub = createHub({ endpoint: fixture.hub.endpoint, env: {} })
    try {
      const set = await resolveSources(hub, { repo: fixtureRepo, config: tokenized, splits: ['SWE_Smith'], holdBytes: 0 })
      const opened = openSources(set.sources)
      let seenAtFirstMatch: string[] | undefined
      await selectRows(opened, {
        predicate: compilePredicate(predicateFromFlags({ reward: '1' })),
        async onMatch() {
          seenAtFirstMatch ??= [...new Set(largeColumnRequests(fixture.hub.requests).map((r) => r.file!))]
        },
      })
      await closeSources(opened)
      assert.deepEqual(seenAtFirstMatch, [shards[0]!.path], 'only the shard being read was fetched')
    } finally {
      await hub.http.close()
    }
  })

  test('remote export reads the split as one selection: shards fetched ahead, none twice, the same bytes on 1 or 2 threads', async () => {
    const shards = manifest.files.filter((f) => f.config === tokenized && f.split === 'SWE_Smith')
    const outputs: Record<string, Buffer[]> = {}
    for (const format of ['jsonl', 'parquet']) {
      for (const threads of ['1', '2']) {
        fixture.hub.clearLog()
        const out = join(fixture.home, `export-${format}-${threads}`)
        const result = await runCli(['export', '--config', 'tokenized', '--split', 'SWE_Smith', '--reward', '1', '--format', format,
          '--threads', threads, '--out', out, '--json'], fixture.env)
        assert.equal(result.code, 0, result.stderr)
        assertNoByteFetchedTwice(fixture.hub.requests)
        assert.equal(JSON.parse(result.stdout).bytes_fetched, cdnBytes(fixture.hub.requests))
        const files = shards.map((shard) => join(out, shard.path.replace('.parquet', `.${format}`)))
        outputs[`${format}-${threads}`] = await Promise.all(files.map((file) => readFile(file)))
      }
      assert.deepEqual(outputs[`${format}-2`], outputs[`${format}-1`], `${format}: --threads 2 writes what --threads 1 writes`)
    }
    const expected = await duck(`SELECT count(*) AS n FROM read_parquet(${sqlString(join(repoDir('tiny'), tokenized, 'SWE_Smith-*.parquet'))}) WHERE reward = 1`)
    const lines = outputs['jsonl-1']!.reduce((sum, file) => sum + file.toString().split('\n').filter(Boolean).length, 0)
    assert.equal(lines, Number(expected[0]!.n))
  })

  test('export: a shard\'s files are complete as soon as its rows are, while a later shard is still coming', async () => {
    const shards = manifest.files.filter((f) => f.config === 'trajectories' && f.split === 'SWE_Smith')
    fixture.hub.fault({ target: 'cdn', file: shards.at(-1)!.path, kind: 'trickle', bytesPerSecond: 4000 })
    const out = join(fixture.home, 'export-early')
    const first = join(out, shards[0]!.path.replace('.parquet', '.jsonl'))
    let firstSeenWhileRunning = false
    const running = runCli(['export', '--split', 'SWE_Smith', '--format', 'jsonl', '--out', out], fixture.env)
    const finished = running.then(() => true)
    while (!(await Promise.race([finished, new Promise<false>((resolve) => setTimeout(() => resolve(false), 20))]))) {
      if (await readFile(first).then(() => true, () => false)) firstSeenWhileRunning = true
      if (firstSeenWhileRunning) break
    }
    assert.equal((await running).code, 0)
    assert.ok(firstSeenWhileRunning, 'the first shard was written before the last one arrived')
  })

  test('a large column chunk is fetched as parallel range parts, each byte once', async () => {
    const out = join(fixture.home, 'big.jsonl')
    const result = await runCli(['filter', '--repo', bigRepo, '--split', 'SWE_Smith', '--reward', '1', '-o', out], fixture.env)
    assert.equal(result.code, 0, result.stderr)
    const parts = fixture.hub.requests.filter((r) => r.origin === 'cdn' && r.bytesSent >= 512 * 1024)
    assert.ok(parts.length >= 4, `the chunk came in ${parts.length} parts`)
    assertNoByteFetchedTwice(fixture.hub.requests)
    const expected = await duck(`SELECT trajectory_id, length(messages) AS n FROM read_parquet(${sqlString(bigFile)}) WHERE reward = 1`)
    const rows = (await readFile(out, 'utf8')).trim().split('\n').map((line) => JSON.parse(line) as { trajectory_id: string, messages: string })
    assert.deepEqual(rows.map((row) => ({ trajectory_id: row.trajectory_id, n: String(row.messages.length) })), expected)

    // read in slices (a 4 MB budget): the slices share one fetch of the group, though a page may hold rows of two
    fixture.hub.clearLog()
    const sliced = join(fixture.home, 'big-sliced.jsonl')
    const again = await runCli(['filter', '--repo', bigRepo, '--split', 'SWE_Smith', '--reward', '1', '-o', sliced, '--memory', '4MB', '--threads', '2', '--json'], fixture.env)
    assert.equal(again.code, 0, again.stderr)
    assertNoByteFetchedTwice(fixture.hub.requests)
    assert.ok(JSON.parse(again.stdout).row_groups_read > 1, 'the row group was read in slices')
    assert.ok((await readFile(sliced)).equals(await readFile(out)), 'the same bytes as one piece')
  })

  test('a whole row group goes to the decoder in the buffers it was read into (uncopied), each chunk byte once', async () => {
    const path = join(repoDir('tiny'), manifest.files.find((f) => f.config === 'trajectories')!.path)
    // as a run reads: the footer's tail held, and phase 1's small columns kept for phase 2, or neither
    for (const asARun of [false, true]) {
      const file = await fileSource(path)
      const reads: ArrayBuffer[] = []
      const counted: ByteSource = { ...file, slice: async (start, end) => { const bytes = await file.slice(start, end); reads.push(bytes); return bytes } }
      const source = withHeldBytes(counted)
      const metadata = await readFooter(asARun ? source : counted)
      const columns = columnNames(metadata)
      if (asARun) for await (const batch of readBatches(source, metadata, { columns: ['reward', 'trajectory_id'], keepBytes: true })) assert.ok(batch.numRows > 0)
      let pieces = 0
      for await (const piece of readPieces(source, metadata, { columns })) {
        pieces++
        assert.equal(piece.piece.sliced, false)
        const group = metadata.row_groups[piece.piece.rowGroup]!
        const chunkBytes = group.columns.reduce((sum, chunk) => sum + Number(chunk.meta_data!.total_compressed_size), 0)
        assert.equal(piece.spans.reduce((sum, span) => sum + span.bytes.byteLength, 0), chunkBytes, 'each chunk byte once')
        // the large chunk (messages) lies in a buffer the file was read into; only small bits around held spans are copied
        const largest = piece.spans.reduce((a, b) => (a.bytes.byteLength > b.bytes.byteLength ? a : b))
        assert.ok(reads.includes(largest.bytes), `the largest span is a read buffer, not a copy (${largest.bytes.byteLength} bytes)`)
        if (!asARun) for (const span of piece.spans) assert.ok(reads.includes(span.bytes), 'nothing held before: every span as read')
        const copied = piece.spans.filter((span) => !reads.includes(span.bytes)).reduce((sum, span) => sum + span.bytes.byteLength, 0)
        assert.ok(copied <= 64 * 1024, `copied ${copied} bytes`)
      }
      assert.ok(pieces > 0)
      await file.close()
    }
  })
})

/** A shard with one ~4.5 MB messages chunk (3 rows of incompressible text). */
async function writeBigChunkShard(path: string): Promise<void> {
  const text = (seed: number) => Array.from({ length: 150_000 }, (_, i) => ((i * 2654435761 + seed) >>> 0).toString(36).padStart(10, '0').slice(0, 10)).join('')
  await mkdir(join(path, '..'), { recursive: true })
  parquetWriteFile({
    filename: path,
    columnData: [
      { name: 'trajectory_id', data: ['a_run1', 'b_run1', 'c_run1'], type: 'STRING' },
      { name: 'messages', data: [text(1), text(2), text(3)], type: 'STRING' },
      { name: 'reward', data: [1, 0, 1], type: 'DOUBLE' },
    ],
    codec: 'UNCOMPRESSED',
  })
}
