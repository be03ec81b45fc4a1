import { Command, Option } from 'commander'
import { resolve } from 'node:path'
import type { CommandContext } from '../context.js'
import { UsageError } from '../errors.js'
import { exportShards, parseWorker, workerShare } from '../export.js'
import { resolveSources } from '../sources.js'
import type { TrainingFormat } from '../trajectory/formats.js'
import { formatBytes, formatCount, formatDuration } from '../ui/format.js'
import { note, printJson, warn } from '../ui/output.js'
import { countProgress } from '../ui/progress.js'
import { parseSize } from '../values.js'
import {
  addHubOptions, addOutputOptions, addRowOptions, addSelectionOptions, openHub, outputFormatFrom, positiveInteger, rowSelectionFrom, selectionFrom,
  type HubFlags, type OutputFlags, type RowFlags, type SelectionFlags,
} from './options.js'

interface ExportFlags extends HubFlags, SelectionFlags, OutputFlags, RowFlags {
  out?: string
  format: string
  to?: string
  maxRowsPerFile?: string
  maxBytesPerFile?: string
  worker?: string
  parseJson?: boolean
}

/** `coderforge export`: whole splits or a selection to a folder of JSONL / Parquet / training-format files. */
export function exportCommand(ctx: CommandContext): Command {
  const command = new Command('export')
    .description('export splits (or a filtered selection) to a folder: Parquet, JSONL, or training formats (openai, sharegpt)')
    .argument('[files...]', 'local Parquet files, folders, globs or URLs (instead of --split)')
  addSelectionOptions(command)
  addRowOptions(command)
  command
    .requiredOption('--out <dir>', 'output folder; files are named like the input shards')
    .option('--format <jsonl|parquet>', 'output format', 'parquet')
    .addOption(new Option('--to <openai|sharegpt>', 'training format (JSONL): openai = TRL messages + tools, sharegpt = conversations').conflicts(['format', 'parseJson', 'columns']))
    .option('--max-rows-per-file <n>', 'split outputs into parts of at most N rows')
    .option('--max-bytes-per-file <size>', 'split outputs into parts of about SIZE (e.g. 500MB)')
    .option('--worker <i/n>', 'export only every n-th shard starting at i (0-based), for n machines in parallel')
    .option('--parse-json', 'JSONL: write messages and tools as nested JSON')
  addHubOptions(command)
  addOutputOptions(command)
  command.addHelpText('after', `
Examples:
  coderforge export --split R2E_Gym --format parquet --out data/
  coderforge export --split SWE_Smith --reward 1 --to openai --out sft/          # TRL conversational JSONL
  coderforge export --split all --format jsonl --max-bytes-per-file 1GB --out jsonl/
  coderforge export --split SWE_Smith --worker $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT --out out/

Training formats are validated: rows whose messages do not parse, whose tool results answer no
earlier call, or that have an empty assistant turn are rejected and counted in the summary.`)
  return command.action(async (files: string[], flags: ExportFlags) => {
    const out = ctx.output(flags)
    if (files.length === 0 && flags.split.length === 0) throw new UsageError('nothing to export: give --split NAME or files')
    const to = flags.to as TrainingFormat | undefined
    if (to !== undefined && to !== 'openai' && to !== 'sharegpt') throw new UsageError(`unknown --to '${flags.to}': use openai or sharegpt`)
    const format = outputFormatFrom('', flags)
    const maxBytes = flags.maxBytesPerFile === undefined ? undefined : parseSize(flags.maxBytesPerFile, '--max-bytes-per-file')
    const selection = rowSelectionFrom(flags)
    if (selection.limit !== undefined || selection.sample !== undefined) throw new UsageError('--limit and --sample are for filter; export writes every selected row')
    const worker = flags.worker === undefined ? undefined : parseWorker(flags.worker)
    const hub = openHub(ctx, flags, out)
    const started = Date.now()
    try {
      const set = await resolveSources(hub, { repo: flags.repo, revision: flags.revision, ...selectionFrom(flags), inputs: files })
      const sources = workerShare(set.sources, worker)
      if (sources.length === 0) warn(out, worker ? `worker ${flags.worker} has no shards (there are ${set.sources.length})` : 'the selection holds no shards')
      const progress = countProgress(out, 'export', sources.length)
      let done = 0
      let report
      try {
        report = await exportShards(sources, {
          outDir: resolve(flags.out!), format, to, predicate: selection.predicate, columns: selection.columns,
          maxRowsPerFile: flags.maxRowsPerFile === undefined ? undefined : positiveInteger(flags.maxRowsPerFile, '--max-rows-per-file'),
          maxBytesPerFile: maxBytes, parseJson: flags.parseJson,
          onFile: () => progress.update(++done),
        })
      } finally {
        progress.stop()
      }
      const seconds = (Date.now() - started) / 1000
      const rejected = Object.values(report.rejected).reduce((a, b) => a + (b ?? 0), 0)
      if (out.json) {
        printJson(out, {
          shards: sources.length, files: report.files.flatMap((file) => file.outputs), rows: report.rows, rows_scanned: report.rowsScanned,
          rejected: report.rejected, bytes_fetched: set.bytesFetched(), seconds, worker: worker ?? null,
        })
      } else {
        note(out, `${formatCount(report.rows)} rows from ${sources.length} shards into ${report.files.reduce((n, f) => n + f.outputs.length, 0)} files in ${resolve(flags.out!)} ` +
          `(${formatDuration(seconds * 1000)}${set.bytesFetched() ? `, fetched ${formatBytes(set.bytesFetched())}` : ''})`)
        if (rejected) warn(out, `${formatCount(rejected)} trajectories rejected by the validator: ${Object.entries(report.rejected).map(([reason, n]) => `${reason} ${n}`).join(', ')}`)
      }
    } finally {
      await hub.http.close()
    }
  })
}
