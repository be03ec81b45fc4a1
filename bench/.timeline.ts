import { spawn } from 'node:child_process'
import { rmSync } from 'node:fs'
import { repoDir } from '/work/main/fixtures/index.js'
import { startHub } from '/work/main/test/support/emulator/index.js'
const repo = 'togethercomputer/CoderForge-Preview'
const hub = await startHub({ repos: [{ id: repo, dir: repoDir('realistic') }], bandwidth: 25e6, latencyMs: 20, bodiesInMemory: true })
for (let run = 0; run < 4; run++) {
  rmSync('/tmp/dl2', { recursive: true, force: true })
  hub.clearLog()
  const t0 = Date.now()
  const child = spawn(process.execPath, ['/work/main/bin/coderforge.js', 'download', '--split', 'SWE_Smith', '--quiet', '--cache-dir', '/tmp/dl2', ...process.argv.slice(2)], { env: { ...process.env, HF_ENDPOINT: hub.endpoint }, stdio: 'inherit' })
  await new Promise((r) => child.on('exit', r))
  const end = Date.now() - t0
  const cdn = hub.requests.filter((r) => r.origin === 'cdn')
  const first = hub.requests[0]!.t - t0
  console.log(`run ${run}: first request ${first} ms, first cdn ${cdn[0]!.t - t0} ms, exit ${end} ms`)
}
await hub.close()
