import { Chalk, type ChalkInstance } from 'chalk'
import type { Writable } from 'node:stream'

/** Where and how a command talks to the person (or script) that ran it. */
export interface Output {
  stdout: Writable
  stderr: Writable
  /** Machine-readable output: results as JSON on stdout, nothing decorative. */
  json: boolean
  /** Nothing but errors on stderr. */
  quiet: boolean
  /** stderr is an interactive terminal: progress bars and live updates are allowed. */
  interactive: boolean
  /** Colours for stdout text (off when piped or with NO_COLOR). */
  color: ChalkInstance
  /** Colours for stderr text. */
  colorErr: ChalkInstance
}

/** Options for {@link createOutput}. */
export interface OutputOptions {
  stdout?: Writable
  stderr?: Writable
  json?: boolean
  quiet?: boolean
  env?: NodeJS.ProcessEnv
  /** Force colours on or off; default: on for a TTY unless NO_COLOR is set. */
  color?: boolean
}

/** Build an {@link Output} that follows the TTY / NO_COLOR / FORCE_COLOR conventions. */
export function createOutput(options: OutputOptions = {}): Output {
  const stdout = options.stdout ?? process.stdout
  const stderr = options.stderr ?? process.stderr
  const env = options.env ?? process.env
  const colorFor = (stream: Writable) => {
    if (options.color !== undefined) return options.color
    if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false
    if (env.FORCE_COLOR !== undefined) return env.FORCE_COLOR !== '0'
    return isTTY(stream) && env.TERM !== 'dumb'
  }
  return {
    stdout,
    stderr,
    json: options.json ?? false,
    quiet: options.quiet ?? false,
    interactive: isTTY(stderr) && !env.CI,
    color: new Chalk({ level: colorFor(stdout) ? 1 : 0 }),
    colorErr: new Chalk({ level: colorFor(stderr) ? 1 : 0 }),
  }
}

/** Print a status line on stderr unless quiet or in JSON mode. */
export function note(out: Output, message: string): void {
  if (!out.quiet && !out.json) out.stderr.write(message + '\n')
}

/** Print a warning on stderr unless quiet. */
export function warn(out: Output, message: string): void {
  if (!out.quiet) out.stderr.write(out.colorErr.yellow('warning: ') + message + '\n')
}

/** Write one JSON document (a result or an event) as a single line on stdout. */
export function printJson(out: Output, value: unknown): void {
  out.stdout.write(JSON.stringify(value, jsonReplacer) + '\n')
}

/** JSON.stringify replacer that keeps bigint values (Parquet INT64) printable. */
export function jsonReplacer(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') {
    return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value.toString()
  }
  return value
}

function isTTY(stream: Writable): boolean {
  return (stream as Writable & { isTTY?: boolean }).isTTY === true
}
