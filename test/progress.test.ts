import assert from 'node:assert/strict'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import { beforeEach, describe, test } from 'node:test'
import { Chalk } from 'chalk'
import { readManifest, repoDir } from '../fixtures/index.js'
import { main } from '../src/cli.js'
import { fileSource } from '../src/parquet/source.js'
import { compilePredicate } from '../src/query/compile.js'
import { predicateFromFlags } from '../src/query/flags.js'
import { selectRows, type SelectProgress } from '../src/query/select.js'
import { closeSources, openSources } from '../src/sources.js'
import { formatBytes, formatCount } from '../src/ui/format.js'
import { createOutput } from '../src/ui/output.js'
import { fitLine, scanProgress, transferProgress } from '../src/ui/progress.js'
import { useFixtureHub } from './support/fixtureHub.js'
import { tempDir } from './support/cli.js'

const fixture = useFixtureHub()
beforeEach(() => fixture.hub.setBandwidth(undefined))
const manifest = readManifest('tiny')
const smith = manifest.files.filter((file) => file.config === 'trajectories' && file.split === 'SWE_Smith')
const plain = new Chalk({ level: 0 })

/** A stream that records what is written to it, as a terminal of `columns` × 24 (or a pipe). */
function terminal(columns = 80, isTTY = true) {
  const tty = Object.assign(new Writable({ write(chunk: Buffer, _encoding, callback) { tty.text += chunk.toString(); callback() } }), { isTTY, columns, rows: 24, text: '' })
  return tty
}

