import assert from 'node:assert/strict'
import { Writable } from 'node:stream'
import { describe, test } from 'node:test'
import { encodeJsonlRows, openJsonlSink } from '../src/sinks/jsonl.js'
import { giveSpares, takeAllSpares, takeSpare } from '../src/sinks/spareChunks.js'

// Encoded JSON-line chunks are reused once written (sinks/spareChunks.ts): the sink must have handed
// their bytes over before it says so, and the encoder must fill a spare instead of a new buffer.
const encoding = { columns: ['id', 'text'] }
const columns = { id: [1, 2, 3], text: ['a', 'b"', 'c\n'] }
const expected = '{"id":1,"text":"a"}\n{"id":2,"text":"b\\""}\n{"id":3,"text":"c\\n"}\n'

describe('spare chunk buffers', () => {
  test('the encoder fills a spare buffer given back, and takes each spare once', () => {
    takeAllSpares()
    const first = encodeJsonlRows({ columns }, [0, 1, 2], encoding)
    const buffer = first.chunks[0]!.buffer as ArrayBuffer
    new Uint8Array(buffer).fill(0x78)
    giveSpares([buffer, buffer])
    const again = encodeJsonlRows({ columns }, [0, 1, 2], encoding)
    assert.equal(again.chunks[0]!.buffer, buffer)
    assert.equal(new TextDecoder().decode(again.chunks[0]), expected, 'old bytes past the chunk do not leak in')
    assert.notEqual(encodeJsonlRows({ columns }, [0], encoding).chunks[0]!.buffer, buffer, 'given twice, kept once')
  })

  test('a spare the encoder took but did not fill (no rows, or none after a full chunk) stays a spare', () => {
    takeAllSpares()
    const buffer = new ArrayBuffer(8 * 1024 * 1024)
    giveSpares([buffer])
    assert.deepEqual(encodeJsonlRows({ columns }, [], encoding).chunks, [])
    assert.deepEqual(takeAllSpares(), [buffer])
  })

  test('too small, detached or beyond the cap: not kept', () => {
    takeAllSpares()
    const detached = new ArrayBuffer(16)
    structuredClone(detached, { transfer: [detached] })
    giveSpares([detached, new ArrayBuffer(8)])
    assert.equal(takeSpare(16), undefined)
    assert.equal(takeAllSpares().length, 1)
    giveSpares(Array.from({ length: 20 }, () => new ArrayBuffer(32)))
    assert.equal(takeAllSpares().length, 4)
    assert.deepEqual(takeAllSpares(), [])
  })

  test('writeEncoded resolves only once the stream has taken every chunk, so refilling them cannot change the output', async () => {
    const taken: string[] = []
    // a slow consumer that reads each chunk only when it calls back, well after write() returned
    const slow = new Writable({
      highWaterMark: 1 << 30,
      write(chunk: Uint8Array, _encoding, callback) {
        setTimeout(() => { taken.push(new TextDecoder().decode(chunk)); callback() }, 20)
      },
    })
    const sink = await openJsonlSink({ path: '-', stdout: slow, ...encoding })
    const encoded = encodeJsonlRows({ columns }, [0, 1, 2], encoding)
    const parts = { chunks: [encoded.chunks[0]!.subarray(0, 20), encoded.chunks[0]!.subarray(20)], rowEnds: encoded.rowEnds }
    await sink.writeEncoded(parts)
    for (const chunk of parts.chunks) chunk.fill(0x78)
    assert.equal(taken.join(''), expected)
    assert.equal(sink.rows, 3)
  })
})
