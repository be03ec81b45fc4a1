/**
 * export.ts called directly on the tiny fixtures' shards: the files each shard becomes (names, parts,
 * train/val), their rows read back, the report, resume from manifests, workers, and nothing left when
 * a shard fails. In-process and fast, so that mutation testing of src/export.ts runs this file per mutant.
 */
import assert from 'node:assert/strict'
import { copyFile, mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises'
import { join, relative } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { gunzipSync } from 'node:zlib'
import { parquetMetadata, parquetReadObjects } from 'hyparquet'
import { compressors } from 'hyparquet-compressors'
import { repoDir } from '../fixtures/index.js'
import { exportSelection, exportShards, parseWorker, workerFromEnv, workerShare, type ExportedFile, type ExportOptions } from '../src/export.js'
import { memoryBudget } from '../src/fetch/budget.js'
import { readFooter } from '../src/parquet/footer.js'
import { fileSource } from '../src/parquet/source.js'
import { and, parseWhere } from '../src/query/parse.js'
import { compilePredicate } from '../src/query/compile.js'
import type { SelectProgress } from '../src/query/select.js'
import { loadConverter } from '../src/sft/convert.js'
import { resolveSftSettings } from '../src/sft/recipes.js'
import { prepareSft } from '../src/sft/setup.js'
import type { SourceRef } from '../src/sources.js'
import { tempDir } from './support/cli.js'

const repo = repoDir('tiny')
const all = compilePredicate(and([]))
const resolved = compilePredicate(parseWhere('reward = 1'))

/** A fixture shard as the dataset lists it (its repo path names its outputs). */
async function shardRef(path: string): Promise<SourceRef> {
  const file = join(repo, path)
  const size = (await stat(file)).size
  const [, config, split, index, count] = /^([^/]+)\/(.+)-(\d+)-of-(\d+)\.parquet$/.exec(path)!
  return {
    name: path, origin: 'local', size, open: () => fileSource(file),
    shard: { path, config: config!, split: split!, index: Number(index), count: Number(count), size, sha256: undefined },
  }
}
/** A local file given by path. */
async function localRef(file: string, name = file): Promise<SourceRef> {
  return { name, origin: 'local', size: (await stat(file)).size, open: () => fileSource(file) }
}

/** The source's rows (hyparquet), as JSON-comparable objects. */
async function sourceRows(path: string, columns?: string[]): Promise<Record<string, unknown>[]> {
  const bytes = await readFile(join(repo, path))
  return parquetReadObjects({ file: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length) as ArrayBuffer, compressors, columns })
}
const jsonl = async (path: string) => (path.endsWith('.gz') ? gunzipSync(await readFile(path)).toString() : await readFile(path, 'utf8')).split('\n').filter(Boolean).map((line) => JSON.parse(line) as Record<string, unknown>)
/** Every file under `dir`, relative, sorted (hidden ones included). */
async function files(dir: string): Promise<string[]> {
  const found: string[] = []
  const walk = async (current: string) => {
    for (const entry of await readdir(current, { withFileTypes: true })) {
      if (entry.isDirectory()) await walk(join(current, entry.name))
      else found.push(relative(dir, join(current, entry.name)))
    }
  }
  await walk(dir)
  return found.sort()
}

let work: { path: string, cleanup: () => Promise<void> }
let counter = 0
const fresh = async () => {
  const dir = join(work.path, `out${++counter}`)
  await mkdir(dir)
  return dir
}
before(async () => { work = await tempDir('coderforge-export-unit-') })
after(async () => { await work.cleanup() })

const r2e1 = 'trajectories/R2E_Gym-00001-of-00003.parquet'
const r2e2 = 'trajectories/R2E_Gym-00002-of-00003.parquet'
const smith = 'trajectories/SWE_Smith-00000-of-00003.parquet'

