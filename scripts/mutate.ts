/**
 * `npm run mutate [-- target...]`: mutation testing of src/ one target at a time, each against only the
 * test files that exercise it (so a run fits a small machine), then the score of every target.
 * A target is a folder name below (fetch, query, sinks, trajectory, stats, export) or a file under one,
 * e.g. `npm run mutate -- src/stats/distribution.ts`; `--tests a.test.ts,b.test.ts` runs those test files
 * instead of the target's. Not part of CI: a full run takes hours on 2 cores.
 */
import { spawnSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'

interface Target {
  mutate: string[]
  tests: string[]
}

const targets: Record<string, Target> = {
  fetch: {
    mutate: ['src/fetch/**/*.ts'],
    tests: ['test/fetch-unit.test.ts', 'test/fetch-files.test.ts', 'test/hash.test.ts', 'test/http.test.ts', 'test/download.test.ts', 'test/pinning-http.test.ts', 'test/pinning-download.test.ts'],
  },
  query: {
    mutate: ['src/query/**/*.ts'],
    tests: ['test/select-unit.test.ts', 'test/query-unit.test.ts', 'test/query.test.ts', 'test/filter.test.ts', 'test/pinning-filter.test.ts', 'test/pinning-query.test.ts', 'test/pinning-offline.test.ts'],
  },
  sinks: {
    mutate: ['src/sinks/**/*.ts'],
    tests: ['test/sinks-unit.test.ts', 'test/sinks.test.ts', 'test/filter.test.ts', 'test/pinning-json.test.ts', 'test/pinning-filter.test.ts', 'test/pinning-query.test.ts'],
  },
  trajectory: {
    mutate: ['src/trajectory/**/*.ts'],
    tests: ['test/scan-turns.test.ts', 'test/trajectory.test.ts', 'test/parquet.test.ts', 'test/filter.test.ts', 'test/pinning-filter.test.ts', 'test/pinning-stats.test.ts', 'test/pinning-query.test.ts', 'test/pinning-json.test.ts'],
  },
  stats: {
    mutate: ['src/stats/**/*.ts'],
    tests: ['test/stats-unit.test.ts', 'test/stats.test.ts', 'test/pinning-stats.test.ts', 'test/render.test.ts'],
  },
  export: {
    mutate: ['src/export.ts'],
    tests: ['test/export-unit.test.ts', 'test/filter.test.ts', 'test/pinning-filter.test.ts', 'test/pinning-json.test.ts'],
  },
}

/** The target a command-line argument names: a folder key, or one file inside a target's folder. */
function targetFor(argument: string): { name: string, target: Target } {
  const direct = targets[argument.replace(/^src\//, '').replace(/(\.ts)?\/?$/, '')]
  if (direct) return { name: argument.replace(/^src\//, '').replace(/(\.ts)?\/?$/, ''), target: direct }
  const folder = /^src\/([^/.]+)\//.exec(argument)?.[1]
  const owner = folder ? targets[folder] : undefined
  if (!owner) throw new Error(`no mutation target ${argument}: give one of ${Object.keys(targets).join(', ')} or a file under src/<folder>/`)
  return { name: argument.replace(/^src\//, '').replace(/[/.]/g, '_'), target: { mutate: [argument], tests: owner.tests } }
}

interface Report {
  files: Record<string, { mutants: { status: string }[] }>
}

/** Killed (incl. timeouts) over all mutants that ran, as Stryker counts its score. */
function score(name: string): { killed: number, total: number } {
  const report = JSON.parse(readFileSync(`reports/mutation/${name}.json`, 'utf8')) as Report
  let killed = 0
  let total = 0
  for (const file of Object.values(report.files)) {
    for (const mutant of file.mutants) {
      if (mutant.status === 'Killed' || mutant.status === 'Timeout') killed++
      if (mutant.status !== 'CompileError' && mutant.status !== 'RuntimeError' && mutant.status !== 'Ignored') total++
    }
  }
  return { killed, total }
}

const args = process.argv.slice(2)
const testsFlag = args.indexOf('--tests')
const testsOverride = testsFlag === -1 ? undefined : args.splice(testsFlag, 2)[1]?.split(',')
const chosen = (args.length ? args : Object.keys(targets)).map(targetFor)
spawnSync('npm', ['run', 'pretest'], { stdio: 'inherit' })
const scores: string[] = []
for (const { name, target } of chosen) {
  const run = spawnSync('npx', ['stryker', 'run', 'stryker.config.mjs'], {
    stdio: 'inherit',
    env: { ...process.env, MUTATE_NAME: name, MUTATE_FILES: target.mutate.join(','), MUTATE_TESTS: (testsOverride ?? target.tests).filter((file) => existsSync(file)).join(',') },
  })
  if (run.status !== 0) {
    scores.push(`${name}: stryker failed (exit ${run.status})`)
    continue
  }
  const { killed, total } = score(name)
  scores.push(`${name}: ${total ? ((killed / total) * 100).toFixed(1) : '–'}% killed (${killed}/${total})`)
}
console.log(`\nmutation score per target\n${scores.map((line) => `  ${line}`).join('\n')}`)
