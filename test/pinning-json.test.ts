import assert from 'node:assert/strict'
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { parquetWriteFile } from 'hyparquet-writer'
import { isolatedEnv, runCli, tempDir } from './support/cli.js'
import { duck, sqlString } from './support/duckdb.js'

// Every character JSON must escape (U+0000–U+001F, quote, backslash), and those it may leave raw but
// that break careless writers or readers (U+007F, U+2028/2029, characters above U+FFFF), held raw
// in Parquet strings.
const controls = Array.from({ length: 32 }, (_, c) => String.fromCharCode(c)).join('')
const tricky = [
  controls,
  `"quoted" and \\back\\slashed\\ and \\u0000 spelt out`,
  '\u007f delete \u2028 line \u2029 paragraph',
  'astral \u{1F600} \u{10FFFF} \u{1D11E} and BMP edge \uFFFD \uE000',
  `mixed${controls}"\\\u2028\u{1F4A9}end`,
  '',
]

let dir: { path: string, cleanup: () => Promise<void> }
let file: string
const env = () => isolatedEnv(dir.path, { HF_HUB_OFFLINE: '1' })

/** A messages array whose contents and tool-call arguments hold the tricky strings. */
function messagesOf(text: string, i: number): string {
  return JSON.stringify([
    { role: 'system', content: text },
    { role: 'user', content: `task ${i}: ${text}` },
    { role: 'assistant', content: text, tool_calls: [{ id: `call_${i}`, type: 'function', function: { name: 'execute_bash', arguments: { command: text } } }] },
    { role: 'tool', tool_call_id: `call_${i}`, name: 'execute_bash', content: text },
    { role: 'assistant', content: `done ${text}` },
  ])
}

before(async () => {
  dir = await tempDir()
  file = join(dir.path, 'escapes.parquet')
  parquetWriteFile({
    filename: file,
    columnData: [
      { name: 'trajectory_id', data: tricky.map((text, i) => `id_${i}_${text}_run1`), type: 'STRING' },
      { name: 'image', data: tricky, type: 'STRING' },
      { name: 'messages', data: tricky.map(messagesOf), type: 'STRING' },
      { name: 'reward', data: tricky.map(() => 1), type: 'DOUBLE' },
      { name: 'tools', data: tricky.map((text) => JSON.stringify([{ type: 'function', function: { name: 'execute_bash', description: text } }])), type: 'STRING' },
    ],
  })
})
after(() => dir.cleanup())

const readJsonl = async (path: string) => (await readFile(path, 'utf8')).split('\n').filter(Boolean).map((line) => JSON.parse(line) as Record<string, unknown>)

describe('JSON escaping end to end', () => {
  test('filter → JSONL: every string parses back to exactly DuckDB\'s value', async () => {
    const output = join(dir.path, 'out.jsonl')
    const result = await runCli(['filter', file, '-o', output], env())
    assert.equal(result.code, 0, result.stderr)
    const text = await readFile(output, 'utf8')
    assert.equal(text.split('\n').length, tricky.length + 1, 'one line per row: no raw line break inside a record')
    assert.doesNotMatch(text, /[\u0000-\u0009\u000b-\u001f]/, 'no raw control character')
    const expected = await duck(`SELECT * FROM read_parquet(${sqlString(file)})`)
    assert.equal(expected[0]!.image, tricky[0], 'DuckDB reads the raw control characters back')
    assert.deepEqual(await readJsonl(output), expected)
  })

  test('--parse-json nests messages and tools with the same strings; training formats keep them too', async () => {
    const output = join(dir.path, 'nested.jsonl')
    const result = await runCli(['filter', file, '--parse-json', '-o', output], env())
    assert.equal(result.code, 0, result.stderr)
    const expected = await duck(`SELECT messages, tools FROM read_parquet(${sqlString(file)})`)
    const rows = await readJsonl(output)
    assert.deepEqual(rows.map((row) => row.messages), expected.map((row) => JSON.parse(String(row.messages))))
    assert.deepEqual(rows.map((row) => row.tools), expected.map((row) => JSON.parse(String(row.tools))))

    for (const to of ['openai', 'sharegpt']) {
      const out = join(dir.path, `train-${to}`)
      const exported = await runCli(['export', file, '--to', to, '--out', out], env())
      assert.equal(exported.code, 0, exported.stderr)
      const [name] = (await readdir(out, { recursive: true })).filter((entry) => entry.endsWith('.jsonl'))
      const records = await readJsonl(join(out, name!))
      assert.equal(records.length, tricky.length)
      for (const [i, record] of records.entries()) {
        const source = JSON.parse(String(expected[i]!.messages)) as { content: string }[]
        const contents = to === 'openai'
          ? (record.messages as { content: string }[]).map((m) => m.content)
          : (record.conversations as { value: string }[]).map((m) => m.value)
        // a whitespace-only text makes an empty turn, which training formats drop (sft/turns.ts)
        const system = source[0]!.content.trim() ? 0 : -1
        if (system === 0) assert.equal(contents[0], source[0]!.content, `${to} row ${i}: the system text survives`)
        assert.ok(contents[3 + system]!.includes(tricky[i]!), `${to} row ${i}: the tool result survives`)
      }
    }
  })
})
