import assert from 'node:assert/strict'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import { parquetWriteFile } from 'hyparquet-writer'
import { repoDir } from '../fixtures/index.js'
import { useFixtureHub } from './support/fixtureHub.js'
import { runCli } from './support/cli.js'
import { duck, sqlString } from './support/duckdb.js'

const fixture = useFixtureHub()

/** A value as inspect --json should give it: parsed where it is JSON, the text otherwise. */
const expected = (text: string): unknown => {
  try {
    return JSON.parse(text)
  } catch {
    return text
  }
}

describe('inspect --json key-value metadata', () => {
  test('every key, huggingface included, whole, parsed where it is JSON, as DuckDB reads it', async () => {
    const long = 'x'.repeat(500)
    const own = join(fixture.home, 'metadata.parquet')
    parquetWriteFile({
      filename: own,
      columnData: [{ name: 'trajectory_id', data: ['a_run1'], type: 'STRING' }],
      kvMetadata: [{ key: 'note', value: 'plain text, not JSON' }, { key: 'long', value: long }, { key: 'numbers', value: '[1, 2, 3]' }],
    })
    for (const path of [join(repoDir('tiny'), 'trajectories', 'SWE_Smith-00000-of-00003.parquet'), own]) {
      const result = await runCli(['inspect', path, '--json'], fixture.env)
      assert.equal(result.code, 0, result.stderr)
      const metadata = (JSON.parse(result.stdout) as { files: { key_value_metadata: Record<string, unknown> }[] }).files[0]!.key_value_metadata
      const rows = await duck(`SELECT decode(key) AS key, decode(value) AS value FROM parquet_kv_metadata(${sqlString(path)})`)
      assert.ok(rows.length > 0)
      assert.deepEqual(metadata, Object.fromEntries(rows.map((row) => [row.key as string, expected(row.value as string)])), path)
    }
    const human = await runCli(['inspect', own], fixture.env)
    assert.match(human.stdout, /metadata {4}note = plain text, not JSON/)
    assert.match(human.stdout, /metadata {4}long = x{100,120}…\n/, 'the human view shortens long values')
  })

  test('the dataset shards keep their huggingface features', async () => {
    const result = await runCli(['inspect', join(repoDir('tiny'), 'trajectories', 'SWE_Smith-00000-of-00003.parquet'), '--json'], fixture.env)
    const file = (JSON.parse(result.stdout) as { files: { key_value_metadata: { huggingface?: { info?: { features?: object } } }, features: object }[] }).files[0]!
    assert.ok(file.key_value_metadata.huggingface?.info?.features, 'the huggingface key is kept')
    assert.deepEqual(Object.keys(file.features), Object.keys(file.key_value_metadata.huggingface!.info!.features!))
  })
})
