// Mutation testing (StrykerJS) for one target at a time; scripts/mutate.ts sets the target through the
// environment. node:test has no Stryker runner, so the `command` runner runs the target's own test files
// once per mutant (the active mutant reaches CLI child processes through the inherited environment).
const mutate = (process.env.MUTATE_FILES ?? 'src/stats/distribution.ts').split(',')
const tests = (process.env.MUTATE_TESTS ?? 'test/stats.test.ts').split(',')
const name = process.env.MUTATE_NAME ?? 'mutation'

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  mutate,
  testRunner: 'command',
  commandRunner: { command: `node --import tsx --test --test-concurrency=1 --test-timeout=120000 ${tests.join(' ')}` },
  coverageAnalysis: 'off',
  concurrency: Number(process.env.MUTATE_CONCURRENCY ?? 1),
  timeoutMS: 10_000,
  timeoutFactor: 2,
  reporters: ['clear-text', 'json', 'progress'],
  jsonReporter: { fileName: `reports/mutation/${name}.json` },
  clearTextReporter: { allowColor: false, logTests: false, reportScoreTable: true },
  ignorePatterns: ['dist', 'bench/out', 'reports', '.stryker-tmp'],
  tempDirName: '.stryker-tmp',
  cleanTempDir: true,
  thresholds: { high: 85, low: 70, break: null },
}
