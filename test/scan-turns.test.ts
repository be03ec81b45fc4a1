/**
 * The summary scanned from a messages cell's bytes (trajectory/scanTurns.ts) against the parser's
 * (TextDecoder, JSON.parse, toTurn): equal wherever the scan answers, the scan answering for the
 * usual shapes and giving up, not guessing, on everything else, valid or not.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { scanTurnFacts } from '../src/trajectory/scanTurns.js'
import { summarizeCell, summarizeFacts, summarizeMessages, type TrajectorySummary } from '../src/trajectory/messages.js'

const encode = (text: string) => new TextEncoder().encode(text)

/** The parser's answer for a cell: its summary, or null for text that is not a JSON array of messages. */
function parsed(bytes: Uint8Array): TrajectorySummary | null {
  try {
    return summarizeMessages(new TextDecoder().decode(bytes))
  } catch (error) {
    if (error instanceof SyntaxError) return null
    throw error
  }
}

function scanned(bytes: Uint8Array): TrajectorySummary | undefined {
  const facts = scanTurnFacts(bytes)
  return facts && summarizeFacts(facts)
}

let seed = 11
const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31
const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!

/** Text of every kind a string may hold: escapes, controls, 2-, 3- and 4-byte UTF-8, lone surrogates. */
function randomText(): string {
  const pieces = ['plain ', 'x', '"', '\\', '/', '\n', '\r\n', '\t', '\b\f', '\u0000', '\u001f', '\u007f', 'é', '中文', '😀', '\u2028', '\ufeff', '\ud800', '\udfff', '{"nested": [1, 2]}', ' '.repeat(9)]
  return Array.from({ length: Math.floor(random() * 12) }, () => pick(pieces)).join('')
}

/** Any JSON value, nested a few levels. */
function randomValue(depth = 0): unknown {
  const kind = Math.floor(random() * (depth > 2 ? 5 : 7))
  if (kind === 0) return null
  if (kind === 1) return random() < 0.5
  if (kind === 2) return pick([0, -1, 3.25, -0.5e-7, 1e21, 123456789012, Number.MAX_SAFE_INTEGER])
  if (kind === 3 || kind === 4) return randomText()
  if (kind === 5) return Array.from({ length: Math.floor(random() * 4) }, () => randomValue(depth + 1))
  return Object.fromEntries(Array.from({ length: Math.floor(random() * 4) }, () => [pick(['a', 'id', 'type', 'text', 'name', 'role', 'arguments']), randomValue(depth + 1)]))
}

/** A message as OpenHands logs them, with now and then a missing, null or odd field. */
function randomMessage(): unknown {
  if (random() < 0.03) return randomValue(2)
  const message: Record<string, unknown> = {}
  if (random() < 0.95) message.role = random() < 0.9 ? pick(['system', 'user', 'assistant', 'tool', 'rôle 😀']) : pick([null, 7, ['assistant']])
  if (random() < 0.95) message.content = random() < 0.9 ? randomText() : pick([null, 3, { text: 'x' }])
  if (random() < 0.5) {
    message.tool_calls = random() < 0.9
      ? Array.from({ length: Math.floor(random() * 4) }, () => (random() < 0.9
          ? { id: `call_${Math.floor(random() * 1e6)}`, type: 'function', function: random() < 0.9 ? { name: pick(['execute_bash', 'str_replace_editor', 'finish', 'think', 'naïve']), arguments: random() < 0.5 ? randomValue(1) : JSON.stringify(randomValue(1)) } : pick([null, 'finish', { arguments: {} }, { name: 5 }]) }
          : randomValue(2)))
      : pick([null, 'finish', {}])
  }
  if (random() < 0.3) message.tool_call_id = `call_${Math.floor(random() * 1e6)}`
  if (random() < 0.3) message.extra = randomValue(1)
  return message
}

function randomCell(): string {
  const messages = Array.from({ length: Math.floor(random() * 8) }, randomMessage)
  return random() < 0.5 ? JSON.stringify(messages) : JSON.stringify(messages, null, pick([1, 2, '\t']))
}

