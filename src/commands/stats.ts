import { Command, Option } from 'commander'
import type { CommandContext } from '../context.js'
import { UsageError } from '../errors.js'
import { resolveSources, type SourceRef } from '../sources.js'
import { computeStats, type ShardStats } from '../stats/compute.js'
import { renderMarkdown, renderStats } from '../stats/render.js'
import { formatBytes, formatDuration } from '../ui/format.js'
import { note, printJson } from '../ui/output.js'
import { countProgress } from '../ui/progress.js'
import { decodePool } from '../query/decodePool.js'
import {
  addHubOptions, addOutputOptions, addReadOptions, addSelectionOptions, openHub, readOptionsFrom, selectionFrom,
  type HubFlags, type OutputFlags, type ReadFlags, type SelectionFlags,
} from './options.js'

interface StatsFlags extends HubFlags, SelectionFlags, OutputFlags, ReadFlags {
  deep?: boolean
  markdown?: boolean
}

/** `coderforge stats`: what a split holds, from footers and small columns (messages with --deep). */
export function statsCommand(ctx: CommandContext): Command {
  const command = new Command('stats')
    .description('split statistics: sizes, rewards, licenses, tasks and pass@k; turns and tool calls with --deep; tokens for the tokenized config')
    .argument('[files...]', 'local Parquet files, folders, globs or URLs (instead of --split)')
  addSelectionOptions(command)
  command
    .option('--deep', 'also read messages: turns, tool calls per tool, finish share, characters per role')
    .addOption(new Option('--markdown', 'print a Markdown table for a dataset card').conflicts('json'))
  addReadOptions(command)
  addHubOptions(command)
  addOutputOptions(command)
  command.addHelpText('after', `
Examples:
  coderforge stats --split SWE_Smith                        # reads footers and small columns only (<2% of the bytes)
  coderforge stats --split SWE_Rebench,SWE_Smith,R2E_Gym    # side by side
  coderforge stats --split R2E_Gym --deep                   # + turns and tool calls (reads messages)
  coderforge stats --split R2E_Gym --config tokenized       # + token counts and context fit
  coderforge stats --split all --markdown > stats.md

JSON keys (--json): { splits: { <name>: { footer: {files, rows, bytes, uncompressed_bytes, row_groups, …},
  rows: {rows, reward: {counts, mean}, finish_reason, license, top_images, top_repos,
  tasks: {count, runs_per_task, pass_at_1, pass_at_k, solved}, deep?: {…}, tokens?: {…}} } },
  bytes_fetched, seconds } — distributions are {count, min, p50, p90, p99, max, mean, sum}.`)
  return command.action(async (files: string[], flags: StatsFlags) => {
    const out = ctx.output(flags)
    if (files.length === 0 && flags.split.length === 0) {
      throw new UsageError('nothing to summarise: give --split NAME (SWE_Rebench, SWE_Smith, R2E_Gym, filtered_reward1, all) or files')
    }
    const read = readOptionsFrom(flags)
    const hub = openHub(ctx, flags, out)
    const started = Date.now()
    // messages are parsed and summarised on every thread (--deep); without it there is little to decode
    const decoder = decodePool(flags.deep ? read.threads : 1)
    try {
      const set = await resolveSources(hub, { repo: flags.repo, revision: flags.revision, ...selectionFrom(flags), inputs: files, holdBytes: read.holdBytes })
      const groups = new Map<string, SourceRef[]>()
      for (const source of set.sources) {
        const name = source.shard?.split ?? 'files'
        groups.set(name, [...(groups.get(name) ?? []), source])
      }
      const results: { name: string, stats: ShardStats }[] = []
      for (const [name, sources] of groups) {
        const progress = countProgress(out, name, sources.length)
        try {
          results.push({ name, stats: await computeStats(sources, { deep: flags.deep, decoder, sliceBytes: read.sliceBytes, onShard: progress.update }) })
        } finally {
          progress.stop()
        }
      }
      const seconds = (Date.now() - started) / 1000
      const fetched = set.bytesFetched()
      if (out.json) {
        printJson(out, { splits: Object.fromEntries(results.map((r) => [r.name, r.stats])), commit: set.commit ?? null, bytes_fetched: fetched, seconds })
      } else if (flags.markdown) {
        out.stdout.write(renderMarkdown(results) + '\n')
      } else {
        out.stdout.write(results.map((r) => renderStats(r.name, r.stats, out.color)).join('\n\n') + '\n')
      }
      const total = results.reduce((sum, r) => sum + r.stats.footer.bytes, 0)
      note(out, out.colorErr.dim(`${formatDuration(seconds * 1000)}` + (fetched ? `, fetched ${formatBytes(fetched)} of ${formatBytes(total)} (${((fetched / total) * 100).toFixed(1)}%)` : ', read from local files')))
    } finally {
      await decoder.close()
      await hub.http.close()
    }
  })
}
