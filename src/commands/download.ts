import { Command } from 'commander'
import { stat } from 'node:fs/promises'
import { dirname, resolve } from 'node:path'
import type { CommandContext } from '../context.js'
import { InterruptedError, UsageError } from '../errors.js'
import { downloadPlan, planDownload, type DownloadPlan } from '../hub/download.js'
import { duplicateSplit } from '../hub/layout.js'
import { repoCache } from '../hub/cache.js'
import { formatBytes, formatDuration, table } from '../ui/format.js'
import { note, printJson, warn, type Output } from '../ui/output.js'
import { transferProgress } from '../ui/progress.js'
import { parseSize } from '../values.js'
import {
  addHubOptions, addOutputOptions, addSelectionOptions, openHub, selectionFrom,
  type HubFlags, type OutputFlags, type SelectionFlags,
} from './options.js'

interface DownloadFlags extends HubFlags, SelectionFlags, OutputFlags {
  localDir?: string
  dryRun?: boolean
  partSize?: string
}

/** `coderforge download`: a split's shards, concurrent range requests, resumable, verified. */
export function downloadCommand(ctx: CommandContext): Command {
  const command = new Command('download')
    .description('download a split\'s Parquet shards: parallel ranges, resumable, sha256-verified, into the HF cache')
  addSelectionOptions(command)
  addHubOptions(command)
  command
    .option('--local-dir <dir>', 'write the files under DIR/<repo path> (like hf download --local-dir) instead of the HF cache')
    .option('-n, --dry-run', 'show what would be fetched and what is already present, fetch nothing')
    .option('--part-size <size>', 'bytes per range request; a file is fetched as parallel parts (e.g. 8MB, 1MiB) (default: at most 8MiB, sized so the parts fill every connection and end together)')
  addOutputOptions(command)
  command.addHelpText('after', `
Examples:
  coderforge download --split SWE_Smith                     # one split into the HF cache
  coderforge download --split R2E_Gym --config tokenized    # the tokenized config
  coderforge download --split SWE_Rebench --shards 0-9 --local-dir ./data
  coderforge download --split all --dry-run                 # sizes and what is already here
  HF_ENDPOINT=https://hf-mirror.com coderforge download --split SWE_Smith

Interrupted? Run the same command again: finished files are skipped, partial ones resume.`)
  return command.action(async (flags: DownloadFlags) => {
    const out = ctx.output(flags)
    if (flags.split.length === 0) {
      throw new UsageError('choose what to download with --split (SWE_Rebench, SWE_Smith, R2E_Gym, filtered_reward1, or all)')
    }
    const partSize = flags.partSize === undefined ? undefined : parseSize(flags.partSize, '--part-size', 64 * 1024)
    if (flags.localDir && (await stat(flags.localDir).catch(() => undefined))?.isDirectory() === false) {
      throw new UsageError(`--local-dir ${flags.localDir} is a file: give a folder (it is created if missing)`)
    }
    const hub = openHub(ctx, flags, out)
    try {
      const plan = await planDownload(hub, {
        repo: flags.repo,
        revision: flags.revision,
        ...selectionFrom(flags),
        localDir: flags.localDir && resolve(flags.localDir),
      })
      if (plan.listing.splits.includes(duplicateSplit) && plan.listing.splits.length > 1) {
        warn(out, `${duplicateSplit} repeats the reward == 1 rows of the other splits: about a third of these bytes would be fetched twice`)
      }
      if (plan.files.length === 0 && !plan.listing.uncached?.length) throw new UsageError('the selection holds no shards (check --shards / --include)')
      if (flags.dryRun) return showPlan(out, plan)
      const totals = sumPlan(plan)
      note(out, `${plan.listing.repo}@${plan.listing.commit.slice(0, 8)} ${plan.listing.config} ${plan.listing.splits.join(', ')}: ` +
        `${totals.files} files, ${formatBytes(totals.bytes)}` +
        (totals.presentBytes ? ` (${formatBytes(totals.presentBytes)} already here)` : ''))
      const started = Date.now()
      const progress = transferProgress(out, { ...totals, retries: () => hub.http.stats.retries })
      let result
      try {
        result = await downloadPlan(hub, plan, { onEvent: progress.onEvent, partSize })
      } catch (error) {
        if (error instanceof InterruptedError) throw new InterruptedError('interrupted: run the same command again to resume where it stopped')
        throw error
      } finally {
        progress.stop()
      }
      const seconds = (Date.now() - started) / 1000
      const where = whereFiles(plan, hub.settings.hubCache)
      if (out.json) {
        printJson(out, {
          event: 'summary', repo: plan.listing.repo, revision: plan.listing.revision, commit: plan.listing.commit,
          config: plan.listing.config, splits: plan.listing.splits, files: totals.files, downloaded: result.files,
          already_present: totals.files - result.files, bytes_total: totals.bytes, bytes_fetched: result.bytesFetched,
          bytes_resumed: result.bytesResumed, seconds, retries: hub.http.stats.retries, location: where,
        })
      } else {
        note(out, `${result.files} downloaded, ${totals.files - result.files} already present: ` +
          `${formatBytes(result.bytesFetched)} fetched in ${formatDuration(seconds * 1000)} ` +
          `(${formatBytes(result.bytesFetched / Math.max(seconds, 0.001))}/s), ${hub.http.stats.retries} retries`)
      }
      // the snapshot path alone on stdout, even with --quiet, as `hf download` prints it: `dir=$(coderforge download …)`
      if (!out.json) out.stdout.write(`${where}\n`)
    } finally {
      await hub.http.close()
    }
  })
}