describe('summaries scanned from bytes', () => {
  test('equal the parser\'s on generated cells of every shape, and the scan answers for them', () => {
    for (let i = 0; i < 3000; i++) {
      const bytes = encode(randomCell())
      const expected = parsed(bytes)
      assert.ok(expected, 'generated cells are valid')
      assert.deepEqual(scanned(bytes), expected, new TextDecoder().decode(bytes))
      assert.deepEqual(summarizeCell(bytes), expected)
    }
  })

  test('every answer equals the parser\'s, and invalid text never gets one, through thousands of single-byte damages', () => {
    const significant = encode('"\\{}[],:0-1.eE+tfnu \n\u0001ÿ')
    let answered = 0
    let invalid = 0
    for (let i = 0; i < 6000; i++) {
      const bytes = encode(randomCell())
      const at = Math.floor(random() * bytes.length)
      const byte = significant[Math.floor(random() * significant.length)]!
      const operation = Math.floor(random() * 3)
      const damaged = operation === 0 ? Uint8Array.from([...bytes.subarray(0, at), byte, ...bytes.subarray(at)])
        : operation === 1 ? Uint8Array.from([...bytes.subarray(0, at), ...bytes.subarray(at + 1)])
        : Uint8Array.from(bytes, (b, j) => (j === at ? byte : b))
      const expected = parsed(damaged)
      const fast = scanned(damaged)
      if (expected === null) {
        invalid++
        assert.equal(fast, undefined, `invalid text must not be summarised: ${new TextDecoder().decode(damaged)}`)
      } else if (fast) {
        answered++
        assert.deepEqual(fast, expected, new TextDecoder().decode(damaged))
      }
      assert.deepEqual(summarizeCell(damaged), expected)
    }
    // the damages hit both sides
    assert.ok(invalid > 1000 && answered > 1000, `invalid ${invalid}, answered ${answered}`)
  })

  test('invalid JSON of every kind gets no summary from the scan, and null from summarizeCell', () => {
    const message = (extra: string) => `[{"role": "user", "content": "x", "extra": ${extra}}]`
    const invalid = [
      message('01'), message('-'), message('1.'), message('.5'), message('1e'), message('1e+'), message('+1'), message('tru'), message('nul'),
      message('"\\x"'), message('"\\u12"'), message('"\\u12g4"'), message('"tab\there"'), message("'single'"), message('[1,]'),
      message('{"a" 1}'), message('{"a": 1,}'), message('{a: 1}'), message('"unterminated'),
      '[{"role": "user", "content": "x"}] trailing', '[{"role": "user", "content": "x"}]]', '[{"role": "user", "content": "x"},]',
      '{"role": "user"}', '"just text"', '', ' ', '[', '[{"role": "user", "content": "x"}',
    ]
    for (const text of invalid) {
      const bytes = encode(text)
      assert.equal(parsed(bytes), null, `the parser rejects ${text}`)
      assert.equal(scanTurnFacts(bytes), undefined, text)
      assert.equal(summarizeCell(bytes), null, text)
    }
    // hex digits end at f and F
    for (const bad of ['@', 'G', '`', 'g', '/', ':']) {
      const bytes = encode(message(`"\\u00${bad}0"`))
      assert.equal(parsed(bytes), null, bad)
      assert.equal(scanTurnFacts(bytes), undefined, `\\u00${bad}0`)
    }
    // and the valid neighbours of those are scanned
    for (const number of ['0', '-0', '10', '1.5', '-0.5e-7', '1E+21', '2e3']) assert.ok(scanTurnFacts(encode(message(number))), number)
    for (const escape of ['\\u0aF0', '\\uA0f9', '\\/', '\\b\\f\\n\\r\\t\\"\\\\']) assert.ok(scanTurnFacts(encode(message(`"${escape}"`))), escape)
    // every kind of JSON whitespace between tokens
    assert.deepEqual(scanned(encode('\r\n\t [ {\r"role"\t:\n"user" ,\r\n"content":"ab"}\r]\r\n')), parsed(encode('[{"role": "user", "content": "ab"}]')))
  })

  test('what the scan leaves to the parser: escaped or repeated keys, multimodal content, a BOM, invalid UTF-8, deep nesting', () => {
    const cases: [string, Uint8Array][] = [
      ['an escaped key', encode('[{"r\\u006fle": "assistant", "content": "x"}]')],
      ['a repeated role', encode('[{"role": "user", "role": "assistant", "content": "x"}]')],
      ['a repeated function name', encode('[{"role": "assistant", "tool_calls": [{"function": {"name": "a", "name": "finish"}}]}]')],
      ['multimodal content', encode('[{"role": "user", "content": [{"type": "text", "text": "hé"}, {"type": "image"}]}]')],
      ['an escaped role', encode('[{"role": "assist\\u0061nt", "content": "x"}]')],
      ['a byte order mark', Uint8Array.from([0xef, 0xbb, 0xbf, ...encode('[{"role": "user", "content": "x"}]')])],
      ['invalid UTF-8', Uint8Array.from([...encode('[{"role": "user", "content": "'), 0xc3, 0x28, ...encode('"}]')])],
      ['deep nesting', encode(`[{"role": "user", "content": "x", "extra": ${'['.repeat(20000)}${']'.repeat(20000)}}]`)],
    ]
    for (const [name, bytes] of cases) {
      assert.equal(scanTurnFacts(bytes), undefined, name)
      const expected = parsed(bytes)
      assert.deepEqual(summarizeCell(bytes), expected, name)
    }
    // the parser's answers the scan must not pre-empt
    assert.deepEqual(summarizeCell(cases[0]![1])?.charsByRole, { assistant: 1 })
    assert.deepEqual(summarizeCell(cases[1]![1])?.assistantTurns, 1)
    assert.equal(summarizeCell(cases[2]![1])?.endsWithFinish, true)
    assert.deepEqual(summarizeCell(cases[3]![1])?.charsByRole, { user: 2 })
    assert.equal(summarizeCell(cases[6]![1])?.charsByRole.user, 2, 'U+FFFD for the bad byte, then "("')
  })

  test('a role or tool name that starts with U+FEFF keeps it, as the parsed text does', () => {
    const bytes = encode('[{"role": "\ufeffuser", "content": "x"}, {"role": "assistant", "tool_calls": [{"function": {"name": "\ufefffinish"}}]}]')
    const summary = scanned(bytes)
    assert.deepEqual(summary, parsed(bytes))
    assert.deepEqual(summary?.charsByRole, { '\ufeffuser': 1, assistant: 0 })
    assert.deepEqual(summary?.toolCalls, { '\ufefffinish': 1 })
  })

  test('content length in UTF-16 units: escapes, surrogate pairs written raw or escaped, lone surrogates', () => {
    const content = 'a\\n\\"\\\\\\u00e9é中😀\\ud83d\\ude00\\ud800'
    const bytes = encode(`[{"role": "assistant", "content": "${content}", "tool_calls": [{"function": {"name": "finish"}}]}]`)
    const summary = scanned(bytes)
    assert.deepEqual(summary, parsed(bytes))
    // a \n " \ é é 中 (7) + 😀 raw (2) + 😀 escaped (2) + lone surrogate (1)
    assert.equal(summary?.charsByRole.assistant, 12)
    assert.equal(summary?.endsWithFinish, true)
  })
})
