import { Command, Option } from 'commander'
import { resolve } from 'node:path'
import type { CommandContext } from '../context.js'
import { UsageError } from '../errors.js'
import { exportSelection, parseWorker, workerShare } from '../export.js'
import type { ConversionStats } from '../sft/convert.js'
import { recipeNamed, recipes, resolveSftSettings, type SftSettings } from '../sft/recipes.js'
import { writeRecipeFile } from '../sft/recipeFile.js'
import { prepareSft } from '../sft/setup.js'
import { bucketLabels } from '../sft/tokens.js'
import { resolveSources } from '../sources.js'
import { trainingFormats, type TrainingFormat } from '../trajectory/formats.js'
import { formatBytes, formatCount, formatDuration } from '../ui/format.js'
import { note, printJson, warn, type Output } from '../ui/output.js'
import { countProgress } from '../ui/progress.js'
import { decodePool } from '../query/decodePool.js'
import { parseSize } from '../values.js'
import {
  addHubOptions, addOutputOptions, addReadOptions, addRowOptions, addSelectionOptions, openHub, outputFormatFrom, positiveInteger, readOptionsFrom, rowSelectionFrom,
  selectionFrom, type HubFlags, type OutputFlags, type ReadFlags, type RowFlags, type SelectionFlags,
} from './options.js'

interface ExportFlags extends HubFlags, SelectionFlags, OutputFlags, RowFlags, ReadFlags {
  out?: string
  format: string
  to?: string
  maxRowsPerFile?: string
  maxBytesPerFile?: string
  worker?: string
  parseJson?: boolean
  recipe?: string
  dedup?: boolean
  maxPerTask?: string
  valFraction?: string
  decontaminate?: boolean
  excludeFile?: string
  arguments?: string
  think?: string
  maxTokens?: string
  tokenizer?: string
  overBudget?: string
  chatTemplate?: string
  resume: boolean
}

