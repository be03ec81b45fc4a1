import { Command, CommanderError } from 'commander'
import type { Writable } from 'node:stream'
import { CoderforgeError, ExitCode, InterruptedError } from './errors.js'
import { createOutput, type Output } from './ui/output.js'
import { commands } from './commands/index.js'
import type { CommandContext } from './context.js'
import { VERSION } from './version.js'

/** Options for {@link main}, so tests can run the CLI in-process. */
export interface MainOptions {
  stdout?: Writable
  stderr?: Writable
  env?: NodeJS.ProcessEnv
  signal?: AbortSignal
}

/**
 * Run the coderforge CLI with the given argv (as in process.argv: node, script, ...args).
 * Resolves to the process exit code; never throws.
 */
export async function main(argv: string[], options: MainOptions = {}): Promise<number> {
  const env = options.env ?? process.env
  const stderr = options.stderr ?? process.stderr
  const controller = new AbortController()
  const stop = () => controller.abort(new InterruptedError())
  options.signal?.addEventListener('abort', stop, { once: true })
  if (!options.signal) {
    process.once('SIGINT', stop)
    process.once('SIGTERM', stop)
  }
  let output = createOutput({ stdout: options.stdout, stderr, env })
  const ctx: CommandContext = {
    env,
    signal: controller.signal,
    output(flags) {
      output = createOutput({ stdout: options.stdout, stderr, env, json: flags.json, quiet: flags.quiet })
      return output
    },
  }
  const program = buildProgram(ctx, options)
  try {
    await program.parseAsync(argv)
    return controller.signal.aborted ? ExitCode.interrupted : ExitCode.ok
  } catch (error) {
    return reportError(error, output, env)
  } finally {
    process.removeListener('SIGINT', stop)
    process.removeListener('SIGTERM', stop)
  }
}

function buildProgram(ctx: CommandContext, options: MainOptions): Command {
  const streams = {
    writeOut: (text: string) => { (options.stdout ?? process.stdout).write(text) },
    writeErr: (text: string) => { (options.stderr ?? process.stderr).write(text) },
  }
  const program = new Command('coderforge')
    .description('Download, inspect, filter, summarise and export the CoderForge-Preview trajectories (Hugging Face Hub).')
    .version(VERSION, '-V, --version')
    .showSuggestionAfterError()
    .exitOverride()
    .configureOutput(streams)
    .addHelpText('after', `
Environment:
  HF_ENDPOINT     Hub or mirror to use (default https://huggingface.co), e.g. https://hf-mirror.com
  HF_TOKEN        access token (else the token file under HF_HOME)
  HF_HOME         Hugging Face home (default ~/.cache/huggingface); HF_HUB_CACHE: the download cache
  HF_HUB_OFFLINE  1 = never touch the network, read only what is cached
  HTTPS_PROXY     proxy for Hub and CDN requests (NO_PROXY honoured)
  NO_COLOR        disable colours

Run 'coderforge <command> --help' for a command's options and examples.`)
  for (const factory of commands) {
    // addCommand does not pass settings down: each subcommand writes its errors and help where the program does
    const command = factory(ctx).exitOverride().configureOutput(streams)
    program.addCommand(command)
  }
  return program
}

function reportError(error: unknown, output: Output, env: NodeJS.ProcessEnv): number {
  if (error instanceof CommanderError) {
    // commander has already printed its message (or the help / version text)
    if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version' || error.exitCode === 0) return ExitCode.ok
    return ExitCode.usage
  }
  if ((error as NodeJS.ErrnoException | undefined)?.code === 'EPIPE') return ExitCode.ok // stdout closed by the reader (| head)
  const prefix = output.colorErr.red('error: ')
  if (error instanceof CoderforgeError) {
    if (!(error instanceof InterruptedError) || !output.quiet) output.stderr.write(prefix + error.message + '\n')
    if (env.CODERFORGE_DEBUG && error.cause) output.stderr.write(String((error.cause as Error).stack ?? error.cause) + '\n')
    return error.exitCode
  }
  const message = error instanceof Error ? error.message : String(error)
  output.stderr.write(prefix + message + '\n')
  if (env.CODERFORGE_DEBUG && error instanceof Error) output.stderr.write(String(error.stack) + '\n')
  return ExitCode.failure
}
