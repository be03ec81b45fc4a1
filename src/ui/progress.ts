import type { ChalkInstance } from 'chalk'
import cliProgress from 'cli-progress'
import type { Writable } from 'node:stream'
import type { DownloadEvent } from '../fetch/downloader.js'
import { formatBytes, formatCount, formatDuration, stripAnsi, visibleLength } from './format.js'
import { printJson, type Output } from './output.js'

/** Totals known before a transfer starts. */
export interface TransferTotals {
  files: number
  bytes: number
  /** Bytes already on disk (complete files and resumed parts): counted as done from the start. */
  presentBytes: number
  /** Files already complete. */
  presentFiles: number
  /** Retries so far (the HTTP client's counter). */
  retries: () => number
}

/** Receives download events and shows them the way the output mode asks. */
export interface TransferProgress {
  onEvent(event: DownloadEvent): void
  stop(): void
}

const plainIntervalMs = 5000
const ttyIntervalMs = 250
const jsonIntervalMs = 1000
const rateWindowMs = 5000
const labelWidth = 34
const maxBarWidth = 30
const minBarWidth = 8

/** Bytes per second of a running total over the last few seconds, and the time left at that rate. */
interface RateMeter {
  /** Record the running total. */
  track(done: number): void
  rate(): number
  /** Milliseconds until `total` is done; Infinity while no rate is known. */
  eta(total: number): number
}

/**
 * A rate over a sliding window of samples. The window opens at the first change of the total, not
 * when the meter is made: the seconds spent listing and opening before any byte flowed (and the bytes
 * already done then) would otherwise drag the rate down and stretch the ETA.
 */
function rateMeter(initial: number): RateMeter {
  let done = initial
  const samples: { t: number, bytes: number }[] = []
  const rate = () => {
    const now = Date.now()
    while (samples.length > 2 && samples[1]!.t < now - rateWindowMs) samples.shift()
    const first = samples[0]
    const seconds = first ? (now - first.t) / 1000 : 0
    return first && seconds > 0 ? (done - first.bytes) / seconds : 0
  }
  return {
    track(bytes) {
      const now = Date.now()
      const moved = bytes !== done
      done = bytes
      const last = samples[samples.length - 1]
      if (last ? now - last.t > 200 : moved) samples.push({ t: now, bytes })
    },
    rate,
    eta(total) {
      const r = rate()
      return r > 0 ? (Math.max(0, total - done) / r) * 1000 : Infinity
    },
  }
}

/** `42%` of a total (100% of nothing). */
function percent(done: number, total: number): string {
  return `${total > 0 ? Math.floor(Math.min(1, done / total) * 100) : 100}%`
}

/** `1.2 GB / 2.9 GB`. */
function bytesOf(done: number, total: number): string {
  return `${formatBytes(done)} / ${formatBytes(total)}`
}

/** `45.0 MB/s, ETA 38.0s`. */
function rateAndEta(meter: RateMeter, total: number): string {
  return `${formatBytes(meter.rate())}/s, ETA ${formatDuration(meter.eta(total))}`
}

/** Columns of the terminal a stream writes to (80 when it does not say). */
function columnsOf(stream: Writable): number {
  return (stream as Partial<NodeJS.WriteStream>).columns || 80
}

/**
 * One progress line in `width` columns: `label bar detail`. The detail (the numbers) is kept whole,
 * the label is cut from the left when long (a file name's end tells it apart), and the bar takes what
 * is left, or goes. The last column stays free: writing it makes a terminal wrap, or crop the line.
 * A label padded with spaces keeps its width while there is room, so bars line up.
 */
export function fitLine(label: string, fraction: number, detail: string, width: number, color: ChalkInstance): string {
  const columns = width - 1
  const free = columns - visibleLength(detail)
  if (free < 0) return stripAnsi(detail).slice(0, columns)
  const labelColumns = Math.min(visibleLength(label), labelWidth, free - 1)
  const barColumns = Math.min(maxBarWidth, free - (labelColumns > 0 ? labelColumns + 2 : 1))
  const filled = Math.round(Math.min(1, Math.max(0, fraction)) * barColumns)
  return [
    labelColumns > 0 ? fitLabel(label, labelColumns) : '',
    barColumns >= minBarWidth ? color.cyan('█'.repeat(filled)) + color.gray('░'.repeat(barColumns - filled)) : '',
    detail,
  ].filter(Boolean).join(' ')
}