/** `coderforge export`: whole splits or a selection to a folder of JSONL / Parquet / training-format files. */
export function exportCommand(ctx: CommandContext): Command {
  const command = new Command('export')
    .description('export splits (or a filtered selection) to a folder: Parquet, JSONL, or a training set (openai, sharegpt, hermes, xml)')
    .argument('[files...]', 'local Parquet files, folders, globs or URLs (instead of --split)')
  addSelectionOptions(command)
  addRowOptions(command)
  // the row options' --seed is for filter's --sample; here it seeds the per-task cap and the validation split
  const seed = command.options.find((option) => option.long === '--seed')
  if (seed) seed.description = 'seed for --max-per-task and --val-fraction (recipes set their own)'
  command
    .requiredOption('--out <dir>', 'output folder; files are named like the input shards')
    .option('--format <jsonl|parquet>', 'output format', 'parquet')
    .option('--max-rows-per-file <n>', 'split outputs into parts of at most N rows')
    .option('--max-bytes-per-file <size>', 'split outputs into parts of about SIZE (e.g. 500MB)')
    .option('--worker <i/n>', 'export only every n-th shard starting at i (0-based), for n machines in parallel')
    .option('--parse-json', 'JSONL: write messages and tools as nested JSON')
    .option('--no-resume', 'redo every shard, even those an interrupted run completed')
    .addOption(new Option('--to <format>', `training format (JSONL): ${trainingFormats.join(' | ')}`).conflicts(['parseJson', 'columns']))
    .option('--recipe <name>', `published parameters: ${Object.keys(recipes).join(' | ')} (flags given override them)`)
    .option('--dedup', 'write each trajectory_id once across splits (default with --to)')
    .option('--no-dedup', 'keep repeated trajectory_ids (filtered_reward1 repeats the others\' reward-1 rows)')
    .option('--max-per-task <k>', 'at most K trajectories per task, chosen by a hash of (--seed, trajectory_id)')
    .option('--val-fraction <f>', 'put this fraction of tasks (by a hash of --seed and the task) in val/, the rest in train/')
    .option('--decontaminate', 'exclude the 12 SWE-bench / Verified test repos (default with --recipe)')
    .option('--no-decontaminate', 'keep the SWE-bench repos')
    .option('--exclude-file <file>', 'exclude the trajectory ids, tasks and owner/repo names listed (one a line)')
    .addOption(new Option('--arguments <style>', 'openai tool-call arguments: object (Qwen3 templates) or string (OpenAI API)').choices(['object', 'string']))
    .addOption(new Option('--think <policy>', 'the think tool\'s thoughts: keep, drop, or inline as <think>…</think>').choices(['keep', 'drop', 'inline']))
    .option('--max-tokens <n>', 'token budget per trajectory (counted with --tokenizer)')
    .option('--tokenizer <path>', 'a tokenizer.json, or qwen3-coder (bundled vocabulary; the default with --max-tokens)')
    .addOption(new Option('--over-budget <policy>', 'over --max-tokens: drop, or truncate at an assistant turn').choices(['drop', 'truncate']))
    .option('--chat-template <file>', 'render each example with a Jinja chat template (.jinja or tokenizer_config.json) into "text"')
  addReadOptions(command)
  addHubOptions(command)
  addOutputOptions(command)
  command.addHelpText('after', `
Examples:
  coderforge export --split R2E_Gym --format parquet --out data/
  coderforge export --split SWE_Smith --reward 1 --to openai --out sft/          # TRL conversational JSONL
  coderforge export --split all --format jsonl --max-bytes-per-file 1GB --out jsonl/
  coderforge export --split SWE_Smith --worker $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT --out out/
  coderforge export --split all --recipe swe-smith --out smith/                # reward 1, 3 per task, xml, 32K
  coderforge export --split all --reward 1 --to openai --arguments object --max-per-task 3 --seed 24 \\
      --val-fraction 0.05 --decontaminate --max-tokens 32768 --over-budget truncate --out sft/
  coderforge export --split filtered_reward1 --to xml --think inline --chat-template chat_template.jinja \\
      --tokenizer tokenizer.json --max-tokens 65536 --out sft/

Training formats are validated: rows whose messages do not parse, whose tool results answer no
earlier call, or that have an empty assistant turn are rejected and counted in the summary.
Dedup, --max-per-task, --val-fraction and decontamination are decided from trajectory_id (and
image) over the whole selection before anything is written, so --worker I/N shares add up to one run.
A rerun into the same --out keeps the shards an interrupted run completed (same commit and options).`)
  return command.action(async (files: string[], flags: ExportFlags) => {
    const out = ctx.output(flags)
    const recipe = flags.recipe === undefined ? undefined : recipeNamed(flags.recipe)
    if (recipe?.splits && files.length === 0 && flags.split.length === 0) flags.split = recipe.splits
    if (recipe?.reward && flags.reward === undefined && flags.where === undefined) flags.reward = recipe.reward
    if (files.length === 0 && flags.split.length === 0) throw new UsageError('nothing to export: give --split NAME or files')
    if (flags.to !== undefined && !trainingFormats.includes(flags.to as TrainingFormat)) throw new UsageError(`unknown --to '${flags.to}': use ${trainingFormats.join(', ')}`)
    const format = outputFormatFrom('', flags)
    const maxBytes = flags.maxBytesPerFile === undefined ? undefined : parseSize(flags.maxBytesPerFile, '--max-bytes-per-file')
    // export's --seed also seeds the per-task cap and the validation split
    const selection = rowSelectionFrom(flags, { seedHasOtherUses: true })
    if (selection.limit !== undefined || selection.sample !== undefined) throw new UsageError('--limit and --sample are for filter; export writes every selected row')
    const worker = flags.worker === undefined ? undefined : parseWorker(flags.worker)
    const setup = await prepareSft(resolveSftSettings(explicitSettings(flags, command.getOptionValueSource('seed') === 'cli')))
    if (setup.settings.to && command.getOptionValueSource('format') === 'cli') throw new UsageError(`--to ${setup.settings.to} writes JSONL training records: drop --format ${flags.format}`)
    const read = readOptionsFrom(flags)
    const hub = openHub(ctx, flags, out)
    const decoder = decodePool(read.threads)
    const started = Date.now()
    const outDir = resolve(flags.out!)
    try {
      const set = await resolveSources(hub, { repo: flags.repo, revision: flags.revision, ...selectionFrom(flags), inputs: files, holdBytes: read.holdBytes })
      const { settings } = setup
      // one bar at a time: the planning scan over the whole selection, then this worker's shards
      const exporting = () => countProgress(out, 'export', workerShare(set.sources, worker).length)
      const planning = setup.needsPlan ? countProgress(out, 'plan', set.sources.length) : undefined
      let progress = planning ? undefined : exporting()
      let done = 0
      let result
      try {
        result = await exportSelection(set, {
          setup, worker, redo: !flags.resume, outDir, format, predicate: selection.predicate, columns: selection.columns, decoder, sliceBytes: read.sliceBytes,
          maxRowsPerFile: flags.maxRowsPerFile === undefined ? undefined : positiveInteger(flags.maxRowsPerFile, '--max-rows-per-file'),
          maxBytesPerFile: maxBytes, parseJson: flags.parseJson,
          onPlanned: (planned, total) => {
            planning?.update(planned)
            if (planned === total) {
              planning?.stop()
              progress ??= exporting()
            }
          },
          onFile: () => (progress ??= exporting()).update(++done),
        })
      } finally {
        planning?.stop()
        progress?.stop()
      }
      const { report, plan, shards: sources } = result
      if (sources.length === 0) warn(out, worker ? `worker ${flags.worker} has no shards (there are ${set.sources.length})` : 'the selection holds no shards')
      const recipeFile = settings.to || settings.recipe
        ? await writeRecipeFile(outDir, {
          // commander keeps the argv it parsed on the program (untyped)
          command: ((command.parent as unknown as { rawArgs?: string[] } | null)?.rawArgs ?? process.argv).slice(2),
          dataset: files.length ? { inputs: files } : { repo: flags.repo, revision: flags.revision, commit: set.commit, config: flags.config, splits: flags.split },
          predicate: selection.predicate.expr, settings, fingerprints: setup.fingerprints, worker,
          tokenizer: setup.convert?.tokenizer && { name: setup.convert.tokenizer.name, engine: setup.convert.tokenizer.engine },
          plan: plan?.counts, conversion: settings.to ? report.stats : undefined,
          shards: { total: set.sources.length, exported: sources.length - report.resumed, resumed: report.resumed },
          rows: { scanned: report.rowsScanned, selected: report.rows },
        })
        : undefined
      const seconds = (Date.now() - started) / 1000
      const rejected = Object.values(report.rejected).reduce((a, b) => a + (b ?? 0), 0)
      if (out.json) {
        printJson(out, {
          shards: sources.length, files: report.files.flatMap((file) => file.outputs), rows: report.rows, rows_scanned: report.rowsScanned,
          rejected: report.rejected, bytes_fetched: set.bytesFetched(), seconds, worker: worker ?? null, resumed_shards: report.resumed,
          ...(plan ? { plan: plan.counts } : {}), ...(settings.to ? { conversion: report.stats } : {}), ...(recipeFile ? { recipe_file: recipeFile } : {}),
        })
      } else {
        note(out, `${formatCount(report.rows)} rows from ${sources.length} shards into ${report.files.reduce((n, f) => n + f.outputs.length, 0)} files in ${outDir} ` +
          `(${formatDuration(seconds * 1000)}${set.bytesFetched() ? `, fetched ${formatBytes(set.bytesFetched())}` : ''}${report.resumed ? `, ${report.resumed} shards kept from an earlier run` : ''})`)
        if (plan) {
          const c = plan.counts
          note(out, `planned over ${set.sources.length} shards: ${formatCount(c.selected)} selected, ${formatCount(c.decontaminated)} decontaminated, ` +
            `${formatCount(c.duplicates)} duplicates, ${formatCount(c.capped)} over the per-task cap, ${formatCount(c.kept)} kept in ${formatCount(c.tasks)} tasks` +
            `${settings.valFraction !== undefined ? ` (val: ${formatCount(c.valRows)} rows in ${formatCount(c.valTasks)} tasks)` : ''}`)
        }
        if (rejected) warn(out, `${formatCount(rejected)} trajectories rejected by the validator: ${Object.entries(report.rejected).map(([reason, n]) => `${reason} ${n}`).join(', ')}`)
        if (settings.to) noteConversion(out, report.stats)
        if (recipeFile) note(out, `parameters and counts in ${recipeFile}`)
      }
    } finally {
      await decoder.close()
      await hub.http.close()
    }
  })
}