describe('workers', () => {
  test('workerShare: every count-th shard from index, so the workers cover each shard once', () => {
    const shards = ['a', 'b', 'c', 'd', 'e', 'f', 'g']
    assert.equal(workerShare(shards, undefined), shards)
    assert.deepEqual(workerShare(shards, { index: 1, count: 3 }), ['b', 'e'])
    assert.deepEqual(workerShare(shards, { index: 0, count: 3 }), ['a', 'd', 'g'])
    assert.deepEqual(workerShare(shards, { index: 0, count: 1 }), shards)
    assert.deepEqual(workerShare(shards, { index: 7, count: 8 }), [])
  })

  test('parseWorker: I/N with 0 <= I < N', () => {
    assert.deepEqual(parseWorker('0/8'), { index: 0, count: 8 })
    assert.deepEqual(parseWorker(' 7/8 '), { index: 7, count: 8 })
    assert.deepEqual(parseWorker('0/1'), { index: 0, count: 1 })
    for (const bad of ['8/8', '0/0', '1/0', 'a/b', '1/2/3', '-1/2', '1', '', ' /2', '1/2x', 'x1/2']) {
      assert.throws(() => parseWorker(bad), { name: 'UsageError', message: `invalid --worker '${bad}': use I/N with 0 <= I < N, e.g. 0/8 (for a Slurm array: $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT)` })
    }
  })

  test('workerFromEnv: a Slurm array task (from its minimum), a Kubernetes Indexed Job, or none', () => {
    assert.equal(workerFromEnv({}), undefined)
    assert.deepEqual(workerFromEnv({ SLURM_ARRAY_TASK_ID: '3', SLURM_ARRAY_TASK_COUNT: '4' }), { index: 3, count: 4 })
    assert.deepEqual(workerFromEnv({ SLURM_ARRAY_TASK_ID: '5', SLURM_ARRAY_TASK_MIN: '2', SLURM_ARRAY_TASK_COUNT: '4' }), { index: 3, count: 4 })
    // a Slurm task id without the count is not an array task: the Indexed Job variables decide
    assert.equal(workerFromEnv({ SLURM_ARRAY_TASK_ID: '1' }), undefined)
    assert.deepEqual(workerFromEnv({ SLURM_ARRAY_TASK_ID: '1', JOB_COMPLETION_INDEX: '2', JOB_COMPLETIONS: '3' }), { index: 2, count: 3 })
    assert.deepEqual(workerFromEnv({ JOB_COMPLETION_INDEX: '0', JOB_COMPLETIONS: '1' }), { index: 0, count: 1 })
    assert.throws(() => workerFromEnv({ JOB_COMPLETION_INDEX: '0' }), {
      name: 'UsageError', message: 'JOB_COMPLETION_INDEX is set but not the number of workers: set JOB_COMPLETIONS to the Job\'s completions, or give --worker I/N',
    })
    assert.throws(() => workerFromEnv({ SLURM_ARRAY_TASK_ID: '4', SLURM_ARRAY_TASK_COUNT: '4' }), {
      name: 'UsageError', message: 'SLURM_ARRAY_TASK_ID/SLURM_ARRAY_TASK_COUNT give worker \'4/4\', which is not I/N with 0 <= I < N: fix them, or give --worker I/N',
    })
    assert.throws(() => workerFromEnv({ SLURM_ARRAY_TASK_ID: '1', SLURM_ARRAY_TASK_MIN: '2', SLURM_ARRAY_TASK_COUNT: '4' }), /give worker '-1\/4'/)
    assert.throws(() => workerFromEnv({ JOB_COMPLETION_INDEX: '3', JOB_COMPLETIONS: '3' }), {
      message: 'JOB_COMPLETION_INDEX/JOB_COMPLETIONS give worker \'3/3\', which is not I/N with 0 <= I < N: fix them, or give --worker I/N',
    })
  })
})

