import assert from 'node:assert/strict'
import { Writable } from 'node:stream'
import { describe, test } from 'node:test'
import { sampleKeys, sampleRank } from '../src/query/sample.js'
import { openJsonlSink } from '../src/sinks/jsonl.js'
import { repoOf, taskOf } from '../src/trajectory/messages.js'

describe('sampling', () => {
  test('ranks are stable across versions: the same seed gives the same sample tomorrow', () => {
    // golden values: a change to the hash silently changes every published --sample --seed selection
    assert.equal(sampleRank(0, ''), 5989913530213141)
    assert.equal(sampleRank(7, 'abc'), 3673091272810126)
    assert.equal(sampleRank(2 ** 40 + 3, 'SWE_Smith_task_run1'), 5972235891852106)
    assert.equal(sampleRank(1, '\u{1F600}'), 6769865201319591)
  })

  test('among equal ranks (a repeated id) the earlier position is kept', () => {
    assert.ok(sampleRank(42, 'x') < sampleRank(42, 'z'))
    // z@0 and z@1 tie; x@2 ranks better and must push out the later z
    assert.deepEqual(sampleKeys(['z', 'z', 'x'], 2, 42), [0, 2])
    assert.deepEqual(sampleKeys(['z', 'z', 'z'], 2, 42), [0, 1])
  })
})

describe('derived fields', () => {
  test('the repository of an R2E-Gym id is lower-cased like the others', () => {
    assert.equal(repoOf(`qingyangwu_PyRamid_final_${'ab12'.repeat(10)}_run1`), 'pyramid')
    assert.equal(repoOf('Acme__Widget-12_run3'), 'acme/widget')
    assert.equal(taskOf('Acme__Widget-12_incomplete_20250812_101601_run3'), 'Acme__Widget-12')
  })
})

describe('JSONL sink memory', () => {
  test('a large batch is written out in pieces as it is encoded, not held whole until the end', async () => {
    const chunks: number[] = []
    const stdout = new Writable({ write(chunk: Buffer, _encoding, callback) { chunks.push(chunk.length); callback() } })
    const sink = await openJsonlSink({ path: '-', stdout, columns: ['trajectory_id', 'messages'] })
    const rows = 12
    const big = 'm'.repeat(1024 * 1024)
    await sink.write({ columns: { trajectory_id: Array.from({ length: rows }, (_, i) => `t${i}_run1`), messages: Array.from({ length: rows }, () => big) } })
    await sink.close()
    assert.ok(chunks.length >= 2, `${chunks.length} writes for 12 MB`)
    assert.ok(Math.max(...chunks) < 8 * 1024 * 1024, `largest write ${Math.max(...chunks)} bytes`)
    assert.equal(chunks.reduce((a, b) => a + b, 0), sink.bytes)
  })
})
