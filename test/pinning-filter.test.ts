import assert from 'node:assert/strict'
import { readdir, readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, beforeEach, describe, test } from 'node:test'
import { generateDataset, profiles, readManifest, repoDir } from '../fixtures/index.js'
import { startHub, type HubEmulator } from './support/emulator/index.js'
import { fixtureRepo } from './support/fixtureHub.js'
import { isolatedEnv, runCli, tempDir } from './support/cli.js'
import { duck, sqlString } from './support/duckdb.js'
import { ExitCode } from '../src/errors.js'

const manifest = readManifest('tiny')
const localDir = join(repoDir('tiny'), 'trajectories')
const shardFile = (split: string, shard: number) => join(localDir, `${split}-${String(shard).padStart(5, '0')}-of-00003.parquet`)
const readJsonl = async (path: string) => (await readFile(path, 'utf8')).split('\n').filter(Boolean).map((line) => JSON.parse(line) as Record<string, unknown>)

// shards of a few MB in three row groups, so that a row group's chunks lie well clear of the footer read
const bigRepo = 'acme/row-group-shards'
let big: { path: string, cleanup: () => Promise<void> }
let home: { path: string, cleanup: () => Promise<void> }
const fixture = {} as { hub: HubEmulator, home: string, env: NodeJS.ProcessEnv }

before(async () => {
  big = await tempDir()
  await generateDataset({
    outDir: big.path,
    profile: { ...profiles.tiny!, name: 'rowgroups', shards: 1, tasks: { SWE_Rebench: 1, SWE_Smith: 3, R2E_Gym: 1 }, messageBytes: [200_000, 300_000], hugeRow: false, tokenized: false },
  })
  fixture.hub = await startHub({ repos: [{ id: fixtureRepo, dir: repoDir('tiny') }, { id: bigRepo, dir: join(big.path, 'repo') }] })
  home = await tempDir()
  fixture.home = home.path
  fixture.env = isolatedEnv(home.path, { HF_ENDPOINT: fixture.hub.endpoint })
})
after(async () => {
  await fixture.hub.close()
  await home.cleanup()
  await big.cleanup()
})
beforeEach(() => {
  fixture.hub.clearLog()
  fixture.hub.clearFaults()
})

/** Byte range [start, end) of each row group's column chunks, and its trajectory_id statistics, from DuckDB. */
async function rowGroupsOf(file: string) {
  const chunks = await duck(`SELECT row_group_id AS g, min(coalesce(dictionary_page_offset, data_page_offset)) AS start,
    max(coalesce(dictionary_page_offset, data_page_offset) + total_compressed_size) AS "end",
    max(stats_min_value) FILTER (path_in_schema = 'trajectory_id') AS lo, max(stats_max_value) FILTER (path_in_schema = 'trajectory_id') AS hi
    FROM parquet_metadata(${sqlString(file)}) GROUP BY 1 ORDER BY 1`)
  return chunks.map((c) => ({ start: Number(c.start), end: Number(c.end), min: String(c.lo), max: String(c.hi) }))
}

function requestedRanges(file: string): [number, number][] {
  return fixture.hub.requests.filter((r) => r.origin === 'cdn' && r.file === file && r.range).map((r) => {
    const [, a, b] = /bytes=(\d+)-(\d+)/.exec(r.range!)!
    return [Number(a), Number(b) + 1]
  })
}

