import { Command } from 'commander'
import type { CommandContext } from '../context.js'
import { UsageError } from '../errors.js'
import { selectRows, writeMatch, type SelectProgress } from '../query/select.js'
import { openSink } from '../sinks/output.js'
import { closeSources, openSources, resolveSources } from '../sources.js'
import { formatBytes, formatCount, formatDuration } from '../ui/format.js'
import { note, printJson } from '../ui/output.js'
import { scanProgress } from '../ui/progress.js'
import { columnNames } from '../parquet/rows.js'
import { decodePool } from '../query/decodePool.js'
import {
  addHubOptions, addOutputOptions, addReadOptions, addRowOptions, addSelectionOptions, openHub, outputFormatFrom, readOptionsFrom, rowSelectionFrom,
  selectionFrom, type HubFlags, type OutputFlags, type ReadFlags, type RowFlags, type SelectionFlags,
} from './options.js'

interface FilterFlags extends HubFlags, SelectionFlags, OutputFlags, RowFlags, ReadFlags {
  output: string
  format?: string
  parseJson?: boolean
}

/** `coderforge filter`: rows by reward, finish reason, license, ids, turns, tools… into JSONL or Parquet. */
export function filterCommand(ctx: CommandContext): Command {
  const command = new Command('filter')
    .description('select rows (reward, finish reason, license, repo, ids, turns, tools, any --where) into JSONL or Parquet, streaming')
    .argument('[files...]', 'local Parquet files, folders, globs or URLs (instead of --split)')
  addSelectionOptions(command)
  addRowOptions(command)
  command
    .option('-o, --output <file>', 'output file (.jsonl, .jsonl.gz, .parquet), or - for stdout', '-')
    .option('--format <jsonl|parquet>', 'output format (default: from the -o extension)')
    .option('--parse-json', 'JSONL: write messages and tools as nested JSON instead of strings')
  addReadOptions(command)
  addHubOptions(command)
  addOutputOptions(command)
  command.addHelpText('after', `
Examples:
  coderforge filter --split SWE_Smith --reward 1 -o swe_smith_r1.jsonl
  coderforge filter --split SWE_Rebench --license MIT,Apache-2.0 --source-repo django -o django.parquet
  coderforge filter --split R2E_Gym --where "reward >= 1 and run <= 2" --limit 100 -o - | head
  coderforge filter --split all --reward 1 --min-turns 20 --uses-tool think -o long_thinkers.jsonl.gz
  coderforge filter --split SWE_Smith --reward 1 --sample 1000 --seed 7 -o sample.jsonl
  coderforge filter --uses-tool think --uses-tool finish shard.parquet -o thinkers.jsonl --json   # local files; a JSON summary for scripts

Rows are read in two phases: the small columns (reward, license, ids…) decide first; messages and the
other large columns are fetched only for row groups that still hold matches. Output order is shard
order, then row order. The file appears under its name only when complete.`)
  return command.action(async (files: string[], flags: FilterFlags) => {
    const out = ctx.output(flags)
    if (files.length === 0 && flags.split.length === 0) throw new UsageError('nothing to filter: give --split NAME or files')
    const format = outputFormatFrom(flags.output, flags)
    const selection = rowSelectionFrom(flags)
    const read = readOptionsFrom(flags)
    const hub = openHub(ctx, flags, out)
    const decoder = decodePool(read.threads)
    const started = Date.now()
    try {
      const set = await resolveSources(hub, { repo: flags.repo, revision: flags.revision, ...selectionFrom(flags), inputs: files, holdBytes: read.holdBytes })
      if (set.sources.length === 0) throw new UsageError('the selection holds no shards (check --shards / --include)')
      const opened = openSources(set.sources)
      try {
        const first = await opened[0]!
        const columns = selection.columns ?? columnNames(first.metadata)
        const nestedJson = flags.parseJson ? ['messages', 'tools'] : undefined
        const sink = await openSink({
          path: flags.output, format, columns, schema: first.metadata.schema, kvMetadata: first.metadata.key_value_metadata, nestedJson, stdout: out.stdout,
        })
        const total = set.sources.reduce((sum, source) => sum + source.size, 0)
        let done: SelectProgress = { bytes: 0, rowsWritten: 0 }
        const progress = scanProgress(out, {
          label: 'filter', totalBytes: total, sample: () => ({ bytes: done.bytes, rows: done.rowsWritten }),
        })
        let report
        try {
          report = await selectRows(opened, {
            ...selection,
            columns,
            rawStrings: true,
            sliceBytes: read.sliceBytes,
            decoder,
            jsonl: sink.encoding,
            parquet: sink.layout,
            onMatch: (match) => writeMatch(sink, match),
            onProgress: (progressed) => { done = progressed },
          })
          await sink.close()
        } catch (error) {
          await sink.abort()
          throw error
        } finally {
          progress.stop()
        }
        const summary = {
          output: flags.output, format, rows_written: report.rowsWritten, rows_scanned: report.rowsScanned, files: report.files,
          row_groups: report.rowGroups, row_groups_skipped: report.rowGroupsSkipped, row_groups_read: report.rowGroupsRead,
          bytes_fetched: set.bytesFetched(), bytes_total: total, seconds: (Date.now() - started) / 1000,
        }
        if (out.json && flags.output !== '-') printJson(out, summary)
        else note(out, out.colorErr.dim(`${formatCount(report.rowsWritten)} rows written${flags.output === '-' ? '' : ` to ${flags.output}`}, ` +
          `${formatCount(report.rowsScanned)} scanned in ${formatDuration(summary.seconds * 1000)}` +
          (summary.bytes_fetched ? `; fetched ${formatBytes(summary.bytes_fetched)} of ${formatBytes(total)}` : '')))
      } finally {
        await closeSources(opened)
      }
    } finally {
      await decoder.close()
      await hub.http.close()
    }
  })
}
