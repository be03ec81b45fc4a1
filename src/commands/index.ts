import type { CommandFactory } from '../cli.js'

/** Every subcommand, in the order `coderforge --help` lists them. */
export const commands: CommandFactory[] = []
