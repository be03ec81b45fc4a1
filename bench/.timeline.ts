import { spawn } from 'node:child_process'
import { rmSync } from 'node:fs'
import { repoDir } from '/work/main/fixtures/index.js'
import { startHub } from '/work/main/test/support/emulator/index.js'
const repo = 'togethercomputer/CoderForge-Preview'
const hub = await startHub({ repos: [{ id: repo, dir: repoDir('realistic') }], bandwidth: 25e6, latencyMs: 20, bodiesInMemory: true })
rmSync('/tmp/dl2', { recursive: true, force: true })
const t0 = Date.now()
const child = spawn(process.execPath, ['/work/main/bin/coderforge.js', 'download', '--split', 'SWE_Smith', '--quiet', '--cache-dir', '/tmp/dl2', ...process.argv.slice(2)], { env: { ...process.env, HF_ENDPOINT: hub.endpoint }, stdio: 'inherit' })
await new Promise((r) => child.on('exit', r))
const end = Date.now() - t0
for (const r of hub.requests.slice(0, 12)) console.log(r.t - t0, r.origin, r.method, r.path.slice(0, 90), r.range ?? '', r.status)
const cdn = hub.requests.filter((r) => r.origin === 'cdn'); console.log('first cdn', cdn[0]!.t - t0, 'last cdn start', cdn.at(-1)!.t - t0)
console.log('requests', hub.requests.length, 'cdn', hub.requests.filter((r) => r.origin === 'cdn').length, 'exit', end)
await hub.close()