describe('exportShards', () => {
  test('JSONL: one file per shard named like it, the matching rows in order, the report and callbacks', async () => {
    const outDir = await fresh()
    const seen: ExportedFile[] = []
    const progress: SelectProgress[] = []
    const report = await exportShards([await shardRef(r2e1), await shardRef(r2e2)], {
      outDir, format: 'jsonl', predicate: resolved, columns: ['trajectory_id', 'reward'],
      onFile: (file) => seen.push(file), onProgress: (p) => progress.push({ ...p }),
    })
    const out1 = join(outDir, 'trajectories/R2E_Gym-00001-of-00003.jsonl')
    const out2 = join(outDir, 'trajectories/R2E_Gym-00002-of-00003.jsonl')
    assert.deepEqual(await files(outDir), ['trajectories/R2E_Gym-00001-of-00003.jsonl', 'trajectories/R2E_Gym-00002-of-00003.jsonl'])
    for (const [path, output] of [[r2e1, out1], [r2e2, out2]] as const) {
      const expected = (await sourceRows(path, ['trajectory_id', 'reward'])).filter((row) => row.reward === 1)
      assert.deepEqual(await jsonl(output), expected)
    }
    // DOUBLE reward stays a float in the text
    assert.match(await readFile(out1, 'utf8'), /^\{"trajectory_id":"qingyangwu_scrapy_final_c1683cc6138503e3bcbdf045cee05729577a4bc1_run1","reward":1\.0\}\n$/)
    const files1 = [
      { source: r2e1, outputs: [out1], rows: 1, resumed: false },
      { source: r2e2, outputs: [out2], rows: 3, resumed: false },
    ]
    assert.deepEqual(report.files, files1)
    assert.deepEqual(seen, files1)
    assert.equal(report.rows, 4)
    assert.equal(report.rowsScanned, 10)
    assert.equal(report.resumed, 0)
    assert.deepEqual(report.rejected, {})
    assert.deepEqual(progress[0], { bytes: 0, rowsWritten: 0 })
    assert.equal(progress.at(-1)!.rowsWritten, 4)
  })

  test('all columns by default; Parquet keeps the source schema and metadata; a local file is named by its base name', async () => {
    const outDir = await fresh()
    const local = join(work.path, 'local-copy.parquet')
    await copyFile(join(repo, r2e1), local)
    const report = await exportShards([await localRef(local, `${local}?download=true`)], { outDir, format: 'parquet', predicate: all })
    const output = join(outDir, 'local-copy.parquet')
    assert.deepEqual(report.files, [{ source: `${local}?download=true`, outputs: [output], rows: 5, resumed: false }])
    const bytes = await readFile(output)
    const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length) as ArrayBuffer
    assert.deepEqual(await parquetReadObjects({ file: buffer }), await sourceRows(r2e1))
    const source = await fileSource(local)
    const footer = await readFooter(source)
    await source.close()
    const metadata = parquetMetadata(buffer)
    assert.deepEqual(metadata.schema.map((e) => [e.name, e.type]), footer.schema.map((e) => [e.name, e.type]))
    assert.deepEqual(metadata.key_value_metadata, footer.key_value_metadata)
  })

  test('--max-rows-per-file: numbered parts -0000, -0001…, Parquet and JSONL alike', async () => {
    for (const format of ['parquet', 'jsonl'] as const) {
      const outDir = await fresh()
      const report = await exportShards([await shardRef(smith)], { outDir, format, predicate: all, columns: ['trajectory_id'], maxRowsPerFile: 3 })
      const names = ['0000', '0001', '0002'].map((part) => `trajectories/SWE_Smith-00000-of-00003-${part}.${format}`)
      assert.deepEqual(await files(outDir), names)
      assert.deepEqual(report.files, [{ source: smith, outputs: names.map((name) => join(outDir, name)), rows: 8, resumed: false }])
      const ids = (await sourceRows(smith, ['trajectory_id'])).map((row) => row.trajectory_id)
      const read = async (name: string) => {
        if (format === 'jsonl') return (await jsonl(join(outDir, name))).map((row) => row.trajectory_id)
        const bytes = await readFile(join(outDir, name))
        return (await parquetReadObjects({ file: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length) as ArrayBuffer })).map((row) => row.trajectory_id)
      }
      assert.deepEqual(await Promise.all(names.map(read)), [ids.slice(0, 3), ids.slice(3, 6), ids.slice(6)])
    }
  })

  test('--max-bytes-per-file: JSONL parts cut at the first row that reaches the cap', async () => {
    const outDir = await fresh()
    const ids = (await sourceRows(r2e2, ['trajectory_id'])).map((row) => row.trajectory_id as string)
    const line = (id: string) => JSON.stringify({ trajectory_id: id }).length + 1
    // the cap is reached by the second line of each part
    const cap = line(ids[0]!) + 1
    await exportShards([await shardRef(r2e2)], { outDir, format: 'jsonl', predicate: all, columns: ['trajectory_id'], maxBytesPerFile: cap })
    const names = ['0000', '0001', '0002'].map((part) => `trajectories/R2E_Gym-00002-of-00003-${part}.jsonl`)
    assert.deepEqual(await files(outDir), names)
    assert.deepEqual(await Promise.all(names.map(async (name) => (await jsonl(join(outDir, name))).map((row) => row.trajectory_id))), [ids.slice(0, 2), ids.slice(2, 4), ids.slice(4)])
  })

  test('--parse-json nests messages and tools', async () => {
    const outDir = await fresh()
    await exportShards([await shardRef(r2e1)], { outDir, format: 'jsonl', predicate: resolved, columns: ['messages', 'tools'], parseJson: true })
    const [row] = await jsonl(join(outDir, 'trajectories/R2E_Gym-00001-of-00003.jsonl'))
    const [source] = (await sourceRows(r2e1, ['reward', 'messages', 'tools'])).filter((r) => r.reward === 1)
    assert.deepEqual(row, { messages: JSON.parse(source!.messages as string), tools: JSON.parse(source!.tools as string) })
  })

  test('a shard that fails while being written leaves no file of it, and the error comes through', async () => {
    const outDir = await fresh()
    const broken = join(work.path, 'broken.parquet')
    const bytes = await readFile(join(repo, smith))
    const source = await fileSource(join(repo, smith))
    const footer = await readFooter(source)
    await source.close()
    // garble the last row group's data pages: the first two are written before the third fails
    const last = footer.row_groups.at(-1)!.columns
    for (const { meta_data } of last) {
      const start = Number(meta_data!.dictionary_page_offset ?? meta_data!.data_page_offset)
      bytes.fill(0x5a, start, start + Number(meta_data!.total_compressed_size))
    }
    await writeFile(broken, bytes)
    for (const format of ['jsonl', 'parquet'] as const) {
      const dir = join(outDir, format)
      await assert.rejects(exportShards([await localRef(broken)], { outDir: dir, format, predicate: all, columns: ['trajectory_id', 'messages'] }))
      assert.deepEqual(await files(dir).catch(() => []), [])
    }
  })

  test('training examples: JSONL under the shard\'s name, with conversion stats; a shard without messages is a usage error', async () => {
    const outDir = await fresh()
    const convert = await loadConverter({ format: 'openai', arguments: 'string', think: 'keep', overBudget: 'drop' })
    const report = await exportShards([await shardRef(r2e1), await shardRef(r2e2)], { outDir, format: 'parquet', predicate: resolved, convert })
    assert.deepEqual(await files(outDir), ['trajectories/R2E_Gym-00001-of-00003.jsonl', 'trajectories/R2E_Gym-00002-of-00003.jsonl'])
    const examples = await jsonl(join(outDir, 'trajectories/R2E_Gym-00002-of-00003.jsonl'))
    assert.equal(examples.length, 3)
    assert.ok(examples.every((example) => Array.isArray(example.messages)))
    assert.equal(report.rows, 4)
    assert.equal(report.stats.rows, 4)
    assert.equal(report.stats.written, 4)
    const tokenized = 'trajectories-tokenized_qwencoder/R2E_Gym-00001-of-00003.parquet'
    await assert.rejects(exportShards([await shardRef(tokenized)], { outDir: await fresh(), format: 'jsonl', predicate: all, convert }), {
      name: 'UsageError', message: `${tokenized} has no messages column: --to needs the trajectories config`,
    })
  })
})

