/**
 * What the benchmarks share: running a command under GNU time (wall time, peak RSS), our CLI and
 * DuckDB as contenders, the emulator's environment, aria2c's input list, footers' row-group sizes,
 * output checks and ratio lines. Benchmarks print ratios measured side by side in one run; a failed
 * check (outputs that differ) sets the exit code.
 */
import { spawn, spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { asyncBufferFromFile, parquetMetadataAsync } from 'hyparquet'
import type { HubEmulator } from '../test/support/emulator/index.js'

/** The project root. */
export const root = fileURLToPath(new URL('..', import.meta.url))

/** The built CLI (`npm run build` first). */
export const cliPath = join(root, 'bin/coderforge.cjs')

/** The dataset id the fixtures are served under. */
export const repoId = 'togethercomputer/CoderForge-Preview'

/** What one timed command cost. */
export interface Measurement {
  name: string
  seconds: number
  /** Peak resident set size of the command (GNU time), in MB. */
  peakRssMb: number
  /** What it printed, when asked for with `capture`. */
  stdout?: string
}

/** Options for {@link measure}. */
export interface MeasureOptions {
  env?: NodeJS.ProcessEnv
  cwd?: string
  /** Keep stdout (otherwise discarded). */
  capture?: boolean
}

/**
 * Run a command under GNU time and return wall time and peak RSS. Asynchronous, so that an emulator
 * running in this process keeps serving while the command runs.
 */
export async function measure(name: string, command: string, args: string[], options: MeasureOptions = {}): Promise<Measurement> {
  const started = performance.now()
  const child = spawn('/usr/bin/time', ['-f', '__RSS_KB__=%M', command, ...args], {
    // a key set to undefined is removed
    env: Object.fromEntries(Object.entries({ ...process.env, ...options.env }).filter(([, value]) => value !== undefined)),
    cwd: options.cwd ?? root,
    stdio: ['ignore', options.capture ? 'pipe' : 'ignore', 'pipe'],
  })
  let stderr = ''
  let stdout = ''
  child.stderr!.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  child.stdout?.on('data', (chunk: Buffer) => { stdout += chunk.toString() })
  const code = await new Promise<number>((resolve) => child.on('close', (status) => resolve(status ?? 1)))
  const seconds = (performance.now() - started) / 1000
  if (code !== 0) throw new Error(`${name} failed (exit ${code}):\n${stderr.slice(-2000)}`)
  const rss = /__RSS_KB__=(\d+)/.exec(stderr)
  return { name, seconds, peakRssMb: rss ? Number(rss[1]) / 1024 : NaN, ...(options.capture ? { stdout } : {}) }
}

/**
 * Run each contender `runs` times, alternating (ours, peer, ours, peer…) so that a slow minute of a
 * shared machine hits both alike; each result is the median time and the highest peak RSS (memory at
 * its worst), with the output of its last run.
 */
export async function alternating(runs: number, contenders: (() => Promise<Measurement>)[]): Promise<Measurement[]> {
  const all: Measurement[][] = contenders.map(() => [])
  for (let run = 0; run < runs; run++) {
    for (const [index, contender] of contenders.entries()) all[index]!.push(await contender())
  }
  return all.map((results) => {
    const times = results.map((result) => result.seconds).sort((a, b) => a - b)
    const median = times.length % 2 ? times[times.length >> 1]! : (times[times.length / 2 - 1]! + times[times.length / 2]!) / 2
    return { ...results.at(-1)!, seconds: median, peakRssMb: Math.max(...results.map((result) => result.peakRssMb)) }
  })
}

/** Run our built CLI under GNU time. */
export function ours(name: string, args: string[], options: MeasureOptions = {}): Promise<Measurement> {
  return measure(name, process.execPath, [cliPath, ...args], options)
}

/** Run one SQL statement in a DuckDB child process with `threads` threads, under GNU time. */
export function duckdb(name: string, sql: string, threads: number): Promise<Measurement> {
  return measure(name, process.execPath, [join(root, 'bench/duckdb-sql.mjs'), sql, String(threads)])
}

/** Quote text for a DuckDB string literal. */
export function sqlString(text: string): string {
  return `'${text.replace(/'/g, "''")}'`
}

/** Peak RSS of a `node` that does nothing: the baseline our memory is reported above. */
export async function idleNodeRssMb(): Promise<number> {
  return (await measure('idle node', process.execPath, ['-e', ''])).peakRssMb
}

/** The environment of a CLI run against the emulator: its endpoint and a Hugging Face home of the run's own (no shared cache). */
export function hubEnv(hub: HubEmulator, home: string): NodeJS.ProcessEnv {
  return { HF_ENDPOINT: hub.endpoint, HF_HOME: home, HF_HUB_CACHE: join(home, 'hub'), HF_TOKEN: undefined, HF_HUB_OFFLINE: undefined, NO_COLOR: '1' }
}

/** True if a program is on PATH. */
export function have(program: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${program}`]).status === 0
}

/** A temporary folder for one bench run; `cleanup` removes it. */
export async function workDir(): Promise<{ path: string, cleanup: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), 'coderforge-bench-'))
  return { path, cleanup: () => rm(path, { recursive: true, force: true }) }
}

/** aria2c's settings as hfd.sh uses them (16 connections per file, 4 files at a time, 1 MiB pieces). */
export const aria2Args = ['-x16', '-s16', '-j4', '-k1M', '--file-allocation=none', '--console-log-level=warn', '--summary-interval=0']

/** Write aria2c's input file: each URL with its output path, and its sha256 when aria2c should check it. */
export async function writeAria2List(path: string, entries: { url: string, out: string, sha256?: string }[]): Promise<string> {
  await writeFile(path, entries.map((entry) => `${entry.url}\n  out=${entry.out}${entry.sha256 ? `\n  checksum=sha-256=${entry.sha256}` : ''}`).join('\n') + '\n')
  return path
}

/** What the footers of Parquet files say: the largest row group's uncompressed bytes and the codecs used. */
export async function footerSummary(files: string[]): Promise<{ largestRowGroupBytes: number, codecs: string }> {
  let largest = 0
  const codecs = new Set<string>()
  for (const file of files) {
    const metadata = await parquetMetadataAsync(await asyncBufferFromFile(file))
    for (const group of metadata.row_groups) {
      largest = Math.max(largest, Number(group.total_byte_size))
      for (const chunk of group.columns) codecs.add(chunk.meta_data!.codec)
    }
  }
  return { largestRowGroupBytes: largest, codecs: [...codecs].sort().join(' + ') }
}

/** The sha256 of a file. */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256')
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer)
  return hash.digest('hex')
}

/** Print a check; a failed one makes the bench exit with 1 at the end. */
export function check(label: string, ok: boolean, detail = ''): void {
  console.log(`  ${ok ? 'ok  ' : 'FAIL'} ${label}${detail ? `: ${detail}` : ''}`)
  if (!ok) process.exitCode = 1
}

/** Check two files are byte-identical. */
export async function checkIdentical(label: string, a: string, b: string): Promise<void> {
  const [x, y] = await Promise.all([sha256File(a), sha256File(b)])
  check(label, x === y, x === y ? `byte-identical (sha256 ${x.slice(0, 12)}…)` : `${a} and ${b} differ`)
}

/** A target a ratio is held to. */
export interface Target {
  /** `<=`: lower is better (time ratios of ours over a peer's); `>=`: higher is better. */
  op: '<=' | '>=' | '<'
  value: number
}

/**
 * Print `label: a / b = r× (target ≤ t×: met)`; the ratio is `numerator / denominator` in seconds
 * (or any unit). Targets are reported, never asserted: figures on a shared machine are noisy.
 */
export function ratio(label: string, numerator: number, denominator: number, target?: Target, unit = '×'): number {
  const value = numerator / denominator
  const met = target && (target.op === '<=' ? value <= target.value : target.op === '<' ? value < target.value : value >= target.value)
  const sign = target ? { '<=': '≤', '>=': '≥', '<': '<' }[target.op] : ''
  console.log(`  ${label}: ${format(value, unit)}${target ? ` (target ${sign} ${format(target.value, unit)}: ${met ? 'met' : 'NOT met'})` : ''}`)
  return value
}

function format(value: number, unit: string): string {
  return unit === '%' ? `${(value * 100).toFixed(2)}%` : `${value.toFixed(2)}${unit}`
}

/** One line per measurement: time and peak RSS. */
export function timing(result: Measurement, extra = ''): void {
  console.log(`  ${result.name.padEnd(44)} ${result.seconds.toFixed(2).padStart(8)} s  peak RSS ${result.peakRssMb.toFixed(0).padStart(5)} MB${extra ? `  ${extra}` : ''}`)
}

/** Print measurements as a table with ratios against the first one. */
export function report(title: string, results: Measurement[], extra: Record<string, string> = {}): void {
  console.log(`\n${title}`)
  for (const [key, value] of Object.entries(extra)) console.log(`  ${key}: ${value}`)
  const base = results[0]!
  for (const result of results) timing(result, result === base ? '' : `ours/${result.name} time ratio = ${(base.seconds / result.seconds).toFixed(2)}`)
}
