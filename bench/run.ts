/**
 * Run benchmarks (not in CI) after building the CLI they time:
 *   npm run bench -- [remote|decode|download|all] [flags for the bench, e.g. --quick]
 */
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { root } from './support.js'

const benches = ['remote', 'decode', 'download']
const [name = 'all', ...flags] = process.argv.slice(2)
const chosen = name === 'all' ? benches : [name]
if (!chosen.every((bench) => benches.includes(bench))) {
  console.error(`unknown bench '${name}': choose ${benches.join(', ')} or all`)
  process.exit(2)
}
const run = (command: string, args: string[]) => spawnSync(command, args, { cwd: root, stdio: 'inherit' }).status ?? 1
if (run('npm', ['run', '--silent', 'build']) !== 0) process.exit(1)
let failed = 0
for (const bench of chosen) {
  console.log(`\n=== bench/${bench}.ts ${flags.join(' ')}`)
  if (run(process.execPath, ['--import', 'tsx', join(root, 'bench', `${bench}.ts`), ...flags]) !== 0) failed++
}
process.exitCode = failed ? 1 : 0
