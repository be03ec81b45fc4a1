import { Option, type Command } from 'commander'
import picomatch from 'picomatch'
import type { CommandContext } from '../context.js'
import { UsageError } from '../errors.js'
import { createHub, type Hub } from '../hub/client.js'
import { defaultRepo, resolveConfig } from '../hub/layout.js'
import type { Shard } from '../hub/shards.js'
import { compilePredicate } from '../query/compile.js'
import { predicateFromFlags, type PredicateFlags } from '../query/flags.js'
import { formatOf, type Format } from '../sinks/output.js'
import { warn, type Output } from '../ui/output.js'
import { readBudget, type ReadBudget } from '../fetch/budget.js'
import { defaultThreads } from '../query/decodePool.js'
import { collect, inRanges, OptionValueError, parseCount, parseInteger, parsePositiveNumber, parseRanges, parseSize, splitList, type Range } from '../values.js'

/** Flags shared by every command that talks to the Hub. */
export interface HubFlags {
  repo: string
  revision: string
  endpoint?: string
  cacheDir?: string
  concurrency: string
  retries: string
  timeout?: string
}

/** Flags that pick shards: config, splits, shard ranges, globs. */
export interface SelectionFlags {
  config?: string
  split: string[]
  shards?: string
  include?: string[]
}

/** Flags for output mode. */
export interface OutputFlags {
  json?: boolean
  quiet?: boolean
}

/** Add --repo, --revision, --endpoint, --cache-dir, --concurrency. */
export function addHubOptions(command: Command): Command {
  return command
    .option('--repo <id>', 'dataset repository', defaultRepo)
    .option('--revision <rev>', 'branch, tag or commit (pinned to one commit for the whole run)', 'main')
    .option('--endpoint <url>', 'Hub or mirror URL (default: $HF_ENDPOINT or https://huggingface.co)')
    .option('--cache-dir <dir>', 'Hugging Face cache (default: $HF_HUB_CACHE or $HF_HOME/hub)')
    .option('--concurrency <n>', 'total simultaneous connections', '32')
    .option('--retries <n>', 'retries of a failed request (429, 5xx, drops, stalls) before giving up', '5')
    .option('--timeout <seconds>', 'abandon and retry a request that sends no data for this long (default: $HF_HUB_DOWNLOAD_TIMEOUT or 30)')
}

/** Add --config, --split, --shards, --include. */
export function addSelectionOptions(command: Command): Command {
  return command
    .option('-c, --config <name>', 'trajectories | trajectories-tokenized_qwencoder (alias: tokenized)', 'trajectories')
    .addOption(new Option('-s, --split <name>', 'SWE_Rebench | SWE_Smith | R2E_Gym | filtered_reward1 | all (repeatable, or comma-separated)').argParser(collect).default([], 'none'))
    .option('--shards <list>', 'only these shard indexes, e.g. 0-9,12,200-')
    .option('--include <glob>', 'only shards whose repo path matches this glob (repeatable)', collect)
}

/** Add --json and --quiet. */
export function addOutputOptions(command: Command): Command {
  return command
    .option('--json', 'machine-readable output on stdout')
    .option('-q, --quiet', 'print nothing but errors')
}

/** Open the Hub connection described by the flags; retries are announced on stderr. */
export function openHub(ctx: CommandContext, flags: HubFlags, out: Output): Hub {
  return createHub({
    endpoint: flags.endpoint,
    cacheDir: flags.cacheDir,
    env: ctx.env,
    signal: ctx.signal,
    concurrency: parseCount(flags.concurrency, '--concurrency', 1),
    maxRetries: parseCount(flags.retries, '--retries'),
    stallTimeoutMs: 1000 * stallSeconds(flags.timeout, ctx.env.HF_HUB_DOWNLOAD_TIMEOUT),
    metadataTimeoutMs: 1000 * (ctx.env.HF_HUB_ETAG_TIMEOUT === undefined ? 10 : parsePositiveNumber(ctx.env.HF_HUB_ETAG_TIMEOUT, 'HF_HUB_ETAG_TIMEOUT')),
    onRetry: (event) => {
      // on a terminal the progress shows range retries; a metadata request has nothing else saying it waits
      if (!out.interactive || event.kind === 'metadata') warn(out, `retrying ${shortUrl(event.url)} in ${(event.waitMs / 1000).toFixed(1)}s: ${event.reason}`)
    },
  })
}

/** `--timeout`, else `HF_HUB_DOWNLOAD_TIMEOUT`, else 30 s; a malformed one names where it came from. */
function stallSeconds(option: string | undefined, env: string | undefined): number {
  if (option !== undefined) return parsePositiveNumber(option, '--timeout')
  return env === undefined ? 30 : parsePositiveNumber(env, 'HF_HUB_DOWNLOAD_TIMEOUT')
}

/** The shard selection described by the flags. */
export function selectionFrom(flags: SelectionFlags): { config: string, splits: string[], select?: (shard: Shard) => boolean } {
  const config = resolveConfig(flags.config)
  const byIndex = flags.shards === undefined ? undefined : shardIndexes(flags.shards)
  const byGlob = flags.include?.length ? picomatch(flags.include, { basename: flags.include.every((glob) => !glob.includes('/')) }) : undefined
  const select = byIndex || byGlob
    ? (shard: Shard) => (byIndex?.(shard) ?? true) && (byGlob?.(shard.path) ?? true)
    : undefined
  return { config, splits: flags.split, select }
}

