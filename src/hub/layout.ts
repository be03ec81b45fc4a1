import { UsageError } from '../errors.js'

/** The dataset this tool is built for. */
export const defaultRepo = 'togethercomputer/CoderForge-Preview'

/** The dataset's configs; each is a top-level folder of `{split}-{i:05d}-of-{n:05d}.parquet` shards. */
export const configs = ['trajectories', 'trajectories-tokenized_qwencoder'] as const

/** The splits, in card order. filtered_reward1 repeats the reward == 1 rows of the other three. */
export const splits = ['SWE_Rebench', 'SWE_Smith', 'R2E_Gym', 'filtered_reward1'] as const

/** The split that duplicates rows of the source splits. */
export const duplicateSplit = 'filtered_reward1'

const configAliases: Record<string, string> = {
  trajectories: 'trajectories',
  traj: 'trajectories',
  tokenized: 'trajectories-tokenized_qwencoder',
  'tokenized_qwencoder': 'trajectories-tokenized_qwencoder',
  'trajectories-tokenized_qwencoder': 'trajectories-tokenized_qwencoder',
}

const splitAliases: Record<string, string> = {
  rebench: 'SWE_Rebench',
  smith: 'SWE_Smith',
  r2e: 'R2E_Gym',
  reward1: 'filtered_reward1',
}

/** Map a config name or alias (`tokenized`) to its folder name; default `trajectories`. */
export function resolveConfig(name: string | undefined): string {
  if (name === undefined) return 'trajectories'
  const config = configAliases[name.toLowerCase()]
  if (!config) {
    throw new UsageError(`unknown config '${name}': valid configs are ${configs.join(', ')} (alias: tokenized)`)
  }
  return config
}

/**
 * Map requested split names (case-insensitive, aliases such as `smith`, or `all`) to the splits that
 * exist. `available` is what the repository holds, in display order.
 */
export function resolveSplits(requested: string[], available: readonly string[]): string[] {
  if (requested.length === 0 || requested.some((name) => name.toLowerCase() === 'all')) return [...available]
  const chosen: string[] = []
  for (const name of requested.flatMap((value) => value.split(','))) {
    const lower = name.trim().toLowerCase()
    const match = available.find((split) => split.toLowerCase() === lower) ??
      available.find((split) => split === splitAliases[lower])
    if (!match) {
      throw new UsageError(`unknown split '${name}': valid splits are ${available.join(', ')} (or all)`)
    }
    if (!chosen.includes(match)) chosen.push(match)
  }
  return chosen
}

/** A shard's place in the dataset, parsed from its path. */
export interface ShardName {
  config: string
  split: string
  index: number
  count: number
}

const shardPattern = /^(?:(.+)\/)?([^/]+?)-(\d{5})-of-(\d{5})\.parquet$/

/** Parse `{config}/{split}-{i:05d}-of-{n:05d}.parquet`; undefined for other files. */
export function parseShardPath(path: string): ShardName | undefined {
  const match = shardPattern.exec(path)
  if (!match) return undefined
  return { config: match[1] ?? '', split: match[2]!, index: Number(match[3]), count: Number(match[4]) }
}

/** Order splits as the card does, unknown ones after, alphabetically. */
export function compareSplits(a: string, b: string): number {
  const rank = (split: string) => {
    const i = (splits as readonly string[]).indexOf(split)
    return i === -1 ? splits.length : i
  }
  return rank(a) - rank(b) || a.localeCompare(b)
}
