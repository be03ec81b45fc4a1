import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { describe, test } from 'node:test'
import { repoDir } from '../fixtures/index.js'
import { useFixtureHub } from './support/fixtureHub.js'
import { runCli } from './support/cli.js'
import { tinyTokenizerJson } from './support/tinyTokenizer.js'

/** A minimal ChatML template, enough for the examples that name `chat_template.jinja`. */
const chatTemplate = "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"

const fixture = useFixtureHub()
const commands = ['download', 'inspect', 'filter', 'stats', 'export']

/**
 * Run shell text through bash with `coderforge` as a function that records its arguments, so the
 * text is checked as bash reads it (quotes, `<placeholders>`, pipes, loops) without running anything.
 */
async function invocations(script: string, cwd: string): Promise<string[][]> {
  // one append per call, so calls run in the background (`&`) never interleave their fields
  const record = 'coderforge() { local line; line=$(printf "%s\\037" "$@"); printf "%s\\036" "$line" >> "$ARGS_FILE"; }'
  const argsFile = join(cwd, '.invocations')
  const { stderr } = await promisify(execFile)('bash', ['--norc', '--noprofile', '-c', `set -euo pipefail\n${record}\n${script}\nwait`], {
    cwd, env: { PATH: process.env.PATH, ARGS_FILE: argsFile, SLURM_ARRAY_TASK_ID: '1', SLURM_ARRAY_TASK_COUNT: '2' },
  })
  assert.equal(stderr, '', `bash reads the examples without complaint:\n${script}`)
  const text = await readFile(argsFile, 'utf8').catch(() => '')
  await promisify(execFile)('rm', ['-f', argsFile])
  return text.split('\x1e').filter(Boolean).map((line) => line.split('\x1f').slice(0, -1))
}

/** A folder to run examples in, holding the local files they name. */
async function workspace(name: string): Promise<string> {
  const cwd = join(fixture.home, name)
  await mkdir(join(cwd, 'data'), { recursive: true })
  const shard = join(repoDir('tiny'), 'trajectories', 'SWE_Smith-00000-of-00003.parquet')
  await copyFile(shard, join(cwd, 'shard.parquet'))
  await copyFile(shard, join(cwd, 'data', 'shard.parquet'))
  await writeFile(join(cwd, 'tokenizer.json'), JSON.stringify(tinyTokenizerJson()))
  await writeFile(join(cwd, 'chat_template.jinja'), chatTemplate)
  return cwd
}

/** Run each invocation in-process from `cwd` against the emulator; every one must succeed. */
async function runAll(calls: string[][], cwd: string): Promise<void> {
  const previous = process.cwd()
  process.chdir(cwd)
  try {
    for (const args of calls) {
      const result = await runCli(args, fixture.env)
      assert.equal(result.code, 0, `coderforge ${args.join(' ')}: ${result.stderr}`)
    }
  } finally {
    process.chdir(previous)
  }
}

describe('examples run as written', () => {
  test('every coderforge block of the README is valid bash and every command in it succeeds', async () => {
    const readme = await readFile(new URL('../README.md', import.meta.url), 'utf8')
    const blocks = [...readme.matchAll(/```sh\n([\s\S]*?)```/g)].map((match) => match[1]!)
      .filter((block) => block.split('\n').filter((line) => line.trim()).every((line) => /\bcoderforge /.test(line)))
    const cwd = await workspace('readme')
    const calls: string[][] = []
    for (const block of blocks) calls.push(...await invocations(block, cwd))
    for (const command of commands) assert.ok(calls.some((args) => args[0] === command), `the README shows ${command}`)
    await runAll(calls, cwd)
  })

  test('every command\'s --help has examples, valid bash, and each succeeds', async () => {
    const cwd = await workspace('help')
    for (const command of commands) {
      const help = await runCli([command, '--help'], fixture.env)
      assert.equal(help.code, 0)
      const examples = /\nExamples:\n((?: {2}.*\n)+)/.exec(help.stdout)?.[1]
      assert.ok(examples, `${command} --help has examples`)
      const calls = await invocations(examples, cwd)
      assert.ok(calls.length >= 3 && calls.every((args) => args[0] === command), `${command}: ${JSON.stringify(calls)}`)
      await runAll(calls, cwd)
    }
  })
})
