import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import { repoDir } from '../fixtures/index.js'
import { ExitCode } from '../src/errors.js'
import { useFixtureHub } from './support/fixtureHub.js'
import { runCli } from './support/cli.js'

const fixture = useFixtureHub()
const shard = join(repoDir('tiny'), 'trajectories', 'SWE_Smith-00000-of-00003.parquet')
const out = (name: string) => join(fixture.home, name)

/** A usage error: exit 2 and exactly one line on stderr, matching every pattern. */
async function assertUsageError(args: string[], ...patterns: RegExp[]): Promise<void> {
  const result = await runCli(args, fixture.env)
  const label = args.join(' ')
  assert.equal(result.code, ExitCode.usage, `${label}: exit ${result.code}, stderr ${result.stderr}`)
  assert.match(result.stderr, /^error: [^\n]+\n$/, `${label}: one line, got ${JSON.stringify(result.stderr)}`)
  for (const pattern of patterns) assert.match(result.stderr, pattern, label)
  assert.equal(result.stdout, '', `${label}: nothing on stdout`)
}

describe('malformed option values are usage errors naming the option, the value and what is accepted', () => {
  test('sizes, counts, numbers and ranges are parsed strictly', async () => {
    await assertUsageError(['download', '--split', 'SWE_Smith', '--part-size', '8XB'], /--part-size '8XB'/, /8MB/)
    await assertUsageError(['download', '--split', 'SWE_Smith', '--part-size', '1kB'], /--part-size '1kB'/, /at least 64KiB/)
    await assertUsageError(['filter', shard, '--run', '3-1', '-o', out('x.jsonl')], /--run '3-1'/, /ends before it starts/)
    await assertUsageError(['filter', shard, '--run', '1,x', '-o', out('x.jsonl')], /--run '1,x'/, /1,3-4/)
    await assertUsageError(['filter', shard, '--limit', '1.5'], /--limit '1.5'/, /whole number/)
    await assertUsageError(['filter', shard, '--limit', '1e3'], /--limit '1e3'/)
    await assertUsageError(['filter', shard, '--sample', '3', '--seed', 'x'], /--seed 'x'/)
    await assertUsageError(['filter', shard, '--min-turns', '-1'], /--min-turns '-1'/)
    await assertUsageError(['filter', shard, '--concurrency', '0'], /--concurrency '0'/, /at least 1/)
    await assertUsageError(['filter', shard, '--retries', 'many'], /--retries 'many'/)
    await assertUsageError(['filter', shard, '--timeout', '10s'], /--timeout '10s'/, /greater than 0/)
    const fromEnv = await runCli(['filter', shard], { ...fixture.env, HF_HUB_DOWNLOAD_TIMEOUT: 'soon' })
    assert.equal(fromEnv.code, ExitCode.usage)
    assert.equal(fromEnv.stderr, "error: invalid HF_HUB_DOWNLOAD_TIMEOUT 'soon': use a number greater than 0, such as 30 or 0.5\n")
    await assertUsageError(['inspect', shard, '--rows', '2', '--offset', '-3'], /--offset '-3'/)
    await assertUsageError(['export', shard, '--out', out('e'), '--max-bytes-per-file', '1XB'], /--max-bytes-per-file '1XB'/)
    await assertUsageError(['export', shard, '--out', out('e'), '--max-rows-per-file', '0'], /--max-rows-per-file '0'/)
    await assertUsageError(['filter', '--split', 'SWE_Smith', '--shards', '5-2'], /--shards '5-2'/)
  })

  test('unknown choices list what is accepted', async () => {
    await assertUsageError(['filter', shard, '--format', 'csv', '-o', out('x.csv')], /--format 'csv'/, /jsonl or parquet/)
    await assertUsageError(['export', shard, '--out', out('e'), '--to', 'llama'], /--to 'llama'/, /openai, sharegpt, hermes, xml/)
    await assertUsageError(['filter', shard, '-o', out('x.csv')], /x\.csv/, /\.jsonl, \.jsonl\.gz or \.parquet/, /--format/)
  })

  test('an output whose extension contradicts --format is refused', async () => {
    await assertUsageError(['filter', shard, '--format', 'parquet', '-o', out('x.jsonl')], /--format parquet/, /x\.jsonl/)
    await assertUsageError(['filter', shard, '--format', 'jsonl', '-o', out('x.parquet')], /--format jsonl/, /x\.parquet/)
    await assertUsageError(['filter', shard, '--parse-json', '-o', out('x.parquet')], /--parse-json/, /JSONL/)
  })

  test('conflicting options are refused, naming both', async () => {
    await assertUsageError(['stats', shard, '--markdown', '--json'], /--markdown/, /--json/)
    await assertUsageError(['export', shard, '--out', out('e'), '--to', 'openai', '--format', 'parquet'], /--to/, /--format/)
    await assertUsageError(['export', shard, '--out', out('e'), '--to', 'openai', '--parse-json'], /--to/, /--parse-json/)
    await assertUsageError(['export', shard, '--out', out('e'), '--to', 'openai', '--columns', 'messages'], /--to/, /--columns/)
    await assertUsageError(['filter', shard, '--sample', '2', '--limit', '1'], /--sample/, /--limit/)
    await assertUsageError(['inspect', shard, '--id', 'x', '--rows', '1'], /--id/, /--rows/)
  })

  test('options that only mean something with another are refused alone; empty values are refused', async () => {
    await assertUsageError(['inspect', shard, '--offset', '5'], /--offset/, /--rows/)
    await assertUsageError(['inspect', shard, '--full'], /--full/, /--rows N or --id ID/)
    await assertUsageError(['inspect', shard, '--columns', 'reward'], /--columns/, /--rows N or --id ID/)
    await assertUsageError(['filter', shard, '--seed', '3'], /--seed/, /--sample/)
    await assertUsageError(['filter', shard, '--id', ''], /--id ''/)
    await assertUsageError(['filter', shard, '--image', ' '], /--image ' '/)
    await assertUsageError(['filter', shard, '--where', ''], /--where ''/)
    await assertUsageError(['filter', shard, '--uses-tool', ','], /--uses-tool ','/, /think/)
    await assertUsageError(['inspect', shard, '--rows', '1', '--columns', 'foo'], /no column 'foo'/, /reward/)
  })

  test('--shards naming shards that do not exist says which, and how many there are', async () => {
    await assertUsageError(['filter', '--split', 'SWE_Smith', '--shards', '1,7', '-o', out('x.jsonl')], /--shards '1,7'/, /7/, /3 shards \(0-2\)/)
    await assertUsageError(['inspect', '--split', 'R2E_Gym', '--shards', '3-'], /--shards '3-'/, /R2E_Gym has 3 shards/)
    await assertUsageError(['inspect', '--split', 'R2E_Gym', '--shards', '0,5-9'], /there is no shard 5-9$/m)
    for (const shards of ['1-', '1-7']) {
      const inRange = await runCli(['inspect', '--split', 'SWE_Smith', '--shards', shards, '--json'], fixture.env)
      assert.equal(inRange.code, 0, inRange.stderr)
      assert.equal((JSON.parse(inRange.stdout) as { files: unknown[] }).files.length, 2, `${shards}: a range running past the end stops there`)
    }
  })

  test('an unknown option is named, with the closest one suggested, and exits 2', async () => {
    const result = await runCli(['filter', shard, '--limt', '3'], fixture.env)
    assert.equal(result.code, ExitCode.usage)
    assert.match(result.stderr, /unknown option '--limt'/)
    assert.match(result.stderr, /Did you mean --limit\?/)
    for (const command of ['download', 'inspect', 'filter', 'stats', 'export']) {
      const typo = await runCli([command, '--jsn', ...(command === 'export' ? ['--out', out('e')] : [])], fixture.env)
      assert.equal(typo.code, ExitCode.usage, command)
      assert.equal(typo.stderr, "error: unknown option '--jsn'\n(Did you mean --json?)\n", command)
    }
    const command = await runCli(['fitler', shard], fixture.env)
    assert.equal(command.code, ExitCode.usage)
    assert.equal(command.stderr, "error: unknown command 'fitler'\n(Did you mean filter?)\n")
    const extra = await runCli(['download', '--split', 'SWE_Smith', shard], fixture.env)
    assert.equal(extra.code, ExitCode.usage)
    assert.match(extra.stderr, /^error: too many arguments for 'download'/)
  })
})

