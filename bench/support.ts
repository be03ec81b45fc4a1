import { spawn, spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

/** The project root. */
export const root = fileURLToPath(new URL('..', import.meta.url))

/** What one timed command cost. */
export interface Measurement {
  name: string
  seconds: number
  /** Peak resident set size of the command (GNU time), in MB. */
  peakRssMb: number
}

/**
 * Run a command under GNU time and return wall time and peak RSS. Asynchronous, so that an emulator
 * running in this process keeps serving while the command runs.
 */
export async function measure(name: string, command: string, args: string[], options: { env?: NodeJS.ProcessEnv, cwd?: string } = {}): Promise<Measurement> {
  const started = performance.now()
  const child = spawn('/usr/bin/time', ['-f', '__RSS_KB__=%M', command, ...args], {
    env: { ...process.env, ...options.env },
    cwd: options.cwd ?? root,
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  let stderr = ''
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  const code = await new Promise<number>((resolve) => child.on('exit', (status) => resolve(status ?? 1)))
  const seconds = (performance.now() - started) / 1000
  if (code !== 0) throw new Error(`${name} failed (exit ${code}):\n${stderr.slice(-2000)}`)
  const rss = /__RSS_KB__=(\d+)/.exec(stderr)
  return { name, seconds, peakRssMb: rss ? Number(rss[1]) / 1024 : NaN }
}

/** True if a program is on PATH. */
export function have(program: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${program}`]).status === 0
}

/** Print measurements as a table with ratios against the first one. */
export function report(title: string, results: Measurement[], extra: Record<string, string> = {}): void {
  console.log(`\n${title}`)
  for (const [key, value] of Object.entries(extra)) console.log(`  ${key}: ${value}`)
  const base = results[0]!
  for (const result of results) {
    const ratio = result === base ? '' : `  ours/${result.name} time ratio = ${(base.seconds / result.seconds).toFixed(2)}`
    console.log(`  ${result.name.padEnd(28)} ${result.seconds.toFixed(2).padStart(8)} s  peak RSS ${result.peakRssMb.toFixed(0).padStart(5)} MB${ratio}`)
  }
}
