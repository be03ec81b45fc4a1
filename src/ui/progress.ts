import cliProgress from 'cli-progress'
import type { DownloadEvent } from '../fetch/downloader.js'
import { formatBytes, formatDuration } from './format.js'
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
const labelWidth = 34
const jsonIntervalMs = 1000
const rateWindowMs = 5000

/**
 * Progress for a transfer. On a TTY: one aggregate bar (bytes, files, rate, ETA) and a bar per
 * active file. Piped: a line every few seconds and one per finished file. --json: NDJSON events.
 * --quiet: nothing.
 */
export function transferProgress(out: Output, totals: TransferTotals): TransferProgress {
  const started = Date.now()
  let doneBytes = totals.presentBytes
  let doneFiles = totals.presentFiles
  const samples: { t: number, bytes: number }[] = [{ t: started, bytes: doneBytes }]

  const rate = () => {
    const now = Date.now()
    while (samples.length > 2 && samples[1]!.t < now - rateWindowMs) samples.shift()
    const first = samples[0]!
    const seconds = (now - first.t) / 1000
    return seconds > 0 ? (doneBytes - first.bytes) / seconds : 0
  }
  const eta = () => {
    const r = rate()
    return r > 0 ? ((totals.bytes - doneBytes) / r) * 1000 : Infinity
  }
  const snapshot = () => ({
    event: 'progress', files_done: doneFiles, files_total: totals.files, bytes_done: doneBytes,
    bytes_total: totals.bytes, bytes_per_second: Math.round(rate()), eta_seconds: Number.isFinite(eta()) ? Math.round(eta() / 1000) : null,
    retries: totals.retries(),
  })
  const summaryLine = () => {
    const percent = totals.bytes > 0 ? Math.floor((doneBytes / totals.bytes) * 100) : 100
    return `[${percent}%] ${doneFiles}/${totals.files} files, ${formatBytes(doneBytes)} / ${formatBytes(totals.bytes)}, ` +
      `${formatBytes(rate())}/s, ETA ${formatDuration(eta())}`
  }
  const track = (bytes: number) => {
    doneBytes += bytes
    const now = Date.now()
    if (now - samples[samples.length - 1]!.t > 200) samples.push({ t: now, bytes: doneBytes })
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
    const timer = setInterval(() => out.stderr.write(summaryLine() + '\n'), plainIntervalMs)
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
  const multibar = new cliProgress.MultiBar({
    stream: out.stderr as NodeJS.WriteStream,
    hideCursor: true,
    clearOnComplete: false,
    autopadding: true,
    fps: 10,
    format: (_options, params, payload: { label: string, detail: string }) => {
      const width = 20
      const filled = Math.round(params.progress * width)
      const bar = color.cyan('█'.repeat(filled)) + color.gray('░'.repeat(width - filled))
      return `${payload.label} ${bar} ${payload.detail}`
    },
  })
  const total = multibar.create(totals.bytes || 1, doneBytes, { label: color.bold('total'.padEnd(labelWidth)), detail: '' })
  // a bar only for files that are receiving bytes, and only as many as the terminal has room for:
  // files queued behind a connection budget would otherwise show as rows of empty bars
  const files = new Map<string, { bar?: cliProgress.SingleBar, done: number, size: number }>()
  const maxFileBars = Math.max(1, Math.min(8, ((out.stderr as NodeJS.WriteStream).rows ?? 24) - 4))
  let fileBars = 0
  const refresh = () => {
    total.update(doneBytes, { label: color.bold('total'.padEnd(labelWidth)), detail: summaryLine() + (totals.retries() ? color.yellow(`, ${totals.retries()} retries`) : '') })
  }
  const timer = setInterval(refresh, 250)
  return {
    onEvent(event) {
      if (event.type === 'file-start') {
        files.set(event.name, { done: event.resumedBytes, size: event.size })
      } else if (event.type === 'bytes') {
        track(event.bytes)
        const file = files.get(event.name)
        if (!file) return
        file.done += event.bytes
        if (!file.bar && fileBars < maxFileBars) {
          file.bar = multibar.create(file.size || 1, file.done, { label: truncate(event.name, labelWidth), detail: '' })
          fileBars++
        }
        file.bar?.update(file.done, { label: truncate(event.name, labelWidth), detail: `${formatBytes(file.done)} / ${formatBytes(file.size)}` })
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
      refresh()
      multibar.stop()
    },
  }
}

function withoutType<T extends { type: string }>(event: T): Omit<T, 'type'> {
  const { type: _type, ...rest } = event
  return rest
}

function truncate(text: string, width: number): string {
  return text.length > width ? '…' + text.slice(text.length - width + 1) : text.padEnd(width)
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