function explicitSettings(flags: ExportFlags, seedGiven: boolean): Partial<SftSettings> {
  const fraction = flags.valFraction === undefined ? undefined : Number(flags.valFraction)
  if (fraction !== undefined && !Number.isFinite(fraction)) throw new UsageError(`invalid --val-fraction '${flags.valFraction}': use a fraction between 0 and 1, e.g. 0.05`)
  const seed = seedGiven ? Number(flags.seed) : undefined
  if (seed !== undefined && !Number.isInteger(seed)) throw new UsageError(`invalid --seed '${flags.seed}': use an integer`)
  return {
    recipe: flags.recipe,
    to: flags.to as TrainingFormat | undefined,
    arguments: flags.arguments as SftSettings['arguments'] | undefined,
    think: flags.think as SftSettings['think'] | undefined,
    dedup: flags.dedup,
    maxPerTask: flags.maxPerTask === undefined ? undefined : positiveInteger(flags.maxPerTask, '--max-per-task'),
    seed,
    valFraction: fraction,
    decontaminate: flags.decontaminate,
    excludeFile: flags.excludeFile,
    maxTokens: flags.maxTokens === undefined ? undefined : positiveInteger(flags.maxTokens, '--max-tokens'),
    tokenizer: flags.tokenizer,
    overBudget: flags.overBudget as SftSettings['overBudget'] | undefined,
    chatTemplate: flags.chatTemplate,
  }
}