/** A plain label in exactly `columns` columns: padded, or cut from the left. */
function fitLabel(label: string, columns: number): string {
  const text = label.trimEnd()
  return text.length > columns ? '…' + text.slice(text.length - columns + 1) : text.padEnd(columns)
}

/**
 * Progress for a transfer. On a TTY: one aggregate bar (bytes, files, rate, ETA) and a bar per
 * active file, each line fitting the terminal. Piped: a line every few seconds and one per finished
 * file. --json: NDJSON events. --quiet: nothing.
 */
export function transferProgress(out: Output, totals: TransferTotals): TransferProgress {
  let doneBytes = totals.presentBytes
  let doneFiles = totals.presentFiles
  const meter = rateMeter(doneBytes)
  const eta = () => meter.eta(totals.bytes)
  const snapshot = () => ({
    event: 'progress', files_done: doneFiles, files_total: totals.files, bytes_done: doneBytes,
    bytes_total: totals.bytes, bytes_per_second: Math.round(meter.rate()), eta_seconds: Number.isFinite(eta()) ? Math.round(eta() / 1000) : null,
    retries: totals.retries(),
  })
  const figures = () => `${doneFiles}/${totals.files} files, ${bytesOf(doneBytes, totals.bytes)}, ${rateAndEta(meter, totals.bytes)}`
  const track = (bytes: number) => {
    doneBytes += bytes
    meter.track(doneBytes)
  }

  if (out.quiet) return { onEvent: () => {}, stop: () => {} }

  if (out.json) {
    const timer = setInterval(() => printJson(out, snapshot()), jsonIntervalMs)
    return {
      onEvent(event) {
        if (event.type === 'bytes') return track(event.bytes)
        if (event.type === 'file-done') doneFiles++
        printJson(out, { event: event.type, ...withoutType(event) })
      },
      stop: () => clearInterval(timer),
    }
  }

  if (!out.interactive) {
    const timer = setInterval(() => out.stderr.write(`[${percent(doneBytes, totals.bytes)}] ${figures()}\n`), plainIntervalMs)
    return {
      onEvent(event) {
        if (event.type === 'bytes') return track(event.bytes)
        if (event.type === 'file-done') {
          doneFiles++
          out.stderr.write(`done ${event.name} (${formatBytes(event.size)})\n`)
        } else if (event.type === 'file-verify-failed' && event.retrying) {
          out.stderr.write(`${event.name}: sha256 mismatch, downloading it again\n`)
        }
      },
      stop: () => clearInterval(timer),
    }
  }

  const color = out.colorErr
  const stream = out.stderr as NodeJS.WriteStream
  const multibar = new cliProgress.MultiBar({
    stream,
    hideCursor: true,
    clearOnComplete: false,
    // a bar removed moves the ones below it up a line: redraw them, unchanged or not, or that line
    // would go on showing the removed bar
    forceRedraw: true,
    fps: 10,
    format: (_options, params, payload: { label: string, detail: string }) =>
      fitLine(payload.label, params.progress, payload.detail, columnsOf(stream), color),
  })
  const totalLine = () => ({
    label: 'total'.padEnd(labelWidth),
    detail: `${percent(doneBytes, totals.bytes)} ${figures()}` + (totals.retries() ? color.yellow(`, ${totals.retries()} retries`) : ''),
  })
  const total = multibar.create(totals.bytes || 1, doneBytes, totalLine())
  // a bar only for files that are receiving bytes, and only as many as the terminal has room for:
  // files queued behind a connection budget would otherwise show as rows of empty bars
  const files = new Map<string, { bar?: cliProgress.SingleBar, done: number, size: number }>()
  const maxFileBars = Math.max(1, Math.min(8, (stream.rows ?? 24) - 4))
  let fileBars = 0
  const refresh = () => total.update(doneBytes, totalLine())
  const timer = setInterval(refresh, ttyIntervalMs)
  return {
    onEvent(event) {
      if (event.type === 'file-start') {
        files.set(event.name, { done: event.resumedBytes, size: event.size })
      } else if (event.type === 'bytes') {
        track(event.bytes)
        const file = files.get(event.name)
        if (!file) return
        file.done += event.bytes
        const line = { label: event.name.padEnd(labelWidth), detail: bytesOf(file.done, file.size) }
        if (!file.bar && fileBars < maxFileBars) {
          file.bar = multibar.create(file.size || 1, file.done, line)
          fileBars++
        }
        file.bar?.update(file.done, line)
      } else if (event.type === 'file-done') {
        doneFiles++
        const file = files.get(event.name)
        if (file?.bar) {
          multibar.remove(file.bar)
          fileBars--
        }
        files.delete(event.name)
      }
    },
    stop() {
      clearInterval(timer)
      // the last frame is the total alone: after Ctrl-C or an error, files still running would leave
      // their bars half drawn under the message that follows
      for (const file of files.values()) if (file.bar) multibar.remove(file.bar)
      files.clear()
      refresh()
      multibar.stop()
    },
  }
}