/** `--shards` as a shard filter that refuses shards the split does not have (rather than silently selecting fewer or none). */
function shardIndexes(text: string): (shard: Shard) => boolean {
  const ranges = parseRanges(text, '--shards', { openEnd: true })
  return (shard) => {
    const missing = ranges.flatMap((range) => beyond(range, shard.count))
    if (missing.length) {
      throw new OptionValueError('--shards', text, `${shard.split} has ${shard.count} shards (0-${shard.count - 1}); there is no shard ${missing.join(', ')}`)
    }
    return inRanges(ranges, shard.index)
  }
}

/** A shard index or range the split does not have (`7`, `200-`, `300-310`); a range that only runs past the end is cut there. */
function beyond(range: Range, count: number): string[] {
  if (range.start < count) return []
  return [range.start === range.end ? String(range.start) : `${range.start}-${range.end === Infinity ? '' : range.end}`]
}

/** Parse a positive integer option or fail with a usage error naming it. */
export function positiveInteger(value: string, name: string): number {
  return parseCount(value, name, 1)
}

function shortUrl(url: string): string {
  const parsed = new URL(url)
  return `${parsed.host}${parsed.pathname.length > 60 ? parsed.pathname.slice(0, 57) + '...' : parsed.pathname}`
}

/** Flags that select rows (the predicates of query/flags.ts), plus limits, sampling and projection. */
export interface RowFlags extends PredicateFlags {
  limit?: string
  sample?: string
  seed?: string
  columns?: string
}

/** Add the row predicates shared by filter and export. */
export function addRowOptions(command: Command): Command {
  return command
    .option('--reward <value>', 'reward equal to a value (1) or compared (>=1, <0, !=0)')
    .option('--finish-reason <a,b>', 'one of these finish reasons')
    .option('--license <a,b>', 'one of these SPDX licenses, e.g. MIT,Apache-2.0')
    .option('--image <pattern>', 'Docker image contains this text (or matches this * glob)')
    .option('--source-repo <pattern>', 'GitHub owner/repo of the task contains this text (or matches this * glob)')
    .option('--id <id|glob|@file>', 'trajectory_id equal to, matching a * glob, or listed in a file')
    .option('--run <list>', 'run index (the N of _runN), e.g. 1,3-4')
    .option('--min-turns <n>', 'at least N assistant turns (reads messages)')
    .option('--max-turns <n>', 'at most N assistant turns (reads messages)')
    .option('--uses-tool <name>', 'calls this tool (repeatable or comma-separated), e.g. think (reads messages)', collect)
    .option('--ends-with-finish', 'the last assistant turn calls finish (reads messages)')
    .option('--where <expr>', 'any predicate, e.g. "reward >= 1 and license in (\'MIT\',\'BSD-3-Clause\')"')
    .option('--limit <n>', 'stop after N rows')
    .addOption(new Option('--sample <n>', 'a deterministic random sample of N rows (see --seed)').conflicts('limit'))
    .option('--seed <n>', 'seed for --sample (default: 0)')
    .option('--columns <a,b>', 'only these columns')
}

/** The format of an output (see formatOf); `--parse-json` only where JSONL is written. */
export function outputFormatFrom(path: string, flags: { format?: string, parseJson?: boolean }): Format {
  const format = formatOf(path, flags.format)
  if (flags.parseJson && format !== 'jsonl') throw new UsageError(`--parse-json nests messages and tools in JSONL output; Parquet keeps them as strings: drop --parse-json or write .jsonl`)
  return format
}

/** The predicate, sampling and projection the row flags describe. */
export function rowSelectionFrom(flags: RowFlags, options: { seedHasOtherUses?: boolean } = {}) {
  if (flags.seed !== undefined && flags.sample === undefined && !options.seedHasOtherUses) throw new UsageError('--seed only applies to --sample: add --sample N, or drop --seed')
  return {
    predicate: compilePredicate(predicateFromFlags(flags)),
    limit: flags.limit === undefined ? undefined : positiveInteger(flags.limit, '--limit'),
    sample: flags.sample === undefined ? undefined : { n: positiveInteger(flags.sample, '--sample'), seed: parseInteger(flags.seed ?? '0', '--seed') },
    columns: flags.columns === undefined ? undefined : splitList(flags.columns),
  }
}

/** Flags of the read path: decoding threads and the memory budget. */
export interface ReadFlags {
  threads?: string
  memory?: string
}

/** Add --threads and --memory (filter, export, stats). */
export function addReadOptions(command: Command): Command {
  return command
    .option('--threads <n>', `threads that decode, filter and encode rows (default: the machine's cores, ${defaultThreads}; 1: this thread only)`)
    .option('--memory <size>', 'memory budget of the read path, e.g. 4GB (default 1GB): half for shards fetched ahead, a quarter for the rows being decoded (larger row groups are read in slices)')
}

/** The decoding threads and the budget the read flags describe. */
export function readOptionsFrom(flags: ReadFlags): { threads: number } & ReadBudget {
  const threads = flags.threads === undefined ? defaultThreads : parseCount(flags.threads, '--threads', 1)
  const memory = flags.memory === undefined ? undefined : parseSize(flags.memory, '--memory', 1 << 20)
  return { threads, ...readBudget(memory, threads) }
}