/* eslint-disable no-control-regex */
const colours = /\u001b\[[0-9;]*m/g
const controls = /\u001b\[([?0-9;]*)([A-Za-z])|\r|\n|[^\u001b\r\n]+/g
/* eslint-enable no-control-regex */

/** Each run of text written in one go, between cursor moves, CR/LF and erasing: a line as it was drawn. */
function drawn(text: string): string[] {
  return text.replace(colours, '').split(/\u001b\[[?0-9;]*[A-Za-z]|\r|\n/).filter(Boolean)
}

/** The non-empty lines a terminal shows once `text` is written: cursor moves, CR/LF and erasing applied. */
function screen(text: string): string[] {
  const lines = ['']
  let row = 0
  let col = 0
  for (const [token, args, command] of text.replace(colours, '').matchAll(controls)) {
    const n = Number(args?.replace('?', '') || 1)
    const line = (lines[row] ??= '')
    if (token === '\r') col = 0
    else if (token === '\n') [row, col] = [row + 1, 0]
    else if (command === 'A') row = Math.max(0, row - n)
    else if (command === 'B') row += n
    else if (command === 'C') col += n
    else if (command === 'D') col = Math.max(0, col - n)
    else if (command === 'G') col = n - 1
    else if (command === 'K') lines[row] = args === '2' ? '' : args === '1' ? ' '.repeat(col) + line.slice(col) : line.slice(0, col)
    else if (command === 'J') lines.splice(row, lines.length, line.slice(0, col))
    else if (!command) {
      lines[row] = line.padEnd(col).slice(0, col) + token + line.slice(col + token.length)
      col += token.length
    }
  }
  return lines.map((line) => line.trimEnd()).filter(Boolean)
}

function assertFits(lines: string[], columns = 80): void {
  for (const line of lines) assert.ok(line.length < columns, `${line.length} columns of ${columns}: ${line}`)
}

describe('formatCount', () => {
  test('groups digits by three, as en-US does, for numbers and bigints of any sign and size', () => {
    const cases: (number | bigint)[] = [0, 7, 999, 1000, 12_345, 999_999, 1_000_000, 413_278, -1, -1234, -999_999_999, 2 ** 53, 12.6, 10n ** 20n, -(10n ** 7n)]
    for (const n of cases) assert.equal(formatCount(n), (typeof n === 'number' ? Math.round(n) : n).toLocaleString('en-US'), String(n))
  })
})

describe('fitLine', () => {
  const detail = '42% 30.0 GB / 73.0 GB, 12,345,678 rows, 1.50 GB/s, ETA 28.7s'

  test('keeps the numbers whole, cuts a long label from the left, never writes the last column', () => {
    const name = 'trajectories/SWE_Smith-00123-of-00224.parquet'
    const line = fitLine(name, 0.5, '12.3 MB / 330 MB', 80, plain)
    assert.match(line, /^…\S*SWE_Smith-00123-of-00224\.parquet █+░+ 12\.3 MB \/ 330 MB$/)
    assert.ok(line.length < 80, line)
    for (const width of [70, 80, 100, 200]) {
      const fitted = fitLine('filter', 0.5, detail, width, plain)
      assert.ok(fitted.length < width && fitted.endsWith(` ${detail}`), `${width}: ${fitted}`)
    }
    assert.match(fitLine('filter', 0.5, detail, 80, plain), /^filter █{6}░{5} 42%/)
  })

  test('drops the bar, then the label, when there is no room; colours take no room', () => {
    assert.equal(fitLine('filter', 0.5, detail, 70, plain), `filter ${detail}`)
    assert.equal(fitLine('filter', 0.5, detail, detail.length + 2, plain), detail)
    assert.equal(fitLine('filter', 0.5, detail, 20, plain), detail.slice(0, 19))
    const coloured = fitLine('filter', 0.5, detail, 80, new Chalk({ level: 1 }))
    assert.equal(coloured.replace(colours, ''), fitLine('filter', 0.5, detail, 80, plain))
  })
})

describe('download progress', () => {
  const names = ['trajectories/SWE_Smith-00123-of-00224.parquet', 'trajectories/SWE_Rebench-00007-of-00224.parquet']

  test('the total line keeps files, bytes, rate, ETA and retries within 80 columns; stopped mid-file, the total line alone stays', async () => {
    const tty = terminal()
    const progress = transferProgress(createOutput({ stderr: tty, env: { NO_COLOR: '1' } }), { files: 224, bytes: 73e9, presentBytes: 0, presentFiles: 0, retries: () => 3 })
    for (const name of names) progress.onEvent({ type: 'file-start', name, size: 330e6, resumedBytes: 0 })
    for (let i = 0; i < 4; i++) {
      for (const name of names) progress.onEvent({ type: 'bytes', name, bytes: 12_345_678 })
      await sleep(260)
    }
    const running = screen(tty.text)
    assert.equal(running.length, 3, running.join('\n'))
    assert.match(running[0]!, /^total +\d+% 0\/224 files, [\d.]+ MB \/ 73\.0 GB, [\d.]+ MB\/s, ETA \S+, 3 retries$/)
    assert.match(running[1]!, /^…\S*SWE_Smith-00123-of-00224\.parquet █+░+ [\d.]+ MB \/ 330 MB$/)
    progress.stop() // as after Ctrl-C: both files are half done
    assertFits(drawn(tty.text))
    const left = screen(tty.text)
    assert.equal(left.length, 1, `only the total line is left: ${left.join(' | ')}`)
    assert.match(left[0]!, /^total /)
  })

  test('a file done mid-run takes its bar away: the bars below move up, none shows twice', async () => {
    const tty = terminal()
    const progress = transferProgress(createOutput({ stderr: tty, env: { NO_COLOR: '1' } }), { files: 2, bytes: 200, presentBytes: 0, presentFiles: 0, retries: () => 0 })
    for (const name of names) {
      progress.onEvent({ type: 'file-start', name, size: 100, resumedBytes: 0 })
      progress.onEvent({ type: 'bytes', name, bytes: 40 })
    }
    await sleep(150)
    progress.onEvent({ type: 'file-done', name: names[0]!, size: 100 })
    await sleep(150)
    const shown = screen(tty.text)
    progress.stop()
    assert.equal(shown.length, 2, shown.join('\n'))
    assert.match(shown[1]!, /Rebench-00007-of-00224\.parquet █+░+ 40 B \/ 100 B$/)
  })

  test('the rate is measured from the first byte: time spent before it does not slow it', async () => {
    const stdout = terminal(80, false)
    const progress = transferProgress(createOutput({ stdout, stderr: terminal(), json: true }), { files: 1, bytes: 10e6, presentBytes: 0, presentFiles: 0, retries: () => 0 })
    await sleep(1000) // listing, resolving: no bytes yet
    for (let i = 0; i < 12; i++) {
      progress.onEvent({ type: 'bytes', name: 'a', bytes: 40_000 })
      await sleep(100)
    }
    progress.stop()
    const snapshots = stdout.text.trim().split('\n').map((line) => JSON.parse(line) as { event: string, bytes_done: number, bytes_per_second: number })
    const last = snapshots.filter((event) => event.event === 'progress' && event.bytes_done > 0).at(-1)
    assert.ok(last, stdout.text)
    // 40 kB every 100 ms; counted from the meter's creation it would be about half
    assert.ok(last.bytes_per_second > 300_000 && last.bytes_per_second < 500_000, `${last.bytes_per_second} B/s`)
  })

  test('--quiet: nothing', async () => {
    const quiet = terminal()
    const progress = transferProgress(createOutput({ stderr: quiet, quiet: true }), { files: 1, bytes: 100, presentBytes: 0, presentFiles: 0, retries: () => 0 })
    progress.onEvent({ type: 'bytes', name: 'a', bytes: 50 })
    await sleep(300)
    progress.stop()
    assert.equal(quiet.text, '')
  })
})

describe('scan progress', () => {
  test('on a terminal: bar, percent, bytes of the total, rows, rate and ETA in under 80 columns, erased on stop', async () => {
    const tty = terminal()
    let bytes = 0
    const progress = scanProgress(createOutput({ stderr: tty, env: { NO_COLOR: '1' } }), {
      label: 'filter', totalBytes: 73e9, sample: () => ({ bytes: (bytes += 1.5e9), rows: 12_345_678 }),
    })
    await sleep(900)
    assert.equal(screen(tty.text).length, 1)
    progress.stop()
    const lines = drawn(tty.text)
    assert.ok(lines.length >= 2, tty.text)
    assertFits(lines)
    for (const line of lines) assert.match(line, /^filter [█░]{8,} \d+% [\d.]+ GB \/ 73\.0 GB, 12,345,678 rows, [\d.]+ [kMG]?B\/s, ETA \S+$/)
    assert.ok(lines.some((line) => /GB\/s, ETA \d/.test(line)), 'a rate and an ETA once bytes flow')
    assert.ok(tty.text.endsWith('\r\u001b[K'), 'the line is erased, so what follows starts on a clean line')
    assert.deepEqual(screen(tty.text), [])
  })

  test('bytes done: those the scan is done with (not those fetched ahead of it), never above the total', async () => {
    const tty = terminal()
    let state = { bytes: 100, rows: 1 }
    const progress = scanProgress(createOutput({ stderr: tty, env: { NO_COLOR: '1' } }), { label: 'export', totalBytes: 900, sample: () => state })
    await sleep(300)
    state = { bytes: 1200, rows: 2 }
    await sleep(300)
    progress.stop()
    const lines = drawn(tty.text)
    assert.match(lines[0]!, / 11% 100 B \/ 900 B, 1 rows, /)
    assert.match(lines.at(-1)!, / 100% 900 B \/ 900 B, 2 rows, /)
  })

  test('piped: a plain line every 5 s with rounded numbers; --quiet and --json: nothing', async () => {
    const piped = terminal(80, false)
    let bytes = 0
    const progress = scanProgress(createOutput({ stderr: piped }), { label: 'filter', totalBytes: 900, sample: () => ({ bytes: (bytes += 3.7), rows: 7 }) })
    await sleep(5300)
    progress.stop()
    assert.match(piped.text, /^filter \d+% \d+ B \/ 900 B, 7 rows, \d+ B\/s, ETA \S+\n$/)
    assert.equal(formatBytes(14.785700917087778), '15 B')

    for (const mode of [{ quiet: true }, { json: true }]) {
      const tty = terminal()
      const silent = scanProgress(createOutput({ stderr: tty, stdout: terminal(80, false), ...mode }), { label: 'filter', totalBytes: 1, sample: () => ({ bytes: 1, rows: 1 }) })
      await sleep(300)
      silent.stop()
      assert.equal(tty.text, '', JSON.stringify(mode))
    }
  })
})

describe('a selection reports its bytes', () => {
  test('row-group bytes as pieces are delivered, the whole files once done, rows written', async () => {
    const opened = openSources(smith.map((file) => ({ name: file.path, origin: 'local' as const, size: file.size, open: () => fileSource(join(repoDir('tiny'), file.path)) })))
    const seen: SelectProgress[] = []
    const report = await selectRows(opened, {
      predicate: compilePredicate(predicateFromFlags({ reward: '1' })), sliceBytes: 20_000,
      onMatch: async () => {},
      onProgress: (progress) => seen.push(progress),
    })
    await closeSources(opened)
    const total = smith.reduce((sum, file) => sum + file.size, 0)
    assert.ok(seen.every((progress, i) => i === 0 || progress.bytes >= seen[i - 1]!.bytes), 'never backwards')
    assert.ok(seen.some((progress) => progress.bytes > 0 && progress.bytes < smith[0]!.size), 'pieces count before their file is done')
    assert.deepEqual(seen.at(-1), { bytes: total, rowsWritten: report.rowsWritten })
    assert.ok(report.rowsWritten > 0)
  })
})

describe('filter and export draw progress on a terminal', () => {
  const total = formatBytes(smith.reduce((sum, file) => sum + file.size, 0))
  const run = async (args: string[]) => {
    const tty = terminal()
    const stdout = terminal(80, false)
    const code = await main([process.execPath, 'coderforge', ...args], { stdout, stderr: tty, env: fixture.env, signal: new AbortController().signal })
    return { code, tty, stdout }
  }
  const frames = (text: string, label: string) => {
    const lines = drawn(text).filter((line) => line.startsWith(`${label} `))
    assert.ok(lines.length >= 2, `progress lines were drawn: ${JSON.stringify(text)}`)
    assertFits(lines)
    const pattern = new RegExp(`^${label} [█░]{8,} \\d+% [\\d.]+ k?B / ${total}, [\\d,]+ rows, [\\d.]+ k?B/s, ETA \\S+$`)
    for (const line of lines) assert.match(line, pattern)
    return lines
  }

  test('filter: fitting lines of bytes and rows, then an erased line before the summary', async () => {
    fixture.hub.setBandwidth(100_000)
    const { code, tty, stdout } = await run(['filter', '--split', 'SWE_Smith', '--reward', '1', '-o', '-'])
    assert.equal(code, 0, tty.text)
    assert.ok(stdout.text.length > 0)
    frames(tty.text, 'filter')
    assert.match(tty.text, /\r\u001b\[K\d[\d,]* rows written, /)
    const shown = screen(tty.text)
    assert.equal(shown.length, 1, shown.join('\n'))
    assert.match(shown[0]!, /^\d[\d,]* rows written, /)
  })

  test('export: the same, and a worker with --json --quiet prints its summary alone', async () => {
    fixture.hub.setBandwidth(100_000)
    const out = await tempDir()
    try {
      const { code, tty } = await run(['export', '--split', 'SWE_Smith', '--format', 'jsonl', '--out', out.path])
      assert.equal(code, 0, tty.text)
      frames(tty.text, 'export')
      assert.match(tty.text, /\r\u001b\[K\d[\d,]* rows from 3 shards into 3 files /)
      const shown = screen(tty.text)
      assert.equal(shown.length, 1, shown.join('\n'))

      const worker = await run(['export', '--split', 'SWE_Smith', '--format', 'jsonl', '--worker', '0/2', '--json', '--quiet', '--no-resume', '--out', out.path])
      assert.equal(worker.code, 0, worker.tty.text)
      assert.equal(worker.tty.text, '')
      const lines = worker.stdout.text.trim().split('\n')
      assert.equal(lines.length, 1, worker.stdout.text)
      assert.equal((JSON.parse(lines[0]!) as { shards: number }).shards, 2)
    } finally {
      await out.cleanup()
    }
  })
})