describe('row groups ruled out by statistics', () => {
  test('are counted as skipped and none of their bytes is requested', async () => {
    const path = 'trajectories/SWE_Smith-00000-of-00001.parquet'
    const file = join(big.path, 'repo', path)
    const groups = await rowGroupsOf(file)
    assert.equal(groups.length, 3)
    const [last] = await duck(`SELECT trajectory_id AS id FROM read_parquet(${sqlString(file)}) ORDER BY file_row_number DESC LIMIT 1`)
    const id = String(last!.id)
    const excluded = groups.filter((g) => id < g.min || id > g.max)
    assert.equal(excluded.length, 2, 'the statistics of the first two row groups exclude the id')
    const out = join(fixture.home, 'one.jsonl')
    const result = await runCli(['filter', '--repo', bigRepo, '--split', 'SWE_Smith', '--id', id, '-o', out, '--json'], fixture.env)
    assert.equal(result.code, 0, result.stderr)
    const summary = JSON.parse(result.stdout)
    assert.equal(summary.row_groups, 3)
    assert.equal(summary.row_groups_skipped, excluded.length)
    assert.equal(summary.rows_written, 1)
    assert.deepEqual((await readJsonl(out)).map((r) => r.trajectory_id), [id])
    const ranges = requestedRanges(path)
    for (const group of excluded) {
      const overlapping = ranges.filter(([a, b]) => a < group.end && b > group.start)
      assert.deepEqual(overlapping, [], `no request touches the skipped row group at ${group.start}-${group.end}`)
    }
    const kept = groups.at(-1)!
    assert.ok(ranges.some(([a, b]) => a < kept.end && b > kept.start), 'the matching row group was read')
  })

  test('a predicate no row group can satisfy skips them all and fetches no row group', async () => {
    const path = 'trajectories/SWE_Smith-00000-of-00001.parquet'
    const groups = await rowGroupsOf(join(big.path, 'repo', path))
    const result = await runCli(['filter', '--repo', bigRepo, '--split', 'SWE_Smith', '--reward', '>1', '-o', join(fixture.home, 'none.jsonl'), '--json'], fixture.env)
    assert.equal(result.code, 0, result.stderr)
    const summary = JSON.parse(result.stdout)
    assert.deepEqual([summary.row_groups_skipped, summary.row_groups_read, summary.rows_scanned, summary.rows_written], [3, 0, 0, 0])
    // the footer read at the end of the file may reach into the last row group; nothing else is read
    const ranges = requestedRanges(path)
    assert.ok(ranges.length > 0)
    for (const group of groups.slice(0, -1)) assert.ok(ranges.every(([a, b]) => a >= group.end || b <= group.start), `nothing of ${group.start}-${group.end} was requested`)
  })
})

describe('export --max-bytes-per-file', () => {
  test('JSONL: a part ends at the first row that reaches the cap; the parts together are the rows in order', async () => {
    const cap = 40 * 1024
    const out = join(fixture.home, 'capped')
    const source = shardFile('SWE_Smith', 0)
    const result = await runCli(['export', source, '--format', 'jsonl', '--max-bytes-per-file', '40KiB', '--out', out, '--json'], fixture.env)
    assert.equal(result.code, 0, result.stderr)
    const names = (await readdir(out)).sort()
    const lines = await Promise.all(names.map(async (name) => (await readFile(join(out, name), 'utf8')).split('\n').filter(Boolean)))
    // the expected cut, computed from the rows' own sizes
    const all = lines.flat()
    const expected: number[] = []
    let size = 0
    let rows = 0
    for (const line of all) {
      size += Buffer.byteLength(line) + 1
      rows++
      if (size >= cap) {
        expected.push(rows)
        size = 0
        rows = 0
      }
    }
    if (rows) expected.push(rows)
    assert.ok(expected.length >= 3, 'the cap cuts the shard into several parts')
    assert.deepEqual(lines.map((part) => part.length), expected)
    assert.deepEqual(names, expected.map((_, i) => `SWE_Smith-00000-of-00003-${String(i).padStart(4, '0')}.jsonl`))
    for (const [i, name] of names.entries()) {
      const bytes = (await stat(join(out, name))).size
      if (i < names.length - 1) assert.ok(bytes >= cap, `${name}: ${bytes} bytes, closed only at the cap`)
      const lastRow = Buffer.byteLength(lines[i]!.at(-1)!) + 1
      assert.ok(bytes - lastRow < cap, `${name}: ${bytes} bytes, not past the cap before its last row`)
    }
    const rowsOf = await duck(`SELECT * FROM read_parquet(${sqlString(source)})`)
    assert.deepEqual(all.map((line) => JSON.parse(line)), rowsOf)
    assert.deepEqual((JSON.parse(result.stdout).files as string[]).map((p) => p.slice(out.length + 1)), names)
  })

  test('Parquet: parts close once past the cap and hold the rows in order', async () => {
    const cap = 20 * 1024
    const out = join(fixture.home, 'capped-parquet')
    const result = await runCli(['export', shardFile('SWE_Smith', 1), '--format', 'parquet', '--max-bytes-per-file', '20KiB', '--out', out], fixture.env)
    assert.equal(result.code, 0, result.stderr)
    const names = (await readdir(out)).sort()
    assert.ok(names.length >= 2, `several parts: ${names.join(', ')}`)
    for (const name of names.slice(0, -1)) assert.ok((await stat(join(out, name))).size >= cap, `${name} was closed before the cap`)
    const parts = (await Promise.all(names.map((name) => duck(`SELECT * FROM read_parquet(${sqlString(join(out, name))})`)))).flat()
    const whole = await duck(`SELECT * FROM read_parquet(${sqlString(shardFile('SWE_Smith', 1))})`)
    assert.deepEqual(parts, whole)
  })
})

