import { UsageError } from '../errors.js'
import type { ArgumentsStyle, TrainingFormat } from '../trajectory/formats.js'
import type { OverBudget } from './budget.js'
import type { ThinkPolicy } from './think.js'
import { bundledTokenizer } from './tokens.js'

/** Every parameter of the SFT steps, resolved (what recipe.json records). */
export interface SftSettings {
  recipe?: string
  to?: TrainingFormat
  arguments: ArgumentsStyle
  think: ThinkPolicy
  dedup: boolean
  maxPerTask?: number
  seed: number
  valFraction?: number
  decontaminate: boolean
  excludeFile?: string
  maxTokens?: number
  tokenizer?: string
  overBudget: OverBudget
  chatTemplate?: string
}

/** A published recipe: the parameters it sets, the reward filter and split it implies, and where they come from. */
export interface Recipe {
  description: string
  /** Where the parameters were published (shared/sft-recipes.md section and primary source). */
  source: string
  /** `--reward` it implies unless given. */
  reward?: string
  /** `--split` it implies unless given. */
  splits?: string[]
  settings: Partial<SftSettings>
}

/** Named recipes for `--recipe`; flags given explicitly override any of their values. */
export const recipes: Record<string, Recipe> = {
  'swe-smith': {
    description: 'SWE-agent-LM: resolved only, 3 per task (seed 24), SWE-bench repos excluded, xml tool calls, 32,768 tokens',
    // sft-recipes.md §1.1: combine_trajs.py max_per_inst=3 seed=24; transform_to_ft.py --only_resolved and the "xml"
    // style; configs/train/full_ft_qwen_32b.yml max_seq_len 32768; the 12 SWE-bench repos excluded (arXiv 2504.21798 §2.1)
    source: 'SWE-bench/SWE-smith swesmith/train/traj_mgr/{combine_trajs,transform_to_ft,utils}.py, configs/train/full_ft_qwen_32b.yml',
    reward: '1',
    settings: { to: 'xml', maxPerTask: 3, seed: 24, decontaminate: true, maxTokens: 32768, overBudget: 'truncate' },
  },
  'swe-gym': {
    description: 'SWE-Gym RFT: resolved only, one trajectory per task, OpenAI messages, 32,768 tokens',
    // sft-recipes.md §1.2: converted_for_oss.dedup294i.jsonl (one per instance), torchtune openai style, max_seq_len 32768;
    // which trajectory of an instance was kept is not published: seed 0 here
    source: 'SWE-Gym/SWE-Gym scripts/training/openhands/configs/policy/*uniq-data*.yaml',
    reward: '1',
    settings: { to: 'openai', arguments: 'object', maxPerTask: 1, seed: 0, decontaminate: true, maxTokens: 32768, overBudget: 'truncate' },
  },
  'r2e-gym': {
    description: 'R2E-Gym SFT: resolved only, ShareGPT for LLaMA-Factory, cutoff 20,480 tokens',
    // sft-recipes.md §1.3: train/dataset_info.json (sharegpt), train/train_r2egym_32B_agent.yaml cutoff_len 20480
    source: 'R2E-Gym/R2E-Gym train/dataset_info.json, train/train_r2egym_32B_agent.yaml',
    reward: '1',
    settings: { to: 'sharegpt', decontaminate: true, maxTokens: 20480, overBudget: 'truncate' },
  },
  'swe-rebench': {
    description: 'Nebius SWE-rebench RFT: resolved only, OpenAI messages with arguments as objects',
    // sft-recipes.md §1.4: the card's "How to use" whitelists fields per role and json-loads tool-call arguments
    source: 'nebius/SWE-rebench-openhands-trajectories dataset card',
    reward: '1',
    settings: { to: 'openai', arguments: 'object', decontaminate: true },
  },
  'laion-v6': {
    description: 'OpenThoughts-Agent CoderForge v6: filtered_reward1, think-first OpenHands XML, 32,768 tokens (seed 42)',
    // sft-recipes.md §1.6: subset_coderforge_v6.py (<think> from the think tool, <function=…> calls), seq 32768, seed 42
    source: 'open-thoughts/OpenThoughts-Agent baselines/coderforge/subset_coderforge_v6.py',
    splits: ['filtered_reward1'],
    settings: { to: 'xml', think: 'inline', seed: 42, decontaminate: true, maxTokens: 32768, overBudget: 'truncate' },
  },
  nvidia: {
    description: 'NVIDIA agentic SFT: 5% validation grouped by task (seed 1234), OpenAI messages, 65,536 tokens',
    // sft-recipes.md §1.7: 02_prepare_coderforge.py (val by task_id, hash split, seed 1234, 5%), 02_5_filter L = 65,536
    // (rejecting what does not fit); the reward filter is ours, as for every RFT recipe here
    source: 'NVIDIA Megatron-LM examples/agentic_sft/02_prepare_coderforge.py, 02_5_filter_coderforge.py',
    reward: '1',
    settings: { to: 'openai', arguments: 'object', valFraction: 0.05, seed: 1234, decontaminate: true, maxTokens: 65536, overBudget: 'drop' },
  },
}

/** Resolve the SFT settings: explicit values, then the recipe's, then the defaults. */
export function resolveSftSettings(explicit: Partial<SftSettings>): SftSettings {
  const recipe = explicit.recipe === undefined ? undefined : recipeNamed(explicit.recipe)
  const given = Object.fromEntries(Object.entries(explicit).filter(([, value]) => value !== undefined)) as Partial<SftSettings>
  const merged = { ...recipe?.settings, ...given }
  const to = merged.to
  const maxTokens = merged.maxTokens
  return {
    ...merged,
    arguments: merged.arguments ?? 'string',
    think: merged.think ?? 'keep',
    dedup: merged.dedup ?? to !== undefined,
    seed: merged.seed ?? 0,
    decontaminate: merged.decontaminate ?? recipe !== undefined,
    overBudget: merged.overBudget ?? 'drop',
    tokenizer: merged.tokenizer ?? (maxTokens !== undefined ? bundledTokenizer : undefined),
  }
}

/** The recipe of a name, or a usage error listing the names. */
export function recipeNamed(name: string): Recipe {
  const recipe = recipes[name]
  if (!recipe) throw new UsageError(`unknown --recipe '${name}': use one of ${Object.keys(recipes).join(', ')}`)
  return recipe
}
