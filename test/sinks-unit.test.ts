/**
 * The sinks called directly on real data: JSON bytes, JSONL and Parquet files written to a temp folder
 * and read back (Parquet with hyparquet), atomic files, output routing and part rollover. In-process
 * and fast, so that mutation testing of src/sinks runs this file per mutant.
 */
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { gunzipSync } from 'node:zlib'
import { after, before, describe, test } from 'node:test'
import { parquetMetadata, parquetReadObjects, readOffsetIndex, type FileMetaData, type SchemaElement } from 'hyparquet'
import { compressors } from 'hyparquet-compressors'
import { repoDir } from '../fixtures/index.js'
import { ExitCode } from '../src/errors.js'
import { readFooter } from '../src/parquet/footer.js'
import { cellAt, type IntListColumn } from '../src/parquet/intList.js'
import { readBatches, type RowBatch } from '../src/parquet/rows.js'
import { fileSource } from '../src/parquet/source.js'
import { openAtomicFile, outputError, OutputError, writeFileAtomic } from '../src/sinks/atomicFile.js'
import { byteBuffer, reserve, writeAscii, writeBytes, writeJsonInt32Array, writeJsonStringBytes, writeJsonValue, type ByteBuffer } from '../src/sinks/json.js'
import { encodeJsonlRecords, encodeJsonlRows, jsonlEncoding, jsonlRowWriter, openJsonlSink, sliceEncoded, type EncodedRows } from '../src/sinks/jsonl.js'
import { formatOf, openSink, rollingSink } from '../src/sinks/output.js'
import { encodeRowGroup, openParquetSink, outputKeyValues, parquetLayout } from '../src/sinks/parquet.js'
import { tempDir } from './support/cli.js'

const encode = (text: string) => new TextEncoder().encode(text)
const text = (out: ByteBuffer) => new TextDecoder().decode(out.bytes.subarray(0, out.length))
const json = (value: unknown, capacity = 1) => {
  const out = byteBuffer(capacity)
  writeJsonValue(out, value)
  return text(out)
}

let work: { path: string, cleanup: () => Promise<void> }
let counter = 0
/** A fresh folder under the test's temp folder. */
const fresh = async () => {
  const dir = join(work.path, `t${++counter}`)
  await mkdir(dir)
  return dir
}
before(async () => { work = await tempDir('coderforge-sinks-unit-') })
after(async () => { await work.cleanup() })

/** A Writable collecting what it is given, optionally slow (so writers must wait for 'drain') or failing. */
function collector(options: { highWaterMark?: number, slow?: boolean, fail?: Error } = {}) {
  const chunks: Buffer[] = []
  const stream = new Writable({
    highWaterMark: options.highWaterMark ?? 16 * 1024,
    write(chunk: Buffer, _encoding, callback) {
      if (options.fail) return void setImmediate(() => callback(options.fail))
      chunks.push(Buffer.from(chunk))
      if (options.slow) setTimeout(callback, 1)
      else callback()
    },
  })
  return { stream, chunks, text: () => Buffer.concat(chunks).toString() }
}

async function readParquet(path: string): Promise<{ metadata: FileMetaData, rows: Record<string, unknown>[], buffer: ArrayBuffer }> {
  const bytes = await readFile(path)
  const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length) as ArrayBuffer
  return { metadata: parquetMetadata(buffer), rows: await parquetReadObjects({ file: buffer }), buffer }
}

const intList = (type: 'INT32' | 'INT64', rows: (number[] | null)[], wide = false): IntListColumn => {
  const offsets = new Uint32Array(rows.length + 1)
  rows.forEach((row, i) => { offsets[i + 1] = offsets[i]! + (row?.length ?? 0) })
  const flat = rows.flatMap((row) => row ?? [])
  const values = wide ? BigInt64Array.from(flat.map((v) => BigInt(v))) : Int32Array.from(flat)
  const nulls = rows.some((row) => row === null) ? Uint8Array.from(rows.map((row) => (row === null ? 1 : 0))) : undefined
  return { kind: 'intList', type, offsets, values, ...(nulls ? { nulls } : {}) }
}

/** A schema of optional top-level columns; `list32`/`list64` columns are standard optional lists of optional ints. */
function schemaOf(columns: Record<string, 'string' | 'double' | 'float' | 'int64' | 'int32' | 'list32' | 'list64' | 'requiredList32'>): SchemaElement[] {
  const elements: SchemaElement[] = [{ name: 'schema', num_children: Object.keys(columns).length }]
  for (const [name, kind] of Object.entries(columns)) {
    if (kind === 'list32' || kind === 'list64' || kind === 'requiredList32') {
      elements.push({ name, repetition_type: kind === 'requiredList32' ? 'REQUIRED' : 'OPTIONAL', converted_type: 'LIST', num_children: 1 },
        { name: 'list', repetition_type: 'REPEATED', num_children: 1 },
        { name: 'element', repetition_type: 'OPTIONAL', type: kind === 'list64' ? 'INT64' : 'INT32' })
    } else if (kind === 'string') elements.push({ name, repetition_type: 'OPTIONAL', type: 'BYTE_ARRAY', converted_type: 'UTF8' })
    else elements.push({ name, repetition_type: 'OPTIONAL', type: ({ double: 'DOUBLE', float: 'FLOAT', int64: 'INT64', int32: 'INT32' } as const)[kind] })
  }
  return elements
}

