import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { fileURLToPath } from 'node:url'
import { main } from '../../src/cli.js'

/** What a CLI run printed and returned. */
export interface CliResult {
  code: number
  stdout: string
  stderr: string
}

/** Run the CLI in-process with its own stdout/stderr and environment. */
export async function runCli(args: string[], env: NodeJS.ProcessEnv, signal?: AbortSignal): Promise<CliResult> {
  let stdout = ''
  let stderr = ''
  const sink = (append: (text: string) => void) => new Writable({
    write(chunk: Buffer, _encoding, callback) { append(chunk.toString()); callback() },
  })
  const code = await main([process.execPath, 'coderforge', ...args], {
    stdout: sink((text) => { stdout += text }),
    stderr: sink((text) => { stderr += text }),
    env,
    signal: signal ?? new AbortController().signal,
  })
  return { code, stdout, stderr }
}

const mainScript = fileURLToPath(new URL('../../src/main.ts', import.meta.url))

/**
 * Start the CLI as a real child process (for signals, kill -9, namespaces). `prefix` runs it under
 * another command, e.g. `['unshare', '-U']`.
 */
export function spawnCli(args: string[], env: NodeJS.ProcessEnv, prefix: string[] = []): ChildProcess {
  const [command, ...rest] = [...prefix, process.execPath, '--import', 'tsx', mainScript, ...args]
  return spawn(command!, rest, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
}

/** Wait for a child to exit and collect what it printed; one that has not exited after `timeoutMs` is killed and reported. */
export async function finished(child: ChildProcess, timeoutMs = 60_000): Promise<CliResult> {
  let stdout = ''
  let stderr = ''
  child.stdout?.on('data', (chunk: Buffer) => { stdout += chunk.toString() })
  child.stderr?.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  const timer = setTimeout(() => {
    stderr += `\n[killed: still running after ${timeoutMs / 1000} s]`
    child.kill('SIGKILL')
  }, timeoutMs)
  const code = await new Promise<number>((resolve) => child.on('close', (status) => resolve(status ?? 1)))
  clearTimeout(timer)
  return { code, stdout, stderr }
}

/** A fresh temporary folder, removed by the returned cleanup. */
export async function tempDir(prefix = 'coderforge-'): Promise<{ path: string, cleanup: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), prefix))
  return { path, cleanup: () => rm(path, { recursive: true, force: true }) }
}

/** An environment with nothing from the developer's own Hugging Face setup. */
export function isolatedEnv(home: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, HOME: home, HF_HOME: join(home, 'hf'), NO_COLOR: '1', ...extra }
}
