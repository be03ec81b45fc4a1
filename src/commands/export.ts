import { Command, Option } from 'commander'
import { resolve } from 'node:path'
import type { CommandContext } from '../context.js'
import { UsageError } from '../errors.js'
import { exportSelection, parseWorker, workerFromEnv, workerShare } from '../export.js'
import { runJobs } from '../jobs.js'
import { addStats, emptyStats, type ConversionStats } from '../sft/convert.js'
import { recipeNamed, recipes, resolveSftSettings, type SftSettings } from '../sft/recipes.js'
import { writeRecipeFile } from '../sft/recipeFile.js'
import type { PlanCounts } from '../sft/plan.js'
import { prepareSft } from '../sft/setup.js'
import { bucketLabels } from '../sft/tokens.js'
import { resolveSources } from '../sources.js'
import { trainingFormats, type TrainingFormat } from '../trajectory/formats.js'
import { formatBytes, formatCount, formatDuration } from '../ui/format.js'
import { note, printJson, warn, type Output } from '../ui/output.js'
import { countProgress, scanProgress } from '../ui/progress.js'
import { decodePool } from '../query/decodePool.js'
import type { SelectProgress } from '../query/select.js'
import { parseCount, parseSize } from '../values.js'
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
  jobs?: string
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
    .option('--jobs <n>', 'run N workers (--worker 0/N … N-1/N) as processes on this machine, e.g. one per core; one summary for all')
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
  coderforge export --split SWE_Smith --worker 0/4 --out out/                  # shards 0, 4, 8… (the others: 1/4, 2/4, 3/4)
  coderforge export --split all --format parquet --jobs 2 --out data/          # two worker processes on this machine
  coderforge export --split all --recipe swe-smith --out smith/                # reward 1, 3 per task, xml, 32K
  coderforge export --split all --reward 1 --to openai --arguments object --max-per-task 3 --seed 24 \\
      --val-fraction 0.05 --decontaminate --max-tokens 32768 --over-budget truncate --out sft/
  coderforge export --split filtered_reward1 --to xml --think inline --chat-template chat_template.jinja \\
      --tokenizer tokenizer.json --max-tokens 65536 --out sft/