describe('JSON bytes', () => {
  test('every control character, quote and backslash is escaped as JSON.stringify does; other bytes are copied', () => {
    const all = Uint8Array.from({ length: 128 }, (_, i) => i)
    const out = byteBuffer(1)
    writeJsonStringBytes(out, all)
    assert.equal(text(out), JSON.stringify(String.fromCharCode(...all)))
    assert.equal(json('\b\f\n\r\t\u0000\u001f\u000b"\\/'), '"\\b\\f\\n\\r\\t\\u0000\\u001f\\u000b\\"\\\\/"')
    // UTF-8 bytes above 0x7f are copied untouched
    const utf8 = encode('é中😀\u007f')
    const copied = byteBuffer(1)
    writeJsonStringBytes(copied, utf8)
    assert.deepEqual(copied.bytes.subarray(1, copied.length - 1), utf8)
  })

  test('a byte to escape is found at every place in a four-byte word, next to ASCII and to UTF-8 bytes', () => {
    const special = [...Array.from({ length: 32 }, (_, i) => String.fromCharCode(i)), '"', '\\']
    for (const filler of ['abcdefgh', 'é中!~ \u007f#', '!#[]']) {
      for (const c of special) {
        for (let at = 0; at < 8; at++) {
          const sample = filler.slice(0, at) + c + filler.slice(at) + filler
          assert.equal(json(sample), JSON.stringify(sample), `${JSON.stringify(c)} at ${at} in ${filler}`)
        }
      }
    }
  })

  test('lone surrogates become U+FFFD (the output is always valid UTF-8)', () => {
    assert.equal(json('a\ud800b\udfffc'), '"a\ufffdb\ufffdc"')
    assert.equal(json({ '\ud83d': 1 }), '{"\ufffd":1}')
  })

  test('strings longer than an escape block, escapes across its edges, from a one-byte buffer', () => {
    const sample = 'a'.repeat(65_535) + '\u0001' + '\n'.repeat(70_000) + '\u001f'.repeat(66_000) + 'z'
    const out = byteBuffer(1)
    writeAscii(out, 'x')
    writeJsonStringBytes(out, encode(sample))
    assert.equal(text(out), 'x' + JSON.stringify(sample))
  })

  test('numbers, bigints (exact: strings outside the safe range), booleans, null and undefined', () => {
    assert.equal(json(1.5), '1.5')
    assert.equal(json(-0), '0')
    assert.equal(json(1e21), '1e+21')
    assert.equal(json([NaN, Infinity, -Infinity, null, undefined]), '[null,null,null,null,null]')
    assert.equal(json(10n), '10')
    assert.equal(json(BigInt(Number.MAX_SAFE_INTEGER)), '9007199254740991')
    assert.equal(json(BigInt(Number.MIN_SAFE_INTEGER)), '-9007199254740991')
    assert.equal(json(BigInt(Number.MAX_SAFE_INTEGER) + 1n), '"9007199254740992"')
    assert.equal(json(BigInt(Number.MIN_SAFE_INTEGER) - 1n), '"-9007199254740992"')
    assert.equal(json(2n ** 70n), '"1180591620717411303424"')
    assert.equal(json(true), 'true')
    assert.equal(json(false), 'false')
    assert.equal(json(null), 'null')
    assert.equal(json(undefined), 'null')
  })

  test('lists, typed arrays, bytes, dates and objects', () => {
    assert.equal(json([]), '[]')
    assert.equal(json({}), '{}')
    assert.equal(json([1, -100, 2.5, 'a', [true, null], { k: [] }]), '[1,-100,2.5,"a",[true,null],{"k":[]}]')
    assert.equal(json(new Int32Array([3, -4, 151644])), '[3,-4,151644]')
    assert.equal(json(BigInt64Array.from([1n, -(2n ** 60n)])), '[1,"-1152921504606846976"]')
    assert.equal(json(new Float64Array([0.5, NaN])), '[0.5,null]')
    assert.equal(json(encode('a"b')), '"a\\"b"')
    assert.equal(json(new Date(Date.UTC(2024, 0, 2, 3, 4, 5, 6))), '"2024-01-02T03:04:05.006Z"')
    assert.equal(json({ 'a"\n': 1, b: { c: 'd' }, e: [encode('x')] }), '{"a\\"\\n":1,"b":{"c":"d"},"e":["x"]}')
  })

  test('int32 lists are written digit by digit, extremes included', () => {
    const values = new Int32Array([0, 7, 9, 10, 99, 100, 999, 1000, -1, -9, -10, 151644, 2147483647, -2147483648, 1_000_000_000])
    const out = byteBuffer(1)
    writeAscii(out, 'ids=')
    writeJsonInt32Array(out, values)
    writeJsonInt32Array(out, new Int32Array(0))
    assert.equal(text(out), `ids=${JSON.stringify(Array.from(values))}[]`)
  })

  test('buffers grow to fit and keep their content; a buffer with room is kept', () => {
    assert.equal(byteBuffer().bytes.length, 1 << 20)
    const out = byteBuffer(4)
    writeBytes(out, encode('abcd'))
    const full = out.bytes
    reserve(out, 0)
    assert.equal(out.bytes, full, 'no new buffer when the bytes fit exactly')
    reserve(out, 1)
    assert.ok(out.bytes.length >= 5)
    assert.equal(out.bytes.length, 8, 'grows at least twofold')
    reserve(out, 100)
    assert.equal(out.bytes.length, 104, 'or to what is needed')
    writeBytes(out, encode('ef'))
    assert.equal(text(out), 'abcdef')
    assert.equal(out.length, 6)
  })
})

describe('JSONL encoding', () => {
  const schema = schemaOf({ id: 'string', reward: 'double', score: 'float', n: 'int64', messages: 'string' })

  test('jsonlEncoding marks the FLOAT and DOUBLE columns among those written', () => {
    assert.deepEqual(jsonlEncoding(schema, ['messages', 'reward', 'n', 'score'], ['messages']),
      { columns: ['messages', 'reward', 'n', 'score'], nestedJson: ['messages'], floatColumns: ['reward', 'score'] })
    assert.deepEqual(jsonlEncoding(schema, ['id', 'n']), { columns: ['id', 'n'], nestedJson: undefined, floatColumns: [] })
  })

  test('a row: columns in order, floats as floats, nested JSON spliced, bytes as strings, list<int> as arrays', () => {
    const write = jsonlRowWriter({ columns: ['id', 'reward', 'n', 'messages', 'ids', 'q"uote'], nestedJson: ['messages'], floatColumns: ['reward'] })
    const columns = {
      id: [encode('a\tb'), 'plain', null, 'x', 'y', 'z'],
      reward: [1, -3, 1.5, NaN, 1e21, null],
      n: [1, 2n, null, 4, 5, 6],
      messages: [encode('[{"role":"user"}]'), '{"a":1}', null, undefined, encode('[]'), 7],
      ids: intList('INT32', [[1, 2], [], null, [-100], [0], [5]]),
    }
    const out = byteBuffer(1)
    for (let row = 0; row < 6; row++) write(out, columns, row)
    assert.equal(text(out), [
      '{"id":"a\\tb","reward":1.0,"n":1,"messages":[{"role":"user"}],"ids":[1,2],"q\\"uote":null}',
      '{"id":"plain","reward":-3.0,"n":2,"messages":{"a":1},"ids":[],"q\\"uote":null}',
      '{"id":null,"reward":1.5,"n":null,"messages":null,"ids":null,"q\\"uote":null}',
      '{"id":"x","reward":null,"n":4,"messages":null,"ids":[-100],"q\\"uote":null}',
      '{"id":"y","reward":1e+21,"n":5,"messages":[],"ids":[0],"q\\"uote":null}',
      '{"id":"z","reward":null,"n":6,"messages":7,"ids":[5],"q\\"uote":null}',
      '',
    ].join('\n'))
    // without floatColumns an integer-valued double is written as an integer
    const plain = byteBuffer(1)
    jsonlRowWriter({ columns: ['reward'] })(plain, { reward: [1] }, 0)
    assert.equal(text(plain), '{"reward":1}\n')
  })

  test('encodeJsonlRows: the chosen rows, with where each line ends', () => {
    const encoded = encodeJsonlRows({ columns: { id: ['a', 'bb', 'ccc'] } }, [2, 0], { columns: ['id'] })
    assert.deepEqual(encoded.chunks.map((chunk) => Buffer.from(chunk).toString()), ['{"id":"ccc"}\n{"id":"a"}\n'])
    assert.deepEqual(Array.from(encoded.rowEnds), [13, 24])
    const none = encodeJsonlRows({ columns: { id: ['a'] } }, [], { columns: ['id'] })
    assert.deepEqual(none.chunks, [])
    assert.equal(none.rowEnds.length, 0)
  })

  test('encoded rows are cut into chunks of about 4 MiB at line ends', () => {
    const big = 'x'.repeat(1_500_000)
    const records = Array.from({ length: 7 }, (_, i) => ({ i, big }))
    const encoded = encodeJsonlRecords(records)
    const lines = records.map((record) => JSON.stringify(record) + '\n')
    assert.deepEqual(encoded.chunks.map((chunk) => Buffer.from(chunk).toString()), [lines.slice(0, 3).join(''), lines.slice(3, 6).join(''), lines[6]])
    let end = 0
    assert.deepEqual(Array.from(encoded.rowEnds), lines.map((line) => (end += line.length)))
  })

  test('sliceEncoded: rows [from, to) as views, line ends rebased, keys sliced', () => {
    const encoded: EncodedRows = { chunks: [encode('a\nbb\n'), encode('ccc\n'), encode('dddd\n')], rowEnds: Uint32Array.from([2, 5, 9, 14]), keys: ['k0', 'k1', 'k2', 'k3'] }
    const show = (rows: EncodedRows) => ({ chunks: rows.chunks.map((chunk) => Buffer.from(chunk).toString()), rowEnds: Array.from(rows.rowEnds), keys: rows.keys })
    assert.deepEqual(show(sliceEncoded(encoded, 1, 3)), { chunks: ['bb\n', 'ccc\n'], rowEnds: [3, 7], keys: ['k1', 'k2'] })
    assert.deepEqual(show(sliceEncoded(encoded, 0, 1)), { chunks: ['a\n'], rowEnds: [2], keys: ['k0'] })
    assert.deepEqual(show(sliceEncoded(encoded, 2, 4)), { chunks: ['ccc\n', 'dddd\n'], rowEnds: [4, 9], keys: ['k2', 'k3'] })
    assert.deepEqual(show(sliceEncoded(encoded, 0, 4)), { chunks: ['a\nbb\n', 'ccc\n', 'dddd\n'], rowEnds: [2, 5, 9, 14], keys: ['k0', 'k1', 'k2', 'k3'] })
    assert.deepEqual(show(sliceEncoded(encoded, 0, 0)), { chunks: [], rowEnds: [], keys: [] })
    assert.deepEqual(show(sliceEncoded(encoded, 3, 3)), { chunks: [], rowEnds: [], keys: [] })
    assert.equal(sliceEncoded({ chunks: encoded.chunks, rowEnds: encoded.rowEnds }, 1, 2).keys, undefined)
  })
})

