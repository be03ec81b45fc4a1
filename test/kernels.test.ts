/**
 * The WASM kernels (src/wasm): the committed module is what its source compiles to; snappy pages
 * decompress to what hysnappy gives, into the arena while a task holds it and into copies otherwise,
 * and corrupt ones are refused; escaping equals JSON.stringify wherever the special bytes fall; skipping a
 * JSON string ends where it ends and counts the units JSON.parse gives, and refuses what JSON.parse refuses.
 */
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { describe, test } from 'node:test'
import { compressors } from 'hyparquet-compressors'
import { snappyCompress } from 'hyparquet-writer/src/snappy.js'
import { byteBuffer, writeJsonStringBytes } from '../src/sinks/json.js'
import { closeArena, escapeJsonInto, inKernelMemory, openArena, skipJsonString, snappyUncompress } from '../src/wasm/kernels.js'
import { compileKernels, kernelsModule } from '../scripts/kernels.js'

const encode = (text: string) => new TextEncoder().encode(text)

/** Text like a trajectory's: JSON with code, indentation runs, escapes and UTF-8, `size` bytes or more. */
function sampleText(size: number, seed = 1): Uint8Array {
  let state = seed
  const random = () => (state = (state * 1103515245 + 12345) >>> 0) / 2 ** 32
  const parts = ['{"role": "assistant", "content": "', 'def f(x):\n', '        return x\n', '\t"quoted"\\', 'é中😀', 'aaaaaaaaaaaaaaaaaaaaaaaa', '\u0001\u001f', '0123456789abcdef']
  let text = ''
  while (text.length < size) text += parts[Math.floor(random() * parts.length)]! + String.fromCharCode(32 + Math.floor(random() * 95)).repeat(Math.floor(random() * 40))
  return encode(text)
}