describe('repeatable options take one value per occurrence, never the files after them', () => {
  test('filter --uses-tool NAME FILE filters FILE', async () => {
    const before = await runCli(['filter', '--uses-tool', 'think', shard, '-o', out('after.jsonl')], fixture.env)
    assert.equal(before.code, 0, before.stderr)
    const reference = await runCli(['filter', shard, '--uses-tool', 'think', '-o', out('reference.jsonl')], fixture.env)
    assert.equal(reference.code, 0, reference.stderr)
    const rows = await readFile(out('after.jsonl'), 'utf8')
    assert.ok(rows.length > 0, 'think is used somewhere in the shard')
    assert.equal(rows, await readFile(out('reference.jsonl'), 'utf8'))
  })

  test('repeated and comma-separated values add up', async () => {
    const repeated = await runCli(['filter', '--uses-tool', 'think', '--uses-tool', 'finish', shard, '-o', '-'], fixture.env)
    const listed = await runCli(['filter', shard, '--uses-tool', 'think,finish', '-o', '-'], fixture.env)
    assert.equal(repeated.code, 0, repeated.stderr)
    assert.equal(repeated.stdout, listed.stdout)
    const splits = await runCli(['stats', '--split', 'SWE_Smith', '--split', 'R2E_Gym', '--json'], fixture.env)
    assert.equal(splits.code, 0, splits.stderr)
    assert.deepEqual(Object.keys((JSON.parse(splits.stdout) as { splits: object }).splits), ['SWE_Smith', 'R2E_Gym'])
  })

  test('--split and --include before a file leave the file a file', async () => {
    await assertUsageError(['stats', '--split', 'SWE_Smith', shard], /either files or --split/)
    await assertUsageError(['inspect', '--split', 'SWE_Smith', shard], /either files or --split/)
    await assertUsageError(['export', '--split', 'SWE_Smith', shard, '--out', out('e')], /either files or --split/)
    await assertUsageError(['inspect', '--include', '*SWE_Smith*', shard], /--include pick shards of a --split/)
    await assertUsageError(['filter', '--shards', '0', shard], /--shards and --include pick shards of a --split/)
  })
})