describe('JSONL sink', () => {
  const batch = { columns: { id: ['a', 'b', 'c'], reward: [1, 0.5, -2] } }

  test('a file appears only on close, with the rows written; rows and bytes are counted', async () => {
    const dir = await fresh()
    const path = join(dir, 'out.jsonl')
    const sink = await openJsonlSink({ path, columns: ['id', 'reward'], floatColumns: ['reward'] })
    assert.deepEqual(sink.encoding, { columns: ['id', 'reward'], nestedJson: undefined, floatColumns: ['reward'] })
    await sink.write(batch, [2, 0])
    await sink.write(batch)
    await sink.write({ columns: {} })
    assert.equal(existsSync(path), false)
    assert.deepEqual((await readdir(dir)).map((name) => name.replace(/\d+/g, 'N')), ['.out.jsonl.N.N.partial'])
    const expected = '{"id":"c","reward":-2.0}\n{"id":"a","reward":1.0}\n{"id":"a","reward":1.0}\n{"id":"b","reward":0.5}\n{"id":"c","reward":-2.0}\n'
    assert.equal(sink.rows, 5)
    assert.equal(sink.bytes, expected.length)
    await sink.close()
    assert.equal(await readFile(path, 'utf8'), expected)
    assert.deepEqual(await readdir(dir), ['out.jsonl'])
  })

  test('encoded rows are appended in order after the rows written before them', async () => {
    const dir = await fresh()
    const path = join(dir, 'out.jsonl')
    const sink = await openJsonlSink({ path, columns: ['id'] })
    await sink.write(batch, [1])
    const encoded = encodeJsonlRows(batch, [0, 2], sink.encoding)
    await sink.writeEncoded({ chunks: [...encoded.chunks, new Uint8Array(0)], rowEnds: encoded.rowEnds })
    assert.equal(sink.rows, 3)
    assert.equal(sink.bytes, 33)
    await sink.close()
    assert.equal(await readFile(path, 'utf8'), '{"id":"b"}\n{"id":"a"}\n{"id":"c"}\n')
  })

  test('.gz is gzipped; bytes counts the JSON before compression', async () => {
    const dir = await fresh()
    const path = join(dir, 'out.jsonl.gz')
    const sink = await openJsonlSink({ path, columns: ['id'] })
    await sink.write(batch)
    await sink.writeEncoded(encodeJsonlRows(batch, [0], sink.encoding))
    await sink.close()
    assert.equal(gunzipSync(await readFile(path)).toString(), '{"id":"a"}\n{"id":"b"}\n{"id":"c"}\n{"id":"a"}\n')
    assert.equal(sink.bytes, 44)
  })

  test('abort leaves nothing, gzipped or not', async () => {
    const dir = await fresh()
    for (const name of ['a.jsonl', 'b.jsonl.gz']) {
      const sink = await openJsonlSink({ path: join(dir, name), columns: ['id'] })
      await sink.write(batch)
      await sink.abort()
    }
    assert.deepEqual(await readdir(dir), [])
  })

  test('- writes to the given stdout, waiting for it to drain, in order', async () => {
    const out = collector({ highWaterMark: 1, slow: true })
    const sink = await openJsonlSink({ path: '-', columns: ['id'], stdout: out.stream })
    const encoded = encodeJsonlRows(batch, [2, 1], sink.encoding)
    const pending = [sink.write(batch, [0]), sink.writeEncoded(encoded)]
    await Promise.all(pending)
    await sink.close()
    assert.equal(out.text(), '{"id":"a"}\n{"id":"c"}\n{"id":"b"}\n')
    assert.equal(out.stream.writableLength, 0, 'every write had drained before the next was made')
  })

  test('a failing stdout rejects the write with its error', async () => {
    const boom = new Error('EPIPE: stdout closed')
    for (const encoded of [false, true]) {
      const sink = await openJsonlSink({ path: '-', columns: ['id'], stdout: collector({ highWaterMark: 1, fail: boom }).stream })
      const writing = encoded ? sink.writeEncoded(encodeJsonlRows(batch, [0], sink.encoding)) : sink.write(batch)
      await assert.rejects(writing, boom)
      // an errored stream is not waited on again: the next write fails at once
      await assert.rejects(sink.write(batch), boom)
    }
  })

  test('large writes reach the stream in chunks of about 4 MiB, each ending at a line end', async () => {
    const out = collector({ highWaterMark: 64 * 1024 * 1024 })
    const sink = await openJsonlSink({ path: '-', columns: ['big'], stdout: out.stream })
    const big = 'y'.repeat(1_000_000)
    await sink.write({ columns: { big: Array.from({ length: 9 }, () => big) } })
    await sink.close()
    const line = `{"big":"${big}"}\n`
    assert.deepEqual(out.chunks.map((chunk) => chunk.length), [5 * line.length, 4 * line.length])
    assert.equal(out.text(), line.repeat(9))
  })
})

