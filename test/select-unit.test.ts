import assert from 'node:assert/strict'
import { statSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { test } from 'node:test'
import { isMainThread } from 'node:worker_threads'
import { CoderforgeError, UsageError } from '../src/errors.js'
import { memoryBudget } from '../src/fetch/budget.js'
import { readFooter } from '../src/parquet/footer.js'
import { cellAt } from '../src/parquet/intList.js'
import { chunkRanges, columnNames, readPieces, type PieceBytes } from '../src/parquet/rows.js'
import { fileSource, withHeldBytes, type ByteSource } from '../src/parquet/source.js'
import { compilePredicate } from '../src/query/compile.js'
import { decodePool } from '../src/query/decodePool.js'
import { runDecodeTask, type DecodeTask } from '../src/query/decodeTask.js'
import { parseWhere } from '../src/query/parse.js'
import { sampleRank } from '../src/query/sample.js'
import { selectRows, writeMatch, type FileDone, type Match, type SelectOptions, type SelectProgress, type SelectReport } from '../src/query/select.js'
import type { ConvertSpec } from '../src/sft/convert.js'
import { encodeJsonlRows, jsonlEncoding, type EncodedRows } from '../src/sinks/jsonl.js'
import { openSink } from '../src/sinks/output.js'
import { giveSpares, takeAllSpares } from '../src/sinks/spareChunks.js'
import { closeSources, openSources, type OpenedSource, type SourceRef } from '../src/sources.js'
import { duck, sqlString } from './support/duckdb.js'

const dir = 'fixtures/data/tiny/repo/trajectories'
const paths = ['R2E_Gym-00000-of-00003.parquet', 'R2E_Gym-00001-of-00003.parquet'].map((name) => `${dir}/${name}`)
/** Three files of three row groups each (3, 3, 2 rows), with statistics. */
const smith = [0, 1, 2].map((shard) => `${dir}/SWE_Smith-0000${shard}-of-00003.parquet`)
/** One row group of 8 rows, its messages chunk (~630 KB) well before the footer's tail. */
const rebench = `${dir}/SWE_Rebench-00000-of-00003.parquet`
const sizeOf = (path: string) => statSync(path, { throwIfNoEntry: false })?.size ?? 0
const refsOf = (files: string[], open: (path: string) => Promise<ByteSource> = fileSource, origin: SourceRef['origin'] = 'local'): SourceRef[] =>
  files.map((path) => ({ name: path, origin, size: sizeOf(path), open: () => open(path) }))
const refs = refsOf(paths)
const predicate = (where: string) => compilePredicate(parseWhere(where))
const idOf = (match: Match, row: number) => String(cellAt(match.batch!.columns.trajectory_id, row))
const convertSpec: ConvertSpec = { format: 'openai', arguments: 'object', think: 'keep', overBudget: 'drop' }
const text = (encoded: EncodedRows | undefined) => (encoded?.chunks ?? []).map((chunk) => Buffer.from(chunk).toString()).join('')

interface Run {
  ids: string[]
  report: SelectReport
  matches: Match[]
  files: FileDone[]
  progress: SelectProgress[]
  /** Each match's encoded lines, copied as delivered (the chunks are filled again afterwards). */
  lines: string[]
}

/** selectRows over `files` (trajectory_id out, unless `columns` says), everything it reports collected. */
async function run(where: string, files = paths, extra: Partial<SelectOptions> = {}, sourceRefs = refsOf(files)): Promise<Run> {
  const opened = openSources(sourceRefs)
  const result: Omit<Run, 'report'> = { ids: [], matches: [], files: [], progress: [], lines: [] }
  try {
    const report = await selectRows(opened, {
      predicate: predicate(where), columns: ['trajectory_id'], ...extra,
      onMatch: async (match) => {
        result.matches.push(match)
        if (match.batch) for (const row of match.rows) result.ids.push(idOf(match, row))
        if (match.encoded) result.lines.push(match.encoded.chunks.map((chunk) => Buffer.from(chunk).toString()).join(''))
      },
      onFile: (file) => { result.files.push(file) },
      onProgress: (progress) => { result.progress.push(progress) },
    })
    return { ...result, report }
  } finally { await closeSources(opened) }
}

async function select(where: string, extra: { limit?: number } = {}) {
  const { ids, report } = await run(where, paths, extra)
  return { ids, report }
}

/** DuckDB's rows of `files` where `where` holds, in file then row order. */
async function duckRows(where: string, files = paths, columns = 'trajectory_id'): Promise<Record<string, unknown>[]> {
  return duck(`select ${columns} from read_parquet([${files.map(sqlString).join(', ')}], file_row_number = true, filename = true) where ${where} order by filename, file_row_number`)
}

async function expected(where: string, files = paths): Promise<string[]> {
  return (await duckRows(where, files)).map((row) => String(row.trajectory_id))
}

/** Per row group of each file: rows and compressed bytes (DuckDB's reading of the footers). */
async function rowGroups(files: string[]): Promise<{ file: string, group: number, rows: number, bytes: number }[]> {
  const rows = await duck(`select file_name, row_group_id, any_value(row_group_num_rows) as num_rows, sum(total_compressed_size) as bytes
    from parquet_metadata([${files.map(sqlString).join(', ')}]) group by all order by file_name, row_group_id`)
  return rows.map((row) => ({ file: String(row.file_name), group: Number(row.row_group_id), rows: Number(row.num_rows), bytes: Number(row.bytes) }))
}

test('selectRows keeps the rows a phase-1 predicate matches, in shard then row order', async () => {
  const { ids, report } = await select('reward = 1')
  const want = await expected('reward = 1')
  assert.ok(want.length > 0)
  assert.deepEqual(ids, want)
  assert.equal(report.files, 2)
  assert.equal(report.rowsWritten, ids.length)
})

test('limit stops at exactly N rows', async () => {
  const { ids, report } = await select('reward >= 0', { limit: 3 })
  assert.deepEqual(ids, (await expected('reward >= 0')).slice(0, 3))
  assert.equal(report.rowsWritten, 3)
})

test('the report counts row groups skipped by statistics, scanned and read; onFile reports each file in order', async () => {
  // license ranges by row group: file 0 Apache, Apache–BSD, BSD; file 1 ISC, ISC–MIT, MIT; file 2 MIT throughout
  const { ids, report, files, matches } = await run(`license = 'ISC'`, smith)
  const want = await expected(`license = 'ISC'`, smith)
  assert.ok(want.length > 0)
  assert.deepEqual(ids, want)
  assert.deepEqual(report, { files: 3, rowGroups: 9, rowGroupsSkipped: 7, rowGroupsRead: matches.length, rowsScanned: 6, rowsWritten: want.length })
  assert.ok(matches.every((match) => match.rows.length > 0 && match.source.ref.name === smith[1]))
  assert.deepEqual(files.map(({ source, rowsScanned, rowsWritten, done, total }) => ({ name: source.ref.name, rowsScanned, rowsWritten, done, total })), [
    { name: smith[0], rowsScanned: 0, rowsWritten: 0, done: 1, total: 3 },
    { name: smith[1], rowsScanned: 6, rowsWritten: want.length, done: 2, total: 3 },
    { name: smith[2], rowsScanned: 0, rowsWritten: 0, done: 3, total: 3 },
  ])
})

test('a predicate no row group can satisfy skips them all by statistics: nothing is read, progress still reaches the files\' sizes', async () => {
  const { report, matches, files, progress } = await run('reward > 5', smith)
  assert.deepEqual(report, { files: 3, rowGroups: 9, rowGroupsSkipped: 9, rowGroupsRead: 0, rowsScanned: 0, rowsWritten: 0 })
  assert.deepEqual(matches, [])
  assert.deepEqual(files.map((file) => file.done), [1, 2, 3])
  assert.deepEqual(progress.map((p) => p.bytes), [sizeOf(smith[0]!), sizeOf(smith[0]!) + sizeOf(smith[1]!), smith.reduce((sum, path) => sum + sizeOf(path), 0)])
  // statistics cannot rule out reward = 0.5 where rewards span -1…1, but no row holds it: those row groups are scanned, none read
  const half = await run('reward = 0.5', smith)
  const groups = await duck(`select row_group_num_rows as n, stats_min_value = stats_max_value as single from parquet_metadata([${smith.map(sqlString).join(', ')}]) where path_in_schema = 'reward'`)
  const kept = groups.filter((group) => !group.single)
  assert.ok(kept.length > 0 && kept.length < 9)
  assert.deepEqual(half.report, { files: 3, rowGroups: 9, rowGroupsSkipped: 9 - kept.length, rowGroupsRead: 0, rowsScanned: kept.reduce((sum, group) => sum + Number(group.n), 0), rowsWritten: 0 })
  assert.deepEqual(half.matches, [])
})

test('without phase-1 columns every row group goes to phase 2, which is the scan; progress adds each row group\'s bytes, then the rest of the file', async () => {
  const { ids, report, matches, progress, files } = await run('true', [smith[0]!], { columns: ['trajectory_id', 'reward'] })
  assert.deepEqual(ids, await expected('true', [smith[0]!]))
  assert.deepEqual(report, { files: 1, rowGroups: 3, rowGroupsSkipped: 0, rowGroupsRead: 3, rowsScanned: 8, rowsWritten: 8 })
  assert.deepEqual(matches.map((match) => [match.batch!.rowGroup, match.batch!.rowStart, match.batch!.numRows, match.rows]), [[0, 0, 3, [0, 1, 2]], [1, 3, 3, [0, 1, 2]], [2, 6, 2, [0, 1]]])
  assert.deepEqual(matches.map((match) => Object.keys(match.batch!.columns)), [['trajectory_id', 'reward'], ['trajectory_id', 'reward'], ['trajectory_id', 'reward']])
  const groups = await rowGroups([smith[0]!])
  let bytes = 0
  let rowsWritten = 0
  const want = groups.map((group) => ({ bytes: bytes += group.bytes, rowsWritten: rowsWritten += group.rows }))
  assert.deepEqual(progress, [...want, { bytes: sizeOf(smith[0]!), rowsWritten: 8 }])
  assert.deepEqual(files.map((file) => file.rowsScanned), [8])
})

test('a phase-2 predicate (messages) equals DuckDB; row groups read without a match deliver nothing', async () => {
  const where = `license in ('ISC', 'MIT') and messages like '%git diff%'`
  const { ids, report, matches, files } = await run(where, smith)
  const want = await expected(where, smith)
  assert.ok(want.length > 0)
  assert.deepEqual(ids, want)
  // statistics rule out file 0's three row groups (Apache, BSD); phase 1 reads the 6 that may hold ISC or MIT
  assert.equal(report.rowGroupsSkipped, 3)
  assert.equal(report.rowsScanned, 16)
  assert.equal(report.rowGroupsRead, 6)
  assert.ok(matches.length < report.rowGroupsRead, 'a row group with candidates but no match')
  assert.ok(matches.every((match) => match.rows.length > 0))
  assert.deepEqual(files.map((file) => file.rowsWritten), [0, ...await Promise.all([1, 2].map(async (i) => (await expected(where, [smith[i]!])).length))])
  // a phase-2 predicate alone (no phase 1): phase 2 is the scan
  const alone = await run(`messages like '%git diff%'`, smith)
  assert.deepEqual(alone.ids, await expected(`messages like '%git diff%'`, smith))
  assert.deepEqual([alone.report.rowsScanned, alone.report.rowGroupsRead, alone.files.map((file) => file.rowsScanned)], [24, 9, [8, 8, 8]])
})

test('limit across row groups and files: exactly N rows, no row group read past the one that reached it', async () => {
  const five = await run('true', smith, { limit: 5 })
  assert.deepEqual(five.ids, (await expected('true', smith)).slice(0, 5))
  assert.deepEqual(five.matches.map((match) => match.rows.length), [3, 2])
  assert.equal(five.report.rowGroupsRead, 2)
  const three = await run('reward >= -1', smith, { limit: 3 })
  assert.deepEqual(three.ids, (await expected('reward >= -1', smith)).slice(0, 3))
  assert.deepEqual([three.matches.length, three.report.rowGroupsRead, three.report.rowsWritten], [1, 1, 3])
})

test('--sample: the N candidates of smallest rank under the seed, in shard order, the same for the same seed', async () => {
  const ranked = async (where: string, n: number, seed: number) => {
    const rows = await duckRows(where, smith, 'trajectory_id, filename, file_row_number')
    const keep = new Set(rows.map((row, i) => ({ rank: sampleRank(seed, String(row.trajectory_id)), i })).sort((a, b) => a.rank - b.rank || a.i - b.i).slice(0, n).map((e) => e.i))
    return rows.filter((_, i) => keep.has(i)).map((row) => String(row.trajectory_id))
  }
  const a = await run('reward >= 0', smith, { sample: { n: 5, seed: 1 } })
  assert.deepEqual(a.ids, await ranked('reward >= 0', 5, 1))
  assert.deepEqual((await run('reward >= 0', smith, { sample: { n: 5, seed: 1 } })).ids, a.ids)
  const b = await run('reward >= 0', smith, { sample: { n: 5, seed: 2 } })
  assert.deepEqual(b.ids, await ranked('reward >= 0', 5, 2))
  assert.notDeepEqual(b.ids, a.ids)
  // without a predicate column, sampling reads trajectory_id in phase 1, and rows are scanned once
  const all = await run('true', smith, { sample: { n: 4, seed: 7 } })
  assert.deepEqual(all.ids, await ranked('true', 4, 7))
  assert.deepEqual([all.report.rowsScanned, all.report.rowsWritten], [24, 4])
  assert.equal(all.report.rowGroupsRead, all.matches.length)
})

test('--sample with a message-based predicate is a UsageError', async () => {
  await assert.rejects(run(`messages like '%git%'`, smith, { sample: { n: 2, seed: 1 } }), (error: unknown) => {
    assert.ok(error instanceof UsageError)
    assert.equal(error.exitCode, 2)
    assert.equal(error.message, '--sample works with predicates on small columns (reward, license, ids…); combine it with message-based filters in two runs')
    return true
  })
})

test('a column the file lacks is a UsageError naming it, for the predicate and for the output', async () => {
  const opened = openSources(refs.slice(0, 1))
  const columns = columnNames((await opened[0]!).metadata).join(', ')
  await closeSources(opened)
  await assert.rejects(run('chat_template_applied is null'), (error: unknown) => {
    assert.ok(error instanceof UsageError)
    assert.equal(error.message, `${paths[0]} has no column 'chat_template_applied' (the predicate reads it; columns: ${columns})`)
    return true
  })
  await assert.rejects(run('reward = 1', paths, { columns: ['trajectory_id', 'nope'] }), (error: unknown) => {
    assert.ok(error instanceof UsageError)
    assert.equal(error.message, `${paths[0]} has no column 'nope' (an output column; columns: ${columns})`)
    return true
  })
})

test('default columns: every column of the file, in schema order; rawStrings gives UTF-8 bytes', async () => {
  const { matches } = await run('reward = 1', paths, { columns: undefined, rawStrings: true })
  const opened = openSources(refs.slice(0, 1))
  const names = columnNames((await opened[0]!).metadata)
  await closeSources(opened)
  assert.ok(matches.length > 0)
  for (const match of matches) {
    assert.deepEqual(Object.keys(match.batch!.columns), names)
    assert.ok(cellAt(match.batch!.columns.trajectory_id, match.rows[0]!) instanceof Uint8Array)
  }
})

test('huge row groups read in slices give the rows, and the progress, of a whole read', async () => {
  const where = `messages like '%pytest%' or reward = 1`
  const whole = await run(where, [rebench])
  const sliced = await run(where, [rebench], { sliceBytes: 20_000 })
  assert.deepEqual(whole.ids, await expected(where, [rebench]))
  assert.deepEqual(sliced.ids, whole.ids)
  assert.ok(sliced.report.rowGroupsRead > 2, `${sliced.report.rowGroupsRead} slices`)
  assert.equal(sliced.progress.at(-1)!.bytes, sizeOf(rebench))
  // each slice adds its share of the row group's bytes, never more than the whole
  const [group] = await rowGroups([rebench])
  const shares = sliced.progress.slice(0, -1).map((p, i, all) => p.bytes - (i ? all[i - 1]!.bytes : 0))
  assert.ok(shares.every((share) => share > 0 && share < group!.bytes / 2))
  assert.ok(shares.reduce((sum, share) => sum + share, 0) <= group!.bytes)
  const slices = sliced.matches.map((match) => [match.batch!.rowStart, match.batch!.numRows])
  assert.ok(slices.every(([start, rows]) => start! >= 0 && rows! > 0 && rows! < 8))
  // phase-1 candidates spread over the slices: each slice takes those within its own rows
  const columns = ['trajectory_id', 'messages']
  const rewarded = await run('reward = 1', [rebench], { columns, sliceBytes: 20_000 })
  assert.deepEqual(rewarded.ids, await expected('reward = 1', [rebench]))
  assert.ok(rewarded.matches.length > 1)
  for (const match of rewarded.matches) assert.ok(match.rows.every((row) => row >= 0 && row < match.batch!.numRows))
})

test('encoded JSON lines are the bytes the sink would write for the same rows, and the chunks are reused', async () => {
  const columns = ['trajectory_id', 'reward', 'license']
  const opened = openSources(refsOf([smith[0]!]))
  const encoding = jsonlEncoding((await opened[0]!).metadata.schema, columns)
  await closeSources(opened)
  const plain = await run('reward >= 0', smith, { columns })
  takeAllSpares()
  const encoded = await run('reward >= 0', smith, { columns, jsonl: encoding, limit: 4 })
  const text = (run: Run) => run.lines.join('')
  const want = plain.matches.map((match) => encodeJsonlRows({ columns: match.batch!.columns }, match.rows, encoding).chunks.map((chunk) => Buffer.from(chunk).toString()).join('')).join('')
  assert.equal(text(encoded), want.split('\n').slice(0, 4).join('\n') + '\n')
  assert.deepEqual(text(encoded).trim().split('\n').map((line) => JSON.parse(line)), (await duckRows('reward >= 0', smith, columns.join(', '))).slice(0, 4))
  assert.ok(encoded.matches.every((match) => match.batch === undefined && match.encoded!.rowEnds.length === match.rows.length))
  // once onMatch resolved, a piece's chunk buffer is filled again for a later piece
  const buffers = encoded.matches.map((match) => match.encoded!.chunks[0]!.buffer)
  assert.equal(buffers[1], buffers[0])
})

test('writeMatch: a JSONL sink writes encoded and decoded matches alike; a Parquet sink takes no encoded rows', async () => {
  const columns = ['trajectory_id', 'reward', 'license']
  const output = async (encode: boolean) => {
    const chunks: Buffer[] = []
    const stdout = new Writable({ write(chunk: Buffer, _encoding, callback) { chunks.push(Buffer.from(chunk)); callback() } })
    const opened = openSources(refsOf(smith))
    try {
      const sink = await openSink({ path: '-', format: 'jsonl', columns, schema: (await opened[0]!).metadata.schema, stdout })
      await selectRows(opened, { predicate: predicate('reward >= 0'), columns, jsonl: encode ? sink.encoding : undefined, onMatch: (match) => writeMatch(sink, match) })
      await sink.close()
    } finally { await closeSources(opened) }
    return Buffer.concat(chunks).toString()
  }
  const decoded = await output(false)
  assert.equal(await output(true), decoded)
  assert.deepEqual(decoded.trim().split('\n').map((line) => JSON.parse(line)), await duckRows('reward >= 0', smith, columns.join(', ')))
  const opened = openSources(refsOf([smith[0]!]))
  const source = await opened[0]!
  const folder = await mkdtemp(join(tmpdir(), 'select-unit-'))
  const parquet = await openSink({ path: join(folder, 'out.parquet'), format: 'parquet', columns, schema: source.metadata.schema })
  try {
    assert.throws(() => writeMatch(parquet, { source, rows: [0], encoded: encodeJsonlRows({ columns: { trajectory_id: ['x'] } }, [0], { columns: ['trajectory_id'] }) }),
      /^Error: internal: encoded rows for a sink that does not take them$/)
  } finally {
    await parquet.abort()
    await closeSources(opened)
    await rm(folder, { recursive: true, force: true })
  }
})

test('convert: the matching rows as training examples, with what the conversion did (no onFile or onProgress needed)', async () => {
  const opened = openSources(refsOf(smith))
  const matches: Match[] = []
  const keys: string[] = []
  try {
    const report = await selectRows(opened, {
      predicate: predicate('reward = 1'), columns: ['trajectory_id', 'messages', 'tools'], convert: convertSpec,
      onMatch: async (match) => { matches.push(match); keys.push(...match.encoded!.keys!) },
    })
    const want = await expected('reward = 1', smith)
    assert.equal(report.rowsWritten, want.length)
    assert.equal(matches.reduce((sum, match) => sum + match.conversion!.rows, 0), want.length)
    assert.ok(keys.length > 0)
    assert.deepEqual(keys, want.filter((id) => keys.includes(id)))
    assert.ok(matches.every((match) => match.batch === undefined))
  } finally { await closeSources(opened) }
})

test('a limit with convert is refused; an error thrown by onMatch ends the selection with that error', async () => {
  await assert.rejects(run('true', smith, { limit: 1, convert: { format: 'openai', arguments: 'object', think: 'keep', overBudget: 'drop' } }), /internal: a limit counts rows, converted rows are examples/)
  const boom = new Error('sink failed')
  const opened = openSources(refsOf(smith))
  await assert.rejects(selectRows(opened, { predicate: predicate('true'), columns: ['trajectory_id'], onMatch: async () => { throw boom } }), (error) => error === boom)
  await closeSources(opened)
})

/** Whether the held spans of `source` cover every byte of `ranges`. */
function covers(source: ByteSource, ranges: [number, number][]): boolean {
  return ranges.every(([start, end]) => {
    let position = start
    for (const [spanStart, spanEnd] of source.heldSpans!(start, end)) {
      if (spanStart > position) return false
      position = Math.max(position, spanEnd)
    }
    return position >= end
  })
}

test('remote files: the next files\' phase-2 chunks are fetched ahead while one is delivered, as the budget allows; a file\'s bytes are let go once read', async () => {
  const files = [smith[0]!, rebench, rebench]
  // phase 1 reads trajectory_id, at the start of each file (outside the footer's tail); phase 2 messages alone
  const where = `trajectory_id != 'x'`
  const observe = async (origin: SourceRef['origin'], budget = memoryBudget(64 << 20)) => {
    const opened = openSources(refsOf(files, async (path) => withHeldBytes(await fileSource(path), budget), origin))
    const sources = await Promise.all(opened)
    let ahead: { phase2: boolean, phase1: boolean, other: boolean }[] | undefined
    const released: boolean[] = []
    try {
      const report = await selectRows(opened, {
        predicate: predicate(where), columns: ['messages'],
        onMatch: async () => {
          // while the first file's first row group is delivered (later ones may meet the next file read already)
          ahead ??= sources.slice(1).map((s) => ({
            phase2: covers(s.source, chunkRanges(s.metadata, 0, ['messages'])),
            phase1: covers(s.source, chunkRanges(s.metadata, 0, ['trajectory_id'])),
            other: covers(s.source, chunkRanges(s.metadata, 0, ['image'])),
          }))
        },
        onFile: ({ source }) => { released.push(source.source.heldSpans!(0, source.ref.size).length === 0) },
      })
      return { ahead, released, rows: report.rowsWritten }
    } finally { await closeSources(opened) }
  }
  const rows = (await Promise.all(files.map((file) => expected(where, [file])))).flat().length
  // phase 1's bytes stay held for phase 2, the next files' phase-2 chunks are fetched ahead, no other column
  assert.deepEqual(await observe('remote'), { ahead: [{ phase2: true, phase1: true, other: false }, { phase2: true, phase1: true, other: false }], released: [true, true, true], rows })
  assert.deepEqual(await observe('local'), { ahead: [{ phase2: false, phase1: true, other: false }, { phase2: false, phase1: true, other: false }], released: [true, true, true], rows })
  // a budget without room: nothing is fetched ahead, and the rows are the same
  assert.deepEqual(await observe('remote', memoryBudget(1)), { ahead: [{ phase2: false, phase1: true, other: false }, { phase2: false, phase1: true, other: false }], released: [true, true, true], rows })
})

test('fetching ahead passes over a file that failed to open, and holds nothing of a file that lacks an output column', async () => {
  const tokenized = `${dir}-tokenized_qwencoder/SWE_Rebench-00000-of-00003.parquet`
  const files = [smith[0]!, `${dir}/missing.parquet`, rebench, tokenized]
  const opened = openSources(refsOf(files, async (path) => withHeldBytes(await fileSource(path), memoryBudget(64 << 20)), 'remote'))
  const sources = await Promise.allSettled(opened)
  const held = (i: number, column: string) => {
    const { source, metadata } = (sources[i] as PromiseFulfilledResult<OpenedSource>).value
    return covers(source, chunkRanges(metadata, 0, [column]))
  }
  let ahead: boolean[] | undefined
  try {
    await assert.rejects(selectRows(opened, {
      predicate: predicate('reward >= -1'), columns: ['trajectory_id', 'messages'],
      onMatch: async () => { ahead ??= [held(2, 'messages'), held(3, 'trajectory_id')] },
    }), /ENOENT/)
  } finally { await closeSources(opened) }
  assert.deepEqual(ahead, [true, false])
  const lacking = openSources(refsOf([tokenized]))
  await assert.rejects(selectRows(lacking, { predicate: predicate('reward >= -1'), columns: ['trajectory_id', 'messages'], onMatch: async () => {} }),
    (error: unknown) => error instanceof UsageError && error.message.startsWith(`${tokenized} has no column 'messages' (an output column; columns: trajectory_id, reward, `))
  await closeSources(lacking)
})

/** The pieces of `path` (whole row groups) with the bytes of `columns`, and the file's metadata. */
async function piecesOf(path: string, columns: string[]) {
  const source = await fileSource(path)
  try {
    const metadata = await readFooter(source)
    const pieces: PieceBytes[] = []
    for await (const piece of readPieces(source, metadata, { columns })) pieces.push(piece)
    return { metadata, pieces }
  } finally { await source.close() }
}


test('runDecodeTask: every row by default, the candidates given, those the predicate keeps; JSON lines, summaries or examples when asked', async () => {
  const columns = ['trajectory_id', 'reward', 'messages']
  const { metadata, pieces } = await piecesOf(smith[0]!, columns)
  const piece = pieces[1]! // rows 3–5
  const ids = (await expected('true', [smith[0]!])).slice(3, 6)
  const task = { metadata, columns, piece, rawStrings: false }
  const all = await runDecodeTask(task)
  assert.deepEqual(all.rows, [0, 1, 2])
  assert.deepEqual([0, 1, 2].map((row) => cellAt(all.columns!.trajectory_id, row)), ids)
  assert.deepEqual((await runDecodeTask({ ...task, candidates: [0, 2] })).rows, [0, 2])
  // the predicate's large part decides among the candidates, as DuckDB does over the same rows
  const where = `messages like '%git diff%'`
  const matching = (await expected(where, [smith[0]!])).filter((id) => ids.includes(id))
  const kept = await runDecodeTask({ ...task, candidates: [0, 1, 2], predicate: parseWhere(where) })
  assert.deepEqual(kept.rows.map((row) => ids[row]), matching)
  assert.ok(kept.rows.length > 0 && kept.rows.length < 3)
  assert.deepEqual((await runDecodeTask({ ...task, candidates: [1], predicate: parseWhere(where) })).rows, matching.includes(ids[1]!) ? [1] : [])
  // JSON lines, as a sink would encode them
  const encoding = jsonlEncoding(metadata.schema, ['trajectory_id', 'reward'])
  const lines = await runDecodeTask({ ...task, candidates: [0, 2], jsonl: encoding })
  assert.equal(lines.columns, undefined)
  assert.deepEqual(lines.rows, [0, 2])
  assert.equal(text(lines.encoded), text(encodeJsonlRows({ columns: all.columns! }, [0, 2], encoding)))
  assert.deepEqual(text(lines.encoded).trim().split('\n').map((line) => JSON.parse(line).trajectory_id), [ids[0], ids[2]])
  // summaries of the messages column (which is left out), one per row kept
  const summarized = await runDecodeTask({ ...task, candidates: [0, 2], summarize: 'messages' })
  assert.deepEqual(Object.keys(summarized.columns!), ['trajectory_id', 'reward'])
  const turns = await duck(`select len(list_filter(json_extract_string(messages, '$[*].role'), lambda r: r = 'assistant')) as turns
    from read_parquet(${sqlString(smith[0]!)}, file_row_number = true) where file_row_number in (3, 5) order by file_row_number`)
  assert.deepEqual(summarized.summaries!.map((summary) => summary!.assistantTurns), turns.map((row) => Number(row.turns)))
  // asked to summarise a column it did not decode: the columns, no summaries
  const none = await runDecodeTask({ ...task, columns: ['trajectory_id'], summarize: 'messages' })
  assert.deepEqual([Object.keys(none.columns!), none.summaries], [['trajectory_id'], undefined])
  // training examples of the rows kept, keyed by trajectory_id
  const examples = await runDecodeTask({ ...task, columns: ['trajectory_id', 'messages', 'tools'], piece: (await piecesOf(smith[0]!, ['trajectory_id', 'messages', 'tools'])).pieces[1]!, candidates: [0, 2], convert: convertSpec })
  assert.deepEqual(examples.rows, [0, 2])
  assert.equal(examples.conversion!.rows, 2)
  assert.equal(examples.encoded!.keys!.length, examples.conversion!.written)
  assert.ok(examples.encoded!.keys!.every((key) => key === ids[0] || key === ids[2]))
  assert.ok(text(examples.encoded).trim().split('\n').filter(Boolean).every((line) => Array.isArray(JSON.parse(line).messages)))
})

test('runDecodeTask fills the spare buffers a task brings', async () => {
  const columns = ['trajectory_id']
  const { metadata, pieces } = await piecesOf(smith[0]!, columns)
  takeAllSpares()
  const spare = new ArrayBuffer(6 * 1024 * 1024)
  const result = await runDecodeTask({ metadata, columns, piece: pieces[0]!, rawStrings: false, jsonl: { columns }, spares: [spare] })
  assert.equal(result.encoded!.chunks[0]!.buffer, spare)
  assert.equal(text(result.encoded).split('\n').length, 4)
})

test('decodePool: threads give the results of this thread; a task\'s bytes and encoding spares move to the thread; errors keep message and exit code', async () => {
  assert.equal(decodePool(0).size, 1)
  assert.equal(decodePool(1).size, 1)
  const columns = ['trajectory_id', 'reward', 'messages']
  /** Fresh tasks over smith[1]'s three row groups (a task's bytes may move away with it). */
  const tasks = async (): Promise<DecodeTask[]> => {
    const { metadata, pieces } = await piecesOf(smith[1]!, columns)
    return pieces.map((piece, i) => ({ metadata, columns, piece, rawStrings: i === 1, candidates: i === 0 ? [0, 2] : undefined }))
  }
  const local = decodePool(1)
  const here = await tasks()
  const want = await Promise.all(here.map((task) => local.run(task)))
  assert.ok(here.every((task) => task.piece.spans.every((span) => span.bytes.byteLength > 0)), 'on this thread the bytes stay')
  const pool = decodePool(2)
  try {
    assert.equal(pool.size, 2)
    const there = await tasks()
    const got = await Promise.all(there.map((task) => pool.run(task)))
    assert.deepEqual(got, want)
    assert.ok(there.every((task) => task.piece.spans.every((span) => span.bytes.byteLength === 0)), 'the bytes moved to the thread')
    // an encoding task takes this thread's spare buffers with it; another leaves them
    const spare = () => [new ArrayBuffer(6 * 1024 * 1024)]
    takeAllSpares()
    giveSpares(spare())
    await pool.run((await tasks())[1]!)
    assert.equal(takeAllSpares().length, 1, 'not encoding: the spares stay')
    giveSpares(spare())
    const encoded = await pool.run({ ...(await tasks())[1]!, jsonl: { columns: ['trajectory_id'] } })
    assert.deepEqual(takeAllSpares(), [], 'encoding: the spares went along')
    assert.equal(text(encoded.encoded).split('\n').length, 4)
    const converting = { ...(await tasks())[1]!, convert: { ...convertSpec, tokenizer: '/nonexistent/tokenizer.json' } }
    giveSpares(spare())
    const failure = await local.run({ ...(await tasks())[1]!, convert: converting.convert }).then(() => undefined, (error: unknown) => error as CoderforgeError)
    assert.ok(failure instanceof UsageError)
    await assert.rejects(pool.run(converting), (error: unknown) => {
      assert.ok(error instanceof CoderforgeError)
      assert.deepEqual([error.message, error.exitCode], [failure.message, 2])
      return true
    })
    assert.deepEqual(takeAllSpares(), [], 'converting: the spares went along')
  } finally { await pool.close() }
})

test('selectRows on a pool of threads delivers what one thread does, JSON lines byte for byte; a pool given stays open', async () => {
  const columns = ['trajectory_id', 'reward', 'license']
  const opened = openSources(refsOf([smith[0]!]))
  const encoding = jsonlEncoding((await opened[0]!).metadata.schema, columns)
  await closeSources(opened)
  const where = `reward >= 0 and messages like '%git%'`
  const one = await run(where, smith, { columns, jsonl: encoding })
  const pool = decodePool(2)
  try {
    const two = await run(where, smith, { columns, jsonl: encoding, decoder: pool })
    assert.deepEqual(two.lines, one.lines)
    assert.deepEqual(two.report, one.report)
    assert.deepEqual(one.lines.join('').trim().split('\n').map((line) => JSON.parse(line)), await duckRows(where, smith, columns.join(', ')))
    const again = await run(where, smith, { columns, decoder: pool })
    assert.deepEqual(again.ids, await expected(where, smith))
  } finally { await pool.close() }
})

test('decodeWorker does nothing when imported outside a thread', async () => {
  await import('../src/query/decodeWorker.js')
  assert.equal(isMainThread, true)
})

test('a pool whose threads have stopped rejects a new task at once instead of leaving it pending; one never used closes', async () => {
  const columns = ['trajectory_id']
  const { metadata, pieces } = await piecesOf(smith[0]!, columns)
  await decodePool(2).close()
  const pool = decodePool(2)
  await pool.close()
  const late = pool.run({ metadata, columns, piece: pieces[0]!, rawStrings: false })
  const pending = Symbol('pending')
  const settled = await Promise.race([late.then(() => 'resolved', (error: unknown) => error), new Promise((resolve) => setTimeout(resolve, 2000, pending))])
  assert.ok(settled instanceof CoderforgeError, `the task was ${String(settled === pending ? 'left pending' : settled)}`)
  assert.equal(settled.message, 'a decoding thread stopped unexpectedly')
})

test('closing a pool ends its threads: a task still running is rejected, not left pending', async () => {
  const columns = ['trajectory_id']
  const { metadata, pieces } = await piecesOf(smith[0]!, columns)
  const pool = decodePool(2)
  const running = pool.run({ metadata, columns, piece: pieces[0]!, rawStrings: false })
  const rejected = assert.rejects(running, (error: unknown) => {
    assert.ok(error instanceof CoderforgeError)
    assert.equal(error.message, 'a decoding thread stopped unexpectedly')
    return true
  })
  await pool.close()
  await rejected
})