function withoutType<T extends { type: string }>(event: T): Omit<T, 'type'> {
  const { type: _type, ...rest } = event
  return rest
}

/** What a scan has done so far, as {@link scanProgress} polls it. */
export interface ScanState {
  /** Source bytes the scan is done with: row groups read or skipped (see SelectOptions.onProgress). */
  bytes: number
  rows: number
}

/** Options for {@link scanProgress}. */
export interface ScanProgressOptions {
  /** What runs: `filter`, `export`. */
  label: string
  /** Bytes of every source the scan reads. */
  totalBytes: number
  /** Polled a few times a second. */
  sample(): ScanState
}

/** A running {@link scanProgress}: stop it before printing anything else. */
export interface ScanProgress {
  stop(): void
}

/**
 * Progress of a scan over source bytes (filter, export). On a TTY: one line of bar, bytes of the
 * total, rows, rate and ETA, fitting the terminal, redrawn in place and erased on stop so what follows
 * starts on a clean line. Piped: such a line every few seconds. --json, --quiet: nothing.
 *
 * Bytes done are those the scan is done with, not those fetched: a remote read fetches ahead of what
 * it has decoded and written, and a line at 99% with an ETA of 0 while rows still come would be wrong.
 */
export function scanProgress(out: Output, options: ScanProgressOptions): ScanProgress {
  if (out.quiet || out.json) return { stop: () => {} }
  const total = options.totalBytes
  const meter = rateMeter(0)
  let bytes = 0
  let rows = 0
  const detail = () => `${percent(bytes, total)} ${bytesOf(bytes, total)}, ${formatCount(rows)} rows, ${rateAndEta(meter, total)}`
  const stream = out.stderr
  // sampled at the TTY's pace either way: the rate needs samples more often than a piped line is printed
  const sampler = setInterval(() => {
    const state = options.sample()
    bytes = Math.min(total, state.bytes)
    rows = state.rows
    meter.track(bytes)
    if (out.interactive) stream.write(`\r${fitLine(options.label, total > 0 ? bytes / total : 1, detail(), columnsOf(stream), out.colorErr)}\x1b[K`)
  }, ttyIntervalMs)
  const printer = out.interactive ? undefined : setInterval(() => stream.write(`${options.label} ${detail()}\n`), plainIntervalMs)
  return {
    stop() {
      clearInterval(sampler)
      clearInterval(printer)
      if (out.interactive) stream.write('\r\x1b[K')
    },
  }
}

/** A progress bar over a count of things (shards), on a TTY only. */
export function countProgress(out: Output, label: string, total: number): { update(done: number): void, stop(): void } {
  if (out.quiet || out.json || !out.interactive || total < 2) return { update: () => {}, stop: () => {} }
  const bar = new cliProgress.SingleBar({
    stream: out.stderr as NodeJS.WriteStream,
    format: `${label} {bar} {value}/{total} shards`,
    hideCursor: true,
    clearOnComplete: true,
    barsize: 24,
  }, cliProgress.Presets.shades_classic)
  bar.start(total, 0)
  return { update: (done) => bar.update(done), stop: () => bar.stop() }
}