describe('resume', () => {
  const options = (outDir: string, params = 'p1', redo = false): ExportOptions => ({ outDir, format: 'jsonl', predicate: resolved, columns: ['trajectory_id'], resume: { commit: 'c0ffee', params, redo } })

  test('completed shards are recorded, kept by a rerun with the same commit and parameters, redone otherwise', async () => {
    const outDir = await fresh()
    const refs = [await shardRef(r2e1), await shardRef(r2e2)]
    const first = await exportShards(refs, options(outDir))
    assert.equal(first.resumed, 0)
    assert.deepEqual(await files(outDir), [
      '.coderforge/done/trajectories__R2E_Gym-00001-of-00003.json', '.coderforge/done/trajectories__R2E_Gym-00002-of-00003.json',
      'trajectories/R2E_Gym-00001-of-00003.jsonl', 'trajectories/R2E_Gym-00002-of-00003.jsonl',
    ])
    const manifest = JSON.parse(await readFile(join(outDir, '.coderforge/done/trajectories__R2E_Gym-00002-of-00003.json'), 'utf8')) as Record<string, unknown>
    const output = join(outDir, 'trajectories/R2E_Gym-00002-of-00003.jsonl')
    assert.deepEqual(manifest, {
      version: 1, source: r2e2, size: refs[1]!.size, commit: 'c0ffee', params: 'p1',
      outputs: [{ path: 'trajectories/R2E_Gym-00002-of-00003.jsonl', bytes: (await stat(output)).size }], rows: 3, rowsScanned: 5,
    })

    // a marker in the kept output shows it was not rewritten
    const marked = (await readFile(output, 'utf8')).replace('run6', 'RUN6')
    await writeFile(output, marked)
    const seen: ExportedFile[] = []
    const progress: SelectProgress[] = []
    const again = await exportShards(refs, { ...options(outDir), onFile: (file) => seen.push(file), onProgress: (p) => progress.push({ ...p }) })
    const kept = [
      { source: r2e1, outputs: [join(outDir, 'trajectories/R2E_Gym-00001-of-00003.jsonl')], rows: 1, resumed: true },
      { source: r2e2, outputs: [output], rows: 3, resumed: true },
    ]
    assert.deepEqual(again.files, kept)
    assert.deepEqual(seen, kept)
    assert.deepEqual(progress, [{ bytes: refs[0]!.size + refs[1]!.size, rowsWritten: 4 }])
    assert.deepEqual({ rows: again.rows, rowsScanned: again.rowsScanned, resumed: again.resumed }, { rows: 4, rowsScanned: 10, resumed: 2 })
    assert.equal(await readFile(output, 'utf8'), marked)

    // other parameters: redone, and rewritten
    const redone = await exportShards(refs.slice(1), options(outDir, 'p2'))
    assert.deepEqual(redone.files, [{ source: r2e2, outputs: [output], rows: 3, resumed: false }])
    assert.doesNotMatch(await readFile(output, 'utf8'), /RUN6/)
    // redo: redone even when everything matches
    await writeFile(output, marked)
    const forced = await exportShards(refs.slice(1), options(outDir, 'p2', true))
    assert.equal(forced.resumed, 0)
    assert.doesNotMatch(await readFile(output, 'utf8'), /RUN6/)
  })

  test('a redone shard that now writes fewer parts leaves none of its earlier parts', async () => {
    const outDir = await fresh()
    const ref = await shardRef(smith)
    await exportShards([ref], { ...options(outDir), predicate: all, maxRowsPerFile: 3 })
    assert.equal((await files(outDir)).filter((name) => name.endsWith('.jsonl')).length, 3)
    await exportShards([ref], { ...options(outDir, 'p2'), predicate: all, maxRowsPerFile: 5 })
    assert.deepEqual((await files(outDir)).filter((name) => name.endsWith('.jsonl')), ['trajectories/SWE_Smith-00000-of-00003-0000.jsonl', 'trajectories/SWE_Smith-00000-of-00003-0001.jsonl'])
  })
})

