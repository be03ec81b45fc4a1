import type { CommandFactory } from '../context.js'
import { downloadCommand } from './download.js'
import { exportCommand } from './export.js'
import { filterCommand } from './filter.js'
import { inspectCommand } from './inspect.js'
import { statsCommand } from './stats.js'

/** Every subcommand, in the order `coderforge --help` lists them. */
export const commands: CommandFactory[] = [downloadCommand, inspectCommand, filterCommand, statsCommand, exportCommand]
