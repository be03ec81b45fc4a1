import assert from 'node:assert/strict'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { beforeEach, describe, test } from 'node:test'
import { parquetMetadata } from 'hyparquet'
import { repoDir } from '../fixtures/index.js'
import { ExitCode } from '../src/errors.js'
import { useFixtureHub } from './support/fixtureHub.js'
import { runCli } from './support/cli.js'
import { duck, sqlString } from './support/duckdb.js'

const fixture = useFixtureHub()
const shard = join(repoDir('tiny'), 'trajectories', 'SWE_Smith-00000-of-00003.parquet')
beforeEach(() => fixture.hub.clearFaults())

/** One line on stderr, starting `error: `: no stack trace, no second line. */
function assertOneLine(stderr: string, pattern: RegExp): void {
  const errors = stderr.split('\n').filter((line) => line.startsWith('error: '))
  assert.equal(errors.length, 1, stderr)
  assert.match(errors[0]!, pattern)
  assert.doesNotMatch(stderr, /\n\s+at /, 'no stack trace')
}

/** A copy of the shard with bytes of row group 1's `messages` page overwritten: its snappy stream ends early. */
async function damagedShard(): Promise<string> {
  const bytes = await readFile(shard)
  const metadata = parquetMetadata(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length))
  const chunk = metadata.row_groups[1]!.columns.find((c) => c.meta_data!.path_in_schema[0] === 'messages')!
  const start = Number(chunk.meta_data!.data_page_offset) + 30
  bytes.fill(0xff, start, start + 6)
  const path = join(fixture.home, 'damaged.parquet')
  await writeFile(path, bytes)
  return path
}

describe('decoder messages become one line naming the file, row group and column', () => {
  test('a damaged page: filter on the main thread and on workers, stats --deep, inspect --rows, export', async () => {
    const file = await damagedShard()
    const where = new RegExp(`^error: ${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: row group 1, column 'messages' cannot be decoded \\(corrupt snappy page: it copies from before its start\\): the file is damaged; download it again`)
    for (const args of [
      ['filter', file, '-o', '-', '--threads', '1'],
      ['filter', file, '-o', '-', '--threads', '2'],
      ['stats', file, '--deep'],
      ['inspect', file, '--rows', '8'],
      ['export', file, '--format', 'jsonl', '--out', join(fixture.home, 'damaged-out')],
    ]) {
      const result = await runCli(args, fixture.env)
      assert.equal(result.code, ExitCode.failure, `${args.join(' ')}: ${result.stderr}`)
      assertOneLine(result.stderr, where)
    }
  })
})

