import { join } from 'node:path'
import { writeFileAtomic } from '../sinks/atomicFile.js'
import { VERSION } from '../version.js'
import type { ConversionStats } from './convert.js'
import type { PlanCounts } from './plan.js'
import type { SftSettings } from './recipes.js'

/** What recipe.json records: enough to run the export again and get the same training set. */
export interface RecipeRecord {
  /** The command line that made it. */
  command: string[]
  dataset: { repo?: string, revision?: string, commit?: string, config?: string, splits?: string[], inputs?: string[] }
  /** The row predicate (flags and --where) as its syntax tree. */
  predicate: unknown
  settings: SftSettings
  fingerprints: Record<string, string>
  /** The tokenizer that counted, and by which engine (both count the same). */
  tokenizer?: { name: string, engine: string }
  /** `--worker I/N` of this run: the planned steps count the whole selection, the later steps this worker's shards. */
  worker?: { index: number, count: number }
  plan?: PlanCounts
  conversion?: ConversionStats
  shards: { total: number, exported: number, resumed: number }
  rows: { scanned: number, selected: number }
}

/** Each step with its rows in and out, in pipeline order. */
export function stepCounts(plan: PlanCounts | undefined, conversion: ConversionStats | undefined, selected: number): { step: string, in: number, out: number }[] {
  const steps: { step: string, in: number, out: number }[] = []
  if (plan) {
    let rows = plan.selected
    const step = (name: string, removed: number) => {
      steps.push({ step: name, in: rows, out: rows - removed })
      rows -= removed
    }
    step('decontaminate', plan.decontaminated)
    step('dedup', plan.duplicates)
    step('max_per_task', plan.capped)
    steps.push({ step: 'message_predicate', in: plan.kept, out: selected })
  }
  if (conversion) {
    let rows = conversion.rows
    const step = (name: string, removed: number) => {
      steps.push({ step: name, in: rows, out: rows - removed })
      rows -= removed
    }
    step('validate', Object.values(conversion.rejected).reduce((a, b) => a + (b ?? 0), 0))
    step('chat_template', Object.values(conversion.templateFailed).reduce((a, b) => a + b, 0))
    step('token_budget', conversion.overBudgetDropped)
  }
  return steps
}

/** Write `recipe.json` (or `recipe-worker-I-of-N.json`) in the output folder, atomically. */
export async function writeRecipeFile(outDir: string, record: RecipeRecord): Promise<string> {
  const name = record.worker ? `recipe-worker-${record.worker.index}-of-${record.worker.count}.json` : 'recipe.json'
  const path = join(outDir, name)
  const body = { coderforge: VERSION, ...record, steps: stepCounts(record.plan, record.conversion, record.rows.selected) }
  await writeFileAtomic(path, JSON.stringify(body, null, 2) + '\n')
  return path
}
