import { readFile } from 'node:fs/promises'
import { UsageError } from '../errors.js'
import { repoOf } from '../trajectory/messages.js'

/**
 * The 12 repositories of the SWE-bench (and SWE-bench Verified) test set. SWE-smith built its
 * environments without them (arXiv 2504.21798 §2.1; shared/sft-recipes.md §1.1, §2 step 8).
 */
export const sweBenchRepos: readonly string[] = [
  'astropy/astropy', 'django/django', 'matplotlib/matplotlib', 'mwaskom/seaborn', 'pallets/flask', 'psf/requests',
  'pydata/xarray', 'pylint-dev/pylint', 'pytest-dev/pytest', 'scikit-learn/scikit-learn', 'sphinx-doc/sphinx', 'sympy/sympy',
]

/** What decontamination excludes: repos (`owner/repo`, lowercase) and trajectory ids or tasks. */
export interface Exclusions {
  repos: Set<string>
  /** Repo names without owner, for rows whose owner is unknown (R2E-Gym ids name the repo alone). */
  names: Set<string>
  ids: Set<string>
}

/**
 * Build the exclusions: the SWE-bench repos when `sweBench`, plus every line of `excludeFile` — a
 * line with a `/` is a repo, any other line a trajectory id or a task (id without `_runN`). Blank
 * lines and `#` comments are ignored.
 */
export async function loadExclusions(options: { sweBench: boolean, excludeFile?: string }): Promise<Exclusions> {
  const exclusions: Exclusions = { repos: new Set(), names: new Set(), ids: new Set() }
  const addRepo = (repo: string) => {
    exclusions.repos.add(repo.toLowerCase())
    exclusions.names.add(repo.toLowerCase().split('/').pop()!)
  }
  if (options.sweBench) sweBenchRepos.forEach(addRepo)
  if (options.excludeFile) {
    const text = await readFile(options.excludeFile, 'utf8').catch((error: NodeJS.ErrnoException) => {
      throw new UsageError(`cannot read --exclude-file ${options.excludeFile} (${error.code ?? error.message}): give a file of ids or owner/repo lines`)
    })
    for (const raw of text.split(/\r?\n/)) {
      const line = raw.replace(/#.*/, '').trim()
      if (!line) continue
      if (line.includes('/')) addRepo(line)
      else exclusions.ids.add(line)
    }
  }
  return exclusions
}

/** True when nothing is excluded. */
export function isEmpty(exclusions: Exclusions): boolean {
  return exclusions.repos.size === 0 && exclusions.ids.size === 0
}

/**
 * True when the row is excluded: its id or task is listed, or its repo (parsed as the `repo` field
 * of the predicate language does) is — by `owner/repo`, or by name alone when the row has no owner.
 */
export function isExcluded(exclusions: Exclusions, id: string, task: string, image: string | undefined): boolean {
  if (exclusions.ids.has(id) || exclusions.ids.has(task)) return true
  const repo = repoOf(id, image)
  if (!repo) return false
  return repo.includes('/') ? exclusions.repos.has(repo) : exclusions.names.has(repo)
}
