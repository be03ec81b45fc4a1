/**
 * SFT export benchmark (not in CI), in one run against the Hub emulator serving a fixture profile:
 *   - `export --split all --to openai` with every SFT step on (dedup, cap per task, val split,
 *     decontamination, think inline, arguments as objects), then also with the chat template and the
 *     token budget (Qwen3 vocabulary), against the plain `export --split all --format jsonl` of the
 *     same selection; rows/s and MB/s of the selection's shards for each, and the ratios (goal ≥ 0.7×);
 *   - tokens/s of the token counter on one core (this process), over the messages of one shard.
 *
 *   npm run build && npx tsx bench/sft.ts [--profile realistic|tiny]
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { ensureFixtures, readManifest, repoDir } from '../fixtures/index.js'
import { fileSource } from '../src/parquet/source.js'
import { readFooter } from '../src/parquet/footer.js'
import { readBatches } from '../src/parquet/rows.js'
import { loadTokenCounter } from '../src/sft/tokens.js'
import { startHub } from '../test/support/emulator/index.js'
import { measure, root } from './support.js'
import { cellAt } from '../src/parquet/intList.js'

const { values } = parseArgs({ options: { profile: { type: 'string', default: 'realistic' } } })
const profile = values.profile!
await ensureFixtures(profile)
const manifest = readManifest(profile)
const shards = manifest.files.filter((f) => f.config === 'trajectories')
const rows = shards.reduce((n, f) => n + f.rows, 0)
const bytes = shards.reduce((n, f) => n + f.size, 0)
const work = await mkdtemp(join(tmpdir(), 'coderforge-bench-sft-'))
const cli = join(root, 'bin/coderforge.cjs')
const template = join(work, 'chat_template.jinja')
// Qwen3-Coder's shape: tool calls as <function=…><parameter=…>, arguments iterated with |items
await writeFile(template, [
  '{%- for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}',
  '{%- if m.tool_calls %}{%- for tc in m.tool_calls %}\n<tool_call>\n<function={{ tc.function.name }}>',
  '{%- for k, v in tc.function.arguments|items %}\n<parameter={{ k }}>\n{{ v }}\n</parameter>{%- endfor %}\n</function>\n</tool_call>{%- endfor %}{%- endif %}<|im_end|>\n{% endfor %}',
].join(''))

const hub = await startHub({ repos: [{ id: 'togethercomputer/CoderForge-Preview', dir: repoDir(profile) }] })
try {
  const env = (name: string) => ({ HF_ENDPOINT: hub.endpoint, HF_HOME: join(work, `hf-${name}`) })
  console.log(`${profile}: ${shards.length} shards, ${rows} rows, ${(bytes / 1e6).toFixed(1)} MB (remote, through the emulator)`)
  const plain = await measure('plain', process.execPath, [cli, 'export', '--split', 'all', '--format', 'jsonl', '--out', join(work, 'plain'), '--quiet'], { env: env('plain') })
  const steps = ['--to', 'openai', '--arguments', 'object', '--max-per-task', '3', '--seed', '24', '--val-fraction', '0.05', '--decontaminate', '--think', 'inline']
  const sft = await measure('sft', process.execPath, [cli, 'export', '--split', 'all', ...steps, '--out', join(work, 'sft'), '--quiet'], { env: env('sft') })
  const withTokens = await measure('sft+tokens', process.execPath, [cli, 'export', '--split', 'all', ...steps,
    '--tokenizer', 'qwen3-coder', '--max-tokens', '32768', '--over-budget', 'truncate', '--chat-template', template,
    '--out', join(work, 'sft-tokens'), '--quiet'], { env: env('sft-tokens') })
  const line = (name: string, m: { seconds: number, peakRssMb: number }) =>
    console.log(`  ${name.padEnd(58)} ${m.seconds.toFixed(2)} s  ${(rows / m.seconds).toFixed(0)} rows/s  ${(bytes / 1e6 / m.seconds).toFixed(1)} MB/s  RSS ${m.peakRssMb.toFixed(0)} MB`)
  line('export --format jsonl', plain)
  line('export --to openai: dedup, cap, val, decontaminate, think', sft)
  line('  + chat template and token budget (Qwen3 vocabulary)', withTokens)
  console.log(`  throughput ratio sft / plain = ${(plain.seconds / sft.seconds).toFixed(2)}× (goal ≥ 0.7×); with tokens ${(plain.seconds / withTokens.seconds).toFixed(2)}×`)

  // the token counter alone, on one core
  const counter = await loadTokenCounter('qwen3-coder')
  const file = join(repoDir(profile), shards[0]!.path)
  const source = await fileSource(file)
  const texts: string[] = []
  for await (const batch of readBatches(source, await readFooter(source), { columns: ['messages'] })) {
    for (let row = 0; row < batch.numRows; row++) texts.push(String(cellAt(batch.columns.messages, row)))
  }
  await source.close?.()
  const started = performance.now()
  let tokens = 0
  let chars = 0
  for (const text of texts) {
    tokens += counter.count(text)
    chars += text.length
  }
  const seconds = (performance.now() - started) / 1000
  console.log(`  token counter (Qwen3 vocabulary, one core): ${tokens} tokens of ${(chars / 1e6).toFixed(1)} M chars in ${seconds.toFixed(2)} s = ${(tokens / seconds / 1e3).toFixed(0)} K tokens/s`)
} finally {
  await hub.close()
  await rm(work, { recursive: true, force: true })
}
