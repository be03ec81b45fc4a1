import { startHub } from '/work/wt-harden/test/support/emulator/index.js'
import { runCli, isolatedEnv, tempDir } from '/work/wt-harden/test/support/cli.js'
import { repoDir } from '/work/wt-harden/fixtures/index.js'
const hub = await startHub({ repos: [{ id: 'togethercomputer/CoderForge-Preview', dir: repoDir('tiny') }] })
const home = await tempDir()
const env = isolatedEnv(home.path, { HF_ENDPOINT: hub.endpoint })
for (const args of [
  ['filter', '--split', 'SWE_Smith', '--config', 'tokenized', '--license', 'MIT', '-o', '-'],
  ['filter', '--split', 'SWE_Smith', '--config', 'tokenized', '--min-turns', '3', '-o', '-'],
  ['filter', '--split', 'SWE_Smith', '--config', 'tokenized', '--min-turns', '3', '-o', '-', '--threads', '1'],
  ['filter', '--split', 'SWE_Smith', '--config', 'tokenized', '--shards', '0', '--min-turns', '3', '-o', '-'],
  ['filter', '--split', 'SWE_Smith', '--config', 'tokenized', '--where', "license = 'x' or reward > 0", '-o', '-'],
  ['filter', '--split', 'SWE_Smith,R2E_Gym', '--config', 'tokenized', '--uses-tool', 'think', '-o', '-'],
  ['stats', '--split', 'SWE_Smith', '--config', 'tokenized', '--deep'],
  ['export', '--split', 'SWE_Smith', '--config', 'tokenized', '--min-turns', '3', '--out', home.path + '/e', '--format', 'jsonl'],
  ['inspect', '--split', 'SWE_Smith', '--config', 'tokenized', '--id', 'x', '--rows', '1'],
]) {
  const r = await runCli(args, env)
  console.log('==', args.join(' '), r.code, r.stderr.slice(0, 600))
}
await hub.close(); await home.cleanup()
