import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { after, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { bundle } from '../scripts/bundle.js'
import { finished, isolatedEnv, runCli, tempDir } from './support/cli.js'

const root = fileURLToPath(new URL('..', import.meta.url))
// inside the repository, so that the bundles find their external package (@bokuweb/zstd-wasm) in node_modules
mkdirSync(join(root, 'dist'), { recursive: true })
const out = mkdtempSync(join(root, 'dist', 'bundle-test-'))
after(() => rmSync(out, { recursive: true, force: true }))

test('the bundled CLI decodes on threads that load the decoder bundle, with the same bytes as the sources on one thread', async () => {
  await bundle(out)
  assert.deepEqual(readdirSync(out).sort(), ['coderforge.cjs', 'decode-worker.cjs'])
  const decoder = readFileSync(join(out, 'decode-worker.cjs'), 'utf8').length
  assert.ok(decoder < readFileSync(join(out, 'coderforge.cjs'), 'utf8').length / 1.5, 'the decoder bundle leaves out the commands')
  const home = await tempDir()
  try {
    const shards = ['R2E_Gym-00000-of-00003.parquet', 'R2E_Gym-00001-of-00003.parquet'].map((name) => join(root, 'fixtures/data/tiny/repo/trajectories', name))
    const [bundled, sources] = [join(home.path, 'bundled.jsonl'), join(home.path, 'sources.jsonl')]
    const child = spawn(process.execPath, [join(out, 'coderforge.cjs'), 'filter', ...shards, '--reward', '1', '--threads', '2', '-o', bundled, '--quiet'],
      { env: isolatedEnv(home.path), stdio: ['ignore', 'pipe', 'pipe'] })
    const run = await finished(child)
    assert.equal(run.code, 0, run.stderr)
    const reference = await runCli(['filter', ...shards, '--reward', '1', '--threads', '1', '-o', sources, '--quiet'], isolatedEnv(home.path))
    assert.equal(reference.code, 0, reference.stderr)
    const lines = readFileSync(sources, 'utf8')
    assert.ok(lines.split('\n').length > 2)
    assert.equal(readFileSync(bundled, 'utf8'), lines)
  } finally {
    await home.cleanup()
  }
})
