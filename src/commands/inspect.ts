import { Command, Option } from 'commander'
import type { CommandContext } from '../context.js'
import { UsageError } from '../errors.js'
import { describeFile, summarizeFiles, type FileDescription } from '../parquet/describe.js'
import { findRow } from '../parquet/lookup.js'
import type { FileMetaData } from 'hyparquet'
import { batchRows, columnNames, readBatches } from '../parquet/rows.js'
import { closeSources, openSources, resolveSources, type OpenedSource, type SourceSet } from '../sources.js'
import { formatBytes, formatCount, table } from '../ui/format.js'
import { note, printJson, type Output } from '../ui/output.js'
import { renderTrajectory } from '../ui/trajectory.js'
import { parseCount, splitList } from '../values.js'
import {
  addHubOptions, addOutputOptions, addSelectionOptions, openHub, positiveInteger, selectionFrom,
  type HubFlags, type OutputFlags, type SelectionFlags,
} from './options.js'

interface InspectFlags extends HubFlags, SelectionFlags, OutputFlags {
  rows?: string
  offset?: string
  id?: string
  full?: boolean
  columns?: string
}

/** `coderforge inspect`: schema, row groups and metadata, or readable trajectories. */
export function inspectCommand(ctx: CommandContext): Command {
  const command = new Command('inspect')
    .description('show schema, row groups, sizes and metadata of shards (footers only), or readable trajectories')
    .argument('[files...]', 'local Parquet files, folders, globs or http(s) URLs (instead of --split)')
  addSelectionOptions(command)
  command
    .option('-n, --rows <n>', 'show N trajectories')
    .option('--offset <k>', 'skip the first K rows of the selection (with --rows)')
    .addOption(new Option('--id <trajectory_id>', 'show one trajectory; row-group statistics decide which shard to read').conflicts(['rows', 'offset']))
    .option('--full', 'show whole tool outputs instead of a few lines')
    .option('--columns <a,b>', 'only these columns (with --rows / --id)')
  addHubOptions(command)
  addOutputOptions(command)
  command.addHelpText('after', `
Examples:
  coderforge inspect --split SWE_Smith                  # split summary from all footers (no row data)
  coderforge inspect --split SWE_Smith --shards 0       # one shard: schema, row groups, codecs, statistics
  coderforge inspect shard.parquet --rows 2             # two trajectories, readable
  coderforge inspect --split R2E_Gym --id qingyangwu_pyramid_final_be8a52e647e4dd90cdcff5e23012d75a06133b90_run1
  coderforge inspect 'data/*.parquet' --json            # machine-readable description`)
  return command.action(async (files: string[], flags: InspectFlags) => {
    const out = ctx.output(flags)
    if (flags.rows === undefined && flags.id === undefined) {
      const alone = [flags.offset !== undefined && '--offset', flags.full && '--full', flags.columns !== undefined && '--columns'].find(Boolean)
      if (alone) throw new UsageError(`${alone} applies to the trajectories shown: add ${alone === '--offset' ? '--rows N' : '--rows N or --id ID'}`)
    }
    if (files.length === 0 && flags.split.length === 0) {
      throw new UsageError('nothing to inspect: give a file, folder, glob or URL, or --split NAME (SWE_Rebench, SWE_Smith, R2E_Gym, filtered_reward1)')
    }
    const hub = openHub(ctx, flags, out)
    try {
      const set = await resolveSources(hub, { repo: flags.repo, revision: flags.revision, ...selectionFrom(flags), inputs: files })
      if (set.sources.length === 0) throw new UsageError('the selection holds no shards (check --shards / --include)')
      // a summary, a few rows or one row group: never worth fetching a small shard whole
      const opened = openSources(set.sources, { footerOnly: true })
      try {
        const columns = flags.columns === undefined ? undefined : splitList(flags.columns)
        if (flags.id !== undefined) await showById(out, set, opened, flags.id, columns, flags.full)
        else if (flags.rows !== undefined) await showRows(out, opened, positiveInteger(flags.rows, '--rows'), parseCount(flags.offset ?? '0', '--offset'), columns, flags.full)
        else await showFiles(out, set, opened)
      } finally {
        await closeSources(opened)
      }
    } finally {
      await hub.http.close()
    }
  })
}

