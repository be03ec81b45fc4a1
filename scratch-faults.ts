import { startHub } from '/work/wt-harden/test/support/emulator/index.js'
import { runCli, isolatedEnv, tempDir } from '/work/wt-harden/test/support/cli.js'
import { repoDir } from '/work/wt-harden/fixtures/index.js'
const hub = await startHub({ repos: [{ id: 'togethercomputer/CoderForge-Preview', dir: repoDir('tiny') }] })
const home = await tempDir()
const env = isolatedEnv(home.path, { HF_ENDPOINT: hub.endpoint })
const show = async (label: string, args: string[]) => { const r = await runCli(args, env); console.log('==', label, r.code, r.stderr.trim().slice(-600)); hub.clearFaults() }
hub.fault({ target: 'api', kind: 'html', times: 99 })
await show('html', ['stats', '--split', 'SWE_Smith'])
hub.fault({ target: 'cdn', kind: 'drop', afterBytes: 1000, times: 99 })
await show('drop', ['download', '--split', 'SWE_Smith', '--shards', '0', '--retries', '1'])
hub.fault({ target: 'cdn', kind: 'drop', afterBytes: 1000, times: 99 })
await show('drop stats', ['inspect', '--split', 'SWE_Smith', '--shards', '0', '--retries', '1'])
hub.fault({ target: 'cdn', kind: 'corrupt', times: 1 })
await show('corrupt', ['download', '--split', 'SWE_Smith', '--shards', '1'])
hub.fault({ target: 'cdn', kind: 'corrupt', times: 99 })
await show('corrupt2', ['download', '--split', 'SWE_Smith', '--shards', '2'])
await hub.close(); await home.cleanup()