function noteConversion(out: Output, stats: ConversionStats): void {
  const parts = [`${formatCount(stats.written)} examples written of ${formatCount(stats.rows)}`]
  if (stats.mergedTurns || stats.droppedEmptyTurns) parts.push(`${formatCount(stats.mergedTurns)} turns merged, ${formatCount(stats.droppedEmptyTurns)} empty turns dropped`)
  if (stats.thinkCalls || stats.thinkInlined) parts.push(`${formatCount(stats.thinkCalls)} think calls removed, ${formatCount(stats.thinkInlined)} <think> blocks`)
  if (stats.overBudgetDropped || stats.overBudgetTruncated) parts.push(`over budget: ${formatCount(stats.overBudgetDropped)} dropped, ${formatCount(stats.overBudgetTruncated)} truncated`)
  if (stats.surrogatesReplaced) parts.push(`${formatCount(stats.surrogatesReplaced)} lone surrogates replaced by U+FFFD`)
  note(out, parts.join('; '))
  const failed = Object.entries(stats.templateFailed)
  if (failed.length) warn(out, `chat template failed on ${failed.reduce((n, [, k]) => n + k, 0)} examples: ${failed.map(([reason, n]) => `${n}× ${reason}`).join('; ')}`)
  const buckets = bucketLabels().filter((label) => stats.tokenHistogram[label])
  if (buckets.length) note(out, `tokens per trajectory: ${buckets.map((label) => `${label} ${formatCount(stats.tokenHistogram[label]!)}`).join(', ')} (total ${formatCount(stats.tokens)} written)`)
}