async function showFiles(out: Output, set: SourceSet, opened: Promise<OpenedSource>[]): Promise<void> {
  const descriptions: FileDescription[] = []
  for (const promise of opened) {
    const { ref, metadata } = await promise
    descriptions.push(describeFile(ref.name, ref.size, metadata))
  }
  const summary = summarizeFiles(descriptions)
  const fetched = set.bytesFetched()
  if (out.json) {
    printJson(out, { commit: set.commit ?? null, summary, files: descriptions, bytes_fetched: fetched })
    return
  }
  const c = out.color
  const write = (text = '') => out.stdout.write(text + '\n')
  if (descriptions.length === 1) {
    const file = descriptions[0]!
    write(`${c.bold(file.name)}  ${formatBytes(file.size)}, ${formatCount(file.rows)} rows, ${file.row_groups.length} row group${file.row_groups.length === 1 ? '' : 's'}, created by ${file.created_by ?? '?'}`)
    write()
    write(c.bold('columns'))
    write(table([
      ['name', 'type', 'parquet', 'compressed', 'uncompressed', 'codec', 'min/max'],
      ...file.columns.map((col) => [col.name, col.type, col.physical_type, formatBytes(col.compressed_bytes), formatBytes(col.uncompressed_bytes), col.codecs.join(','), col.statistics ? 'yes' : c.dim('no')]),
    ], { indent: '  ', align: ['left', 'left', 'left', 'right', 'right', 'left', 'left'] }))
    write()
    write(c.bold('row groups'))
    write(table([
      ['#', 'rows', 'compressed', 'uncompressed', 'trajectory_id range'],
      ...file.row_groups.map((group) => {
        const ids = group.columns.find((col) => col.path === 'trajectory_id')
        return [String(group.index), formatCount(group.rows), formatBytes(group.compressed_bytes), formatBytes(group.uncompressed_bytes),
          ids?.min !== undefined ? `${String(ids.min)} … ${String(ids.max)}` : c.dim('no statistics')]
      }),
    ], { indent: '  ', align: ['right', 'right', 'right', 'right', 'left'] }))
    write()
    const { chunks, offset_index: offsets, column_index: columnIndexes } = file.page_index
    write(`${c.bold('page index')}  offset index on ${offsets} of ${chunks} column chunks, column index on ${columnIndexes}`)
    if (file.features) write(`${c.bold('features')}    ${Object.entries(file.features).map(([name, type]) => `${name}: ${type}`).join(', ')}`)
    for (const [key, value] of Object.entries(file.key_value_metadata)) {
      if (key === 'huggingface' && file.features) continue // shown as features
      const text = typeof value === 'string' ? value : JSON.stringify(value)
      write(`${c.bold('metadata')}    ${key} = ${text.length > 120 ? `${text.slice(0, 117)}…` : text}`)
    }
  } else {
    write(table([
      ['file', 'rows', 'row groups', 'size', 'uncompressed', 'codec'],
      ...descriptions.map((file) => [file.name, formatCount(file.rows), String(file.row_groups.length), formatBytes(file.size),
        formatBytes(file.row_groups.reduce((sum, g) => sum + g.uncompressed_bytes, 0)), [...new Set(file.columns.flatMap((col) => col.codecs))].join(',')]),
    ], { align: ['left', 'right', 'right', 'right', 'right', 'left'] }))
    write()
    write(`${c.bold(`${summary.files} files`)}: ${formatCount(summary.rows)} rows, ${formatBytes(summary.bytes)} (${formatBytes(summary.uncompressed_bytes)} uncompressed), ` +
      `${summary.row_groups} row groups of ${formatCount(summary.rows_per_row_group.min)}–${formatCount(summary.rows_per_row_group.max)} rows ` +
      `(median ${formatCount(summary.rows_per_row_group.median)}; ${formatBytes(summary.uncompressed_bytes_per_row_group.median)} uncompressed), ` +
      `codecs ${Object.keys(summary.codecs).join(', ')}, page index: ${summary.page_index}`)
  }
  if (fetched > 0) note(out, c.dim(`fetched ${formatBytes(fetched)} (footers only) of ${formatBytes(summary.bytes)}`))
}