describe('output routing', () => {
  test('formatOf: --format, else the extension; - or no name is JSONL; mismatches and unknowns are usage errors', () => {
    assert.equal(formatOf('a.parquet'), 'parquet')
    assert.equal(formatOf('A.PARQUET'), 'parquet')
    assert.equal(formatOf('a.jsonl'), 'jsonl')
    assert.equal(formatOf('a.JSONL.GZ'), 'jsonl')
    assert.equal(formatOf('-'), 'jsonl')
    assert.equal(formatOf(''), 'jsonl')
    assert.equal(formatOf('-', 'parquet'), 'parquet')
    assert.equal(formatOf('out', 'parquet'), 'parquet')
    assert.equal(formatOf('out.txt', 'jsonl'), 'jsonl')
    assert.equal(formatOf('a.jsonl', 'jsonl'), 'jsonl')
    assert.throws(() => formatOf('a.jsonl', 'csv'), { name: 'UsageError', message: "unknown --format 'csv': use jsonl or parquet" })
    assert.throws(() => formatOf('a.jsonl', 'parquet'), { message: '--format parquet does not match -o a.jsonl: name the file .parquet or drop --format' })
    assert.throws(() => formatOf('a.parquet', 'jsonl'), { message: '--format jsonl does not match -o a.parquet: name the file .jsonl or drop --format' })
    assert.throws(() => formatOf('a.parquet.bak'), { message: 'cannot tell the format of -o a.parquet.bak: name it .jsonl, .jsonl.gz or .parquet (or - for stdout), or give --format jsonl|parquet' })
    assert.throws(() => formatOf('a.jsonl.gz.tmp'), /cannot tell the format/)
    assert.throws(() => formatOf('a.json'), /cannot tell the format/)
    assert.throws(() => formatOf('xparquet'), /cannot tell the format/)
  })

  test('openSink: JSONL with float columns from the schema and nested JSON; Parquet with types and metadata; no Parquet on stdout', async () => {
    const dir = await fresh()
    const schema = schemaOf({ id: 'string', reward: 'double', messages: 'string' })
    const batch = { columns: { id: ['a'], reward: [1], messages: ['[1]'] } }
    const out = collector()
    const stdout = await openSink({ path: '-', format: 'jsonl', columns: ['id', 'reward', 'messages'], schema, nestedJson: ['messages'], stdout: out.stream })
    await stdout.write(batch)
    await stdout.close()
    assert.equal(out.text(), '{"id":"a","reward":1.0,"messages":[1]}\n')
    assert.equal(stdout.rows, 1)

    const path = join(dir, 'out.parquet')
    const parquet = await openSink({ path, format: 'parquet', columns: ['reward', 'id'], schema, kvMetadata: [{ key: 'k', value: 'v' }] })
    await parquet.write(batch)
    await parquet.close()
    const { metadata, rows } = await readParquet(path)
    assert.deepEqual(rows, [{ id: 'a', reward: 1 }])
    assert.deepEqual(metadata.schema.slice(1).map((e) => [e.name, e.type]), [['id', 'BYTE_ARRAY'], ['reward', 'DOUBLE']])
    assert.deepEqual(metadata.key_value_metadata, [{ key: 'k', value: 'v' }])

    await assert.rejects(openSink({ path: '-', format: 'parquet', columns: ['id'], schema }), { name: 'UsageError', message: 'Parquet cannot be written to stdout: give -o FILE.parquet' })
  })

  const lines = async (dir: string) => Object.fromEntries(await Promise.all((await readdir(dir)).sort().map(async (name) => [name, (await readFile(join(dir, name), 'utf8')).split('\n').filter(Boolean).map((line) => JSON.parse(line).id)])))
  const jsonlParts = (dir: string, options: { maxRows?: number, maxBytes?: number, exactBytes?: boolean }) => rollingSink({
    ...options, open: (part) => openJsonlSink({ path: join(dir, `part-${part}.jsonl`), columns: ['id'] }),
  })
  const ids = (n: number) => ({ columns: { id: Array.from({ length: n }, (_, i) => `r${i}`) } })

  test('rollingSink: a new part every maxRows rows, across writes', async () => {
    const dir = await fresh()
    const sink = jsonlParts(dir, { maxRows: 2 })
    await sink.write(ids(3))
    await sink.write(ids(4), [3, 1])
    await sink.write(ids(1))
    await sink.close()
    assert.equal(sink.rows, 6)
    assert.equal(sink.parts, 3)
    assert.deepEqual(await lines(dir), { 'part-0.jsonl': ['r0', 'r1'], 'part-1.jsonl': ['r2', 'r3'], 'part-2.jsonl': ['r1', 'r0'] })
  })

  test('rollingSink with exact bytes: a part takes rows until it first reaches maxBytes, for rows and encoded rows alike', async () => {
    // each line is 12 bytes: {"id":"rN"}\n
    for (const encoded of [false, true]) {
      const dir = await fresh()
      const sink = jsonlParts(dir, { maxBytes: 30, exactBytes: true })
      const batch = ids(8)
      if (encoded) {
        await sink.writeEncoded!(encodeJsonlRows(batch, [0, 1, 2, 3, 4], { columns: ['id'] }))
        await sink.writeEncoded!(encodeJsonlRows(batch, [5, 6, 7], { columns: ['id'] }))
      } else {
        await sink.write(batch, [0, 1, 2, 3, 4])
        await sink.write(batch, [5, 6, 7])
      }
      await sink.close()
      assert.equal(sink.rows, 8)
      assert.equal(sink.parts, 3)
      assert.deepEqual(await lines(dir), { 'part-0.jsonl': ['r0', 'r1', 'r2'], 'part-1.jsonl': ['r3', 'r4', 'r5'], 'part-2.jsonl': ['r6', 'r7'] })
    }
  })

  test('rollingSink: a byte cap reached exactly starts the next part; rows and bytes caps together', async () => {
    const dir = await fresh()
    const sink = jsonlParts(dir, { maxBytes: 24, maxRows: 3, exactBytes: true })
    await sink.writeEncoded!(encodeJsonlRows(ids(5), [0, 1, 2, 3, 4], { columns: ['id'] }))
    await sink.close()
    assert.deepEqual(await lines(dir), { 'part-0.jsonl': ['r0', 'r1'], 'part-1.jsonl': ['r2', 'r3'], 'part-2.jsonl': ['r4'] })
    const rows = await fresh()
    const capped = jsonlParts(rows, { maxBytes: 1000, maxRows: 2, exactBytes: true })
    await capped.writeEncoded!(encodeJsonlRows(ids(5), [0, 1, 2, 3, 4], { columns: ['id'] }))
    await capped.close()
    assert.deepEqual(await lines(rows), { 'part-0.jsonl': ['r0', 'r1'], 'part-1.jsonl': ['r2', 'r3'], 'part-2.jsonl': ['r4'] })
  })

  test('rollingSink without exact bytes checks the byte cap between writes only (Parquet: a write is a row group)', async () => {
    const dir = await fresh()
    const schema = schemaOf({ id: 'string' })
    const sink = rollingSink({ maxBytes: 1, open: (part) => openParquetSink({ path: join(dir, `p${part}.parquet`), schema }) })
    await sink.write(ids(3))
    await sink.write(ids(2))
    await sink.close()
    assert.equal(sink.parts, 2)
    assert.deepEqual((await readParquet(join(dir, 'p0.parquet'))).rows, [{ id: 'r0' }, { id: 'r1' }, { id: 'r2' }])
    assert.deepEqual((await readParquet(join(dir, 'p1.parquet'))).rows, [{ id: 'r0' }, { id: 'r1' }])
    const other = rollingSink({ open: (part) => openParquetSink({ path: join(dir, `q${part}.parquet`), schema }) })
    await assert.rejects(other.writeEncoded!(encodeJsonlRows(ids(1), [0], { columns: ['id'] })), /internal: encoded rows for a sink that does not take them/)
    await other.abort()
    assert.deepEqual((await readdir(dir)).sort(), ['p0.parquet', 'p1.parquet'])
  })

  test('rollingSink: nothing written opens no part; abort removes the open part and keeps the closed ones', async () => {
    const dir = await fresh()
    const sink = jsonlParts(dir, { maxRows: 2 })
    await sink.write({ columns: {} })
    await sink.write(ids(0))
    assert.equal(sink.parts, 0)
    await sink.close()
    assert.deepEqual(await readdir(dir), [])
    await sink.write(ids(3))
    await sink.abort()
    assert.deepEqual(await lines(dir), { 'part-0.jsonl': ['r0', 'r1'] })
  })
})