function sumPlan(plan: DownloadPlan) {
  let bytes = 0
  let presentBytes = 0
  let presentFiles = 0
  for (const file of plan.files) {
    bytes += file.shard.size
    presentBytes += file.state === 'complete' ? file.shard.size : file.presentBytes
    if (file.state === 'complete') presentFiles++
  }
  return { files: plan.files.length, bytes, presentBytes, presentFiles }
}

function whereFiles(plan: DownloadPlan, hubCache: string): string {
  const first = plan.files[0]?.shard.path ?? plan.listing.config
  if (plan.localDir) return resolve(plan.localDir, dirname(first))
  return repoCache(hubCache, plan.listing.repo).snapshot(plan.listing.commit, dirname(first))
}

function showPlan(out: Output, plan: DownloadPlan): void {
  const totals = sumPlan(plan)
  if (out.json) {
    printJson(out, {
      repo: plan.listing.repo, revision: plan.listing.revision, commit: plan.listing.commit, config: plan.listing.config,
      splits: plan.listing.splits, bytes_total: totals.bytes, bytes_to_fetch: totals.bytes - totals.presentBytes,
      files: plan.files.map((file) => ({
        path: file.shard.path, size: file.shard.size, sha256: file.sha256, state: file.state,
        bytes_present: file.state === 'complete' ? file.shard.size : file.presentBytes,
      })),
      ...(plan.listing.uncached && { uncached: plan.listing.uncached }),
    })
    return
  }
  const c = out.color
  const stateText = { complete: c.green('complete'), partial: c.yellow('partial'), missing: 'missing' }
  const rows = plan.files.map((file) => [
    file.shard.path,
    formatBytes(file.shard.size),
    file.state === 'partial' ? `${stateText.partial} (${formatBytes(file.presentBytes)})` : stateText[file.state],
  ])
  out.stdout.write(table([['file', 'size', 'on disk'], ...rows], { align: ['left', 'right', 'left'] }) + '\n')
  out.stdout.write(`\n${plan.files.length} files, ${formatBytes(totals.bytes)}; would fetch ${formatBytes(totals.bytes - totals.presentBytes)} ` +
    `from ${plan.listing.repo}@${plan.listing.commit.slice(0, 8)}\n`)
  const uncached = plan.listing.uncached ?? []
  if (uncached.length) out.stdout.write(`${uncached.length} more not in the cache, sizes unknown offline (HF_HUB_OFFLINE): ${uncached.join(', ')}\n`)
}