describe('Hub answers that are not what a Hub sends', () => {
  test('an HTML page where JSON was expected names the endpoint and HF_ENDPOINT', async () => {
    for (const path of [/\/revision\//, /\/tree\//]) {
      fixture.hub.clearFaults()
      fixture.hub.fault({ target: 'api', path, kind: 'html', times: Infinity })
      const result = await runCli(['stats', '--split', 'SWE_Smith'], fixture.env)
      assert.equal(result.code, ExitCode.failure, result.stderr)
      assertOneLine(result.stderr, new RegExp(`^error: ${fixture.hub.endpoint} answered /api/datasets/\\S+ with text/html that is not JSON: .*HF_ENDPOINT`))
    }
  })

  test('a body shorter than its Content-Length on every retry says so, not "cannot reach"', async () => {
    fixture.hub.fault({ target: 'cdn', kind: 'drop', afterBytes: 1000, times: Infinity })
    const result = await runCli(['download', '--split', 'SWE_Smith', '--shards', '0', '--retries', '1'], fixture.env)
    assert.equal(result.code, ExitCode.network, result.stderr)
    assertOneLine(result.stderr, /^error: http:\/\/127\.0\.0\.1:\d+ ended a response before its last byte \(fewer bytes than its Content-Length; ECONNRESET\)/)
    assert.doesNotMatch(result.stderr, /cannot reach/)
  })

  test('an endpoint that accepts the request and never answers: warned while retried, fails naming it (HF_HUB_ETAG_TIMEOUT)', async () => {
    fixture.hub.fault({ target: 'api', kind: 'hang', times: Infinity })
    const started = Date.now()
    const result = await runCli(['stats', '--split', 'SWE_Smith'], { ...fixture.env, HF_HUB_ETAG_TIMEOUT: '0.5' })
    const seconds = (Date.now() - started) / 1000
    assert.equal(result.code, ExitCode.network, result.stderr)
    assert.equal(result.stderr.match(/^warning: retrying .*: stalled \(no data\)$/gm)?.length, 2, result.stderr)
    assertOneLine(result.stderr, new RegExp(`^error: ${fixture.hub.endpoint} did not answer /api/datasets/\\S+/revision/main within 0.5 s, 3 times: check HF_ENDPOINT`))
    // three waits of 0.5 s and two backoffs (at most 1 s and 2 s): never the 6 attempts of a download stall
    assert.ok(seconds < 5, `${seconds} s`)
    const bad = await runCli(['stats', '--split', 'SWE_Smith'], { ...fixture.env, HF_HUB_ETAG_TIMEOUT: '10s' })
    assert.equal(bad.code, ExitCode.usage)
    assert.match(bad.stderr, /HF_HUB_ETAG_TIMEOUT/)
  })
})

describe('rows and selections a command cannot use', () => {
  test('a predicate on a column the config lacks: one line, exit 2, over one shard or several, local or remote', async () => {
    const tokenized = join(repoDir('tiny'), 'trajectories-tokenized_qwencoder')
    for (const args of [
      ['filter', '--split', 'SWE_Smith', '--config', 'tokenized', '--license', 'MIT', '-o', '-'],
      ['filter', '--split', 'SWE_Smith', '--config', 'tokenized', '--shards', '0', '--license', 'MIT', '-o', '-'],
      ['filter', '--split', 'SWE_Smith,R2E_Gym', '--config', 'tokenized', '--min-turns', '3', '-o', '-'],
      ['filter', join(tokenized, 'SWE_Smith-*.parquet'), '--where', "license = 'MIT' or reward > 0", '-o', '-'],
      ['export', '--split', 'SWE_Smith', '--config', 'tokenized', '--uses-tool', 'think', '--format', 'jsonl', '--out', join(fixture.home, 'no-column')],
    ]) {
      const result = await runCli(args, fixture.env)
      assert.equal(result.code, ExitCode.usage, `${args.join(' ')}: ${result.stderr}`)
      assertOneLine(result.stderr, /^error: \S+SWE_Smith-00000-of-00003\.parquet has no column '(license|messages)' \(the predicate reads it; columns: trajectory_id, reward, /)
      assert.equal(result.stdout, '')
    }
  })

  test('stats --deep counts rows whose messages is not JSON, as filter and export go past them', async () => {
    const file = join(fixture.home, 'bad-json.parquet')
    const [{ ids }] = await duck(`SELECT count(*)::INTEGER AS ids FROM read_parquet(${sqlString(shard)})`) as [{ ids: number }]
    await duck(`COPY (SELECT * REPLACE (CASE WHEN row_number() OVER () IN (2, 5) THEN '[{"role": "user", oops' ELSE messages END AS messages)
      FROM read_parquet(${sqlString(shard)})) TO ${sqlString(file)} (FORMAT parquet)`)
    const stats = await runCli(['stats', file, '--deep', '--json'], fixture.env)
    assert.equal(stats.code, 0, stats.stderr)
    const deep = JSON.parse(stats.stdout).splits[Object.keys(JSON.parse(stats.stdout).splits)[0]!].rows.deep
    assert.equal(deep.invalid_messages, 2)
    assert.equal(deep.messages.count, ids - 2)
    const text = await runCli(['stats', file, '--deep'], fixture.env)
    assert.equal(text.code, 0, text.stderr)
    assert.match(text.stdout, /bad messages\s+2 rows whose messages is not a JSON array/)
    const filter = await runCli(['filter', file, '--min-turns', '0', '-o', '-'], fixture.env)
    assert.equal(filter.code, 0, filter.stderr)
    assert.equal(filter.stdout.trim().split('\n').length, ids - 2)
  })
})