describe('WASM kernels', () => {
  test('the committed module is what src/wasm/kernels.as.ts compiles to (run `npm run kernels` after editing it)', async () => {
    assert.equal(await readFile(kernelsModule, 'utf8'), await compileKernels())
  })

  test('snappy pages decompress to their bytes, as hysnappy decompresses them, with runs, literals and copies of every length', () => {
    const samples = [sampleText(1 << 20), sampleText(3000, 7), new Uint8Array(70_000), Uint8Array.from({ length: 100_000 }, (_, i) => (i * 2654435761) >>> 24), encode('x'), new Uint8Array(0)]
    for (const raw of samples) {
      const packed = snappyCompress(raw)
      const ours = snappyUncompress(packed, raw.length)
      assert.deepEqual(ours, raw)
      assert.deepEqual(ours, compressors.SNAPPY!(packed, raw.length))
    }
  })

  test('while a task holds the arena, pages are views of one memory used again by the next task; outside it, copies', () => {
    const first = sampleText(200_000, 3)
    const second = sampleText(150_000, 4)
    openArena(first.length + second.length)
    const a = snappyUncompress(snappyCompress(first), first.length)
    const b = snappyUncompress(snappyCompress(second), second.length)
    assert.equal(a.buffer, b.buffer, 'one memory')
    assert.ok(b.byteOffset >= a.byteOffset + a.length, 'pages do not overlap')
    assert.deepEqual(a, first)
    assert.deepEqual(b, second)
    const start = a.byteOffset
    // a page beyond the room the task asked for (and than the memory had) is a copy, and the next task gets room for it
    const big = sampleText(4 << 20, 5)
    const spilled = snappyUncompress(snappyCompress(big), big.length)
    assert.notEqual(spilled.buffer, a.buffer)
    assert.deepEqual(spilled, big)
    closeArena()
    openArena(0)
    const again = snappyUncompress(snappyCompress(big), big.length)
    assert.equal(again.byteOffset, start, 'the next task starts at the same place')
    assert.equal(a.length, 0, 'growing the arena detached the last task\'s views')
    assert.deepEqual(again, big)
    closeArena()
    const outside = snappyUncompress(snappyCompress(first), first.length)
    assert.equal(outside.buffer.byteLength, first.length, 'outside a task, a page of its own')
    assert.deepEqual(outside, first)
  })

  test('a corrupt snappy page is refused with the reason, never read past', () => {
    const raw = sampleText(10_000, 9)
    const packed = snappyCompress(raw)
    assert.throws(() => snappyUncompress(packed, raw.length + 1), (error) => error instanceof Error && /not the page header's/.test(error.message))
    assert.throws(() => snappyUncompress(packed.subarray(0, packed.length - 3), raw.length), (error) => error instanceof Error && /ends too soon/.test(error.message))
    // length 5, then a copy of 4 bytes from 1 back with nothing written yet
    assert.throws(() => snappyUncompress(Uint8Array.of(5, 0b000_000_01, 1), 5), (error) => error instanceof Error && /before its start/.test(error.message))
    // a literal longer than what follows
    assert.throws(() => snappyUncompress(Uint8Array.of(3, 0b10 << 2, 65), 3), /ends too soon/)
  })

  test('escaping equals JSON.stringify for every byte that needs it, at every place in a 16-byte block, in the arena and out of it', () => {
    const special = [...Array.from({ length: 32 }, (_, i) => String.fromCharCode(i)), '"', '\\', '\u007f', 'é']
    const filler = 'abcdefghijklmnopqrstuvwxyz0123456789'.repeat(20) // over the size the kernel takes
    for (const c of special) {
      for (let at = 0; at < 17; at++) {
        const sample = filler.slice(0, 500 + at) + c + c + filler.slice(at)
        const out = byteBuffer(1)
        writeJsonStringBytes(out, encode(sample))
        assert.equal(new TextDecoder().decode(out.bytes.subarray(0, out.length)), JSON.stringify(sample), `${JSON.stringify(c)} at ${at}`)
      }
    }
    const text = sampleText(300_000, 11)
    const expected = JSON.stringify(new TextDecoder().decode(text)).slice(1, -1)
    const out = new Uint8Array(text.length * 6)
    assert.equal(new TextDecoder().decode(out.subarray(0, escapeJsonInto(out, 0, text))), expected)
    openArena(text.length)
    const inArena = snappyUncompress(snappyCompress(text), text.length)
    const end = escapeJsonInto(out, 3, inArena)
    closeArena()
    assert.equal(new TextDecoder().decode(out.subarray(3, end)), expected)
  })

  test('skipping a JSON string ends after its closing quote with the UTF-16 units of its value, at every place in a 16-byte block', () => {
    const parts = ['\\n', '\\"', '\\\\', '\\/', '\\u00e9', '\\ud83d\\ude00', 'é', '中', '😀', 'a', '\u007f']
    const filler = 'abcdefghijklmnopqrstuvwxyz0123456789'
    for (const part of parts) {
      for (let at = 0; at < 33; at++) {
        const inner = filler.slice(0, at) + part + filler.slice(at, at + 20) + part
        const json = `"${inner}" , 1`
        const view = inKernelMemory(encode(json))
        const skipped = skipJsonString(view, 1)
        const end = encode(`"${inner}"`).length
        assert.deepEqual(skipped, { end, units: (JSON.parse(`"${inner}"`) as string).length }, `${part} at ${at}`)
      }
    }
    // in the arena, where a decoded page is
    const text = encode(`"${'x'.repeat(100_000)}é"`)
    openArena(text.length)
    const page = snappyUncompress(snappyCompress(text), text.length)
    assert.deepEqual(skipJsonString(inKernelMemory(page), 1), { end: text.length, units: 100_001 })
    closeArena()
  })

  test('skipping refuses what JSON.parse refuses: raw control characters, bad escapes, no closing quote', () => {
    const filler = 'abcdefghijklmnopqrstuvwxyz0123456789'
    for (const bad of ['\u0001', '\n', '\\x', '\\u12', '\\u12g4', '\\']) {
      for (const at of [0, 5, 16, 30]) {
        const json = `"${filler.slice(0, at)}${bad}`
        for (const candidate of [`${json}"`, json]) {
          assert.throws(() => JSON.parse(candidate))
          assert.equal(skipJsonString(inKernelMemory(encode(candidate)), 1), undefined, `${JSON.stringify(candidate)}`)
        }
      }
    }
    assert.equal(skipJsonString(inKernelMemory(encode(`"${filler}`)), 1), undefined, 'no closing quote')
  })
})
