import assert from 'node:assert/strict'
import { once } from 'node:events'
import { existsSync } from 'node:fs'
import { readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { beforeEach, describe, test } from 'node:test'
import { parquetWriteFile } from 'hyparquet-writer'
import { readManifest, repoDir } from '../fixtures/index.js'
import { ExitCode } from '../src/errors.js'
import { footerGuess } from '../src/parquet/footer.js'
import { fileSource } from '../src/parquet/source.js'
import { compilePredicate } from '../src/query/compile.js'
import { predicateFromFlags } from '../src/query/flags.js'
import { selectRows } from '../src/query/select.js'
import { closeSources, openSources } from '../src/sources.js'
import { useFixtureHub } from './support/fixtureHub.js'
import { finished, runCli, spawnCli, tempDir } from './support/cli.js'
import { duck, sqlString } from './support/duckdb.js'
import { cellAt } from '../src/parquet/intList.js'

const manifest = readManifest('tiny')
const splitGlob = (split: string, config = 'trajectories') => sqlString(join(repoDir('tiny'), config, `${split}-*.parquet`))
const localDir = (config = 'trajectories') => join(repoDir('tiny'), config)
const fixture = useFixtureHub()
beforeEach(() => {
  fixture.hub.clearLog()
  fixture.hub.clearFaults()
  fixture.hub.setBandwidth(undefined)
})

const readJsonl = async (path: string) => (await readFile(path, 'utf8')).split('\n').filter(Boolean).map((line) => JSON.parse(line) as Record<string, unknown>)
const assistants = `len(list_filter(json_extract_string(messages, '$[*].role'), lambda r: r = 'assistant'))`
const toolNames = `json_extract_string(messages, '$[*].tool_calls[*].function.name')`

// (our flags, the same predicate in DuckDB SQL)
const cases: [string[], string][] = [
  [['--reward', '1'], 'reward = 1'],
  [['--license', 'MIT,Apache-2.0', '--reward', '>=0'], `license IN ('MIT', 'Apache-2.0') AND reward >= 0`],
  [['--where', `reward >= 1 and license in ('MIT','BSD-3-Clause')`], `reward >= 1 AND license IN ('MIT', 'BSD-3-Clause')`],
  [['--where', `trajectory_id ~ '_run[12]$' or reward < 0`], `regexp_matches(trajectory_id, '_run[12]$') OR reward < 0`],
  [['--finish-reason', 'stop'], `finish_reason = 'stop'`],
  [['--min-turns', '6', '--uses-tool', 'think'], `${assistants} >= 6 AND list_contains(${toolNames}, 'think')`],
  [['--where', `image like '%xarray%' and not (reward = 0)`], `image LIKE '%xarray%' AND NOT (reward = 0)`],
]

describe('filter', () => {
  test('JSONL output equals DuckDB running the same predicate, row for row and field for field', async () => {
    for (const [flags, sql] of cases) {
      const output = join(fixture.home, 'out.jsonl')
      const result = await runCli(['filter', localDir(), ...flags, '-o', output], fixture.env)
      assert.equal(result.code, 0, result.stderr)
      const rows = await readJsonl(output)
      const expected = await duck(`SELECT * FROM read_parquet(${sqlString(join(localDir(), '*.parquet'))}, filename = true) WHERE ${sql} ORDER BY filename, file_row_number`)
        .catch(() => duck(`SELECT * FROM read_parquet(${sqlString(join(localDir(), '*.parquet'))}) WHERE ${sql}`))
      assert.ok(expected.length > 0, `case ${flags.join(' ')} selects something`)
      assert.deepEqual(rows, expected.map(({ filename: _f, file_row_number: _n, ...row }) => row), flags.join(' '))
      assert.deepEqual(Object.keys(rows[0]!), ['trajectory_id', 'finish_reason', 'image', 'messages', 'reward', 'tools', 'license'])
    }
  })

  test('Parquet output keeps the source types (float64, list<int32>, list<int64>) and rows', async () => {
    const output = join(fixture.home, 'tok.parquet')
    const result = await runCli(['filter', localDir('trajectories-tokenized_qwencoder'), '--reward', '1', '-o', output], fixture.env)
    assert.equal(result.code, 0, result.stderr)
    const types = await duck(`SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM read_parquet(${sqlString(output)}))`)
    assert.deepEqual(types.map((t) => t.column_type), ['VARCHAR', 'DOUBLE', 'VARCHAR', 'INTEGER[]', 'BIGINT[]'])
    const got = await duck(`SELECT * FROM read_parquet(${sqlString(output)})`)
    const expected = await duck(`SELECT * FROM read_parquet(${sqlString(join(localDir('trajectories-tokenized_qwencoder'), '*.parquet'))}) WHERE reward = 1`)
    assert.deepEqual(got, expected)
  })

  test('remote two-phase plan: large columns are fetched only from shards that hold matches', async () => {
    const shards = manifest.files.filter((f) => f.config === 'trajectories' && f.split === 'SWE_Rebench')
    const output = join(fixture.home, 'isc.jsonl')
    const result = await runCli(['filter', '--split', 'SWE_Rebench', '--license', 'ISC', '-o', output, '--json'], fixture.env)
    assert.equal(result.code, 0, result.stderr)
    const summary = JSON.parse(result.stdout)
    const expected = await duck(`SELECT trajectory_id, parse_filename(filename) AS file FROM read_parquet(${splitGlob('SWE_Rebench')}, filename = true) WHERE license = 'ISC'`)
    assert.equal(summary.rows_written, expected.length)
    assert.equal(summary.bytes_fetched, fixture.hub.requests.filter((r) => r.origin === 'cdn').reduce((sum, r) => sum + r.bytesSent, 0))
    for (const shard of shards) {
      const matches = expected.some((row) => shard.path.endsWith(String(row.file)))
      const beyondFooter = fixture.hub.requests.filter((r) => r.origin === 'cdn' && r.file === shard.path && !r.range!.startsWith(`bytes=${Math.max(0, shard.size - footerGuess)}-`))
      const bytes = beyondFooter.reduce((sum, r) => sum + r.bytesSent, 0)
      const [sizes] = await duck(`SELECT sum(total_compressed_size) FILTER (path_in_schema = 'messages') AS messages,
        sum(total_compressed_size) FILTER (path_in_schema = 'license') AS license FROM parquet_metadata(${sqlString(join(repoDir('tiny'), shard.path))})`)
      if (matches) assert.ok(bytes >= Number(sizes!.messages), `${shard.path}: messages fetched for its matches`)
      else assert.ok(bytes <= Number(sizes!.license) + 64 * 1024, `${shard.path}: only the license column (${bytes} bytes)`)
    }
  })

  test('output order is deterministic: shard order, then row order, at any concurrency', async () => {
    const a = join(fixture.home, 'a.jsonl')
    const b = join(fixture.home, 'b.jsonl')
    assert.equal((await runCli(['filter', '--split', 'all', '--reward', '1', '-o', a, '--concurrency', '1'], fixture.env)).code, 0)
    assert.equal((await runCli(['filter', '--split', 'all', '--reward', '1', '-o', b, '--concurrency', '32'], fixture.env)).code, 0)
    assert.ok((await readFile(a)).equals(await readFile(b)))
    const ids = (await readJsonl(a)).map((row) => row.trajectory_id)
    const order = manifest.files.filter((f) => f.config === 'trajectories').map((f) => f.path)
    const expected = (await duck(`SELECT trajectory_id, filename, file_row_number FROM read_parquet(${sqlString(join(localDir(), '*.parquet'))}, filename = true, file_row_number = true) WHERE reward = 1`))
      .sort((x, y) => order.findIndex((p) => String(x.filename).endsWith(p)) - order.findIndex((p) => String(y.filename).endsWith(p)) || Number(x.file_row_number) - Number(y.file_row_number))
    assert.deepEqual(ids, expected.map((row) => row.trajectory_id))
  })

  test('--limit, --sample with a seed, --columns, --parse-json, stdout', async () => {
    const limited = await runCli(['filter', localDir(), '--limit', '3', '--columns', 'trajectory_id,reward'], fixture.env)
    assert.equal(limited.code, 0, limited.stderr)
    const lines = limited.stdout.trim().split('\n').map((line) => JSON.parse(line))
    assert.equal(lines.length, 3)
    assert.deepEqual(Object.keys(lines[0]), ['trajectory_id', 'reward'])
    const sample = async (seed: string) => (await runCli(['filter', localDir(), '--sample', '5', '--seed', seed, '--columns', 'trajectory_id'], fixture.env)).stdout
    assert.equal(await sample('1'), await sample('1'))
    assert.notEqual(await sample('1'), await sample('2'))
    assert.equal((await sample('1')).trim().split('\n').length, 5)
    const nested = await runCli(['filter', localDir(), '--limit', '1', '--parse-json'], fixture.env)
    assert.ok(Array.isArray(JSON.parse(nested.stdout).messages))
  })

  test('piped into a reader that stops early (| head), it exits quietly with 0', async () => {
    const child = spawnCli(['filter', localDir(), '--columns', 'trajectory_id'], fixture.env)
    let stderr = ''
    child.stderr!.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
    await once(child.stdout!, 'data')
    child.stdout!.destroy()
    const { code } = await finished(child, 30_000)
    assert.equal(code, 0)
    assert.equal(stderr, '')
    const both = await runCli(['filter', localDir(), '--split', 'SWE_Smith'], fixture.env)
    assert.equal(both.code, ExitCode.usage)
    assert.match(both.stderr, /give either files or --split, not both/)
  })

  test('huge row groups read in slices give exactly the rows of a whole-row-group read', async () => {
    const file = manifest.files.find((f) => f.config === 'trajectories' && f.split === 'SWE_Rebench' && f.shard === 0)!
    const select = async (sliceBytes?: number) => {
      const opened = openSources([{ name: file.path, origin: 'local', size: file.size, open: () => fileSource(join(repoDir('tiny'), file.path)) }])
      const ids: unknown[] = []
      let batches = 0
      await selectRows(opened, {
        predicate: compilePredicate(predicateFromFlags({ reward: '>=0' })), columns: ['trajectory_id', 'messages'], sliceBytes,
        onMatch: async ({ batch, rows }) => { batches++; for (const row of rows) ids.push(cellAt(batch!.columns.trajectory_id, row)) },
      })
      await closeSources(opened)
      return { ids, batches }
    }
    const whole = await select()
    const sliced = await select(20_000)
    assert.ok(sliced.batches > whole.batches, `${sliced.batches} slices`)
    assert.deepEqual(sliced.ids, whole.ids)
    const expected = await duck(`SELECT trajectory_id FROM read_parquet(${sqlString(join(repoDir('tiny'), file.path))}) WHERE reward >= 0`)
    assert.deepEqual(whole.ids, expected.map((row) => row.trajectory_id))
  })

  test('a bad --where is a usage error pointing at the token', async () => {
    const result = await runCli(['filter', localDir(), '--where', 'reward >= 1 and )'], fixture.env)
    assert.equal(result.code, ExitCode.usage)
    assert.equal(result.stderr, 'error: --where: unexpected \')\' at column 17 in "reward >= 1 and )"\n')
    const field = await runCli(['filter', localDir(), '--where', 'rewrd = 1'], fixture.env)
    assert.match(field.stderr, /unknown field 'rewrd' \(did you mean 'reward'\?\)/)
  })
})

describe('export', () => {
  test('--worker partitions cover the split exactly once; outputs are named like the shards', async () => {
    const outputs: string[] = []
    for (let i = 0; i < 2; i++) {
      const out = join(fixture.home, 'workers')
      const result = await runCli(['export', '--split', 'SWE_Smith', '--format', 'jsonl', '--out', out, '--worker', `${i}/2`, '--json'], fixture.env)
      assert.equal(result.code, 0, result.stderr)
      outputs.push(...JSON.parse(result.stdout).files)
    }
    const shards = manifest.files.filter((f) => f.config === 'trajectories' && f.split === 'SWE_Smith').map((f) => f.path.replace('.parquet', '.jsonl')).sort()
    assert.deepEqual(outputs.map((p) => p.slice(p.indexOf('trajectories/'))).sort(), shards)
    const rows = (await Promise.all(outputs.map(readJsonl))).flat()
    const [count] = await duck(`SELECT count(*) AS n FROM read_parquet(${splitGlob('SWE_Smith')})`)
    assert.equal(rows.length, Number(count!.n))
    assert.equal(new Set(rows.map((r) => r.trajectory_id)).size, rows.length)
    const bad = await runCli(['export', '--split', 'SWE_Smith', '--out', join(fixture.home, 'x'), '--worker', '2/2'], fixture.env)
    assert.equal(bad.code, ExitCode.usage)
  })

  test('Parquet export with --max-rows-per-file: parts readable by DuckDB with the same rows', async () => {
    const out = join(fixture.home, 'parts')
    const result = await runCli(['export', localDir(), '--reward', '1', '--max-rows-per-file', '4', '--out', out], fixture.env)
    assert.equal(result.code, 0, result.stderr)
    const files = (await readdir(out)).sort()
    assert.ok(files.some((name) => name.endsWith('-0001.parquet')))
    assert.ok(files.every((name) => !name.startsWith('.')), 'no temporary files left')
    const got = await duck(`SELECT * FROM read_parquet(${sqlString(join(out, '*.parquet'))}) ORDER BY trajectory_id`)
    const expected = await duck(`SELECT * FROM read_parquet(${sqlString(join(localDir(), '*.parquet'))}) WHERE reward = 1 ORDER BY trajectory_id`)
    assert.deepEqual(got, expected)
    for (const name of files) {
      const [rows] = await duck(`SELECT count(*) AS n FROM read_parquet(${sqlString(join(out, name))})`)
      assert.ok(Number(rows!.n) <= 4)
    }
  })

  test('an interrupted export leaves no partial file under a final name', async () => {
    // the last shard trickles, so the export is interrupted after the first ones are complete
    const shards = manifest.files.filter((f) => f.config === 'trajectories' && f.split === 'filtered_reward1')
    fixture.hub.fault({ target: 'cdn', file: shards.at(-1)!.path, kind: 'trickle', bytesPerSecond: 2000 })
    const out = join(fixture.home, 'interrupted')
    const child = spawnCli(['export', '--split', 'filtered_reward1', '--format', 'parquet', '--out', out], fixture.env)
    const folder = join(out, 'trajectories')
    for (let i = 0; i < 1500; i++) {
      const names = existsSync(folder) ? await readdir(folder) : []
      if (names.some((name) => !name.startsWith('.'))) break
      await sleep(20)
    }
    child.kill('SIGINT')
    const { code } = await finished(child, 30_000)
    fixture.hub.clearFaults()
    assert.equal(code, ExitCode.interrupted)
    const names = await readdir(folder)
    assert.ok(names.length >= 1)
    assert.ok(names.every((name) => !name.startsWith('.')), `no temporary file left after Ctrl-C: ${names.join(', ')}`)
    for (const name of names) {
      const source = manifest.files.find((f) => f.path === `trajectories/${name}`)!
      const [rows] = await duck(`SELECT count(*) AS n FROM read_parquet(${sqlString(join(folder, name))})`)
      assert.equal(Number(rows!.n), source.rows, `${name} is complete`)
    }
    assert.ok(names.length < shards.length, 'it was interrupted')
  })

  test('training formats: valid records out, malformed trajectories rejected and counted', async () => {
    const dir = await tempDir()
    try {
      const good = JSON.stringify([
        { role: 'system', content: 'sys' }, { role: 'user', content: 'fix it' },
        { role: 'assistant', content: 'look', tool_calls: [{ id: 'c1', type: 'function', function: { name: 'execute_bash', arguments: { command: 'ls' } } }] },
        { role: 'tool', content: 'a.py', tool_call_id: 'c1', name: 'execute_bash' },
        { role: 'assistant', content: 'done', tool_calls: [{ id: 'c2', type: 'function', function: { name: 'finish', arguments: { message: 'ok' } } }] },
      ])
      const orphan = JSON.stringify([{ role: 'user', content: 'x' }, { role: 'assistant', content: 'a' }, { role: 'tool', content: 'r', tool_call_id: 'nope' }])
      const empty = JSON.stringify([{ role: 'user', content: 'x' }, { role: 'assistant', content: '', tool_calls: [] }])
      const messages = [good, '[{"role": "user", "content": "unterminated', orphan, empty]
      const path = join(dir.path, 'bad.parquet')
      parquetWriteFile({
        filename: path,
        columnData: [
          { name: 'trajectory_id', data: ['good_run1', 'broken_run1', 'orphan_run1', 'empty_run1'], type: 'STRING' },
          { name: 'messages', data: messages, type: 'STRING' },
          { name: 'reward', data: [1, 1, 1, 1], type: 'DOUBLE' },
          { name: 'tools', data: messages.map(() => '[{"type": "function", "function": {"name": "execute_bash"}}]'), type: 'STRING' },
        ],
      })
      for (const to of ['openai', 'sharegpt']) {
        const out = join(dir.path, to)
        const result = await runCli(['export', path, '--to', to, '--out', out, '--json'], fixture.env)
        assert.equal(result.code, 0, result.stderr)
        const summary = JSON.parse(result.stdout)
        assert.deepEqual(summary.rejected, { unparseable_messages: 1, orphan_tool_result: 1, empty_assistant_turn: 1 })
        const [record] = await readJsonl(join(out, 'bad.jsonl'))
        assert.equal(record!.id, 'good_run1')
        if (to === 'openai') {
          const list = record!.messages as { role: string, tool_calls?: { function: { arguments: string } }[] }[]
          assert.deepEqual(list.map((m) => m.role), ['system', 'user', 'assistant', 'tool', 'assistant'])
          assert.deepEqual(JSON.parse(list[2]!.tool_calls![0]!.function.arguments), { command: 'ls' })
          assert.deepEqual(record!.tools, [{ type: 'function', function: { name: 'execute_bash' } }])
        } else {
          const conversations = record!.conversations as { from: string, value: string }[]
          assert.deepEqual(conversations.map((c) => c.from), ['system', 'human', 'gpt', 'tool', 'gpt'])
          assert.match(conversations[2]!.value, /^look\n<tool_call>\n\{"name":"execute_bash","arguments":\{"command":"ls"\}\}\n<\/tool_call>$/)
        }
      }
      await writeFile(join(dir.path, 'ids.txt'), 'good_run1\norphan_run1\n')
      const byIds = await runCli(['filter', path, '--id', `@${join(dir.path, 'ids.txt')}`, '--columns', 'trajectory_id'], fixture.env)
      assert.deepEqual(byIds.stdout.trim().split('\n').map((line) => JSON.parse(line).trajectory_id), ['good_run1', 'orphan_run1'])
    } finally {
      await dir.cleanup()
    }
  })
})
