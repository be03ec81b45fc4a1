import assert from 'node:assert/strict'
import { join } from 'node:path'
import { beforeEach, describe, test } from 'node:test'
import { readManifest, repoDir } from '../fixtures/index.js'
import { ExitCode } from '../src/errors.js'
import { footerGuess } from '../src/parquet/footer.js'
import { fixtureRepo, useFixtureHub } from './support/fixtureHub.js'
import { runCli } from './support/cli.js'
import { duck, sqlString } from './support/duckdb.js'

const manifest = readManifest('tiny')
const fixture = useFixtureHub()
beforeEach(() => fixture.hub.clearLog())

const cdn = () => fixture.hub.requests.filter((r) => r.origin === 'cdn')

describe('inspect', () => {
  test('a local shard: schema, row groups, codecs, page index, features (human and --json)', async () => {
    for (const file of manifest.files.filter((f) => f.shard === 0)) {
      const path = join(repoDir('tiny'), file.path)
      const human = await runCli(['inspect', path], fixture.env)
      assert.equal(human.code, 0, human.stderr)
      assert.match(human.stdout, new RegExp(`${file.rows} rows, ${file.rowGroups} row group`))
      assert.match(human.stdout, new RegExp(file.codec))
      assert.match(human.stdout, /page index {2}offset index on \d+ of \d+ column chunks/)
      assert.match(human.stdout, /features {4}trajectory_id: string/)
      const json = await runCli(['inspect', path, '--json'], fixture.env)
      const parsed = JSON.parse(json.stdout)
      assert.equal(parsed.files[0].rows, file.rows)
      assert.equal(parsed.summary.row_groups, file.rowGroups)
      const counts = await duck(`SELECT count(*) AS n FROM read_parquet(${sqlString(path)})`)
      assert.equal(parsed.summary.rows, Number(counts[0]!.n))
    }
  })

  test('a remote split is summarised from its footers alone', async () => {
    const result = await runCli(['inspect', '--split', 'SWE_Smith', '--json'], fixture.env)
    assert.equal(result.code, 0, result.stderr)
    const parsed = JSON.parse(result.stdout)
    const shards = manifest.files.filter((f) => f.config === 'trajectories' && f.split === 'SWE_Smith')
    assert.equal(parsed.summary.files, shards.length)
    assert.equal(parsed.summary.rows, shards.reduce((sum, f) => sum + f.rows, 0))
    assert.equal(parsed.commit, fixture.hub.commitOf(fixtureRepo))
    // exactly one tail read per shard, nothing else
    assert.equal(cdn().length, shards.length)
    for (const request of cdn()) {
      const shard = shards.find((s) => s.path === request.file)!
      assert.equal(request.range, `bytes=${Math.max(0, shard.size - footerGuess)}-${shard.size - 1}`)
    }
    const sent = cdn().reduce((sum, r) => sum + r.bytesSent, 0)
    assert.equal(parsed.bytes_fetched, sent, 'reports exactly the bytes the CDN sent')
  })

  test('--rows shows readable trajectories; --json gives the raw rows, equal to DuckDB\'s', async () => {
    const path = join(repoDir('tiny'), manifest.files.find((f) => f.config === 'trajectories' && f.split === 'SWE_Smith' && f.shard === 1)!.path)
    const human = await runCli(['inspect', path, '--rows', '2', '--offset', '3'], fixture.env)
    assert.equal(human.code, 0, human.stderr)
    assert.match(human.stdout, /── 1\. system/)
    assert.match(human.stdout, /→ (execute_bash|str_replace_editor|think)/)
    assert.match(human.stdout, /more lines \(--full shows all\)/)
    const json = await runCli(['inspect', path, '--rows', '2', '--offset', '3', '--json'], fixture.env)
    const rows = json.stdout.trim().split('\n').map((line) => JSON.parse(line))
    const expected = await duck(`SELECT * FROM read_parquet(${sqlString(path)}) LIMIT 2 OFFSET 3`)
    assert.deepEqual(rows, expected)
  })

  test('--id finds a trajectory remotely, reading one shard\'s row group', async () => {
    const target = manifest.files.find((f) => f.config === 'trajectories' && f.split === 'SWE_Rebench' && f.shard === 2)!
    const [expected] = await duck(`SELECT * FROM read_parquet(${sqlString(join(repoDir('tiny'), target.path))}) LIMIT 1 OFFSET 4`)
    const result = await runCli(['inspect', '--split', 'SWE_Rebench', '--id', String(expected!.trajectory_id), '--json'], fixture.env)
    assert.equal(result.code, 0, result.stderr)
    assert.deepEqual(JSON.parse(result.stdout), expected)
    const human = await runCli(['inspect', '--split', 'SWE_Rebench', '--id', String(expected!.trajectory_id)], fixture.env)
    assert.match(human.stdout, new RegExp(`^${String(expected!.trajectory_id)}\n`))
    assert.match(human.stderr, /found in trajectories\/SWE_Rebench-00002-of-00003\.parquet, row group 0, row 4: read 3 footers and 1 row group/)
    const shards = manifest.files.filter((f) => f.config === 'trajectories' && f.split === 'SWE_Rebench')
    fixture.hub.clearLog()
    await runCli(['inspect', '--split', 'SWE_Rebench', '--id', String(expected!.trajectory_id), '--json'], fixture.env)
    const beyondFooters = cdn().filter((r) => {
      const shard = shards.find((s) => s.path === r.file)!
      return !r.range!.startsWith(`bytes=${Math.max(0, shard.size - footerGuess)}-`)
    })
    for (const shard of shards) {
      const tails = cdn().filter((r) => r.file === shard.path && r.range!.startsWith(`bytes=${Math.max(0, shard.size - footerGuess)}-`))
      assert.equal(tails.length, 1, `${shard.path}: its footer tail is fetched once, and reused by the row reads`)
    }
    assert.ok(beyondFooters.every((r) => r.file === target.path), 'only the shard that holds the id was read beyond its footer')
  })

  test('a URL is inspected through range requests: a Hub resolve URL or a plain one', async () => {
    const file = manifest.files.find((f) => f.config === 'trajectories' && f.split === 'R2E_Gym' && f.shard === 1)!
    const url = `${fixture.hub.endpoint}/datasets/${fixtureRepo}/resolve/main/${file.path}`
    const result = await runCli(['inspect', url, '--json'], fixture.env)
    assert.equal(result.code, 0, result.stderr)
    const parsed = JSON.parse(result.stdout)
    assert.equal(parsed.summary.rows, file.rows)
    assert.ok(parsed.bytes_fetched > 0 && parsed.bytes_fetched <= Math.min(file.size, footerGuess))
    const location = fixture.hub.requests.find((r) => r.origin === 'cdn' && r.file === file.path)!
    const plain = await runCli(['inspect', `${fixture.hub.cdnOrigin}${location.path}`, '--rows', '1', '--json'], fixture.env)
    assert.equal(plain.code, 0, plain.stderr)
    const [expected] = await duck(`SELECT * FROM read_parquet(${sqlString(join(repoDir('tiny'), file.path))}) LIMIT 1`)
    assert.deepEqual(JSON.parse(plain.stdout), expected)
  })

  test('bad input: missing file, not Parquet, no selection, unknown id', async () => {
    const missing = await runCli(['inspect', '/nonexistent/x.parquet'], fixture.env)
    assert.equal(missing.code, ExitCode.usage)
    assert.equal(missing.stderr, 'error: no such file: /nonexistent/x.parquet\n')
    const notParquet = await runCli(['inspect', join(repoDir('tiny'), 'README.md')], fixture.env)
    assert.equal(notParquet.code, ExitCode.failure)
    assert.match(notParquet.stderr, /README\.md is not a Parquet file/)
    const nothing = await runCli(['inspect'], fixture.env)
    assert.equal(nothing.code, ExitCode.usage)
    assert.match(nothing.stderr, /nothing to inspect/)
    const unknown = await runCli(['inspect', join(repoDir('tiny'), 'trajectories'), '--id', 'nope_run1'], fixture.env)
    assert.equal(unknown.code, ExitCode.usage)
    assert.match(unknown.stderr, /no trajectory 'nope_run1'/)
  })
})
