import { createHash } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { UsageError } from '../errors.js'
import { loadConverter, type Converter } from './convert.js'
import { isEmpty, loadExclusions, type Exclusions } from './decontaminate.js'
import type { SftSettings } from './recipes.js'

/** The SFT steps ready to run: what the planner and the converter need, and fingerprints of the files they read. */
export interface SftSetup {
  settings: SftSettings
  /** The conversion, loaded (training formats only). */
  convert?: Converter
  exclusions?: Exclusions
  /** The selection must be planned over every source first (dedup, cap, val split, decontamination). */
  needsPlan: boolean
  /** sha256 of each file a setting names (exclude file, tokenizer, chat template), so recipe.json pins them. */
  fingerprints: Record<string, string>
}

/** Check the settings against each other, load the tokenizer, template and exclusions. */
export async function prepareSft(settings: SftSettings): Promise<SftSetup> {
  const needsTo = (['maxTokens', 'chatTemplate', 'tokenizer'] as const).find((key) => settings[key] !== undefined)
  if (!settings.to && needsTo) throw new UsageError(`--${kebab(needsTo)} works on training formats: add --to openai|sharegpt|hermes|xml`)
  if (!settings.to && (settings.think !== 'keep' || settings.arguments !== 'string')) throw new UsageError('--think and --arguments work on training formats: add --to openai|sharegpt|hermes|xml')
  if (settings.to && settings.to !== 'openai' && settings.arguments === 'object') {
    throw new UsageError(`--arguments object is for --to openai (${settings.to} writes calls as text): drop --arguments or use --to openai`)
  }
  if (settings.valFraction !== undefined && !(settings.valFraction > 0 && settings.valFraction < 1)) {
    throw new UsageError(`invalid --val-fraction ${settings.valFraction}: use a fraction between 0 and 1, e.g. 0.05`)
  }
  const fingerprints: Record<string, string> = {}
  for (const [key, path] of [['excludeFile', settings.excludeFile], ['chatTemplate', settings.chatTemplate], ['tokenizer', settings.tokenizer]] as const) {
    if (path && (key !== 'tokenizer' || path.endsWith('.json'))) {
      fingerprints[key] = await readFile(path).then((bytes) => createHash('sha256').update(bytes).digest('hex'), () => 'unreadable')
    }
  }
  const exclusions = settings.decontaminate || settings.excludeFile ? await loadExclusions({ sweBench: settings.decontaminate, excludeFile: settings.excludeFile }) : undefined
  const convert = settings.to && await loadConverter({
    format: settings.to, arguments: settings.arguments, think: settings.think, maxTokens: settings.maxTokens, overBudget: settings.overBudget,
    tokenizer: settings.tokenizer, chatTemplate: settings.chatTemplate,
  })
  return {
    settings,
    convert,
    exclusions: exclusions && !isEmpty(exclusions) ? exclusions : undefined,
    needsPlan: settings.dedup || settings.maxPerTask !== undefined || settings.valFraction !== undefined || (exclusions !== undefined && !isEmpty(exclusions)),
    fingerprints,
  }
}

function kebab(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)
}