describe('atomic files', () => {
  test('written under a hidden temporary name next to the final one, renamed on commit', async () => {
    const dir = await fresh()
    const path = join(dir, 'out.jsonl')
    const file = await openAtomicFile(path)
    assert.equal(file.path, path)
    assert.match(file.temporaryPath, new RegExp(`^${dir}/\\.out\\.jsonl\\.${process.pid}\\.\\d+\\.partial$`))
    file.stream.write('hello ')
    await file.drained()
    file.stream.write(Buffer.alloc(3 * 1024 * 1024, 'x'))
    await file.drained()
    assert.equal(file.stream.writableNeedDrain, false)
    file.stream.write('!')
    assert.equal(existsSync(path), false)
    await file.commit()
    const content = await readFile(path, 'utf8')
    assert.equal(content, 'hello ' + 'x'.repeat(3 * 1024 * 1024) + '!')
    assert.deepEqual(await readdir(dir), ['out.jsonl'])
    // a second writer replaces it whole
    const again = await openAtomicFile(path)
    assert.notEqual(again.temporaryPath, file.temporaryPath)
    again.stream.write('new')
    await again.commit()
    assert.equal(await readFile(path, 'utf8'), 'new')
  })

  test('abort removes the temporary and the empty folders it created, not folders that were there', async () => {
    const dir = await fresh()
    const file = await openAtomicFile(join(dir, 'a', 'b', 'c', 'out.jsonl'))
    file.stream.write('partial')
    await file.abort()
    assert.deepEqual(await readdir(dir), [])
    const kept = await openAtomicFile(join(dir, 'out.jsonl'))
    await kept.abort()
    assert.deepEqual(await readdir(dir), [])
    assert.ok(existsSync(dir))
    // a folder that gained another file meanwhile stays, with its parents
    const file2 = await openAtomicFile(join(dir, 'x', 'y', 'z', 'out.jsonl'))
    await writeFile(join(dir, 'x', 'y', 'other'), 'keep')
    await file2.abort()
    assert.deepEqual(await readdir(join(dir, 'x', 'y')), ['other'])
  })

  test('a failed stream: drained and commit reject with its error, and abort still cleans up', async () => {
    const dir = await fresh()
    const file = await openAtomicFile(join(dir, 'out.jsonl'))
    const broken = new Error('broken')
    file.stream.destroy(broken)
    // until the stream has closed its file, the error is known only as the stream's
    await assert.rejects(file.drained(), broken)
    await assert.rejects(file.commit(), { name: 'OutputError', message: `cannot write ${file.path}: broken` })
    assert.deepEqual(await readdir(dir), [])
    const later = await openAtomicFile(join(dir, 'later.jsonl'))
    later.stream.destroy(broken)
    await new Promise((resolve) => later.stream.once('close', resolve))
    await assert.rejects(later.drained(), broken)
    await assert.rejects(later.commit(), broken)
    await later.abort()
    assert.deepEqual(await readdir(dir), [])
  })

  test('drained waits for a full stream and rejects when it fails before draining', async () => {
    const dir = await fresh()
    const file = await openAtomicFile(join(dir, 'out.jsonl'))
    file.stream.write(Buffer.alloc(2 * 1024 * 1024))
    assert.equal(file.stream.writableNeedDrain, true)
    const waiting = file.drained()
    file.stream.destroy(new Error('gone'))
    await assert.rejects(waiting, /gone/)
    await file.abort()
    assert.deepEqual(await readdir(dir), [])
  })

  test('a commit whose rename fails names the final path and leaves nothing behind', async () => {
    const dir = await fresh()
    const path = join(dir, 'sub', 'out.jsonl')
    const file = await openAtomicFile(path)
    file.stream.write('x')
    await rm(file.temporaryPath)
    await assert.rejects(file.commit(), (error: unknown) => {
      assert.ok(error instanceof OutputError)
      assert.equal(error.message, `cannot write ${path}: ENOENT: no such file or directory`)
      assert.equal(error.path, path)
      assert.equal(error.code, 'ENOENT')
      assert.equal(error.exitCode, ExitCode.failure)
      return true
    })
    assert.deepEqual(await readdir(dir), [], 'the folder it created is gone too')
  })

  test('a folder in the file\'s place, or a file in a folder\'s place, is a usage error naming it', async () => {
    const dir = await fresh()
    await mkdir(join(dir, 'out.jsonl'))
    await assert.rejects(openAtomicFile(join(dir, 'out.jsonl')), {
      name: 'OutputError', code: 'EISDIR', exitCode: ExitCode.usage,
      message: `${join(dir, 'out.jsonl')} is a folder: give a file name, e.g. ${join(dir, 'out.jsonl', 'out.jsonl')}`,
    })
    await assert.rejects(writeFileAtomic(join(dir, 'out.jsonl'), 'x'), { code: 'EISDIR' })
    await writeFile(join(dir, 'file'), '')
    for (const path of [join(dir, 'file', 'out.jsonl'), join(dir, 'file', 'a', 'b', 'out.jsonl')]) {
      await assert.rejects(openAtomicFile(path), {
        name: 'OutputError', exitCode: ExitCode.usage, path,
        message: `cannot create the folder for ${path}: ${join(dir, 'file')} is a file`,
      })
    }
    assert.deepEqual((await readdir(dir)).sort(), ['file', 'out.jsonl'])
    assert.deepEqual(await readdir(join(dir, 'out.jsonl')), [])
  })

  test('stale temporaries of dead processes (and of an earlier holder of our pid) are removed, others kept', async () => {
    const dir = await fresh()
    const dead = 2 ** 22 + 12345 // above Linux's pid_max: no such process
    const stale = [`.out.jsonl.${dead}.1.partial`, `.out.jsonl.${dead}.partial`, `out.jsonl.${dead}.7.tmp`, `.out.jsonl.${process.pid}.99999.partial`]
    const kept = [`.out.jsonl.${process.ppid}.1.partial`, `.oXt.jsonl.${dead}.1.partial`, `.other.jsonl.${dead}.1.partial`, `.out.jsonl.${dead}.1.partial.bak`, `x.out.jsonl.${dead}.1.tmp`, 'out.jsonl.notes']
    for (const name of [...stale, ...kept]) await writeFile(join(dir, name), '')
    await writeFileAtomic(join(dir, 'out.jsonl'), '{"a":1}')
    assert.deepEqual((await readdir(dir)).sort(), [...kept, 'out.jsonl'].sort())
    assert.equal(await readFile(join(dir, 'out.jsonl'), 'utf8'), '{"a":1}')
    // a file's stale temporaries are looked for once per process
    await writeFile(join(dir, stale[0]!), '')
    await writeFileAtomic(join(dir, 'out.jsonl'), '{"a":2}')
    assert.ok(existsSync(join(dir, stale[0]!)))
    // …and not at all in a folder this process just made
    const made = join(dir, 'made')
    const opened = await openAtomicFile(join(made, 'out.jsonl'))
    await writeFile(join(made, stale[1]!), '')
    await opened.commit()
    const second = await openAtomicFile(join(made, 'out.jsonl'))
    await second.abort()
    assert.deepEqual((await readdir(made)).sort(), [stale[1]!, 'out.jsonl'].sort())
  })

  test('another open file of ours is never taken for a stale temporary', async () => {
    const dir = await fresh()
    const path = join(dir, 'out.jsonl')
    await writeFile(join(dir, 'seed'), '')
    const first = await openAtomicFile(path)
    first.stream.write('first')
    await writeFileAtomic(join(dir, 'other'), '')
    const second = await openAtomicFile(path)
    second.stream.write('second')
    await first.commit()
    assert.equal(await readFile(path, 'utf8'), 'first')
    await second.commit()
    assert.equal(await readFile(path, 'utf8'), 'second')
  })

  test('writeFileAtomic writes the whole content and leaves no temporary', async () => {
    const dir = await fresh()
    const path = join(dir, 'deep', 'state.json')
    await writeFileAtomic(path, 'é'.repeat(100_000))
    assert.equal(await readFile(path, 'utf8'), 'é'.repeat(100_000))
    assert.deepEqual(await readdir(join(dir, 'deep')), ['state.json'])
  })

  test('outputError: one line per errno with the fix, the final path named, the suffix naming the temporary dropped', () => {
    const errno = (code: string, message = `${code}: failed, open '/tmp/.x.1.partial'`) => Object.assign(new Error(message), { code })
    const cases: [string, string, number][] = [
      ['ENOSPC', 'disk full while writing /o/f.jsonl: free some space or write to another disk, then run again', ExitCode.failure],
      ['EDQUOT', 'disk quota exceeded while writing /o/f.jsonl: free some space or write to another disk, then run again', ExitCode.failure],
      ['EACCES', 'permission denied writing /o/f.jsonl: choose a folder you can write to', ExitCode.failure],
      ['EPERM', 'permission denied writing /o/f.jsonl: choose a folder you can write to', ExitCode.failure],
      ['EROFS', 'read-only file system at /o/f.jsonl: choose a folder you can write to', ExitCode.failure],
      ['EISDIR', '/o/f.jsonl is a folder: give a file name, e.g. /o/f.jsonl/out.jsonl', ExitCode.usage],
      ['EIO', "cannot write /o/f.jsonl: EIO: failed", ExitCode.failure],
    ]
    for (const [code, message, exitCode] of cases) {
      const cause = errno(code)
      const error = outputError(cause, '/o/f.jsonl')
      assert.ok(error instanceof OutputError)
      assert.deepEqual({ message: error.message, exitCode: error.exitCode, code: error.code, path: error.path, cause: error.cause }, { message, exitCode, code, path: '/o/f.jsonl', cause })
    }
    assert.equal(outputError(errno('EXDEV', "EXDEV: cross-device link, rename '/a/.t' -> '/b/t'"), '/b/t').message, 'cannot write /b/t: EXDEV: cross-device link')
    assert.equal(outputError(new Error('open files, spaces kept'), '/p').message, 'cannot write /p: open files, spaces kept')
    assert.equal(outputError('plain text', '/p').message, 'cannot write /p: plain text')
    assert.equal(outputError(undefined, '/p').code, undefined)
    const existing = outputError(errno('ENOSPC'), '/first')
    assert.equal(outputError(existing, '/second'), existing)
  })
})

