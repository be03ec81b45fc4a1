import type { Command } from 'commander'
import type { Output } from './ui/output.js'

/** What every subcommand receives besides its own options. */
export interface CommandContext {
  env: NodeJS.ProcessEnv
  /** Aborted on Ctrl-C / SIGTERM. */
  signal: AbortSignal
  /** Build the Output for this invocation once the global flags are known. */
  output(flags: { json?: boolean, quiet?: boolean }): Output
}

/** A subcommand: builds its commander definition bound to the context. */
export type CommandFactory = (ctx: CommandContext) => Command
