import assert from 'node:assert/strict'
import { readdir, readFile } from 'node:fs/promises'
import { gunzipSync } from 'node:zlib'
import { join } from 'node:path'
import { existsSync } from 'node:fs'
import { describe, test } from 'node:test'
import { byteBuffer, writeJsonStringBytes, writeJsonValue } from '../src/sinks/json.js'
import { openJsonlSink } from '../src/sinks/jsonl.js'
import { tempDir } from './support/cli.js'

const encode = (text: string) => new TextEncoder().encode(text)
const decode = (bytes: Uint8Array, length: number) => new TextDecoder().decode(bytes.subarray(0, length))

describe('byte-level JSON', () => {
  test('strings given as UTF-8 bytes round-trip through JSON.parse, whatever they hold', () => {
    const samples = [
      '', 'plain', 'quote " backslash \\ slash /', 'tab\tnewline\nreturn\r\nbell\u0007 nul\u0000 esc\u001b',
      '中文 and emoji 😀 and é', '[{"content": "x\\"y", "role": "tool"}]', '\u007f\u0080\u00ff',
      // longer than the escaper's 64 KiB block, escapes straddling the block edges, all control characters
      'a'.repeat(65_534) + '"\\\n' + '\u0001'.repeat(70_000) + '😀'.repeat(20_000) + '\\"'.repeat(40_000),
    ]
    for (const [i, sample] of samples.entries()) {
      // a buffer with no room at all for the first sample, so every reservation is exercised
      const out = byteBuffer(i === 0 ? 1 : 4)
      writeJsonStringBytes(out, encode(sample))
      const text = decode(out.bytes, out.length)
      assert.equal(JSON.parse(text), sample)
      assert.equal(text, JSON.stringify(sample), 'same escaping as JSON.stringify')
    }
  })

  test('int32 lists (list<int> cells): every digit count, zero, signs and both extremes, as JSON.stringify writes them', () => {
    const edges = [0, 1, 9, 10, 99, 100, 999, 1000, 9999, 10_000, 99_999, 100_000, 151_643, 999_999, 1_000_000, 9_999_999, 10_000_000,
      99_999_999, 100_000_000, 999_999_999, 1_000_000_000, 2_147_483_647]
    let seed = 7
    const random = Array.from({ length: 2000 }, () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) - 2 ** 30)
    const values = Int32Array.from([...edges, ...edges.map((v) => -v), -100, -2_147_483_648, ...random])
    for (const cell of [values, values.subarray(3, 9), new Int32Array(0)]) {
      const out = byteBuffer(1)
      writeJsonValue(out, cell)
      assert.equal(decode(out.bytes, out.length), JSON.stringify(Array.from(cell)))
    }
  })

  test('values: numbers, bigints, lists, nulls, nested objects', () => {
    const out = byteBuffer(1)
    writeJsonValue(out, { a: 1.5, b: 10n, c: 2n ** 70n, d: [1, -100, 151644], e: null, f: new Int32Array([3, 4]), g: 'x', h: true, i: NaN })
    assert.deepEqual(JSON.parse(decode(out.bytes, out.length)), { a: 1.5, b: 10, c: (2n ** 70n).toString(), d: [1, -100, 151644], e: null, f: [3, 4], g: 'x', h: true, i: null })
  })
})

describe('JSONL sink', () => {
  test('writes rows in column order, appears only when closed, nests JSON on request, gzips .gz', async () => {
    const dir = await tempDir()
    try {
      const batch = { columns: { id: ['a', 'b', 'c'], messages: [encode('[{"role":"user"}]'), encode('[]'), encode('[1]')], reward: [1, 0, -1] } }
      const path = join(dir.path, 'out.jsonl')
      const sink = await openJsonlSink({ path, columns: ['id', 'messages', 'reward'] })
      await sink.write(batch, [0, 2])
      assert.ok(!existsSync(path), 'no file under the final name before close')
      await sink.close()
      assert.equal(await readFile(path, 'utf8'), '{"id":"a","messages":"[{\\"role\\":\\"user\\"}]","reward":1}\n{"id":"c","messages":"[1]","reward":-1}\n')
      assert.equal(sink.rows, 2)

      const gz = join(dir.path, 'out.jsonl.gz')
      const nested = await openJsonlSink({ path: gz, columns: ['id', 'messages'], nestedJson: ['messages'] })
      await nested.write(batch)
      await nested.close()
      const lines = gunzipSync(await readFile(gz)).toString().trim().split('\n').map((line) => JSON.parse(line))
      assert.deepEqual(lines, [{ id: 'a', messages: [{ role: 'user' }] }, { id: 'b', messages: [] }, { id: 'c', messages: [1] }])

      const aborted = join(dir.path, 'aborted.jsonl')
      const partial = await openJsonlSink({ path: aborted, columns: ['id'] })
      await partial.write(batch)
      await partial.abort()
      assert.ok(!existsSync(aborted))
      assert.deepEqual((await readdir(dir.path)).sort(), ['out.jsonl', 'out.jsonl.gz'], 'no temporary files left behind')
    } finally {
      await dir.cleanup()
    }
  })
})