describe('exportSelection', () => {
  const set = async (paths: string[], commit?: string) => ({ sources: await Promise.all(paths.map(shardRef)), commit, bytesFetched: () => 0, budget: memoryBudget() })

  test('a validation split routes whole tasks to train/ and val/, reading trajectory_id even when not written', async () => {
    const outDir = await fresh()
    // seed 6 puts the pyramid task (the first shard's first two rows) in val
    const setup = await prepareSft(resolveSftSettings({ valFraction: 0.5, seed: 6 }))
    const { report, plan, shards } = await exportSelection(await set([r2e1, r2e2]), { setup, outDir, format: 'jsonl', predicate: all, columns: ['reward', 'finish_reason'] })
    assert.equal(plan?.counts.valRows, 2)
    assert.equal(shards.length, 2)
    const names = ['train/trajectories/R2E_Gym-00001-of-00003.jsonl', 'train/trajectories/R2E_Gym-00002-of-00003.jsonl', 'val/trajectories/R2E_Gym-00001-of-00003.jsonl']
    assert.deepEqual(await files(outDir), names)
    const [train1, train2, val1] = await Promise.all(names.map((name) => jsonl(join(outDir, name))))
    assert.deepEqual([train1!.length, train2!.length, val1!.length], [3, 5, 2])
    assert.deepEqual(val1![0], { finish_reason: 'tool_calls', reward: 0 })
    assert.deepEqual(report.files.map((file) => [file.source, file.outputs.map((output) => relative(outDir, output)), file.rows]), [
      [r2e1, ['train/trajectories/R2E_Gym-00001-of-00003.jsonl', 'val/trajectories/R2E_Gym-00001-of-00003.jsonl'], 5],
      [r2e2, ['train/trajectories/R2E_Gym-00002-of-00003.jsonl'], 5],
    ])
    assert.equal(report.rows, 10)
  })

  test('without planning steps: no plan, this worker\'s share only, resumable when the set has a commit', async () => {
    const outDir = await fresh()
    const setup = await prepareSft(resolveSftSettings({}))
    const options = { setup, outDir, format: 'jsonl' as const, predicate: resolved, columns: ['trajectory_id'] }
    const first = await exportSelection(await set([r2e1, r2e2, smith], 'c0ffee'), { ...options, worker: { index: 1, count: 2 } })
    assert.equal(first.plan, undefined)
    assert.deepEqual(first.shards.map((shard) => shard.name), [r2e2])
    assert.deepEqual(await files(outDir), ['.coderforge/done/trajectories__R2E_Gym-00002-of-00003.json', 'trajectories/R2E_Gym-00002-of-00003.jsonl'])
    const again = await exportSelection(await set([r2e1, r2e2, smith], 'c0ffee'), { ...options, worker: { index: 1, count: 2 } })
    assert.equal(again.report.resumed, 1)
    const redo = await exportSelection(await set([r2e1, r2e2, smith], 'c0ffee'), { ...options, worker: { index: 1, count: 2 }, redo: true })
    assert.equal(redo.report.resumed, 0)
    // another selection is other parameters: redone
    const other = await exportSelection(await set([r2e2], 'c0ffee'), options)
    assert.equal(other.report.resumed, 0)
    // no commit (local files): nothing recorded
    const local = await fresh()
    await exportSelection(await set([r2e1]), { ...options, outDir: local })
    assert.deepEqual(await files(local), ['trajectories/R2E_Gym-00001-of-00003.jsonl'])
  })
})