async function showRows(out: Output, opened: Promise<OpenedSource>[], count: number, offset: number, columns: string[] | undefined, full?: boolean): Promise<void> {
  let skip = offset
  let left = count
  for (const promise of opened) {
    if (left === 0) break
    const { source, metadata } = await promise
    const rows = Number(metadata.num_rows)
    if (skip >= rows) {
      skip -= rows
      continue
    }
    requireColumns(source.name, metadata, columns)
    for await (const batch of readBatches(source, metadata, { columns, rowStart: skip, rowEnd: skip + left })) {
      for (const row of batchRows(batch)) printRow(out, row, full)
      left -= batch.numRows
    }
    skip = 0
  }
}

async function showById(out: Output, set: SourceSet, opened: Promise<OpenedSource>[], id: string, columns: string[] | undefined, full?: boolean): Promise<void> {
  const files = await Promise.all(opened)
  const found = await findRow(files, 'trajectory_id', id)
  if (!found) throw new UsageError(`no trajectory '${id}' in the ${files.length} file(s) searched (check the id, --split and --config)`)
  requireColumns(found.file.source.name, found.file.metadata, columns)
  for await (const batch of readBatches(found.file.source, found.file.metadata, { columns, rowStart: found.row, rowEnd: found.row + 1 })) {
    for (const row of batchRows(batch)) printRow(out, row, full)
  }
  note(out, out.colorErr.dim(`found in ${found.file.source.name}, row group ${found.rowGroup}, row ${found.row}: ` +
    `read ${files.length} footer${files.length === 1 ? '' : 's'} and ${found.rowGroupsRead} row group${found.rowGroupsRead === 1 ? '' : 's'}` +
    (set.bytesFetched() ? `, fetched ${formatBytes(set.bytesFetched())}` : '')))
}

/** `--columns` naming a column the file lacks is a usage error, with the columns it has. */
function requireColumns(name: string, metadata: FileMetaData, columns: string[] | undefined): void {
  const present = columnNames(metadata)
  const missing = columns?.find((column) => !present.includes(column))
  if (missing !== undefined) throw new UsageError(`invalid --columns: ${name} has no column '${missing}' (columns: ${present.join(', ')})`)
}

function printRow(out: Output, row: Record<string, unknown>, full?: boolean): void {
  if (out.json) return printJson(out, row)
  if ('messages' in row || !('input_ids' in row)) {
    out.stdout.write(renderTrajectory(row, { color: out.color, full }) + '\n\n')
    return
  }
  // tokenized rows: the text and the lengths; token lists themselves are not for reading
  const c = out.color
  const ids = row.input_ids as ArrayLike<unknown> | null
  const labels = row.labels as ArrayLike<unknown> | null
  let trained = 0
  for (let i = 0; i < (labels?.length ?? 0); i++) if (labels![i] !== -100n && labels![i] !== -100) trained++
  out.stdout.write(`${c.bold(String(row.trajectory_id))}  reward ${String(row.reward)}, ${formatCount(ids?.length ?? 0)} tokens, ${formatCount(trained)} trained (labels != -100)\n`)
  const text = String(row.chat_template_applied ?? '')
  out.stdout.write((full ? text : text.slice(0, 2000) + (text.length > 2000 ? c.dim(`\n… ${formatCount(text.length - 2000)} more characters (--full)`) : '')) + '\n\n')
}