describe('export --worker I/N', () => {
  /** The shards a worker exports: `--worker` when `worker` is given, else the job array's environment in `env`. */
  async function share(worker: string | undefined, extra: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<number[]> {
    const out = join(fixture.home, `worker-${worker?.replace('/', '-') ?? Object.values(env).join('-')}-${extra.join('')}`)
    const result = await runCli(['export', '--split', 'SWE_Smith', ...extra, '--format', 'jsonl', '--out', out, ...(worker ? ['--worker', worker] : []), '--json'], { ...fixture.env, ...env })
    assert.equal(result.code, 0, result.stderr)
    const files = (JSON.parse(result.stdout).files as string[]).map((p) => p.slice(p.indexOf('trajectories/')))
    const shards = files.map((p) => Number(/-(\d{5})-of-/.exec(p)![1]))
    // each output holds exactly its shard's rows
    for (const [i, path] of (JSON.parse(result.stdout).files as string[]).entries()) {
      const expected = await duck(`SELECT trajectory_id FROM read_parquet(${sqlString(shardFile('SWE_Smith', shards[i]!))})`)
      assert.deepEqual((await readJsonl(path)).map((r) => r.trajectory_id), expected.map((r) => r.trajectory_id), files[i])
    }
    return shards
  }

  test('gives each worker every N-th shard of the selection, starting at its index', async () => {
    assert.equal(manifest.files.filter((f) => f.config === 'trajectories' && f.split === 'SWE_Smith').length, 3)
    assert.deepEqual(await share('0/2'), [0, 2])
    assert.deepEqual(await share('1/2'), [1])
    assert.deepEqual(await share('0/3'), [0])
    assert.deepEqual(await share('1/3'), [1])
    assert.deepEqual(await share('2/3'), [2])
    assert.deepEqual(await share('0/1'), [0, 1, 2])
    assert.deepEqual(await share('0/2', ['--shards', '1,2']), [1])
    assert.deepEqual(await share('1/2', ['--shards', '1,2']), [2])
  })

  test('without --worker, a Slurm array task or a Kubernetes Indexed Job gives the share; --worker overrides them', async () => {
    assert.deepEqual(await share(undefined, [], { SLURM_ARRAY_TASK_ID: '1', SLURM_ARRAY_TASK_COUNT: '2' }), [1])
    // arrays may start at 1 (--array=1-3): the index counts from SLURM_ARRAY_TASK_MIN
    assert.deepEqual(await share(undefined, [], { SLURM_ARRAY_TASK_ID: '3', SLURM_ARRAY_TASK_MIN: '1', SLURM_ARRAY_TASK_COUNT: '3' }), [2])
    assert.deepEqual(await share(undefined, [], { JOB_COMPLETION_INDEX: '0', JOB_COMPLETIONS: '2' }), [0, 2])
    assert.deepEqual(await share('0/3', [], { SLURM_ARRAY_TASK_ID: '1', SLURM_ARRAY_TASK_COUNT: '2' }), [0])
    const missing = await runCli(['export', '--split', 'SWE_Smith', '--out', join(fixture.home, 'k8s'), '--quiet'], { ...fixture.env, JOB_COMPLETION_INDEX: '1' })
    assert.equal(missing.code, ExitCode.usage)
    assert.match(missing.stderr, /JOB_COMPLETIONS/)
    const wrong = await runCli(['export', '--split', 'SWE_Smith', '--out', join(fixture.home, 'slurm'), '--quiet'], { ...fixture.env, SLURM_ARRAY_TASK_ID: '4', SLURM_ARRAY_TASK_COUNT: '2' })
    assert.equal(wrong.code, ExitCode.usage)
    assert.match(wrong.stderr, /SLURM_ARRAY_TASK_ID.*'4\/2'/)
  })

  test('--jobs 2 runs both workers as processes: the same files, rows and counts as one run', async () => {
    const one = join(fixture.home, 'jobs-1')
    const two = join(fixture.home, 'jobs-2')
    const args = ['export', '--split', 'SWE_Smith,R2E_Gym', '--reward', '1', '--format', 'parquet', '--json']
    const single = await runCli([...args, '--out', one], fixture.env)
    assert.equal(single.code, 0, single.stderr)
    const jobs = await runCli([...args, '--out', two, '--jobs', '2'], fixture.env)
    assert.equal(jobs.code, 0, jobs.stderr)
    const [a, b] = [JSON.parse(single.stdout), JSON.parse(jobs.stdout)]
    assert.deepEqual([b.rows, b.rows_scanned, b.shards], [a.rows, a.rows_scanned, a.shards])
    const names = (summary: { files: string[] }, root: string) => summary.files.map((file) => file.slice(root.length)).sort()
    assert.deepEqual(names(b, two), names(a, one))
    const rows = (file: string) => duck(`SELECT * FROM read_parquet(${sqlString(file)})`)
    for (const name of names(a, one)) assert.deepEqual(await rows(join(two, name)), await rows(join(one, name)), name)
    const conflict = await runCli([...args, '--out', two, '--jobs', '2', '--worker', '0/2'], fixture.env)
    assert.equal(conflict.code, ExitCode.usage)
  })
})

describe('Parquet output keeps the source key-value metadata that still holds', () => {
  test('filter -o x.parquet and export --format parquet carry every key and value but content_defined_chunking', async () => {
    const source = shardFile('SWE_Smith', 0)
    const kv = (file: string) => duck(`SELECT key::VARCHAR AS key, value::VARCHAR AS value FROM parquet_kv_metadata(${sqlString(file)}) ORDER BY 1`)
    const all = await kv(source)
    assert.ok(all.some((entry) => entry.key === 'content_defined_chunking'), 'the fixture has page boundaries of its own')
    // our pages are cut elsewhere: the key would describe chunking the file does not have
    const expected = all.filter((entry) => entry.key !== 'content_defined_chunking')
    assert.ok(expected.some((entry) => entry.key === 'huggingface'), 'the fixture carries the datasets metadata')
    const filtered = join(fixture.home, 'kv.parquet')
    const result = await runCli(['filter', source, '--reward', '1', '-o', filtered], fixture.env)
    assert.equal(result.code, 0, result.stderr)
    assert.deepEqual(await kv(filtered), expected)
    const out = join(fixture.home, 'kv-export')
    const exported = await runCli(['export', source, '--format', 'parquet', '--out', out], fixture.env)
    assert.equal(exported.code, 0, exported.stderr)
    assert.deepEqual(await kv(join(out, 'SWE_Smith-00000-of-00003.parquet')), expected)
  })
})

describe('tool turns of the training formats', () => {
  interface SourceMessage { role: string, content: string | null, tool_call_id?: string, name?: string, tool_calls?: { id: string, function: { name: string, arguments: unknown } }[] }

  test('openai keeps tool_call_id and name; sharegpt wraps results in <tool_response> and calls in <tool_call>', async () => {
    const source = shardFile('filtered_reward1', 0)
    const rows = await duck(`SELECT trajectory_id, messages FROM read_parquet(${sqlString(source)})`)
    const turnsOf = (row: Record<string, unknown>) => JSON.parse(String(row.messages)) as SourceMessage[]
    assert.ok(rows.some((row) => turnsOf(row).some((m) => m.role === 'tool')), 'the shard has tool turns')
    const exported: Record<string, Record<string, unknown>[]> = {}
    for (const to of ['openai', 'sharegpt']) {
      const out = join(fixture.home, `tools-${to}`)
      const result = await runCli(['export', source, '--to', to, '--out', out, '--json'], fixture.env)
      assert.equal(result.code, 0, result.stderr)
      assert.deepEqual(JSON.parse(result.stdout).rejected, {})
      exported[to] = await readJsonl(join(out, 'filtered_reward1-00000-of-00003.jsonl'))
      assert.equal(exported[to]!.length, rows.length)
    }
    // rows the turn normalization leaves as they are (no empty turn, no two same-role turns in a row; see sft/turns.ts)
    const untouched = (turns: SourceMessage[]) => turns.every((turn, t) => turn.role === 'tool' ||
      ((turn.content?.trim() || turn.tool_calls?.length) && turns[t - 1]?.role !== turn.role))
    let checked = 0
    for (const [i, row] of rows.entries()) {
      const turns = turnsOf(row)
      if (!untouched(turns)) continue
      checked++
      const openai = exported.openai![i]!.messages as Record<string, unknown>[]
      const sharegpt = exported.sharegpt![i]!.conversations as { from: string, value: string }[]
      assert.equal(openai.length, turns.length)
      // ShareGPT has no call ids, so the results of one turn's calls are one `tool` turn, each result in its own block
      const results: string[] = []
      let s = 0
      for (const [t, turn] of turns.entries()) {
        const content = typeof turn.content === 'string' ? turn.content : ''
        if (turn.role === 'tool') {
          assert.deepEqual(openai[t], { role: 'tool', tool_call_id: turn.tool_call_id, name: turn.name, content })
          results.push(`<tool_response>\n${content}\n</tool_response>`)
          if (turns[t + 1]?.role === 'tool') continue
          assert.deepEqual(sharegpt[s++], { from: 'tool', value: results.join('\n') })
          results.length = 0
          continue
        }
        const rendered = sharegpt[s++]!
        if (turn.role === 'assistant' && turn.tool_calls?.length) {
          const calls = openai[t]!.tool_calls as { id: string, type: string, function: { name: string, arguments: string } }[]
          assert.deepEqual(calls.map((c) => [c.id, c.type, c.function.name]), turn.tool_calls.map((c) => [c.id, 'function', c.function.name]))
          const args = (value: unknown) => (typeof value === 'string' ? JSON.parse(value) : value)
          assert.deepEqual(calls.map((c) => JSON.parse(c.function.arguments)), turn.tool_calls.map((c) => args(c.function.arguments)))
          const blocks = [...rendered.value.matchAll(/<tool_call>\n(.*?)\n<\/tool_call>/gs)].map((m) => JSON.parse(m[1]!))
          assert.deepEqual(blocks, turn.tool_calls.map((c) => ({ name: c.function.name, arguments: args(c.function.arguments) })))
          assert.equal(rendered.from, 'gpt')
        }
      }
      assert.equal(sharegpt.length, s)
    }
    assert.ok(checked > 0, 'some rows are rendered turn for turn')
  })
})
