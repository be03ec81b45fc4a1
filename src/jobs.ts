import { spawn } from 'node:child_process'
import { entryFor } from './entry.js'
import { CoderforgeError, ExitCode } from './errors.js'

/** Options for {@link runJobs}. */
export interface JobsOptions {
  /** The subcommand and its arguments, less `--jobs`; each job gets `--worker I/N --json --quiet` added. */
  args: string[]
  jobs: number
  env: NodeJS.ProcessEnv
  /** Aborting stops every job (they keep what they completed, for a rerun to resume). */
  signal?: AbortSignal
}

/**
 * Run `jobs` copies of this CLI, job I with `--worker I/N`, so each takes its share of the shards on
 * its own core (the main-thread work of a job — writing Parquet, rendering training records — runs in
 * parallel too). Returns each job's `--json` summary, in job order; fails with the first job that failed.
 */
export async function runJobs(options: JobsOptions): Promise<unknown[]> {
  const entry = entryFor('main')
  const run = (index: number) => new Promise<unknown>((resolve, reject) => {
    const child = spawn(process.execPath, [...entry.execArgv, entry.script, ...options.args, '--worker', `${index}/${options.jobs}`, '--json', '--quiet'], {
      env: options.env, stdio: ['ignore', 'pipe', 'pipe'],
    })
    const stop = () => child.kill('SIGINT')
    options.signal?.addEventListener('abort', stop, { once: true })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString() })
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
    child.on('error', reject)
    child.on('close', (code) => {
      options.signal?.removeEventListener('abort', stop)
      if (code === 0) return resolve(JSON.parse(stdout))
      // the job's own one-line error, without its `error:` prefix
      const reason = stderr.trim().split('\n').at(-1)?.replace(/^error: /, '') || `exited with ${code}`
      reject(new CoderforgeError(`job ${index}/${options.jobs}: ${reason}`, code ?? ExitCode.failure))
    })
  })
  const results = await Promise.allSettled(Array.from({ length: options.jobs }, (_, index) => run(index)))
  const failed = results.find((result) => result.status === 'rejected')
  if (failed) throw failed.reason
  return results.map((result) => (result as PromiseFulfilledResult<unknown>).value)
}
