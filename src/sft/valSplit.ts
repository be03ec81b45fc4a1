import { seededUnit } from './hash.js'

/** Which output a trajectory goes to. */
export type Side = 'train' | 'val'

/**
 * The side of a task: `val` when the seeded hash of the task falls below `fraction`. Every
 * trajectory of a task lands on the same side (NVIDIA's grouped split, shared/sft-recipes.md §1.7),
 * and a task keeps its side whatever else the selection holds.
 */
export function sideOf(task: string, fraction: number | undefined, seed: number): Side {
  return fraction !== undefined && fraction > 0 && seededUnit(seed ^ 0x5f3759df, task) < fraction ? 'val' : 'train'
}