describe('Parquet sink', () => {
  const tokenized = join(repoDir('tiny'), 'trajectories-tokenized_qwencoder', 'R2E_Gym-00002-of-00003.parquet')

  test('row groups encoded away from the file (as on a decoding thread) make the same file, byte for byte', async () => {
    const dir = await fresh()
    for (const [config, file] of [['trajectories-tokenized_qwencoder', 'R2E_Gym-00002-of-00003.parquet'], ['trajectories', 'SWE_Smith-00000-of-00003.parquet']]) {
      const path = join(repoDir('tiny'), config!, file!)
      const source = await fileSource(path)
      const metadata = await readFooter(source)
      // small row groups and every other row: several groups, so offsets move, dictionary pages too
      const batches: RowBatch[] = []
      for await (const batch of readBatches(source, metadata, { rawStrings: true, sliceBytes: 100_000 })) batches.push(batch)
      await source.close?.()
      assert.ok(batches.length >= 3, `${file}: ${batches.length} batches`)
      // all columns but one (the output's own schema)
      const columns = metadata.schema.slice(1).filter((element) => element.name !== 'reward').map((element) => element.name)
      const every = (batch: RowBatch) => Array.from({ length: batch.numRows }, (_, i) => i).filter((i) => i % 2 === 0 || batch.numRows === 1)
      const direct = await openParquetSink({ path: join(dir, `direct-${file}`), schema: metadata.schema, columns, kvMetadata: metadata.key_value_metadata })
      const appended = await openParquetSink({ path: join(dir, `appended-${file}`), schema: metadata.schema, columns, kvMetadata: metadata.key_value_metadata })
      for (const batch of batches) {
        await direct.write(batch, every(batch))
        // through structured cloning, as a result crossing threads does
        await appended.writeRowGroup(structuredClone(encodeRowGroup(appended.layout, batch, every(batch))))
      }
      assert.equal(appended.rows, direct.rows)
      await direct.close()
      await appended.close()
      const [a, b] = [await readFile(join(dir, `direct-${file}`)), await readFile(join(dir, `appended-${file}`))]
      assert.ok(a.equals(b), `${file}: ${a.length} and ${b.length} bytes`)
      assert.equal((await readFooter(await fileSource(join(dir, `appended-${file}`)))).row_groups.length, batches.length)
    }
    // repeated values (dictionary pages) and megabytes of text (several pages: an offset index), whose offsets move too
    const schema: SchemaElement[] = [
      { name: 'root', num_children: 3 },
      { name: 'license', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'OPTIONAL' },
      { name: 'reward', type: 'DOUBLE', repetition_type: 'OPTIONAL' },
      { name: 'messages', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'OPTIONAL' },
    ]
    const batch = (seed: number): RowBatch => ({ source: 'x', rowGroup: 0, rowStart: 0, numRows: 300, columns: {
      license: Array.from({ length: 300 }, (_, i) => ['MIT', 'Apache-2.0', null][(i + seed) % 3]),
      reward: Float64Array.from({ length: 300 }, (_, i) => (i * seed) % 2),
      messages: Array.from({ length: 300 }, (_, i) => `${i} ${seed} `.repeat(2000)),
    } })
    const direct = await openParquetSink({ path: join(dir, 'direct.parquet'), schema })
    const appended = await openParquetSink({ path: join(dir, 'appended.parquet'), schema })
    for (const seed of [1, 2, 3]) {
      await direct.write(batch(seed))
      await appended.writeRowGroup(structuredClone(encodeRowGroup(appended.layout, batch(seed))))
    }
    await direct.close()
    await appended.close()
    assert.ok((await readFile(join(dir, 'direct.parquet'))).equals(await readFile(join(dir, 'appended.parquet'))))
    const footer = await readFooter(await fileSource(join(dir, 'appended.parquet')))
    assert.ok(footer.row_groups.slice(1).every((group) => group.columns.some((chunk) => chunk.meta_data?.dictionary_page_offset !== undefined)), 'dictionary pages after the first group')
    assert.ok(footer.row_groups.slice(1).every((group) => group.columns.some((chunk) => chunk.offset_index_offset !== undefined)), 'offset indexes after the first group')
    const { rows } = await readParquet(join(dir, 'appended.parquet'))
    assert.deepEqual(rows, [1, 2, 3].flatMap((seed) => Array.from({ length: 300 }, (_, i) => ({ license: ['MIT', 'Apache-2.0', null][(i + seed) % 3], reward: (i * seed) % 2, messages: `${i} ${seed} `.repeat(2000) }))))
  })

  test('a row group compresses alike whatever was encoded before it on the thread (hysnappy keeps state between calls)', async () => {
    // the fixtures' messages in 16 KB cells: some pairs compress differently after each other than alone
    const dir = join(repoDir('tiny'), 'trajectories')
    const parts: Uint8Array[] = []
    for (const name of (await readdir(dir)).sort()) {
      const source = await fileSource(join(dir, name))
      const metadata = await readFooter(source)
      for await (const batch of readBatches(source, metadata, { columns: ['messages'], rawStrings: true })) {
        for (let row = 0; row < batch.numRows; row++) parts.push(cellAt(batch.columns.messages!, row) as Uint8Array)
      }
      await source.close?.()
    }
    const text = Buffer.concat(parts)
    const layout = parquetLayout([{ name: 'root', num_children: 1 }, { name: 'messages', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'OPTIONAL' }])
    const cells = Array.from({ length: Math.floor(text.length / 16_384) }, (_, i) => text.subarray(i * 16_384, (i + 1) * 16_384))
    const encode = (cell: Uint8Array) => Buffer.from(encodeRowGroup(layout, { columns: { messages: [cell] } }).bytes)
    const forward = cells.map(encode)
    const backward = [...cells].reverse().map(encode).reverse()
    assert.ok(cells.length > 100)
    cells.forEach((_, i) => assert.ok(forward[i]!.equals(backward[i]!), `cell ${i}`))
  })

  test('a fixture shard written back keeps its rows, types (list<int32>, list<int64>) and metadata', async () => {
    const source = await fileSource(tokenized)
    const metadata = await readFooter(source)
    const dir = await fresh()
    const path = join(dir, 'out.parquet')
    const sink = await openParquetSink({ path, schema: metadata.schema, kvMetadata: metadata.key_value_metadata })
    for await (const batch of readBatches(source, metadata, { rawStrings: true })) await sink.write(batch)
    await source.close?.()
    assert.equal(existsSync(path), false)
    assert.equal(sink.rows, 5)
    await sink.close()
    assert.ok(sink.bytes > 0)
    const original = await readFile(tokenized)
    const expected = await parquetReadObjects({ compressors, file: original.buffer.slice(original.byteOffset, original.byteOffset + original.length) as ArrayBuffer })
    const written = await readParquet(path)
    assert.deepEqual(written.rows, expected)
    assert.equal(sink.bytes, (await readFile(path)).length)
    assert.deepEqual(written.metadata.schema.map((e) => [e.name, e.type, e.repetition_type, e.converted_type]), metadata.schema.map((e) => [e.name, e.type, e.repetition_type, e.converted_type]))
    assert.deepEqual(written.metadata.key_value_metadata, metadata.key_value_metadata)
    assert.equal(written.metadata.created_by, 'coderforge')
    assert.equal(written.metadata.row_groups.length, 1)
    const chunks = written.metadata.row_groups[0]!.columns
    assert.ok(chunks.every((chunk) => chunk.meta_data?.codec === 'SNAPPY'))
    // the list leaves: statistics over their values
    const ids = chunks.find((chunk) => chunk.meta_data?.path_in_schema[0] === 'input_ids')!
    const values = expected.flatMap((row) => (row.input_ids as number[] | null) ?? [])
    assert.equal(ids.meta_data!.statistics!.min_value, Math.min(...values))
    assert.equal(ids.meta_data!.statistics!.max_value, Math.max(...values))
  })

  test('list<int> columns from typed arrays: empty and null rows, int32 widened to INT64, beyond 32 bits, rows chosen', async () => {
    const dir = await fresh()
    const schema = schemaOf({ a: 'list32', b: 'list64', c: 'list64', d: 'requiredList32' })
    const batch = {
      columns: {
        a: intList('INT32', [[1, -2, 3], [], null, [2147483647, -2147483648]]),
        b: intList('INT64', [[-100, 5], null, [], [-1]]),
        c: intList('INT64', [[2 ** 40, -(2 ** 40)], [0], null, [7]], true),
        d: intList('INT32', [[], [9], [8, 7], [6]]),
      },
    }
    const path = join(dir, 'lists.parquet')
    const sink = await openParquetSink({ path, schema })
    await sink.write(batch)
    await sink.write(batch, [3, 0])
    await sink.write(batch, [])
    await sink.close()
    const { rows, metadata } = await readParquet(path)
    const row = (a: unknown, b: unknown, c: unknown, d: unknown) => ({ a, b, c, d })
    assert.deepEqual(rows, [
      row([1, -2, 3], [-100n, 5n], [2n ** 40n, -(2n ** 40n)], []),
      row([], undefined, [0n], [9]),
      row(undefined, [], undefined, [8, 7]),
      row([2147483647, -2147483648], [-1n], [7n], [6]),
      row([2147483647, -2147483648], [-1n], [7n], [6]),
      row([1, -2, 3], [-100n, 5n], [2n ** 40n, -(2n ** 40n)], []),
    ])
    assert.equal(metadata.row_groups.length, 2, 'one row group per non-empty write')
    assert.equal(metadata.num_rows, 6n)
    const group = metadata.row_groups[0]!
    assert.equal(group.num_rows, 4n)
    const meta = (name: string) => group.columns.find((chunk) => chunk.meta_data?.path_in_schema[0] === name)!.meta_data!
    assert.deepEqual([meta('a').type, meta('b').type, meta('c').type, meta('d').type], ['INT32', 'INT64', 'INT64', 'INT32'])
    const stats = (name: string) => { const { min_value, max_value, null_count } = meta(name).statistics!; return { min_value, max_value, null_count } }
    assert.deepEqual(stats('a'), { min_value: -2147483648, max_value: 2147483647, null_count: 2n })
    assert.deepEqual(stats('b'), { min_value: -100n, max_value: 5n, null_count: 2n })
    assert.deepEqual(stats('c'), { min_value: -(2n ** 40n), max_value: 2n ** 40n, null_count: 1n })
    assert.deepEqual(stats('d'), { min_value: 6, max_value: 9, null_count: 1n })
    assert.deepEqual([meta('a').num_values, meta('b').num_values, meta('d').num_values], [7n, 5n, 5n])
    assert.deepEqual(meta('a').encodings, ['PLAIN', 'RLE'])
    assert.deepEqual(meta('a').encoding_stats, [{ page_type: 'DATA_PAGE_V2', encoding: 'PLAIN', count: 1 }])
    assert.equal(meta('a').data_page_offset, group.columns.find((chunk) => chunk.meta_data?.path_in_schema[0] === 'a')!.file_offset)
    const sizes = group.columns.reduce((sum, chunk) => sum + chunk.meta_data!.total_uncompressed_size, 0n)
    assert.equal(group.total_byte_size, sizes)
    assert.equal(BigInt(group.total_compressed_size!), group.columns.reduce((sum, chunk) => sum + chunk.meta_data!.total_compressed_size, 0n))
  })

  test('list<int> errors: int64 values for an INT32 leaf, a null row in a required list, lists for a plain column, a missing column', async () => {
    const dir = await fresh()
    const open = async (schema: SchemaElement[]) => openParquetSink({ path: join(dir, `e${++counter}.parquet`), schema })
    const wide = await open(schemaOf({ a: 'list32' }))
    await assert.rejects(wide.write({ columns: { a: intList('INT64', [[1]], true) } }), { message: "column 'a': INT64 values do not fit its INT32 output leaf" })
    await wide.abort()
    const required = await open(schemaOf({ d: 'requiredList32' }))
    await assert.rejects(required.write({ columns: { d: intList('INT32', [[1], null]) } }), { message: 'parquet required value is undefined: a null list in a required list column' })
    await required.abort()
    const plain = await open(schemaOf({ s: 'string' }))
    await assert.rejects(plain.write({ columns: { s: intList('INT32', [[1]]) } }), { message: "column 's': list<int> values for a column that is not a list<int> in the output schema" })
    await plain.abort()
    const missing = await open(schemaOf({ s: 'string', t: 'string' }))
    await assert.rejects(missing.write({ columns: { s: ['x'] } }), { message: "column 't' missing from the batch" })
    await missing.abort()
    assert.deepEqual(await readdir(dir), [])
  })

  test('long list<int> columns are cut into pages of about 1 MiB at row starts, with an offset index', async () => {
    const dir = await fresh()
    const rows = Array.from({ length: 7 }, (_, r) => Array.from({ length: 100_000 }, (_, i) => r * 100_000 + i))
    const path = join(dir, 'pages.parquet')
    const sink = await openParquetSink({ path, schema: schemaOf({ a: 'list32', b: 'list64' }) })
    await sink.write({ columns: { a: intList('INT32', rows), b: intList('INT64', rows) } })
    await sink.close()
    const { rows: read, metadata, buffer } = await readParquet(path)
    assert.equal(read.length, 7)
    assert.ok(read.every((row, r) => (row.a as number[]).every((value, i) => value === r * 100_000 + i)))
    assert.deepEqual((read[6]!.b as bigint[]).slice(-2), [699_998n, 699_999n])
    const firstRows = await Promise.all(metadata.row_groups[0]!.columns.map(async (chunk) => {
      const offset = Number(chunk.offset_index_offset)
      const index = readOffsetIndex({ view: new DataView(buffer, offset, chunk.offset_index_length), offset: 0 })
      return index.page_locations.map((page) => page.first_row_index)
    }))
    // 262144 int32 values or 131072 int64 values a page: a page takes rows until it holds as many
    assert.deepEqual(firstRows, [[0n, 3n, 6n], [0n, 2n, 4n, 6n]])
    const stats = metadata.row_groups[0]!.columns.map((chunk) => [chunk.meta_data!.statistics!.min_value, chunk.meta_data!.statistics!.max_value, chunk.meta_data!.num_values])
    assert.deepEqual(stats, [[0, 699_999, 700_000n], [0n, 699_999n, 700_000n]])
  })

  test('plain columns: INT64 from numbers, doubles, strings and bytes; projection keeps source order', async () => {
    const dir = await fresh()
    const schema = schemaOf({ id: 'string', n: 'int64', m: 'int32', x: 'double', f: 'float' })
    const path = join(dir, 'plain.parquet')
    const sink = await openParquetSink({ path, schema, columns: ['x', 'n', 'id', 'm'] })
    await sink.write({ columns: { id: [encode('é'), 'b', null], n: [1, 2n ** 40n, null], m: [-5, 6, 7], x: [0.5, -1, null], f: [1, 2, 3] } })
    assert.equal(sink.rows, 3)
    await sink.close()
    const { rows, metadata } = await readParquet(path)
    assert.deepEqual(metadata.schema.map((e) => e.name), ['schema', 'id', 'n', 'm', 'x'])
    assert.equal(metadata.schema[0]!.num_children, 4)
    assert.deepEqual(rows, [{ id: 'é', n: 1n, m: -5, x: 0.5 }, { id: 'b', n: 2n ** 40n, m: 6, x: -1 }, { id: null, n: null, m: 7, x: null }])
  })

  test('large text cells are written PLAIN without statistics; small ones get a dictionary and statistics', async () => {
    const dir = await fresh()
    const path = join(dir, 'text.parquet')
    const big = 'm'.repeat(4097)
    const sink = await openParquetSink({ path, schema: schemaOf({ small: 'string', large: 'string', edge: 'string' }) })
    await sink.write({ columns: { small: ['a', 'a'], large: [encode(big), encode(big)], edge: ['e'.repeat(4096), 'e'.repeat(4096)] } })
    await sink.close()
    const { rows, metadata } = await readParquet(path)
    assert.deepEqual(rows, [{ small: 'a', large: big, edge: 'e'.repeat(4096) }, { small: 'a', large: big, edge: 'e'.repeat(4096) }])
    const [small, large, edge] = metadata.row_groups[0]!.columns.map((chunk) => chunk.meta_data!)
    assert.ok(small!.encodings.includes('RLE_DICTIONARY') && small!.statistics?.min_value === 'a')
    assert.ok(!large!.encodings.includes('RLE_DICTIONARY') && large!.statistics === undefined, JSON.stringify(large, (_, v: unknown) => (typeof v === 'bigint' ? String(v) : v)))
    assert.ok(edge!.encodings.includes('RLE_DICTIONARY') && edge!.statistics !== undefined, 'at 4096 bytes a cell is not large')
  })

  test('abort leaves nothing', async () => {
    const dir = await fresh()
    const sink = await openParquetSink({ path: join(dir, 'gone.parquet'), schema: schemaOf({ id: 'string' }) })
    await sink.write({ columns: { id: ['x'] } })
    await sink.abort()
    assert.deepEqual(await readdir(dir), [])
  })

  test('outputKeyValues: drops content_defined_chunking, keeps only the written columns\' features, leaves the rest as it is', () => {
    const features = { a: { dtype: 'string' }, b: { dtype: 'int64' } }
    const hf = JSON.stringify({ info: { features, other: 1 }, top: true })
    const input = [{ key: 'content_defined_chunking', value: '{}' }, { key: 'huggingface', value: hf }, { key: 'pandas', value: 'x' }]
    assert.equal(outputKeyValues(undefined, ['a']), undefined)
    assert.deepEqual(outputKeyValues(input, ['a', 'b']), [{ key: 'huggingface', value: hf }, { key: 'pandas', value: 'x' }])
    assert.deepEqual(outputKeyValues(input, ['b']), [
      { key: 'huggingface', value: JSON.stringify({ info: { features: { b: { dtype: 'int64' } }, other: 1 }, top: true }) },
      { key: 'pandas', value: 'x' },
    ])
    for (const value of ['not json', '{"info":{"features":[1]}}', '{"info":{}}', '{"info":{"features":"x"}}', '{}', 'null', '']) {
      assert.deepEqual(outputKeyValues([{ key: 'huggingface', value }], ['a']), [{ key: 'huggingface', value }])
    }
    assert.deepEqual(outputKeyValues([{ key: 'huggingface' }], ['a']), [{ key: 'huggingface' }])
  })
})