Training formats are validated: rows whose messages do not parse, whose tool results answer no
earlier call, or that have an empty assistant turn are rejected and counted in the summary.
Dedup, --max-per-task, --val-fraction and decontamination are decided from trajectory_id (and
image) over the whole selection before anything is written, so --worker I/N shares add up to one run.
A rerun into the same --out keeps the shards an interrupted run completed (same commit and options).
In a Slurm job array or a Kubernetes Indexed Job, --worker defaults to the array task
(SLURM_ARRAY_TASK_ID - SLURM_ARRAY_TASK_MIN of SLURM_ARRAY_TASK_COUNT; JOB_COMPLETION_INDEX of
JOB_COMPLETIONS, which the Job spec sets), so the same command runs unchanged in every task.`)
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
    const jobs = flags.jobs === undefined ? 1 : parseCount(flags.jobs, '--jobs', 1)
    if (jobs > 1 && flags.worker !== undefined) throw new UsageError('--jobs runs workers 0..N-1 itself: drop --worker, or drop --jobs to run one worker')
    const worker = flags.worker === undefined ? (jobs > 1 ? undefined : workerFromEnv(ctx.env)) : parseWorker(flags.worker)
    const setup = await prepareSft(resolveSftSettings(explicitSettings(flags, command.getOptionValueSource('seed') === 'cli')))
    if (setup.settings.to && command.getOptionValueSource('format') === 'cli') throw new UsageError(`--to ${setup.settings.to} writes JSONL training records: drop --format ${flags.format}`)
    const read = readOptionsFrom(flags)
    if (jobs > 1) {
      const started = Date.now()
      // each job takes its share of the cores for its decoding threads
      const threads = flags.threads ?? String(Math.max(1, Math.floor(read.threads / jobs)))
      const args = [...jobArguments(command, jobs), '--threads', threads]
      const summaries = await runJobs({ args, jobs, env: ctx.env, signal: ctx.signal }) as ExportSummary[]
      return printSummary(out, { ...mergeSummaries(summaries), seconds: (Date.now() - started) / 1000 }, setup.settings.maxTokens)
    }
    const hub = openHub(ctx, flags, out)
    const decoder = decodePool(read.threads)
    const started = Date.now()
    const outDir = resolve(flags.out!)
    try {
      const set = await resolveSources(hub, { repo: flags.repo, revision: flags.revision, ...selectionFrom(flags), inputs: files, holdBytes: read.holdBytes })
      const { settings } = setup
      // one line at a time: the planning scan over the whole selection, then this worker's shards
      let done: SelectProgress = { bytes: 0, rowsWritten: 0 }
      const exporting = () => scanProgress(out, {
        label: 'export',
        totalBytes: workerShare(set.sources, worker).reduce((sum, source) => sum + source.size, 0),
        sample: () => ({ bytes: done.bytes, rows: done.rowsWritten }),
      })
      const planning = setup.needsPlan ? countProgress(out, 'plan', set.sources.length) : undefined
      let progress = planning ? undefined : exporting()
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
          onProgress: (progressed) => { done = progressed },
        })
      } finally {
        planning?.stop()
        progress?.stop()
      }
      const { report, plan, shards: sources } = result
      if (sources.length === 0) warn(out, worker ? `worker ${worker.index}/${worker.count} has no shards (there are ${set.sources.length})` : 'the selection holds no shards')
      const recipeFile = settings.to || settings.recipe
        ? await writeRecipeFile(outDir, {
          // commander keeps the argv it parsed on the program (untyped)
          command: ((command.parent as unknown as { rawArgs?: string[] } | null)?.rawArgs ?? process.argv).slice(2),
          dataset: files.length ? { inputs: files } : { repo: flags.repo, revision: flags.revision, commit: set.commit, config: flags.config, splits: flags.split },
          predicate: selection.predicate.expr, settings, fingerprints: setup.fingerprints, worker,
          tokenizer: setup.convert?.counter && { name: setup.convert.counter.name, engine: setup.convert.counter.engine },
          plan: plan?.counts, conversion: settings.to ? report.stats : undefined,
          shards: { total: set.sources.length, exported: sources.length - report.resumed, resumed: report.resumed },
          rows: { scanned: report.rowsScanned, selected: report.rows },
        })
        : undefined
      printSummary(out, {
        shards: sources.length, shards_total: set.sources.length, files: report.files.flatMap((file) => file.outputs), out: outDir, rows: report.rows,
        rows_scanned: report.rowsScanned, rejected: report.rejected, bytes_fetched: set.bytesFetched(), seconds: (Date.now() - started) / 1000,
        worker: worker ?? null, resumed_shards: report.resumed,
        ...(plan ? { plan: plan.counts } : {}), ...(settings.to ? { conversion: report.stats } : {}), ...(recipeFile ? { recipe_file: recipeFile } : {}),
      }, settings.maxTokens)
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

/** What an export run prints: its `--json` summary, or the same as lines. */
export interface ExportSummary {
  shards: number
  shards_total: number
  files: string[]
  out: string
  rows: number
  rows_scanned: number
  rejected: Partial<Record<string, number>>
  bytes_fetched: number
  seconds: number
  worker: { index: number, count: number } | null
  resumed_shards: number
  plan?: PlanCounts
  conversion?: ConversionStats
  recipe_file?: string
}

function printSummary(out: Output, summary: ExportSummary, maxTokens: number | undefined): void {
  if (out.json) return printJson(out, summary)
  note(out, `${formatCount(summary.rows)} rows from ${summary.shards} shards into ${summary.files.length} files in ${summary.out} ` +
    `(${formatDuration(summary.seconds * 1000)}${summary.bytes_fetched ? `, fetched ${formatBytes(summary.bytes_fetched)}` : ''}` +
    `${summary.resumed_shards ? `, ${summary.resumed_shards} shards kept from an earlier run` : ''})`)
  const c = summary.plan
  if (c) {
    note(out, `planned over ${summary.shards_total} shards: ${formatCount(c.selected)} selected, ${formatCount(c.decontaminated)} decontaminated, ` +
      `${formatCount(c.duplicates)} duplicates, ${formatCount(c.capped)} over the per-task cap, ${formatCount(c.kept)} kept in ${formatCount(c.tasks)} tasks` +
      `${c.valTasks || c.valRows ? ` (val: ${formatCount(c.valRows)} rows in ${formatCount(c.valTasks)} tasks)` : ''}`)
  }
  const rejected = Object.values(summary.rejected).reduce((a: number, b) => a + (b ?? 0), 0)
  if (rejected) warn(out, `${formatCount(rejected)} trajectories rejected by the validator: ${Object.entries(summary.rejected).map(([reason, n]) => `${reason} ${n}`).join(', ')}`)
  if (summary.conversion) noteConversion(out, summary.conversion, maxTokens)
  if (summary.recipe_file) note(out, `parameters and counts in ${summary.recipe_file}`)
}

/** The export's own arguments less `--jobs`, as each job is to get them. */
function jobArguments(command: Command, jobs: number): string[] {
  // commander keeps the argv it parsed on the program (untyped)
  const argv = ((command.parent as unknown as { rawArgs?: string[] } | null)?.rawArgs ?? process.argv).slice(2)
  const args: string[] = []
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--jobs') i++
    else if (!argv[i]!.startsWith('--jobs=')) args.push(argv[i]!)
  }
  if (args.length === argv.length) throw new Error(`internal: --jobs ${jobs} not found in the arguments`)
  return args
}

/** One summary for the jobs of a `--jobs` run: counts added up, the whole-selection plan taken once. */
function mergeSummaries(summaries: ExportSummary[]): ExportSummary {
  const merged: ExportSummary = { ...summaries[0]!, shards: 0, files: [], rows: 0, rows_scanned: 0, rejected: {}, bytes_fetched: 0, worker: null, resumed_shards: 0 }
  const conversion = summaries[0]!.conversion && emptyStats()
  for (const summary of summaries) {
    merged.shards += summary.shards
    merged.files.push(...summary.files)
    merged.rows += summary.rows
    merged.rows_scanned += summary.rows_scanned
    merged.bytes_fetched += summary.bytes_fetched
    merged.resumed_shards += summary.resumed_shards
    for (const [reason, n] of Object.entries(summary.rejected)) merged.rejected[reason] = (merged.rejected[reason] ?? 0) + (n ?? 0)
    if (conversion && summary.conversion) addStats(conversion, summary.conversion)
  }
  // each job writes recipe-worker-I-of-N.json beside the outputs
  return { ...merged, conversion, recipe_file: summaries[0]!.recipe_file && summaries.map((summary) => summary.recipe_file).join(', ') }
}

function noteConversion(out: Output, stats: ConversionStats, maxTokens: number | undefined): void {
  const parts = [`${formatCount(stats.written)} examples written of ${formatCount(stats.rows)}`]
  if (stats.mergedTurns || stats.droppedEmptyTurns) parts.push(`${formatCount(stats.mergedTurns)} turns merged, ${formatCount(stats.droppedEmptyTurns)} empty turns dropped`)
  if (stats.thinkCalls || stats.thinkInlined) parts.push(`${formatCount(stats.thinkCalls)} think calls removed, ${formatCount(stats.thinkInlined)} <think> blocks`)
  if (stats.overBudgetDropped || stats.overBudgetTruncated) parts.push(`over budget: ${formatCount(stats.overBudgetDropped)} dropped, ${formatCount(stats.overBudgetTruncated)} truncated`)
  if (stats.surrogatesReplaced) parts.push(`${formatCount(stats.surrogatesReplaced)} lone surrogates replaced by U+FFFD`)
  note(out, parts.join('; '))
  const failed = Object.entries(stats.templateFailed)
  if (failed.length) warn(out, `chat template failed on ${failed.reduce((n, [, k]) => n + k, 0)} examples: ${failed.map(([reason, n]) => `${n}× ${reason}`).join('; ')}`)
  const buckets = bucketLabels(maxTokens).filter((label) => stats.tokenHistogram[label])
  if (buckets.length) note(out, `tokens per trajectory: ${buckets.map((label) => `${label} ${formatCount(stats.tokenHistogram[label]!)}`).join(', ')} (total ${formatCount(stats.tokens)} written)`)
}
